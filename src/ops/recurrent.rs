//! Recurrent ops: LSTM, GRU and RNN (ONNX opsets 7-22), float32, float64 and float16 (computed
//! in float32).
//!
//! All three share one driver. Per direction, the input projection of every time step is one
//! matrix product, `XW = X · Wᵀ + (Wb + Rb)` over all `seq × batch` rows at once through the f32
//! GEMM of [`crate::kernels::sgemm`]; each step then adds the recurrent product `H · Rᵀ` into
//! its rows of `XW` (the GEMM's accumulate epilogue, with the row stride of the layout, so
//! `layout = 1` needs no transpose) and applies the cell's gate equations in place. Constant
//! float32 W and R (the usual exported model) are packed once when the plan is built.
//!
//! Everything of the spec is honoured: `direction` (forward / reverse / bidirectional),
//! `activations` with their `activation_alpha` / `activation_beta` (consumed in order by the
//! functions that take them, defaults as the ONNX op of the same name), `clip` (applied to every
//! gate's input before its activation), `layout`, LSTM's `input_forget` and peepholes `P`, GRU's
//! `linear_before_reset`, and the optional inputs `sequence_lens`, `initial_h`, `initial_c`.
//! With `sequence_lens` shorter than the sequence, each batch row runs on its own (its steps
//! past its length leave `Y` zero and its state as it was; an empty one has zero final states,
//! as onnxruntime's); without it, all rows step together.
//!
//! Gate orders are ONNX's: LSTM `i, o, f, c` (peepholes `i, o, f`), GRU `z, r, h`.
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use super::unary::Real;
use crate::error::{Error, Result};
use crate::kernels::select;
use crate::kernels::sgemm::{sgemm_ex, Bias, Epilogue, GemmKernels, Lhs, MatRef, PackedB, Rhs};
use crate::tensor::{checked_numel, DType, Elem, Tensor};
use half::f16;
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.register("", "RNN", |ctx| build(ctx, Kind::Rnn));
    r.register("", "GRU", |ctx| build(ctx, Kind::Gru));
    r.register("", "LSTM", |ctx| build(ctx, Kind::Lstm));
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Rnn,
    Gru,
    Lstm,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rnn => "RNN",
            Kind::Gru => "GRU",
            Kind::Lstm => "LSTM",
        }
    }
    /// Gates per cell: rows of W and R are `gates × hidden`.
    fn gates(self) -> usize {
        match self {
            Kind::Rnn => 1,
            Kind::Gru => 3,
            Kind::Lstm => 4,
        }
    }
    /// The default activation functions of one direction (f, g, h).
    fn default_activations(self) -> &'static [&'static str] {
        match self {
            Kind::Rnn => &["Tanh"],
            Kind::Gru => &["Sigmoid", "Tanh"],
            Kind::Lstm => &["Sigmoid", "Tanh", "Tanh"],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Activation functions

#[derive(Clone, Copy, Debug, PartialEq)]
enum ActKind {
    Relu,
    Tanh,
    Sigmoid,
    Affine,
    LeakyRelu,
    ThresholdedRelu,
    ScaledTanh,
    HardSigmoid,
    Elu,
    Softsign,
    Softplus,
}

/// One activation function with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Activation {
    kind: ActKind,
    alpha: f64,
    beta: f64,
}

impl ActKind {
    fn parse(name: &str) -> Option<ActKind> {
        Some(match name.to_ascii_lowercase().as_str() {
            "relu" => ActKind::Relu,
            "tanh" => ActKind::Tanh,
            "sigmoid" => ActKind::Sigmoid,
            "affine" => ActKind::Affine,
            "leakyrelu" => ActKind::LeakyRelu,
            "thresholdedrelu" => ActKind::ThresholdedRelu,
            "scaledtanh" => ActKind::ScaledTanh,
            "hardsigmoid" => ActKind::HardSigmoid,
            "elu" => ActKind::Elu,
            "softsign" => ActKind::Softsign,
            "softplus" => ActKind::Softplus,
            _ => return None,
        })
    }
    /// Default (alpha, beta) where the function takes them, as the ONNX op of the same name.
    fn defaults(self) -> (Option<f64>, Option<f64>) {
        match self {
            ActKind::Affine => (Some(1.0), Some(0.0)),
            ActKind::LeakyRelu => (Some(0.01), None),
            ActKind::ThresholdedRelu => (Some(1.0), None),
            ActKind::ScaledTanh => (Some(1.0), Some(1.0)),
            ActKind::HardSigmoid => (Some(0.2), Some(0.5)),
            ActKind::Elu => (Some(1.0), None),
            _ => (None, None),
        }
    }
}

impl Activation {
    /// Applies the function to every element of `xs`, after clamping them to `[-clip, clip]`.
    /// One tight loop per function (so each vectorizes, and each is compiled once per element
    /// type, not at every gate).
    #[inline(never)]
    fn apply_all<T: Real>(&self, xs: &mut [T], clip: Option<f64>) {
        if let Some(c) = clip {
            let (lo, hi) = (T::c(-c), T::c(c));
            for v in xs.iter_mut() {
                *v = if *v < lo { lo } else if *v > hi { hi } else { *v };
            }
        }
        let (one, zero, alpha, beta) = (T::c(1.0), T::c(0.0), T::c(self.alpha), T::c(self.beta));
        macro_rules! each {
            (|$x:ident| $e:expr) => {
                for v in xs.iter_mut() {
                    let $x = *v;
                    *v = $e;
                }
            };
        }
        match self.kind {
            ActKind::Sigmoid => each!(|x| one / (one + (zero - x).exp_r())),
            ActKind::Tanh => each!(|x| x.tanh_r()),
            ActKind::Relu => each!(|x| if x < zero { zero } else { x }),
            ActKind::Affine => each!(|x| alpha * x + beta),
            ActKind::LeakyRelu => each!(|x| if x < zero { alpha * x } else { x }),
            ActKind::ThresholdedRelu => each!(|x| if x > alpha { x } else { zero }),
            ActKind::ScaledTanh => each!(|x| alpha * (beta * x).tanh_r()),
            ActKind::HardSigmoid => each!(|x| {
                let v = alpha * x + beta;
                if v < zero {
                    zero
                } else if v > one {
                    one
                } else {
                    v
                }
            }),
            ActKind::Elu => each!(|x| if x < zero { alpha * (x.exp_r() - one) } else { x }),
            ActKind::Softsign => each!(|x| x / (one + x.absolute())),
            ActKind::Softplus => each!(|x| (one + x.exp_r()).ln_r()),
        }
    }
}

/// The activations of every direction: `names` is one set per direction, or one set shared by
/// both directions; alpha / beta are consumed in order by the functions that take them.
fn parse_activations(kind: Kind, dirs: usize, names: Option<&[String]>, alphas: &[f32], betas: &[f32]) -> Result<Vec<Vec<Activation>>> {
    let per_dir = kind.default_activations().len();
    let names: Vec<String> = match names {
        None => kind.default_activations().iter().map(|s| s.to_string()).collect(),
        Some(n) => n.to_vec(),
    };
    if names.len() != per_dir && names.len() != per_dir * dirs {
        return Err(Error::invalid(format!(
            "{} takes {per_dir} activation function(s) per direction ({dirs} direction(s)), got {} ({:?})",
            kind.name(),
            names.len(),
            names
        )));
    }
    let (mut alphas, mut betas) = (alphas.iter(), betas.iter());
    let mut acts = Vec::with_capacity(names.len());
    for name in &names {
        let k = ActKind::parse(name).ok_or_else(|| {
            Error::invalid(format!("{}: unknown activation function '{name}'", kind.name()))
        })?;
        let (da, db) = k.defaults();
        let alpha = da.map(|d| alphas.next().map_or(d, |&v| v as f64)).unwrap_or(0.0);
        let beta = db.map(|d| betas.next().map_or(d, |&v| v as f64)).unwrap_or(0.0);
        acts.push(Activation { kind: k, alpha, beta });
    }
    Ok((0..dirs).map(|d| acts[(d * per_dir) % acts.len()..][..per_dir].to_vec()).collect())
}

// ---------------------------------------------------------------------------------------------
// Attributes

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    Forward,
    Reverse,
}

#[derive(Debug)]
struct Spec {
    kind: Kind,
    hidden: Option<usize>,
    /// One entry per direction of the output, in output order.
    dirs: Vec<Direction>,
    /// `acts[d]`: the activations of direction d (f, g, h).
    acts: Vec<Vec<Activation>>,
    clip: Option<f64>,
    /// `layout = 1`: batch first in X, Y and the states.
    batch_first: bool,
    input_forget: bool,
    linear_before_reset: bool,
}

fn parse_spec(ctx: &BuildContext, kind: Kind) -> Result<Spec> {
    let a = ctx.attrs();
    let dirs = match a.string_or("direction", "forward")? {
        "forward" => vec![Direction::Forward],
        "reverse" => vec![Direction::Reverse],
        "bidirectional" => vec![Direction::Forward, Direction::Reverse],
        other => {
            return Err(Error::invalid(format!(
                "{}: direction '{other}' is not forward, reverse or bidirectional",
                kind.name()
            )))
        }
    };
    let hidden = match a.int("hidden_size")? {
        None => None,
        Some(h) if h > 0 => Some(h as usize),
        Some(h) => return Err(Error::invalid(format!("{}: hidden_size {h} is not positive", kind.name()))),
    };
    let clip = match a.float("clip")? {
        None => None,
        Some(c) if c > 0.0 && c.is_finite() => Some(c as f64),
        Some(c) => return Err(Error::invalid(format!("{}: clip {c} is not a positive number", kind.name()))),
    };
    let layout = a.int_or("layout", 0)?;
    if layout != 0 && layout != 1 {
        return Err(Error::invalid(format!("{}: layout {layout} is not 0 or 1", kind.name())));
    }
    let acts = parse_activations(
        kind,
        dirs.len(),
        a.strings("activations")?,
        a.floats("activation_alpha")?.unwrap_or(&[]),
        a.floats("activation_beta")?.unwrap_or(&[]),
    )?;
    Ok(Spec {
        kind,
        hidden,
        dirs,
        acts,
        clip,
        batch_first: layout == 1,
        input_forget: kind == Kind::Lstm && a.int_or("input_forget", 0)? != 0,
        linear_before_reset: kind == Kind::Gru && a.int_or("linear_before_reset", 0)? != 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// The sizes of one run, checked against every input.
#[derive(Clone, Copy, Debug)]
struct Dims {
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    dirs: usize,
    batch_first: bool,
}

impl Dims {
    /// Row of X (and of XW) for time `t`, batch `b`.
    fn x_row(&self, t: usize, b: usize) -> usize {
        if self.batch_first {
            b * self.seq + t
        } else {
            t * self.batch + b
        }
    }
    /// Rows between batch `b` and `b + 1` at one time step.
    fn batch_stride(&self) -> usize {
        if self.batch_first {
            self.seq
        } else {
            1
        }
    }
    /// Offset of the state vector of direction `d`, batch `b` in initial_h / Y_h / Y_c.
    fn state_at(&self, d: usize, b: usize) -> usize {
        let r = if self.batch_first { b * self.dirs + d } else { d * self.batch + b };
        r * self.hidden
    }
    /// Offset of `Y[t, d, b, :]` (or `Y[b, t, d, :]` batch first).
    fn y_at(&self, t: usize, d: usize, b: usize) -> usize {
        let r = if self.batch_first { (b * self.seq + t) * self.dirs + d } else { (t * self.dirs + d) * self.batch + b };
        r * self.hidden
    }
    fn y_shape(&self) -> Vec<usize> {
        if self.batch_first {
            vec![self.batch, self.seq, self.dirs, self.hidden]
        } else {
            vec![self.seq, self.dirs, self.batch, self.hidden]
        }
    }
    fn state_shape(&self) -> Vec<usize> {
        if self.batch_first {
            vec![self.batch, self.dirs, self.hidden]
        } else {
            vec![self.dirs, self.batch, self.hidden]
        }
    }
}

fn expect_shape(kind: Kind, what: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(Error::shape(format!("{}: {what} has shape {got:?}, expected {want:?}", kind.name())));
    }
    Ok(())
}

/// Checks X, W, R, B, sequence_lens, initial_h, initial_c and P (in input order, `None` where
/// absent) and returns the run's sizes.
fn check_dims(spec: &Spec, shapes: &[Option<&[usize]>; 8]) -> Result<Dims> {
    let k = spec.kind;
    let dirs = spec.dirs.len();
    let g = k.gates();
    let x = shapes[0].unwrap_or(&[]);
    if x.len() != 3 {
        return Err(Error::shape(format!("{}: X must be 3-D, got shape {x:?}", k.name())));
    }
    let (seq, batch) = if spec.batch_first { (x[1], x[0]) } else { (x[0], x[1]) };
    let input = x[2];
    let r = shapes[2].unwrap_or(&[]);
    if r.len() != 3 || r[0] != dirs || r[1] % g != 0 || r[1] / g != r[2] {
        return Err(Error::shape(format!(
            "{}: R has shape {r:?}, expected [{dirs}, {g} x hidden_size, hidden_size]",
            k.name()
        )));
    }
    let hidden = r[2];
    if hidden == 0 {
        return Err(Error::shape(format!("{}: R has shape {r:?}: hidden_size 0", k.name())));
    }
    if let Some(h) = spec.hidden {
        if h != hidden {
            return Err(Error::shape(format!("{}: R has shape {r:?} but hidden_size is {h}", k.name())));
        }
    }
    let dims = Dims { seq, batch, input, hidden, dirs, batch_first: spec.batch_first };
    expect_shape(k, "W", shapes[1].unwrap_or(&[]), &[dirs, g * hidden, input])?;
    if let Some(b) = shapes[3] {
        expect_shape(k, "B", b, &[dirs, 2 * g * hidden])?;
    }
    if let Some(l) = shapes[4] {
        expect_shape(k, "sequence_lens", l, &[batch])?;
    }
    let state = dims.state_shape();
    if let Some(h) = shapes[5] {
        expect_shape(k, "initial_h", h, &state)?;
    }
    if let Some(c) = shapes[6] {
        expect_shape(k, "initial_c", c, &state)?;
    }
    if let Some(p) = shapes[7] {
        expect_shape(k, "P", p, &[dirs, 3 * hidden])?;
    }
    checked_numel(&[seq, batch, g, hidden], DType::F64)?;
    checked_numel(&dims.y_shape(), DType::F64)?;
    Ok(dims)
}

/// sequence_lens as lengths, each checked to be within the sequence.
fn sequence_lengths(kind: Kind, t: &Tensor, seq: usize) -> Result<Vec<usize>> {
    if !matches!(t.dtype(), DType::I32 | DType::I64) {
        return Err(Error::dtype(format!("{}: sequence_lens must be int32, got {}", kind.name(), t.dtype())));
    }
    t.to_i64_vec()?
        .into_iter()
        .map(|l| {
            usize::try_from(l).ok().filter(|&l| l <= seq).ok_or_else(|| {
                Error::invalid(format!("{}: sequence length {l} is outside [0, {seq}]", kind.name()))
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The element types and their matrix product

/// A float type the cells compute in, with the product `C (+)= A · Wᵀ (+ bias)` for a weight
/// matrix `W` (`n × k`, row-major) prepared once per run (or per plan).
trait CellFloat: Real {
    type Weights: Send + Sync;
    fn prepare(w: &[Self], n: usize, k: usize) -> Result<Self::Weights>;
    /// `c[i * ldc + j] = (accumulate ? c : 0) + bias[j] + Σ_p a[i * lda + p] · W[j][p]` for
    /// `i < m`, `j < n`.
    #[allow(clippy::too_many_arguments)]
    fn product(a: &[Self], m: usize, lda: usize, w: &Self::Weights, c: &mut [Self], ldc: usize, accumulate: bool, bias: Option<&[Self]>) -> Result<()>;
}

impl CellFloat for f32 {
    /// The packed weights with the kernels chosen for them when they were prepared.
    type Weights = (PackedB, GemmKernels);
    fn prepare(w: &[f32], n: usize, k: usize) -> Result<(PackedB, GemmKernels)> {
        let kernels = select::gemm_f32();
        Ok((PackedB::pack(MatRef::row_major(w, n, k)?.t(), &kernels)?, kernels))
    }
    fn product(a: &[f32], m: usize, lda: usize, w: &(PackedB, GemmKernels), c: &mut [f32], ldc: usize, accumulate: bool, bias: Option<&[f32]>) -> Result<()> {
        let (w, kernels) = w;
        let a = MatRef::new(a, m, w.rows(), lda, 1)?;
        let ep = Epilogue { accumulate, bias: bias.map_or(Bias::None, Bias::Col), clamp: None };
        Ok(sgemm_ex(kernels, Lhs::Mat(a), Rhs::Packed(w), c, ldc, &ep)?)
    }
}

/// A float64 weight matrix, row-major `n × k`.
struct MatF64 {
    data: Vec<f64>,
    n: usize,
    k: usize,
}

impl CellFloat for f64 {
    type Weights = MatF64;
    fn prepare(w: &[f64], n: usize, k: usize) -> Result<MatF64> {
        Ok(MatF64 { data: w[..n * k].to_vec(), n, k })
    }
    fn product(a: &[f64], m: usize, lda: usize, w: &MatF64, c: &mut [f64], ldc: usize, accumulate: bool, bias: Option<&[f64]>) -> Result<()> {
        if m == 0 {
            return Ok(());
        }
        if a.len() < (m - 1) * lda + w.k || c.len() < (m - 1) * ldc + w.n {
            return Err(Error::shape(format!("a {m} x {} product does not fit its buffers", w.n)));
        }
        for i in 0..m {
            let ai = &a[i * lda..i * lda + w.k];
            for j in 0..w.n {
                let wj = &w.data[j * w.k..(j + 1) * w.k];
                let mut s = bias.map_or(0.0, |b| b[j]);
                for p in 0..w.k {
                    s += ai[p] * wj[p];
                }
                let cij = &mut c[i * ldc + j];
                *cij = if accumulate { *cij + s } else { s };
            }
        }
        Ok(())
    }
}

/// One direction's weights, prepared for the products: the input weights `W` (`gates·hidden ×
/// input`) and the recurrent ones, whole for RNN and LSTM, split for GRU into the `z, r` rows
/// and the `h` rows (the `h` product needs `r` first).
struct DirWeights<T: CellFloat> {
    w: T::Weights,
    r: Vec<T::Weights>,
}

fn prepare_weights<T: CellFloat>(kind: Kind, w: &[T], r: &[T], dims: &Dims) -> Result<Vec<DirWeights<T>>> {
    let (h, g, i) = (dims.hidden, kind.gates(), dims.input);
    (0..dims.dirs)
        .map(|d| {
            let wd = &w[d * g * h * i..(d + 1) * g * h * i];
            let rd = &r[d * g * h * h..(d + 1) * g * h * h];
            let r = match kind {
                Kind::Gru => vec![T::prepare(&rd[..2 * h * h], 2 * h, h)?, T::prepare(&rd[2 * h * h..], h, h)?],
                _ => vec![T::prepare(rd, g * h, h)?],
            };
            Ok(DirWeights { w: T::prepare(wd, g * h, i)?, r })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Build and run

fn build(ctx: &BuildContext, kind: Kind) -> Result<Box<dyn Op>> {
    let spec = Arc::new(parse_spec(ctx, kind)?);
    // Constant float32 W and R are packed once here.
    let packed: Option<Arc<Vec<DirWeights<f32>>>> = match (ctx.constant_input(1), ctx.constant_input(2)) {
        (Some(Tensor::F32(w)), Some(Tensor::F32(r))) => {
            let shapes = [Some(&[1usize, 1, w.shape().get(2).copied().unwrap_or(0)][..]), Some(w.shape()), Some(r.shape()), None, None, None, None, None];
            // Only when W and R agree with each other; a mismatch is reported when the op runs.
            let dims = check_dims(&spec, &shapes).ok();
            match (dims, w.as_slice(), r.as_slice()) {
                (Some(dims), Some(ws), Some(rs)) => Some(Arc::new(prepare_weights(kind, ws, rs, &dims)?)),
                _ => None,
            }
        }
        _ => None,
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| run(&spec, inputs, packed.as_deref().map(|v| &v[..])))))
}

fn run(spec: &Spec, inputs: &[Option<&Tensor>], packed: Option<&[DirWeights<f32>]>) -> Result<Vec<Tensor>> {
    let k = spec.kind;
    let x = required(inputs, 0, "X")?;
    required(inputs, 1, "W")?;
    required(inputs, 2, "R")?;
    let get = |i: usize| if k != Kind::Lstm && i >= 6 { None } else { optional(inputs, i) };
    let all: [Option<&Tensor>; 8] = std::array::from_fn(get);
    let shapes: [Option<&[usize]>; 8] = std::array::from_fn(|i| all[i].map(|t| t.shape()));
    let dims = check_dims(spec, &shapes)?;
    for (i, t) in all.iter().enumerate() {
        if let Some(t) = t.filter(|_| i != 4) {
            if t.dtype() != x.dtype() {
                return Err(Error::dtype(format!("{}: input {i} is {} but X is {}", k.name(), t.dtype(), x.dtype())));
            }
        }
    }
    let lens = all[4].map(|l| sequence_lengths(k, l, dims.seq)).transpose()?;
    let floats = [0usize, 1, 2, 3, 5, 6, 7];
    match x.dtype() {
        DType::F32 => {
            let arrays = typed::<f32>(&all, &floats)?;
            run_typed(spec, &dims, &arrays, lens.as_deref(), packed)
        }
        DType::F64 => run_typed::<f64>(spec, &dims, &typed(&all, &floats)?, lens.as_deref(), None),
        DType::F16 => {
            let widened: Vec<Option<Tensor>> =
                all.iter().map(|t| t.and_then(|t| t.array::<f16>().ok()).map(|a| Tensor::F32(a.mapv(f16::to_f32)))).collect();
            let refs: [Option<&Tensor>; 8] = std::array::from_fn(|i| widened[i].as_ref());
            let out = run_typed::<f32>(spec, &dims, &typed(&refs, &floats)?, lens.as_deref(), None)?;
            out.into_iter().map(|t| Ok(Tensor::F16(t.array::<f32>()?.mapv(f16::from_f32)))).collect()
        }
        other => Err(Error::dtype(format!("{} expects float tensors, got {other}", k.name()))),
    }
}

/// The row-major data of the float inputs, by input index (`None` where absent).
fn typed<'a, T: Elem>(all: &[Option<&'a Tensor>; 8], which: &[usize]) -> Result<[Option<std::borrow::Cow<'a, [T]>>; 8]> {
    let mut out: [Option<std::borrow::Cow<'a, [T]>>; 8] = Default::default();
    for &i in which {
        if let Some(t) = all[i] {
            out[i] = Some(super::matmul::row_major(t.array::<T>()?));
        }
    }
    Ok(out)
}

fn run_typed<T: CellFloat>(
    spec: &Spec,
    dims: &Dims,
    data: &[Option<std::borrow::Cow<[T]>>; 8],
    lens: Option<&[usize]>,
    packed: Option<&[DirWeights<T>]>,
) -> Result<Vec<Tensor>> {
    let k = spec.kind;
    let (h, g) = (dims.hidden, k.gates());
    let gh = g * h;
    let prepared;
    let weights = match packed {
        Some(p) => p,
        None => {
            let (w, r) = (data[1].as_deref().unwrap_or(&[]), data[2].as_deref().unwrap_or(&[]));
            prepared = prepare_weights(k, w, r, dims)?;
            &prepared[..]
        }
    };
    let x = data[0].as_deref().unwrap_or(&[]);
    let rows = dims.seq * dims.batch;
    // Batch groups that step together: (first row, rows, length).
    let groups: Vec<(usize, usize, usize)> = match lens {
        Some(l) if l.iter().any(|&l| l != dims.seq) => l.iter().enumerate().map(|(b, &l)| (b, 1, l)).collect(),
        _ => vec![(0, dims.batch, dims.seq)],
    };
    let mut y = vec![T::c(0.0); dims.y_shape().iter().product()];
    let state_len = dims.dirs * dims.batch * h;
    let mut y_h = vec![T::c(0.0); state_len];
    let mut y_c = vec![T::c(0.0); if k == Kind::Lstm { state_len } else { 0 }];
    let mut xw = vec![T::c(0.0); rows * gh];
    let mut hs = vec![T::c(0.0); dims.batch * h];
    let mut cs = vec![T::c(0.0); if k == Kind::Lstm { dims.batch * h } else { 0 }];
    let mut scratch = vec![T::c(0.0); if k == Kind::Gru { dims.batch * h } else { 0 }];
    for (d, &dir) in spec.dirs.iter().enumerate() {
        let dw = &weights[d];
        // XW = X · Wᵀ + Wb + Rb (GRU with linear_before_reset: Rb of the h gate stays apart).
        let b = data[3].as_deref().map(|b| &b[d * 2 * gh..(d + 1) * 2 * gh]);
        let bias: Option<Vec<T>> = b.map(|b| {
            (0..gh).map(|j| if spec.linear_before_reset && j >= 2 * h { b[j] } else { b[j] + b[gh + j] }).collect()
        });
        T::product(x, rows, dims.input, &dw.w, &mut xw, gh, false, bias.as_deref())?;
        let rbh: Option<&[T]> = b.filter(|_| spec.linear_before_reset).map(|b| &b[gh + 2 * h..2 * gh]);
        let p = data[7].as_deref().map(|p| &p[d * 3 * h..(d + 1) * 3 * h]);
        for b in 0..dims.batch {
            let s = dims.state_at(d, b);
            let init = |i: usize, dst: &mut [T]| match data[i].as_deref() {
                Some(v) => dst.copy_from_slice(&v[s..s + h]),
                None => dst.fill(T::c(0.0)),
            };
            init(5, &mut hs[b * h..(b + 1) * h]);
            if k == Kind::Lstm {
                init(6, &mut cs[b * h..(b + 1) * h]);
            }
        }
        let cell = Cell::<T> { spec, acts: &spec.acts[d], h, p, rbh };
        let ldc = dims.batch_stride() * gh;
        for &(b0, nb, len) in &groups {
            for j in 0..len {
                let t = if dir == Direction::Forward { j } else { len - 1 - j };
                let off = dims.x_row(t, b0) * gh;
                let gates = &mut xw[off..];
                let hg = &mut hs[b0 * h..(b0 + nb) * h];
                match k {
                    Kind::Rnn => {
                        T::product(hg, nb, h, &dw.r[0], gates, ldc, true, None)?;
                        cell.rnn(gates, ldc, hg);
                    }
                    Kind::Lstm => {
                        T::product(hg, nb, h, &dw.r[0], gates, ldc, true, None)?;
                        cell.lstm(gates, ldc, hg, &mut cs[b0 * h..(b0 + nb) * h]);
                    }
                    Kind::Gru => cell.gru(gates, ldc, hg, &mut scratch[..nb * h], &dw.r)?,
                }
                for i in 0..nb {
                    let at = dims.y_at(t, d, b0 + i);
                    y[at..at + h].copy_from_slice(&hs[(b0 + i) * h..(b0 + i + 1) * h]);
                }
            }
        }
        for b in 0..dims.batch {
            if lens.is_some_and(|l| l[b] == 0) {
                continue; // an empty sequence has zero final states (as onnxruntime's)
            }
            let s = dims.state_at(d, b);
            y_h[s..s + h].copy_from_slice(&hs[b * h..(b + 1) * h]);
            if k == Kind::Lstm {
                y_c[s..s + h].copy_from_slice(&cs[b * h..(b + 1) * h]);
            }
        }
    }
    let mut out = vec![Tensor::from_vec(&dims.y_shape(), y)?, Tensor::from_vec(&dims.state_shape(), y_h)?];
    if k == Kind::Lstm {
        out.push(Tensor::from_vec(&dims.state_shape(), y_c)?);
    }
    Ok(out)
}

/// The gate equations of one direction, applied to the `nb` batch rows of one time step.
/// `gates` holds row `i`'s pre-activations (input and recurrent products, biases) at `i * ldc`;
/// `hs` (and `cs`) the rows' states, updated in place.
struct Cell<'a, T> {
    spec: &'a Spec,
    acts: &'a [Activation],
    h: usize,
    /// LSTM peepholes `i, o, f` of this direction.
    p: Option<&'a [T]>,
    /// GRU with linear_before_reset: the recurrent bias of the h gate.
    rbh: Option<&'a [T]>,
}

impl<T: CellFloat> Cell<'_, T> {
    fn rnn(&self, gates: &mut [T], ldc: usize, hs: &mut [T]) {
        let h = self.h;
        for (i, hrow) in hs.chunks_exact_mut(h).enumerate() {
            let g = &mut gates[i * ldc..i * ldc + h];
            self.acts[0].apply_all(g, self.spec.clip);
            hrow.copy_from_slice(g);
        }
    }

    fn lstm(&self, gates: &mut [T], ldc: usize, hs: &mut [T], cs: &mut [T]) {
        let h = self.h;
        let (f, g, hact, clip) = (self.acts[0], self.acts[1], self.acts[2], self.spec.clip);
        let one = T::c(1.0);
        for (i, (hrow, crow)) in hs.chunks_exact_mut(h).zip(cs.chunks_exact_mut(h)).enumerate() {
            let (gi, rest) = gates[i * ldc..i * ldc + 4 * h].split_at_mut(h);
            let (go, rest) = rest.split_at_mut(h);
            let (gf, gc) = rest.split_at_mut(h);
            if let Some(p) = self.p {
                for j in 0..h {
                    gi[j] = gi[j] + p[j] * crow[j];
                    gf[j] = gf[j] + p[2 * h + j] * crow[j];
                }
            }
            f.apply_all(gi, clip);
            if self.spec.input_forget {
                for (fv, &iv) in gf.iter_mut().zip(gi.iter()) {
                    *fv = one - iv;
                }
            } else {
                f.apply_all(gf, clip);
            }
            g.apply_all(gc, clip);
            for j in 0..h {
                crow[j] = gf[j] * crow[j] + gi[j] * gc[j];
            }
            if let Some(p) = self.p {
                for j in 0..h {
                    go[j] = go[j] + p[h + j] * crow[j];
                }
            }
            f.apply_all(go, clip);
            hrow.copy_from_slice(crow);
            hact.apply_all(hrow, None);
            for (hv, &ov) in hrow.iter_mut().zip(go.iter()) {
                *hv = ov * *hv;
            }
        }
    }

    /// GRU: `z, r` from the recurrent product of their rows of R, then the h gate, whose
    /// recurrent product reads `r ⊙ H` (or, with linear_before_reset, is scaled by `r`).
    fn gru(&self, gates: &mut [T], ldc: usize, hs: &mut [T], scratch: &mut [T], r: &[T::Weights]) -> Result<()> {
        let h = self.h;
        let nb = hs.len() / h;
        let (f, g, clip) = (self.acts[0], self.acts[1], self.spec.clip);
        let one = T::c(1.0);
        T::product(hs, nb, h, &r[0], gates, ldc, true, None)?;
        for i in 0..nb {
            f.apply_all(&mut gates[i * ldc..i * ldc + 2 * h], clip);
        }
        if self.spec.linear_before_reset {
            // scratch = H · Rhᵀ + Rbh; h gate += r ⊙ scratch
            T::product(hs, nb, h, &r[1], scratch, h, false, self.rbh)?;
            for i in 0..nb {
                let (zr, gh) = gates[i * ldc..i * ldc + 3 * h].split_at_mut(2 * h);
                for j in 0..h {
                    gh[j] = gh[j] + zr[h + j] * scratch[i * h + j];
                }
                g.apply_all(gh, clip);
            }
        } else {
            // scratch = r ⊙ H, then h gate += scratch · Rhᵀ
            for i in 0..nb {
                for j in 0..h {
                    scratch[i * h + j] = gates[i * ldc + h + j] * hs[i * h + j];
                }
            }
            T::product(scratch, nb, h, &r[1], &mut gates[2 * h..], ldc, true, None)?;
            for i in 0..nb {
                g.apply_all(&mut gates[i * ldc + 2 * h..i * ldc + 3 * h], clip);
            }
        }
        for i in 0..nb {
            let gr = &gates[i * ldc..i * ldc + 3 * h];
            for j in 0..h {
                let z = gr[j];
                let hv = &mut hs[i * h + j];
                *hv = (one - z) * gr[2 * h + j] + z * *hv;
            }
        }
        Ok(())
    }
}
