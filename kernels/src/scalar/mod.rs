//! Portable micro-kernels in plain Rust, for builds without a SIMD kernel (native tests, wasm
//! without SIMD128). Written so LLVM auto-vectorizes them (fixed-size accumulator arrays).
mod gemm_f32;
mod q8;
pub(crate) mod qgemm;
pub use gemm_f32::*;
pub use q8::*;
pub use qgemm::*;
