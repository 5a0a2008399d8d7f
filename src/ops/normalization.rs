//! Normalization: BatchNormalization (inference), LayerNormalization, InstanceNormalization.
//!
//! Statistics are accumulated in f64 and the result written back in the input's float type
//! (float32, float16, float64).
//! - BatchNormalization: `y = (x - mean) / sqrt(var + eps) * scale + B` per channel, applied as
//!   one multiply-add per element. Inference mode only (`training_mode = 1`, which also
//!   outputs running statistics, is rejected). Parameters of shape `[C]`, or `[C, D1, ...]` for
//!   the per-activation form of the old `spatial = 0` attribute; from opset 15 scale/B and
//!   mean/var may have types other than X's.
//! - LayerNormalization (opset 17): normalizes over the dims from `axis` on; Scale and B
//!   broadcast to those dims; optional Mean and InvStdDev outputs (shape `X.shape[..axis]` then
//!   ones) in float32 (`stash_type` 1) or X's type.
//! - InstanceNormalization: per `(n, c)` over the spatial dims, then per-channel scale and B.
//! - GroupNormalization: per `(n, group)` over the group's channels and the spatial dims, then
//!   scale and bias per channel (opset 21) or per group (opset 18).
//! - RMSNormalization (opset 23): `x / sqrt(mean(x^2) + eps) * scale` over the dims from `axis`.
//! - LpNormalization: `x / ||x||_p` (p = 1 or 2) along one axis; 0 where the norm is 0.
//! - MeanVarianceNormalization: `(x - mean) / (std + 1e-9)` over `axes` (onnx's definition).
//! - LRN: `x / (bias + alpha / size * sum of x^2 over nearby channels)^beta`.
use super::registry::{normalize_axis, optional, required, BuildContext, FnOp, Op, Registry};
use super::take::for_each_index;
use crate::error::{Error, Result};
use crate::kernels::vnorm::layer_norm_f32;
use crate::tensor::{checked_numel, DType, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "BatchNormalization", batch_norm);
    r.register("", "LayerNormalization", layer_norm);
    r.register("", "InstanceNormalization", instance_norm);
    r.register("", "GroupNormalization", group_norm);
    r.register("", "RMSNormalization", rms_norm);
    r.register("", "LpNormalization", lp_norm);
    r.register("", "MeanVarianceNormalization", mean_variance_norm);
    r.register("", "LRN", lrn);
}

/// A float element written from f64 (read with [`values_f64`]).
trait FloatElem: Elem {
    fn from_f64(v: f64) -> Self;
}
impl FloatElem for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}
impl FloatElem for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
}
impl FloatElem for f16 {
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

/// Values of a float tensor as f64 (row-major).
fn values_f64(t: &Tensor, what: &str) -> Result<Vec<f64>> {
    Ok(match t {
        Tensor::F32(a) => a.iter().map(|&v| v as f64).collect(),
        Tensor::F64(a) => a.iter().copied().collect(),
        Tensor::F16(a) => a.iter().map(|v| v.to_f64()).collect(),
        other => return Err(Error::dtype(format!("{what} must be a float tensor, got {}", other.dtype()))),
    })
}

/// Applies `f(x_values_f64) -> y_values_f64` and wraps the result in X's type and shape.
fn map_float(x: &Tensor, what: &str, f: impl FnOnce(&[f64]) -> Result<Vec<f64>>) -> Result<Tensor> {
    fn wrap<T: FloatElem>(shape: &[usize], v: Vec<f64>) -> Result<Tensor> {
        Tensor::from_vec(shape, v.into_iter().map(T::from_f64).collect::<Vec<T>>())
    }
    let xs = values_f64(x, what)?;
    let y = f(&xs)?;
    match x.dtype() {
        DType::F32 => wrap::<f32>(x.shape(), y),
        DType::F64 => wrap::<f64>(x.shape(), y),
        _ => wrap::<f16>(x.shape(), y),
    }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

fn batch_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let eps = a.float_or("epsilon", 1e-5)? as f64;
    if a.int_or("training_mode", 0)? != 0 {
        return Err(Error::invalid("BatchNormalization with training_mode = 1 is not supported (inference only)"));
    }
    let spatial = a.int_or("spatial", 1)? != 0;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let params: Vec<Vec<f64>> = ["scale", "B", "input_mean", "input_var"]
            .iter()
            .enumerate()
            .map(|(i, name)| values_f64(required(inputs, i + 1, name)?, name))
            .collect::<Result<_>>()?;
        let xs = x.shape();
        if xs.len() < 2 {
            return Err(Error::shape(format!("BatchNormalization needs X of rank >= 2, got {xs:?}")));
        }
        let (n, c) = (xs[0], xs[1]);
        let inner: usize = xs[2..].iter().product();
        // Per-channel ([C]) or per-activation ([C, D1, ...]: spatial = 0) parameters.
        let per = if params.iter().all(|p| p.len() == c) && spatial {
            c
        } else if params.iter().all(|p| p.len() == c * inner) {
            c * inner
        } else if params.iter().all(|p| p.len() == c) {
            c
        } else {
            let lens: Vec<usize> = params.iter().map(|p| p.len()).collect();
            return Err(Error::shape(format!(
                "BatchNormalization: X {xs:?} needs scale, B, mean and var of {c} values, got {lens:?}"
            )));
        };
        let (scale, bias, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
        let mul: Vec<f64> = (0..per).map(|i| scale[i] / (var[i] + eps).sqrt()).collect();
        let add: Vec<f64> = (0..per).map(|i| bias[i] - mean[i] * mul[i]).collect();
        let y = match x {
            Tensor::F32(xa) => {
                // The common case, in f32 without a round trip through f64 vectors.
                let (m32, a32): (Vec<f32>, Vec<f32>) = (mul.iter().map(|&v| v as f32).collect(), add.iter().map(|&v| v as f32).collect());
                let data = super::matmul::row_major(xa);
                let mut out = vec![0f32; data.len()];
                let step = if per == c { inner } else { 1 };
                for img in 0..n {
                    let base = img * c * inner;
                    for (j, (o, &v)) in out[base..base + c * inner].iter_mut().zip(&data[base..base + c * inner]).enumerate() {
                        let p = j / step.max(1);
                        *o = v * m32[p] + a32[p];
                    }
                }
                Tensor::from_vec(xs, out)?
            }
            _ => map_float(x, "X", |v| {
                let step = if per == c { inner } else { 1 };
                Ok(v.iter()
                    .enumerate()
                    .map(|(j, &x)| {
                        let p = (j % (c * inner)) / step.max(1);
                        x * mul[p] + add[p]
                    })
                    .collect())
            })?,
        };
        Ok(vec![y])
    })))
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

fn layer_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let axis = a.int_or("axis", -1)?;
    let eps = a.float_or("epsilon", 1e-5)? as f64;
    let stash_type = a.int_or("stash_type", 1)?;
    let stash = match stash_type {
        1 => None,
        other => Some(DType::from_onnx_code(other as i32)?),
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let scale = required(inputs, 1, "Scale")?;
        let bias = optional(inputs, 2);
        let xs = x.shape();
        let ax = normalize_axis(axis, xs.len())?;
        let norm_shape = &xs[ax..];
        let outer: usize = xs[..ax].iter().product();
        let size: usize = norm_shape.iter().product();
        let expand = |t: &Tensor, what: &str| broadcast_values(t, norm_shape, what, xs, axis);
        let sc = expand(scale, "Scale")?;
        let bi = bias.map(|b| expand(b, "B")).transpose()?;
        let mut means = Vec::with_capacity(outer);
        let mut invs = Vec::with_capacity(outer);
        let y = match x {
            // float32 with float32 statistics: the kernels crate's row kernel (the same f64
            // formula as below, compiled at opt-level 3).
            Tensor::F32(xa) if matches!(stash, None | Some(DType::F32)) => {
                let narrow = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
                let (sc, bi) = (narrow(&sc), bi.as_deref().map(narrow));
                let mut out = Vec::new();
                layer_norm_f32(&super::matmul::row_major(xa), size, &sc, bi.as_deref(), eps, &mut out, &mut means, &mut invs);
                // An empty row leaves the output empty: zeros of X's shape, as below.
                out.resize(xa.len(), 0.0);
                Tensor::from_vec(xs, out)?
            }
            _ => map_float(x, "X", |v| {
            let mut out = vec![0f64; v.len()];
            if size == 0 {
                return Ok(out);
            }
            for (row, dst) in v.chunks_exact(size).zip(out.chunks_exact_mut(size)) {
                let mean = row.iter().sum::<f64>() / size as f64;
                let var = row.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / size as f64;
                let inv = 1.0 / (var + eps).sqrt();
                for (j, (d, &x)) in dst.iter_mut().zip(row).enumerate() {
                    *d = (x - mean) * inv * sc[j] + bi.as_ref().map_or(0.0, |b| b[j]);
                }
                means.push(mean);
                invs.push(inv);
            }
            Ok(out)
        })?,
        };
        let mut stat_shape = xs[..ax].to_vec();
        stat_shape.extend(std::iter::repeat_n(1, xs.len() - ax));
        checked_numel(&stat_shape, DType::F64)?;
        let stat = |v: Vec<f64>| -> Result<Tensor> {
            match stash.unwrap_or(DType::F32) {
                DType::F64 => Tensor::from_vec(&stat_shape, v),
                DType::F16 => Tensor::from_vec(&stat_shape, v.into_iter().map(f16::from_f64).collect::<Vec<_>>()),
                _ => Tensor::from_vec(&stat_shape, v.into_iter().map(|x| x as f32).collect::<Vec<_>>()),
            }
        };
        Ok(vec![y, stat(means)?, stat(invs)?])
    })))
}

/// The values of a float tensor broadcast to `shape` (the normalized dims of X from `axis`).
fn broadcast_values(t: &Tensor, shape: &[usize], what: &str, xs: &[usize], axis: i64) -> Result<Vec<f64>> {
    let v = values_f64(t, what)?;
    let arr = ArrayD::from_shape_vec(IxDyn(t.shape()), v).map_err(|e| Error::shape(e.to_string()))?;
    let b = arr.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::shape(format!("{what} {:?} cannot be broadcast to {shape:?} (X {xs:?}, axis {axis})", t.shape()))
    })?;
    Ok(b.iter().copied().collect())
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization

fn instance_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let eps = ctx.attrs().float_or("epsilon", 1e-5)? as f64;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let scale = values_f64(required(inputs, 1, "scale")?, "scale")?;
        let bias = values_f64(required(inputs, 2, "B")?, "B")?;
        let xs = x.shape();
        if xs.len() < 3 || scale.len() != xs[1] || bias.len() != xs[1] {
            return Err(Error::shape(format!(
                "InstanceNormalization: X {xs:?} needs rank >= 3 and scale/B of {} values, got {} and {}",
                xs.get(1).copied().unwrap_or(0),
                scale.len(),
                bias.len()
            )));
        }
        let c = xs[1];
        let size: usize = xs[2..].iter().product();
        let y = map_float(x, "input", |v| {
            let mut out = vec![0f64; v.len()];
            if size == 0 {
                return Ok(out);
            }
            for (p, (row, dst)) in v.chunks_exact(size).zip(out.chunks_exact_mut(size)).enumerate() {
                let ch = p % c;
                let mean = row.iter().sum::<f64>() / size as f64;
                let var = row.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / size as f64;
                let mul = scale[ch] / (var + eps).sqrt();
                for (d, &x) in dst.iter_mut().zip(row) {
                    *d = (x - mean) * mul + bias[ch];
                }
            }
            Ok(out)
        })?;
        Ok(vec![y])
    })))
}

// ---------------------------------------------------------------------------------------------
// GroupNormalization, RMSNormalization

fn group_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let eps = ctx.attrs().float_or("epsilon", 1e-5)? as f64;
    let groups = ctx.attrs().int("num_groups")?.ok_or_else(|| Error::invalid("GroupNormalization needs 'num_groups'"))?;
    // Opset 18 took scale and bias per group; opset 21 per channel.
    let per_group = ctx.opset < 21;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let scale = values_f64(required(inputs, 1, "scale")?, "scale")?;
        let bias = values_f64(required(inputs, 2, "bias")?, "bias")?;
        let xs = x.shape();
        let c = xs.get(1).copied().unwrap_or(0);
        let g = usize::try_from(groups).ok().filter(|&g| g > 0 && c % g == 0).ok_or_else(|| {
            Error::invalid(format!("GroupNormalization: num_groups {groups} must divide the {c} channels of X {xs:?}"))
        })?;
        let want = if per_group { g } else { c };
        if xs.len() < 2 || scale.len() != want || bias.len() != want {
            return Err(Error::shape(format!(
                "GroupNormalization: X {xs:?} needs scale and bias of {want} values, got {} and {}",
                scale.len(),
                bias.len()
            )));
        }
        let spatial: usize = xs[2..].iter().product();
        let size = c / g * spatial;
        let y = map_float(x, "X", |v| {
            let mut out = vec![0f64; v.len()];
            if size == 0 {
                return Ok(out);
            }
            for (p, (row, dst)) in v.chunks_exact(size).zip(out.chunks_exact_mut(size)).enumerate() {
                let mean = row.iter().sum::<f64>() / size as f64;
                let var = row.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / size as f64;
                let inv = 1.0 / (var + eps).sqrt();
                for (j, (d, &x)) in dst.iter_mut().zip(row).enumerate() {
                    let ch = if per_group { p % g } else { (p % g) * (c / g) + j / spatial };
                    *d = (x - mean) * inv * scale[ch] + bias[ch];
                }
            }
            Ok(out)
        })?;
        Ok(vec![y])
    })))
}

fn rms_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", -1)?;
    let eps = ctx.attrs().float_or("epsilon", 1e-5)? as f64;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let xs = x.shape();
        let ax = normalize_axis(axis, xs.len())?;
        let size: usize = xs[ax..].iter().product();
        let scale = broadcast_values(required(inputs, 1, "scale")?, &xs[ax..], "scale", xs, axis)?;
        let y = map_float(x, "X", |v| {
            let mut out = vec![0f64; v.len()];
            for (row, dst) in v.chunks(size.max(1)).zip(out.chunks_mut(size.max(1))) {
                let inv = 1.0 / (row.iter().map(|&x| x * x).sum::<f64>() / size as f64 + eps).sqrt();
                for ((d, &x), &s) in dst.iter_mut().zip(row).zip(&scale) {
                    *d = x * inv * s;
                }
            }
            Ok(out)
        })?;
        Ok(vec![y])
    })))
}

// ---------------------------------------------------------------------------------------------
// LpNormalization, MeanVarianceNormalization, LRN

/// For each element of `shape`, the index of its group when the `reduced` axes are collapsed.
fn group_ids(shape: &[usize], reduced: &[bool]) -> (Vec<usize>, usize) {
    let mut ids = Vec::with_capacity(shape.iter().product());
    let groups: usize = shape.iter().zip(reduced).filter(|(_, &r)| !r).map(|(&d, _)| d).product();
    // for_each_index only fails when its closure does, and this one does not.
    let _ = for_each_index(shape, |_, c| {
        ids.push(c.iter().zip(shape).zip(reduced).filter(|(_, &r)| !r).fold(0, |a, ((&c, &d), _)| a * d + c));
        Ok(())
    });
    (ids, groups)
}

/// `f(x, group statistics)` where the statistics are the sums of `g(x)` per group.
fn per_group(x: &Tensor, reduced: &[bool], stats: &[fn(f64) -> f64], f: impl Fn(f64, &[f64]) -> f64) -> Result<Tensor> {
    let (ids, groups) = group_ids(x.shape(), reduced);
    map_float(x, "X", |v| {
        let mut sums = vec![vec![0f64; stats.len()]; groups];
        for (&x, &id) in v.iter().zip(&ids) {
            for (s, g) in sums[id].iter_mut().zip(stats) {
                *s += g(x);
            }
        }
        Ok(v.iter().zip(&ids).map(|(&x, &id)| f(x, &sums[id])).collect())
    })
}

fn lp_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", -1)?;
    let p = ctx.attrs().int_or("p", 2)?;
    let norm: fn(f64) -> f64 = match p {
        1 => f64::abs,
        2 => |x| x * x,
        _ => return Err(Error::invalid(format!("LpNormalization: p must be 1 or 2, got {p}"))),
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let ax = normalize_axis(axis, x.rank())?;
        let reduced: Vec<bool> = (0..x.rank()).map(|d| d == ax).collect();
        let y = per_group(x, &reduced, &[norm], |x, s| {
            let norm = if p == 2 { s[0].sqrt() } else { s[0] };
            // onnx's reference: a zero norm gives 0, not NaN.
            if norm == 0.0 {
                0.0
            } else {
                x / norm
            }
        })?;
        Ok(vec![y])
    })))
}

fn mean_variance_norm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axes = ctx.attrs().ints("axes")?.map(<[i64]>::to_vec).unwrap_or_else(|| vec![0, 2, 3]);
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let mut reduced = vec![false; x.rank()];
        for &a in &axes {
            reduced[normalize_axis(a, x.rank())?] = true;
        }
        let n: usize = x.shape().iter().zip(&reduced).filter(|(_, &r)| r).map(|(&d, _)| d).product();
        let n = n as f64;
        let y = per_group(x, &reduced, &[|x| x, |x| x * x], |x, s| {
            let mean = s[0] / n;
            let std = (s[1] / n - mean * mean).sqrt();
            (x - mean) / (std + 1e-9)
        })?;
        Ok(vec![y])
    })))
}

fn lrn(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let (alpha, beta, bias) = (a.float_or("alpha", 1e-4)? as f64, a.float_or("beta", 0.75)? as f64, a.float_or("bias", 1.0)? as f64);
    let size = a.int("size")?.and_then(|s| usize::try_from(s).ok()).filter(|&s| s > 0).ok_or_else(|| Error::invalid("LRN needs a positive 'size'"))?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let xs = x.shape();
        if xs.len() < 3 {
            return Err(Error::shape(format!("LRN needs an input of rank >= 3, got {xs:?}")));
        }
        let (c, inner) = (xs[1], xs[2..].iter().product::<usize>());
        let (lo, hi) = ((size - 1) / 2, size / 2);
        let y = map_float(x, "X", |v| {
            let mut out = vec![0f64; v.len()];
            for (k, o) in out.iter_mut().enumerate() {
                let (ch, base) = (k / inner % c, k - (k / inner % c) * inner);
                let sum: f64 = (ch.saturating_sub(lo)..=(ch + hi).min(c - 1)).map(|j| v[base + j * inner].powi(2)).sum();
                *o = v[k] / (bias + alpha / size as f64 * sum).powf(beta);
            }
            Ok(out)
        })?;
        Ok(vec![y])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Attrs, Graph, Node};

    fn run(op_type: &str, attrs: Attrs, inputs: &[&Tensor]) -> Vec<Tensor> {
        let node = Node { name: String::new(), op_type: op_type.into(), domain: String::new(), inputs: vec![], outputs: vec![], attrs };
        let graph = Graph::default();
        let ctx = BuildContext { node: &node, graph: &graph, opset: 17 };
        let op = match op_type {
            "InstanceNormalization" => instance_norm(&ctx),
            "BatchNormalization" => batch_norm(&ctx),
            _ => layer_norm(&ctx),
        }
        .unwrap();
        let args: Vec<Option<&Tensor>> = inputs.iter().map(|t| Some(*t)).collect();
        op.run(&args).unwrap()
    }

    #[test]
    fn instance_norm_normalizes_each_plane() {
        let x = Tensor::from_vec(&[1, 2, 2], vec![1f32, 3.0, 10.0, 10.0]).unwrap();
        let s = Tensor::from_vec(&[2], vec![2f32, 1.0]).unwrap();
        let b = Tensor::from_vec(&[2], vec![0.5f32, -1.0]).unwrap();
        let y = run("InstanceNormalization", Attrs::default(), &[&x, &s, &b])[0].to_f32_vec();
        let inv = 1.0 / (1.0f32 + 1e-5).sqrt();
        let want = [0.5 - 2.0 * inv, 0.5 + 2.0 * inv, -1.0, -1.0];
        for (g, w) in y.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{y:?}");
        }
    }

    /// float32 LayerNormalization runs the kernels crate's row kernel; float64 the reference
    /// code. Same formula, so the float32 outputs and statistics are the float64 ones rounded.
    #[test]
    fn layer_norm_f32_kernel_matches_the_f64_reference() {
        let (rows, size) = (5, 24);
        let xs: Vec<f64> = (0..rows * size).map(|i| ((i as f64) * 0.613).sin() * 2.0 + (i / size) as f64).collect();
        let sc: Vec<f64> = (0..size).map(|i| 0.75 + i as f64 * 0.03).collect();
        let bi: Vec<f64> = (0..size).map(|i| 0.1 - i as f64 * 0.01).collect();
        let f32s = |v: &[f64], shape: &[usize]| Tensor::from_vec(shape, v.iter().map(|&x| x as f32).collect::<Vec<f32>>()).unwrap();
        // The reference sees exactly the float32 values.
        let f64s = |v: &[f64], shape: &[usize]| Tensor::from_vec(shape, v.iter().map(|&x| x as f32 as f64).collect::<Vec<f64>>()).unwrap();
        let shape = [rows, 2, size / 2];
        let mut attrs = Attrs::default();
        attrs.set("axis", crate::graph::Attr::Int(1));
        let got = run("LayerNormalization", attrs.clone(), &[&f32s(&xs, &shape), &f32s(&sc, &[2, size / 2]), &f32s(&bi, &[2, size / 2])]);
        attrs.set("stash_type", crate::graph::Attr::Int(11));
        let want = run("LayerNormalization", attrs, &[&f64s(&xs, &shape), &f64s(&sc, &[2, size / 2]), &f64s(&bi, &[2, size / 2])]);
        for (k, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.shape(), w.shape(), "output {k}");
            for (a, b) in g.to_f32_vec().iter().zip(w.to_f32_vec()) {
                assert!((a - b).abs() <= 2.0 * f32::EPSILON * b.abs().max(1e-3), "output {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn batch_norm_per_activation_params() {
        // spatial = 0 form: parameters of shape [C, D].
        let x = Tensor::from_vec(&[2, 1, 2], vec![1f32, 2.0, 3.0, 4.0]).unwrap();
        let p = |v: Vec<f32>| Tensor::from_vec(&[1, 2], v).unwrap();
        let (s, b, m, v) = (p(vec![1.0, 2.0]), p(vec![0.0, 1.0]), p(vec![1.0, 0.0]), p(vec![1.0, 4.0]));
        let mut attrs = Attrs::default();
        attrs.set("spatial", crate::graph::Attr::Int(0));
        attrs.set("epsilon", crate::graph::Attr::Float(0.0));
        let y = run("BatchNormalization", attrs, &[&x, &s, &b, &m, &v])[0].to_f32_vec();
        assert_eq!(y, vec![0.0, 3.0, 2.0, 5.0]);
    }
}
