//! More elementwise math: trigonometric and hyperbolic functions (Sin .. Atanh), the
//! activations Celu, Mish, ThresholdedRelu, Shrink, Swish and PRelu, the float tests IsNaN and
//! IsInf, and the integer bit ops (BitShift, BitwiseAnd/Or/Xor/Not).
//!
//! The activations reuse unary.rs's [`float_map!`] (float16 computes in float32). The
//! trigonometric functions, Shrink and the float tests go through one non-generic path instead
//! ([`via_f64`], [`float_test`]: the function is a value, so one loop per float type serves all of
//! them, and only the f64 versions of the math functions are linked); they compute in float64 and
//! round once, at least as accurate as float32 arithmetic. The bit ops compute in
//! int64 / uint64 and convert back: shifts, and, or, xor and not keep the same low bits in the
//! wider type, so they are exact for every integer type.
use super::cast::cast;
use super::elementwise::{map_elems, to_wide, zip_broadcast};
use super::registry::{required, BuildContext, FnOp, Op, Registry};
use super::unary::{float_map, not_float, unary, Real};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use half::f16;

pub fn register(r: &mut Registry) {
    r.register("", "Sin", |_| Ok(unary(|t| via_f64(t, &f64::sin))));
    r.register("", "Cos", |_| Ok(unary(|t| via_f64(t, &f64::cos))));
    r.register("", "Tan", |_| Ok(unary(|t| via_f64(t, &f64::tan))));
    r.register("", "Asin", |_| Ok(unary(|t| via_f64(t, &f64::asin))));
    r.register("", "Acos", |_| Ok(unary(|t| via_f64(t, &f64::acos))));
    r.register("", "Atan", |_| Ok(unary(|t| via_f64(t, &f64::atan))));
    r.register("", "Sinh", |_| Ok(unary(|t| via_f64(t, &f64::sinh))));
    r.register("", "Cosh", |_| Ok(unary(|t| via_f64(t, &f64::cosh))));
    r.register("", "Asinh", |_| Ok(unary(|t| via_f64(t, &f64::asinh))));
    r.register("", "Acosh", |_| Ok(unary(|t| via_f64(t, &f64::acosh))));
    r.register("", "Atanh", |_| Ok(unary(|t| via_f64(t, &f64::atanh))));
    r.register("", "Celu", build_celu);
    r.register("", "Mish", |_| Ok(unary(|t| float_map!(t, R, |x| x * x.exp().ln_1p().tanh_r()))));
    r.register("", "ThresholdedRelu", build_thresholded_relu);
    r.register("", "Shrink", build_shrink);
    r.register("", "Swish", build_swish);
    r.register("", "PRelu", |_| Ok(Box::new(FnOp(prelu))));
    r.register("", "IsNaN", |_| Ok(unary(|t| float_test(t, &f64::is_nan))));
    r.register("", "IsInf", build_is_inf);
    r.register("", "BitShift", build_bit_shift);
    r.register("", "BitwiseAnd", |_| Ok(bitwise(|a, b| a & b)));
    r.register("", "BitwiseOr", |_| Ok(bitwise(|a, b| a | b)));
    r.register("", "BitwiseXor", |_| Ok(bitwise(|a, b| a ^ b)));
    r.register("", "BitwiseNot", |_| Ok(unary(|t| bits1(t, |a| !a))));
}

fn build_celu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 1.0)? as f64;
    Ok(unary(move |t| {
        float_map!(t, R, |x| {
            let a = R::c(alpha);
            let neg = a * ((x / a).exp() - 1.0);
            (if x > 0.0 { x } else { 0.0 }) + if neg < 0.0 { neg } else { 0.0 }
        })
    }))
}

fn build_thresholded_relu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 1.0)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| if x > R::c(alpha) { x } else { 0.0 })))
}

/// `f` of every element of a float tensor, computed in f64 and rounded once to the tensor's type.
fn via_f64(t: &Tensor, f: &dyn Fn(f64) -> f64) -> Result<Tensor> {
    Ok(match t {
        Tensor::F32(a) => Tensor::F32(map_elems(a, |x| f(x as f64) as f32)?),
        Tensor::F64(a) => Tensor::F64(map_elems(a, f)?),
        Tensor::F16(a) => Tensor::F16(map_elems(a, |x: f16| f16::from_f64(f(x.to_f64())))?),
        other => return Err(not_float(other)),
    })
}

fn build_shrink(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let bias = ctx.attrs().float_or("bias", 0.0)? as f64;
    let lambd = ctx.attrs().float_or("lambd", 0.5)? as f64;
    Ok(unary(move |t| {
        let f = |x: f64| if x < -lambd { x + bias } else if x > lambd { x - bias } else { 0.0 };
        // Shrink also takes integer tensors: computed in float64 (exact below 2^53), cast back.
        if t.dtype().is_float() {
            via_f64(t, &f)
        } else {
            cast(&via_f64(&cast(t, crate::tensor::DType::F64)?, &f)?, t.dtype())
        }
    }))
}

fn build_swish(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 1.0)? as f64;
    Ok(unary(move |t| float_map!(t, R, |x| x / (1.0 + (-(x * R::c(alpha))).exp_r()))))
}

/// `x < 0 ? slope * x : x`, slope broadcast to x (unidirectionally, as onnx says; any
/// broadcast that yields x's shape is accepted).
fn prelu(inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let x = required(inputs, 0, "X")?;
    let s = required(inputs, 1, "slope")?;
    fn go<T: Real>(x: &ndarray::ArrayD<T>, s: &ndarray::ArrayD<T>) -> Result<Tensor> {
        Ok(T::wrap(zip_broadcast(x, s, |x, s| if x < T::c(0.0) { s * x } else { x })?))
    }
    let y = match (x, s) {
        (Tensor::F32(a), Tensor::F32(b)) => go(a, b)?,
        (Tensor::F64(a), Tensor::F64(b)) => go(a, b)?,
        (Tensor::F16(_), Tensor::F16(_)) => cast(&go(&cast(x, crate::tensor::DType::F32)?.into_array::<f32>()?, &cast(s, crate::tensor::DType::F32)?.into_array::<f32>()?)?, x.dtype())?,
        _ if x.dtype() != s.dtype() => return Err(Error::dtype(format!("PRelu: X is {} but slope is {}", x.dtype(), s.dtype()))),
        // Integer PRelu computes in float64 (exact below 2^53) and casts back.
        _ => {
            let f = |t: &Tensor| cast(t, crate::tensor::DType::F64).and_then(|t| t.into_array::<f64>());
            cast(&go(&f(x)?, &f(s)?)?, x.dtype())?
        }
    };
    if y.shape() != x.shape() {
        return Err(Error::shape(format!("PRelu: slope {:?} does not broadcast to X {:?}", s.shape(), x.shape())));
    }
    Ok(vec![y])
}

/// A bool tensor of `f(x)` over a float tensor.
fn float_test(t: &Tensor, f: &dyn Fn(f64) -> bool) -> Result<Tensor> {
    Ok(match t {
        Tensor::F32(a) => Tensor::Bool(map_elems(a, |x| f(x as f64))?),
        Tensor::F64(a) => Tensor::Bool(map_elems(a, f)?),
        Tensor::F16(a) => Tensor::Bool(map_elems(a, |x: f16| f(x.to_f64()))?),
        other => return Err(not_float(other)),
    })
}

fn build_is_inf(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let neg = ctx.attrs().int_or("detect_negative", 1)? != 0;
    let pos = ctx.attrs().int_or("detect_positive", 1)? != 0;
    Ok(unary(move |t| float_test(t, &|x| x.is_infinite() && if x > 0.0 { pos } else { neg })))
}

/// An integer tensor in int64 or uint64 (narrow types widened), or a type error.
fn wide_int(t: &Tensor) -> Result<Tensor> {
    if t.dtype().is_float() || t.dtype() == crate::tensor::DType::Bool {
        return Err(Error::dtype(format!("expects an integer tensor, got {}", t.dtype())));
    }
    Ok(to_wide(t)?.unwrap_or_else(|| t.clone()))
}

/// Applies an operation on u64 bit patterns to one integer tensor, converted back to its type.
fn bits1(t: &Tensor, f: impl Fn(u64) -> u64) -> Result<Tensor> {
    let y = match wide_int(t)? {
        Tensor::I64(a) => Tensor::I64(map_elems(&a, |v| f(v as u64) as i64)?),
        Tensor::U64(a) => Tensor::U64(map_elems(&a, &f)?),
        o => return Err(Error::dtype(format!("expects an integer tensor, got {}", o.dtype()))),
    };
    cast(&y, t.dtype())
}

/// `fi` (signed types, in int64) or `fu` (unsigned, in uint64) on two integer tensors of one
/// type, broadcast, converted back to their type.
fn int_pair(a: &Tensor, b: &Tensor, fi: impl Fn(i64, i64) -> i64, fu: impl Fn(u64, u64) -> u64) -> Result<Tensor> {
    if a.dtype() != b.dtype() {
        return Err(Error::dtype(format!("inputs must have the same type, got {} and {}", a.dtype(), b.dtype())));
    }
    let y = match (wide_int(a)?, wide_int(b)?) {
        (Tensor::I64(x), Tensor::I64(y)) => Tensor::I64(zip_broadcast(&x, &y, fi)?),
        (Tensor::U64(x), Tensor::U64(y)) => Tensor::U64(zip_broadcast(&x, &y, fu)?),
        _ => return Err(Error::dtype(format!("expects integer tensors, got {}", a.dtype()))),
    };
    cast(&y, a.dtype())
}

fn bitwise(f: fn(u64, u64) -> u64) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (a, b) = (required(inputs, 0, "A")?, required(inputs, 1, "B")?);
        Ok(vec![int_pair(a, b, |p, q| f(p as u64, q as u64) as i64, f)?])
    }))
}

/// BitShift as onnx's reference defines it (signed types from opset 28): a shift by a negative
/// amount or by the type's width or more gives 0 (a right shift of a negative value gives -1);
/// a left shift drops the bits shifted out of the type, a signed right shift is arithmetic.
/// The width test uses the input's own type, so it holds in the wide type too.
fn build_bit_shift(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let left = match ctx.attrs().string("direction")? {
        Some("LEFT") => true,
        Some("RIGHT") => false,
        d => return Err(Error::invalid(format!("BitShift: direction must be LEFT or RIGHT, got {d:?}"))),
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (x, y) = (required(inputs, 0, "X")?, required(inputs, 1, "Y")?);
        let bits = x.dtype().size_of() as i64 * 8;
        let signed = |v: i64, s: i64| match (s < 0 || s >= bits, left) {
            (true, true) => 0,
            (true, false) => -i64::from(v < 0),
            (false, true) => ((v as u64) << s) as i64,
            (false, false) => v >> s,
        };
        let unsigned = |v: u64, s: u64| match (s >= bits as u64, left) {
            (true, _) => 0,
            (false, true) => v << s,
            (false, false) => v >> s,
        };
        Ok(vec![int_pair(x, y, signed, unsigned)?])
    })))
}

#[cfg(test)]
mod tests {
    use crate::graph::Attr;
    use crate::ops::shape::testing::run;
    use crate::tensor::Tensor;

    #[test]
    fn bit_ops_are_exact_in_narrow_types() {
        let a = Tensor::from_vec(&[4], vec![-128i8, -1, 0, 85]).unwrap();
        let b = Tensor::from_vec(&[4], vec![127i8, 15, -1, -86]).unwrap();
        let and = run("BitwiseAnd", 18, vec![], vec![Some(a.clone()), Some(b.clone())], 1).unwrap();
        assert_eq!(and[0], Tensor::from_vec(&[4], vec![-128i8 & 127, -1 & 15, 0, 85 & -86]).unwrap());
        let not = run("BitwiseNot", 18, vec![], vec![Some(a.clone())], 1).unwrap();
        assert_eq!(not[0], Tensor::from_vec(&[4], vec![127i8, 0, -1, -86]).unwrap());
        let x = Tensor::from_vec(&[3], vec![200u8, 1, 255]).unwrap();
        let s = Tensor::from_vec(&[3], vec![1u8, 7, 8]).unwrap();
        let y = run("BitShift", 11, vec![("direction", Attr::String("LEFT".into()))], vec![Some(x.clone()), Some(s)], 1).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![144u8, 128, 0]).unwrap());
        assert!(run("BitShift", 11, vec![("direction", Attr::String("UP".into()))], vec![Some(x.clone()), Some(x.clone())], 1).is_err());
        // Signed: arithmetic right shift, -1 for a negative value shifted by the width or more.
        let v = Tensor::from_vec(&[3], vec![-128i8, -7, 100]).unwrap();
        let s = Tensor::from_vec(&[3], vec![1i8, 8, 2]).unwrap();
        let y = run("BitShift", 28, vec![("direction", Attr::String("RIGHT".into()))], vec![Some(v), Some(s)], 1).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-64i8, -1, 25]).unwrap());
        let f = Tensor::from_vec(&[1], vec![1f32]).unwrap();
        assert_eq!(run("BitwiseOr", 18, vec![], vec![Some(f.clone()), Some(f)], 1).unwrap_err().code(), "TYPE_MISMATCH");
    }
}
