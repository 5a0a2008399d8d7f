//! Elementwise ops of one input: activations (Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish,
//! Tanh, Gelu, Elu, Selu, Softplus, Softsign), Clip, math (Erf, Sqrt, Exp, Log, Neg, Abs, Sign,
//! Reciprocal, Floor, Ceil, Round) and the normalizing Softmax / LogSoftmax along an axis.
//!
//! Float ops are written once as an expression over a concrete float type `R` (f32 or f64) and
//! expanded per element type by [`float_map!`]; float16 computes in f32. Ops that also accept
//! integers (Relu, Clip, Neg, Abs, Sign) use the [`Num`] rules of elementwise.rs.
//!
//! Erf has no std implementation; [`erf64`] computes it in f64 (absolute error below 1e-15) from
//! a positive-term series for small arguments and a continued fraction for erfc beyond.
use super::elementwise::{numeric, Num};
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

/// Applies `|$x| $body` to every element of a float tensor, with `$R` naming the element type
/// the body computes in (f32 for float32 and float16, f64 for float64).
macro_rules! float_map {
    ($t:expr, $R:ident, |$x:ident| $body:expr) => {
        match $t {
            Tensor::F32(a) => {
                #[allow(dead_code)]
                type $R = f32;
                Ok(Tensor::F32(a.mapv(|$x: f32| $body)))
            }
            Tensor::F64(a) => {
                #[allow(dead_code)]
                type $R = f64;
                Ok(Tensor::F64(a.mapv(|$x: f64| $body)))
            }
            Tensor::F16(a) => {
                #[allow(dead_code)]
                type $R = f32;
                Ok(Tensor::F16(a.mapv(|h| {
                    let $x: f32 = h.to_f32();
                    f16::from_f32($body)
                })))
            }
            other => Err(not_float(other)),
        }
    };
}

/// Applies a [`Num`] method to every element of a numeric tensor.
macro_rules! num_map {
    ($t:expr, $f:path) => {
        numeric!($t, a => Ok(Tensor::from(a.mapv($f))),
            o => Err(Error::dtype(format!("expects a numeric tensor, got {}", o.dtype()))))
    };
}

pub fn register(r: &mut Registry) {
    r.register("", "Relu", |_| Ok(unary(relu)));
    r.register("", "LeakyRelu", build_leaky_relu);
    r.register("", "Clip", build_clip);
    r.register("", "Sigmoid", |_| Ok(unary(|t| float_map!(t, R, |x| 1.0 / (1.0 + (-x).exp())))));
    r.register("", "HardSigmoid", build_hard_sigmoid);
    r.register("", "HardSwish", |_| {
        Ok(unary(|t| float_map!(t, R, |x| x * (x * R::c(1.0 / 6.0) + 0.5).clamp(0.0, 1.0))))
    });
    r.register("", "Tanh", |_| Ok(unary(|t| float_map!(t, R, |x| x.tanh()))));
    r.register("", "Erf", |_| Ok(unary(|t| float_map!(t, R, |x| x.erf_r()))));
    r.register("", "Gelu", build_gelu);
    r.register("", "Elu", build_elu);
    r.register("", "Selu", build_selu);
    r.register("", "Softplus", |_| Ok(unary(|t| float_map!(t, R, |x| if x > 30.0 { x } else { x.exp().ln_1p() }))));
    r.register("", "Softsign", |_| Ok(unary(|t| float_map!(t, R, |x| x / (1.0 + x.abs())))));
    r.register("", "Sqrt", |_| Ok(unary(|t| float_map!(t, R, |x| x.sqrt()))));
    r.register("", "Exp", |_| Ok(unary(|t| float_map!(t, R, |x| x.exp()))));
    r.register("", "Log", |_| Ok(unary(|t| float_map!(t, R, |x| x.ln()))));
    r.register("", "Reciprocal", |_| Ok(unary(|t| float_map!(t, R, |x| 1.0 / x))));
    r.register("", "Floor", |_| Ok(unary(|t| float_map!(t, R, |x| x.floor()))));
    r.register("", "Ceil", |_| Ok(unary(|t| float_map!(t, R, |x| x.ceil()))));
    r.register("", "Round", |_| Ok(unary(|t| float_map!(t, R, |x| x.round_ties_even()))));
    r.register("", "Neg", |_| Ok(unary(|t| num_map!(t, Num::negate))));
    r.register("", "Abs", |_| Ok(unary(|t| num_map!(t, Num::absolute))));
    r.register("", "Sign", |_| Ok(unary(|t| num_map!(t, Num::sign))));
    r.register("", "Softmax", |ctx| build_softmax(ctx, false));
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
    fn exp_r(self) -> Self;
    fn ln_r(self) -> Self;
    fn erf_r(self) -> Self;
}

impl Real for f32 {
    #[inline]
    fn c(v: f64) -> Self {
        v as f32
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
    fn erf_r(self) -> Self {
        erf64(self as f64) as f32
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
    fn erf_r(self) -> Self {
        erf64(self)
    }
}

fn not_float(t: &Tensor) -> Error {
    Error::dtype(format!("expects a float tensor (float32, float64, float16), got {}", t.dtype()))
}

/// An op of one required input and one output.
fn unary(f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![f(required(inputs, 0, "X")?)?])))
}

// ---------------------------------------------------------------------------------------------
// Activations with attributes

fn relu(t: &Tensor) -> Result<Tensor> {
    #[inline]
    fn r<T: Num>(v: T) -> T {
        // NaN stays NaN (as numpy's maximum(x, 0)).
        if v < T::default() {
            T::default()
        } else {
            v
        }
    }
    numeric!(t, a => Ok(Tensor::from(a.mapv(r))),
        o => Err(Error::dtype(format!("Relu expects a numeric tensor, got {}", o.dtype()))))
}

fn build_leaky_relu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 0.01)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| if x < 0.0 { x * R::c(alpha) } else { x })))
}

fn build_hard_sigmoid(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 0.2)? as f64;
    let beta = ctx.attrs().float_or("beta", 0.5)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| (x * R::c(alpha) + R::c(beta)).clamp(0.0, 1.0))))
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
            Ok(unary(|t| float_map!(t, R, |x| 0.5 * x * (1.0 + (x * R::c(std::f64::consts::FRAC_1_SQRT_2)).erf_r()))))
        }
        "tanh" => Ok(unary(|t| {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            float_map!(t, R, |x| 0.5 * x * (1.0 + (R::c(k) * (x + R::c(0.044715) * x * x * x)).tanh()))
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
        return Ok(unary(move |t| {
            fn go<T: Num>(a: &ArrayD<T>, lo: Option<f64>, hi: Option<f64>) -> Tensor {
                T::wrap(clip(a, lo.map(T::from_f64), hi.map(T::from_f64)))
            }
            match t {
                Tensor::F32(a) => Ok(go(a, lo, hi)),
                Tensor::F64(a) => Ok(go(a, lo, hi)),
                Tensor::F16(a) => Ok(go(a, lo, hi)),
                other => Err(not_float(other)),
            }
        }));
    }
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        numeric!(x, a => Ok(vec![Tensor::from(clip(a, bound(inputs, 1, "min")?, bound(inputs, 2, "max")?))]),
            o => Err(Error::dtype(format!("Clip expects a numeric tensor, got {}", o.dtype()))))
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

/// `min(max(x, lo), hi)`: when lo > hi every value becomes hi, as the spec says; NaN stays NaN.
fn clip<T: Num>(a: &ArrayD<T>, lo: Option<T>, hi: Option<T>) -> ArrayD<T> {
    match (lo, hi) {
        (Some(l), Some(h)) => a.mapv(|v| {
            let v = if v < l { l } else { v };
            if v > h {
                h
            } else {
                v
            }
        }),
        (Some(l), None) => a.mapv(|v| if v < l { l } else { v }),
        (None, Some(h)) => a.mapv(|v| if v > h { h } else { v }),
        (None, None) => a.clone(),
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
            Tensor::F32(a) => Ok(Tensor::F32(softmax_array(a, n, inner, log)?)),
            Tensor::F64(a) => Ok(Tensor::F64(softmax_array(a, n, inner, log)?)),
            Tensor::F16(a) => {
                let y = softmax_array(&a.mapv(f16::to_f32), n, inner, log)?;
                Ok(Tensor::F16(y.mapv(f16::from_f32)))
            }
            other => Err(not_float(other)),
        }
    }))
}

fn softmax_array<R: Real>(a: &ArrayD<R>, n: usize, inner: usize, log: bool) -> Result<ArrayD<R>> {
    let mut data: Vec<R> = a.iter().copied().collect();
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
            let m = row.iter().copied().fold(row[0], |m, v| if v > m { v } else { m });
            let mut sum = zero;
            for v in row.iter_mut() {
                let d = *v - m;
                let e = d.exp_r();
                sum = sum + e;
                *v = if log { d } else { e };
            }
            if log {
                let l = sum.ln_r();
                row.iter_mut().for_each(|v| *v = *v - l);
            } else {
                let s = R::c(1.0) / sum;
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

// ---------------------------------------------------------------------------------------------
// erf

/// The error function in f64, absolute error below 1e-15.
///
/// For |x| < 2.5: erf(x) = 2/sqrt(pi) * exp(-x^2) * sum_{k>=0} (2x^2)^k x / (1*3*...*(2k+1)),
/// a series of positive terms (no cancellation). Beyond: erf = 1 - erfc, with erfc from its
/// continued fraction exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
/// evaluated bottom-up at a fixed depth that converges for x >= 2.5. erf(x) = ±1 beyond 6.
pub(crate) fn erf64(x: f64) -> f64 {
    let a = x.abs();
    if a.is_nan() {
        return x;
    }
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

/// erfc(x) for x >= 2.5 by its continued fraction.
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
            let tol = 1e-15;
            assert!((erf64(x) - want).abs() < tol, "erf({x}) = {} want {want}", erf64(x));
            assert!((erf64(-x) + want).abs() < tol);
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
    fn erf_is_continuous_at_the_switch() {
        let below = erf64(2.5 - 1e-12);
        let at = erf64(2.5);
        assert!((below - at).abs() < 1e-14, "{below} vs {at}");
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

    #[test]
    fn clip_with_min_above_max_gives_max() {
        let a = ArrayD::from_shape_vec(IxDyn(&[3]), vec![-2i8, 0, 5]).unwrap();
        assert_eq!(clip(&a, Some(3), Some(1)).into_raw_vec_and_offset().0, vec![1, 1, 1]);
    }
}
