//! ONNX files in and out. `proto` is generated (see `tools/gen-proto`); `load` and `save` convert
//! between it and the graph IR. Nothing here runs a model.
pub mod load;
pub mod proto;
pub mod save;
pub mod tensor_proto;

pub use load::{external_locations, load};
pub use save::save;
pub use tensor_proto::ExternalData;
