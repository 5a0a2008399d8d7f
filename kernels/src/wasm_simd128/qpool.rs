//! 8-bit pooling micro-kernels, 16 outputs per step: `maxpool_q8__wasm_simd128` (`u8x16.max`
//! over the taps), `avgpool_q8__wasm_simd128` (byte sums in u16 lanes, then i32 and
//! [`RequantV`] with per-lane multipliers) and `sum_u8__wasm_simd128` (pairwise widening adds).
#![allow(non_snake_case)] // XNNPACK-style names: the ISA after a double underscore.
use super::requant::{store_row_bytes, RequantV};
use crate::q8::Q8;
use crate::ukernel::{PoolRows, Requant, POOL_CHUNK as CHUNK};
use core::arch::wasm32::*;

/// Stores `f(b)` for every 16 outputs of a pool call, `b` pointing at their first tap base
/// (`base + i·in_stride + j`), `j` their first column.
///
/// # Safety
/// See [`MaxPoolQ8Ukernel`](crate::ukernel::MaxPoolQ8Ukernel).
#[inline(always)]
unsafe fn each16(r: &PoolRows, out: *mut u8, f: impl Fn(*const u8, usize) -> v128) {
    for i in 0..r.rows {
        let mut j = 0;
        while j < r.n {
            // SAFETY: the caller guarantees n.next_multiple_of(16) readable bytes per tap and
            // row, and rows·n bytes of out.
            unsafe {
                let v = f(r.base.add(i * r.in_stride + j), j);
                store_row_bytes::<CHUNK>(v, out.add(i * r.n + j), (r.n - j).min(CHUNK), (r.rows - i) * r.n - j);
            }
            j += CHUNK;
        }
    }
}

/// # Safety
/// See [`MaxPoolQ8Ukernel`](crate::ukernel::MaxPoolQ8Ukernel).
pub unsafe fn maxpool_q8__wasm_simd128(r: &PoolRows, flip: u8, out: *mut u8) {
    let f = u8x16_splat(flip);
    // SAFETY: the caller's contract.
    unsafe {
        each16(r, out, |b, _| {
            let m = r.offs.iter().fold(u8x16_splat(0), |m, &o| u8x16_max(m, v128_load(b.add(o) as *const v128)));
            v128_xor(m, f)
        })
    }
}

/// # Safety
/// See [`AvgPoolQ8Ukernel`](crate::ukernel::AvgPoolQ8Ukernel); at most
/// [`MAX_U16_TAPS`](crate::qpool::MAX_U16_TAPS) taps, finite multipliers, `rq` within
/// the 8-bit ranges.
pub unsafe fn avgpool_q8__wasm_simd128<Q: Q8>(r: &PoolRows, k_zp: i32, mult: &[f32], rq: &Requant, out: *mut u8) {
    let rv = RequantV::<Q>::new(rq);
    let kz = i32x4_splat(k_zp);
    // SAFETY: the caller's contract; mult holds n.next_multiple_of(16) values.
    unsafe {
        each16(r, out, |b, j| {
            let (mut lo, mut hi) = (u16x8_splat(0), u16x8_splat(0));
            for &o in r.offs {
                let v = v128_load(b.add(o) as *const v128);
                lo = i16x8_add(lo, u16x8_extend_low_u8x16(v));
                hi = i16x8_add(hi, u16x8_extend_high_u8x16(v));
            }
            let m = mult.as_ptr().add(j) as *const v128;
            let q = |s: v128, k: usize| rv.apply_with(i32x4_sub(s, kz), v128_load(m.add(k)));
            rv.bytes16(
                q(u32x4_extend_low_u16x8(lo), 0),
                q(u32x4_extend_high_u16x8(lo), 1),
                q(u32x4_extend_low_u16x8(hi), 2),
                q(u32x4_extend_high_u16x8(hi), 3),
            )
        })
    }
}

/// # Safety
/// See [`SumU8Ukernel`](crate::ukernel::SumU8Ukernel).
pub unsafe fn sum_u8__wasm_simd128(n: usize, x: *const u8, flip: u8) -> u64 {
    let f = u8x16_splat(flip);
    let mut total = 0u64;
    let mut i = 0;
    // Each step adds at most 4 · 255 to a u32 lane: flush every 2^20 steps.
    while i + 16 <= n {
        let end = (i + (16 << 20)).min(n - n % 16);
        let mut acc = u32x4_splat(0);
        while i < end {
            // SAFETY: i + 16 <= n.
            let v = v128_xor(unsafe { v128_load(x.add(i) as *const v128) }, f);
            acc = i32x4_add(acc, u32x4_extadd_pairwise_u16x8(u16x8_extadd_pairwise_u8x16(v)));
            i += 16;
        }
        total += u32x4_extract_lane::<0>(acc) as u64
            + u32x4_extract_lane::<1>(acc) as u64
            + u32x4_extract_lane::<2>(acc) as u64
            + u32x4_extract_lane::<3>(acc) as u64;
    }
    // SAFETY: i < n for the tail.
    total + (i..n).map(|k| (unsafe { *x.add(k) } ^ flip) as u64).sum::<u64>()
}
