//! Tensors and their element types. Owns storage and conversions; knows nothing of graphs or ops.
//! [`width`] gives the width-erased view data-movement ops are written on.
mod dtype;
mod value;
pub mod width;

pub use dtype::{onnx_type_name, DType};
pub use value::{checked_numel, Elem, Tensor, MAX_BYTES};
pub use width::{Lane, Lanes, LanesView};
