//! Graph passes. Each one preserves results (tests compare with onnxruntime before and after):
//! constant folding, BatchNormalization folding into Conv/Gemm, dead-node removal, unique node
//! names, shape inference for concrete input shapes, the opset upgrade (7..12 to 13, `opset.rs`), and (runtime only) Conv + Relu/Clip into FusedConv and
//! the fusion of QDQ groups into integer ops, whose results agree with onnxruntime's fused kernels (tests/qdq_runtime.rs).
mod constant_folding;
mod conv_activation;
mod dead_nodes;
mod fold_batchnorm;
mod node_names;
mod opset;
mod qdq_fusion;
mod shape_inference;

pub use constant_folding::{fold_constants, fold_constants_except};
pub use conv_activation::fuse_conv_activations;
pub use dead_nodes::remove_dead_nodes;
pub use fold_batchnorm::fold_batchnorm;
pub use node_names::unique_node_names;
pub use opset::{upgrade_opset, UPGRADE_FROM, UPGRADE_TO};
pub use qdq_fusion::{fuse_qdq, WEBPTQ_DOMAIN};
pub use shape_inference::infer_shapes;

use crate::error::Result;
use crate::graph::{Graph, Model, Node};

/// A Relu's bounds `[0, ∞]`, or a Clip's constant ones (attributes before opset 11, constant
/// inputs from 11; absent bounds are infinite); `None` for anything else, or NaN bounds.
pub(crate) fn clip_bounds(g: &Graph, n: &Node, opset: i64) -> Option<(f32, f32)> {
    match n.op_type.as_str() {
        "Relu" => return Some((0.0, f32::INFINITY)),
        "Clip" => {}
        _ => return None,
    }
    let (lo, hi) = if opset < 11 {
        (n.attrs.float("min").ok()?.unwrap_or(f32::NEG_INFINITY), n.attrs.float("max").ok()?.unwrap_or(f32::INFINITY))
    } else {
        let bound = |i: usize, default: f32| -> Option<f32> {
            match n.input(i) {
                None => Some(default),
                Some(v) => match g.constant(v)?.array::<f32>().ok()?.iter().collect::<Vec<_>>().as_slice() {
                    [b] => Some(**b),
                    _ => None,
                },
            }
        };
        (bound(1, f32::NEG_INFINITY)?, bound(2, f32::INFINITY)?)
    };
    (!lo.is_nan() && !hi.is_nan()).then_some((lo, hi))
}

/// The default pipeline: fold constants, fold BatchNormalization, drop dead nodes.
pub fn optimize(model: &mut Model) -> Result<()> {
    fold_constants(model)?;
    fold_batchnorm(model)?;
    remove_dead_nodes(&mut model.graph);
    Ok(())
}

/// The pipeline of a session that runs quantized models in integers: constants are folded first
/// with every DequantizeLinear kept (so integer weights stay integers), then QDQ groups are fused
/// ([`fuse_qdq`]), then [`optimize`] runs as usual (what is left of DequantizeLinear on
/// constants, read by float ops, folds to float then). Returns the number of fused groups.
pub fn optimize_quantized(model: &mut Model) -> Result<usize> {
    fold_constants_except(model, &|n| n.op_type == "DequantizeLinear" && crate::graph::normalize_domain(&n.domain).is_empty())?;
    let fused = fuse_qdq(model)?;
    optimize(model)?;
    Ok(fused)
}
