//! `gemm_i16_i32_{MR}x8c2__wasm_simd128`: the [`QGemmUkernel`](crate::ukernel::QGemmUkernel)
//! contract on [`QLayout::I16C2`](crate::ukernel::QLayout) panels with
//! `i32x4.dot_i16x8_s` (`pmaddwd` on x86): per depth pair, one 32-bit splat of the row's two A
//! values and two 8-lane loads of B; each dot multiplies 8 pairs and adds them into 4 columns.
//! MR = 4 (8 accumulators + 2 B + 1 A registers) measured faster than MR = 6 (15 of the 16 XMM
//! registers V8 maps wasm to on x86, which its allocator does not keep all live), see `select`.
//! Also the SIMD tile epilogue shared with the relaxed-SIMD kernels.
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::{QTileArgs, Requant, TileOut};
use core::arch::wasm32::*;

/// Packs one depth pair of 8 columns for [`QLayout::I16C2`](crate::ukernel::QLayout):
/// `d[2j] = (r0[j] ^ flip) − off`, `d[2j + 1] = (r1[j] ^ flip) − off`: the bytes interleaved by
/// one shuffle, widened to i16 and shifted by the zero point. `pack::pack_cols_i16`'s portable
/// loop is the reference (the self-test runs both).
#[inline(always)]
pub(crate) fn interleave_pair_x8(r0: &[u8; 8], r1: &[u8; 8], flip: u8, off: i16, d: &mut [i16; 16]) {
    // SAFETY: 8-byte loads from 8-byte arrays; two 16-byte stores into a 32-byte array.
    unsafe {
        let a = v128_load64_zero(r0.as_ptr() as *const u64);
        let b = v128_load64_zero(r1.as_ptr() as *const u64);
        let x = v128_xor(i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(a, b), u8x16_splat(flip));
        let o = i16x8_splat(off);
        v128_store(d.as_mut_ptr() as *mut v128, i16x8_sub(u16x8_extend_low_u8x16(x), o));
        v128_store(d.as_mut_ptr().add(8) as *mut v128, i16x8_sub(u16x8_extend_high_u8x16(x), o));
    }
}

/// `1.5 · 2^23`: adding it to an f32 `y` with `|y| < 2^22` rounds `y` to an integer, half to
/// even (IEEE round-to-nearest), and leaves that integer plus the bits of `1.5 · 2^23` in the
/// sum's bits.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Requantizes 4 accumulators, bit-exact with
/// [`requantize_clamped`](crate::quant_math::requantize_clamped) for the finite multipliers the
/// driver passes (it maps NaN to 0 and ±∞ to ±2^40, which give the same results): the products
/// `f32(acc) · m` in f32 (the same conversion and product as the scalar rule), clamped to
/// `[lo, hi] = [min − zp, max − zp]` (integers of at most 9 bits, so clamping before rounding
/// equals clamping after, and the magic rounding applies), rounded half to even by
/// [`ROUND_MAGIC`]; `offset` is the bits of [`ROUND_MAGIC`] minus `zp`.
#[inline(always)]
fn requant4(acc: v128, m: v128, lo: v128, hi: v128, offset: v128) -> v128 {
    let y = f32x4_mul(f32x4_convert_i32x4(acc), m);
    let r = f32x4_add(f32x4_pmin(f32x4_pmax(y, lo), hi), f32x4_splat(ROUND_MAGIC));
    i32x4_sub(r, offset)
}

/// The tile epilogue of every SIMD kernel with NR = 8 (two `i32x4` accumulators per row): the
/// [`QTileArgs`] terms, then i32 stores or requantized byte stores. Matches
/// `scalar::qgemm::finish_tile` bit for bit.
///
/// # Safety
/// `c` must be valid for `MR` rows of 8 output elements at stride `ldc` elements; the slices in
/// `t` hold at least `MR` / 8 values.
#[inline(always)]
pub(crate) unsafe fn finish_tile_x8<const MR: usize>(acc0: &mut [v128; MR], acc1: &mut [v128; MR], c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe {
        let ca0 = v128_load(t.col_add.as_ptr() as *const v128);
        let ca1 = v128_load(t.col_add.as_ptr().add(4) as *const v128);
        for i in 0..MR {
            let ra = i32x4_splat(*t.row_add.as_ptr().add(i));
            acc0[i] = i32x4_add(acc0[i], i32x4_add(ca0, ra));
            acc1[i] = i32x4_add(acc1[i], i32x4_add(ca1, ra));
        }
        if let (Some(rs), Some(cs)) = (t.row_sum, t.col_scale) {
            let s0 = v128_load(cs.as_ptr() as *const v128);
            let s1 = v128_load(cs.as_ptr().add(4) as *const v128);
            for i in 0..MR {
                let r = i32x4_splat(*rs.as_ptr().add(i));
                acc0[i] = i32x4_add(acc0[i], i32x4_mul(r, s0));
                acc1[i] = i32x4_add(acc1[i], i32x4_mul(r, s1));
            }
        }
        match t.out {
            TileOut::I32 => {
                let c = c as *mut i32;
                for i in 0..MR {
                    v128_store(c.add(i * ldc) as *mut v128, acc0[i]);
                    v128_store(c.add(i * ldc + 4) as *mut v128, acc1[i]);
                }
            }
            TileOut::Q8 { rq: Requant { multiplier, zero_point, lo: min, hi: max }, per_row, signed } => {
                let mp = multiplier.as_ptr();
                // Per column: the 8 columns' multipliers in two vectors; per row: a splat each.
                let cols = if per_row {
                    [f32x4_splat(0.0); 2]
                } else {
                    [v128_load(mp as *const v128), v128_load(mp.add(4) as *const v128)]
                };
                let (lo, hi) = (f32x4_splat((min - zero_point) as f32), f32x4_splat((max - zero_point) as f32));
                let offset = i32x4_splat(ROUND_MAGIC.to_bits() as i32 - zero_point);
                for i in 0..MR {
                    let m = if per_row { [f32x4_splat(*mp.add(i)); 2] } else { cols };
                    let q0 = requant4(acc0[i], m[0], lo, hi, offset);
                    let q1 = requant4(acc1[i], m[1], lo, hi, offset);
                    // Every lane is already in [min, max] ⊂ the output type: the narrowing
                    // saturations never act.
                    let h = i16x8_narrow_i32x4(q0, q1);
                    let bytes = if signed { i8x16_narrow_i16x8(h, h) } else { u8x16_narrow_i16x8(h, h) };
                    v128_store64_lane::<0>(bytes, c.add(i * ldc) as *mut u64);
                }
            }
        }
    }
}

/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
#[inline(always)]
unsafe fn gemm_i16_c2_mx8<const MR: usize>(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe {
        let mut acc0 = [i32x4_splat(0); MR];
        let mut acc1 = [i32x4_splat(0); MR];
        let (mut ap, mut bp) = (a, b);
        // One depth pair per iteration: unrolling by 2 or 4 measured slower in V8 (more live
        // registers; see `select`).
        for _ in 0..kg {
            let b0 = v128_load(bp as *const v128);
            let b1 = v128_load(bp.add(16) as *const v128);
            for i in 0..MR {
                let av = v128_load32_splat(ap.add(4 * i) as *const u32);
                acc0[i] = i32x4_add(acc0[i], i32x4_dot_i16x8(av, b0));
                acc1[i] = i32x4_add(acc1[i], i32x4_dot_i16x8(av, b1));
            }
            ap = ap.add(4 * MR);
            bp = bp.add(32);
        }
        finish_tile_x8::<MR>(&mut acc0, &mut acc1, c, ldc, t)
    }
}

/// 6 x 8 tile, wasm SIMD128 (benchmarked against 4 x 8, see `select`).
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i16_i32_6x8c2__wasm_simd128(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i16_c2_mx8::<6>(kg, a, b, c, ldc, t) }
}

/// 4 x 8 tile, wasm SIMD128.
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i16_i32_4x8c2__wasm_simd128(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i16_c2_mx8::<4>(kg, a, b, c, ldc, t) }
}

/// 1 x 8 tile (single-row products: GEMV), wasm SIMD128.
///
/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
pub unsafe fn gemm_i16_i32_1x8c2__wasm_simd128(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    unsafe { gemm_i16_c2_mx8::<1>(kg, a, b, c, ldc, t) }
}
