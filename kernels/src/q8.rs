//! What the 8-bit kernels share: the element types they store ([`Q8`]: uint8, and int8 viewed as
//! order-preserving biased bytes) and the output rule ([`Requant`]).
//!
//! Every 8-bit kernel reads and writes raw bytes. An int8 value `v` is handled as the byte
//! `v ^ 0x80 = v + 128` (its zero point biased by 128 too), so `v - zero_point` and every order
//! comparison are unchanged and one code path serves both types; a clamped output in `Q`'s range
//! is stored as its own low byte (two's complement for int8).
//!
//! [`Requant`] is docs/quantization.md §8 (and §12) with optional clamp bounds (a fused ReLU /
//! Clip): `clamp(saturate(round_half_even(f32(acc) · M) + z_y), lo, hi)`. Its scalar form calls
//! [`quant_math::requantize`]; the SIMD kernels implement the same rule (see
//! `wasm_simd128::requant`) and are tested against it bit for bit.
use crate::error::{Error, Result};
use crate::quant_math::{self, QInt};

/// An 8-bit quantized element type (uint8 or int8).
pub trait Q8: QInt + PartialEq + std::fmt::Debug {
    /// XOR that maps the type onto bytes in the same order: 0 for u8, 0x80 for i8.
    const FLIP: u8;
    /// What [`Self::FLIP`] adds to values and zero points: 0 or 128.
    const BIAS: i32;
    /// The elements as bytes (the same memory).
    fn bytes(s: &[Self]) -> &[u8];
    /// The elements as mutable bytes (the same memory).
    fn bytes_mut(s: &mut [Self]) -> &mut [u8];
    /// The value a stored byte holds (`b` as `Self`, no bias).
    fn from_byte(b: u8) -> Self;
}

impl Q8 for u8 {
    const FLIP: u8 = 0;
    const BIAS: i32 = 0;
    fn bytes(s: &[u8]) -> &[u8] {
        s
    }
    fn bytes_mut(s: &mut [u8]) -> &mut [u8] {
        s
    }
    fn from_byte(b: u8) -> u8 {
        b
    }
}

impl Q8 for i8 {
    const FLIP: u8 = 0x80;
    const BIAS: i32 = 128;
    fn bytes(s: &[i8]) -> &[u8] {
        // SAFETY: i8 and u8 have the same size, alignment and validity (every bit pattern).
        unsafe { std::slice::from_raw_parts(s.as_ptr() as *const u8, s.len()) }
    }
    fn bytes_mut(s: &mut [i8]) -> &mut [u8] {
        // SAFETY: as above; the borrow is exclusive.
        unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut u8, s.len()) }
    }
    fn from_byte(b: u8) -> i8 {
        b as i8
    }
}

/// Output requantization of an i32 accumulator into `[lo, hi]` (within the output type's range):
/// `clamp(saturate(round_half_even(f32(acc) · multiplier) + zero_point), lo, hi)`, the product
/// rounded to f32 ([`quant_math::requantize`], docs/quantization.md §8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Requant {
    pub multiplier: f32,
    pub zero_point: i32,
    pub lo: i32,
    pub hi: i32,
}

impl Requant {
    /// The full range of `Q`, no extra clamp.
    pub fn new<Q: QInt>(multiplier: f32, zero_point: i32) -> Requant {
        Requant { multiplier, zero_point, lo: Q::MIN, hi: Q::MAX }
    }

    /// Narrows the bounds to `[lo, hi]` (a fused ReLU: `lo = zero_point`); an error if the
    /// result is empty.
    pub fn clamped(self, lo: i32, hi: i32) -> Result<Requant> {
        let (lo, hi) = (self.lo.max(lo), self.hi.min(hi));
        if lo > hi {
            return Err(Error::invalid(format!("empty output clamp [{lo}, {hi}]")));
        }
        Ok(Requant { lo, hi, ..self })
    }

    /// The scalar rule, through [`quant_math::requantize`].
    #[inline]
    pub fn apply<Q: QInt>(&self, acc: i32) -> Q {
        let q = quant_math::requantize::<Q>(acc, self.multiplier, self.zero_point).to_i32();
        Q::from_i32_in_range(q.clamp(self.lo, self.hi))
    }

    /// The same rule for a wider accumulator (a sum over a whole plane), through
    /// [`quant_math::scale_accumulator`].
    #[inline]
    pub fn apply_wide<Q: QInt>(&self, acc: i64) -> Q {
        let q = quant_math::saturate::<Q>(quant_math::scale_accumulator(acc, self.multiplier).saturating_add(self.zero_point as i64));
        Q::from_i32_in_range(q.to_i32().clamp(self.lo, self.hi))
    }

    /// Whether the SIMD form applies: a finite multiplier (so `f32(acc) · M` is never NaN) and
    /// bounds inside the 8-bit ranges. Otherwise kernels take their scalar path.
    pub fn simd_ok(&self) -> bool {
        self.multiplier.is_finite() && self.lo >= -128 && self.hi <= 255 && self.lo <= self.hi
    }
}

/// A micro-kernel with its name (what `select` hands out).
#[derive(Clone, Copy)]
pub struct Named<K> {
    pub name: &'static str,
    pub ukernel: K,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_bytes_keep_order_and_differences() {
        for a in [-128i8, -1, 0, 1, 127] {
            for b in [-128i8, -5, 0, 7, 127] {
                let (ba, bb) = ((a as u8) ^ i8::FLIP, (b as u8) ^ i8::FLIP);
                assert_eq!(ba < bb, a < b);
                assert_eq!(ba as i32 - bb as i32, a as i32 - b as i32);
                assert_eq!(ba as i32, a as i32 + i8::BIAS);
            }
        }
        assert_eq!(i8::bytes(&[-1i8, 2]), &[255u8, 2]);
    }

    #[test]
    fn requant_clamps_after_saturating() {
        let r = Requant::new::<u8>(0.5, 10);
        assert_eq!(r.apply::<u8>(5), 12); // 2.5 → 2
        let relu6 = r.clamped(10, 13).unwrap();
        assert_eq!(relu6.apply::<u8>(-100), 10);
        assert_eq!(relu6.apply::<u8>(100), 13);
        assert!(r.clamped(20, 19).is_err());
        assert!(!Requant::new::<i8>(f32::INFINITY, 0).simd_ok());
        assert!(!Requant::new::<i8>(f32::NAN, 0).simd_ok());
        // The product is rounded to f32 first: f32(87602 · m) is exactly 114.5 → 114.
        assert_eq!(Requant::new::<u8>(0.001_307_047_8, 0).apply::<u8>(87602), 114);
        assert_eq!(Requant::new::<u8>(0.001_307_047_8, 0).apply_wide::<u8>(87602), 114);
    }
}
