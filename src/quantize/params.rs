//! Quantization parameters: a scale and a zero point per tensor or per channel
//! (docs/quantization.md §1–6), computed from a calibrated [`Range`] or a weight's extremes.
//!
//! Every constructor returns a finite scale `s >= f32::MIN_POSITIVE` and a zero point inside the
//! type's range, whatever the input: zero-width, subnormal and non-finite ranges take the
//! degenerate path of §4 (`s = 1`). Zero is always exactly representable (§2).
use super::options::QType;
use crate::calibrate::Range;
use crate::error::{Error, Result};
use crate::quant_math;
use crate::tensor::Tensor;

/// Scale(s), zero point(s) and integer type of one quantized tensor, as the quantizer chooses
/// them. Per-tensor parameters have one scale and `axis == None`; per-channel parameters one
/// scale per index of `axis`. The crate's one quantization-parameter type; the QDQ fusion's
/// `QdqOperands` (a graph's Q/DQ operands, any integer type) and `ops::quant::ParamLayout`
/// (which parameter each element uses) are other concepts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QParams {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i32>,
    pub dtype: QType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub axis: Option<usize>,
}

/// Scale and zero point for `[rmin, rmax]` in `[qmin, qmax]`, §2 (asymmetric) or §3 (symmetric),
/// with §4's degenerate case. The public constructors pick `qmin`/`qmax` for 8-bit types;
/// `weight_only` calls it directly for 4-bit blocks (`[0, 15]`).
pub(crate) fn scale_zero_point(rmin: f32, rmax: f32, qmin: i32, qmax: i32, symmetric: bool) -> (f32, i32) {
    // A non-finite end never reaches a scale (§4); callers normally filter these out already.
    let fin = |v: f32| if v.is_finite() { v as f64 } else { 0.0 };
    // §2: widen to contain zero.
    let (rmin, rmax) = (fin(rmin).min(0.0), fin(rmax).max(0.0));
    let (scale, zero_point) = if symmetric {
        // §3: zero point at the middle of the type (0 for int8, 128 for uint8, 64 for reduced
        // uint8); `half` levels on each side, so ±a are both representable without saturating.
        let z = (qmin + qmax + 1) / 2;
        let half = (z - qmin).min(qmax - z) as f64;
        let a = rmin.abs().max(rmax.abs());
        ((a / half) as f32, z)
    } else {
        let s = ((rmax - rmin) / (qmax - qmin) as f64) as f32;
        // §2: z = clamp(round_half_even(qmin − rmin / s)), with the f32 scale actually stored.
        let z = quant_math::round_to_i64(qmin as f64 - rmin / s as f64).clamp(qmin as i64, qmax as i64) as i32;
        (s, z)
    };
    // §4: zero-width ranges, and ranges so narrow the scale is subnormal or 0 (which would turn
    // every quotient into ±Inf), get s = 1 with zero still exact.
    if !is_valid_scale(scale) {
        let z = if symmetric { zero_point } else { qmin.max(0).min(qmax) };
        return (1.0, z);
    }
    (scale, zero_point)
}

/// A usable scale: finite, positive and normal (so `x / s` never overflows to ±Inf for a finite
/// `x` inside the range the scale was computed from).
pub fn is_valid_scale(s: f32) -> bool {
    s.is_normal() && s > 0.0
}

impl QParams {
    /// Per-tensor parameters for an activation with calibrated `range` (§2–5). Activations use
    /// the full type range; `reduce_range` concerns weights only (§5).
    pub fn from_range(range: Range, dtype: QType, symmetric: bool) -> QParams {
        let (s, z) = scale_zero_point(range.min, range.max, dtype.qmin(false), dtype.qmax(false), symmetric);
        QParams { scale: vec![s], zero_point: vec![z], dtype, axis: None }
    }

    /// Symmetric weight parameters for data whose extremes are `min` and `max` (§3, §5).
    pub fn for_weights(min: f32, max: f32, dtype: QType, reduce_range: bool) -> (f32, i32) {
        scale_zero_point(min, max, dtype.qmin(reduce_range), dtype.qmax(reduce_range), true)
    }

    /// Per-tensor parameters from a scale and zero point.
    pub fn per_tensor(scale: f32, zero_point: i32, dtype: QType) -> QParams {
        QParams { scale: vec![scale], zero_point: vec![zero_point], dtype, axis: None }
    }

    /// Per-channel parameters along `axis` (§6).
    pub fn per_channel(scale: Vec<f32>, zero_point: Vec<i32>, dtype: QType, axis: usize) -> QParams {
        debug_assert_eq!(scale.len(), zero_point.len());
        QParams { scale, zero_point, dtype, axis: Some(axis) }
    }

    pub fn is_per_channel(&self) -> bool {
        self.axis.is_some()
    }

    /// The (first) scale: the only one for per-tensor parameters.
    pub fn scale0(&self) -> f32 {
        self.scale[0]
    }
    pub fn zero_point0(&self) -> i32 {
        self.zero_point[0]
    }

    /// The scale as an ONNX initializer: a scalar per tensor, 1-D per channel.
    pub fn scale_tensor(&self) -> Result<Tensor> {
        if self.axis.is_some() {
            Tensor::from_vec(&[self.scale.len()], self.scale.clone())
        } else {
            Ok(Tensor::scalar(self.scale[0]))
        }
    }

    /// The zero point as an ONNX initializer of the quantized type: scalar or 1-D like the scale.
    pub fn zero_point_tensor(&self) -> Result<Tensor> {
        let shape: &[usize] = if self.axis.is_some() { &[self.zero_point.len()] } else { &[] };
        match self.dtype {
            QType::U8 => Tensor::from_vec(shape, self.zero_point.iter().map(|&z| quant_math::saturate::<u8>(z as i64)).collect()),
            QType::I8 => Tensor::from_vec(shape, self.zero_point.iter().map(|&z| quant_math::saturate::<i8>(z as i64)).collect()),
        }
    }

    /// The real range `[s·(qmin − z), s·(qmax − z)]` this per-tensor quantizer represents.
    pub fn represented_range(&self) -> Range {
        let (s, z) = (self.scale[0] as f64, self.zero_point[0] as f64);
        Range::from_f64(s * (self.dtype.qmin(false) as f64 - z), s * (self.dtype.qmax(false) as f64 - z))
    }

    /// Checks the invariants (finite positive scales, zero points in range, matching lengths).
    pub fn check(&self) -> Result<()> {
        let ok_len = !self.scale.is_empty() && self.scale.len() == self.zero_point.len();
        let ok_axis = self.axis.is_some() || self.scale.len() == 1;
        let ok_scale = self.scale.iter().all(|&s| is_valid_scale(s));
        let (lo, hi) = (self.dtype.qmin(false), self.dtype.qmax(false));
        let ok_zp = self.zero_point.iter().all(|z| (lo..=hi).contains(z));
        if ok_len && ok_axis && ok_scale && ok_zp {
            Ok(())
        } else {
            Err(Error::invalid(format!("invalid quantization parameters {self:?}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant_math::{dequantize, quantize};

    fn r(min: f32, max: f32) -> Range {
        Range { min, max }
    }

    #[test]
    fn asymmetric_uint8_matches_the_equation() {
        let p = QParams::from_range(r(-1.0, 3.0), QType::U8, false);
        assert_eq!(p.scale0(), 4.0 / 255.0);
        assert_eq!(p.zero_point0(), 64); // round(0 + 1 / (4/255)) = round(63.75)
        assert_eq!(quantize::<u8>(0.0, p.scale0(), p.zero_point0()), 64);
        // Ends are representable up to half a step.
        assert!((dequantize(255, p.scale0(), 64) - 3.0).abs() <= p.scale0() / 2.0 + 1e-6);
        assert!((dequantize(0, p.scale0(), 64) + 1.0).abs() <= p.scale0() / 2.0 + 1e-6);
        p.check().unwrap();
    }

    #[test]
    fn range_is_widened_to_contain_zero() {
        let p = QParams::from_range(r(2.0, 6.0), QType::U8, false); // §2: [0, 6]
        assert_eq!((p.scale0(), p.zero_point0()), (6.0 / 255.0, 0));
        let p = QParams::from_range(r(-6.0, -2.0), QType::U8, false); // [-6, 0]
        assert_eq!((p.scale0(), p.zero_point0()), (6.0 / 255.0, 255));
        let p = QParams::from_range(r(-6.0, -2.0), QType::I8, false);
        assert_eq!(p.zero_point0(), 127);
        let p = QParams::from_range(r(0.0, 6.0), QType::I8, false);
        assert_eq!(p.zero_point0(), -128);
    }

    #[test]
    fn zero_is_exact_for_any_range() {
        for (lo, hi) in [(-0.3f32, 7.1f32), (-1e-3, 1e3), (-5.5, 0.01), (0.0, 1e-7), (-3e38, 3e38)] {
            for t in [QType::U8, QType::I8] {
                for sym in [false, true] {
                    if sym && t == QType::U8 {
                        continue;
                    }
                    let p = QParams::from_range(r(lo, hi), t, sym);
                    p.check().unwrap();
                    let (s, z) = (p.scale0(), p.zero_point0());
                    assert_eq!(dequantize(z, s, z), 0.0);
                    let q: i32 = match t {
                        QType::U8 => quantize::<u8>(0.0, s, z) as i32,
                        QType::I8 => quantize::<i8>(0.0, s, z) as i32,
                    };
                    assert_eq!(q, z);
                }
            }
        }
    }

    #[test]
    fn symmetric() {
        let p = QParams::from_range(r(-2.0, 5.0), QType::I8, true);
        assert_eq!((p.scale0(), p.zero_point0()), (5.0 / 127.0, 0));
        // Both ends representable without saturation.
        assert_eq!(quantize::<i8>(5.0, p.scale0(), 0), 127);
        assert_eq!(quantize::<i8>(-5.0, p.scale0(), 0), -127);
        // uint8 symmetric weights: zero point 128, ±a at 1 and 255.
        let (s, z) = QParams::for_weights(-3.0, 1.0, QType::U8, false);
        assert_eq!((s, z), (3.0 / 127.0, 128));
        assert_eq!(quantize::<u8>(-3.0, s, z), 1);
        // int8 weights (§3): s = a/127, −128 never produced.
        assert_eq!(QParams::for_weights(-0.5, 0.25, QType::I8, false), (0.5 / 127.0, 0));
    }

    #[test]
    fn reduced_range_weights_use_seven_bits() {
        let (s, z) = QParams::for_weights(-1.0, 0.5, QType::I8, true);
        assert_eq!((s, z), (1.0 / 63.0, 0));
        assert_eq!(quantize::<i8>(-1.0, s, z), -63);
        let (s, z) = QParams::for_weights(-1.0, 0.5, QType::U8, true);
        assert_eq!(z, 64);
        assert_eq!(quantize::<u8>(1.0, s, z), 127);
    }

    #[test]
    fn degenerate_and_hostile_ranges_give_valid_params() {
        for (lo, hi) in [(0.0f32, 0.0f32), (f32::NAN, f32::NAN), (f32::NEG_INFINITY, f32::INFINITY), (0.0, 1e-44), (-1e-42, 0.0)] {
            for t in [QType::U8, QType::I8] {
                for sym in [false, true] {
                    let p = QParams::from_range(r(lo, hi), t, sym);
                    p.check().unwrap_or_else(|e| panic!("{lo} {hi} {t:?} {sym}: {e}"));
                    assert_eq!(p.scale0(), 1.0, "{lo} {hi}");
                }
            }
        }
        assert_eq!(QParams::from_range(r(0.0, 0.0), QType::U8, false).zero_point0(), 0);
        assert_eq!(QParams::from_range(r(0.0, 0.0), QType::I8, false).zero_point0(), 0);
        assert_eq!(QParams::for_weights(0.0, 0.0, QType::I8, false), (1.0, 0));
        // A huge range does not overflow.
        let p = QParams::from_range(r(-f32::MAX, f32::MAX), QType::U8, false);
        p.check().unwrap();
        assert!(p.scale0().is_finite());
    }

    #[test]
    fn tensors_for_onnx() {
        let p = QParams::from_range(r(-1.0, 1.0), QType::U8, false);
        assert_eq!(p.scale_tensor().unwrap().shape(), &[] as &[usize]);
        // 1 / (2/255 in f32) is just below 127.5, so 127.
        assert_eq!(p.zero_point_tensor().unwrap(), Tensor::scalar(127u8));
        let pc = QParams::per_channel(vec![0.1, 0.2], vec![0, 0], QType::I8, 0);
        assert!(pc.is_per_channel());
        assert_eq!(pc.scale_tensor().unwrap().shape(), &[2]);
        assert_eq!(pc.zero_point_tensor().unwrap(), Tensor::from_vec(&[2], vec![0i8, 0]).unwrap());
        let json = serde_json::to_value(&pc).unwrap();
        assert_eq!(json["axis"], 0);
        assert_eq!(json["dtype"], "int8");
        assert_eq!(json["zeroPoint"], serde_json::json!([0, 0]));
    }
}
