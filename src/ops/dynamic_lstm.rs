//! com.microsoft DynamicQuantizeLSTM: the LSTM that onnxruntime's `quantize_dynamic` writes, with
//! 8-bit W `[dirs, input, 4·hidden]` and R `[dirs, hidden, 4·hidden]` (note: transposed against
//! the ONNX LSTM's), their scales (per direction, or per direction and gate column) and zero
//! points (one per direction; onnxruntime's kernel reads the first), inputs 8..11.
//!
//! It computes what onnxruntime's kernel computes (`rnn_helpers.cc`, quantized `ComputeGemm`):
//! each matrix product quantizes its float operand on the fly to uint8 with the range of the
//! whole operand, widened to include 0 (`scale = (max - min) / 255`, zero point rounded half to
//! even, values `round_half_even(x / scale) + zp` saturated): X once per direction over every
//! time step, the hidden state once per step. The product is exact in i32,
//! `Σ (a - za)(w - zw)`, and scales to float by `a_scale · w_scale[column]`, so the gates'
//! inputs match onnxruntime's up to the order of the float additions (bias `Wb + Rb` added after
//! both products). The hidden state of all batch rows is quantized together, as onnxruntime does
//! on one thread (with more, it splits the rows across its threads and quantizes each part on
//! its own, so its results depend on the core count).
//!
//! Gate order `i, o, f, c`, peepholes `i, o, f`; `clip`, `input_forget`, `initial_h`,
//! `initial_c` and `direction` as the ONNX LSTM. Activations must be the defaults (Sigmoid, Tanh,
//! Tanh), and `sequence_lens`, if given, must equal the sequence length: other values are
//! refused with a typed error (no exported model found uses them).
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use std::sync::Arc;

const MS: &str = "com.microsoft";

pub fn register(r: &mut Registry) {
    r.register(MS, "DynamicQuantizeLSTM", build);
}

/// One direction's weights as i32 offsets from their zero point, laid out `[4·hidden][k]` (one
/// row per gate column, so each output is one contiguous dot product), with the column scales.
struct QWeights {
    rows: Vec<i32>,
    k: usize,
    /// One scale per gate column (a per-direction scale repeated).
    scales: Vec<f32>,
}

fn q_weights(w: &Tensor, scale: &Tensor, zp: Option<&Tensor>, dir: usize, what: &str, k: usize, cols: usize) -> Result<QWeights> {
    if !matches!(w.dtype(), DType::I8 | DType::U8) {
        return Err(Error::dtype(format!("{what} must be int8 or uint8, got {}", w.dtype())));
    }
    let vals = w.to_i64_vec()?;
    let s = scale.to_f32_vec();
    let dirs = w.shape()[0];
    let scales: Vec<f32> = if s.len() == dirs {
        vec![s[dir]; cols]
    } else if s.len() == dirs * cols {
        s[dir * cols..(dir + 1) * cols].to_vec()
    } else {
        return Err(Error::shape(format!("{what}_scale has {} values; expected {dirs} or {dirs} x {cols}", s.len())));
    };
    let z: i64 = match zp {
        None => 0,
        Some(z) => {
            let zs = z.to_i64_vec()?;
            if zs.len() != dirs && zs.len() != dirs * cols {
                return Err(Error::shape(format!("{what}_zero_point has {} values; expected {dirs} or {dirs} x {cols}", zs.len())));
            }
            let per = zs.len() / dirs;
            let mine = &zs[dir * per..(dir + 1) * per];
            if mine.iter().any(|&v| v != mine[0]) {
                return Err(Error::invalid(format!("{what}_zero_point differs between columns; onnxruntime's kernel takes one per direction")));
            }
            mine[0]
        }
    };
    let base = dir * k * cols;
    let mut rows = vec![0i32; cols * k];
    for r in 0..k {
        for c in 0..cols {
            rows[c * k + r] = (vals[base + r * cols + c] - z) as i32;
        }
    }
    Ok(QWeights { rows, k, scales })
}

/// onnxruntime's `GetQuantizationParameter` for uint8: the range widened to include 0.
fn dynamic_params(a: &[f32]) -> (f32, i32) {
    let (mut lo, mut hi) = (0.0f32, 0.0f32);
    for &v in a {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let scale = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
    let zp = (0.0 - lo / scale).clamp(0.0, 255.0).round_ties_even();
    (scale, zp as i32)
}

/// `c[row][col] (+)= scale_a · w.scales[col] · Σ_k (qa - za)(w - zw)` for `rows` rows of `a`
/// (`[rows][k]`), quantized here as onnxruntime does. `accumulate` adds into `c`.
fn qgemm(a: &[f32], rows: usize, w: &QWeights, c: &mut [f32], ldc: usize, accumulate: bool) {
    let k = w.k;
    let (scale, zp) = dynamic_params(&a[..rows * k]);
    let qa: Vec<i32> = a[..rows * k].iter().map(|&x| ((x / scale).round_ties_even() + zp as f32).clamp(0.0, 255.0) as i32 - zp).collect();
    let cols = w.scales.len();
    for r in 0..rows {
        let ar = &qa[r * k..(r + 1) * k];
        let out = &mut c[r * ldc..r * ldc + cols];
        for (j, o) in out.iter_mut().enumerate() {
            let wr = &w.rows[j * k..(j + 1) * k];
            let acc: i32 = ar.iter().zip(wr).map(|(x, y)| x * y).sum();
            let v = acc as f32 * (scale * w.scales[j]);
            if accumulate {
                *o += v;
            } else {
                *o = v;
            }
        }
    }
}

struct Spec {
    hidden: usize,
    dirs: usize,
    reverse_only: bool,
    clip: Option<f32>,
    input_forget: bool,
}

fn spec(ctx: &BuildContext) -> Result<Spec> {
    let a = ctx.attrs();
    let hidden = a.int("hidden_size")?.ok_or_else(|| Error::invalid("hidden_size is missing"))?;
    if hidden <= 0 {
        return Err(Error::invalid(format!("hidden_size {hidden} must be positive")));
    }
    let direction = a.string_or("direction", "forward")?;
    let (dirs, reverse_only) = match direction {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        other => return Err(Error::invalid(format!("unknown direction '{other}'"))),
    };
    if let Some(acts) = a.strings("activations")? {
        let default = ["sigmoid", "tanh", "tanh"];
        if acts.len() != 3 * dirs || acts.iter().enumerate().any(|(i, f)| f.to_ascii_lowercase() != default[i % 3]) {
            return Err(Error::UnsupportedOps(vec![crate::ops::registry::unsupported_op(ctx.node)
                .because(format!("activations {acts:?} (only Sigmoid, Tanh, Tanh)"))]));
        }
    }
    let clip = a.float("clip")?.filter(|c| c.is_finite());
    Ok(Spec { hidden: hidden as usize, dirs, reverse_only, clip, input_forget: a.int_or("input_forget", 0)? != 0 })
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let s = spec(ctx)?;
    // Weights are constants in every exported model: converted once here, else on each run.
    let constant = [1, 2, 8, 9, 10, 11].iter().all(|&i| ctx.node.input(i).is_none() || ctx.constant_input(i).is_some());
    let prepared: Option<Arc<Vec<(QWeights, QWeights)>>> = if constant {
        let get = |i: usize| ctx.constant_input(i);
        Some(Arc::new(weights(&s, get(1), get(2), get(8), get(9), get(10), get(11))?))
    } else {
        None
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let owned;
        let w = match &prepared {
            Some(p) => p.as_ref(),
            None => {
                owned = weights(&s, optional(inputs, 1), optional(inputs, 2), optional(inputs, 8), optional(inputs, 9), optional(inputs, 10), optional(inputs, 11))?;
                &owned
            }
        };
        run(&s, inputs, w)
    })))
}

fn weights(
    s: &Spec,
    w: Option<&Tensor>,
    r: Option<&Tensor>,
    w_scale: Option<&Tensor>,
    w_zp: Option<&Tensor>,
    r_scale: Option<&Tensor>,
    r_zp: Option<&Tensor>,
) -> Result<Vec<(QWeights, QWeights)>> {
    let miss = |what: &str| Error::invalid(format!("required input {what} is missing"));
    let (w, r) = (w.ok_or_else(|| miss("W"))?, r.ok_or_else(|| miss("R"))?);
    let (ws, rs) = (w_scale.ok_or_else(|| miss("W_scale"))?, r_scale.ok_or_else(|| miss("R_scale"))?);
    let h4 = 4 * s.hidden;
    if w.rank() != 3 || w.shape()[0] != s.dirs || w.shape()[2] != h4 {
        return Err(Error::shape(format!("W has shape {:?}; expected [{}, input_size, {h4}]", w.shape(), s.dirs)));
    }
    if r.shape() != [s.dirs, s.hidden, h4] {
        return Err(Error::shape(format!("R has shape {:?}; expected [{}, {}, {h4}]", r.shape(), s.dirs, s.hidden)));
    }
    let input = w.shape()[1];
    (0..s.dirs)
        .map(|d| Ok((q_weights(w, ws, w_zp, d, "W", input, h4)?, q_weights(r, rs, r_zp, d, "R", s.hidden, h4)?)))
        .collect()
}

fn f32_input(t: &Tensor, what: &str) -> Result<Vec<f32>> {
    if t.dtype() != DType::F32 {
        return Err(Error::dtype(format!("{what} must be float32, got {}", t.dtype())));
    }
    Ok(t.to_f32_vec())
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn run(s: &Spec, inputs: &[Option<&Tensor>], w: &[(QWeights, QWeights)]) -> Result<Vec<Tensor>> {
    let x_t = required(inputs, 0, "X")?;
    if x_t.rank() != 3 {
        return Err(Error::shape(format!("X must be [seq, batch, input], got {:?}", x_t.shape())));
    }
    let (seq, batch, input) = (x_t.shape()[0], x_t.shape()[1], x_t.shape()[2]);
    if input != w[0].0.k {
        return Err(Error::shape(format!("X has input size {input}, W has {}", w[0].0.k)));
    }
    let x = f32_input(x_t, "X")?;
    let (h, dirs) = (s.hidden, s.dirs);
    let h4 = 4 * h;
    let bias: Vec<f32> = match optional(inputs, 3) {
        None => vec![0.0; dirs * h4],
        Some(b) => {
            if b.shape() != [dirs, 2 * h4] {
                return Err(Error::shape(format!("B has shape {:?}; expected [{dirs}, {}]", b.shape(), 2 * h4)));
            }
            let b = f32_input(b, "B")?;
            (0..dirs).flat_map(|d| (0..h4).map(move |j| (d, j))).map(|(d, j)| b[d * 2 * h4 + j] + b[d * 2 * h4 + h4 + j]).collect()
        }
    };
    if let Some(l) = optional(inputs, 4) {
        if l.to_i64_vec()?.iter().any(|&v| v != seq as i64) || l.len() != batch {
            return Err(Error::invalid(format!("sequence_lens other than the sequence length ({seq}) for every row are not supported")));
        }
    }
    let state = |i: usize, what: &str| -> Result<Vec<f32>> {
        match optional(inputs, i) {
            None => Ok(vec![0.0; dirs * batch * h]),
            Some(t) if t.shape() == [dirs, batch, h] => f32_input(t, what),
            Some(t) => Err(Error::shape(format!("{what} has shape {:?}; expected [{dirs}, {batch}, {h}]", t.shape()))),
        }
    };
    let (h0, c0) = (state(5, "initial_h")?, state(6, "initial_c")?);
    let peep: Option<Vec<f32>> = match optional(inputs, 7) {
        None => None,
        Some(p) if p.shape() == [dirs, 3 * h] => Some(f32_input(p, "P")?),
        Some(p) => return Err(Error::shape(format!("P has shape {:?}; expected [{dirs}, {}]", p.shape(), 3 * h))),
    };
    let mut y = vec![0.0f32; seq * dirs * batch * h];
    let mut yh = vec![0.0f32; dirs * batch * h];
    let mut yc = vec![0.0f32; dirs * batch * h];
    let clip = |v: f32| s.clip.map_or(v, |c| v.clamp(-c, c));
    for d in 0..dirs {
        let reverse = s.reverse_only || d == 1;
        let (wq, rq) = &w[d];
        // Input projection of every step at once (one quantization of X, as onnxruntime).
        let mut gates = vec![0.0f32; seq * batch * h4];
        qgemm(&x, seq * batch, wq, &mut gates, h4, false);
        let mut hp = h0[d * batch * h..(d + 1) * batch * h].to_vec();
        let mut cp = c0[d * batch * h..(d + 1) * batch * h].to_vec();
        let b = &bias[d * h4..(d + 1) * h4];
        let p = peep.as_ref().map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
        for step in 0..seq {
            let t = if reverse { seq - 1 - step } else { step };
            let g = &mut gates[t * batch * h4..(t + 1) * batch * h4];
            qgemm(&hp, batch, rq, g, h4, true);
            for bi in 0..batch {
                let row = &mut g[bi * h4..(bi + 1) * h4];
                let (hr, cr) = (&mut hp[bi * h..(bi + 1) * h], &mut cp[bi * h..(bi + 1) * h]);
                for j in 0..h {
                    let peep_at = |k: usize| p.map_or(0.0, |p| p[k * h + j]);
                    let i = sigmoid(clip(row[j] + peep_at(0) * cr[j] + b[j]));
                    let f = if s.input_forget { 1.0 - i } else { sigmoid(clip(row[2 * h + j] + peep_at(2) * cr[j] + b[2 * h + j])) };
                    let c_in = clip(row[3 * h + j] + b[3 * h + j]).tanh();
                    let c = f * cr[j] + i * c_in;
                    let o = sigmoid(clip(row[h + j] + peep_at(1) * c + b[h + j]));
                    cr[j] = c;
                    hr[j] = o * c.tanh();
                }
            }
            let at = (t * dirs + d) * batch * h;
            y[at..at + batch * h].copy_from_slice(&hp);
        }
        yh[d * batch * h..(d + 1) * batch * h].copy_from_slice(&hp);
        yc[d * batch * h..(d + 1) * batch * h].copy_from_slice(&cp);
    }
    Ok(vec![
        Tensor::from_vec(&[seq, dirs, batch, h], y)?,
        Tensor::from_vec(&[dirs, batch, h], yh)?,
        Tensor::from_vec(&[dirs, batch, h], yc)?,
    ])
}
