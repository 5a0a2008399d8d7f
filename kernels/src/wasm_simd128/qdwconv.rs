//! `dwconv_q8_{3x3s1,3x3s2,5x5s1,5x5s2,kxk}__wasm_simd128`: the [`DwQ8Ukernel`] contract with
//! `i32x4.dot_i16x8_s`. Per 8 outputs and tap pair: two loads of 4 input pairs, two dot
//! products against the splatted weight pair, two adds; then the requantization
//! ([`RequantV`]) and an 8-byte store. The 3x3 and 5x5 kernels have their taps unrolled (each
//! group's taps at constant offsets from one pointer) and the weight vectors hoisted out of the
//! row loop; `kxk` takes any offsets. The package kernel `pack_q8__wasm_simd128` widens and
//! centers input rows (and interleaves row pairs).
//!
//! [`DwQ8Ukernel`]: crate::ukernel::DwQ8Ukernel
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use super::requant::{store_row_bytes, RequantV};
use crate::q8::Q8;
use crate::ukernel::{DwRows, DW_CHUNK as CHUNK};
use core::arch::wasm32::*;

/// Eight outputs from `acc0`/`acc1` plus the taps `(p[2k], p[2k + 1])` for `k < K`, weights `wv`.
///
/// # Safety
/// `p` readable for `2K + 14` values.
#[inline(always)]
unsafe fn taps<const K: usize>(p: *const i16, wv: &[v128; K], acc: (v128, v128)) -> (v128, v128) {
    let (mut acc0, mut acc1) = acc;
    for (k, &wk) in wv.iter().enumerate() {
        unsafe {
            acc0 = i32x4_add(acc0, i32x4_dot_i16x8(v128_load(p.add(2 * k) as *const v128), wk));
            acc1 = i32x4_add(acc1, i32x4_dot_i16x8(v128_load(p.add(2 * k + 8) as *const v128), wk));
        }
    }
    (acc0, acc1)
}

/// Stores, for every 8 outputs of every row, the requantized `f(p, acc)` where `p` points at
/// the row's pairs for those outputs (`base + i·in_stride + 2j`) and `acc` holds the bias.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::ukernel::DwQ8Ukernel).
#[inline(always)]
unsafe fn each8<Y: Q8>(k: &DwRows, out: *mut u8, f: impl Fn(*const i16, (v128, v128)) -> (v128, v128)) {
    let r = RequantV::<Y>::new(k.rq);
    for i in 0..k.rows {
        let mut j = 0;
        while j < k.n {
            // SAFETY: the caller's contract, row by row; out holds rows·n bytes.
            unsafe {
                let (acc0, acc1) = f(k.base.add(i * k.in_stride + 2 * j), (i32x4_splat(k.bias), i32x4_splat(k.bias)));
                let room = (k.rows - i) * k.n - j;
                store_row_bytes::<CHUNK>(r.bytes8(r.apply(acc0), r.apply(acc1)), out.add(i * k.n + j), (k.n - j).min(CHUNK), room);
            }
            j += CHUNK;
        }
    }
}

/// `R` groups of `K` regular taps, unrolled, the weight vectors hoisted.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::ukernel::DwQ8Ukernel); `offs.len() == w.len() == R·K`,
/// regular groups.
#[inline(always)]
unsafe fn fixed<Y: Q8, const R: usize, const K: usize>(k: &DwRows, out: *mut u8) {
    let wv: [[v128; K]; R] = core::array::from_fn(|g| core::array::from_fn(|t| i32x4_splat(k.w[g * K + t])));
    let starts: [usize; R] = core::array::from_fn(|g| k.offs[g * K]);
    // SAFETY: the caller's contract.
    unsafe { each8::<Y>(k, out, |p, acc| (0..R).fold(acc, |acc, g| taps::<K>(p.add(starts[g]), &wv[g], acc))) }
}

macro_rules! fixed_kernel {
    ($name:ident, $r:literal, $k:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// # Safety
        /// See [`DwQ8Ukernel`](crate::ukernel::DwQ8Ukernel).
        pub unsafe fn $name<Y: Q8>(k: &DwRows, out: *mut u8) {
            unsafe { fixed::<Y, $r, $k>(k, out) }
        }
    };
}

fixed_kernel!(dwconv_q8_3x3s1__wasm_simd128, 2, 3, "3x3, column stride 1: 2 row pairs x 3 columns.");
fixed_kernel!(dwconv_q8_3x3s2__wasm_simd128, 3, 2, "3x3, column stride 2: 3 rows x 2 column pairs.");
fixed_kernel!(dwconv_q8_5x5s1__wasm_simd128, 3, 5, "5x5, column stride 1: 3 row pairs x 5 columns.");
fixed_kernel!(dwconv_q8_5x5s2__wasm_simd128, 5, 3, "5x5, column stride 2: 5 rows x 3 column pairs.");

/// Any taps (offsets as given).
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::ukernel::DwQ8Ukernel).
pub unsafe fn dwconv_q8_kxk__wasm_simd128<Y: Q8>(k: &DwRows, out: *mut u8) {
    // SAFETY: the caller's contract.
    unsafe {
        each8::<Y>(k, out, |p, acc| {
            k.offs.iter().zip(k.w).fold(acc, |(acc0, acc1), (&o, &wt)| {
                let (v0, v1) = (v128_load(p.add(o) as *const v128), v128_load(p.add(o + 8) as *const v128));
                let wv = i32x4_splat(wt);
                (i32x4_add(acc0, i32x4_dot_i16x8(v0, wv)), i32x4_add(acc1, i32x4_dot_i16x8(v1, wv)))
            })
        })
    }
}

/// # Safety
/// See [`PackQ8Ukernel`](crate::ukernel::PackQ8Ukernel).
pub unsafe fn pack_q8__wasm_simd128(n: usize, a: *const u8, b: *const u8, flip: u8, zp: i16, dst: *mut i16) {
    let (f, z) = (u8x16_splat(flip), i16x8_splat(zp));
    let center = |p: *const u8| {
        // SAFETY: the callers below read 8 bytes inside the row.
        let v = v128_xor(unsafe { v128_load64_zero(p as *const u64) }, f);
        i16x8_sub(u16x8_extend_low_u8x16(v), z)
    };
    // SAFETY: i + 8 <= n bytes of a (and b); dst holds 2n (n) values. A tail of a row of at
    // least 8 is redone as the row's last 8 (rewriting some values with the same values).
    unsafe {
        let step = |i: usize| {
            if b.is_null() {
                v128_store(dst.add(i) as *mut v128, center(a.add(i)));
            } else {
                let (va, vb) = (center(a.add(i)), center(b.add(i)));
                v128_store(dst.add(2 * i) as *mut v128, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(va, vb));
                v128_store(dst.add(2 * i + 8) as *mut v128, i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(va, vb));
            }
        };
        if n < 8 {
            crate::scalar::pack_q8__scalar(n, a, b, flip, zp, dst);
            return;
        }
        let mut i = 0;
        while i + 8 <= n {
            step(i);
            i += 8;
        }
        if i < n {
            step(n - 8);
        }
    }
}
