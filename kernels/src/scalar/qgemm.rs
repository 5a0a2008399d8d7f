//! Portable int8 GEMM micro-kernels (the [`QGemmUkernel`](crate::ukernel::QGemmUkernel)
//! contract) and the scalar tile epilogue the SIMD kernels must match:
//!
//! - `gemm_i16_i32_{MR}x8c2__scalar`: [`QLayout::I16C2`](crate::ukernel::QLayout) panels.
//! - `gemm_i8i7_i32_{MR}x8c4__scalar`: [`QLayout::I8I7C4`](crate::ukernel::QLayout)
//!   panels, each 4-product dot computed the way x86 lowers the relaxed dot product without
//!   VNNI (`pmaddubsw`: products summed in pairs and *saturated to i16*, then `pmaddwd` by ones),
//!   so the native tests prove that the 7-bit split never saturates: with one operand in
//!   `[−128, 127]` and the other in `[0, 127]` a pair is at most `2·128·127 = 32512 < 32767`.
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use crate::ukernel::{QTileArgs, Requant, TileOut};
use crate::quant_math::requantize_clamped;

/// Adds the [`QTileArgs`] terms to a tile of accumulators and stores it as `t.out` says.
///
/// # Safety
/// `c` must be valid for `MR` rows of `NR` output elements at stride `ldc` elements; the slices
/// in `t` hold at least `MR` / `NR` values.
#[inline(always)]
pub(crate) unsafe fn finish_tile<const MR: usize, const NR: usize>(acc: &mut [[i32; NR]; MR], c: *mut u8, ldc: usize, t: &QTileArgs) {
    for (i, row) in acc.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = v.wrapping_add(t.row_add[i]).wrapping_add(t.col_add[j]);
            if let (Some(rs), Some(cs)) = (t.row_sum, t.col_scale) {
                *v = v.wrapping_add(rs[i].wrapping_mul(cs[j]));
            }
        }
    }
    match t.out {
        TileOut::I32 => {
            for (i, row) in acc.iter().enumerate() {
                // SAFETY: the caller guarantees MR rows of NR i32 at stride ldc.
                let out = unsafe { std::slice::from_raw_parts_mut((c as *mut i32).add(i * ldc), NR) };
                out.copy_from_slice(row);
            }
        }
        TileOut::Q8 { rq: Requant { multiplier, zero_point, lo: min, hi: max }, per_row, .. } => {
            for (i, row) in acc.iter().enumerate() {
                // SAFETY: the caller guarantees MR rows of NR bytes at stride ldc.
                let out = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), NR) };
                for (j, (o, &v)) in out.iter_mut().zip(row).enumerate() {
                    let m = multiplier[if per_row { i } else { j }];
                    // Two's complement: the low byte of an i32 in [-128, 127] is its int8.
                    *o = requantize_clamped(v, m, zero_point, min, max) as u8;
                }
            }
        }
    }
}

/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
#[inline(always)]
unsafe fn gemm_i16_c2<const MR: usize, const NR: usize>(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    // SAFETY: the caller guarantees kg*MR*4 / kg*NR*4 readable bytes, aligned for i16 (packed
    // panels live in u32 storage at even offsets).
    let (a, b) = unsafe {
        (std::slice::from_raw_parts(a as *const i16, kg * MR * 2), std::slice::from_raw_parts(b as *const i16, kg * NR * 2))
    };
    let mut acc = [[0i32; NR]; MR];
    for (ak, bk) in a.chunks_exact(MR * 2).zip(b.chunks_exact(NR * 2)) {
        for (i, row) in acc.iter_mut().enumerate() {
            let (a0, a1) = (ak[2 * i] as i32, ak[2 * i + 1] as i32);
            for (j, v) in row.iter_mut().enumerate() {
                // One lane of i32x4.dot_i16x8_s: |a·b + a·b| ≤ 2·255² fits i32.
                *v = v.wrapping_add(a0 * bk[2 * j] as i32 + a1 * bk[2 * j + 1] as i32);
            }
        }
    }
    unsafe { finish_tile::<MR, NR>(&mut acc, c, ldc, t) }
}

/// x86's `pmaddubsw` on one pair: `u` unsigned, `s` signed, the sum saturated to i16.
#[inline(always)]
fn maddubs_pair(u0: u8, s0: i8, u1: u8, s1: i8) -> i32 {
    (u0 as i32 * s0 as i32 + u1 as i32 * s1 as i32).clamp(i16::MIN as i32, i16::MAX as i32)
}

/// # Safety
/// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
#[inline(always)]
unsafe fn gemm_i8i7_c4<const MR: usize, const NR: usize>(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
    // SAFETY: the caller guarantees kg*MR*4 / kg*NR*8 readable bytes.
    let (a, b) = unsafe { (std::slice::from_raw_parts(a, kg * MR * 4), std::slice::from_raw_parts(b, kg * NR * 8)) };
    let mut acc = [[0i32; NR]; MR];
    for (ak, bk) in a.chunks_exact(MR * 4).zip(b.chunks_exact(NR * 8)) {
        let (lo, hi) = bk.split_at(NR * 4);
        for (i, row) in acc.iter_mut().enumerate() {
            let s = &ak[4 * i..4 * i + 4];
            let s = [s[0] as i8, s[1] as i8, s[2] as i8, s[3] as i8];
            for (j, v) in row.iter_mut().enumerate() {
                for part in [lo, hi] {
                    let u = &part[4 * j..4 * j + 4];
                    let dot = maddubs_pair(u[0], s[0], u[1], s[1]) + maddubs_pair(u[2], s[2], u[3], s[3]);
                    *v = v.wrapping_add(dot);
                }
            }
        }
    }
    unsafe { finish_tile::<MR, NR>(&mut acc, c, ldc, t) }
}

macro_rules! scalar_kernels {
    ($($name:ident = $body:ident<$mr:literal, $nr:literal>),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($name), "`: ", stringify!($mr), " x ", stringify!($nr), " tile, portable.")]
        ///
        /// # Safety
        /// See [`QGemmUkernel`](crate::ukernel::QGemmUkernel).
        pub unsafe fn $name(kg: usize, a: *const u8, b: *const u8, c: *mut u8, ldc: usize, t: &QTileArgs) {
            unsafe { $body::<$mr, $nr>(kg, a, b, c, ldc, t) }
        }
    )*};
}

scalar_kernels! {
    gemm_i16_i32_6x8c2__scalar = gemm_i16_c2<6, 8>,
    gemm_i16_i32_1x8c2__scalar = gemm_i16_c2<1, 8>,
    gemm_i8i7_i32_4x8c4__scalar = gemm_i8i7_c4<4, 8>,
    gemm_i8i7_i32_1x8c4__scalar = gemm_i8i7_c4<1, 8>,
}

use crate::ukernel::{QGemmKernel, QLayout};

/// The portable kernels with their tiles, for `select` (every build lists them: the native
/// tests run them, the wasm self-test checks them too).
pub static I16_MAIN: QGemmKernel =
    QGemmKernel { name: "gemm_i16_i32_6x8c2__scalar", mr: 6, nr: 8, layout: QLayout::I16C2, ukernel: gemm_i16_i32_6x8c2__scalar };
pub static I16_ROW: QGemmKernel =
    QGemmKernel { name: "gemm_i16_i32_1x8c2__scalar", mr: 1, nr: 8, layout: QLayout::I16C2, ukernel: gemm_i16_i32_1x8c2__scalar };
pub static I8I7_MAIN: QGemmKernel =
    QGemmKernel { name: "gemm_i8i7_i32_4x8c4__scalar", mr: 4, nr: 8, layout: QLayout::I8I7C4, ukernel: gemm_i8i7_i32_4x8c4__scalar };
pub static I8I7_ROW: QGemmKernel =
    QGemmKernel { name: "gemm_i8i7_i32_1x8c4__scalar", mr: 1, nr: 8, layout: QLayout::I8I7C4, ukernel: gemm_i8i7_i32_1x8c4__scalar };
