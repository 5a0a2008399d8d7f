//! Post-training quantization (work in progress: options, parameters and weight quantization).
pub mod dynamic;
mod edit;
pub mod fp16;
pub mod weight_only;
pub mod options;
pub mod params;
pub mod weights;

pub use options::{QType, QuantFormat, QuantMode, QuantOptions};
pub use params::QParams;
pub use weights::{quantize_bias, quantize_weight, QuantizedBias, QuantizedWeight};
pub use dynamic::quantize_dynamic;
pub use weight_only::{quantize_weight_only, quantize_weight_only_blocks};
pub use fp16::quantize_fp16;
