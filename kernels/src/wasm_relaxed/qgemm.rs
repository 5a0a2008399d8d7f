//! `gemm_i8i7_i32_{MR}x8c4__wasm_relaxed`: the [`QGemmUkernel`](crate::ukernel::QGemmUkernel)
//! contract on [`QLayout::I8I7C4`](crate::ukernel::QLayout) panels with relaxed SIMD's
//! int8 dot product: per depth quad, one 32-bit splat of the row's four signed A values and four
//! loads of B (the low and high 7-bit parts of 8 columns); each
//! `i16x8.relaxed_dot_i8x16_i7x16_s` multiplies 16 pairs into 8 pair sums, which
//! `i32x4.extadd_pairwise_i16x8_s` adds into 4 columns.
//!
//! Determinism: the instruction is only fully specified when its second operand lies in
//! `[0, 127]`; the packed parts `lo = min(v, 127)` and `hi = v − lo` of `v ∈ [0, 254]` always do.
//! On x86, V8 lowers it to `pmaddubsw` (u8 × i8 products summed in pairs, *saturated* to i16):
//! with A in `[−128, 127]` and B in `[0, 127]` a pair is at most `2·128·127 = 32512 < 32767`, so
//! the saturation never acts and every lowering gives the exact pair sum. The scalar twin
//! `gemm_i8i7_i32_*c4__scalar` emulates the saturating lowering and is tested bit for bit against
//! the oracle on extreme values; this kernel is tested against the oracle in Node.
//!
//! Why not `i32x4.relaxed_dot_i8x16_i7x16_add_s` (one instruction per 16 products, `sdot` on
//! ARM64, `vpdpbusd` with AVX-VNNI): Node 20's V8 (11.3) miscompiles it in its baseline tier
//! (Liftoff, x64): the result is twice the dot product and the accumulator is dropped (TurboFan
//! is right), so the first calls of a kernel using it return wrong sums. docs/kernels.md has the
//! reproduction and the figures; on x64 without VNNI it is also five instructions. LLVM turns
//! `i32x4.add(i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot(a, b)), c)` into that
//! instruction, hence [`widen`].
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::QTileArgs;
use crate::wasm_simd128::finish_tile_x8;
use core::arch::wasm32::*;

/// The 8 i16 pair sums of a relaxed dot, added in pairs into 4 i32 lanes: `i32x4.dot_i16x8_s`
/// by ones (`pmaddwd`), rather than `i32x4.extadd_pairwise_i16x8_s`, whose sum with an
/// accumulator LLVM fuses back into `i32x4.relaxed_dot_i8x16_i7x16_add_s` (see above).
#[inline(always)]
fn widen(pairs: v128, ones: v128) -> v128 {
    i32x4_dot_i16x8(pairs, ones)
}

/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
#[inline(always)]
unsafe fn gemm_i8i7_c4_mx8<const MR: usize>(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe {
        let mut acc0 = [i32x4_splat(0); MR];
        let mut acc1 = [i32x4_splat(0); MR];
        let (mut ap, mut bp) = (a, b);
        let ones = i16x8_splat(1);
        for _ in 0..kg {
            let lo0 = v128_load(bp as *const v128);
            let lo1 = v128_load(bp.add(16) as *const v128);
            let hi0 = v128_load(bp.add(32) as *const v128);
            let hi1 = v128_load(bp.add(48) as *const v128);
            for i in 0..MR {
                let av = v128_load32_splat(ap.add(4 * i) as *const u32);
                acc0[i] = i32x4_add(acc0[i], widen(i16x8_relaxed_dot_i8x16_i7x16(av, lo0), ones));
                acc1[i] = i32x4_add(acc1[i], widen(i16x8_relaxed_dot_i8x16_i7x16(av, lo1), ones));
                acc0[i] = i32x4_add(acc0[i], widen(i16x8_relaxed_dot_i8x16_i7x16(av, hi0), ones));
                acc1[i] = i32x4_add(acc1[i], widen(i16x8_relaxed_dot_i8x16_i7x16(av, hi1), ones));
            }
            ap = ap.add(4 * MR);
            bp = bp.add(64);
        }
        finish_tile_x8::<MR>(&mut acc0, &mut acc1, c, ldc, t)
    }
}

/// 4 x 8 tile, relaxed SIMD.
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i8i7_i32_4x8c4__wasm_relaxed(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i8i7_c4_mx8::<4>(kg, a, b, c, ldc, t) }
}

/// 6 x 8 tile, relaxed SIMD (benchmarked against 4 x 8, see `select`).
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i8i7_i32_6x8c4__wasm_relaxed(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i8i7_c4_mx8::<6>(kg, a, b, c, ldc, t) }
}

/// 1 x 8 tile (GEMV rows), relaxed SIMD.
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i8i7_i32_1x8c4__wasm_relaxed(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i8i7_c4_mx8::<1>(kg, a, b, c, ldc, t) }
}
