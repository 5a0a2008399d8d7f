//! Hand-written compute kernels. Each kernel has a scalar reference (the oracle) and SIMD
//! versions tested against it; `select` picks one per build. Names follow XNNPACK:
//! operands and accumulator, tile, then the ISA after a double underscore.
//!
//! - [`sgemm`]: f32 matrix multiply (packing, cache blocking, epilogue) over a register-tile
//!   micro-kernel; operands may be prepacked once (constant weights).
//! - [`dwconv`]: direct 2-D depthwise convolution, f32.
//! - [`q8`]: what the 8-bit kernels share (uint8 / int8 as biased bytes, the [`q8::Requant`]
//!   output rule); [`qdwconv`]: 8-bit depthwise convolution; [`qelementwise`]: QLinearAdd,
//!   QLinearMul, requantization; [`qpool`]: 8-bit Max/Average/GlobalAverage pools;
//!   [`qcheck`]: their shared test suite against the oracles; [`qbench`]: a depthwise layer for
//!   benchmarks.
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
//! | `dwconv_q8_3x3__wasm_simd128` | 8 outputs x 6 tap pairs (3x3) | SIMD128 `i32x4.dot_i16x8_s`, f64x2 requantization |
//! | `dwconv_q8_5x5__wasm_simd128` | 8 outputs x 15 tap pairs (5x5) | SIMD128, as above |
//! | `dwconv_q8_kxk__wasm_simd128` | 8 outputs x any tap pairs | SIMD128, as above |
//! | `dwconv_q8__scalar` | 1 output | portable Rust (and the fallback for non-finite multipliers) |
//! | `dwconv2d_q8_ref` | - | the oracle: direct loops, `quant_math::requantize` |
//! | `add_q8__wasm_simd128` / `mul_q8__wasm_simd128` | 16 elements | SIMD128 (f32x4 lanes / i16 extmul + f64x2) |
//! | `add_q8__scalar` / `mul_q8__scalar` | 1 element | portable: the oracle's per-element rule |
//! | `maxpool_q8__wasm_simd128` / `avgpool_q8__wasm_simd128` | 16 outputs | SIMD128 (`u8x16.max` / u16 sums) |
//! | `maxpool_q8__scalar` / `avgpool_q8__scalar` | 1 output | portable |
//! | `sum_u8__wasm_simd128` / `sum_u8__scalar` | 16 bytes / 1 | byte sums (GlobalAveragePool) |
//! | `add_q8_ref`, `mul_q8_ref`, `maxpool2d_q8_ref`, `avgpool2d_q8_ref`, `global_avgpool_q8_ref` | - | the oracles |
//!
//! The relaxed-SIMD build runs the same 8-bit kernels: none of its instructions is exact where
//! these need it (the relaxed dot product wants a 7-bit operand, `relaxed_madd` may fuse the
//! rounding that QLinearAdd's formula spells out).
pub mod dwconv;
pub mod q8;
pub mod qbench;
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
