//! [`Requant`] on i32x4 lanes, bit for bit the scalar rule
//! `clamp(saturate(round_half_even(acc · M) + z), lo, hi)` for a finite `M`:
//!
//! - `acc · M` is the same IEEE f64 product as the scalar's (`f64x2` lanes);
//! - clamping to `[lo - z, hi - z]` before rounding equals clamping after it (rounding is
//!   monotonic and the bounds are integers), and keeps the value small;
//! - adding `1.5 · 2^52` rounds half to even to an integer (the f64 spacing there is 1) whose
//!   low 32 bits are that integer in two's complement;
//! - then `+ z`. The lanes hold values of the output type, so their low bytes are its bytes.
use crate::kernels::q8::Requant;
use core::arch::wasm32::*;

const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2^52

/// A [`Requant`] splatted into vectors.
pub(crate) struct RequantV {
    m: v128,
    lo: v128,
    hi: v128,
    zp: v128,
}

impl RequantV {
    /// The caller checked [`Requant::simd_ok`] (a finite multiplier).
    #[inline(always)]
    pub(crate) fn new(rq: &Requant) -> RequantV {
        RequantV {
            m: f64x2_splat(rq.multiplier),
            lo: f64x2_splat((rq.lo - rq.zero_point) as f64),
            hi: f64x2_splat((rq.hi - rq.zero_point) as f64),
            zp: i32x4_splat(rq.zero_point),
        }
    }

    #[inline(always)]
    fn round(&self, v: v128) -> v128 {
        f64x2_add(f64x2_pmin(f64x2_pmax(v, self.lo), self.hi), f64x2_splat(MAGIC))
    }

    /// Four accumulators with the splatted multiplier.
    #[inline(always)]
    pub(crate) fn apply(&self, acc: v128) -> v128 {
        self.apply_with(acc, self.m, self.m)
    }

    /// Four accumulators with per-lane multipliers (`m01` for lanes 0-1, `m23` for 2-3).
    #[inline(always)]
    pub(crate) fn apply_with(&self, acc: v128, m01: v128, m23: v128) -> v128 {
        let a = f64x2_convert_low_i32x4(acc);
        let b = f64x2_convert_low_i32x4(i32x4_shuffle::<2, 3, 2, 3>(acc, acc));
        let a = self.round(f64x2_mul(a, m01));
        let b = self.round(f64x2_mul(b, m23));
        i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(a, b), self.zp)
    }
}

/// The low bytes of 8 i32 lanes (each within -128..=255) in bytes 0..8.
#[inline(always)]
pub(crate) fn bytes8(a: v128, b: v128) -> v128 {
    let h = i16x8_narrow_i32x4(a, b);
    i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14>(h, h)
}

/// The low bytes of 16 i32 lanes (each within -128..=255).
#[inline(always)]
pub(crate) fn bytes16(a: v128, b: v128, c: v128, d: v128) -> v128 {
    let h0 = i16x8_narrow_i32x4(a, b);
    let h1 = i16x8_narrow_i32x4(c, d);
    i8x16_shuffle::<0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30>(h0, h1)
}

/// Stores the first `n <= 16` bytes of `v` at `out`.
///
/// # Safety
/// `out` writable for `n` bytes.
#[inline(always)]
pub(crate) unsafe fn store_bytes(v: v128, out: *mut u8, n: usize) {
    unsafe {
        if n >= 16 {
            v128_store(out as *mut v128, v);
        } else if n == 8 {
            v128_store64_lane::<0>(v, out as *mut u64);
        } else {
            let mut tmp = [0u8; 16];
            v128_store(tmp.as_mut_ptr() as *mut v128, v);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), out, n);
        }
    }
}

/// Loads `n <= 16` bytes from `p` into the low lanes (the rest zero).
///
/// # Safety
/// `p` readable for `n` bytes.
#[inline(always)]
pub(crate) unsafe fn load_bytes(p: *const u8, n: usize) -> v128 {
    unsafe {
        if n >= 16 {
            v128_load(p as *const v128)
        } else {
            let mut tmp = [0u8; 16];
            core::ptr::copy_nonoverlapping(p, tmp.as_mut_ptr(), n);
            v128_load(tmp.as_ptr() as *const v128)
        }
    }
}
