//! [`Requant`] on i32x4 lanes, bit for bit the scalar rule
//! `clamp(saturate(round_half_even(f32(acc) · M) + z), lo, hi)` when [`Requant::simd_ok`]
//! (a finite `M`):
//!
//! - `f32(acc) · M` is the same IEEE f32 conversion and product as the scalar's (`f32x4`);
//! - it is clamped to `±2^22` (rounding and clamping to integers commute, and a value beyond
//!   saturates the output either way), then adding `1.5 · 2^23` rounds it half to even to an
//!   integer (the f32 spacing there is 1) whose bits, minus those of `1.5 · 2^23`, are that
//!   integer (the zero point is folded into the same subtraction);
//! - the saturating narrows to i16 and then to the output type saturate exactly like the scalar
//!   rule; a fused clamp `[lo, hi]` narrower than the type is applied on the bytes.
use crate::q8::Q8;
use crate::ukernel::Requant;
use core::arch::wasm32::*;
use core::marker::PhantomData;

const MAGIC: f32 = 12_582_912.0; // 1.5 · 2^23
const LIMIT: f32 = 4_194_304.0; // 2^22

/// A [`Requant`] for output type `Y`, splatted into vectors.
pub(crate) struct RequantV<Y> {
    m: v128,
    /// bits(1.5 · 2^23) - zero point.
    offset: v128,
    lo: v128,
    hi: v128,
    clamp_out: bool,
    _y: PhantomData<Y>,
}

impl<Y: Q8> RequantV<Y> {
    /// The caller checked [`Requant::simd_ok`].
    #[inline(always)]
    pub(crate) fn new(rq: &Requant) -> RequantV<Y> {
        let byte = |v: i32| if Y::FLIP == 0 { u8x16_splat(v as u8) } else { i8x16_splat(v as i8) };
        RequantV {
            m: f32x4_splat(rq.multiplier),
            offset: i32x4_splat(MAGIC.to_bits() as i32 - rq.zero_point),
            lo: byte(rq.lo),
            hi: byte(rq.hi),
            clamp_out: (rq.lo, rq.hi) != (Y::MIN, Y::MAX),
            _y: PhantomData,
        }
    }

    /// Four accumulators with the splatted multiplier, to i32 lanes `round(f32(acc) · M) + z`
    /// (before saturation).
    #[inline(always)]
    pub(crate) fn apply(&self, acc: v128) -> v128 {
        self.apply_with(acc, self.m)
    }

    /// Four accumulators with per-lane (finite) multipliers.
    #[inline(always)]
    pub(crate) fn apply_with(&self, acc: v128, m: v128) -> v128 {
        let p = f32x4_mul(f32x4_convert_i32x4(acc), m);
        let p = f32x4_pmin(f32x4_pmax(p, f32x4_splat(-LIMIT)), f32x4_splat(LIMIT));
        i32x4_sub(f32x4_add(p, f32x4_splat(MAGIC)), self.offset)
    }

    /// Saturates 16 lanes of [`Self::apply`] to `Y` and clamps them to `[lo, hi]`.
    #[inline(always)]
    pub(crate) fn bytes16(&self, a: v128, b: v128, c: v128, d: v128) -> v128 {
        self.narrow(i16x8_narrow_i32x4(a, b), i16x8_narrow_i32x4(c, d))
    }

    /// Saturates 8 lanes of [`Self::apply`] to `Y` into bytes 0..8 (8..16 repeat them).
    #[inline(always)]
    pub(crate) fn bytes8(&self, a: v128, b: v128) -> v128 {
        let h = i16x8_narrow_i32x4(a, b);
        self.narrow(h, h)
    }

    #[inline(always)]
    fn narrow(&self, h0: v128, h1: v128) -> v128 {
        if Y::FLIP == 0 {
            let v = u8x16_narrow_i16x8(h0, h1);
            if self.clamp_out { u8x16_min(u8x16_max(v, self.lo), self.hi) } else { v }
        } else {
            let v = i8x16_narrow_i16x8(h0, h1);
            if self.clamp_out { i8x16_min(i8x16_max(v, self.lo), self.hi) } else { v }
        }
    }
}

/// `round_half_even(v)` of f32 lanes to i32 lanes clamped to `[lo, hi]`, NaN giving 0 (then
/// clamped), as the scalar `round_to_i64` followed by saturation does: the rounding of the
/// formulas that add their zero point before rounding (QLinearAdd, QLinearMul).
#[inline(always)]
pub(crate) fn round_clamp(v: v128, lo: v128, hi: v128) -> v128 {
    i32x4_min(i32x4_max(i32x4_trunc_sat_f32x4(f32x4_nearest(v)), lo), hi)
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

/// Stores the first `n <= W` of the `W` (8 or 16) low bytes of `v` at `out`, writing all `W`
/// when `room` (the bytes writable from `out`) allows: the bytes past `n` then land on outputs
/// that a later step overwrites (the next row's), which spares a byte-wise copy per row.
///
/// # Safety
/// `out` writable for `room >= n` bytes.
#[inline(always)]
pub(crate) unsafe fn store_row_bytes<const W: usize>(v: v128, out: *mut u8, n: usize, room: usize) {
    unsafe {
        match W {
            8 if room >= 8 => v128_store64_lane::<0>(v, out as *mut u64),
            16 if room >= 16 => v128_store(out as *mut v128, v),
            _ => store_bytes(v, out, n),
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
