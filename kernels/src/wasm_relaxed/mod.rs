//! Micro-kernels for WebAssembly relaxed SIMD (compiled only with the `relaxed-simd` target
//! feature, i.e. the `pkg/relaxed` build). Every relaxed instruction used here is given inputs on
//! which all lowerings agree, or its difference is documented:
//!
//! - `i32x4.relaxed_dot_i8x16_i7x16_add_s` ([`qgemm`]): the second operand is always in
//!   `[0, 127]`, where the result is fully specified (deterministic, bit-exact with the oracle).
//! - `f32x4.relaxed_madd` ([`gemm_f32`]): fused or unfused depending on the engine and CPU, so f32
//!   results may differ from the SIMD128 build in the last bits (one rounding less per step).
mod gemm_f32;
mod qgemm;
pub use gemm_f32::*;
pub use qgemm::*;
