//! QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear: float ↔ integer with a scale and
//! zero point per tensor, per axis or per block (see [`crate::quant_math`] for the equation).
//!
//! Opset forms handled: QuantizeLinear / DequantizeLinear 10 (per-tensor), 13 (`axis`),
//! 19 (`saturate`, float8 only), 21 (`block_size`, `output_dtype`), 23+ (`precision`,
//! DequantizeLinear `output_dtype`). Float8 / int4 / float4 types are not supported (the loader
//! rejects them); integer types are uint8, int8, uint16, int16 (and int32 for DequantizeLinear).
use super::{check_same_shape, float_tensor, float_values, int_values, quantized_tensor, FloatKind, ParamLayout};
use crate::error::{Error, Result};
use crate::kernels::qconvert;
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("", "QuantizeLinear", quantize_linear);
    r.register("", "DequantizeLinear", dequantize_linear);
    r.register("", "DynamicQuantizeLinear", dynamic_quantize_linear);
}

/// The attributes shared by QuantizeLinear and DequantizeLinear.
struct LinearAttrs {
    axis: i64,
    block_size: i64,
    /// `output_dtype` (0 = not given).
    output_dtype: i64,
    /// `precision` of QuantizeLinear 23+ (0 = not given).
    precision: i64,
}

fn linear_attrs(ctx: &BuildContext) -> Result<LinearAttrs> {
    let a = ctx.attrs();
    let block_size = if ctx.opset >= 21 { a.int_or("block_size", 0)? } else { 0 };
    if block_size < 0 {
        return Err(Error::invalid(format!("block_size must be >= 0, got {block_size}")));
    }
    Ok(LinearAttrs {
        axis: if ctx.opset >= 13 { a.int_or("axis", 1)? } else { 1 },
        block_size,
        output_dtype: if ctx.opset >= 21 { a.int_or("output_dtype", 0)? } else { 0 },
        precision: if ctx.opset >= 23 { a.int_or("precision", 0)? } else { 0 },
    })
}

/// The quantized type named by an ONNX type code.
fn quantized_dtype(code: i64) -> Result<DType> {
    let d = i32::try_from(code).ok().and_then(|c| DType::from_onnx_code(c).ok());
    match d {
        Some(d @ (DType::U8 | DType::I8 | DType::U16 | DType::I16)) => Ok(d),
        _ => Err(Error::dtype(format!(
            "output_dtype {code} is not a supported quantized type (uint8, int8, uint16, int16)"
        ))),
    }
}

fn quantize_linear(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = linear_attrs(ctx)?;
    let out_attr = if attrs.output_dtype != 0 { Some(quantized_dtype(attrs.output_dtype)?) } else { None };
    let precision = if attrs.precision != 0 {
        Some(FloatKind::from_onnx_code(attrs.precision, "precision")?)
    } else {
        None
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let scale = required(inputs, 1, "y_scale")?;
        let zp = optional(inputs, 2);
        if matches!(precision, None | Some(FloatKind::F32)) {
            if let Some(y) = quantize_per_tensor_f32(x, scale, zp, out_attr)? {
                return Ok(vec![y]);
            }
        }
        let (x_kind, xs) = float_values(x, "x")?;
        let (s_kind, ss) = float_values(scale, "y_scale")?;
        // numpy divides in the wider of the two types unless `precision` says otherwise.
        let kind = precision.unwrap_or(x_kind.max(s_kind));
        let smap = ParamLayout::new(x.shape(), scale.shape(), attrs.axis, attrs.block_size, "y_scale")?;
        let (out, zps) = match zp {
            Some(z) => {
                check_same_shape(scale, z, "y_scale", "y_zero_point")?;
                if let Some(d) = out_attr {
                    if d != z.dtype() {
                        return Err(Error::dtype(format!(
                            "output_dtype is {d} but y_zero_point is {}",
                            z.dtype()
                        )));
                    }
                }
                (z.dtype(), int_values(z, "y_zero_point")?)
            }
            None => (out_attr.unwrap_or(DType::U8), vec![0]),
        };
        let zmap = if zps.len() == 1 { ParamLayout::Scalar } else { smap.clone() };
        let y = quantized_tensor(out, x.shape(), xs.len(), |i| {
            let q = kind.div(xs[i], ss[smap.index(i)]);
            quant_math::round_to_i64(q).saturating_add(zps[zmap.index(i)] as i64)
        })?;
        Ok(vec![y])
    })))
}

fn dequantize_linear(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = linear_attrs(ctx)?;
    let out_attr = if attrs.output_dtype != 0 {
        Some(FloatKind::from_onnx_code(attrs.output_dtype, "output_dtype")?)
    } else {
        None
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let scale = required(inputs, 1, "x_scale")?;
        let zp = optional(inputs, 2);
        if matches!(out_attr, None | Some(FloatKind::F32)) {
            if let Some(y) = dequantize_per_tensor_f32(x, scale, zp)? {
                return Ok(vec![y]);
            }
        }
        let xs = int_values(x, "x")?;
        let (s_kind, ss) = float_values(scale, "x_scale")?;
        let smap = ParamLayout::new(x.shape(), scale.shape(), attrs.axis, attrs.block_size, "x_scale")?;
        let zps = match zp {
            Some(z) => {
                check_same_shape(scale, z, "x_scale", "x_zero_point")?;
                if z.dtype() != x.dtype() {
                    return Err(Error::dtype(format!(
                        "x_zero_point is {} but x is {}; they must match",
                        z.dtype(),
                        x.dtype()
                    )));
                }
                int_values(z, "x_zero_point")?
            }
            None => vec![0],
        };
        let zmap = if zps.len() == 1 { ParamLayout::Scalar } else { smap.clone() };
        // The difference is exact in integers; numpy then multiplies in the scale's type
        // (f16 scales: in f32, rounded to f16).
        let values: Vec<f64> = (0..xs.len())
            .map(|i| {
                let d = (xs[i] as i64 - zps[zmap.index(i)] as i64) as f64;
                match s_kind {
                    FloatKind::F64 => d * ss[smap.index(i)],
                    _ => f64::from(d as f32 * ss[smap.index(i)] as f32),
                }
            })
            .collect();
        Ok(vec![float_tensor(out_attr.unwrap_or(s_kind), x.shape(), values)?])
    })))
}

/// A single float32 value (a per-tensor scale).
fn single_f32(t: &Tensor) -> Option<f32> {
    match t {
        Tensor::F32(a) if a.len() == 1 => a.iter().next().copied(),
        _ => None,
    }
}

/// QuantizeLinear's fast path (`kernels::qconvert`): float32 data, one float32 scale, an 8-bit
/// zero point of one value (or none: uint8, unless `output_dtype` says otherwise).
/// `Ok(None)` when it does not apply; the general path then computes (and checks) everything.
fn quantize_per_tensor_f32(x: &Tensor, scale: &Tensor, zp: Option<&Tensor>, out_attr: Option<DType>) -> Result<Option<Tensor>> {
    let (Tensor::F32(xa), Some(s)) = (x, single_f32(scale)) else { return Ok(None) };
    let Some(xs) = xa.as_slice() else { return Ok(None) };
    let (dtype, z) = match zp {
        Some(Tensor::U8(z)) if z.len() == 1 && z.shape() == scale.shape() => (DType::U8, i32::from(z.iter().next().copied().unwrap_or(0))),
        Some(Tensor::I8(z)) if z.len() == 1 && z.shape() == scale.shape() => (DType::I8, i32::from(z.iter().next().copied().unwrap_or(0))),
        None if matches!(out_attr, None | Some(DType::U8)) => (DType::U8, 0),
        _ => return Ok(None),
    };
    if out_attr.is_some_and(|d| d != dtype) {
        return Ok(None);
    }
    Ok(Some(match dtype {
        DType::U8 => {
            let mut y = vec![0u8; xs.len()];
            qconvert::quantize_f32_u8(xs, s, z, &mut y);
            Tensor::from_vec(x.shape(), y)?
        }
        _ => {
            let mut y = vec![0i8; xs.len()];
            qconvert::quantize_f32_i8(xs, s, z, &mut y);
            Tensor::from_vec(x.shape(), y)?
        }
    }))
}

/// DequantizeLinear's fast path (`kernels::qconvert`): 8-bit data, one float32 scale, a zero
/// point of the data's type and one value (or none), float32 output.
fn dequantize_per_tensor_f32(x: &Tensor, scale: &Tensor, zp: Option<&Tensor>) -> Result<Option<Tensor>> {
    let Some(s) = single_f32(scale) else { return Ok(None) };
    let z = match (x, zp) {
        (_, None) => 0,
        (Tensor::U8(_), Some(Tensor::U8(z))) if z.len() == 1 && z.shape() == scale.shape() => i32::from(z.iter().next().copied().unwrap_or(0)),
        (Tensor::I8(_), Some(Tensor::I8(z))) if z.len() == 1 && z.shape() == scale.shape() => i32::from(z.iter().next().copied().unwrap_or(0)),
        _ => return Ok(None),
    };
    let mut y;
    match x {
        Tensor::U8(a) => {
            let Some(xs) = a.as_slice() else { return Ok(None) };
            y = vec![0f32; xs.len()];
            qconvert::dequantize_u8_f32(xs, s, z, &mut y);
        }
        Tensor::I8(a) => {
            let Some(xs) = a.as_slice() else { return Ok(None) };
            y = vec![0f32; xs.len()];
            qconvert::dequantize_i8_f32(xs, s, z, &mut y);
        }
        _ => return Ok(None),
    }
    Ok(Some(Tensor::from_vec(x.shape(), y)?))
}

fn dynamic_quantize_linear(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?.array::<f32>()?;
        let (min, max) = x.iter().fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let (scale, zp) = quant_math::dynamic_qparams_u8(min, max);
        let y: Vec<u8> = x.iter().map(|&v| quant_math::quantize::<u8>(v, scale, zp as i32)).collect();
        Ok(vec![Tensor::from_vec(x.shape(), y)?, Tensor::scalar(scale), Tensor::scalar(zp)])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::run;

    #[test]
    fn quantize_per_axis_with_int8_and_ties() {
        let x = Tensor::from_vec(&[2, 2], vec![0.5f32, 1.5, 2.5, -2.5]).unwrap();
        let s = Tensor::from_vec(&[2], vec![1.0f32, 1.0]).unwrap();
        let z = Tensor::from_vec(&[2], vec![0i8, 10]).unwrap();
        let y = run("QuantizeLinear", 13, &[("axis", Attr::Int(1))], &[Some(x), Some(s), Some(z)]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[2, 2], vec![0i8, 12, 2, 8]).unwrap());
    }

    #[test]
    fn quantize_defaults_to_uint8_and_output_dtype_picks_the_type() {
        let x = Tensor::from_vec(&[3], vec![-1.0f32, 100.0, 1000.0]).unwrap();
        let s = Tensor::scalar(1.0f32);
        let y = run("QuantizeLinear", 13, &[], &[Some(x.clone()), Some(s.clone())]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![0u8, 100, 255]).unwrap());
        let y = run("QuantizeLinear", 21, &[("output_dtype", Attr::Int(3))], &[Some(x.clone()), Some(s.clone())])
            .unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-1i8, 100, 127]).unwrap());
        // a zero point of another type than output_dtype is an error
        let z = Tensor::scalar(0u8);
        assert!(run("QuantizeLinear", 21, &[("output_dtype", Attr::Int(3))], &[Some(x), Some(s), Some(z)]).is_err());
    }

    #[test]
    fn quantize_blocked_symmetric_int16() {
        // onnx's test_quantizelinear_blocked_symmetric (its expected-output file is empty).
        let x = Tensor::from_vec(&[3, 4], vec![6.0f32, -8.0, -10.0, 5.0, 1.0, 8.0, 4.0, 5.0, 0.0, 20.0, 10.0, 4.0])
            .unwrap();
        let s = Tensor::from_vec(&[3, 2], vec![1.5f32, 2.5, 3.0, 4.9, 5.1, 6.9]).unwrap();
        let attrs = [("axis", Attr::Int(1)), ("block_size", Attr::Int(2)), ("output_dtype", Attr::Int(5))];
        let y = run("QuantizeLinear", 21, &attrs, &[Some(x), Some(s)]).unwrap();
        // 6/1.5=4, -8/1.5=-5.33→-5, -10/2.5=-4, 5/2.5=2, 1/3→0, 8/3→3, 4/4.9→1, 5/4.9→1,
        // 0/5.1=0, 20/5.1=3.92→4, 10/6.9=1.45→1, 4/6.9=0.58→1
        assert_eq!(y[0], Tensor::from_vec(&[3, 4], vec![4i16, -5, -4, 2, 0, 3, 1, 1, 0, 4, 1, 1]).unwrap());
    }

    #[test]
    fn quantize_rejects_bad_shapes_without_panicking() {
        let x = Tensor::from_vec(&[2, 3], vec![0.0f32; 6]).unwrap();
        let s = Tensor::from_vec(&[2], vec![1.0f32, 1.0]).unwrap();
        assert!(run("QuantizeLinear", 13, &[], &[Some(x.clone()), Some(s.clone())]).is_err());
        let z = Tensor::from_vec(&[3], vec![0u8; 3]).unwrap();
        assert!(run("QuantizeLinear", 13, &[("axis", Attr::Int(0))], &[Some(x.clone()), Some(s), Some(z)]).is_err());
        let i = Tensor::from_vec(&[1], vec![1i32]).unwrap();
        assert!(run("QuantizeLinear", 13, &[], &[Some(i), Some(Tensor::scalar(1.0f32))]).is_err());
        assert!(run("QuantizeLinear", 13, &[], &[Some(x)]).is_err());
    }

    #[test]
    fn quantize_float16_divides_in_float16() {
        use half::f16;
        let x = Tensor::from_vec(&[2], vec![f16::from_f32(3.0), f16::from_f32(-1.0)]).unwrap();
        let s = Tensor::scalar(f16::from_f32(2.0));
        let z = Tensor::scalar(10i8);
        let y = run("QuantizeLinear", 19, &[], &[Some(x), Some(s), Some(z)]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[2], vec![12i8, 10]).unwrap());
    }

    #[test]
    fn dequantize_int32_without_zero_point_and_output_types() {
        let x = Tensor::from_vec(&[3], vec![-5i32, 0, 1 << 20]).unwrap();
        let y = run("DequantizeLinear", 13, &[], &[Some(x), Some(Tensor::scalar(0.5f32))]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-2.5f32, 0.0, (1 << 19) as f32]).unwrap());
        let x = Tensor::from_vec(&[2], vec![3u8, 1]).unwrap();
        let y = run("DequantizeLinear", 13, &[], &[Some(x.clone()), Some(Tensor::scalar(0.25f64)), Some(Tensor::scalar(1u8))])
            .unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[2], vec![0.5f64, 0.0]).unwrap());
        // zero point type must match x
        assert!(run("DequantizeLinear", 13, &[], &[Some(x.clone()), Some(Tensor::scalar(1.0f32)), Some(Tensor::scalar(1i8))])
            .is_err());
        // output_dtype (23+) picks float16
        let y = run("DequantizeLinear", 23, &[("output_dtype", Attr::Int(10))], &[Some(x), Some(Tensor::scalar(1.0f32))])
            .unwrap();
        assert_eq!(y[0].dtype(), DType::F16);
    }

    #[test]
    fn dynamic_quantize_all_zero_and_empty() {
        let x = Tensor::from_vec(&[3], vec![0.0f32; 3]).unwrap();
        let y = run("DynamicQuantizeLinear", 11, &[], &[Some(x)]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![0u8; 3]).unwrap());
        assert_eq!(y[1], Tensor::scalar(1.0f32));
        assert_eq!(y[2], Tensor::scalar(0u8));
        let x = Tensor::from_vec(&[0, 2], Vec::<f32>::new()).unwrap();
        let y = run("DynamicQuantizeLinear", 11, &[], &[Some(x)]).unwrap();
        assert_eq!(y[0].shape(), &[0, 2]);
    }
}
