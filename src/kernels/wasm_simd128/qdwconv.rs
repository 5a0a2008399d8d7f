//! `dwconv_q8_{3x3,5x5,kxk}__wasm_simd128`: the [`DwQ8Ukernel`] contract with
//! `i32x4.dot_i16x8_s`. Per 8 outputs and tap pair: two loads of 4 input pairs, two dot
//! products against the splatted weight pair, two adds; then the requantization
//! ([`RequantV`]) and an 8-byte store. The 3x3 and 5x5 versions (6 and 15 tap pairs) have their
//! taps unrolled with the weight vectors hoisted out of the output loop.
//!
//! [`DwQ8Ukernel`]: crate::kernels::qdwconv::DwQ8Ukernel
#![allow(non_snake_case)] // XNNPACK-style names: tile, then the ISA after a double underscore.
use super::requant::{bytes8, store_bytes, RequantV};
use crate::kernels::q8::Requant;
use crate::kernels::qdwconv::CHUNK;
use core::arch::wasm32::*;

/// One row with `T` tap pairs known at compile time.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); `offs.len() == w.len() == T`.
#[inline(always)]
unsafe fn row_fixed<const T: usize>(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    let r = RequantV::new(rq);
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
        unsafe { store_bytes(bytes8(r.apply(acc0), r.apply(acc1)), out.add(j), (n - j).min(CHUNK)) };
        j += CHUNK;
    }
}

/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); 6 tap pairs.
pub unsafe fn dwconv_q8_3x3__wasm_simd128(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    unsafe { row_fixed::<6>(n, base, offs, w, bias, rq, out) }
}

/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel); 15 tap pairs.
pub unsafe fn dwconv_q8_5x5__wasm_simd128(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    unsafe { row_fixed::<15>(n, base, offs, w, bias, rq, out) }
}

/// Any number of tap pairs.
///
/// # Safety
/// See [`DwQ8Ukernel`](crate::kernels::qdwconv::DwQ8Ukernel).
pub unsafe fn dwconv_q8_kxk__wasm_simd128(n: usize, base: *const i16, offs: &[usize], w: &[i32], bias: i32, rq: &Requant, out: *mut u8) {
    let r = RequantV::new(rq);
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
        unsafe { store_bytes(bytes8(r.apply(acc0), r.apply(acc1)), out.add(j), (n - j).min(CHUNK)) };
        j += CHUNK;
    }
}
