//! Quantizing constant tensors: weights (symmetric, per tensor or per channel on a given axis,
//! docs/quantization.md §3, §5, §6) and int32 biases with scale `s_x · s_w` (§7).
//!
//! Which axis a weight is quantized on is the op handler's choice (`registry.rs`); this module
//! only does the arithmetic. NaN or ±Inf in a weight is an error naming the tensor (§4): a
//! silently wrong export is worse than none.
use super::options::QType;
use super::params::QParams;
use crate::error::{Error, Result};
use crate::quant_math;
use crate::tensor::Tensor;

/// A weight stored as integers with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedWeight {
    /// int8 or uint8, the float tensor's shape.
    pub tensor: Tensor,
    pub params: QParams,
}

/// An int32 bias with zero point 0 and one scale (per tensor) or one per output channel.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedBias {
    pub tensor: Tensor,
    /// `s_x · s_w[m]`, one entry per channel, or one entry for per-tensor weights.
    pub scale: Vec<f32>,
    /// Values outside the int32 range, clamped (the report warns about these).
    pub saturated: usize,
}

/// The float values of a weight, checked finite.
fn finite_values(name: &str, w: &Tensor) -> Result<Vec<f32>> {
    if !w.dtype().is_float() {
        return Err(Error::dtype(format!("weight '{name}' is {}, not a float tensor", w.dtype())));
    }
    let v = w.to_f32_vec();
    if let Some((i, x)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::InvalidModel(format!(
            "weight '{name}' contains {x} at flat index {i} (shape {:?}): NaN or infinite weights cannot be quantized",
            w.shape()
        )));
    }
    Ok(v)
}

/// `(outer, channels, inner)` of a row-major shape split at `axis`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

fn to_tensor(shape: &[usize], q: Vec<i32>, dtype: QType) -> Result<Tensor> {
    match dtype {
        QType::I8 => Tensor::from_vec(shape, q.into_iter().map(|v| v as i8).collect()),
        QType::U8 => Tensor::from_vec(shape, q.into_iter().map(|v| v as u8).collect()),
    }
}

fn quantize_one(x: f32, s: f32, z: i32, dtype: QType) -> i32 {
    match dtype {
        QType::I8 => quant_math::quantize::<i8>(x, s, z) as i32,
        QType::U8 => quant_math::quantize::<u8>(x, s, z) as i32,
    }
}

/// Quantizes a float weight symmetrically (§3, §5): per tensor when `axis` is `None`, else one
/// scale per index of `axis` (§6). `name` is used in errors.
pub fn quantize_weight(name: &str, w: &Tensor, axis: Option<usize>, dtype: QType, reduce_range: bool) -> Result<QuantizedWeight> {
    let v = finite_values(name, w)?;
    let shape = w.shape().to_vec();
    match axis {
        None => {
            let (lo, hi) = v.iter().fold((0f32, 0f32), |(a, b), &x| (a.min(x), b.max(x)));
            let (s, z) = QParams::for_weights(lo, hi, dtype, reduce_range);
            let q = v.iter().map(|&x| quantize_one(x, s, z, dtype)).collect();
            Ok(QuantizedWeight { tensor: to_tensor(&shape, q, dtype)?, params: QParams::per_tensor(s, z, dtype) })
        }
        Some(axis) => {
            if axis >= shape.len() {
                return Err(Error::invalid(format!(
                    "weight '{name}' of shape {shape:?} has no axis {axis} to quantize per channel"
                )));
            }
            let (outer, ch, inner) = split_at_axis(&shape, axis);
            let mut lo = vec![0f32; ch];
            let mut hi = vec![0f32; ch];
            for o in 0..outer {
                for c in 0..ch {
                    for &x in &v[(o * ch + c) * inner..(o * ch + c + 1) * inner] {
                        lo[c] = lo[c].min(x);
                        hi[c] = hi[c].max(x);
                    }
                }
            }
            let sz: Vec<(f32, i32)> = (0..ch).map(|c| QParams::for_weights(lo[c], hi[c], dtype, reduce_range)).collect();
            let mut q = vec![0i32; v.len()];
            for o in 0..outer {
                for (c, &(s, z)) in sz.iter().enumerate() {
                    let at = (o * ch + c) * inner;
                    for i in at..at + inner {
                        q[i] = quantize_one(v[i], s, z, dtype);
                    }
                }
            }
            let params = QParams::per_channel(sz.iter().map(|p| p.0).collect(), sz.iter().map(|p| p.1).collect(), dtype, axis);
            Ok(QuantizedWeight { tensor: to_tensor(&shape, q, dtype)?, params })
        }
    }
}

impl QuantizedWeight {
    /// The float values the integers stand for, `s_c · (q − z_c)` (for SQNR and tests).
    pub fn dequantize(&self) -> Vec<f32> {
        let q: Vec<i32> = match &self.tensor {
            Tensor::I8(a) => a.iter().map(|&x| x as i32).collect(),
            Tensor::U8(a) => a.iter().map(|&x| x as i32).collect(),
            _ => return Vec::new(),
        };
        let p = &self.params;
        match p.axis {
            None => q.iter().map(|&x| quant_math::dequantize(x, p.scale[0], p.zero_point[0])).collect(),
            Some(axis) => {
                let (_, ch, inner) = split_at_axis(self.tensor.shape(), axis);
                q.iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        let c = (i / inner.max(1)) % ch.max(1);
                        quant_math::dequantize(x, p.scale[c], p.zero_point[c])
                    })
                    .collect()
            }
        }
    }
}

/// Quantizes a 1-D bias of length M to int32 with scale `s_x · s_w` (§7): per channel when the
/// weight parameters are (one scale per output channel, M of them), else one scale.
/// `b_q = round_half_even(b / (s_x · s_w))`, the division in f32 as ONNX QuantizeLinear divides,
/// clamped to the int32 range (clamped values are counted in `saturated`).
pub fn quantize_bias(name: &str, b: &Tensor, input_scale: f32, weight: &QParams) -> Result<QuantizedBias> {
    let v = finite_values(name, b)?;
    if b.rank() != 1 {
        return Err(Error::shape(format!("bias '{name}' should be 1-D, has shape {:?}", b.shape())));
    }
    if weight.scale.len() != 1 && weight.scale.len() != v.len() {
        return Err(Error::shape(format!(
            "bias '{name}' has {} values but the weight has {} channel scales",
            v.len(),
            weight.scale.len()
        )));
    }
    let scale: Vec<f32> = weight.scale.iter().map(|&sw| input_scale * sw).collect();
    if let Some(bad) = scale.iter().find(|&&s| !super::params::is_valid_scale(s)) {
        return Err(Error::invalid(format!(
            "bias '{name}': scale s_x·s_w = {input_scale}·s_w = {bad} is not a normal positive float, so the bias \
             cannot be stored as int32"
        )));
    }
    let mut saturated = 0;
    let q: Vec<i32> = v
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let s = if scale.len() == 1 { scale[0] } else { scale[i] };
            let r = quant_math::round_to_i64(f64::from(x / s));
            if r < i32::MIN as i64 || r > i32::MAX as i64 {
                saturated += 1;
            }
            r.clamp(i32::MIN as i64, i32::MAX as i64) as i32
        })
        .collect();
    Ok(QuantizedBias { tensor: Tensor::from_vec(&[q.len()], q)?, scale, saturated })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
        Tensor::from_vec(shape, v).unwrap()
    }

    #[test]
    fn per_tensor_symmetric_int8() {
        let w = t(&[2, 2], vec![-1.0, 0.5, 0.0, 0.25]);
        let q = quantize_weight("w", &w, None, QType::I8, false).unwrap();
        assert_eq!(q.params, QParams::per_tensor(1.0 / 127.0, 0, QType::I8));
        assert_eq!(q.tensor, Tensor::from_vec(&[2, 2], vec![-127i8, 64, 0, 32]).unwrap()); // 63.5 → 64, 31.75 → 32
        let d = q.dequantize();
        for (a, b) in d.iter().zip([-1.0, 0.5, 0.0, 0.25]) {
            assert!((a - b).abs() <= 0.5 / 127.0 + 1e-7);
        }
    }

    #[test]
    fn per_channel_on_each_axis() {
        // Shape [2, 3]: axis 0 has rows of max 1 and 10; axis 1 has columns of max 4, 10, 6.
        let w = t(&[2, 3], vec![1.0, -0.5, 0.25, -4.0, 10.0, 6.0]);
        let q0 = quantize_weight("w", &w, Some(0), QType::I8, false).unwrap();
        assert_eq!(q0.params.scale, vec![1.0 / 127.0, 10.0 / 127.0]);
        assert_eq!(q0.params.axis, Some(0));
        assert_eq!(q0.tensor, Tensor::from_vec(&[2, 3], vec![127i8, -64, 32, -51, 127, 76]).unwrap());
        let q1 = quantize_weight("w", &w, Some(1), QType::I8, false).unwrap();
        assert_eq!(q1.params.scale, vec![4.0 / 127.0, 10.0 / 127.0, 6.0 / 127.0]);
        assert_eq!(q1.tensor, Tensor::from_vec(&[2, 3], vec![32i8, -6, 5, -127, 127, 127]).unwrap());
        for q in [&q0, &q1] {
            let d = q.dequantize();
            let orig = w.to_f32_vec();
            for i in 0..6 {
                let c = if q.params.axis == Some(0) { i / 3 } else { i % 3 };
                assert!((d[i] - orig[i]).abs() <= q.params.scale[c] / 2.0 + 1e-6, "{i}");
            }
        }
        // A 4-D conv weight [M=2, C=1, 1, 2] on axis 0, and an all-zero channel.
        let w = t(&[2, 1, 1, 2], vec![0.0, 0.0, 3.0, -1.5]);
        let q = quantize_weight("conv.w", &w, Some(0), QType::I8, false).unwrap();
        assert_eq!(q.params.scale, vec![1.0, 3.0 / 127.0]);
        assert_eq!(q.tensor.to_i64_vec().unwrap(), vec![0, 0, 127, -64]); // -63.5 → -64
        q.params.check().unwrap();
    }

    #[test]
    fn uint8_and_reduced_range() {
        let w = t(&[3], vec![-2.0, 1.0, 0.0]);
        let q = quantize_weight("w", &w, None, QType::U8, false).unwrap();
        assert_eq!(q.params.zero_point, vec![128]);
        assert_eq!(q.tensor.to_i64_vec().unwrap(), vec![1, 192, 128]); // 63.5 → 64
        let q = quantize_weight("w", &w, None, QType::I8, true).unwrap();
        assert_eq!(q.params.scale, vec![2.0 / 63.0]);
        // 1 / (2/63) is 31.499998 in f32, so 31.
        assert_eq!(q.tensor.to_i64_vec().unwrap(), vec![-63, 31, 0]);
    }

    #[test]
    fn non_finite_weights_are_errors_naming_the_tensor() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let w = t(&[3], vec![1.0, bad, 0.0]);
            let e = quantize_weight("fc1.weight", &w, None, QType::I8, false).unwrap_err();
            assert_eq!(e.code(), "INVALID_MODEL");
            assert!(e.to_string().contains("'fc1.weight'") && e.to_string().contains("index 1"), "{e}");
            let e = quantize_bias("fc1.bias", &w, 0.1, &QParams::per_tensor(0.1, 0, QType::I8)).unwrap_err();
            assert!(e.to_string().contains("'fc1.bias'"), "{e}");
        }
        let e = quantize_weight("ints", &Tensor::from_vec(&[1], vec![1i64]).unwrap(), None, QType::I8, false).unwrap_err();
        assert_eq!(e.code(), "TYPE_MISMATCH");
        let e = quantize_weight("w", &t(&[2], vec![1.0, 2.0]), Some(1), QType::I8, false).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn bias_is_int32_with_product_scale() {
        let w = QParams::per_channel(vec![0.5, 0.25], vec![0, 0], QType::I8, 0);
        let b = t(&[2], vec![1.0, -0.3]);
        let q = quantize_bias("b", &b, 0.1, &w).unwrap();
        assert_eq!(q.scale, vec![0.1f32 * 0.5, 0.1f32 * 0.25]);
        assert_eq!(q.tensor, Tensor::from_vec(&[2], vec![20i32, -12]).unwrap());
        assert_eq!(q.saturated, 0);
        let q = quantize_bias("b", &b, 0.1, &QParams::per_tensor(0.5, 0, QType::I8)).unwrap();
        assert_eq!(q.scale.len(), 1);
        assert_eq!(q.tensor, Tensor::from_vec(&[2], vec![20i32, -6]).unwrap());
        // Saturation is counted, not wrapped.
        let q = quantize_bias("b", &t(&[1], vec![1e30]), 1e-3, &QParams::per_tensor(1e-3, 0, QType::I8)).unwrap();
        assert_eq!((q.tensor.to_i64_vec().unwrap()[0], q.saturated), (i32::MAX as i64, 1));
        // Mismatched lengths and a scale that underflows are errors.
        assert_eq!(quantize_bias("b", &t(&[3], vec![0.0; 3]), 0.1, &w).unwrap_err().code(), "SHAPE_MISMATCH");
        assert!(quantize_bias("b", &b, 1e-30, &QParams::per_tensor(1e-30, 0, QType::I8)).is_err());
    }
}
