//! Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
//! ReduceSumSquare, ReduceLogSum, ReduceLogSumExp, all through one generic reduction.
//!
//! Axes come from the `axes` attribute before the opset that made them an input (13 for
//! ReduceSum, 18 for the others); `noop_with_empty_axes` exists with the input form. Reducing an
//! empty set gives the identity of the reduction (0 for sums and norms, 1 for products, -inf/+inf
//! or the type's extreme for max/min, -inf for the log reductions), as the spec says.
//!
//! Integer sums and products are computed in the element type (wrapping, like numpy); float
//! reductions and the ones that need real arithmetic (mean, norms, logs) accumulate in f64.
//!
//! Also holds [`Numeric`], the element types with arithmetic, shared with Range and Resize.
use super::registry::{required, BuildContext, FnOp, Int8Inputs, Op, QuantRule, Registry};
use super::shape::{normalize_axes, optional_ints};
use super::wide::{self, Wide};
use crate::error::{Error, Result};
use crate::tensor::{DType, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "ReduceSum", |c| build(c, Kind::Sum));
    r.register("", "ReduceMean", |c| build(c, Kind::Mean));
    r.register("", "ReduceMax", |c| build(c, Kind::Max)).int8(Int8Inputs::Only(&[0])).quant(QuantRule::ShareInput);
    r.register("", "ReduceMin", |c| build(c, Kind::Min)).int8(Int8Inputs::Only(&[0])).quant(QuantRule::ShareInput);
    r.register("", "ReduceProd", |c| build(c, Kind::Prod));
    r.register("", "ReduceL1", |c| build(c, Kind::L1));
    r.register("", "ReduceL2", |c| build(c, Kind::L2));
    r.register("", "ReduceSumSquare", |c| build(c, Kind::SumSquare));
    r.register("", "ReduceLogSum", |c| build(c, Kind::LogSum));
    r.register("", "ReduceLogSumExp", |c| build(c, Kind::LogSumExp));
}

/// An element type with arithmetic: every [`Elem`] but bool behaves as a number; bool has
/// or/and as add/mul (only Max and Min accept it).
// Some methods only serve reduce.rs's tests, as the oracle of the wide path.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) trait Numeric: Elem + PartialOrd {
    const IS_FLOAT: bool;
    fn to_f64(self) -> f64;
    /// `as`-style conversion: truncates toward zero and saturates for integers.
    fn from_f64(v: f64) -> Self;
    /// Exact for integers (truncates floats): for integer arithmetic f64 would round.
    fn to_i128(self) -> i128;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn abs(self) -> Self;
    /// The smallest value (-inf for floats): the maximum of an empty set.
    fn lowest() -> Self;
    /// The largest value (+inf for floats): the minimum of an empty set.
    fn highest() -> Self;
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! numeric_int {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            const IS_FLOAT: bool = false;
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn to_i128(self) -> i128 { self as i128 }
            fn add(self, o: Self) -> Self { self.wrapping_add(o) }
            fn mul(self, o: Self) -> Self { self.wrapping_mul(o) }
            #[allow(unused_comparisons)]
            fn abs(self) -> Self { if self < 0 { (0 as $t).wrapping_sub(self) } else { self } }
            fn lowest() -> Self { <$t>::MIN }
            fn highest() -> Self { <$t>::MAX }
            fn zero() -> Self { 0 }
            fn one() -> Self { 1 }
        }
    )*};
}
numeric_int!(i8, u8, i16, u16, i32, u32, i64, u64);

macro_rules! numeric_float {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            const IS_FLOAT: bool = true;
            fn to_f64(self) -> f64 { self as f64 }
            fn from_f64(v: f64) -> Self { v as $t }
            fn to_i128(self) -> i128 { self as i128 }
            fn add(self, o: Self) -> Self { self + o }
            fn mul(self, o: Self) -> Self { self * o }
            fn abs(self) -> Self { self.abs() }
            fn lowest() -> Self { <$t>::NEG_INFINITY }
            fn highest() -> Self { <$t>::INFINITY }
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
        }
    )*};
}
numeric_float!(f32, f64);

impl Numeric for f16 {
    const IS_FLOAT: bool = true;
    fn to_f64(self) -> f64 {
        f16::to_f64(self)
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn to_i128(self) -> i128 {
        self.to_f64() as i128
    }
    fn add(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() + o.to_f32())
    }
    fn mul(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() * o.to_f32())
    }
    fn abs(self) -> Self {
        f16::from_bits(self.to_bits() & 0x7fff)
    }
    fn lowest() -> Self {
        f16::NEG_INFINITY
    }
    fn highest() -> Self {
        f16::INFINITY
    }
    fn zero() -> Self {
        f16::ZERO
    }
    fn one() -> Self {
        f16::ONE
    }
}

impl Numeric for bool {
    const IS_FLOAT: bool = false;
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn to_i128(self) -> i128 {
        self as i128
    }
    fn add(self, o: Self) -> Self {
        self | o
    }
    fn mul(self, o: Self) -> Self {
        self & o
    }
    fn abs(self) -> Self {
        self
    }
    fn lowest() -> Self {
        false
    }
    fn highest() -> Self {
        true
    }
    fn zero() -> Self {
        false
    }
    fn one() -> Self {
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

impl Kind {
    /// The opset from which `axes` is an input rather than an attribute.
    fn axes_input_since(self) -> i64 {
        if self == Kind::Sum {
            13
        } else {
            18
        }
    }
}

/// The value types reductions run in: f32 (float32, its own loop), f64 (float64, float16)
/// and i128 (every integer type and bool), see src/ops/wide.rs. Integer sums and products wrap
/// in i128 and are truncated to the type afterwards, which keeps the low bits of the narrow
/// type's wrapping arithmetic.
trait Lane: Copy + PartialOrd {
    const IS_FLOAT: bool;
    fn to_f64(self) -> f64;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn abs(self) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
}

macro_rules! lane_float {
    ($($t:ty),*) => {$(
        impl Lane for $t {
            const IS_FLOAT: bool = true;
            fn to_f64(self) -> f64 { self as f64 }
            fn add(self, o: Self) -> Self { self + o }
            fn mul(self, o: Self) -> Self { self * o }
            fn abs(self) -> Self { self.abs() }
            fn zero() -> Self { 0.0 }
            fn one() -> Self { 1.0 }
        }
    )*};
}
lane_float!(f32, f64);

impl Lane for i128 {
    const IS_FLOAT: bool = false;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    fn mul(self, o: Self) -> Self {
        self.wrapping_mul(o)
    }
    fn abs(self) -> Self {
        self.wrapping_abs()
    }
    fn zero() -> Self {
        0
    }
    fn one() -> Self {
        1
    }
}

/// How a reduction's result is written in the element type: its extremes (the identities of Max
/// and Min: -inf/+inf for floats, the type's range for integers) and the conversion from f64.
struct Target<'a, T> {
    lowest: T,
    highest: T,
    from_f64: &'a dyn Fn(f64) -> T,
}

/// Reduces one lane (the elements that map to one output element).
fn reduce_lane<T: Lane>(lane: &[T], kind: Kind, to: &Target<T>) -> T {
    match kind {
        Kind::Max | Kind::Min => {
            let mut acc = if kind == Kind::Max { to.lowest } else { to.highest };
            for &v in lane {
                #[allow(clippy::eq_op)]
                if v != v {
                    return v; // NaN propagates, as in numpy
                }
                if (kind == Kind::Max && v > acc) || (kind == Kind::Min && v < acc) {
                    acc = v;
                }
            }
            acc
        }
        Kind::Sum if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v)),
        Kind::Prod if !T::IS_FLOAT => lane.iter().fold(T::one(), |a, &v| a.mul(v)),
        Kind::SumSquare if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v.mul(v))),
        Kind::L1 if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v.abs())),
        _ => {
            let it = lane.iter().map(|v| v.to_f64());
            let r = match kind {
                Kind::Sum => it.sum(),
                Kind::Mean => it.sum::<f64>() / lane.len() as f64,
                Kind::Prod => it.product(),
                Kind::L1 => it.map(f64::abs).sum(),
                Kind::SumSquare => it.map(|v| v * v).sum(),
                Kind::L2 => it.map(|v| v * v).sum::<f64>().sqrt(),
                Kind::LogSum => it.sum::<f64>().ln(),
                Kind::LogSumExp => {
                    let m = lane.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
                    if m.is_infinite() {
                        // All -inf (or empty): -inf; any +inf: +inf.
                        it.map(f64::exp).sum::<f64>().ln()
                    } else {
                        m + it.map(|v| (v - m).exp()).sum::<f64>().ln()
                    }
                }
                // Max and Min take the exact path above; these arms only keep the match total.
                Kind::Max => it.fold(f64::NEG_INFINITY, f64::max),
                Kind::Min => it.fold(f64::INFINITY, f64::min),
            };
            (to.from_f64)(r)
        }
    }
}

/// Reduces `a` over the axes marked in `mask`.
fn reduce_typed<T: Lane>(a: &ArrayD<T>, mask: &[bool], kind: Kind, keepdims: bool, to: &Target<T>) -> Result<ArrayD<T>> {
    let shape = a.shape();
    let kept: Vec<usize> = (0..shape.len()).filter(|&i| !mask[i]).collect();
    let reduced: Vec<usize> = (0..shape.len()).filter(|&i| mask[i]).collect();
    let inner: usize = reduced.iter().map(|&i| shape[i]).product();
    let outer: usize = kept.iter().map(|&i| shape[i]).product();
    let out: Vec<T> = if inner == 0 {
        vec![reduce_lane::<T>(&[], kind, to); outer]
    } else {
        let perm: Vec<usize> = kept.iter().chain(&reduced).copied().collect();
        let permuted = a.view().permuted_axes(IxDyn(&perm));
        let std = permuted.as_standard_layout();
        let data = std.as_slice().ok_or_else(|| Error::invalid("reduction input is not contiguous"))?;
        data.chunks_exact(inner).map(|lane| reduce_lane(lane, kind, to)).collect()
    };
    let out_shape: Vec<usize> = if keepdims {
        shape.iter().zip(mask).map(|(&d, &m)| if m { 1 } else { d }).collect()
    } else {
        kept.iter().map(|&i| shape[i]).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| Error::shape(format!("reduction output: {e}")))
}

/// float32 in its own loop; every other type through the wide path (f64 or i128).
fn reduce(x: &Tensor, mask: &[bool], kind: Kind, keepdims: bool) -> Result<Tensor> {
    let dt = x.dtype();
    if let Tensor::F32(a) = x {
        let to = Target { lowest: f32::NEG_INFINITY, highest: f32::INFINITY, from_f64: &|v| v as f32 };
        return Ok(Tensor::F32(reduce_typed(a, mask, kind, keepdims, &to)?));
    }
    let shape = IxDyn(x.shape());
    let err = |e: ndarray::ShapeError| Error::shape(format!("reduction input: {e}"));
    match wide::values(x) {
        Wide::F(v) => {
            let to = Target { lowest: f64::NEG_INFINITY, highest: f64::INFINITY, from_f64: &|v| v };
            let y = reduce_typed(&ArrayD::from_shape_vec(shape, v).map_err(err)?, mask, kind, keepdims, &to)?;
            let out_shape = y.shape().to_vec();
            wide::from_floats(dt, &out_shape, y.into_raw_vec_and_offset().0)
        }
        Wide::I(v) => {
            let (lowest, highest) = wide::int_range(dt);
            let to = Target { lowest, highest, from_f64: &|v| wide::int_from_f64(dt, v) };
            let y = reduce_typed(&ArrayD::from_shape_vec(shape, v).map_err(err)?, mask, kind, keepdims, &to)?;
            let out_shape = y.shape().to_vec();
            wide::from_ints(dt, &out_shape, y.into_raw_vec_and_offset().0)
        }
    }
}

fn build(ctx: &BuildContext, kind: Kind) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let keepdims = a.int_or("keepdims", 1)? != 0;
    let axes_from_input = ctx.opset >= kind.axes_input_since();
    let noop_with_empty_axes = axes_from_input && a.int_or("noop_with_empty_axes", 0)? != 0;
    let attr_axes = if axes_from_input { None } else { a.ints("axes")?.map(<[i64]>::to_vec) };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let axes = if axes_from_input { optional_ints(inputs, 1, "axes")? } else { attr_axes.clone() };
        let rank = x.rank();
        let mask = match axes {
            Some(list) if !list.is_empty() => {
                let mut m = vec![false; rank];
                for n in normalize_axes(&list, rank, "axes")? {
                    m[n] = true;
                }
                m
            }
            _ if noop_with_empty_axes => return Ok(vec![x.clone()]),
            _ => vec![true; rank],
        };
        if x.dtype() == DType::Bool && !matches!(kind, Kind::Max | Kind::Min) {
            return Err(Error::dtype(format!("{kind:?} reduction does not accept bool inputs")));
        }
        Ok(vec![reduce(x, &mask, kind, keepdims)?])
    })))
}

#[cfg(test)]
mod tests {
    use super::super::shape::testing::*;
    use crate::graph::Attr;
    use crate::tensor::Tensor;

    #[test]
    fn attribute_and_input_axes() {
        let x = iota(&[2, 3]);
        let out = run("ReduceSum", 11, vec![("axes", Attr::Ints(vec![1]))], vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 1]);
        assert_eq!(vals(&out[0]), vec![3.0, 12.0]);
        let out = run(
            "ReduceMean",
            13,
            vec![("axes", Attr::Ints(vec![0])), ("keepdims", Attr::Int(0))],
            vec![Some(x.clone())],
            1,
        )
        .unwrap();
        assert_eq!(vals(&out[0]), vec![1.5, 2.5, 3.5]);
        let out = run("ReduceMax", 18, vec![("keepdims", Attr::Int(0))], vec![Some(x.clone()), Some(i64s(&[-1]))], 1)
            .unwrap();
        assert_eq!(vals(&out[0]), vec![2.0, 5.0]);
        let out = run("ReduceL2", 18, vec![("keepdims", Attr::Int(0))], vec![Some(x.clone()), None], 1).unwrap();
        assert!((vals(&out[0])[0] - 55f32.sqrt()).abs() < 1e-5);
        let out = run(
            "ReduceSum",
            13,
            vec![("noop_with_empty_axes", Attr::Int(1))],
            vec![Some(x.clone()), Some(i64s(&[]))],
            1,
        )
        .unwrap();
        assert_eq!(out[0], x);
        assert!(run("ReduceSum", 13, vec![], vec![Some(x), Some(i64s(&[0, 0]))], 1).is_err());
    }

    #[test]
    fn integers_and_empty_sets() {
        let x = Tensor::from_vec(&[2, 2], vec![i64::MAX - 1, 1, -3, 5]).unwrap();
        let out =
            run("ReduceSum", 13, vec![("keepdims", Attr::Int(0))], vec![Some(x.clone()), Some(i64s(&[1]))], 1).unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![i64::MAX, 2]);
        let out = run("ReduceMin", 13, vec![("axes", Attr::Ints(vec![0]))], vec![Some(x)], 1).unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![-3, 1]);
        let e = iota(&[2, 0]);
        let out = run("ReduceProd", 18, vec![], vec![Some(e.clone()), Some(i64s(&[1]))], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![1.0, 1.0]);
        let out = run("ReduceMax", 18, vec![], vec![Some(e.clone()), Some(i64s(&[1]))], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![f32::NEG_INFINITY; 2]);
        let out = run("ReduceLogSumExp", 18, vec![], vec![Some(e), Some(i64s(&[1]))], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![f32::NEG_INFINITY; 2]);
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert!(run("ReduceSum", 13, vec![], vec![Some(b.clone())], 1).is_err());
        let out = run("ReduceMin", 20, vec![], vec![Some(b)], 1).unwrap();
        assert_eq!(out[0], Tensor::from_vec(&[1], vec![false]).unwrap());
    }

    /// Every integer type, float16 and float64 reduce through the wide path (f64 / i128); the
    /// result equals the reduction computed in the element type itself ([`Numeric`]'s rules:
    /// wrapping integer sums and products, f64 for the rest, the type's extremes for empty
    /// Max / Min).
    #[test]
    fn wide_path_matches_the_element_type() {
        use super::{Kind, Numeric};
        fn oracle<T: Numeric>(lane: &[T], kind: Kind) -> T {
            let f = || lane.iter().map(|v| v.to_f64());
            match kind {
                Kind::Max => lane.iter().fold(T::lowest(), |a, &v| if v > a { v } else { a }),
                Kind::Min => lane.iter().fold(T::highest(), |a, &v| if v < a { v } else { a }),
                Kind::Sum if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v)),
                Kind::Prod if !T::IS_FLOAT => lane.iter().fold(T::one(), |a, &v| a.mul(v)),
                Kind::SumSquare if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v.mul(v))),
                Kind::L1 if !T::IS_FLOAT => lane.iter().fold(T::zero(), |a, &v| a.add(v.abs())),
                Kind::Sum => T::from_f64(f().sum()),
                Kind::Prod => T::from_f64(f().product()),
                Kind::SumSquare => T::from_f64(f().map(|v| v * v).sum()),
                Kind::L1 => T::from_f64(f().map(f64::abs).sum()),
                Kind::Mean => T::from_f64(f().sum::<f64>() / lane.len() as f64),
                Kind::L2 => T::from_f64(f().map(|v| v * v).sum::<f64>().sqrt()),
                Kind::LogSum => T::from_f64(f().sum::<f64>().ln()),
                Kind::LogSumExp => {
                    let m = f().fold(f64::NEG_INFINITY, f64::max);
                    T::from_f64(if m.is_infinite() { f().map(f64::exp).sum::<f64>().ln() } else { m + f().map(|v| (v - m).exp()).sum::<f64>().ln() })
                }
            }
        }
        /// Equal bit for bit (NaN results of LogSum included).
        fn same(a: &Tensor, b: &Tensor, what: &str) {
            assert_eq!((a.dtype(), a.shape(), a.to_le_bytes()), (b.dtype(), b.shape(), b.to_le_bytes()), "{what}");
        }
        fn check<T: Numeric>(xs: Vec<T>) {
            let kinds = [Kind::Sum, Kind::Mean, Kind::Max, Kind::Min, Kind::Prod, Kind::L1, Kind::L2, Kind::SumSquare, Kind::LogSum, Kind::LogSumExp];
            let n = xs.len() / 3;
            let x = Tensor::from_vec(&[3, n], xs[..3 * n].to_vec()).unwrap();
            for kind in kinds {
                // Along axis 1 (rows), axis 0 (strided), and an empty set.
                let got = super::reduce(&x, &[false, true], kind, false).unwrap();
                let want: Vec<T> = xs[..3 * n].chunks(n).map(|r| oracle(r, kind)).collect();
                same(&got, &Tensor::from_vec(&[3], want).unwrap(), &format!("{kind:?} {} rows", T::DTYPE));
                let got = super::reduce(&x, &[true, false], kind, true).unwrap();
                let want: Vec<T> = (0..n).map(|j| oracle(&[xs[j], xs[n + j], xs[2 * n + j]], kind)).collect();
                same(&got, &Tensor::from_vec(&[1, n], want).unwrap(), &format!("{kind:?} {} columns", T::DTYPE));
                let e = Tensor::from_vec(&[2, 0], Vec::<T>::new()).unwrap();
                let got = super::reduce(&e, &[false, true], kind, false).unwrap();
                same(&got, &Tensor::from_vec(&[2], vec![oracle::<T>(&[], kind); 2]).unwrap(), &format!("{kind:?} {} empty", T::DTYPE));
            }
        }
        check(vec![i8::MIN, -1, 0, 1, 100, i8::MAX, 77, -77, 3]);
        check(vec![0u8, 1, 2, 200, u8::MAX, 128, 9, 17, 33]);
        check(vec![i16::MIN, -300, 0, 1, 3000, i16::MAX, 5, -5, 2]);
        check(vec![0u16, 1, 2, 60000, u16::MAX, 128, 9, 17, 33]);
        check(vec![i32::MIN, -70000, 0, 1, 1 << 30, i32::MAX, 5, -5, 2]);
        check(vec![0u32, 1, 2, 1 << 31, u32::MAX, 128, 9, 17, 33]);
        check(vec![i64::MIN, -70000, 0, 1, 1 << 62, i64::MAX, 5, -5, 2]);
        check(vec![0u64, 1, 2, 1 << 63, u64::MAX, 128, 9, 17, 33]);
        check(vec![-1.5f64, 0.25, 1e300, -0.0, 3.0, 7.5, 1e-300, 2.0, -4.0]);
        check([-1.5f32, 0.25, 60000.0, -0.0, 3.0, 7.5, 1e-6, 2.0, -4.0].iter().map(|&v| half::f16::from_f32(v)).collect());
        check(vec![-1.5f32, 0.25, 1e30, -0.0, 3.0, 7.5, 1e-30, 2.0, -4.0]);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        let x = f32s(&[3], &[1000.0, 1000.0, f32::NEG_INFINITY]);
        let out = run("ReduceLogSumExp", 18, vec![("keepdims", Attr::Int(0))], vec![Some(x)], 1).unwrap();
        assert!((vals(&out[0])[0] - (1000.0 + 2f32.ln())).abs() < 1e-3);
    }
}
