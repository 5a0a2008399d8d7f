//! Micro-kernels for WebAssembly SIMD128 (`core::arch::wasm32`). Compiled only for `wasm32` with
//! the `simd128` target feature; tested against the oracles by the shared tests (`selftest` for
//! the GEMMs, `qcheck` for the other 8-bit kernels), run natively on the scalar twins and in
//! Node on these, through `src/bindings`.
mod gemm_f32;
mod qdwconv;
mod qelementwise;
mod qgemm;
mod qlut;
mod qpool;
mod requant;
pub use gemm_f32::*;
pub use qdwconv::*;
pub use qelementwise::*;
pub use qlut::*;
pub use qpool::*;
#[cfg(target_feature = "relaxed-simd")]
pub(crate) use qgemm::finish_tile_x8;
pub(crate) use qgemm::interleave_pair_x8;
pub use qgemm::{gemm_i16_i32_1x8c2__wasm_simd128, gemm_i16_i32_4x8c2__wasm_simd128, gemm_i16_i32_6x8c2__wasm_simd128};
