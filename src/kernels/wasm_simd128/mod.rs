//! Micro-kernels for WebAssembly SIMD128 (`core::arch::wasm32`). Compiled only for `wasm32`
//! with the `simd128` target feature; tested against the oracles by the shared tests (`sgemm`'s,
//! and `qcheck` for the 8-bit kernels, which the wasm build runs through the bindings' self-test).
mod gemm_f32;
mod qdwconv;
mod qelementwise;
mod qpool;
mod requant;
pub use gemm_f32::*;
pub use qdwconv::*;
pub use qelementwise::*;
pub use qpool::*;
