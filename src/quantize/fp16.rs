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
use super::edit::{node, tensor_decision, Edit, Log, Outcome};
use super::options::{QuantMode, QuantOptions};
use crate::error::Result;
use crate::graph::{Attr, Model, ValueId};
use crate::tensor::{DType, Tensor};
use half::f16;
use std::collections::{HashMap, HashSet};

/// Constants smaller than this stay float32.
pub const MIN_ELEMENTS: usize = 16;

/// The model with float16 weights; see the module docs. Reads `exclude_nodes` and
/// `exclude_op_types` from `options`.
pub fn quantize_fp16(model: &Model, options: &QuantOptions) -> Result<Model> {
    rewrite(model, options).map(|o| o.model)
}

/// [`quantize_fp16`] with every node's decision, for the report: "quantized" for nodes reading a
/// float16 weight (named in the reason), "float" with the reason for the others.
pub fn rewrite(model: &Model, options: &QuantOptions) -> Result<Outcome> {
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
    let mut kept: HashMap<ValueId, &'static str> = HashMap::new();
    for id in candidates {
        let Some(t) = edit.constant(id) else { continue };
        if t.dtype() != DType::F32 {
            continue;
        }
        if pinned.contains(&id) {
            kept.insert(id, "read by an excluded node");
            continue;
        }
        let half = match to_f16(&t) {
            Ok(h) => h,
            Err(why) => {
                kept.insert(id, why);
                continue;
            }
        };
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
    let mut log = Log::default();
    for n in &g.nodes {
        if n.op_type == "Constant" && n.output(0).is_some_and(|o| converted.contains(&o)) {
            continue;
        }
        let ins: Vec<ValueId> = n.inputs.iter().flatten().copied().filter(|v| converted.contains(v)).collect();
        if ins.is_empty() {
            let why: Vec<String> = n
                .inputs
                .iter()
                .flatten()
                .filter_map(|v| kept.get(v).map(|r| format!("'{}' kept float32: {r}", g.value_name(*v))))
                .collect();
            log.float(n, if why.is_empty() { "no float32 constant input".to_string() } else { why.join("; ") });
        } else {
            let names: Vec<&str> = ins.iter().map(|&v| g.value_name(v)).collect();
            let inputs = ins.iter().map(|&v| tensor_decision(g, v, "weight")).collect();
            log.quantized(n, format!("float16 weights behind a Cast to float32: {}", names.join(", ")), inputs);
        }
    }
    Ok(Outcome { model: edit.finish(model, nodes, &[])?, nodes: log.nodes, weights: vec![] })
}

/// The float16 copy of a float32 tensor, or why it stays float32 (too small to pay, or a value
/// float16 cannot hold).
fn to_f16(t: &Tensor) -> std::result::Result<Tensor, &'static str> {
    let Tensor::F32(a) = t else { return Err("not float32") };
    if a.len() < MIN_ELEMENTS {
        return Err("too small to pay");
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err("holds NaN or infinity");
    }
    if a.iter().any(|v| v.abs() > f16::MAX.to_f32()) {
        return Err("holds values beyond float16's range (65504)");
    }
    Tensor::from_vec(a.shape(), a.iter().map(|&v| f16::from_f32(v)).collect()).map_err(|_| "not convertible")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_only_large_finite_in_range_tensors() {
        let big = Tensor::from_vec(&[4, 4], (0..16).map(|i| i as f32 * 0.1).collect()).unwrap();
        let h = to_f16(&big).unwrap();
        assert_eq!(h.dtype(), DType::F16);
        assert_eq!(h.to_f32_vec()[1], f16::from_f32(0.1).to_f32());
        assert!(to_f16(&Tensor::from_vec(&[3], vec![1f32, 2.0, 3.0]).unwrap()).is_err());
        let mut v = vec![0f32; 16];
        v[3] = -3.4e38;
        assert!(to_f16(&Tensor::from_vec(&[16], v.clone()).unwrap()).is_err());
        v[3] = f32::NAN;
        assert!(to_f16(&Tensor::from_vec(&[16], v.clone()).unwrap()).is_err());
        v[3] = 65504.0;
        assert!(to_f16(&Tensor::from_vec(&[16], v).unwrap()).is_ok());
        assert!(to_f16(&Tensor::from_vec(&[16], vec![1i64; 16]).unwrap()).is_err());
    }
}
