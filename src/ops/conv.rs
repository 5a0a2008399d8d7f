//! Convolutions: Conv and ConvTranspose, N-d (1-D, 2-D, 3-D, ...), with groups, dilations,
//! pads and auto_pad (geometry in [`super::conv_geometry`]).
//!
//! Conv, per image and group: `Y_g[M/g, out] = W_g[M/g, C/g * k] x im2col(X_g)[C/g * k, out] + B`
//! through [`crate::kernels::sgemm`]; a 1x1 stride-1 unpadded conv multiplies X directly (no
//! im2col). 2-D depthwise convs (one input and one output channel per group) run the direct
//! kernel [`crate::kernels::dwconv`]. Constant weights are packed when the plan is built.
//!
//! ConvTranspose, per image and group: `cols = W_g^T x X_g` then [`col2im_add`] scatters the
//! columns into the output (the adjoint of Conv's im2col), then the bias.
//!
//! float32 is native; float16 and float64 are computed in float32.
//!
//! `com.microsoft.FusedConv` (onnxruntime's contrib op, the target of a Conv + Relu/Clip fusion
//! pass) is Conv with its activation applied as the kernels' clamp, saving a pass over the
//! output; `activation` = "Relu" or "Clip" (`activation_params` = [min, max]).
use super::conv_geometry::{col2im_add, im2col, AutoPad, Geometry, WindowAttrs};
use super::matmul::row_major;
use super::registry::{optional, required, BuildContext, FnOp, Op, QuantRule, Registry};
use crate::error::{Error, Result};
use crate::kernels::dwconv::{dwconv2d_f32, Dw2d, DwScratch};
use crate::kernels::select;
use crate::kernels::sgemm::{sgemm_ex, Bias, Epilogue, GemmKernels, Lhs, MatRef, PackedA, Rhs};
use crate::tensor::{checked_numel, DType, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "Conv", conv).quant(QuantRule::Conv);
    r.register("com.microsoft", "FusedConv", fused_conv);
    r.register("", "ConvTranspose", conv_transpose).quant(QuantRule::ConvTranspose);
}

/// Runs `f` in float32 for a float32, float16 or float64 X (W and B must have X's type).
fn in_f32(
    what: &str,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    f: impl FnOnce(&ArrayD<f32>, &ArrayD<f32>, Option<&ArrayD<f32>>) -> Result<ArrayD<f32>>,
) -> Result<Tensor> {
    for (name, t) in [("W", Some(w)), ("B", b)] {
        if let Some(t) = t {
            if t.dtype() != x.dtype() {
                return Err(Error::dtype(format!("{what}: X is {} but {name} is {}", x.dtype(), t.dtype())));
            }
        }
    }
    let to32 = |t: &Tensor| -> Result<ArrayD<f32>> {
        Ok(match t {
            Tensor::F16(a) => a.mapv(|v| v.to_f32()),
            Tensor::F64(a) => a.mapv(|v| v as f32),
            other => return Err(Error::dtype(format!("{what} does not support {} tensors", other.dtype()))),
        })
    };
    match x {
        Tensor::F32(xa) => {
            let b = b.map(|b| b.array::<f32>()).transpose()?;
            f(xa, w.array::<f32>()?, b).map(Tensor::F32)
        }
        Tensor::F16(_) | Tensor::F64(_) => {
            let b32 = b.map(to32).transpose()?;
            let y = f(&to32(x)?, &to32(w)?, b32.as_ref())?;
            Ok(if x.dtype() == DType::F16 { Tensor::F16(y.mapv(f16::from_f32)) } else { Tensor::F64(y.mapv(|v| v as f64)) })
        }
        other => Err(Error::dtype(format!("{what} does not support {} tensors", other.dtype()))),
    }
}

fn group_attr(ctx: &BuildContext) -> Result<usize> {
    let g = ctx.attrs().int_or("group", 1)?;
    if g < 1 {
        return Err(Error::invalid(format!("group = {g} must be >= 1")));
    }
    usize::try_from(g).map_err(|_| Error::invalid(format!("group = {g} is too large")))
}

fn output_vec(shape: &[usize]) -> Result<Vec<f32>> {
    Ok(vec![0f32; checked_numel(shape, DType::F32)?])
}

fn to_array(shape: &[usize], data: Vec<f32>) -> Result<ArrayD<f32>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::shape(e.to_string()))
}

/// Bias values (`m` of them) or an error naming the shapes.
fn bias_values(b: Option<&ArrayD<f32>>, m: usize) -> Result<Option<Vec<f32>>> {
    match b {
        None => Ok(None),
        Some(b) if b.ndim() == 1 && b.len() == m => Ok(Some(b.iter().copied().collect())),
        Some(b) => Err(Error::shape(format!("bias B has shape {:?} but the output has {m} channels", b.shape()))),
    }
}

// ---------------------------------------------------------------------------------------------
// Conv

/// Weights prepared at build time.
struct PreparedConv {
    w_shape: Vec<usize>,
    /// One packed A per group (the im2col + GEMM path).
    packed: Vec<PackedA>,
}

struct ConvOp {
    window: WindowAttrs,
    group: usize,
    /// The f32 GEMM kernels, chosen when the op is built.
    kernels: GemmKernels,
    prepared: Option<PreparedConv>,
    /// Fused activation (FusedConv; plain Conv has none).
    clamp: Option<(f32, f32)>,
}

fn conv(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    conv_with(ctx, None)
}

fn fused_conv(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let params = a.floats("activation_params")?.unwrap_or(&[]);
    let clamp = match a.string_or("activation", "")? {
        "" => None,
        "Relu" => Some((0.0, f32::INFINITY)),
        "Clip" => match params {
            [lo, hi] => Some((*lo, *hi)),
            _ => return Err(Error::invalid(format!("FusedConv Clip needs activation_params [min, max], got {params:?}"))),
        },
        other => return Err(Error::invalid(format!("FusedConv activation '{other}' is not supported (Relu and Clip are)"))),
    };
    if ctx.node.input(3).is_some() {
        return Err(Error::invalid("FusedConv with a Z (sum) input is not supported"));
    }
    conv_with(ctx, clamp)
}

fn conv_with(ctx: &BuildContext, clamp: Option<(f32, f32)>) -> Result<Box<dyn Op>> {
    let window = WindowAttrs::from_attrs(ctx.attrs())?;
    let group = group_attr(ctx)?;
    let mut op = ConvOp { window, group, kernels: select::gemm_f32(), prepared: None, clamp };
    if let Some(Tensor::F32(w)) = ctx.constant_input(1) {
        op.prepared = op.prepare(w)?;
    }
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let w = required(inputs, 1, "W")?;
        let b = optional(inputs, 2);
        Ok(vec![in_f32("Conv", x, w, b, |x, w, b| op.run(x, w, b))?])
    })))
}

impl ConvOp {
    /// Packs constant weights per group, unless the conv will take the depthwise path.
    fn prepare(&self, w: &ArrayD<f32>) -> Result<Option<PreparedConv>> {
        let ws = w.shape();
        if ws.len() < 3 || ws[0] % self.group != 0 {
            return Ok(None); // reported with the input shapes at run time
        }
        let mg = ws[0] / self.group;
        let kdim: usize = ws[1..].iter().product();
        if ws.len() == 4 && ws[1] == 1 && mg == 1 {
            return Ok(None); // depthwise: direct kernel on the raw weights
        }
        let data = row_major(w);
        let packed = (0..self.group)
            .map(|g| Ok(PackedA::pack(MatRef::row_major(&data[g * mg * kdim..(g + 1) * mg * kdim], mg, kdim)?, &self.kernels)?))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(PreparedConv { w_shape: ws.to_vec(), packed }))
    }

    fn run(&self, x: &ArrayD<f32>, w: &ArrayD<f32>, b: Option<&ArrayD<f32>>) -> Result<ArrayD<f32>> {
        let (xs, ws) = (x.shape(), w.shape());
        if xs.len() < 3 || ws.len() != xs.len() {
            return Err(Error::shape(format!(
                "Conv needs X of rank >= 3 and W of the same rank, got X {xs:?} and W {ws:?}"
            )));
        }
        let (n, c, m, cg) = (xs[0], xs[1], ws[0], ws[1]);
        let group = self.group;
        if cg.checked_mul(group) != Some(c) {
            return Err(Error::shape(format!(
                "X {xs:?} has {c} channels but W {ws:?} with group = {group} expects {}",
                cg.saturating_mul(group)
            )));
        }
        if m % group != 0 {
            return Err(Error::shape(format!("W {ws:?} has {m} output channels, not a multiple of group = {group}")));
        }
        let kernel = self.window.kernel(Some(&ws[2..]))?;
        let geo = self.window.resolve(&xs[2..], &kernel)?;
        let bias = bias_values(b, m)?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geo.output);
        let mut out = output_vec(&out_shape)?;
        let x_data = row_major(x);
        let w_data = row_major(w);
        let mg = m / group;
        if geo.rank() == 2 && cg == 1 && mg == 1 {
            self.run_depthwise(&geo, &x_data, &w_data, bias.as_deref(), n, c, &mut out)?;
            return to_array(&out_shape, out);
        }
        let (in_sz, out_sz) = (geo.input_size(), geo.output_size());
        let kdim = cg * geo.kernel_size();
        let pointwise = geo.is_pointwise();
        let mut col = if pointwise { Vec::new() } else { output_vec(&[kdim, out_sz])? };
        let packed = self.prepared.as_ref().filter(|p| p.w_shape == ws).map(|p| &p.packed);
        for img in 0..n {
            for g in 0..group {
                let xin = &x_data[(img * c + g * cg) * in_sz..(img * c + (g + 1) * cg) * in_sz];
                let rhs = if pointwise {
                    MatRef::row_major(xin, cg, in_sz)?
                } else {
                    im2col(&geo, xin, cg, 0.0, &mut col)?;
                    MatRef::row_major(&col, kdim, out_sz)?
                };
                let lhs = match packed {
                    Some(p) => Lhs::Packed(&p[g]),
                    None => Lhs::Mat(MatRef::row_major(&w_data[g * mg * kdim..(g + 1) * mg * kdim], mg, kdim)?),
                };
                let ep = Epilogue {
                    accumulate: false,
                    bias: bias.as_ref().map_or(Bias::None, |b| Bias::Row(&b[g * mg..(g + 1) * mg])),
                    clamp: self.clamp,
                };
                let dst = &mut out[(img * m + g * mg) * out_sz..(img * m + (g + 1) * mg) * out_sz];
                sgemm_ex(&self.kernels, lhs, Rhs::Mat(rhs), dst, out_sz, &ep)?;
            }
        }
        to_array(&out_shape, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_depthwise(
        &self,
        geo: &Geometry,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        n: usize,
        c: usize,
        out: &mut [f32],
    ) -> Result<()> {
        let p = Dw2d {
            ih: geo.input[0],
            iw: geo.input[1],
            kh: geo.kernel[0],
            kw: geo.kernel[1],
            sh: geo.strides[0],
            sw: geo.strides[1],
            dh: geo.dilations[0],
            dw: geo.dilations[1],
            ph: geo.pads_begin[0],
            pw: geo.pads_begin[1],
            oh: geo.output[0],
            ow: geo.output[1],
        };
        let (in_sz, out_sz, ks) = (p.ih * p.iw, p.oh * p.ow, p.kh * p.kw);
        let mut scratch = DwScratch::default();
        for img in 0..n {
            for ch in 0..c {
                let plane = img * c + ch;
                dwconv2d_f32(
                    &p,
                    &x[plane * in_sz..(plane + 1) * in_sz],
                    &w[ch * ks..(ch + 1) * ks],
                    bias.map_or(0.0, |b| b[ch]),
                    &mut out[plane * out_sz..(plane + 1) * out_sz],
                    self.clamp,
                    &mut scratch,
                )?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// ConvTranspose

struct ConvTransposeOp {
    window: WindowAttrs,
    group: usize,
    output_padding: Option<Vec<usize>>,
    output_shape: Option<Vec<usize>>,
    /// The f32 GEMM kernels, chosen when the op is built.
    kernels: GemmKernels,
    /// Constant weights: `(W shape, per group W_g^T packed)`.
    prepared: Option<(Vec<usize>, Vec<PackedA>)>,
}

fn non_negative(ctx: &BuildContext, name: &str) -> Result<Option<Vec<usize>>> {
    ctx.attrs()
        .ints(name)?
        .map(|v| {
            v.iter()
                .map(|&x| usize::try_from(x).map_err(|_| Error::invalid(format!("attribute '{name}' = {v:?} must be >= 0"))))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()
}

fn conv_transpose(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let mut op = ConvTransposeOp {
        window: WindowAttrs::from_attrs(ctx.attrs())?,
        group: group_attr(ctx)?,
        output_padding: non_negative(ctx, "output_padding")?,
        output_shape: non_negative(ctx, "output_shape")?,
        kernels: select::gemm_f32(),
        prepared: None,
    };
    if let Some(Tensor::F32(w)) = ctx.constant_input(1) {
        let ws = w.shape();
        if ws.len() >= 3 && ws[0] % op.group == 0 {
            let cg = ws[0] / op.group;
            let cols: usize = ws[1..].iter().product();
            let data = row_major(w);
            let packed = (0..op.group)
                .map(|g| Ok(PackedA::pack(MatRef::row_major(&data[g * cg * cols..(g + 1) * cg * cols], cg, cols)?.t(), &op.kernels)?))
                .collect::<Result<Vec<_>>>()?;
            op.prepared = Some((ws.to_vec(), packed));
        }
    }
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let w = required(inputs, 1, "W")?;
        let b = optional(inputs, 2);
        Ok(vec![in_f32("ConvTranspose", x, w, b, |x, w, b| op.run(x, w, b))?])
    })))
}

impl ConvTransposeOp {
    /// The forward-conv geometry whose adjoint this ConvTranspose is: `input` = our output's
    /// spatial shape, `output` = our input's.
    fn geometry(&self, input: &[usize], kernel: &[usize]) -> Result<Geometry> {
        let nd = input.len();
        if kernel.len() != nd {
            return Err(Error::shape(format!("kernel {kernel:?} and input spatial shape {input:?} differ in rank")));
        }
        let (strides, dilations, mut pb, mut pe) = self.window.expand(nd)?;
        let op = match &self.output_padding {
            None => vec![0; nd],
            Some(v) if v.len() == nd => v.clone(),
            Some(v) => {
                return Err(Error::shape(format!("output_padding {v:?} does not have {nd} values (input spatial {input:?})")))
            }
        };
        let target: Option<Vec<usize>> = match &self.output_shape {
            None => None,
            Some(v) if v.len() == nd => Some(v.clone()),
            Some(v) if v.len() == nd + 2 => Some(v[2..].to_vec()),
            Some(v) => return Err(Error::shape(format!("output_shape {v:?} does not have {nd} spatial values"))),
        };
        let mut out = vec![0usize; nd];
        for i in 0..nd {
            if input[i] == 0 {
                return Err(Error::shape(format!("input spatial shape {input:?} has a zero dim")));
            }
            let full = (input[i] - 1)
                .checked_mul(strides[i])
                .and_then(|v| v.checked_add(op[i]))
                .and_then(|v| v.checked_add((kernel[i].max(1) - 1).checked_mul(dilations[i])? + 1))
                .ok_or_else(|| Error::too_large("ConvTranspose output size overflows"))?;
            let target_i = match (&target, self.window.auto_pad) {
                (Some(t), _) => Some(t[i]),
                (None, AutoPad::SameUpper | AutoPad::SameLower) => Some(input[i].saturating_mul(strides[i])),
                _ => None,
            };
            match target_i {
                Some(t) => {
                    // total padding = full - t, split as the spec says (floor division, so a
                    // negative total -- an output larger than the input reaches -- pads the
                    // end with zeros).
                    let total = full as i64 - t as i64;
                    let half = total.div_euclid(2);
                    let (b, e) = if self.window.auto_pad == AutoPad::SameUpper { (half, total - half) } else { (total - half, half) };
                    if b < 0 {
                        return Err(Error::shape(format!(
                            "ConvTranspose output size {t} (dim {i}) is larger than the {full} the input {input:?} reaches, with padding at the start"
                        )));
                    }
                    pb[i] = b as usize;
                    pe[i] = e.max(0) as usize;
                    out[i] = t;
                }
                None => {
                    if self.window.auto_pad == AutoPad::Valid {
                        pb[i] = 0;
                        pe[i] = 0;
                    }
                    let pads = pb[i] + pe[i];
                    if pads >= full {
                        return Err(Error::shape(format!(
                            "pads {:?}/{:?} remove the whole output (dim {i}: {full} before padding)",
                            pb, pe
                        )));
                    }
                    out[i] = full - pads;
                }
            }
        }
        Ok(Geometry {
            input: out,
            kernel: kernel.to_vec(),
            strides,
            dilations,
            pads_begin: pb,
            pads_end: pe,
            output: input.to_vec(),
        })
    }

    fn run(&self, x: &ArrayD<f32>, w: &ArrayD<f32>, b: Option<&ArrayD<f32>>) -> Result<ArrayD<f32>> {
        let (xs, ws) = (x.shape(), w.shape());
        if xs.len() < 3 || ws.len() != xs.len() {
            return Err(Error::shape(format!(
                "ConvTranspose needs X of rank >= 3 and W of the same rank, got X {xs:?} and W {ws:?}"
            )));
        }
        let (n, c, mg) = (xs[0], xs[1], ws[1]);
        let group = self.group;
        if ws[0] != c || c % group != 0 {
            return Err(Error::shape(format!(
                "X {xs:?} has {c} channels but W {ws:?} has {} input channels (group = {group})",
                ws[0]
            )));
        }
        let cg = c / group;
        let m = mg * group;
        let kernel = self.window.kernel(Some(&ws[2..]))?;
        let geo = self.geometry(&xs[2..], &kernel)?;
        let bias = bias_values(b, m)?;
        let mut out_shape = vec![n, m];
        out_shape.extend(&geo.input);
        let mut out = output_vec(&out_shape)?;
        let (in_sz, out_sz, ks) = (geo.output_size(), geo.input_size(), geo.kernel_size());
        let rows = mg * ks;
        let mut col = output_vec(&[rows, in_sz])?;
        let x_data = row_major(x);
        let w_data = row_major(w);
        let packed = self.prepared.as_ref().filter(|p| p.0 == ws).map(|p| &p.1);
        for img in 0..n {
            for g in 0..group {
                let xin = &x_data[(img * c + g * cg) * in_sz..(img * c + (g + 1) * cg) * in_sz];
                let lhs = match packed {
                    Some(p) => Lhs::Packed(&p[g]),
                    None => Lhs::Mat(MatRef::row_major(&w_data[g * cg * rows..(g + 1) * cg * rows], cg, rows)?.t()),
                };
                sgemm_ex(&self.kernels, lhs, Rhs::Mat(MatRef::row_major(xin, cg, in_sz)?), &mut col, in_sz, &Epilogue::default())?;
                let dst = &mut out[(img * m + g * mg) * out_sz..(img * m + (g + 1) * mg) * out_sz];
                col2im_add(&geo, &col, mg, dst)?;
            }
            if let Some(bias) = &bias {
                for (ch, plane) in out[img * m * out_sz..(img + 1) * m * out_sz].chunks_exact_mut(out_sz.max(1)).enumerate() {
                    plane.iter_mut().for_each(|v| *v += bias[ch]);
                }
            }
        }
        to_array(&out_shape, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(shape: &[usize], seed: usize) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| ((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0).collect()).unwrap()
    }

    /// Direct N-d convolution by definition (the oracle for the im2col and depthwise paths).
    fn conv_direct(x: &ArrayD<f32>, w: &ArrayD<f32>, b: Option<&ArrayD<f32>>, geo: &Geometry, group: usize) -> Vec<f32> {
        let (n, c, m) = (x.shape()[0], x.shape()[1], w.shape()[0]);
        let (cg, mg) = (c / group, m / group);
        let mut out = Vec::new();
        let nd = geo.rank();
        for img in 0..n {
            for oc in 0..m {
                let g = oc / mg;
                let mut opos = vec![0usize; nd];
                for _ in 0..geo.output_size() {
                    let mut acc = b.map_or(0.0, |b| b[[oc]]);
                    for ic in 0..cg {
                        let mut k = vec![0usize; nd];
                        for _ in 0..geo.kernel_size() {
                            let mut xi = vec![img, g * cg + ic];
                            let mut inside = true;
                            for d in 0..nd {
                                let p = (opos[d] * geo.strides[d] + k[d] * geo.dilations[d]) as isize - geo.pads_begin[d] as isize;
                                inside &= p >= 0 && (p as usize) < geo.input[d];
                                xi.push(p.max(0) as usize);
                            }
                            if inside {
                                let mut wi = vec![oc, ic];
                                wi.extend(&k);
                                acc += x[IxDyn(&xi)] * w[IxDyn(&wi)];
                            }
                            crate::ops::conv_geometry::increment(&mut k, &geo.kernel);
                        }
                    }
                    out.push(acc);
                    crate::ops::conv_geometry::increment(&mut opos, &geo.output);
                }
            }
        }
        out
    }

    #[test]
    fn conv_paths_match_direct() {
        let cases: Vec<(Vec<usize>, Vec<usize>, usize, WindowAttrs)> = vec![
            // depthwise 3x3 stride 2 pad 1
            (vec![1, 4, 9, 8], vec![4, 1, 3, 3], 4, WindowAttrs { strides: Some(vec![2, 2]), pads: Some(vec![1, 1, 1, 1]), ..Default::default() }),
            // depthwise 5x5 SAME
            (vec![2, 3, 7, 7], vec![3, 1, 5, 5], 3, WindowAttrs { auto_pad: AutoPad::SameUpper, ..Default::default() }),
            // grouped, dilated
            (vec![1, 4, 8, 9], vec![6, 2, 3, 2], 2, WindowAttrs { dilations: Some(vec![2, 1]), pads: Some(vec![0, 1, 2, 0]), ..Default::default() }),
            // pointwise
            (vec![2, 5, 4, 3], vec![7, 5, 1, 1], 1, WindowAttrs::default()),
            // 1-D and 3-D
            (vec![1, 3, 10], vec![2, 3, 3], 1, WindowAttrs { strides: Some(vec![3]), pads: Some(vec![1, 2]), ..Default::default() }),
            (vec![1, 2, 4, 5, 3], vec![3, 2, 2, 3, 2], 1, WindowAttrs { pads: Some(vec![1, 0, 1, 0, 1, 0]), ..Default::default() }),
            // depthwise with channel multiplier 2 (im2col path)
            (vec![1, 2, 5, 5], vec![4, 1, 3, 3], 2, WindowAttrs::default()),
        ];
        for (xs, ws, group, window) in cases {
            let x = arr(&xs, 1);
            let w = arr(&ws, 2);
            let b = arr(&[ws[0]], 3);
            let mut op = ConvOp { window: window.clone(), group, kernels: select::gemm_f32(), prepared: None, clamp: None };
            let geo = window.resolve(&xs[2..], &ws[2..]).unwrap();
            let want = conv_direct(&x, &w, Some(&b), &geo, group);
            for prepack in [false, true] {
                if prepack {
                    op.prepared = op.prepare(&w).unwrap();
                }
                let got = op.run(&x, &w, Some(&b)).unwrap();
                for (g, e) in got.iter().zip(&want) {
                    assert!((g - e).abs() < 1e-4, "X {xs:?} W {ws:?}: {g} != {e}");
                }
            }
        }
    }

    #[test]
    fn fused_clamp_applies_on_every_path() {
        for (xs, ws, group) in [(vec![1, 4, 6, 6], vec![4, 1, 3, 3], 4), (vec![1, 3, 5, 5], vec![5, 3, 1, 1], 1), (vec![1, 3, 5, 5], vec![2, 3, 3, 3], 1)] {
            let window = WindowAttrs { pads: Some(vec![1, 1, 1, 1]), ..Default::default() };
            let window = if ws[2] == 1 { WindowAttrs::default() } else { window };
            let (x, w) = (arr(&xs, 4), arr(&ws, 5));
            let plain = ConvOp { window: window.clone(), group, kernels: select::gemm_f32(), prepared: None, clamp: None }.run(&x, &w, None).unwrap();
            let mut fused = ConvOp { window, group, kernels: select::gemm_f32(), prepared: None, clamp: Some((0.0, 0.5)) };
            fused.prepared = fused.prepare(&w).unwrap();
            let got = fused.run(&x, &w, None).unwrap();
            for (g, p) in got.iter().zip(plain.iter()) {
                assert_eq!(*g, p.clamp(0.0, 0.5));
            }
        }
    }

    #[test]
    fn conv_errors_name_shapes() {
        let op = ConvOp { window: WindowAttrs::default(), group: 1, kernels: select::gemm_f32(), prepared: None, clamp: None };
        let e = op.run(&arr(&[1, 3, 5, 5], 0), &arr(&[2, 4, 3, 3], 0), None).unwrap_err().to_string();
        assert!(e.contains("[1, 3, 5, 5]") && e.contains("[2, 4, 3, 3]"), "{e}");
        assert!(op.run(&arr(&[1, 3, 2, 2], 0), &arr(&[2, 3, 3, 3], 0), None).is_err());
    }
}
