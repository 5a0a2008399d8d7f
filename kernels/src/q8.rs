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
pub use crate::ukernel::{Named, Requant, Q8};

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
