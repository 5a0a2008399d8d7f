//! Hand-written compute kernels. Each kernel has a scalar reference (the oracle) and SIMD
//! versions tested against it; `select` picks one per build. Names follow XNNPACK:
//! operands and accumulator, tile, then the ISA after a double underscore.
//!
//! - [`sgemm`]: f32 matrix multiply (packing, cache blocking, epilogue) over a register-tile
//!   micro-kernel; operands may be prepacked once (constant weights).
//! - [`dwconv`]: direct 2-D depthwise convolution, f32.
//! - [`reference`]: the scalar oracles every kernel is tested against.
//! - [`select`]: the one place that chooses a micro-kernel for this build.
//!
//! | kernel | tile (MR x NR) | ISA |
//! |---|---|---|
//! | `gemm_f32_6x8__wasm_simd128` | 6 x 8 | wasm SIMD128 (`f32x4`) |
//! | `gemm_f32_1x8__wasm_simd128` | 1 x 8 | wasm SIMD128 (GEMV rows) |
//! | `gemm_f32_4x8__wasm_simd128` | 4 x 8 | wasm SIMD128 (not selected; for benchmarks) |
//! | `gemm_f32_6x8__scalar` | 6 x 8 | portable Rust (auto-vectorized natively) |
//! | `gemm_f32_1x8__scalar` | 1 x 8 | portable Rust |
//! | `gemm_f32_ref` | - | the oracle: a plain triple loop |
//! | `dwconv2d_f32` | one channel, row-wise | portable Rust, auto-vectorized (`f32x4` under simd128) |
//! | `dwconv2d_f32_ref` | - | the oracle: direct loops |
pub mod dwconv;
pub mod q8;
pub mod qcheck;
pub mod qdwconv;
pub mod qelementwise;
pub mod qpool;
pub mod reference;
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code, unused_imports))]
mod scalar;
pub mod select;
pub mod sgemm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd128;
