//! Pad: constant, reflect, edge and wrap padding, with negative pads cropping.
//!
//! Opset < 11 takes `pads` and `value` as attributes; from 11 `pads` and `constant_value` are
//! inputs, and from 18 an `axes` input says which axes the pads are for. Negative pads crop
//! first, then the positive pads are applied to the cropped tensor (as onnxruntime does), so
//! reflect/edge/wrap mirror the cropped data. Pads larger than the axis reflect or wrap
//! repeatedly, like numpy.
//!
//! Each output axis is described by a map from output index to source index (or "fill"), and
//! [`gather_maps`] builds the output from those maps; Resize's nearest mode reuses it. It moves
//! elements as lanes of their width ([`crate::tensor::width`]), so it is compiled four times,
//! whatever the element type; the fill value is the one element of a scalar of the data's type.
use super::reduce::Numeric;
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use super::shape::{check_alloc, ints, normalize_axes, optional_ints, standard};
use crate::error::{Error, Result};
use crate::tensor::{DType, Lane, Tensor};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "Pad", pad).data_movement();
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// The size of an axis of size `d` after padding by `begin`/`end` (negative = crop).
fn padded_len(d: usize, begin: i64, end: i64) -> Result<usize> {
    let out = (d as i128) + begin as i128 + end as i128;
    if (-(begin.min(0) as i128)) + (-(end.min(0) as i128)) > d as i128 {
        return Err(Error::shape(format!("pads ({begin}, {end}) crop more than the axis size {d}")));
    }
    usize::try_from(out)
        .ok()
        .filter(|&v| v <= u32::MAX as usize)
        .ok_or_else(|| Error::too_large(format!("pads ({begin}, {end}) on an axis of size {d} are too large")))
}

/// For one axis of size `d` padded by `begin`/`end` (negative = crop): the source index of
/// every output index, `None` where the constant fills.
fn axis_map(d: usize, begin: i64, end: i64, mode: Mode) -> Result<Vec<Option<usize>>> {
    let out = padded_len(d, begin, end)? as i64;
    let d = d as i64;
    let crop_lo = (-begin).max(0);
    let dc = d - crop_lo - (-end).max(0);
    let b = begin.max(0);
    if dc == 0 && mode != Mode::Constant && out > 0 {
        return Err(Error::shape(format!("{mode:?} padding of an empty axis (size {d}, pads ({begin}, {end}))")));
    }
    Ok((0..out)
        .map(|j| {
            let k = j - b;
            let src = if (0..dc).contains(&k) {
                k
            } else {
                match mode {
                    Mode::Constant => return None,
                    Mode::Edge => k.clamp(0, dc - 1),
                    Mode::Wrap => k.rem_euclid(dc),
                    Mode::Reflect if dc == 1 => 0,
                    Mode::Reflect => {
                        let period = 2 * (dc - 1);
                        let m = k.rem_euclid(period);
                        if m >= dc {
                            period - m
                        } else {
                            m
                        }
                    }
                }
            };
            Some((crop_lo + src) as usize)
        })
        .collect())
}

/// A tensor whose axis `i` takes source index `maps[i][j]` of `x` at output index `j`, or the
/// one element of `fill` (a tensor of `x`'s type) where a map says `None`.
pub(super) fn gather_maps_tensor(x: &Tensor, maps: &[Vec<Option<usize>>], fill: &Tensor) -> Result<Tensor> {
    if fill.dtype() != x.dtype() {
        return Err(Error::dtype(format!("internal: a {} fill for a {} tensor", fill.dtype(), x.dtype())));
    }
    fn go<W: Lane>(a: ArrayViewD<'_, W>, maps: &[Vec<Option<usize>>], fill: &Tensor) -> Result<ArrayD<W>> {
        let f = W::view_of(fill).and_then(|v| v.iter().next().copied()).unwrap_or_default();
        gather_maps(a, maps, f)
    }
    let lanes = crate::map_lanes!(x.lanes(), a => go(a, maps, fill)?);
    Tensor::from_lanes(x.dtype(), lanes)
}

/// A scalar of `dtype` holding `v` converted as [`Numeric::from_f64`] does (`as` for the
/// integers, rounding for the floats, `v != 0` for bool).
pub(super) fn scalar_from_f64(dtype: DType, v: f64) -> Tensor {
    fn s<T: Numeric>(v: f64) -> Tensor {
        Tensor::scalar(T::from_f64(v))
    }
    match dtype {
        DType::F32 => s::<f32>(v),
        DType::F64 => s::<f64>(v),
        DType::F16 => s::<half::f16>(v),
        DType::I8 => s::<i8>(v),
        DType::U8 => s::<u8>(v),
        DType::I16 => s::<i16>(v),
        DType::U16 => s::<u16>(v),
        DType::I32 => s::<i32>(v),
        DType::U32 => s::<u32>(v),
        DType::I64 => s::<i64>(v),
        DType::U64 => s::<u64>(v),
        DType::Bool => s::<bool>(v),
    }
}

/// Builds an array whose axis `i` takes source index `maps[i][j]` at output index `j`, or
/// `fill` where a map says `None`. The source is read in standard layout.
fn gather_maps<T: Copy>(a: ArrayViewD<'_, T>, maps: &[Vec<Option<usize>>], fill: T) -> Result<ArrayD<T>> {
    let out_shape: Vec<usize> = maps.iter().map(Vec::len).collect();
    if maps.len() != a.ndim() {
        return Err(Error::shape(format!("{} index maps for an input of shape {:?}", maps.len(), a.shape())));
    }
    let shape = a.shape().to_vec();
    let std = standard(a);
    let src = std.as_slice().ok_or_else(|| Error::invalid("input is not contiguous"))?;
    let mut strides = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        strides[i] = strides[i + 1] * shape[i + 1];
    }
    // Elements below each axis in the output (how many a fill at that axis writes).
    let mut below = vec![1usize; maps.len() + 1];
    for i in (0..maps.len()).rev() {
        below[i] = below[i + 1] * out_shape[i];
    }
    let mut out = Vec::with_capacity(below[0]);
    fn rec<T: Copy>(
        src: &[T],
        strides: &[usize],
        maps: &[Vec<Option<usize>>],
        below: &[usize],
        fill: T,
        base: usize,
        out: &mut Vec<T>,
    ) {
        let Some((map, rest)) = maps.split_first() else {
            out.push(src.get(base).copied().unwrap_or(fill));
            return;
        };
        let stride = strides.first().copied().unwrap_or(0);
        let block = below.get(1).copied().unwrap_or(1);
        for m in map {
            match m {
                Some(i) if rest.is_empty() => out.push(src.get(base + i).copied().unwrap_or(fill)),
                Some(i) => rec(src, &strides[1..], rest, &below[1..], fill, base + i * stride, out),
                None => out.extend(std::iter::repeat_n(fill, block)),
            }
        }
    }
    rec(src, &strides, maps, &below, fill, 0, &mut out);
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| Error::shape(format!("padded output: {e}")))
}

/// The constant to pad with, in the data's element type.
enum Fill {
    /// Opset < 11: the `value` float attribute.
    Attr(f32),
    /// Opset >= 11: the optional `constant_value` input.
    Input,
}

fn pad_by_width(x: &Tensor, inputs: &[Option<&Tensor>], maps: &[Vec<Option<usize>>], fill: &Fill) -> Result<Tensor> {
    let value = match fill {
        Fill::Attr(v) => scalar_from_f64(x.dtype(), *v as f64),
        Fill::Input => match optional(inputs, 2) {
            Some(t) if !t.is_empty() => {
                if t.dtype() != x.dtype() {
                    return Err(Error::dtype(format!("constant_value {t} must have the data's type {}", x.dtype())));
                }
                t.clone()
            }
            _ => Tensor::zeros(x.dtype(), &[])?,
        },
    };
    gather_maps_tensor(x, maps, &value)
}

fn pad(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    let a = ctx.attrs();
    let mode = match a.string_or("mode", "constant")? {
        "constant" => Mode::Constant,
        "reflect" => Mode::Reflect,
        "edge" => Mode::Edge,
        "wrap" => Mode::Wrap,
        other => return Err(Error::invalid(format!("Pad mode '{other}' is not one of constant, reflect, edge, wrap"))),
    };
    let (attr_pads, fill) = if opset < 11 {
        let pads = a.ints("pads")?.or(a.ints("paddings")?).map(<[i64]>::to_vec);
        let pads = pads.ok_or_else(|| Error::invalid("Pad needs the 'pads' attribute before opset 11"))?;
        (Some(pads), Fill::Attr(a.float_or("value", 0.0)?))
    } else {
        (None, Fill::Input)
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let pads = match &attr_pads {
            Some(p) => p.clone(),
            None => ints(required(inputs, 1, "pads")?, "pads")?,
        };
        let rank = x.rank();
        let axes = match if opset >= 18 { optional_ints(inputs, 3, "axes")? } else { None } {
            Some(list) => normalize_axes(&list, rank, "axes")?,
            None => (0..rank).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(Error::shape(format!(
                "pads {pads:?} should have 2 values per padded axis ({} axes of an input of shape {:?})",
                axes.len(),
                x.shape()
            )));
        }
        let mut per_axis = vec![(0i64, 0i64); rank];
        for (i, &ax) in axes.iter().enumerate() {
            per_axis[ax] = (pads[i], pads[axes.len() + i]);
        }
        let out_shape =
            x.shape().iter().zip(&per_axis).map(|(&d, &(b, e))| padded_len(d, b, e)).collect::<Result<Vec<_>>>()?;
        check_alloc(&out_shape, x.dtype())?;
        let maps =
            x.shape().iter().zip(&per_axis).map(|(&d, &(b, e))| axis_map(d, b, e, mode)).collect::<Result<Vec<_>>>()?;
        Ok(vec![pad_by_width(x, inputs, &maps, &fill)?])
    })))
}

#[cfg(test)]
mod tests {
    use super::super::shape::testing::*;
    use super::*;
    use crate::graph::Attr;

    #[test]
    fn maps_match_numpy() {
        let m = |d, b, e, mode| axis_map(d, b, e, mode).unwrap();
        assert_eq!(m(3, 5, 0, Mode::Reflect), [1, 0, 1, 2, 1, 0, 1, 2].map(Some).to_vec());
        assert_eq!(m(3, 0, 4, Mode::Wrap), [0, 1, 2, 0, 1, 2, 0].map(Some).to_vec());
        assert_eq!(m(1, 2, 1, Mode::Reflect), vec![Some(0); 4]);
        assert_eq!(m(3, 1, 1, Mode::Edge), [0, 0, 1, 2, 2].map(Some).to_vec());
        assert_eq!(m(2, 1, 0, Mode::Constant), vec![None, Some(0), Some(1)]);
        // Crop first, then reflect the cropped data.
        assert_eq!(m(4, -1, 2, Mode::Reflect), [1, 2, 3, 2, 1].map(Some).to_vec());
        assert!(axis_map(2, -2, -1, Mode::Constant).is_err());
        assert!(axis_map(0, 1, 0, Mode::Edge).is_err());
    }

    #[test]
    fn attribute_form_and_negative_pads() {
        let x = iota(&[2, 3]);
        let attrs = vec![("pads", Attr::Ints(vec![0, 1, 0, -1])), ("value", Attr::Float(9.0))];
        let out = run("Pad", 2, attrs, vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 3]);
        assert_eq!(vals(&out[0]), vec![9.0, 0.0, 1.0, 9.0, 3.0, 4.0]);
        let ints = crate::tensor::Tensor::from_vec(&[2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let out =
            run("Pad", 19, vec![("mode", Attr::String("wrap".into()))], vec![Some(ints), Some(i64s(&[0, 1, 0, 1]))], 1)
                .unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![2, 1, 2, 1, 4, 3, 4, 3]);
        let huge = run("Pad", 13, vec![], vec![Some(x.clone()), Some(i64s(&[1 << 30, 0, 1 << 30, 0]))], 1);
        assert_eq!(huge.unwrap_err().code(), "TOO_LARGE");
        let err = run("Pad", 13, vec![], vec![Some(x), Some(i64s(&[1, 1]))], 1).unwrap_err();
        assert!(err.to_string().contains("[2, 3]"), "{err}");
    }
}
