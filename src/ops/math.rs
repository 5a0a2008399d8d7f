//! More elementwise math: trigonometric and hyperbolic functions (Sin .. Atanh), the
//! activations Celu, Mish, ThresholdedRelu, Shrink, Swish and PRelu, the float tests IsNaN and
//! IsInf, and the integer bit ops (BitShift, BitwiseAnd/Or/Xor/Not).
//!
//! The activations reuse unary.rs's [`float_map!`] (float16 computes in float32). The
//! trigonometric functions, Shrink and the float tests go through one non-generic path instead
//! ([`via_f64`], [`float_test`]: the function is a value, and the wide path (src/ops/wide.rs)
//! reads every float type as f64, so one loop serves all of them and only the f64 versions of
//! the math functions are linked); they compute in float64 and round once, at least as
//! accurate as float32 arithmetic. The bit ops compute in i128 (the wide integer type) and
//! convert back: shifts, and, or, xor and not keep the same low bits in the wider type, so they
//! are exact for every integer type.
use super::cast::cast;
use super::elementwise::{map_elems, zip_broadcast};
use super::registry::{required, BuildContext, FnOp, Op, Registry};
use super::unary::{float_map, not_float, unary, Real};
use super::wide::{self, Wide};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
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

/// `f` of every element of a float tensor, computed in f64 and rounded once to the tensor's type
/// (the wide path, src/ops/wide.rs: one loop for every float type).
fn via_f64(t: &Tensor, f: &dyn Fn(f64) -> f64) -> Result<Tensor> {
    match wide::values(t) {
        Wide::F(v) => wide::from_floats(t.dtype(), t.shape(), v.into_iter().map(f).collect()),
        Wide::I(_) => Err(not_float(t)),
    }
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
    let rule = |x: f64, s: f64| if x < 0.0 { s * x } else { x };
    let y = match (x, s) {
        // float32: its own loop; every other type through the wide path in f64 (float16's
        // product of two float16 values is exact there, as in float32; integers compute in
        // float64, exact below 2^53, and convert back with `as`).
        (Tensor::F32(a), Tensor::F32(b)) => Tensor::F32(zip_broadcast(a, b, |x, s| if x < 0.0 { s * x } else { x })?),
        _ if x.dtype() != s.dtype() => return Err(Error::dtype(format!("PRelu: X is {} but slope is {}", x.dtype(), s.dtype()))),
        _ => {
            let shape = crate::ops::broadcast_shapes(&[x.shape(), s.shape()])?;
            let f64s = |t: &Tensor| match wide::values(t) {
                Wide::F(v) => v,
                Wide::I(v) => v.into_iter().map(|v| v as f64).collect(),
            };
            let y = wide::zip(&f64s(x), x.shape(), &f64s(s), s.shape(), &shape, &rule);
            if x.dtype().is_float() {
                wide::from_floats(x.dtype(), &shape, y)?
            } else {
                let dt = x.dtype();
                wide::from_ints(dt, &shape, y.into_iter().map(|v| wide::int_from_f64(dt, v)).collect())?
            }
        }
    };
    if y.shape() != x.shape() {
        return Err(Error::shape(format!("PRelu: slope {:?} does not broadcast to X {:?}", s.shape(), x.shape())));
    }
    Ok(vec![y])
}

/// A bool tensor of `f(x)` over a float tensor.
fn float_test(t: &Tensor, f: &dyn Fn(f64) -> bool) -> Result<Tensor> {
    match wide::values(t) {
        Wide::F(v) => wide::from_bools(t.shape(), v.into_iter().map(f).collect()),
        Wide::I(_) => Err(not_float(t)),
    }
}

fn build_is_inf(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let neg = ctx.attrs().int_or("detect_negative", 1)? != 0;
    let pos = ctx.attrs().int_or("detect_positive", 1)? != 0;
    Ok(unary(move |t| float_test(t, &|x| x.is_infinite() && if x > 0.0 { pos } else { neg })))
}

/// The values of an integer tensor in i128 (the wide path), or a type error.
fn int_values(t: &Tensor) -> Result<Vec<i128>> {
    match wide::values(t) {
        Wide::I(v) if t.dtype() != DType::Bool => Ok(v),
        _ => Err(Error::dtype(format!("expects an integer tensor, got {}", t.dtype()))),
    }
}

/// Applies an operation on two's-complement bit patterns to one integer tensor, in i128 and
/// truncated back to its type: not keeps the same low bits in the wider type.
fn bits1(t: &Tensor, f: impl Fn(i128) -> i128) -> Result<Tensor> {
    let v = int_values(t)?;
    wide::from_ints(t.dtype(), t.shape(), v.into_iter().map(f).collect())
}

/// `f` on two integer tensors of one type, broadcast, in i128 (signed values sign-extended,
/// unsigned ones zero-extended) and truncated back to their type.
fn int_pair(a: &Tensor, b: &Tensor, f: &dyn Fn(i128, i128) -> i128) -> Result<Tensor> {
    if a.dtype() != b.dtype() {
        return Err(Error::dtype(format!("inputs must have the same type, got {} and {}", a.dtype(), b.dtype())));
    }
    let (x, y) = (int_values(a)?, int_values(b)?);
    let shape = crate::ops::broadcast_shapes(&[a.shape(), b.shape()])?;
    wide::from_ints(a.dtype(), &shape, wide::zip(&x, a.shape(), &y, b.shape(), &shape, f))
}

fn bitwise(f: fn(i128, i128) -> i128) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (a, b) = (required(inputs, 0, "A")?, required(inputs, 1, "B")?);
        Ok(vec![int_pair(a, b, &f)?])
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
        // In i128, unsigned values are non-negative, so the signed rule serves both: their
        // right shift is logical and a shift by the width or more gives 0.
        let bits = x.dtype().size_of() as i128 * 8;
        let shift = |v: i128, s: i128| match (s < 0 || s >= bits, left) {
            (true, true) => 0,
            (true, false) => -i128::from(v < 0),
            (false, true) => v << s,
            (false, false) => v >> s,
        };
        Ok(vec![int_pair(x, y, &shift)?])
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

    /// The bit ops through i128 equal the native operators of each type (every pair of a spread
    /// of values, shifts by 0 .. width + 1).
    #[test]
    fn bit_ops_match_native_operators_for_every_width() {
        macro_rules! check {
            ($t:ty, $signed:expr, $vals:expr) => {{
                let vals: Vec<$t> = $vals;
                let n = vals.len();
                let a: Vec<$t> = (0..n * n).map(|i| vals[i / n]).collect();
                let b: Vec<$t> = (0..n * n).map(|i| vals[i % n]).collect();
                let (ta, tb) = (Tensor::from_vec(&[n * n], a.clone()).unwrap(), Tensor::from_vec(&[n * n], b.clone()).unwrap());
                let bin = |op: &str| run(op, 18, vec![], vec![Some(ta.clone()), Some(tb.clone())], 1).unwrap().remove(0);
                let want = |f: fn($t, $t) -> $t| Tensor::from_vec(&[n * n], a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect()).unwrap();
                assert_eq!(bin("BitwiseAnd"), want(|x, y| x & y), "{} and", ta.dtype());
                assert_eq!(bin("BitwiseOr"), want(|x, y| x | y), "{} or", ta.dtype());
                assert_eq!(bin("BitwiseXor"), want(|x, y| x ^ y), "{} xor", ta.dtype());
                let not = run("BitwiseNot", 18, vec![], vec![Some(ta.clone())], 1).unwrap().remove(0);
                assert_eq!(not, Tensor::from_vec(&[n * n], a.iter().map(|&x| !x).collect()).unwrap());
                let bits = (std::mem::size_of::<$t>() * 8) as u32;
                let shifts: Vec<$t> = (0..n * n).map(|i| (i as u32 % (bits + 2)) as $t).collect();
                let ts = Tensor::from_vec(&[n * n], shifts.clone()).unwrap();
                for (dir, left) in [("LEFT", true), ("RIGHT", false)] {
                    let got = run("BitShift", 28, vec![("direction", Attr::String(dir.into()))], vec![Some(ta.clone()), Some(ts.clone())], 1).unwrap().remove(0);
                    let want: Vec<$t> = a.iter().zip(&shifts).map(|(&x, &s)| {
                        let s = s as u32;
                        match (s >= bits, left) {
                            (true, true) => 0,
                            (true, false) => if $signed && (x as i128) < 0 { !0 } else { 0 },
                            (false, true) => x.wrapping_shl(s),
                            (false, false) => x >> s,
                        }
                    }).collect();
                    assert_eq!(got, Tensor::from_vec(&[n * n], want).unwrap(), "{} shift {dir}", ta.dtype());
                }
            }};
        }
        check!(i8, true, vec![i8::MIN, -7, -1, 0, 1, 85, i8::MAX]);
        check!(u8, false, vec![0, 1, 85, 128, 200, u8::MAX]);
        check!(i16, true, vec![i16::MIN, -300, -1, 0, 1, 0x5555, i16::MAX]);
        check!(u16, false, vec![0, 1, 0x5555, 0x8000, u16::MAX]);
        check!(i32, true, vec![i32::MIN, -70000, -1, 0, 1, 0x5555_5555, i32::MAX]);
        check!(u32, false, vec![0, 1, 0x5555_5555, 1 << 31, u32::MAX]);
        check!(i64, true, vec![i64::MIN, -(1 << 40), -1, 0, 1, 0x5555_5555_5555_5555, i64::MAX]);
        check!(u64, false, vec![0, 1, 0x5555_5555_5555_5555, 1 << 63, u64::MAX]);
    }
}
