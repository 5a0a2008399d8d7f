//! Graph passes. Each one preserves results (tests compare with onnxruntime before and after):
//! constant folding, BatchNormalization folding into Conv/Gemm, dead-node removal, and shape
//! inference for concrete input shapes.
mod constant_folding;
mod dead_nodes;
mod fold_batchnorm;
mod shape_inference;

pub use constant_folding::fold_constants;
pub use dead_nodes::remove_dead_nodes;
pub use fold_batchnorm::fold_batchnorm;
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
