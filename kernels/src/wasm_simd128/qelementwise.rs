//! `add_q8__wasm_simd128`, `mul_q8__wasm_simd128` (and `requantize_q8__wasm_simd128`): the
//! [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel) contract, 16 elements per
//! step. Bytes are flipped to biased u8 (see `kernels::q8`), widened to i16 and centered.
//!
//! - Add repeats the scalar f32 operations lane for lane (convert, multiply by each scale, add,
//!   divide by the output scale, add the zero point, round half to even with `f32x4.nearest`),
//!   converts with saturation (NaN → 0, as the scalar `as` does) and clamps in i32.
//! - Mul forms the exact i32 products with `i32x4.extmul_*_i16x8_s`, then the same f32 steps.
//! - Requantize (`requantize_q8__wasm_simd128`) rounds the f32 quotient, then adds the zero
//!   point.
#![allow(non_snake_case)] // XNNPACK-style names: the ISA after a double underscore.
use super::requant::{load_bytes, round_clamp, store_bytes};
use crate::q8::Q8;
use crate::ukernel::{AddParams, MulParams, RequantizeParams};
use core::arch::wasm32::*;

/// Runs `f` on 16 elements at a time (the last step on the `n % 16` left): `f` gets A's and B's
/// values, biased and centered on their zero points, as two i16x8 each, and returns 16 bytes.
///
/// # Safety
/// As for the micro-kernels.
#[inline(always)]
unsafe fn each16<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, zps: (i32, i32), out: *mut u8, f: impl Fn([v128; 2], [v128; 2]) -> v128) {
    let (za, zb) = (i16x8_splat((zps.0 + Q::BIAS) as i16), i16x8_splat((zps.1 + Q::BIAS) as i16));
    let mut i = 0;
    while i < n {
        let k = (n - i).min(16);
        // SAFETY: the loads and the store stay within the n elements (b: 1 if splat).
        unsafe {
            let av = load_bytes(a.add(i), k);
            let bv = if b_splat { u8x16_splat(*b) } else { load_bytes(b.add(i), k) };
            store_bytes(f(centered::<Q>(av, za), centered::<Q>(bv, zb)), out.add(i), k);
        }
        i += 16;
    }
}

/// Bytes of `Q` → two i16x8 of `biased value - zp`.
#[inline(always)]
fn centered<Q: Q8>(v: v128, zp: v128) -> [v128; 2] {
    let v = v128_xor(v, u8x16_splat(Q::FLIP));
    [i16x8_sub(u16x8_extend_low_u8x16(v), zp), i16x8_sub(u16x8_extend_high_u8x16(v), zp)]
}

/// Four f32x4 of `scale · (centered value)`.
#[inline(always)]
fn dequant([lo, hi]: [v128; 2], scale: v128) -> [v128; 4] {
    let f = |v: v128| f32x4_mul(f32x4_convert_i32x4(v), scale);
    [f(i32x4_extend_low_i16x8(lo)), f(i32x4_extend_high_i16x8(lo)), f(i32x4_extend_low_i16x8(hi)), f(i32x4_extend_high_i16x8(hi))]
}

/// The low bytes of 16 i32 lanes (each within -128..=255).
#[inline(always)]
fn low_bytes(a: v128, b: v128, c: v128, d: v128) -> v128 {
    let (h0, h1) = (i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d));
    i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30>(h0, h1)
}

/// # Safety
/// See [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel).
pub unsafe fn add_q8__wasm_simd128<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, p: &AddParams, out: *mut u8) {
    let (sa, sb, sy, zy) = (f32x4_splat(p.a_scale), f32x4_splat(p.b_scale), f32x4_splat(p.y_scale), f32x4_splat(p.y_zp as f32));
    let (lo, hi) = (i32x4_splat(p.lo), i32x4_splat(p.hi));
    let q = |ta: v128, tb: v128| round_clamp(f32x4_add(f32x4_div(f32x4_add(ta, tb), sy), zy), lo, hi);
    // SAFETY: the caller's contract.
    unsafe {
        each16::<Q>(n, a, b, b_splat, (p.a_zp, p.b_zp), out, |av, bv| {
            let (ta, tb) = (dequant(av, sa), dequant(bv, sb));
            low_bytes(q(ta[0], tb[0]), q(ta[1], tb[1]), q(ta[2], tb[2]), q(ta[3], tb[3]))
        })
    }
}

/// # Safety
/// See [`BinaryQ8Ukernel`](crate::ukernel::BinaryQ8Ukernel).
pub unsafe fn mul_q8__wasm_simd128<Q: Q8>(n: usize, a: *const u8, b: *const u8, b_splat: bool, p: &MulParams, out: *mut u8) {
    let (m, zy) = (f32x4_splat(p.multiplier), f32x4_splat(p.y_zp as f32));
    let (lo, hi) = (i32x4_splat(p.lo), i32x4_splat(p.hi));
    // The products of two centered 8-bit values are exact in f32.
    let q = |acc: v128| round_clamp(f32x4_add(f32x4_mul(f32x4_convert_i32x4(acc), m), zy), lo, hi);
    // SAFETY: the caller's contract.
    unsafe {
        each16::<Q>(n, a, b, b_splat, (p.a_zp, p.b_zp), out, |[a0, a1], [b0, b1]| {
            low_bytes(
                q(i32x4_extmul_low_i16x8(a0, b0)),
                q(i32x4_extmul_high_i16x8(a0, b0)),
                q(i32x4_extmul_low_i16x8(a1, b1)),
                q(i32x4_extmul_high_i16x8(a1, b1)),
            )
        })
    }
}

/// # Safety
/// See [`UnaryQ8Ukernel`](crate::ukernel::UnaryQ8Ukernel).
pub unsafe fn requantize_q8__wasm_simd128<Q: Q8>(n: usize, x: *const u8, p: &RequantizeParams, out: *mut u8) {
    let (sx, sy) = (f32x4_splat(p.x_scale), f32x4_splat(p.y_scale));
    // Rounded, clamped so that adding the zero point lands in Q's range, then the zero point.
    let (lo, hi, zy) = (i32x4_splat(Q::MIN - p.y_zp), i32x4_splat(Q::MAX - p.y_zp), i32x4_splat(p.y_zp));
    let q = |t: v128| i32x4_add(round_clamp(f32x4_div(t, sy), lo, hi), zy);
    // SAFETY: the caller's contract (the second operand is x itself, splatted and unused).
    unsafe {
        each16::<Q>(n, x, x, true, (p.x_zp, 0), out, |xv, _| {
            let t = dequant(xv, sx);
            low_bytes(q(t[0]), q(t[1]), q(t[2]), q(t[3]))
        })
    }
}
