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
//! - [`reference`]: the scalar oracles every kernel is tested against.
//! - [`select`]: the one place that chooses a micro-kernel for this build.
//! - [`selftest`]: the shared kernel tests, also exported to JS to run the wasm kernels.
//! - [`bench`]: the kernel micro-benchmark behind the `benchKernel` binding.
//!
//! | kernel | tile (MR x NR) | ISA |
//! |---|---|---|
//! | `gemm_f32_6x8__wasm_simd128` | 6 x 8 | wasm SIMD128 (`f32x4`) |
//! | `gemm_f32_1x8__wasm_simd128` | 1 x 8 | wasm SIMD128 (GEMV rows) |
//! | `gemm_f32_4x8__wasm_simd128` | 4 x 8 | wasm SIMD128 (not selected; for benchmarks) |
//! | `gemm_f32_6x8__wasm_relaxed` | 6 x 8 | relaxed SIMD (`f32x4.relaxed_madd`) |
//! | `gemm_f32_1x8__wasm_relaxed` | 1 x 8 | relaxed SIMD (GEMV rows) |
//! | `gemm_f32_6x8__scalar` | 6 x 8 | portable Rust (auto-vectorized natively) |
//! | `gemm_f32_1x8__scalar` | 1 x 8 | portable Rust |
//! | `gemm_f32_ref` | - | the oracle: a plain triple loop |
//! | `gemm_i16_i32_6x8c2__wasm_simd128` | 6 x 8, k-pairs | wasm SIMD128 (`i32x4.dot_i16x8_s`) |
//! | `gemm_i16_i32_4x8c2__wasm_simd128` | 4 x 8, k-pairs | wasm SIMD128 (not selected; for benchmarks) |
//! | `gemm_i16_i32_1x8c2__wasm_simd128` | 1 x 8, k-pairs | wasm SIMD128 (GEMV rows) |
//! | `gemm_i8i7_i32_4x8c4__wasm_relaxed` | 4 x 8, k-quads | relaxed SIMD (`i32x4.relaxed_dot_i8x16_i7x16_add_s`) |
//! | `gemm_i8i7_i32_6x8c4__wasm_relaxed` | 6 x 8, k-quads | relaxed SIMD (not selected; for benchmarks) |
//! | `gemm_i8i7_i32_1x8c4__wasm_relaxed` | 1 x 8, k-quads | relaxed SIMD (GEMV rows) |
//! | `gemm_i16_i32_{6,1}x8c2__scalar` | 6 / 1 x 8 | portable Rust |
//! | `gemm_i8i7_i32_{4,1}x8c4__scalar` | 4 / 1 x 8 | portable Rust, emulating x86's saturating `pmaddubsw` |
//! | `gemm_q8_ref` | - | the int8 oracle: a plain triple loop, then `quant_math::requantize_clamped` |
//! | `dwconv2d_f32` | one channel, row-wise | portable Rust, auto-vectorized (`f32x4` under simd128) |
//! | `dwconv2d_f32_ref` | - | the oracle: direct loops |
pub mod bench;
pub mod dwconv;
pub mod qgemm;
pub mod reference;
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code, unused_imports))]
mod scalar;
pub mod select;
pub mod selftest;
pub mod sgemm;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128", target_feature = "relaxed-simd"))]
mod wasm_relaxed;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd128;
