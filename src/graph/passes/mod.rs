//! Graph passes. Each one preserves results (tests compare with onnxruntime before and after):
//! constant folding, BatchNormalization folding into Conv/Gemm, dead-node removal, shape
//! inference for concrete input shapes, and (runtime only) the fusion of QDQ groups into
//! integer ops, whose results agree with onnxruntime's fused kernels (tests/qdq_runtime.rs).
mod constant_folding;
mod dead_nodes;
mod fold_batchnorm;
mod qdq_fusion;
mod shape_inference;

pub use constant_folding::{fold_constants, fold_constants_except};
pub use dead_nodes::remove_dead_nodes;
pub use fold_batchnorm::fold_batchnorm;
pub use qdq_fusion::{fuse_qdq, WEBPTQ_DOMAIN};
pub use shape_inference::infer_shapes;

use crate::error::Result;
use crate::graph::Model;

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
