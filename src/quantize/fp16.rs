//! Float16 weights: every large float32 constant (initializer or Constant node) is stored as
//! float16 with a `Cast` back to float32 in front of its readers, so the file is about half the
//! size while the graph still computes in float32 (unlike onnxruntime's `keep_io_types`
//! conversion, which turns the arithmetic itself into float16). Runtimes fold the Casts of
//! initializers when they load the model, so only the weights' rounding remains: each weight
//! changes by at most half a float16 step (a relative 2^-11).
//!
//! A constant stays float32 when converting it could change what the model computes beyond that
//! rounding, or would not pay:
//! - it has fewer than [`MIN_ELEMENTS`] elements (scalars such as an epsilon or a `sqrt(d)`
//!   divisor: nothing to gain, and a tiny epsilon would flush to zero);
//! - a value is NaN, infinite, or beyond float16's largest finite value 65504 (attention masks
//!   often hold `-3.4e38`; float16 would make them `-inf`, and `-inf · 0` is NaN);
//! - a node that reads it is excluded (`excludeNodes`, `excludeOpTypes`), or a feed may replace
//!   it (an initializer that is also a graph input).
use super::edit::{node, Edit};
use super::options::{QuantMode, QuantOptions};
use crate::error::Result;
use crate::graph::{Attr, Model, ValueId};
use crate::tensor::Tensor;
use half::f16;
use std::collections::HashSet;

/// Constants smaller than this stay float32.
pub const MIN_ELEMENTS: usize = 16;

/// The model with float16 weights; see the module docs. Reads `exclude_nodes` and
/// `exclude_op_types` from `options`.
pub fn quantize_fp16(model: &Model, options: &QuantOptions) -> Result<Model> {
    let options = QuantOptions { mode: QuantMode::Fp16, ..options.clone() };
    options.validate()?;
    let g = &model.graph;
    let mut edit = Edit::new(g);
    // Constants read by an excluded node stay float32.
    let pinned: HashSet<ValueId> = g
        .nodes
        .iter()
        .filter(|n| options.excludes(&n.name, &n.op_type))
        .flat_map(|n| n.inputs.iter().flatten().copied())
        .collect();
    let constant_node_outputs: HashSet<ValueId> = g
        .nodes
        .iter()
        .filter(|n| n.op_type == "Constant" && n.domain.is_empty())
        .filter_map(|n| n.output(0))
        .collect();
    let candidates: Vec<ValueId> = g.initializers.keys().copied().chain(constant_node_outputs.iter().copied()).collect();
    let mut casts = Vec::new();
    let mut converted = HashSet::new();
    for id in candidates {
        if pinned.contains(&id) {
            continue;
        }
        let Some(t) = edit.constant(id) else { continue };
        let Some(half) = to_f16(&t) else { continue };
        let name = edit.name(id).to_string();
        let h = edit.initializer(&format!("{name}_fp16"), half);
        // The Cast writes the original value, so every reader is untouched.
        edit.graph.initializers.remove(&id);
        casts.push(node("Cast", "", format!("{name}_Cast"), &[Some(h)], &[id], vec![("to", Attr::Int(1))]));
        converted.insert(id);
    }
    let rest = g
        .nodes
        .iter()
        .filter(|n| !(n.op_type == "Constant" && n.domain.is_empty() && n.output(0).is_some_and(|o| converted.contains(&o))))
        .cloned();
    let nodes = casts.into_iter().chain(rest).collect();
    edit.finish(model, nodes, &[])
}

/// The float16 copy of a float32 tensor, if it is worth converting and every value is finite and
/// within float16's range.
fn to_f16(t: &Tensor) -> Option<Tensor> {
    let Tensor::F32(a) = t else { return None };
    if a.len() < MIN_ELEMENTS || a.iter().any(|v| !v.is_finite() || v.abs() > f16::MAX.to_f32()) {
        return None;
    }
    Tensor::from_vec(a.shape(), a.iter().map(|&v| f16::from_f32(v)).collect()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    #[test]
    fn converts_only_large_finite_in_range_tensors() {
        let big = Tensor::from_vec(&[4, 4], (0..16).map(|i| i as f32 * 0.1).collect()).unwrap();
        let h = to_f16(&big).unwrap();
        assert_eq!(h.dtype(), DType::F16);
        assert_eq!(h.to_f32_vec()[1], f16::from_f32(0.1).to_f32());
        assert!(to_f16(&Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap()).is_none());
        let mut v = vec![0f32; 16];
        v[3] = -3.4e38;
        assert!(to_f16(&Tensor::from_vec(&[16], v.clone()).unwrap()).is_none());
        v[3] = f32::NAN;
        assert!(to_f16(&Tensor::from_vec(&[16], v.clone()).unwrap()).is_none());
        v[3] = 65504.0;
        assert!(to_f16(&Tensor::from_vec(&[16], v).unwrap()).is_some());
        assert!(to_f16(&Tensor::from_vec(&[16], vec![1i64; 16]).unwrap()).is_none());
    }
}
