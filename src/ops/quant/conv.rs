//! ConvInteger and QLinearConv: grouped N-d convolution of 8-bit integers with an i32
//! accumulator; QLinearConv adds an int32 bias and requantizes with
//! `x_scale * w_scale[m] / y_scale` per output channel `m` (see [`crate::quant_math`]).
//!
//! Requantization: `quant_math::scale_accumulator` (the product in f32, as onnxruntime).
//!
//! Geometry (pads, strides, dilations, groups, auto_pad) and the column unfolding come from
//! [`crate::ops::conv_geometry`]; each group is a GEMM `W[Mg, Cg·k] × cols[Cg·k, positions]`
//! whose rows are the group's output channels, padding reading the zero point (real 0).
//!
//! Two paths compute the same integers: the int8 GEMM with the weights on the left
//! ([`crate::kernels::qgemm::qgemm_left`], through [`super::gemm_kernel`]; constant weights prepacked
//! when the op is built, 1x1 stride-1 convs read the input in place, others unfold it with
//! `im2col`), and the plain reference loops [`conv_i32`] for depthwise convs (one channel per
//! group: a GEMM of one row per group does not pay) and 16-bit outputs.
//!
//! `x_zero_point` is per tensor; `w_zero_point` and `w_scale` are per tensor or per output
//! channel (`[M]`). `x` and `w` may each be uint8 or int8.
use super::gemm_kernel::{constant_zero_points, q8_bytes, view, zero_points, OutBuf, Prepacked};
use super::{float_values, int_values, quantized_tensor, FloatKind};
use crate::error::{Error, Result};
use crate::kernels::qgemm::{qgemm_left, PackedQWeights, QGemmKernel, QGemmKernels, QLhs};
use crate::kernels::select;
use crate::ops::conv_geometry::{im2col, Geometry, WindowAttrs};
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{checked_numel, DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("", "ConvInteger", conv_integer);
    r.register("", "QLinearConv", qlinear_conv);
}

/// The build-time attributes of an integer conv.
#[derive(Clone)]
struct ConvAttrs {
    window: WindowAttrs,
    group: usize,
}

fn conv_attrs(ctx: &BuildContext) -> Result<ConvAttrs> {
    let group = ctx.attrs().int_or("group", 1)?;
    if group < 1 {
        return Err(Error::invalid(format!("group must be >= 1, got {group}")));
    }
    let group = usize::try_from(group).map_err(|_| Error::invalid(format!("group {group} is too large")))?;
    Ok(ConvAttrs { window: WindowAttrs::from_attrs(ctx.attrs())?, group })
}

/// An 8-bit tensor's values as i32, checking the type.
fn int8_values(t: &Tensor, what: &str) -> Result<Vec<i32>> {
    if !matches!(t.dtype(), DType::U8 | DType::I8) {
        return Err(Error::dtype(format!("{what} must be uint8 or int8, got {}", t.dtype())));
    }
    int_values(t, what)
}

/// A per-tensor or per-output-channel parameter expanded to `m` values.
fn per_channel<T: Clone>(values: Vec<T>, shape: &[usize], m: usize, what: &str) -> Result<Vec<T>> {
    if values.len() == 1 {
        Ok(vec![values[0].clone(); m])
    } else if shape.len() == 1 && values.len() == m {
        Ok(values)
    } else {
        Err(Error::shape(format!(
            "{what} has shape {shape:?}; it must hold one value or one per output channel ([{m}])"
        )))
    }
}

/// A zero point that must be one value and match `of`'s type.
fn scalar_zero_point(zp: Option<&Tensor>, of: &Tensor, what: &str, of_name: &str) -> Result<i32> {
    let Some(z) = zp else { return Ok(0) };
    if z.dtype() != of.dtype() {
        return Err(Error::dtype(format!("{what} is {} but {of_name} is {}", z.dtype(), of.dtype())));
    }
    match int_values(z, what)?.as_slice() {
        [v] => Ok(*v),
        _ => Err(Error::shape(format!("{what} has shape {:?}; it must be a single value", z.shape()))),
    }
}

/// The shapes of one integer conv, checked.
struct ConvPlan {
    n: usize,
    c: usize,
    m: usize,
    cg: usize,
    mg: usize,
    group: usize,
    geo: Geometry,
    /// Rows of a group's GEMM depth: `cg · kernel size`.
    kdim: usize,
    out_shape: Vec<usize>,
}

impl ConvPlan {
    fn new(attrs: &ConvAttrs, x_shape: &[usize], w_shape: &[usize]) -> Result<ConvPlan> {
        if x_shape.len() < 3 || w_shape.len() != x_shape.len() {
            return Err(Error::shape(format!(
                "x has shape {x_shape:?} and w has shape {w_shape:?}; both need the same rank >= 3 ([N, C, spatial...] and [M, C/group, kernel...])"
            )));
        }
        let (n, c) = (x_shape[0], x_shape[1]);
        let (m, cg) = (w_shape[0], w_shape[1]);
        let g = attrs.group;
        if c % g != 0 || m % g != 0 || cg * g != c {
            return Err(Error::shape(format!(
                "x has {c} channels and w has shape {w_shape:?} with group {g}: w needs {} input channels per group and a multiple of {g} output channels",
                c / g.max(1)
            )));
        }
        let kernel = attrs.window.kernel(Some(&w_shape[2..]))?;
        let geo = attrs.window.resolve(&x_shape[2..], &kernel)?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geo.output);
        checked_numel(&out_shape, DType::I32)?;
        let kdim = cg * geo.kernel_size();
        checked_numel(&[kdim, geo.output_size()], DType::I32)?;
        Ok(ConvPlan { n, c, m, cg, mg: m / g, group: g, geo, kdim, out_shape })
    }

    /// One input and one output channel per group, more than one group: a depthwise conv.
    fn is_depthwise(&self) -> bool {
        self.cg == 1 && self.mg == 1 && self.group > 1
    }
}

/// The integer convolution: `x` and `w` already minus their zero points. Returns the output
/// shape `[N, M, out...]` and the i32 accumulators (plus `bias[m]` when given). The reference
/// path: im2col, then plain loops.
fn conv_i32(
    attrs: &ConvAttrs,
    x: &[i32],
    x_shape: &[usize],
    w: &[i32],
    w_shape: &[usize],
    bias: Option<&[i32]>,
) -> Result<(Vec<usize>, Vec<i32>)> {
    let p = ConvPlan::new(attrs, x_shape, w_shape)?;
    let (n, c, m, cg, mg, g) = (p.n, p.c, p.m, p.cg, p.mg, p.group);
    let (rows, out_size, in_size) = (p.kdim, p.geo.output_size(), p.geo.input_size());
    let mut cols = vec![0i32; rows * out_size];
    let mut out = vec![0i32; checked_numel(&p.out_shape, DType::I32)?];
    for ni in 0..n {
        for gi in 0..g {
            let xs = &x[(ni * c + gi * cg) * in_size..][..cg * in_size];
            im2col(&p.geo, xs, cg, 0, &mut cols)?;
            for mi in gi * mg..(gi + 1) * mg {
                let wrow = &w[mi * rows..][..rows];
                let orow = &mut out[(ni * m + mi) * out_size..][..out_size];
                let b = bias.and_then(|b| b.get(mi).copied()).unwrap_or(0);
                orow.iter_mut().for_each(|o| *o = b);
                for (r, &wv) in wrow.iter().enumerate() {
                    let crow = &cols[r * out_size..][..out_size];
                    for (o, &cv) in orow.iter_mut().zip(crow) {
                        *o = o.wrapping_add(wv.wrapping_mul(cv));
                    }
                }
            }
        }
    }
    Ok((p.out_shape, out))
}

/// Constant weights with constant zero points (per tensor or per output channel), packed per
/// group for the GEMM `kernel` when the op is built; depthwise weights are not (they take the
/// reference path).
fn prepack_w(ctx: &BuildContext, attrs: &ConvAttrs, w_idx: usize, zp_idx: usize, kernel: &'static QGemmKernel) -> Result<Option<Prepacked>> {
    let Some(w) = ctx.constant_input(w_idx) else { return Ok(None) };
    let Some(zp) = constant_zero_points(ctx, zp_idx, w.dtype()) else { return Ok(None) };
    let Some((bytes, signed)) = q8_bytes(w) else { return Ok(None) };
    let ws = w.shape();
    let g = attrs.group;
    if ws.len() < 3 || ws[0] % g != 0 || (ws[1] == 1 && ws[0] == g && g > 1) {
        return Ok(None); // errors are reported with the input shapes at run time; depthwise
    }
    let (m, kdim) = (ws[0], ws[1..].iter().product::<usize>());
    let mg = m / g;
    if zp.len() != 1 && zp.len() != m {
        return Ok(None);
    }
    let panels = (0..g)
        .map(|gi| {
            let zp_g = if zp.len() == 1 { &zp[..] } else { &zp[gi * mg..(gi + 1) * mg] };
            Ok(PackedQWeights::pack_left(view(&bytes, signed, gi * mg * kdim, mg, kdim, kdim, 1)?, zp_g, kernel)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Prepacked { shape: ws.to_vec(), dtype: w.dtype(), zero_points: zp, panels, kernels: QGemmKernels::only(kernel) }))
}

/// The GEMM path: `Ok(None)` when the operands do not suit it (then the reference path runs and
/// reports what is wrong). `multiplier` (1 or `M` values) and `y_zp` requantize 8-bit outputs.
/// Runs on `kernel`, the op's (chosen when it was built; prepacked weights were packed for it).
#[allow(clippy::too_many_arguments)]
fn conv_gemm(
    kernel: &'static QGemmKernel,
    attrs: &ConvAttrs,
    x: &Tensor,
    x_zp: i32,
    w: &Tensor,
    w_zp: Option<&Tensor>,
    prepacked: Option<&Prepacked>,
    bias: Option<&[i32]>,
    out_type: DType,
    multiplier: &[f32],
    y_zp: i32,
) -> Result<Option<Tensor>> {
    let (Some((xb, x_signed)), Some((wb, w_signed))) = (q8_bytes(x), q8_bytes(w)) else { return Ok(None) };
    let Some(w_zp) = zero_points(w_zp, w.dtype()) else { return Ok(None) };
    let p = ConvPlan::new(attrs, x.shape(), w.shape())?;
    if p.is_depthwise() {
        // Depthwise: the dispatch point for int8 depthwise kernels; until then the reference.
        return Ok(None);
    }
    let requantized = out_type != DType::I32;
    if (w_zp.len() != 1 && w_zp.len() != p.m) || (requantized && multiplier.len() != 1 && multiplier.len() != p.m) {
        return Ok(None);
    }
    let (mg, kdim, in_size, out_size) = (p.mg, p.kdim, p.geo.input_size(), p.geo.output_size());
    let mut y = OutBuf::new(out_type, &p.out_shape)?;
    let panels = prepacked.and_then(|pp| pp.get(w, &w_zp));
    let pointwise = p.geo.is_pointwise();
    let mut cols = if pointwise { Vec::new() } else { vec![0u8; kdim * out_size] };
    // Padding reads the zero point's byte (two's complement for int8).
    let pad = x_zp as u8;
    // A group's multipliers: all of a per-tensor one, else its channels'.
    let group_range = |len: usize, gi: usize| if len == p.m { gi * mg..(gi + 1) * mg } else { 0..len };
    for img in 0..p.n {
        for gi in 0..p.group {
            let at = (img * p.c + gi * p.cg) * in_size;
            let xv = if pointwise {
                view(&xb, x_signed, at, kdim, out_size, out_size, 1)?
            } else {
                let plane = xb.get(at..at + p.cg * in_size).ok_or_else(|| Error::internal("input plane out of range"))?;
                im2col(&p.geo, plane, p.cg, pad, &mut cols)?;
                view(&cols, x_signed, 0, kdim, out_size, out_size, 1)?
            };
            let zp_g = if w_zp.len() == 1 { &w_zp[..] } else { &w_zp[gi * mg..(gi + 1) * mg] };
            let lhs = match panels.and_then(|v| v.get(gi)) {
                Some(pw) => QLhs::Packed(pw),
                None => QLhs::Mat { w: view(&wb, w_signed, gi * mg * kdim, mg, kdim, kdim, 1)?, zero_point: zp_g },
            };
            let bias_g = bias.map(|b| &b[gi * mg..(gi + 1) * mg]);
            let mult = &multiplier[group_range(multiplier.len(), gi)];
            qgemm_left(kernel, lhs, xv, x_zp, bias_g, y.view((img * p.m + gi * mg) * out_size, out_size, 1, mult, y_zp)?)?;
        }
    }
    Ok(Some(y.into_tensor(&p.out_shape)?))
}

/// `x - x_zp` and `w - w_zp[m]` as i32.
fn centered_operands(
    x: &Tensor,
    x_zp: Option<&Tensor>,
    w: &Tensor,
    w_zp: Option<&Tensor>,
) -> Result<(Vec<i32>, Vec<i32>)> {
    let mut xv = int8_values(x, "x")?;
    let zx = scalar_zero_point(x_zp, x, "x_zero_point", "x")?;
    xv.iter_mut().for_each(|v| *v -= zx);
    let mut wv = int8_values(w, "w")?;
    if let Some(z) = w_zp {
        if z.dtype() != w.dtype() {
            return Err(Error::dtype(format!("w_zero_point is {} but w is {}", z.dtype(), w.dtype())));
        }
        let m = w.shape().first().copied().unwrap_or(0);
        let zw = per_channel(int_values(z, "w_zero_point")?, z.shape(), m, "w_zero_point")?;
        let per = wv.len().checked_div(m).unwrap_or(0);
        for (mi, chunk) in wv.chunks_mut(per.max(1)).enumerate() {
            let z = zw.get(mi).copied().unwrap_or(0);
            chunk.iter_mut().for_each(|v| *v -= z);
        }
    }
    Ok((xv, wv))
}

fn conv_integer(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = conv_attrs(ctx)?;
    let kernel = select::qgemm_left();
    let prepacked = prepack_w(ctx, &attrs, 1, 3, kernel)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let w = required(inputs, 1, "w")?;
        let (x_zp, w_zp) = (optional(inputs, 2), optional(inputs, 3));
        let zx = scalar_zero_point(x_zp, x, "x_zero_point", "x")?;
        if let Some(y) = conv_gemm(kernel, &attrs, x, zx, w, w_zp, prepacked.as_ref(), None, DType::I32, &[], 0)? {
            return Ok(vec![y]);
        }
        let (xv, wv) = centered_operands(x, x_zp, w, w_zp)?;
        let (shape, acc) = conv_i32(&attrs, &xv, x.shape(), &wv, w.shape(), None)?;
        Ok(vec![Tensor::from_vec(&shape, acc)?])
    })))
}

fn qlinear_conv(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = conv_attrs(ctx)?;
    let kernel = select::qgemm_left();
    let prepacked = prepack_w(ctx, &attrs, 3, 5, kernel)?;
    let depthwise = super::depthwise::DepthwiseQConv::build(ctx, &attrs.window, attrs.group);
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        // Depthwise convs take the direct 8-bit kernel (src/ops/quant/depthwise.rs).
        if let Some(y) = depthwise.as_ref().map(|d| d.run(inputs)).transpose()?.flatten() {
            return Ok(vec![y]);
        }
        let x = required(inputs, 0, "x")?;
        let x_scale = required(inputs, 1, "x_scale")?;
        let w = required(inputs, 3, "w")?;
        let w_scale = required(inputs, 4, "w_scale")?;
        let y_scale = required(inputs, 6, "y_scale")?;
        let y_zp = optional(inputs, 7);
        let m = w.shape().first().copied().unwrap_or(0);
        let bias = match optional(inputs, 8) {
            Some(b) => {
                let bv = b.array::<i32>().map_err(|_| Error::dtype(format!("B must be int32, got {}", b.dtype())))?;
                if b.shape() != [m] {
                    return Err(Error::shape(format!("B has shape {:?} but w has {m} output channels", b.shape())));
                }
                Some(bv.iter().copied().collect::<Vec<i32>>())
            }
            None => None,
        };
        let (kx, sx) = float_values(x_scale, "x_scale")?;
        let (kw, sw) = float_values(w_scale, "w_scale")?;
        let (ky, sy) = float_values(y_scale, "y_scale")?;
        let kind: FloatKind = kx.max(kw).max(ky);
        let (sx, sy) = match (sx.as_slice(), sy.as_slice()) {
            ([a], [b]) => (*a, *b),
            _ => {
                return Err(Error::shape(format!(
                    "x_scale {:?} and y_scale {:?} must be single values",
                    x_scale.shape(),
                    y_scale.shape()
                )))
            }
        };
        let sw = per_channel(sw, w_scale.shape(), m, "w_scale")?;
        // One multiplier per output channel, formed in the scales' type (ONNX reference).
        let mult: Vec<f32> = sw.iter().map(|&s| kind.div(kind.mul(sx, s), sy) as f32).collect();
        let (out_type, zy) = match y_zp {
            Some(z) => (z.dtype(), scalar_zero_point(Some(z), z, "y_zero_point", "y_zero_point")?),
            None => (x.dtype(), 0),
        };
        let (x_zp, w_zp) = (optional(inputs, 2), optional(inputs, 5));
        if matches!(out_type, DType::U8 | DType::I8) {
            let zx = scalar_zero_point(x_zp, x, "x_zero_point", "x")?;
            if let Some(y) = conv_gemm(kernel, &attrs, x, zx, w, w_zp, prepacked.as_ref(), bias.as_deref(), out_type, &mult, zy)? {
                return Ok(vec![y]);
            }
        }
        let (xv, wv) = centered_operands(x, x_zp, w, w_zp)?;
        let (shape, acc) = conv_i32(&attrs, &xv, x.shape(), &wv, w.shape(), bias.as_deref())?;
        let out_size: usize = shape[2..].iter().product();
        let y = quantized_tensor(out_type, &shape, acc.len(), |i| {
            let mi = if out_size == 0 || m == 0 { 0 } else { (i / out_size) % m };
            quant_math::scale_accumulator(acc[i] as i64, mult[mi]).saturating_add(zy as i64)
        })?;
        Ok(vec![y])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::{q8_tensor, run, run_with_constants, t, xorshift_bytes};

    /// A direct (no im2col) integer convolution for checking, 2-D only.
    #[allow(clippy::too_many_arguments)]
    fn direct(x: &[i32], xs: [usize; 4], w: &[i32], ws: [usize; 4], pads: [usize; 4], s: [usize; 2], d: [usize; 2], g: usize) -> Vec<i32> {
        let [n, c, h, wd] = xs;
        let [m, cg, kh, kw] = ws;
        let oh = (h + pads[0] + pads[2] - ((kh - 1) * d[0] + 1)) / s[0] + 1;
        let ow = (wd + pads[1] + pads[3] - ((kw - 1) * d[1] + 1)) / s[1] + 1;
        let mut out = vec![0; n * m * oh * ow];
        for ni in 0..n {
            for mi in 0..m {
                let gi = mi / (m / g);
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0;
                        for ci in 0..cg {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let y = (oy * s[0] + ky * d[0]) as isize - pads[0] as isize;
                                    let xx = (ox * s[1] + kx * d[1]) as isize - pads[1] as isize;
                                    if y < 0 || xx < 0 || y >= h as isize || xx >= wd as isize {
                                        continue;
                                    }
                                    let xc = gi * cg + ci;
                                    acc += x[((ni * c + xc) * h + y as usize) * wd + xx as usize]
                                        * w[((mi * cg + ci) * kh + ky) * kw + kx];
                                }
                            }
                        }
                        out[((ni * m + mi) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv_integer_grouped_strided_dilated_matches_direct() {
        let xs = [2usize, 4, 6, 7];
        let ws = [6usize, 2, 3, 2];
        let x: Vec<u8> = (0..xs.iter().product::<usize>()).map(|i| (i * 37 % 251) as u8).collect();
        let w: Vec<i8> = (0..ws.iter().product::<usize>()).map(|i| ((i * 53 % 255) as i32 - 127) as i8).collect();
        let attrs = [
            ("group", Attr::Int(2)),
            ("pads", Attr::Ints(vec![1, 0, 2, 1])),
            ("strides", Attr::Ints(vec![2, 1])),
            ("dilations", Attr::Ints(vec![1, 2])),
        ];
        let y = run("ConvInteger", 10, &attrs, &[t(&xs, x.clone()), t(&ws, w.clone()), t(&[], vec![3u8]), t(&[6], vec![0i8, 1, 2, 3, 4, 5])])
            .unwrap();
        let xc: Vec<i32> = x.iter().map(|&v| v as i32 - 3).collect();
        let wc: Vec<i32> = w.iter().enumerate().map(|(i, &v)| v as i32 - (i / (2 * 3 * 2)) as i32).collect();
        let want = direct(&xc, xs, &wc, ws, [1, 0, 2, 1], [2, 1], [1, 2], 2);
        let Tensor::I32(got) = &y[0] else { panic!("not int32") };
        assert_eq!(got.iter().copied().collect::<Vec<_>>(), want);
        assert_eq!(y[0].shape(), &[2, 6, 4, 6]);
    }

    #[test]
    fn qlinear_conv_per_channel_with_bias() {
        // 1x1 conv, 2 output channels: y[m] = round((x - 1) * w[m] * 0.5 * ws[m] / 0.25 + b[m]...)
        let x = t(&[1, 1, 1, 3], vec![1u8, 2, 5]);
        let w = t(&[2, 1, 1, 1], vec![2i8, -3]);
        let y = run(
            "QLinearConv",
            10,
            &[],
            &[
                x,
                t(&[], vec![0.5f32]),
                t(&[], vec![1u8]),
                w,
                t(&[2], vec![1.0f32, 0.5]),
                t(&[2], vec![0i8, 0]),
                t(&[], vec![0.25f32]),
                t(&[], vec![10i8]),
                t(&[2], vec![1i32, -1]),
            ],
        )
        .unwrap();
        // ch0: acc = (x-1)*2 + 1 = [1, 3, 9], M = 2 → [2, 6, 18] + 10
        // ch1: acc = (x-1)*-3 - 1 = [-1, -4, -13], M = 1 → [-1, -4, -13] + 10
        assert_eq!(y[0], Tensor::from_vec(&[1, 2, 1, 3], vec![12i8, 16, 28, 9, 6, -3]).unwrap());
    }

    /// The GEMM path (weights as inputs, and as constants prepacked at build time) against the
    /// reference loops on grouped, padded, strided, dilated and pointwise convs, every signedness,
    /// per-tensor and per-channel zero points and scales.
    #[test]
    fn gemm_path_matches_reference_path() {
        // (n, c, m, input hw, kernel, pads, strides, dilations); the group from the case index.
        type Shape = (usize, usize, usize, [usize; 2], [usize; 2], [usize; 4], [usize; 2], [usize; 2]);
        let shapes: [Shape; 6] = [
            (1, 6, 10, [7, 9], [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
            (2, 4, 8, [6, 5], [1, 1], [0, 0, 0, 0], [1, 1], [1, 1]),
            (1, 6, 12, [9, 7], [3, 2], [0, 2, 1, 0], [2, 1], [1, 2]),
            (1, 8, 13, [5, 5], [1, 1], [0, 0, 0, 0], [2, 2], [1, 1]),
            (2, 3, 7, [11, 4], [5, 1], [2, 0, 2, 0], [1, 1], [1, 1]),
            (1, 16, 24, [4, 4], [3, 3], [1, 1, 1, 1], [1, 1], [1, 1]),
        ];
        for (case, &(n, c, m, hw, kk, pads, strides, dil)) in shapes.iter().enumerate() {
            let group = if case % 2 == 1 && c % 2 == 0 && m % 2 == 0 { 2 } else { 1 };
            let (cg, sx, sy) = (c / group, case % 3 != 0, case % 2 == 0);
            let (xs, ws) = ([n, c, hw[0], hw[1]], [m, cg, kk[0], kk[1]]);
            let x = q8_tensor(&xs, xorshift_bytes(xs.iter().product(), case as u32 + 1), sx);
            let w = q8_tensor(&ws, xorshift_bytes(ws.iter().product(), case as u32 + 7), case % 4 < 2);
            let w_signed = w.dtype() == DType::I8;
            let zp = |v: i32, signed: bool| if signed { Tensor::scalar(v as i8) } else { Tensor::scalar(v as u8) };
            let x_zp = zp(if sx { -3 } else { 131 }, sx);
            let w_zp = if case % 3 == 1 {
                let v: Vec<u8> = (0..m).map(|i| (i * 37 % 256) as u8).collect();
                q8_tensor(&[m], v, w_signed)
            } else {
                zp(if w_signed { 0 } else { 128 }, w_signed)
            };
            let w_scale: Vec<f32> = (0..m).map(|i| 0.002 + 0.0007 * i as f32).collect();
            let bias: Vec<i32> = (0..m as i32).map(|i| i * 911 - 4000).collect();
            let y_zp = zp(if sy { 5 } else { 120 }, sy);
            let attrs = [
                ("group", Attr::Int(group as i64)),
                ("pads", Attr::Ints(pads.iter().map(|&p| p as i64).collect())),
                ("strides", Attr::Ints(strides.iter().map(|&p| p as i64).collect())),
                ("dilations", Attr::Ints(dil.iter().map(|&p| p as i64).collect())),
            ];
            // The reference: the fallback's own arithmetic.
            let conv_attrs = ConvAttrs {
                window: WindowAttrs {
                    pads: Some(pads.to_vec()),
                    strides: Some(strides.to_vec()),
                    dilations: Some(dil.to_vec()),
                    ..Default::default()
                },
                group,
            };
            let (xv, wv) = centered_operands(&x, Some(&x_zp), &w, Some(&w_zp)).unwrap();
            let (shape, acc) = conv_i32(&conv_attrs, &xv, &xs, &wv, &ws, None).unwrap();
            let (_, acc_b) = conv_i32(&conv_attrs, &xv, &xs, &wv, &ws, Some(&bias)).unwrap();
            let out_size: usize = shape[2..].iter().product();
            let (x_scale, y_scale) = (0.02f32, 0.05f32);
            let want = quantized_tensor(y_zp.dtype(), &shape, acc_b.len(), |i| {
                let mi = (i / out_size) % m;
                let zy = if sy { 5 } else { 120 };
                quant_math::scale_accumulator(acc_b[i] as i64, x_scale * w_scale[mi] / y_scale).saturating_add(zy)
            })
            .unwrap();
            let inputs = [
                Some(x.clone()),
                t(&[], vec![x_scale]),
                Some(x_zp.clone()),
                Some(w.clone()),
                t(&[m], w_scale.clone()),
                Some(w_zp.clone()),
                t(&[], vec![y_scale]),
                Some(y_zp.clone()),
                t(&[m], bias.clone()),
            ];
            for constant in [&[][..], &[3, 4, 5, 8]] {
                let y = run_with_constants("QLinearConv", 10, &attrs, &inputs, constant).unwrap();
                assert_eq!(y[0], want, "QLinearConv case {case}, constants {constant:?}");
                let ci = [Some(x.clone()), Some(w.clone()), Some(x_zp.clone()), Some(w_zp.clone())];
                let constant_ci: Vec<usize> = constant.iter().map(|&i| if i == 3 { 1 } else { 3 }).take(2).collect();
                let y = run_with_constants("ConvInteger", 10, &attrs, &ci, &constant_ci).unwrap();
                assert_eq!(y[0], Tensor::from_vec(&shape, acc.clone()).unwrap(), "ConvInteger case {case}");
            }
        }
    }

    #[test]
    fn conv_errors_name_shapes() {
        let x = t(&[1, 3, 4, 4], vec![0u8; 48]);
        let w = t(&[2, 2, 3, 3], vec![0u8; 36]);
        let e = run("ConvInteger", 10, &[], &[x.clone(), w]).unwrap_err();
        assert!(e.to_string().contains("[2, 2, 3, 3]"), "{e}");
        let w = t(&[2, 3, 5, 5], vec![0u8; 150]);
        assert!(run("ConvInteger", 10, &[], &[x.clone(), w]).is_err());
        let w = t(&[2, 3, 3, 3], vec![0u8; 54]);
        assert!(run("ConvInteger", 10, &[], &[x.clone(), w.clone(), t(&[2], vec![0u8, 0])]).is_err());
        assert!(run("ConvInteger", 10, &[("group", Attr::Int(0))], &[x, w]).is_err());
    }
}
