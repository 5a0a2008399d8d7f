//! Resize (opsets 10 to 19+) and the deprecated Upsample (opsets 7 to 9).
//!
//! Interpolation is separable, as in the ONNX reference: each resized axis is processed on its
//! own. For one axis, every output index gets a source coordinate from the
//! `coordinate_transformation_mode`, then a small set of taps (neighbour indices clamped to the
//! axis, like edge padding, and their weights) from the mode: nearest (two taps, one of weight 1,
//! chosen by `nearest_mode`), linear (two taps), cubic (four taps with `cubic_coeff_a`), or the
//! wider antialias filters when downscaling with `antialias=1`. `exclude_outside` drops taps
//! outside the input and renormalises; `tf_crop_and_resize` maps through the `roi` and writes
//! `extrapolation_value` where the coordinate falls outside the input.
//!
//! Nearest mode copies elements through index maps in the element type (exact for every type);
//! linear and cubic compute in f64 and convert back (integers round half to even and saturate,
//! as the reference's saturate_cast does).
//!
//! Forms by opset: Upsample 7-8 takes `scales` as an attribute, Upsample 9 and Resize 10 as
//! input 1 (asymmetric coordinates, nearest rounds down when upsampling and up when
//! downsampling); Resize 11+ takes roi, scales, sizes as inputs 1-3 (one of scales and sizes);
//! 18 adds `axes`, `antialias` and `keep_aspect_ratio_policy`; 19 adds `half_pixel_symmetric`.
use super::pad::{gather_maps_tensor, scalar_from_f64};
use super::reduce::Numeric;
use super::registry::{optional, required, BuildContext, FnOp, Int8Inputs, Op, QuantRule, Registry};
use super::shape::{check_alloc, dims_product, normalize_axes, optional_ints};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "Resize", resize).int8(Int8Inputs::Only(&[0])).quant(QuantRule::Resize);
    r.register("", "Upsample", upsample);
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Upsample and Resize-10: floor when upsampling, ceil when downsampling.
    Simple,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Interp {
    Nearest(NearestMode),
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aspect {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Where the output size comes from.
#[derive(Debug, Clone)]
enum Form {
    /// Upsample before opset 9: the `scales` attribute.
    ScalesAttr(Vec<f32>),
    /// Upsample 9 and Resize 10: input 1 holds the scales.
    ScalesInput,
    /// Resize 11+: roi, scales, sizes are inputs 1, 2, 3.
    Full,
}

#[derive(Debug, Clone)]
struct Params {
    interp: Interp,
    coord: Coord,
    cubic_a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
    aspect: Aspect,
    axes: Option<Vec<i64>>,
    form: Form,
}

fn parse_mode(mode: &str, nearest: NearestMode) -> Result<Interp> {
    Ok(match mode {
        "nearest" => Interp::Nearest(nearest),
        "linear" | "bilinear" | "trilinear" => Interp::Linear,
        "cubic" | "bicubic" => Interp::Cubic,
        other => return Err(Error::invalid(format!("resize mode '{other}' is not nearest, linear or cubic"))),
    })
}

fn resize(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let params = if ctx.opset < 11 {
        Params {
            interp: parse_mode(a.string_or("mode", "nearest")?, NearestMode::Simple)?,
            coord: Coord::Asymmetric,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            aspect: Aspect::Stretch,
            axes: None,
            form: Form::ScalesInput,
        }
    } else {
        let nearest = match a.string_or("nearest_mode", "round_prefer_floor")? {
            "round_prefer_floor" => NearestMode::RoundPreferFloor,
            "round_prefer_ceil" => NearestMode::RoundPreferCeil,
            "floor" => NearestMode::Floor,
            "ceil" => NearestMode::Ceil,
            other => return Err(Error::invalid(format!("nearest_mode '{other}' is not supported"))),
        };
        let coord = match a.string_or("coordinate_transformation_mode", "half_pixel")? {
            "half_pixel" => Coord::HalfPixel,
            "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
            "pytorch_half_pixel" => Coord::PytorchHalfPixel,
            "align_corners" => Coord::AlignCorners,
            "asymmetric" => Coord::Asymmetric,
            "tf_half_pixel_for_nn" => Coord::TfHalfPixelForNn,
            "tf_crop_and_resize" => Coord::TfCropAndResize,
            other => return Err(Error::invalid(format!("coordinate_transformation_mode '{other}' is not supported"))),
        };
        let aspect = match a.string_or("keep_aspect_ratio_policy", "stretch")? {
            "stretch" => Aspect::Stretch,
            "not_larger" => Aspect::NotLarger,
            "not_smaller" => Aspect::NotSmaller,
            other => return Err(Error::invalid(format!("keep_aspect_ratio_policy '{other}' is not supported"))),
        };
        Params {
            interp: parse_mode(a.string_or("mode", "nearest")?, nearest)?,
            coord,
            cubic_a: a.float_or("cubic_coeff_a", -0.75)? as f64,
            exclude_outside: a.int_or("exclude_outside", 0)? != 0,
            extrapolation: a.float_or("extrapolation_value", 0.0)? as f64,
            antialias: a.int_or("antialias", 0)? != 0,
            aspect,
            axes: a.ints("axes")?.map(<[i64]>::to_vec),
            form: Form::Full,
        }
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![run_resize(&params, inputs)?]))))
}

fn upsample(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let form = if ctx.opset < 9 {
        let s = a
            .floats("scales")?
            .ok_or_else(|| Error::invalid("Upsample needs the 'scales' attribute before opset 9"))?;
        Form::ScalesAttr(s.to_vec())
    } else {
        Form::ScalesInput
    };
    let params = Params {
        interp: parse_mode(a.string_or("mode", "nearest")?, NearestMode::Simple)?,
        coord: Coord::Asymmetric,
        cubic_a: -0.75,
        exclude_outside: false,
        extrapolation: 0.0,
        antialias: false,
        aspect: Aspect::Stretch,
        axes: None,
        form,
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![run_resize(&params, inputs)?]))))
}

/// A float input (scales, roi) as f64; an empty tensor counts as omitted.
fn floats(t: Option<&Tensor>, what: &str) -> Result<Option<Vec<f64>>> {
    let Some(t) = t.filter(|t| !t.is_empty()) else { return Ok(None) };
    Ok(Some(match t {
        Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
        Tensor::F64(a) => a.iter().copied().collect(),
        Tensor::F16(a) => a.iter().map(|v| v.to_f64()).collect(),
        other => return Err(Error::dtype(format!("{what} must be a float tensor, got {other}"))),
    }))
}

/// The taps of one resized axis: for output index `y`, source indices `idx[y*n..][..n]` with
/// weights `w[y*n..][..n]`, unless `extrap[y]` (then the output is the extrapolation value).
struct AxisTaps {
    n: usize,
    idx: Vec<usize>,
    w: Vec<f64>,
    extrap: Vec<bool>,
}

fn cubic_coeffs(r: f64, a: f64) -> Vec<f64> {
    let (p, q) = (r + 1.0, 1.0 - r);
    vec![
        ((a * p - 5.0 * a) * p + 8.0 * a) * p - 4.0 * a,
        ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
        ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0,
        ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a,
    ]
}

fn normalized(c: Vec<f64>) -> Vec<f64> {
    let s: f64 = c.iter().sum();
    c.into_iter().map(|v| v / s).collect()
}

/// The interpolation weights for a source coordinate whose distance past its left neighbour is
/// `ratio` (in (0, 1]); `scale` widens the antialias filters when downscaling.
fn coeffs(p: &Params, ratio: f64, scale: f64) -> Vec<f64> {
    let b = |v: bool| if v { 1.0 } else { 0.0 };
    match p.interp {
        Interp::Nearest(_) if ratio == 1.0 => vec![0.0, 1.0],
        Interp::Nearest(NearestMode::RoundPreferFloor) => vec![b(ratio <= 0.5), b(ratio > 0.5)],
        Interp::Nearest(NearestMode::RoundPreferCeil) => vec![b(ratio < 0.5), b(ratio >= 0.5)],
        Interp::Nearest(NearestMode::Floor) => vec![1.0, 0.0],
        Interp::Nearest(NearestMode::Ceil) => vec![0.0, 1.0],
        Interp::Nearest(NearestMode::Simple) => vec![b(scale >= 1.0), b(scale < 1.0)],
        Interp::Linear if p.antialias => {
            let s = scale.min(1.0);
            let start = (-1.0 / s).floor() as i64 + 1;
            let footprint = 2 - 2 * start;
            normalized(
                (start..start + footprint).map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0)).collect(),
            )
        }
        Interp::Linear => vec![1.0 - ratio, ratio],
        Interp::Cubic if p.antialias => {
            let s = scale.min(1.0);
            let a = p.cubic_a;
            let kernel = |x: f64| {
                let x = x.abs();
                if x <= 1.0 {
                    (a + 2.0) * x * x * x - (a + 3.0) * x * x + 1.0
                } else if x < 2.0 {
                    a * x * x * x - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
                } else {
                    0.0
                }
            };
            let start = (-2.0 / s).floor() as i64 + 1;
            normalized((start..2 - start).map(|i| kernel(s * (i as f64 - ratio))).collect())
        }
        Interp::Cubic => cubic_coeffs(ratio, p.cubic_a),
    }
}

/// Source coordinate of output index `y` (the reference's `_compute_x_ori`).
fn source_coord(p: &Params, y: f64, scale: f64, in_w: usize, out_w: usize, roi: (f64, f64)) -> f64 {
    let in_f = in_w as f64;
    let output_width = scale * in_f;
    match p.coord {
        Coord::AlignCorners if output_width == 1.0 => 0.0,
        Coord::AlignCorners => y * (in_f - 1.0) / (output_width - 1.0),
        Coord::Asymmetric => y / scale,
        Coord::TfHalfPixelForNn => (y + 0.5) / scale,
        Coord::TfCropAndResize => {
            let base = if output_width == 1.0 {
                (roi.1 - roi.0) * (in_f - 1.0) / 2.0
            } else {
                y * (roi.1 - roi.0) * (in_f - 1.0) / (output_width - 1.0)
            };
            base + roi.0 * (in_f - 1.0)
        }
        Coord::PytorchHalfPixel if output_width == 1.0 => -0.5,
        Coord::PytorchHalfPixel | Coord::HalfPixel => (y + 0.5) / scale - 0.5,
        Coord::HalfPixelSymmetric => {
            let adjustment = out_w as f64 / output_width;
            let offset = in_f / 2.0 * (1.0 - adjustment);
            offset + (y + 0.5) / scale - 0.5
        }
    }
}

fn axis_taps(p: &Params, in_w: usize, out_w: usize, scale: f64, roi: (f64, f64)) -> Result<AxisTaps> {
    if in_w == 0 && out_w > 0 {
        return Err(Error::shape(format!("cannot resize an axis of size 0 to {out_w}")));
    }
    let mut taps = AxisTaps { n: 0, idx: Vec::new(), w: Vec::new(), extrap: Vec::with_capacity(out_w) };
    let last = in_w as i64 - 1;
    for y in 0..out_w {
        let x = source_coord(p, y as f64, scale, in_w, out_w, roi);
        taps.extrap.push(p.coord == Coord::TfCropAndResize && (x < 0.0 || x > last as f64));
        let xi = x.floor();
        let ratio = if x == xi { 1.0 } else { x - xi };
        let mut c = coeffs(p, ratio, scale);
        let n = c.len();
        taps.n = n;
        // The n neighbours nearest to x, ties to the smaller index (the reference's
        // _get_neighbor on an edge-padded axis).
        let pad = n.div_ceil(2) as i64;
        let xp = x + pad as f64;
        let pf = xp.floor();
        let frac = xp - pf;
        let half = (n / 2) as i64;
        let off = if n % 2 == 0 {
            if frac == 0.0 {
                -half
            } else {
                1 - half
            }
        } else {
            let base = -(((n - 1) / 2) as i64);
            if frac <= 0.5 {
                base
            } else {
                base + 1
            }
        };
        let start = pf as i64 + off - pad;
        if p.exclude_outside {
            for (k, ck) in c.iter_mut().enumerate() {
                if !(0..=last).contains(&(start + k as i64)) {
                    *ck = 0.0;
                }
            }
            let s: f64 = c.iter().sum();
            let s = if s == 0.0 { 1.0 } else { s };
            c.iter_mut().for_each(|v| *v /= s);
        }
        for (k, ck) in c.into_iter().enumerate() {
            taps.idx.push((start + k as i64).clamp(0, last.max(0)) as usize);
            taps.w.push(ck);
        }
    }
    Ok(taps)
}

/// Resizes one axis of a row-major f64 buffer.
fn apply_axis(data: &[f64], shape: &[usize], axis: usize, taps: &AxisTaps, fill: f64) -> Result<Vec<f64>> {
    let outer = dims_product(&shape[..axis])?;
    let inner = dims_product(&shape[axis + 1..])?;
    let d = shape[axis];
    let out_w = taps.extrap.len();
    let mut out = vec![0.0; outer * out_w * inner];
    for o in 0..outer {
        for y in 0..out_w {
            let dst = &mut out[(o * out_w + y) * inner..][..inner];
            if taps.extrap[y] {
                dst.fill(fill);
                continue;
            }
            for k in 0..taps.n {
                let w = taps.w[y * taps.n + k];
                if w == 0.0 {
                    continue; // also keeps 0 * inf from making NaN
                }
                let s = (o * d + taps.idx[y * taps.n + k]) * inner;
                let src = data.get(s..s + inner).ok_or_else(|| Error::invalid("resize tap past the input"))?;
                dst.iter_mut().zip(src).for_each(|(a, &b)| *a += w * b);
            }
        }
    }
    Ok(out)
}

/// Linear or cubic resize through f64, axis by axis.
fn interpolate<T: Numeric>(a: &ArrayD<T>, passes: &[(usize, AxisTaps)], fill: f64) -> Result<ArrayD<T>> {
    let mut shape = a.shape().to_vec();
    let mut data: Vec<f64> = a.iter().map(|v| v.to_f64()).collect();
    for (axis, taps) in passes {
        let mut next_shape = shape.clone();
        next_shape[*axis] = taps.extrap.len();
        check_alloc(&next_shape, DType::F64)?;
        data = apply_axis(&data, &shape, *axis, taps, fill)?;
        shape = next_shape;
    }
    let out: Vec<T> = if T::IS_FLOAT {
        data.into_iter().map(T::from_f64).collect()
    } else {
        data.into_iter().map(|v| T::from_f64(v.round_ties_even())).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::shape(format!("resize output: {e}")))
}

fn run_resize(p: &Params, inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let x = required(inputs, 0, "X")?;
    let shape = x.shape().to_vec();
    let r = shape.len();
    let axes = match &p.axes {
        Some(a) => normalize_axes(a, r, "axes")?,
        None => (0..r).collect(),
    };
    let (scales, sizes, roi) = match &p.form {
        Form::ScalesAttr(s) => (Some(s.iter().map(|&v| v as f64).collect()), None, None),
        Form::ScalesInput => (floats(Some(required(inputs, 1, "scales")?), "scales")?, None, None),
        Form::Full => (
            floats(optional(inputs, 2), "scales")?,
            optional_ints(inputs, 3, "sizes")?,
            floats(optional(inputs, 1), "roi")?,
        ),
    };
    let mut scale = vec![1.0f64; r];
    let mut out = shape.clone();
    let count_err = |what: &str, n: usize| {
        Error::shape(format!(
            "{what} has {n} values for the {} resized axes of an input of shape {shape:?}",
            axes.len()
        ))
    };
    match (scales, sizes) {
        (Some(_), Some(_)) => return Err(Error::invalid("Resize takes scales or sizes, not both")),
        (None, None) => return Err(Error::invalid("Resize needs scales or sizes")),
        (Some(s), None) => {
            if s.len() != axes.len() {
                return Err(count_err("scales", s.len()));
            }
            for (&v, &ax) in s.iter().zip(&axes) {
                let o = v * shape[ax] as f64;
                if !(v > 0.0 && o.is_finite() && o < u32::MAX as f64) {
                    return Err(Error::invalid(format!("scale {v} for axis {ax} of shape {shape:?} is not usable")));
                }
                scale[ax] = v;
                out[ax] = o.floor() as usize;
            }
        }
        (None, Some(z)) => {
            if z.len() != axes.len() {
                return Err(count_err("sizes", z.len()));
            }
            for (&v, &ax) in z.iter().zip(&axes) {
                let v = usize::try_from(v).map_err(|_| Error::invalid(format!("sizes {z:?} has a negative size")))?;
                scale[ax] = v as f64 / shape[ax] as f64;
                out[ax] = v;
            }
            if p.aspect != Aspect::Stretch {
                let picked = axes.iter().map(|&ax| scale[ax]);
                let s = if p.aspect == Aspect::NotLarger {
                    picked.fold(f64::INFINITY, f64::min)
                } else {
                    picked.fold(0.0, f64::max)
                };
                for &ax in &axes {
                    scale[ax] = s;
                    let o = s * shape[ax] as f64 + 0.5;
                    if !(o.is_finite() && o < u32::MAX as f64) {
                        return Err(Error::invalid(format!("sizes {z:?} for shape {shape:?} give no usable scale")));
                    }
                    out[ax] = o as usize;
                }
            }
        }
    }
    check_alloc(&out, x.dtype())?;
    let mut roi_full: Vec<(f64, f64)> = vec![(0.0, 1.0); r];
    if let Some(roi) = roi.filter(|_| p.coord == Coord::TfCropAndResize) {
        let k = roi.len() / 2;
        let roi_axes: Vec<usize> = if k == axes.len() { axes.clone() } else { (0..r).collect() };
        if roi.len() != 2 * roi_axes.len() {
            return Err(Error::shape(format!("roi has {} values for an input of shape {shape:?}", roi.len())));
        }
        for (i, &ax) in roi_axes.iter().enumerate() {
            roi_full[ax] = (roi[i], roi[k + i]);
        }
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    let mut passes = Vec::new();
    for &ax in &axes {
        let (r0, r1) = roi_full[ax];
        let identity = close(scale[ax], 1.0) && out[ax] == shape[ax] && close(r0, 0.0) && close(r1, 1.0);
        if !identity {
            passes.push((ax, axis_taps(p, shape[ax], out[ax], scale[ax], roi_full[ax])?));
        }
    }
    if passes.is_empty() {
        return Ok(x.clone());
    }
    if let Interp::Nearest(_) = p.interp {
        // One tap of weight 1 per output index: copy through index maps, exactly.
        let mut maps: Vec<Vec<Option<usize>>> = shape.iter().map(|&d| (0..d).map(Some).collect()).collect();
        for (ax, taps) in &passes {
            maps[*ax] = (0..taps.extrap.len())
                .map(|y| {
                    let (w, idx) = (&taps.w[y * taps.n..][..taps.n], &taps.idx[y * taps.n..][..taps.n]);
                    let pick = w.iter().position(|&v| v == 1.0).unwrap_or(0);
                    (!taps.extrap[y]).then(|| idx[pick])
                })
                .collect();
        }
        let fill = p.extrapolation;
        return gather_maps_tensor(x, &maps, &scalar_from_f64(x.dtype(), fill));
    }
    if x.dtype() == DType::Bool {
        return Err(Error::dtype("linear and cubic resize need a numeric input, got bool"));
    }
    Ok(crate::map_same!(x, a => interpolate(a, &passes, p.extrapolation)?))
}

#[cfg(test)]
mod tests {
    use super::super::shape::testing::*;
    use crate::graph::Attr;
    use crate::tensor::Tensor;

    fn s(v: &str) -> Attr {
        Attr::String(v.into())
    }

    #[test]
    fn upsample_and_resize10_forms() {
        let x = iota(&[1, 2, 2]);
        let out =
            run("Upsample", 7, vec![("scales", Attr::Floats(vec![1.0, 2.0, 1.5]))], vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[1, 4, 3]);
        assert_eq!(vals(&out[0]), vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 2.0, 2.0, 3.0]);
        let sc = Some(f32s(&[3], &[1.0, 1.0, 2.0]));
        let out = run("Resize", 10, vec![("mode", s("linear"))], vec![Some(x.clone()), sc.clone()], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![0.0, 0.5, 1.0, 1.0, 2.0, 2.5, 3.0, 3.0]);
        let out = run("Upsample", 9, vec![], vec![Some(x), sc], 1).unwrap();
        assert_eq!(out[0].shape(), &[1, 2, 4]);
    }

    #[test]
    fn integer_inputs_round_and_nearest_is_exact() {
        let x = Tensor::from_vec(&[1, 2], vec![i64::MAX - 1, 1]).unwrap();
        let sizes = Some(i64s(&[1, 4]));
        let out = run("Resize", 13, vec![], vec![Some(x), None, None, sizes], 1).unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![i64::MAX - 1, i64::MAX - 1, 1, 1]);
        let x = Tensor::from_vec(&[1, 2], vec![0u8, 3]).unwrap();
        let sc = Some(f32s(&[2], &[1.0, 2.0]));
        let out = run("Resize", 13, vec![("mode", s("linear"))], vec![Some(x), None, sc], 1).unwrap();
        // half_pixel: 0, 0.75, 2.25, 3 -> rounded half to even.
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn bad_arguments_are_errors() {
        let x = iota(&[1, 2]);
        assert!(run("Resize", 13, vec![], vec![Some(x.clone()), None, None, None], 1).is_err());
        let both = vec![Some(x.clone()), None, Some(f32s(&[2], &[1.0, 2.0])), Some(i64s(&[1, 4]))];
        assert!(run("Resize", 13, vec![], both, 1).is_err());
        assert!(run("Resize", 13, vec![], vec![Some(x.clone()), None, Some(f32s(&[1], &[2.0]))], 1).is_err());
        assert!(run("Resize", 13, vec![], vec![Some(x.clone()), None, Some(f32s(&[2], &[1.0, -2.0]))], 1).is_err());
        let huge = vec![Some(x), None, None, Some(i64s(&[1 << 20, 1 << 20]))];
        assert_eq!(run("Resize", 13, vec![], huge, 1).unwrap_err().code(), "TOO_LARGE");
    }
}
