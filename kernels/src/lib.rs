//! Hand-written compute kernels. Each kernel has a scalar reference (the oracle) and SIMD
//! versions tested against it; `select` picks one per build. Names follow XNNPACK:
//! operands and accumulator, tile (`c2` / `c4`: depth values interleaved per column), then the
//! ISA after a double underscore. docs/kernels.md has the design and the measured figures.
//!
//! - [`sgemm`]: f32 matrix multiply (packing, cache blocking, epilogue) over a register-tile
//!   micro-kernel; operands may be prepacked once (constant weights).
//! - [`qgemm`]: int8 matrix multiply (uint8 / int8 operands, i32 accumulator, zero points) with
//!   a fused requantizing epilogue; weights prepacked once.
//! - [`dwconv`]: direct 2-D depthwise convolution, f32.
//! - [`q8`]: what the 8-bit kernels share (uint8 / int8 as biased bytes, the
//!   [`ukernel::Requant`] output rule); [`qdwconv`]: 8-bit depthwise convolution; [`qelementwise`]: QLinearAdd,
//!   QLinearMul, requantization; [`qpool`]: 8-bit Max/Average/GlobalAverage pools;
//!   [`qcheck`]: their shared test suite against the oracles; [`qbench`]: a depthwise layer for
//!   benchmarks.
//! - [`qlut`]: 8-bit table lookup (QLinearLookup's `DQ → elementwise op → Q` tables).
//! - [`qconvert`]: per-tensor QuantizeLinear / DequantizeLinear between f32 and 8-bit slices.
//! - [`velementwise`]: f32 activations and arithmetic over slices; [`vnorm`]: f32
//!   LayerNormalization and Softmax / LogSoftmax rows.
//! - [`reference`]: the scalar oracles every kernel is tested against.
//! - [`ukernel`]: the kernel contracts: every micro-kernel's function-pointer type, its
//!   parameters ([`ukernel::Requant`], the one requantization rule) and the descriptors.
//! - [`select`]: the one place that chooses a micro-kernel for this build (it depends only on
//!   `ukernel` and the ISA folders); drivers take its choice as an argument.
//! - [`selftest`]: the shared kernel tests, also exported to JS to run the wasm kernels.
//! - [`bench`]: the kernel micro-benchmark behind the `benchKernel` binding.
//!
//! | kernel | tile (MR x NR) | ISA |
//! |---|---|---|
//! | `gemm_f32_6x8__wasm_simd128` | 6 x 8 | wasm SIMD128 (`f32x4`) |
//! | `gemm_f32_1x8__wasm_simd128` | 1 x 8 | wasm SIMD128 (GEMV rows) |
//! | `gemm_f32_4x8__wasm_simd128` | 4 x 8 | wasm SIMD128 (not selected; for benchmarks) |
//! | `gemm_f32_6x8__wasm_relaxed` | 6 x 8 | relaxed SIMD (`f32x4.relaxed_madd`); its GEMV rows keep the SIMD128 1 x 8 |
//! | `gemm_f32_6x8__scalar` | 6 x 8 | portable Rust (auto-vectorized natively) |
//! | `gemm_f32_1x8__scalar` | 1 x 8 | portable Rust |
//! | `gemm_f32_ref` | - | the oracle: a plain triple loop |
//! | `gemm_i16_i32_4x8c2__wasm_simd128` | 4 x 8, k-pairs | wasm SIMD128 (`i32x4.dot_i16x8_s`); selected in both wasm builds |
//! | `gemm_i16_i32_6x8c2__wasm_simd128` | 6 x 8, k-pairs | wasm SIMD128 (not selected; for benchmarks) |
//! | `gemm_i16_i32_1x8c2__wasm_simd128` | 1 x 8, k-pairs | wasm SIMD128 (GEMV rows) |
//! | `gemm_i8i7_i32_4x8c4__wasm_relaxed` | 4 x 8, k-quads | relaxed SIMD (`i16x8.relaxed_dot_i8x16_i7x16_s`; not selected, docs/kernels.md) |
//! | `gemm_i8i7_i32_6x8c4__wasm_relaxed` | 6 x 8, k-quads | relaxed SIMD (not selected; for benchmarks) |
//! | `gemm_i8i7_i32_1x8c4__wasm_relaxed` | 1 x 8, k-quads | relaxed SIMD (GEMV rows) |
//! | `gemm_i16_i32_{6,1}x8c2__scalar` | 6 / 1 x 8 | portable Rust |
//! | `gemm_i8i7_i32_{4,1}x8c4__scalar` | 4 / 1 x 8 | portable Rust, emulating x86's saturating `pmaddubsw` |
//! | `gemm_q8_ref` | - | the int8 oracle: a plain triple loop, then `quant_math::requantize_clamped` |
//! | `dwconv2d_f32` | one channel, row-wise | portable Rust, auto-vectorized (`f32x4` under simd128) |
//! | `dwconv2d_f32_ref` | - | the oracle: direct loops |
//! | `dwconv_q8_3x3s1__wasm_simd128` | 8 outputs x 2 row pairs x 3 | SIMD128 `i32x4.dot_i16x8_s`, f32x4 requantization |
//! | `dwconv_q8_3x3s2__wasm_simd128` | 8 outputs x 3 rows x 2 column pairs | SIMD128, as above |
//! | `dwconv_q8_5x5s1__wasm_simd128` / `dwconv_q8_5x5s2__wasm_simd128` | 8 outputs x 3x5 / 5x3 | SIMD128, as above |
//! | `dwconv_q8_kxk__wasm_simd128` | 8 outputs x any tap pairs | SIMD128, as above |
//! | `pack_q8__wasm_simd128` | 8 values | widens and centers input rows, interleaves row pairs |
//! | `dwconv_q8__scalar`, `pack_q8__scalar` | 1 output | portable (and the fallback for a non-finite multiplier) |
//! | `dwconv2d_q8_ref` | - | the oracle: direct loops, `quant_math::requantize` |
//! | `add_q8__wasm_simd128` / `mul_q8__wasm_simd128` / `requantize_q8__wasm_simd128` | 16 elements | SIMD128 f32x4 lanes |
//! | `add_q8__scalar` / `mul_q8__scalar` / `requantize_q8__scalar` | 1 element | portable: the oracle's per-element rule |
//! | `maxpool_q8__wasm_simd128` / `avgpool_q8__wasm_simd128` | 16 outputs | SIMD128 (`u8x16.max` / u16 sums, f32x4 requantization) |
//! | `maxpool_q8__scalar` / `avgpool_q8__scalar` | 1 output | portable |
//! | `sum_u8__wasm_simd128` / `sum_u8__scalar` | 16 bytes / 1 | byte sums (GlobalAveragePool) |
//! | `lut_x8__wasm_simd128` / `lut_x8__scalar` | 16 bytes / 1 | table lookup (`i8x16.swizzle` over 16 slices; QLinearLookup) |
//! | `add_q8_ref`, `mul_q8_ref`, `requantize_q8_one`, `maxpool2d_q8_ref`, `avgpool2d_q8_ref`, `global_avgpool_q8_ref` | - | the oracles |
//!
//! 8-bit depthwise conv vs f32 (`dwconv2d_f32`), kernels side by side in Node 20, wasm SIMD128
//! build (benches/q8_ops.mjs): 1x144x56x56 3x3 s1 1.65x faster, 1x240x28x28 5x5 s2 5.4x,
//! 1x672x14x14 5x5 s1 1.6x, 1x96x112x112 3x3 s2 4.9x, 1x1152x7x7 3x3 s1 1.6x (relaxed build:
//! 1.5x, 6.2x, 1.7x, 4.6x, 1.6x).
//!
//! The relaxed-SIMD build runs the same 8-bit kernels: none of its instructions is exact where
//! these need it (the relaxed dot product wants a 7-bit operand, `relaxed_madd` may fuse the
//! rounding that QLinearAdd's formula spells out).
#[cfg(feature = "checks")]
pub mod bench;
pub mod dwconv;
pub mod error;
pub mod math;
pub mod q8;
#[cfg(feature = "checks")]
pub mod qbench;
#[cfg(feature = "checks")]
pub mod qcheck;
pub mod qconvert;
pub mod qdwconv;
pub mod qelementwise;
pub mod qgemm;
pub mod qlut;
pub mod permute;
pub mod qpool;
pub mod quant_math;
pub mod reference;
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code, unused_imports))]
mod scalar;
pub mod select;
#[cfg(feature = "checks")]
pub mod selftest;
pub mod sgemm;
pub mod ukernel;
pub mod velementwise;
pub mod vnorm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
mod wasm_relaxed;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd128;
