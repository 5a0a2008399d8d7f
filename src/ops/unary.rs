//! Elementwise ops of one input: activations (Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish,
//! Tanh, Gelu, Elu, Selu, Softplus, Softsign), Clip, math (Erf, Sqrt, Exp, Log, Neg, Abs, Sign,
//! Reciprocal, Floor, Ceil, Round) and the normalizing Softmax / LogSoftmax along an axis.
//!
//! Float ops are written once as an expression over a concrete float type `R` (f32 or f64) and
//! expanded per element type by [`float_map!`]; float16 computes in f32. Ops that also accept
//! integers (Relu, Clip, Neg, Abs, Sign) use the [`Num`] rules of elementwise.rs.
//!
//! Erf has no std implementation; [`erf64`] computes it in f64 (absolute error below 1e-14) from
//! Chebyshev fits, checked against a slow exact series in the tests. For f32, exp and erf have
//! branch-free versions ([`exp_f32`], [`tanh_f32`], [`erf_f32`]) that compile to SIMD loops.
use super::elementwise::{contiguous, map_elems, Num};
use super::wide::{self, Wide};
use super::registry::{optional, required, BuildContext, FnOp, Op, QuantRule, Registry};
use crate::error::{Error, Result};
use crate::tensor::{Elem, Tensor};
use crate::kernels::velementwise::{unary_f32, UnaryF32};
use crate::kernels::vnorm::softmax_f32;
use half::f16;
pub(crate) use crate::kernels::math::{erf_f32, exp_f32, tanh_f32, ERFC_MID, ERF_SMALL};
use ndarray::{ArrayD, IxDyn};

/// Applies `|$x| $body` to every element of a float tensor, with `$R` naming the element type
/// the body computes in (f32 for float32 and float16, f64 for float64).
macro_rules! float_map {
    ($t:expr, $R:ident, |$x:ident| $body:expr) => {{
        // `map_elems`: a plain loop over a contiguous slice, with the body inlined (and
        // vectorized where the build's opt-level vectorizes). float16 runs the float32 body
        // (one closure, so one loop serves both).
        #[allow(dead_code)]
        type $R = f32;
        let f32_body = |$x: f32| -> f32 { $body };
        match $t {
            Tensor::F32(a) => map_elems(a, f32_body).map(Tensor::F32),
            Tensor::F16(a) => map_elems(&map_elems(a, f16::to_f32)?, f32_body).and_then(|y| map_elems(&y, f16::from_f32)).map(Tensor::F16),
            Tensor::F64(a) => {
                #[allow(dead_code)]
                type $R = f64;
                map_elems(a, |$x: f64| $body).map(Tensor::F64)
            }
            other => Err(not_float(other)),
        }
    }};
}

pub(crate) use float_map;

/// Like [`float_map!`], with float32 and float16 running the vectorized kernel `$kernel`
/// ([`UnaryF32`], the same rule as `$body`, written once for f32 in the kernels crate) and only
/// float64 the generic body.
macro_rules! float_op {
    ($t:expr, $kernel:expr, $R:ident, |$x:ident| $body:expr) => {
        match $t {
            Tensor::F32(a) => f32_unary(a, $kernel).map(Tensor::F32),
            Tensor::F16(a) => f16_unary(a, $kernel).map(Tensor::F16),
            Tensor::F64(a) => {
                #[allow(dead_code)]
                type $R = f64;
                map_elems(a, |$x: f64| $body).map(Tensor::F64)
            }
            other => Err(not_float(other)),
        }
    };
}

/// A float32 array through the [`UnaryF32`] kernel.
fn f32_unary(a: &ArrayD<f32>, op: UnaryF32) -> Result<ArrayD<f32>> {
    let a = a.as_standard_layout();
    let x = contiguous(&a)?;
    let mut out = Vec::new();
    unary_f32(op, x, &mut out);
    ArrayD::from_shape_vec(IxDyn(a.shape()), out).map_err(|e| Error::shape(e.to_string()))
}

/// A float16 array computed in f32 by the [`UnaryF32`] kernel, rounded back once.
fn f16_unary(a: &ArrayD<f16>, op: UnaryF32) -> Result<ArrayD<f16>> {
    let wide = f32_unary(&map_elems(a, f16::to_f32)?, op)?;
    map_elems(&wide, f16::from_f32)
}

/// Applies a [`Num`] method to every element of a numeric tensor through the wide path
/// (src/ops/wide.rs: floats in f64, integers in i128, then truncated: exact for the wrapping
/// negation, absolute value and sign of every type).
macro_rules! num_map {
    ($t:expr, $what:expr, $f:path) => {
        wide::map($t, $what, &|x: f64| $f(x), &|x: i128| $f(x))
    };
}

pub fn register(r: &mut Registry) {
    r.register("", "Relu", |_| Ok(unary(relu))).quant(QuantRule::Relu);
    r.register("", "LeakyRelu", build_leaky_relu).quant(QuantRule::Unary);
    r.register("", "Clip", build_clip).quant(QuantRule::Clip);
    r.register("", "Sigmoid", |_| Ok(unary(|t| float_op!(t, UnaryF32::Sigmoid, R, |x| 1.0 / (1.0 + (-x).exp_r()))))).quant(QuantRule::Unary);
    r.register("", "HardSigmoid", build_hard_sigmoid);
    r.register("", "HardSwish", |_| {
        Ok(unary(|t| float_op!(t, UnaryF32::HardSwish, R, |x| x * (x * R::c(1.0 / 6.0) + 0.5).clamp(0.0, 1.0))))
    });
    r.register("", "Tanh", |_| Ok(unary(|t| float_op!(t, UnaryF32::Tanh, R, |x| x.tanh_r()))));
    r.register("", "Erf", |_| Ok(unary(|t| float_op!(t, UnaryF32::Erf, R, |x| x.erf_r()))));
    r.register("", "Gelu", build_gelu);
    r.register("", "Elu", build_elu);
    r.register("", "Selu", build_selu);
    r.register("", "Softplus", |_| Ok(unary(|t| float_map!(t, R, |x| if x > 30.0 { x } else { x.exp().ln_1p() }))));
    r.register("", "Softsign", |_| Ok(unary(|t| float_map!(t, R, |x| x / (1.0 + x.abs())))));
    r.register("", "Sqrt", |_| Ok(unary(|t| float_op!(t, UnaryF32::Sqrt, R, |x| x.sqrt()))));
    r.register("", "Exp", |_| Ok(unary(|t| float_op!(t, UnaryF32::Exp, R, |x| x.exp()))));
    r.register("", "Log", |_| Ok(unary(|t| float_map!(t, R, |x| x.ln()))));
    r.register("", "Reciprocal", |_| Ok(unary(|t| float_map!(t, R, |x| 1.0 / x))));
    r.register("", "Floor", |_| Ok(unary(|t| float_map!(t, R, |x| x.floor()))));
    r.register("", "Ceil", |_| Ok(unary(|t| float_map!(t, R, |x| x.ceil()))));
    r.register("", "Round", |_| Ok(unary(|t| float_map!(t, R, |x| x.round_ties_even()))));
    r.register("", "Neg", |_| Ok(unary(|t| f32_or(t, UnaryF32::Neg, |t| num_map!(t, "Neg", neg)))));
    r.register("", "Abs", |_| Ok(unary(|t| f32_or(t, UnaryF32::Abs, |t| num_map!(t, "Abs", abs)))));
    r.register("", "Sign", |_| Ok(unary(|t| num_map!(t, "Sign", sign))));
    r.register("", "Softmax", |ctx| build_softmax(ctx, false)).quant(QuantRule::Softmax);
    r.register("", "LogSoftmax", |ctx| build_softmax(ctx, true));
}

/// A float type the float ops compute in.
pub(crate) trait Real:
    Num
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
{
    /// A constant (attribute values are f32 or f64; this converts them once).
    fn c(v: f64) -> Self;
    /// e^x: [`exp_f32`] for f32 (branch-free, so loops over it vectorize), std for f64.
    fn exp_r(self) -> Self;
    fn ln_r(self) -> Self;
    /// tanh: [`tanh_f32`] for f32, std for f64.
    fn tanh_r(self) -> Self;
    fn erf_r(self) -> Self;
}

impl Real for f32 {
    #[inline]
    fn c(v: f64) -> Self {
        v as f32
    }
    #[inline(always)]
    fn exp_r(self) -> Self {
        exp_f32(self)
    }
    #[inline]
    fn ln_r(self) -> Self {
        self.ln()
    }
    #[inline(always)]
    fn tanh_r(self) -> Self {
        tanh_f32(self)
    }
    #[inline(always)]
    fn erf_r(self) -> Self {
        erf_f32(self)
    }
}

impl Real for f64 {
    #[inline]
    fn c(v: f64) -> Self {
        v
    }
    #[inline]
    fn exp_r(self) -> Self {
        self.exp()
    }
    #[inline]
    fn ln_r(self) -> Self {
        self.ln()
    }
    #[inline]
    fn tanh_r(self) -> Self {
        self.tanh()
    }
    #[inline]
    fn erf_r(self) -> Self {
        erf64(self)
    }
}

pub(super) fn not_float(t: &Tensor) -> Error {
    Error::dtype(format!("expects a float tensor (float32, float64, float16), got {}", t.dtype()))
}

fn neg<T: WideOrFloat>(x: T) -> T {
    x.negate()
}
fn abs<T: WideOrFloat>(x: T) -> T {
    x.absolute()
}
fn sign<T: WideOrFloat>(x: T) -> T {
    x.sign()
}

/// Neg, Abs and Sign on the two wide value types: f64 with [`Num`]'s rules, i128 with the
/// integer ones (truncated to the type afterwards: `-MIN` and `|MIN|` wrap to `MIN`, unsigned
/// values are non-negative so Abs keeps them and Sign gives 0 or 1).
trait WideOrFloat: Copy {
    fn negate(self) -> Self;
    fn absolute(self) -> Self;
    fn sign(self) -> Self;
}
impl WideOrFloat for f64 {
    fn negate(self) -> Self {
        Num::negate(self)
    }
    fn absolute(self) -> Self {
        Num::absolute(self)
    }
    fn sign(self) -> Self {
        Num::sign(self)
    }
}
impl WideOrFloat for i128 {
    fn negate(self) -> Self {
        -self
    }
    fn absolute(self) -> Self {
        self.abs()
    }
    fn sign(self) -> Self {
        self.signum()
    }
}

/// float32 through the [`UnaryF32`] kernel `op`, every other type through `other`.
fn f32_or(t: &Tensor, op: UnaryF32, other: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    match t {
        Tensor::F32(a) => f32_unary(a, op).map(Tensor::F32),
        t => other(t),
    }
}

/// An op of one required input and one output.
pub(super) fn unary(f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![f(required(inputs, 0, "X")?)?])))
}

// ---------------------------------------------------------------------------------------------
// Activations with attributes

/// `x < 0 ? 0 : x` (NaN stays NaN, as numpy's maximum(x, 0)).
fn relu(t: &Tensor) -> Result<Tensor> {
    if let Tensor::F32(a) = t {
        return f32_unary(a, UnaryF32::Relu).map(Tensor::F32);
    }
    wide::map(t, "Relu", &|x: f64| if x < 0.0 { 0.0 } else { x }, &|x: i128| x.max(0))
}

fn build_leaky_relu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 0.01)? as f64;
    Ok(unary(move |t| float_op!(t, UnaryF32::LeakyRelu { alpha: alpha as f32 }, R, |x| if x < 0.0 { x * R::c(alpha) } else { x })))
}

fn build_hard_sigmoid(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 0.2)? as f64;
    let beta = ctx.attrs().float_or("beta", 0.5)? as f64;
    let kernel = UnaryF32::HardSigmoid { alpha: alpha as f32, beta: beta as f32 };
    Ok(unary(move |t| float_op!(t, kernel, R, |x| (x * R::c(alpha) + R::c(beta)).clamp(0.0, 1.0))))
}

fn build_elu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 1.0)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| if x < 0.0 { R::c(alpha) * (x.exp() - 1.0) } else { x })))
}

fn build_selu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 1.673_263_2)? as f64;
    let gamma = ctx.attrs().float_or("gamma", 1.050_701)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| R::c(gamma) * if x <= 0.0 { R::c(alpha) * (x.exp() - 1.0) } else { x })))
}

fn build_gelu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    match ctx.attrs().string_or("approximate", "none")? {
        "none" => {
            Ok(unary(|t| float_op!(t, UnaryF32::Gelu, R, |x| 0.5 * x * (1.0 + (x * R::c(std::f64::consts::FRAC_1_SQRT_2)).erf_r()))))
        }
        "tanh" => Ok(unary(|t| {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            float_op!(t, UnaryF32::GeluTanh, R, |x| 0.5 * x * (1.0 + (R::c(k) * (x + R::c(0.044715) * x * x * x)).tanh_r()))
        })),
        other => Err(Error::invalid(format!("Gelu: approximate must be \"none\" or \"tanh\", got \"{other}\""))),
    }
}

// ---------------------------------------------------------------------------------------------
// Clip

fn build_clip(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    if ctx.opset < 11 {
        // Clip-6: float bounds in attributes, float tensors only.
        let lo = ctx.attrs().float("min")?.map(f64::from);
        let hi = ctx.attrs().float("max")?.map(f64::from);
        return Ok(unary(move |t| match t {
            Tensor::F32(a) => f32_unary(a, UnaryF32::Clip { lo: lo.map(|v| v as f32), hi: hi.map(|v| v as f32) }).map(Tensor::F32),
            Tensor::F64(_) | Tensor::F16(_) => {
                // The bounds rounded to the input's type, as the comparison in that type sees them.
                let (l, h) = (lo.map(|v| wide::round_float(t.dtype(), v)), hi.map(|v| wide::round_float(t.dtype(), v)));
                wide::map(t, "Clip", &|x| clip_one(x, l, h), &|x| x)
            }
            other => Err(not_float(other)),
        }));
    }
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        // The bounds have the input's type (checked before narrow types widen, so an error names
        // the model's types); then all three widen together.
        let (lo, hi) = (optional(inputs, 1), optional(inputs, 2));
        for (b, what) in [(lo, "min"), (hi, "max")] {
            if let Some(b) = b.filter(|b| b.dtype() != x.dtype()) {
                return Err(Error::dtype(format!("Clip {what}: expected a {} tensor, got {}", x.dtype(), b.dtype())));
            }
        }
        if let Tensor::F32(a) = x {
            let bounds = [Some(x), lo, hi];
            let op = UnaryF32::Clip { lo: bound(&bounds, 1, "min")?, hi: bound(&bounds, 2, "max")? };
            return Ok(vec![Tensor::F32(f32_unary(a, op)?)]);
        }
        // Every other type through the wide path, the bounds read the same way.
        let (lo, hi) = (wide_bound(lo, "min")?, wide_bound(hi, "max")?);
        let as_f = |b: &Option<Wide>| match b {
            Some(Wide::F(v)) => v.first().copied(),
            _ => None,
        };
        let as_i = |b: &Option<Wide>| match b {
            Some(Wide::I(v)) => v.first().copied(),
            _ => None,
        };
        let (fl, fh, il, ih) = (as_f(&lo), as_f(&hi), as_i(&lo), as_i(&hi));
        Ok(vec![wide::map(x, "Clip", &|v| clip_one(v, fl, fh), &|v| clip_one(v, il, ih))?])
    })))
}

/// The optional scalar bound at input `i`, of the input's element type.
fn bound<T: Elem>(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<Option<T>> {
    let Some(t) = optional(inputs, i) else { return Ok(None) };
    let a = t.array::<T>().map_err(|e| Error::dtype(format!("Clip {what}: {e}")))?;
    if a.len() != 1 {
        return Err(Error::shape(format!("Clip {what} must be a scalar, got shape {:?}", a.shape())));
    }
    Ok(a.iter().next().copied())
}

/// The optional scalar bound at input `i` as a wide value (its type was checked to be X's).
fn wide_bound(t: Option<&Tensor>, what: &str) -> Result<Option<Wide>> {
    let Some(t) = t else { return Ok(None) };
    if t.len() != 1 {
        return Err(Error::shape(format!("Clip {what} must be a scalar, got shape {:?}", t.shape())));
    }
    Ok(Some(wide::values(t)))
}

/// `min(max(x, lo), hi)`: when lo > hi every value becomes hi, as the spec says; NaN stays NaN.
#[inline]
fn clip_one<T: PartialOrd + Copy>(v: T, lo: Option<T>, hi: Option<T>) -> T {
    let v = match lo {
        Some(l) if v < l => l,
        _ => v,
    };
    match hi {
        Some(h) if v > h => h,
        _ => v,
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax

fn build_softmax(ctx: &BuildContext, log: bool) -> Result<Box<dyn Op>> {
    let legacy = ctx.opset < 13;
    let axis = ctx.attrs().int_or("axis", if legacy { 1 } else { -1 })?;
    Ok(unary(move |t| {
        let shape = t.shape();
        let r = shape.len() as i64;
        // Softmax over groups of n elements spaced `inner` apart.
        let (n, inner) = if legacy {
            // Softmax-1/11: the input is coerced to 2-D [d0*..*d(axis-1), d(axis)*..*d(r-1)].
            let a = if axis < 0 { axis + r } else { axis };
            if a < 0 || a > r {
                return Err(Error::invalid(format!("axis {axis} is out of range for rank {r}")));
            }
            let a = a as usize;
            (shape[a..].iter().product::<usize>(), 1usize)
        } else {
            let a = super::registry::normalize_axis(axis, shape.len())?;
            (shape[a], shape[a + 1..].iter().product::<usize>())
        };
        match t {
            // float32 (and float16, computed in float32): the kernels crate's row kernel.
            Tensor::F32(a) => Ok(Tensor::F32(softmax_f32_array(a, n, inner, log)?)),
            Tensor::F16(a) => {
                let y = softmax_f32_array(&map_elems(a, f16::to_f32)?, n, inner, log)?;
                Ok(Tensor::F16(map_elems(&y, f16::from_f32)?))
            }
            Tensor::F64(a) => Ok(Tensor::F64(softmax_array(a, n, inner, log)?)),
            other => Err(not_float(other)),
        }
    }))
}

fn softmax_f32_array(a: &ArrayD<f32>, n: usize, inner: usize, log: bool) -> Result<ArrayD<f32>> {
    let mut data = a.as_standard_layout().into_owned().into_raw_vec_and_offset().0;
    softmax_f32(&mut data, n, inner, log);
    ArrayD::from_shape_vec(IxDyn(a.shape()), data).map_err(|e| Error::shape(e.to_string()))
}

fn softmax_array<R: Real>(a: &ArrayD<R>, n: usize, inner: usize, log: bool) -> Result<ArrayD<R>> {
    let mut data: Vec<R> = match a.as_slice() {
        Some(s) => s.to_vec(),
        None => a.iter().copied().collect(),
    };
    softmax_in_place(&mut data, n, inner, log);
    ArrayD::from_shape_vec(IxDyn(a.shape()), data).map_err(|e| Error::shape(e.to_string()))
}

/// Numerically stable softmax (or log-softmax) of every group of `n` elements spaced `inner`
/// apart, over blocks of `n * inner` contiguous elements.
fn softmax_in_place<R: Real>(data: &mut [R], n: usize, inner: usize, log: bool) {
    if n == 0 || inner == 0 || data.is_empty() {
        return;
    }
    let zero = R::c(0.0);
    if inner == 1 {
        for row in data.chunks_exact_mut(n) {
            let max = |a: R, v: R| if v > a { v } else { a };
            let m = lanes(row, R::c(f64::NEG_INFINITY), max, max);
            if log {
                let sum = lanes(row, zero, |a, v| a + (v - m).exp_r(), |a, b| a + b);
                let l = sum.ln_r();
                row.iter_mut().for_each(|v| *v = (*v - m) - l);
            } else {
                row.iter_mut().for_each(|v| *v = (*v - m).exp_r());
                let s = R::c(1.0) / lanes(row, zero, |a, v| a + v, |a, b| a + b);
                row.iter_mut().for_each(|v| *v = *v * s);
            }
        }
        return;
    }
    let mut maxes = vec![zero; inner];
    let mut sums = vec![zero; inner];
    for block in data.chunks_exact_mut(n * inner) {
        maxes.copy_from_slice(&block[..inner]);
        for row in block.chunks_exact(inner).skip(1) {
            for (m, &v) in maxes.iter_mut().zip(row) {
                if v > *m {
                    *m = v;
                }
            }
        }
        sums.iter_mut().for_each(|s| *s = zero);
        for row in block.chunks_exact_mut(inner) {
            for ((v, &m), s) in row.iter_mut().zip(&maxes).zip(sums.iter_mut()) {
                let d = *v - m;
                let e = d.exp_r();
                *s = *s + e;
                *v = if log { d } else { e };
            }
        }
        if log {
            sums.iter_mut().for_each(|s| *s = s.ln_r());
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&sums).for_each(|(v, &l)| *v = *v - l);
            }
        } else {
            sums.iter_mut().for_each(|s| *s = R::c(1.0) / *s);
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&sums).for_each(|(v, &s)| *v = *v * s);
            }
        }
    }
}

/// Folds `row` with `f` into 8 independent accumulators, merged at the end with `merge`, so
/// that the loop vectorizes (a single float accumulator is a serial dependency chain).
#[inline(always)]
fn lanes<R: Real>(row: &[R], init: R, f: impl Fn(R, R) -> R, merge: impl Fn(R, R) -> R) -> R {
    let mut acc = [init; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = f(*a, v);
        }
    }
    let mut r = rest.iter().fold(init, |a, &v| f(a, v));
    for a in acc {
        r = merge(r, a);
    }
    r
}

// ---------------------------------------------------------------------------------------------
// erf

/// The error function in f64, absolute error below 1e-14, in three ranges of |x|:
///
/// - below 1: x * S(2x^2 - 1), S a Chebyshev series of erf(x)/x;
/// - 1 to 4: 1 - exp(-x^2) * M((2x - 5) / 3), M a Chebyshev series of exp(x^2) * erfc(x),
///   a smooth function (0.43 at 1, 0.14 at 4);
/// - 4 to 6: 1 - erfc(x) from erfc's continued fraction; beyond 6, erf = ±1 in f64.
///
/// The coefficients are Chebyshev interpolants (60 nodes, truncated where the terms reach
/// 1e-14) of the slow but exact reference in this file's tests, [`tests::erf_reference`] (a
/// positive-term series below 2.5, the continued fraction above), which also checks this
/// function on a dense grid.
pub(crate) fn erf64(x: f64) -> f64 {
    let a = x.abs();
    if a.is_nan() {
        return x;
    }
    let r = if a < 1.0 {
        a * chebyshev(&ERF_SMALL, 2.0 * a * a - 1.0)
    } else if a < 4.0 {
        1.0 - (-a * a).exp() * chebyshev(&ERFC_MID, (2.0 * a - 5.0) / 3.0)
    } else if a < 6.0 {
        1.0 - erfc_cf(a)
    } else {
        1.0
    };
    r.copysign(x)
}

/// sum c[k] T_k(t) by Clenshaw's recurrence (c[0] is the plain constant term).
#[inline]
fn chebyshev(c: &[f64], t: f64) -> f64 {
    let (mut b1, mut b2) = (0.0, 0.0);
    for &ck in c.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + ck;
        b2 = b1;
        b1 = b0;
    }
    t * b1 - b2 + c.first().copied().unwrap_or(0.0)
}



/// erfc(x) for x >= 2.5 by its continued fraction
/// exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated bottom-up.
fn erfc_cf(x: f64) -> f64 {
    let mut t = x;
    for k in (1..=60).rev() {
        t = x + (k as f64 * 0.5) / t;
    }
    (-x * x).exp() / (t * std::f64::consts::PI.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Attrs, Graph, Node};

    /// The slow, exact erf the fast one is fitted to and checked against: for |x| < 2.5,
    /// erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_{k>=0} (2x^2)^k x / (1*3*...*(2k+1)) (positive
    /// terms, no cancellation); above, 1 - erfc from the continued fraction.
    pub(super) fn erf_reference(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 2.5 {
            let a2 = a * a;
            let (mut term, mut sum, mut k) = (a, a, 1.0);
            loop {
                k += 2.0;
                term *= 2.0 * a2 / k;
                sum += term;
                if term <= sum * 1e-17 {
                    break;
                }
            }
            std::f64::consts::FRAC_2_SQRT_PI * (-a2).exp() * sum
        } else if a < 6.0 {
            1.0 - erfc_cf(a)
        } else {
            1.0
        };
        r.copysign(x)
    }

    #[test]
    fn erf_matches_the_reference_on_a_dense_grid() {
        let mut worst = (0.0f64, 0.0f64);
        for i in 0..=70_000 {
            let x = i as f64 * 1e-4;
            let err = (erf64(x) - erf_reference(x)).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(worst.0 < 1e-14, "max |erf64 - reference| = {:e} at {}", worst.0, worst.1);
        // Relative accuracy of the tail, where 1 - erf matters (erfc(x) = exp(-x^2) * M).
        for i in 0..=300 {
            let x = 1.0 + i as f64 * 0.01;
            let fast = (-x * x).exp() * chebyshev(&ERFC_MID, (2.0 * x - 5.0) / 3.0);
            let exact = if x >= 2.5 { erfc_cf(x) } else { 1.0 - erf_reference(x) };
            assert!(((fast - exact) / exact).abs() < 1e-11, "erfc({x}): {fast:e} vs {exact:e}");
        }
    }

    #[test]
    fn fast_f32_functions_match_f64() {
        let mut worst_exp = 0.0f64;
        let mut worst_erf = 0.0f64;
        for i in -200_000..=200_000 {
            let x = i as f32 * 5e-4; // [-100, 100]
            let (e, want) = (exp_f32(x) as f64, (x as f64).exp());
            if want > 1e-37 && want < 3e38 {
                worst_exp = worst_exp.max(((e - want) / want).abs());
            }
            let x = i as f32 * 4e-5; // [-8, 8]
            worst_erf = worst_erf.max((erf_f32(x) as f64 - erf64(x as f64)).abs());
        }
        assert!(worst_exp < 2e-7, "exp_f32 relative error {worst_exp:e}");
        let mut worst_tanh = 0.0f64;
        for i in -100_000..=100_000 {
            let x = i as f32 * 1e-4; // [-10, 10], dense near 0
            let want = (x as f64).tanh();
            let got = tanh_f32(x) as f64;
            let err = if want == 0.0 { got.abs() } else { ((got - want) / want).abs() };
            worst_tanh = worst_tanh.max(err);
        }
        assert!(worst_tanh < 3e-7, "tanh_f32 relative error {worst_tanh:e}");
        for x in [1e-30f32, -1e-8, 50.0, -50.0, f32::INFINITY] {
            assert!(((tanh_f32(x) as f64 - (x as f64).tanh()) / (x as f64).tanh()).abs() < 3e-7, "tanh({x})");
        }
        assert!(tanh_f32(f32::NAN).is_nan());
        assert!(worst_erf < 3e-7, "erf_f32 absolute error {worst_erf:e}");
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(f32::NAN).is_nan());
        assert!(exp_f32(-100.0) > 0.0 && exp_f32(-100.0) < 1e-43);
        assert!(erf_f32(f32::NAN).is_nan());
        assert_eq!(erf_f32(f32::INFINITY), 1.0);
        assert_eq!(erf_f32(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn erf_matches_reference_values() {
        // erf values from high-precision tables (Abramowitz & Stegun / mpmath).
        let cases = [
            (0.0, 0.0),
            (1e-10, 1.1283791670955126e-10),
            (0.1, 0.1124629160182849),
            (0.5, 0.5204998778130465),
            (1.0, 0.8427007929497149),
            (1.5, 0.9661051464753108),
            (2.0, 0.9953222650189527),
            (2.5, 0.999593047982555),
            (3.0, 0.9999779095030014),
            (4.0, 0.9999999845827421),
            (5.9, 1.0),
            (7.0, 1.0),
        ];
        for (x, want) in cases {
            let tol = 1e-14;
            for f in [erf64, erf_reference] {
                assert!((f(x) - want).abs() < tol, "erf({x}) = {} want {want}", f(x));
                assert!((f(-x) + want).abs() < tol);
            }
        }
        // erfc tail against known values (relative accuracy).
        for (x, want) in [
            (2.5, 4.06952017444959e-4),
            (3.0, 2.209049699858544e-5),
            (4.0, 1.541725790028002e-8),
            (5.0, 1.537459794428035e-12),
        ] {
            assert!(((erfc_cf(x) - want) / want).abs() < 1e-12, "erfc({x}) = {} want {want}", erfc_cf(x));
        }
        assert!(erf64(f64::NAN).is_nan());
        assert_eq!(erf64(f64::INFINITY), 1.0);
        assert_eq!(erf64(f64::NEG_INFINITY), -1.0);
    }

    #[test]
    fn erf_is_continuous_where_the_method_changes() {
        for x in [1.0, 4.0, 6.0] {
            for x in [x - 1e-12, x, x + 1e-12] {
                let (fast, exact) = (erf64(x), erf_reference(x));
                assert!((fast - exact).abs() < 1e-14, "erf({x}): {fast} vs {exact}");
            }
        }
    }

    #[test]
    fn softmax_along_middle_axis_matches_rows() {
        // [2,3,2] along axis 1 equals the softmax of each strided group.
        let x: Vec<f64> = (0..12).map(|v| (v as f64 * 0.37).sin()).collect();
        let mut got = x.clone();
        softmax_in_place(&mut got, 3, 2, false);
        for o in 0..2 {
            for i in 0..2 {
                let idx: Vec<usize> = (0..3).map(|j| o * 6 + j * 2 + i).collect();
                let s: f64 = idx.iter().map(|&k| x[k].exp()).sum();
                for &k in &idx {
                    assert!((got[k] - x[k].exp() / s).abs() < 1e-12);
                }
            }
        }
        let mut lg = x.clone();
        softmax_in_place(&mut lg, 3, 2, true);
        for (l, g) in lg.iter().zip(&got) {
            assert!((l.exp() - g).abs() < 1e-12);
        }
    }

    /// Narrow types widen for Neg, Abs, Sign, Relu and Clip: every int8 and uint8 value and a
    /// spread of float16 values give what the element rule computes in the narrow type itself.
    #[test]
    fn narrow_types_compute_in_their_wide_type_exactly() {
        fn build(op_type: &str) -> Box<dyn Op> {
            let mut r = Registry::default();
            register(&mut r);
            let node = Node { name: String::new(), op_type: op_type.into(), domain: String::new(), inputs: vec![], outputs: vec![], attrs: Attrs::default() };
            r.build(&BuildContext { node: &node, graph: &Graph::default(), opset: 13 }).unwrap()
        }
        fn run(op_type: &str, inputs: &[&Tensor]) -> Tensor {
            let inputs: Vec<Option<&Tensor>> = inputs.iter().map(|&t| Some(t)).collect();
            build(op_type).run(&inputs).unwrap().remove(0)
        }
        fn check<T: Num>(xs: Vec<T>, lo: T, hi: T) {
            let n = xs.len();
            let x = Tensor::from_vec(&[n], xs.clone()).unwrap();
            let map = |f: fn(T) -> T| Tensor::from_vec(&[n], xs.iter().map(|&v| f(v)).collect()).unwrap();
            assert_eq!(run("Neg", &[&x]), map(Num::negate), "Neg {}", T::DTYPE);
            assert_eq!(run("Abs", &[&x]), map(Num::absolute), "Abs {}", T::DTYPE);
            assert_eq!(run("Sign", &[&x]), map(Num::sign), "Sign {}", T::DTYPE);
            let relu = Tensor::from_vec(&[n], xs.iter().map(|&v| if v < T::default() { T::default() } else { v }).collect()).unwrap();
            assert_eq!(run("Relu", &[&x]), relu, "Relu {}", T::DTYPE);
            let (tl, th) = (Tensor::from_vec(&[], vec![lo]).unwrap(), Tensor::from_vec(&[], vec![hi]).unwrap());
            let clipped = Tensor::from_vec(&[n], xs.iter().map(|&v| clip_one(v, Some(lo), Some(hi))).collect()).unwrap();
            assert_eq!(run("Clip", &[&x, &tl, &th]), clipped, "Clip {}", T::DTYPE);
            let low = Tensor::from_vec(&[n], xs.iter().map(|&v| clip_one(v, Some(lo), None)).collect()).unwrap();
            assert_eq!(run("Clip", &[&x, &tl]), low, "Clip {} without max", T::DTYPE);
        }
        check((i8::MIN..=i8::MAX).collect(), -100, 27);
        check((u8::MIN..=u8::MAX).collect(), 3, 200);
        check(vec![i32::MIN, -7, -1, 0, 1, i32::MAX], -5, 5);
        check(vec![i16::MIN, -7, -1, 0, 1, i16::MAX], -5, 300);
        check(vec![0u16, 1, 7, u16::MAX], 2, 9);
        check(vec![0u32, 1, 7, u32::MAX], 2, u32::MAX - 1);
        check(vec![i64::MIN, i64::MIN + 1, -7, -1, 0, 1, i64::MAX], i64::MIN + 1, 5);
        check(vec![0u64, 1, 7, u64::MAX - 1, u64::MAX], 1, u64::MAX - 1);
        check(vec![f64::MIN, -2.5, -0.0, 0.0, 1e-310, 3.0, f64::INFINITY, f64::NEG_INFINITY], -1.0, 2.0);
        let halves: Vec<f16> = (0..0x7c01u16).step_by(11).flat_map(|b| [f16::from_bits(b), f16::from_bits(b | 0x8000)]).collect();
        check(halves, f16::from_f32(-0.75), f16::from_f32(3.5));
        // A bound of another type is an error naming both types.
        let x = Tensor::from_vec(&[2], vec![1i8, 2]).unwrap();
        let bad = Tensor::from_vec(&[], vec![1i16]).unwrap();
        let e = build("Clip").run(&[Some(&x), Some(&bad)]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("int8") && e.contains("int16"), "{e}");
    }

    #[test]
    fn clip_with_min_above_max_gives_max() {
        let got: Vec<i8> = [-2i8, 0, 5].iter().map(|&v| clip_one(v, Some(3), Some(1))).collect();
        assert_eq!(got, vec![1, 1, 1]);
    }
}
