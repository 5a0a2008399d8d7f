//! webptq: post-training quantization of ONNX models on the user's own device.
//!
//! Data flows one way (see `docs/architecture.md`):
//! bytes -[`onnx::load`]-> [`graph::Model`] -[`passes`]-> Model -[`runtime::Session`]-> outputs.
//!
//! - [`tensor`]: element types and n-dimensional tensors.
//! - [`onnx`]: ONNX protobuf in and out (generated prost types in `onnx::proto`).
//! - [`graph`]: the IR (values, nodes, initializers); it knows no ops.
//! - [`ops`]: the float reference ops and their registry.
//! - [`quant_math`]: the quantization equation (quantize, dequantize, requantize, saturate).
//! - [`kernels`]: hand-written SIMD kernels with scalar oracles.
//! - [`runtime`]: plans and sessions.
//! - [`passes`]: result-preserving rewrites that may run ops (shape inference, constant folding,
//!   BatchNormalization folding, opset upgrade, QDQ fusion); above ops.
//! - [`calibrate`]: observers and the table of activation ranges that quantization reads.
//! - [`quantize`]: options, quantization parameters, weights, and the static quantizer.
//! - [`info`]: a model summary for `inspect`.
//! - `bindings` (wasm32 only): the thin `#[wasm_bindgen]` layer.
pub mod calibrate;
pub mod error;
pub mod graph;
pub mod info;
pub mod onnx;
pub mod ops;
pub mod passes;
pub mod quantize;
pub mod runtime;
pub mod tensor;

#[cfg(target_arch = "wasm32")]
mod bindings;

pub use error::{Error, Result};
/// The compute kernels live in their own crate (`kernels/`), built at opt-level 3 while the rest
/// is built for size (docs/size.md); re-exported under their old paths.
pub use webptq_kernels as kernels;
pub use webptq_kernels::quant_math;
