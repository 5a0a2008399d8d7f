//! ConvInteger and QLinearConv: grouped N-d convolution of 8-bit integers with an i32
//! accumulator; QLinearConv adds an int32 bias and requantizes with
//! `x_scale * w_scale[m] / y_scale` per output channel `m` (see [`crate::quant_math`]).
//!
//! Requantization: `quant_math::scale_accumulator` (the product in f32, as onnxruntime).
//!
//! Geometry (pads, strides, dilations, groups, auto_pad) and the column unfolding come from
//! [`crate::ops::conv_geometry`]: the input minus its zero point is unfolded with padding 0 (so
//! padding reads the zero point, i.e. real 0), then each group is a plain i32 GEMM
//! `W[Mg, Cg·k] × cols[Cg·k, out]` — the oracle of the SIMD conv kernels.
//!
//! `x_zero_point` is per tensor; `w_zero_point` and `w_scale` are per tensor or per output
//! channel (`[M]`). `x` and `w` may each be uint8 or int8.
use super::{float_values, int_values, quantized_tensor, FloatKind};
use crate::error::{Error, Result};
use crate::ops::conv_geometry::{im2col, WindowAttrs};
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

/// The integer convolution: `x` and `w` already minus their zero points. Returns the output
/// shape `[N, M, out...]` and the i32 accumulators (plus `bias[m]` when given).
fn conv_i32(
    attrs: &ConvAttrs,
    x: &[i32],
    x_shape: &[usize],
    w: &[i32],
    w_shape: &[usize],
    bias: Option<&[i32]>,
) -> Result<(Vec<usize>, Vec<i32>)> {
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
    let mg = m / g;
    let ks = geo.kernel_size();
    let out_size = geo.output_size();
    let in_size = geo.input_size();
    let rows = cg * ks;
    let mut out_shape = vec![n, m];
    out_shape.extend(&geo.output);
    let total = checked_numel(&out_shape, DType::I32)?;
    let col_len = checked_numel(&[rows, out_size], DType::I32)?;
    let mut cols = vec![0i32; col_len];
    let mut out = vec![0i32; total];
    for ni in 0..n {
        for gi in 0..g {
            let xs = &x[(ni * c + gi * cg) * in_size..][..cg * in_size];
            im2col(&geo, xs, cg, 0, &mut cols)?;
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
    Ok((out_shape, out))
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
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let w = required(inputs, 1, "w")?;
        let (xv, wv) = centered_operands(x, optional(inputs, 2), w, optional(inputs, 3))?;
        let (shape, acc) = conv_i32(&attrs, &xv, x.shape(), &wv, w.shape(), None)?;
        Ok(vec![Tensor::from_vec(&shape, acc)?])
    })))
}

fn qlinear_conv(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = conv_attrs(ctx)?;
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
        let (xv, wv) = centered_operands(x, optional(inputs, 2), w, optional(inputs, 5))?;
        let (shape, acc) = conv_i32(&attrs, &xv, x.shape(), &wv, w.shape(), bias.as_deref())?;
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
        let mult: Vec<f64> = sw.iter().map(|&s| kind.div(kind.mul(sx, s), sy)).collect();
        let (out_type, zy) = match y_zp {
            Some(z) => (z.dtype(), scalar_zero_point(Some(z), z, "y_zero_point", "y_zero_point")?),
            None => (x.dtype(), 0),
        };
        let out_size: usize = shape[2..].iter().product();
        let y = quantized_tensor(out_type, &shape, acc.len(), |i| {
            let mi = if out_size == 0 || m == 0 { 0 } else { (i / out_size) % m };
            quant_math::scale_accumulator(acc[i] as i64, mult[mi] as f32).saturating_add(zy as i64)
        })?;
        Ok(vec![y])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::run;

    fn t<T: crate::tensor::Elem>(shape: &[usize], v: Vec<T>) -> Option<Tensor> {
        Some(Tensor::from_vec(shape, v).unwrap())
    }

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
