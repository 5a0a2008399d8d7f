//! Per-tensor QuantizeLinear (f32 → uint8 / int8) and DequantizeLinear (uint8 / int8 → f32) over
//! contiguous slices: the fast paths of `ops::quant::linear`, bit for bit its general rule
//! (`quant_math`):
//!
//! - quantize: `saturate(round_half_even(x / scale) + zp)`, the division in f32. The rounded
//!   quotient converts to i32 saturating (NaN → 0, as `round_to_i64`), is clamped to ±1024
//!   (beyond, the output saturates either way), then the zero point is added and the sum clamped
//!   to the type: every step is exact, and each maps onto one SIMD128 instruction per 4 lanes
//!   (`f32x4.div`, `f32x4.nearest`, `i32x4.trunc_sat_f32x4_s`, `i32x4.min/max`), which LLVM
//!   vectorizes from these loops.
//! - dequantize: `f32(x − zp) · scale`: the difference is exact, one f32 product.
use crate::quant_math::QInt;

/// Quantizes `x` into `y` (same length) with one scale and zero point. Generic, so the
/// concrete entry points below are what other crates call: they are compiled here, at the
/// kernels' opt-level, and not where they are used.
#[inline(always)]
pub fn quantize_f32<Q: QInt>(x: &[f32], scale: f32, zero_point: i32, y: &mut [Q]) {
    for (o, &v) in y.iter_mut().zip(x) {
        let q = ((v / scale).round_ties_even() as i32).clamp(-1024, 1024);
        *o = Q::from_i32_in_range((q + zero_point).clamp(Q::MIN, Q::MAX));
    }
}

/// Dequantizes `x` into `y` (same length) with one scale and zero point (generic: see
/// [`quantize_f32`]).
#[inline(always)]
pub fn dequantize_f32<Q: QInt>(x: &[Q], scale: f32, zero_point: i32, y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = (v.to_i32() - zero_point) as f32 * scale;
    }
}

/// [`quantize_f32`] into uint8.
pub fn quantize_f32_u8(x: &[f32], scale: f32, zero_point: i32, y: &mut [u8]) {
    quantize_f32(x, scale, zero_point, y)
}
/// [`quantize_f32`] into int8.
pub fn quantize_f32_i8(x: &[f32], scale: f32, zero_point: i32, y: &mut [i8]) {
    quantize_f32(x, scale, zero_point, y)
}
/// [`dequantize_f32`] from uint8.
pub fn dequantize_u8_f32(x: &[u8], scale: f32, zero_point: i32, y: &mut [f32]) {
    dequantize_f32(x, scale, zero_point, y)
}
/// [`dequantize_f32`] from int8.
pub fn dequantize_i8_f32(x: &[i8], scale: f32, zero_point: i32, y: &mut [f32]) {
    dequantize_f32(x, scale, zero_point, y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant_math::{round_to_i64, saturate};

    /// The general rule, as `ops::quant::linear` computes it.
    fn quantize_ref<Q: QInt>(v: f32, scale: f32, zp: i32) -> Q {
        saturate::<Q>(round_to_i64(f64::from(v / scale)).saturating_add(zp as i64))
    }

    #[test]
    fn quantize_matches_the_general_rule() {
        let mut xs: Vec<f32> = vec![0.0, -0.0, 0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 127.5, 128.5, -128.5, 1e30, -1e30];
        xs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN, f32::MIN_POSITIVE]);
        xs.extend((-3000..3000).map(|i| i as f32 * 0.173));
        for &(scale, zp) in &[(1.0f32, 0), (0.5, 128), (0.0173, 3), (3.7e-5, -7), (1e-30, 0)] {
            let mut u = vec![0u8; xs.len()];
            let mut s = vec![0i8; xs.len()];
            quantize_f32(&xs, scale, zp.clamp(0, 255), &mut u);
            quantize_f32(&xs, scale, zp.clamp(-128, 127), &mut s);
            for (i, &v) in xs.iter().enumerate() {
                assert_eq!(u[i], quantize_ref::<u8>(v, scale, zp.clamp(0, 255)), "u8 {v} / {scale} + {zp}");
                assert_eq!(s[i], quantize_ref::<i8>(v, scale, zp.clamp(-128, 127)), "i8 {v} / {scale} + {zp}");
            }
        }
    }

    #[test]
    fn dequantize_matches_the_general_rule() {
        let u: Vec<u8> = (0..=255).collect();
        let s: Vec<i8> = (-128..=127).collect();
        let (mut yu, mut ys) = (vec![0f32; 256], vec![0f32; 256]);
        dequantize_f32(&u, 0.0173, 131, &mut yu);
        dequantize_f32(&s, 0.0173, -5, &mut ys);
        for i in 0..256 {
            assert_eq!(yu[i].to_bits(), ((f64::from(u[i]) - 131.0) as f32 * 0.0173).to_bits());
            assert_eq!(ys[i].to_bits(), ((f64::from(s[i]) + 5.0) as f32 * 0.0173).to_bits());
        }
    }
}
