//! Micro-kernels for WebAssembly SIMD128 (`core::arch::wasm32`, `f32x4`). Compiled only for
//! `wasm32` with the `simd128` target feature; tested against the oracle by the shared tests in
//! `sgemm` (which pick these through `select`) and by this module's own tests under wasm.
mod gemm_f32;
pub use gemm_f32::*;
