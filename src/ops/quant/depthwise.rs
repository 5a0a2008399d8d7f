//! QLinearConv's depthwise branch: a 2-D conv whose groups each hold one input and one output
//! channel (`group == C == M`, W `[C, 1, kh, kw]`, x and w uint8 or int8, y uint8 or int8) runs
//! the direct 8-bit kernel [`crate::kernels::qdwconv`] instead of im2col + GEMM. Same
//! arithmetic as the reference path in `conv` (i32 accumulator of the centered operands plus
//! the bias, multiplier `x_scale · w_scale[m] / y_scale` formed in the scales' float type then
//! taken as f32, [`crate::quant_math::requantize`] with the product in f32), bit for bit.
//!
//! Constant weights (with constant or absent zero points) are packed when the plan is built,
//! and their kernels chosen then (`select::dwconv_q8`); weights given at run time are packed,
//! and their kernels chosen, once per run.
//! Anything this branch does not handle, including every malformed input, returns `None` so
//! the reference path runs and reports errors in one place.
use super::{float_values, int_values, FloatKind};
use crate::error::Result;
use crate::kernels::q8::{Requant, Q8};
use crate::kernels::qdwconv::{dwconv2d_q8, regular_taps, Pairing, QDwKernels, QDwScratch, QDwWeights};
use crate::kernels::select;
use crate::ops::conv_geometry::WindowAttrs;
use crate::ops::registry::BuildContext;
use crate::tensor::{checked_numel, DType, Tensor};
use ndarray::ArrayD;

/// The depthwise branch of one QLinearConv node.
pub(super) struct DepthwiseQConv {
    window: WindowAttrs,
    group: usize,
    pairing: Pairing,
    /// Whether the column stride and dilation suit the unrolled kernels ([`regular_taps`]).
    regular: bool,
    /// Weights packed at build time (constant `w` and `w_zero_point`) with their kernels.
    packed: Option<(QDwWeights, QDwKernels)>,
}

/// An optional 8-bit input's values as i32 (any shape), if it has `dtype`.
fn values_of(t: Option<&Tensor>, dtype: DType) -> Option<Option<Vec<i32>>> {
    match t {
        None => Some(None),
        Some(t) if t.dtype() == dtype => int_values(t, "").ok().map(Some),
        Some(_) => None,
    }
}

/// `w_zero_point` expanded to one value per channel (absent: 0).
fn weight_zero_points(w: &Tensor, zp: Option<&Tensor>, m: usize) -> Option<Vec<i32>> {
    match values_of(zp, w.dtype())? {
        None => Some(vec![0; m]),
        Some(v) if v.len() == 1 => Some(vec![v[0]; m]),
        Some(v) if zp.map(|z| z.shape().len()) == Some(1) && v.len() == m => Some(v),
        Some(_) => None,
    }
}

/// The weights packed for `pairing`, with the kernels for their shape (`regular`: see
/// [`regular_taps`]).
fn pack(w: &Tensor, zp: Option<&Tensor>, pairing: Pairing, regular: bool) -> Option<(QDwWeights, QDwKernels)> {
    let s = w.shape();
    if s.len() != 4 || s[1] != 1 {
        return None;
    }
    let zps = weight_zero_points(w, zp, s[0])?;
    let packed = match w {
        Tensor::U8(a) => QDwWeights::pack(&crate::ops::matmul::row_major(a), &zps, s[0], s[2], s[3], pairing).ok(),
        Tensor::I8(a) => QDwWeights::pack(&crate::ops::matmul::row_major(a), &zps, s[0], s[2], s[3], pairing).ok(),
        _ => None,
    }?;
    let kernels = select::dwconv_q8(packed.kh, packed.kw, pairing, regular);
    Some((packed, kernels))
}

impl DepthwiseQConv {
    /// The branch for a node with `group > 1` and 2-D attributes (else `None`).
    pub(super) fn build(ctx: &BuildContext, window: &WindowAttrs, group: usize) -> Option<DepthwiseQConv> {
        let second = |v: &Option<Vec<usize>>| v.as_ref().map_or(Some(1), |v| if v.len() == 2 { Some(v[1]) } else { None });
        if group < 2 {
            return None;
        }
        let (sw, dw) = (second(&window.strides)?, second(&window.dilations)?);
        let pairing = Pairing::for_columns(sw, dw);
        let regular = regular_taps(pairing, sw, dw);
        let packed = match (ctx.constant_input(3), ctx.node.input(5).is_none(), ctx.constant_input(5)) {
            (Some(w), true, _) => pack(w, None, pairing, regular),
            (Some(w), false, Some(zp)) => pack(w, Some(zp), pairing, regular),
            _ => None,
        };
        Some(DepthwiseQConv { window: window.clone(), group, pairing, regular, packed })
    }

    /// Runs QLinearConv's inputs through the depthwise kernel, or returns `None` when this
    /// branch does not apply.
    pub(super) fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Option<Tensor>> {
        let Some(plan) = self.plan(inputs) else { return Ok(None) };
        Ok(Some(match (inputs[0], plan.out_type) {
            (Some(Tensor::U8(x)), DType::U8) => self.run_typed::<u8, u8>(x, &plan)?,
            (Some(Tensor::U8(x)), DType::I8) => self.run_typed::<u8, i8>(x, &plan)?,
            (Some(Tensor::I8(x)), DType::U8) => self.run_typed::<i8, u8>(x, &plan)?,
            (Some(Tensor::I8(x)), DType::I8) => self.run_typed::<i8, i8>(x, &plan)?,
            _ => return Ok(None),
        }))
    }

    /// Everything but the data, read and checked; `None` if the branch does not apply.
    fn plan(&self, inputs: &[Option<&Tensor>]) -> Option<Plan> {
        let get = |i: usize| inputs.get(i).copied().flatten();
        let (x, w) = (get(0)?, get(3)?);
        let (xs, ws) = (x.shape(), w.shape());
        let xt = x.dtype();
        if !matches!(xt, DType::U8 | DType::I8) || !matches!(w.dtype(), DType::U8 | DType::I8) {
            return None;
        }
        if xs.len() != 4 || ws.len() != 4 || xs[1] != self.group || ws[0] != self.group || ws[1] != 1 {
            return None;
        }
        let m = ws[0];
        let x_zp = match values_of(get(2), xt)? {
            None => 0,
            Some(v) if v.len() == 1 => v[0],
            Some(_) => return None,
        };
        let (out_type, y_zp) = match get(7) {
            None => (xt, 0),
            Some(z) if matches!(z.dtype(), DType::U8 | DType::I8) && z.len() == 1 => (z.dtype(), int_values(z, "").ok()?[0]),
            Some(_) => return None,
        };
        let (kx, sx) = float_values(get(1)?, "").ok()?;
        let (kw, sw) = float_values(get(4)?, "").ok()?;
        let (ky, sy) = float_values(get(6)?, "").ok()?;
        let (&[sx], &[sy]) = (sx.as_slice(), sy.as_slice()) else { return None };
        let sw = match sw.len() {
            1 => vec![sw[0]; m],
            n if n == m && get(4)?.shape().len() == 1 => sw,
            _ => return None,
        };
        let kind: FloatKind = kx.max(kw).max(ky);
        let mult = sw.iter().map(|&s| kind.div(kind.mul(sx, s), sy)).collect();
        let bias = match get(8) {
            None => vec![0; m],
            Some(b) if b.shape() == [m] => b.array::<i32>().ok()?.iter().copied().collect(),
            Some(_) => return None,
        };
        let kernel = self.window.kernel(Some(&ws[2..])).ok()?;
        let geo = self.window.resolve(&xs[2..], &kernel).ok()?;
        let (g, _) = geo.plane_2d()?;
        let weights = match &self.packed {
            Some((p, _)) if (p.channels, p.kh, p.kw) == (m, g.kh, g.kw) => None,
            _ => Some(pack(w, get(5), self.pairing, self.regular)?),
        };
        Some(Plan { g, n: xs[0], m, x_zp, y_zp, out_type, mult, bias, weights })
    }

    fn run_typed<X: Q8 + crate::tensor::Elem, Y: Q8 + crate::tensor::Elem>(&self, x: &ArrayD<X>, p: &Plan) -> Result<Tensor> {
        let (w, kernels) = p.weights.as_ref().or(self.packed.as_ref()).ok_or_else(|| crate::Error::invalid("depthwise weights"))?;
        let g = &p.g;
        let shape = [p.n, p.m, g.oh, g.ow];
        let mut out = vec![Y::default(); checked_numel(&shape, Y::DTYPE)?];
        let xd = crate::ops::matmul::row_major(x);
        let (in_sz, out_sz) = (p.m * g.ih * g.iw, p.m * g.oh * g.ow);
        let rq: Vec<Requant> = p.mult.iter().map(|&m| Requant::new::<Y>(m as f32, p.y_zp)).collect();
        let mut scratch = QDwScratch::default();
        for (img, o) in out.chunks_exact_mut(out_sz.max(1)).enumerate().take(p.n) {
            dwconv2d_q8(kernels, g, &xd[img * in_sz..][..in_sz], p.x_zp, w, &p.bias, &rq, o, &mut scratch)?;
        }
        Tensor::from_vec(&shape, out)
    }
}

/// A run's parameters.
struct Plan {
    g: crate::kernels::dwconv::Dw2d,
    n: usize,
    m: usize,
    x_zp: i32,
    y_zp: i32,
    out_type: DType,
    mult: Vec<f64>,
    bias: Vec<i32>,
    /// Weights packed for this run (when not packed at build time), with their kernels.
    weights: Option<(QDwWeights, QDwKernels)>,
}

#[cfg(test)]
mod tests {
    use crate::graph::Attr;
    use crate::ops::quant::test_util::{run_with_constants, t, xorshift};
    use crate::tensor::{Elem, Tensor};

    /// QLinearConv (opset 10) with `attrs`; inputs in `constant` become initializers (so the op
    /// may prepack them); runs it once.
    fn run(attrs: &[(&str, Attr)], inputs: &[Option<Tensor>], constant: &[usize]) -> Vec<Tensor> {
        run_with_constants("QLinearConv", 10, attrs, inputs, constant).unwrap()
    }


    /// The depthwise branch against the reference path on the same conv written densely
    /// (group 1, off-diagonal weights at their channel's zero point, i.e. real 0).
    fn check<X: Elem + crate::quant_math::QInt, W: Elem + crate::quant_math::QInt>(k: usize, stride: usize, pads: [i64; 4], y_signed: bool) {
        let (c, h, wd) = (5usize, 9usize, 11usize);
        let x: Vec<X> = xorshift(c * h * wd, 1, |s| X::from_i32_in_range(X::MIN + (s % 256) as i32));
        let w: Vec<W> = xorshift(c * k * k, 2, |s| W::from_i32_in_range(W::MIN + (s % 256) as i32));
        let w_zp: Vec<W> = (0..c).map(|m| W::from_i32_in_range(if m % 2 == 0 { W::MIN + 128 } else { W::MAX })).collect();
        let w_scale: Vec<f32> = (0..c).map(|m| 0.002 + 0.001 * m as f32).collect();
        let bias: Vec<i32> = xorshift(c, 3, |s| (s % 20001) as i32 - 10000);
        let y_zp = if y_signed { t(&[], vec![-3i8]) } else { t(&[], vec![131u8]) };
        let x_zp = t(&[], vec![X::from_i32_in_range(X::MIN + 128)]);
        let mut dense = Vec::with_capacity(c * c * k * k);
        for m in 0..c {
            for ci in 0..c {
                for i in 0..k * k {
                    dense.push(if ci == m { w[m * k * k + i] } else { w_zp[m] });
                }
            }
        }
        let inputs = |w: Option<Tensor>| {
            vec![
                t(&[1, c, h, wd], x.clone()),
                t(&[], vec![0.05f32]),
                x_zp.clone(),
                w,
                t(&[c], w_scale.clone()),
                t(&[c], w_zp.clone()),
                t(&[], vec![0.07f32]),
                y_zp.clone(),
                t(&[c], bias.clone()),
            ]
        };
        let attrs = |g: i64| {
            vec![("group", Attr::Int(g)), ("strides", Attr::Ints(vec![stride as i64; 2])), ("pads", Attr::Ints(pads.to_vec()))]
        };
        let want = run(&attrs(1), &inputs(t(&[c, c, k, k], dense)), &[]);
        let per_run = run(&attrs(c as i64), &inputs(t(&[c, 1, k, k], w.clone())), &[]);
        let packed = run(&attrs(c as i64), &inputs(t(&[c, 1, k, k], w.clone())), &[3, 5]);
        assert_eq!(per_run, want, "k={k} s={stride} pads={pads:?}");
        assert_eq!(packed, want, "k={k} s={stride} pads={pads:?} (prepacked)");
    }

    #[test]
    fn depthwise_branch_matches_the_reference_path() {
        for (k, s, pads) in [(3, 1, [1, 1, 1, 1]), (5, 2, [2, 2, 2, 2]), (3, 2, [0, 0, 1, 1]), (1, 1, [0, 0, 0, 0]), (5, 1, [2, 1, 2, 3])] {
            check::<u8, i8>(k, s, pads, false);
            check::<i8, i8>(k, s, pads, true);
            check::<u8, u8>(k, s, pads, true);
        }
    }
}
