//! The quantization arithmetic, written down once (design convention 4, after gemmlowp's
//! `doc/quantization.md`). Everything that turns reals into integers or back goes through here:
//! the reference quantized ops, the quantizer, and the oracles of the integer SIMD kernels.
//!
//! The one equation:
//!
//! ```text
//! real = scale * (q - zero_point)
//! ```
//!
//! - **Quantize** (ONNX QuantizeLinear): `q = saturate(round_ties_even(x / scale) + zero_point)`.
//!   The division is done in the float type of the computation (f32 for f32 tensors), then the
//!   quotient is rounded to the nearest integer, ties to even (IEEE `roundTiesToEven`, numpy
//!   `rint`), then the zero point is added and the sum saturated to the integer type's range.
//!   Zero is exactly representable: `x = 0` quantizes to `zero_point`. A NaN quotient (0 / 0)
//!   counts as 0, so it quantizes to `zero_point`; ±∞ saturates.
//! - **Dequantize** (ONNX DequantizeLinear): `real = (q - zero_point) * scale`; the difference is
//!   exact in integers, then converted to float and multiplied once.
//! - **Requantize** an integer accumulator (QLinearMatMul, QLinearConv, QGemm,
//!   QLinearGlobalAveragePool): with `acc = Σ (a - a_zp)(b - b_zp) [+ bias]`, the output is
//!   `saturate(round_ties_even(f32(acc) * M) + y_zp)` where the real multiplier
//!   `M = a_scale * b_scale / y_scale` is formed in the scales' float type and the product
//!   `f32(acc) * M` is rounded to f32, as onnxruntime's MLAS (`MlasRequantizeOutput`) and XNNPACK's
//!   fp32 requantization compute it, and as SIMD kernels naturally do. (The ONNX numpy reference
//!   forms the product in f64; the two differ only when the product lies within f32 rounding of
//!   a half-integer, about 1 element in 10^5, but such one-step differences compound through a
//!   deep network: agreeing with onnxruntime needs the f32 product.)
//! - **Saturate**: clamp to `[Q::MIN, Q::MAX]` of the integer type (uint8 `[0, 255]`, int8
//!   `[-128, 127]`, ...).
//! - **Dynamic range** (ONNX DynamicQuantizeLinear, uint8): the range is widened to include 0,
//!   `scale = (max - min) / 255` (1 when the range is empty), and
//!   `zero_point = round_ties_even(saturate_f(0 - min / scale))`.
//!
//! This module knows nothing of tensors or graphs; it is scalar, exact and deterministic.

/// An integer type that quantized values are stored in.
pub trait QInt: Copy + Default + Send + Sync + 'static {
    /// Smallest representable value.
    const MIN: i32;
    /// Largest representable value.
    const MAX: i32;
    /// Converts a value already inside `[MIN, MAX]`.
    fn from_i32_in_range(v: i32) -> Self;
    fn to_i32(self) -> i32;
}

macro_rules! impl_qint {
    ($($t:ty),*) => {$(
        impl QInt for $t {
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            #[inline]
            fn from_i32_in_range(v: i32) -> Self {
                v as $t
            }
            #[inline]
            fn to_i32(self) -> i32 {
                self as i32
            }
        }
    )*};
}
impl_qint!(u8, i8, u16, i16);

/// Clamps an integer to `Q`'s range.
#[inline]
pub fn saturate<Q: QInt>(v: i64) -> Q {
    Q::from_i32_in_range(v.clamp(Q::MIN as i64, Q::MAX as i64) as i32)
}

/// Rounds to the nearest integer, ties to even, as an i64 (saturating at the i64 range; NaN → 0).
#[inline]
pub fn round_to_i64(v: f64) -> i64 {
    // `as` saturates and maps NaN to 0, so no input can panic here.
    v.round_ties_even() as i64
}

/// Quantizes a quotient `x / scale` that the caller computed in the op's float type:
/// `saturate(round_ties_even(quotient) + zero_point)`.
#[inline]
pub fn quantize_quotient<Q: QInt>(quotient: f64, zero_point: i32) -> Q {
    saturate(round_to_i64(quotient).saturating_add(zero_point as i64))
}

/// Quantizes one f32 value: `saturate(round_ties_even(x / scale) + zero_point)`, the division
/// in f32 as ONNX QuantizeLinear does for float32 tensors.
#[inline]
pub fn quantize<Q: QInt>(x: f32, scale: f32, zero_point: i32) -> Q {
    quantize_quotient(f64::from(x / scale), zero_point)
}

/// Dequantizes one value: `(q - zero_point) * scale`, the difference exact, one f32 rounding.
#[inline]
pub fn dequantize(q: i32, scale: f32, zero_point: i32) -> f32 {
    ((q as i64 - zero_point as i64) as f32) * scale
}

/// The real multiplier of a requantization, `a_scale * b_scale / y_scale`, in f32.
#[inline]
pub fn multiplier(a_scale: f32, b_scale: f32, y_scale: f32) -> f32 {
    a_scale * b_scale / y_scale
}

/// `round_ties_even(f32(acc) * multiplier)`, the product rounded to f32 (see the module
/// overview): the requantization of an accumulator before its zero point is added.
#[inline]
pub fn scale_accumulator(acc: i64, multiplier: f32) -> i64 {
    round_to_i64(f64::from(acc as f32 * multiplier))
}

/// Requantizes an i32 accumulator: `saturate(round_ties_even(f32(acc) * multiplier) + zero_point)`,
/// the product in f32.
#[inline]
pub fn requantize<Q: QInt>(acc: i32, multiplier: f32, zero_point: i32) -> Q {
    saturate(scale_accumulator(acc as i64, multiplier).saturating_add(zero_point as i64))
}

/// Requantizes an i32 accumulator into `[min, max]`:
/// `clamp(round_ties_even(f32(acc) * multiplier) + zero_point, min, max)`, the product in f32 as
/// in [`scale_accumulator`] (NaN counts as 0, ±∞ saturates). With `[min, max]` the output type's range this is [`requantize`];
/// a narrower range is a fused ReLU / Clip (docs/quantization.md §8). The scalar definition the
/// integer GEMM kernels (`kernels::qgemm`) match bit for bit.
#[inline]
pub fn requantize_clamped(acc: i32, multiplier: f32, zero_point: i32, min: i32, max: i32) -> i32 {
    scale_accumulator(acc as i64, multiplier).saturating_add(zero_point as i64).clamp(min as i64, max as i64) as i32
}

/// Scale and zero point of ONNX DynamicQuantizeLinear (uint8) for data whose minimum and maximum
/// are `min` and `max`: the range is widened to include 0, `scale = (max - min) / 255` in f32
/// (1 when the widened range is empty, i.e. all data is 0), and
/// `zero_point = round_ties_even(clamp(0 - min / scale, 0, 255))`.
pub fn dynamic_qparams_u8(min: f32, max: f32) -> (f32, u8) {
    let max = max.max(0.0);
    let min = min.min(0.0);
    let scale = if max == min { 1.0 } else { (max - min) / 255.0 };
    let initial = 0.0 - min / scale;
    let clamped = initial.clamp(0.0, 255.0);
    // `clamp` keeps NaN (only possible from NaN data); it then becomes 0 here.
    (scale, saturate::<u8>(round_to_i64(f64::from(clamped))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_to_each_type() {
        assert_eq!(saturate::<u8>(-5), 0);
        assert_eq!(saturate::<u8>(300), 255);
        assert_eq!(saturate::<i8>(-129), -128);
        assert_eq!(saturate::<i8>(128), 127);
        assert_eq!(saturate::<u16>(70000), 65535);
        assert_eq!(saturate::<i16>(-40000), -32768);
        assert_eq!(saturate::<i16>(i64::MAX), 32767);
    }

    #[test]
    fn rounds_half_to_even() {
        // 0.5 → 0, 1.5 → 2, 2.5 → 2, -0.5 → 0, -1.5 → -2, -2.5 → -2
        let q: Vec<i8> = [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5].iter().map(|&x| quantize(x, 1.0, 0)).collect();
        assert_eq!(q, vec![0, 2, 2, 0, -2, -2]);
        // The ONNX test case: x / 2 with zero point 128.
        let q: Vec<u8> =
            [0.0f32, 2.0, 3.0, 1000.0, -254.0, -1000.0].iter().map(|&x| quantize(x, 2.0, 128)).collect();
        assert_eq!(q, vec![128, 129, 130, 255, 1, 0]);
    }

    #[test]
    fn zero_is_exact_and_nan_inf_do_not_panic() {
        assert_eq!(quantize::<u8>(0.0, 0.37, 13), 13);
        assert_eq!(quantize::<u8>(0.0, 0.0, 13), 13); // 0/0 = NaN → zero point
        assert_eq!(quantize::<u8>(1.0, 0.0, 13), 255); // +inf saturates
        assert_eq!(quantize::<i8>(-1.0, 0.0, 0), -128);
        assert_eq!(quantize::<i8>(f32::NAN, 1.0, 3), 3);
    }

    #[test]
    fn dequantize_inverts_quantize_on_the_grid() {
        for q in 0..=255u8 {
            let x = dequantize(q as i32, 0.25, 100);
            assert_eq!(quantize::<u8>(x, 0.25, 100), q);
        }
        assert_eq!(dequantize(0, 2.0, 128), -256.0);
    }

    #[test]
    fn requantize_rounds_and_saturates() {
        assert_eq!(requantize::<u8>(5, 0.5, 10), 12); // 2.5 → 2
        assert_eq!(requantize::<u8>(7, 0.5, 10), 14); // 3.5 → 4
        assert_eq!(requantize::<i8>(1000, 1.0, 0), 127);
        assert_eq!(requantize::<i8>(-1000, 1.0, 0), -128);
        assert_eq!(requantize::<u8>(i32::MIN, 1e9, 0), 0);
        // The product is rounded to f32 before rounding to an integer (onnxruntime's MLAS): here
        // f32(87602 · m) is exactly 114.5 (→ 114, ties to even), the f64 product 114.50000025.
        let m = 0.001_307_047_8_f32;
        assert_eq!(87602f32 * m, 114.5);
        assert!(87602f64 * f64::from(m) > 114.5);
        assert_eq!(requantize::<u8>(87602, m, 0), 114);
    }

    #[test]
    fn requantize_clamped_matches_requantize_and_narrows() {
        for acc in [-1000, -5, -1, 0, 1, 5, 7, 1000, i32::MIN, i32::MAX] {
            for m in [0.5, 1.0, 1e9, f32::INFINITY, f32::NAN] {
                assert_eq!(requantize_clamped(acc, m, 10, 0, 255), requantize::<u8>(acc, m, 10) as i32);
                assert_eq!(requantize_clamped(acc, m, -3, -128, 127), requantize::<i8>(acc, m, -3) as i32);
            }
        }
        assert_eq!(requantize_clamped(-7, 1.0, 10, 10, 255), 10); // fused ReLU: clamp at the zero point
        assert_eq!(requantize_clamped(0, f32::NAN, 3, 5, 9), 5); // NaN → 0 + zp, then clamped
    }

    #[test]
    fn dynamic_params_match_onnx_cases() {
        // test_dynamicquantizelinear: x in [-3, 2]
        let (s, z) = dynamic_qparams_u8(-3.0, 2.0);
        assert_eq!(s, 5.0f32 / 255.0);
        assert_eq!(z, 153);
        // all negative: max widened to 0 → zero point 255
        let (s, z) = dynamic_qparams_u8(-4.0, -1.0);
        assert_eq!(s, 4.0f32 / 255.0);
        assert_eq!(z, 255);
        // all positive: min widened to 0 → zero point 0
        assert_eq!(dynamic_qparams_u8(1.0, 4.0).1, 0);
        // all zeros: scale 1, zero point 0
        assert_eq!(dynamic_qparams_u8(0.0, 0.0), (1.0, 0));
    }
}
