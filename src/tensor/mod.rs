//! Tensors and their element types. Owns storage and conversions; knows nothing of graphs or ops.
mod dtype;
mod value;

pub use dtype::{onnx_type_name, DType};
pub use value::{checked_numel, Elem, Tensor, MAX_BYTES};
