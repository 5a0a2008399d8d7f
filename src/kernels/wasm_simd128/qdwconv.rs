//! `dwconv_q8_{3x3,5x5,kxk}__wasm_simd128`: the [`DwQ8Ukernel`] contract with
//! `i32x4.dot_i16x8_s`. Per 8 outputs and tap pair: two loads of 4 input pairs, two dot
//! products against the splatted weight pair, two adds; then the requantization
//! ([`RequantV`]) and an 8-byte store. The 3x3 and 5x5 versions (6 and 15 tap pairs) have their
//! taps unrolled with the weight vectors hoisted out of the output loop.
//!
//! [`DwQ8Ukernel`]: crate::kernels::qdwconv::DwQ8Ukernel
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use super::requant::{store_bytes, RequantV};
use crate::kernels::q8::{Requant, Q8};
use crate::kernels::qdwconv::CHUNK;
use core::arch::wasm32::*;

/// One row with `T` tap pairs known at compile time.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); `offs.len() == w.len() == T`.
#[inline(always)]
unsafe fn row_fixed<Y: Q8, const T: usize>(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    let r = RequantV::<Y>::new(rq);
    let ptrs: [*const i16; T] = core::array::from_fn(|t| base.wrapping_add(offs[t]));
    let wv: [v128; T] = core::array::from_fn(|t| i32x4_splat(w[t]));
    let mut j = 0;
    while j < n {
        let mut acc0 = i32x4_splat(bias);
        let mut acc1 = acc0;
        for t in 0..T {
            // SAFETY: the caller guarantees 2·n.next_multiple_of(8) readable values from ptrs[t].
            unsafe {
                let p = ptrs[t].add(2 * j);
                acc0 = i32x4_add(acc0, i32x4_dot_i16x8(v128_load(p as *const v128), wv[t]));
                acc1 = i32x4_add(acc1, i32x4_dot_i16x8(v128_load(p.add(8) as *const v128), wv[t]));
            }
        }
        // SAFETY: out holds n bytes.
        unsafe { store_bytes(r.bytes8(r.apply(acc0), r.apply(acc1)), out.add(j), (n - j).min(CHUNK)) };
        j += CHUNK;
    }
}

/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); 6 tap pairs.
pub unsafe fn dwconv_q8_3x3__wasm_simd128<Y: Q8>(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    unsafe { row_fixed::<Y, 6>(n, base, offs, w, bias, rq, out) }
}

/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); 15 tap pairs.
pub unsafe fn dwconv_q8_5x5__wasm_simd128<Y: Q8>(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    unsafe { row_fixed::<Y, 15>(n, base, offs, w, bias, rq, out) }
}

/// Any number of tap pairs.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel).
pub unsafe fn dwconv_q8_kxk__wasm_simd128<Y: Q8>(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    let r = RequantV::<Y>::new(rq);
    let mut j = 0;
    while j < n {
        let mut acc0 = i32x4_splat(bias);
        let mut acc1 = acc0;
        for (&o, &wt) in offs.iter().zip(w) {
            let wv = i32x4_splat(wt);
            // SAFETY: as in row_fixed.
            unsafe {
                let p = base.add(o + 2 * j);
                acc0 = i32x4_add(acc0, i32x4_dot_i16x8(v128_load(p as *const v128), wv));
                acc1 = i32x4_add(acc1, i32x4_dot_i16x8(v128_load(p.add(8) as *const v128), wv));
            }
        }
        // SAFETY: out holds n bytes.
        unsafe { store_bytes(r.bytes8(r.apply(acc0), r.apply(acc1)), out.add(j), (n - j).min(CHUNK)) };
        j += CHUNK;
    }
}

/// # Safety
/// See [`PackQ8Ukernel`](crate::kernels::qdwconv::PackQ8Ukernel).
pub unsafe fn pack_q8__wasm_simd128(n: usize, a: *const u8, b: *const u8, flip: u8, zp: i16, dst: *mut i16) {
    let (f, z) = (u8x16_splat(flip), i16x8_splat(zp));
    let center = |p: *const u8| {
        // SAFETY: the callers below read 8 bytes inside the row.
        let v = v128_xor(unsafe { v128_load64_zero(p as *const u64) }, f);
        i16x8_sub(u16x8_extend_low_u8x16(v), z)
    };
    let mut i = 0;
    // SAFETY: i + 8 <= n bytes of a (and b); dst holds 2n (n) values.
    unsafe {
        if b.is_null() {
            while i + 8 <= n {
                v128_store(dst.add(i) as *mut v128, center(a.add(i)));
                i += 8;
            }
        } else {
            while i + 8 <= n {
                let (va, vb) = (center(a.add(i)), center(b.add(i)));
                v128_store(dst.add(2 * i) as *mut v128, i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(va, vb));
                v128_store(dst.add(2 * i + 8) as *mut v128, i16x8_shuffle::<4, 12, 5, 13, 6, 14, 7, 15>(va, vb));
                i += 8;
            }
        }
        crate::kernels::scalar::pack_q8__scalar(n - i, a.add(i), if b.is_null() { b } else { b.add(i) }, flip, zp, dst.add(if b.is_null() { i } else { 2 * i }));
    }
}
