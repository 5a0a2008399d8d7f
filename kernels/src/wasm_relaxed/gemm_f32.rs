//! `gemm_f32_{MR}x8__wasm_relaxed`: the SIMD128 f32 kernels of
//! [`wasm_simd128`](crate::wasm_simd128) with each multiply-add as one
//! `f32x4.relaxed_madd` (FMA where the CPU has it). Results may differ from the unfused kernels
//! by rounding (the tests allow for it). There is no fused 1 x 8 (GEMV row) kernel: its two
//! accumulator chains are latency-bound, and FMA's latency (4 cycles on x86) made it slower than
//! the unfused SIMD128 one, which the relaxed build keeps (see `select`).
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::TileArgs;
use crate::wasm_simd128::gemm_f32_mx8;

/// 6 x 8 tile, relaxed SIMD (fused multiply-add).
///
/// # Safety
/// See [`GemmF32Ukernel`](crate::ukernel::GemmF32Ukernel).
pub unsafe fn gemm_f32_6x8__wasm_relaxed(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, t: &TileArgs) {
    unsafe { gemm_f32_mx8::<6, true>(kc, a, b, c, ldc, t) }
}
