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
use super::registry::{normalize_axis, optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, DType, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "BatchNormalization", batch_norm);
    r.register("", "LayerNormalization", layer_norm);
    r.register("", "InstanceNormalization", instance_norm);
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
        let expand = |t: &Tensor, what: &str| -> Result<Vec<f64>> {
            let v = values_f64(t, what)?;
            let arr = ArrayD::from_shape_vec(IxDyn(t.shape()), v).map_err(|e| Error::shape(e.to_string()))?;
            let b = arr.broadcast(IxDyn(norm_shape)).ok_or_else(|| {
                Error::shape(format!("LayerNormalization: {what} {:?} cannot be broadcast to {norm_shape:?} (X {xs:?}, axis {axis})", t.shape()))
            })?;
            Ok(b.iter().copied().collect())
        };
        let sc = expand(scale, "Scale")?;
        let bi = bias.map(|b| expand(b, "B")).transpose()?;
        let mut means = Vec::with_capacity(outer);
        let mut invs = Vec::with_capacity(outer);
        let y = map_float(x, "X", |v| {
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
        })?;
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
