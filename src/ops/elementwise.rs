//! Elementwise ops over two or more inputs, with multidirectional (numpy) broadcasting:
//! arithmetic (Add, Sub, Mul, Div, Mod, Pow), variadic Min, Max, Sum, Mean, comparisons (Equal,
//! Greater, Less, GreaterOrEqual, LessOrEqual), logic (And, Or, Xor, Not) and Where.
//!
//! One broadcasting engine serves them all: [`zip_broadcast`] (two inputs) and the three-input
//! walk used by Where. Equal shapes and "tensor op scalar" run as a plain loop over contiguous
//! slices; any other broadcast coalesces the output dimensions and walks contiguous runs of the
//! innermost one, so `[N,C,H,W] * [1,C,1,1]` or `[B,S,D] + [D]` are loops over rows too.
//!
//! Integer arithmetic follows onnx's reference (numpy) semantics: it wraps on overflow, Div
//! truncates toward zero, and a zero divisor gives 0 instead of a trap. The [`Num`] trait holds
//! those per-type rules; unary.rs uses it too.
//!
//! Unary math lives in unary.rs; type conversions in cast.rs.
use super::broadcast::{broadcast_shapes, Walk};
use super::cast::cast;
use super::registry::{required, BuildContext, FnOp, Op, QuantRule, Registry};
use super::wide::{self, Wide};
use crate::error::{Error, Result};
use crate::kernels::velementwise::{binary_f32, binary_f32_scalar_left, binary_f32_scalar_right, BinaryF32};
use crate::tensor::{checked_numel, DType, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "Add", |_| Ok(binary(add))).quant(QuantRule::Binary);
    r.register("", "Sub", |_| Ok(binary(sub)));
    r.register("", "Mul", |_| Ok(binary(mul))).quant(QuantRule::Binary);
    r.register("", "Div", |_| Ok(binary(div)));
    r.register("", "Pow", |_| Ok(binary(pow)));
    r.register("", "Mod", build_mod);
    r.register("", "Min", |_| Ok(variadic(min)));
    r.register("", "Max", |_| Ok(variadic(max)));
    r.register("", "Sum", |_| Ok(variadic(add)));
    r.register("", "Mean", |_| Ok(Box::new(FnOp(mean))));
    r.register("", "Equal", |_| Ok(binary(equal)));
    r.register("", "Greater", |_| Ok(binary(greater)));
    r.register("", "Less", |_| Ok(binary(less)));
    r.register("", "GreaterOrEqual", |_| Ok(binary(greater_or_equal)));
    r.register("", "LessOrEqual", |_| Ok(binary(less_or_equal)));
    r.register("", "And", |_| Ok(binary(|a, b| logical(a, b, Logic::And))));
    r.register("", "Or", |_| Ok(binary(|a, b| logical(a, b, Logic::Or))));
    r.register("", "Xor", |_| Ok(binary(|a, b| logical(a, b, Logic::Xor))));
    r.register("", "Not", |_| Ok(Box::new(FnOp(not))));
    r.register("", "Where", |_| Ok(Box::new(FnOp(where_)))).data_movement();
}

// ---------------------------------------------------------------------------------------------
// Numeric element rules

/// The arithmetic of one numeric element type, with numpy's semantics (see the module docs).
/// Method names avoid the inherent float methods (`min`, `abs`, ...) on purpose.
// Some rules only serve the tests, as the oracle the wide path is checked against.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) trait Num: Elem + PartialOrd {
    const IS_FLOAT: bool;
    fn plus(self, o: Self) -> Self;
    fn minus(self, o: Self) -> Self;
    fn times(self, o: Self) -> Self;
    /// Float division; integer division truncating toward zero (0 for a zero divisor).
    fn divide(self, o: Self) -> Self;
    /// Remainder with the sign of the dividend (C `fmod`).
    fn rem_trunc(self, o: Self) -> Self;
    /// Remainder with the sign of the divisor (Python / numpy `mod`).
    fn rem_floor(self, o: Self) -> Self;
    /// The smaller value; NaN if either is NaN.
    fn min_nan(self, o: Self) -> Self;
    /// The larger value; NaN if either is NaN.
    fn max_nan(self, o: Self) -> Self;
    fn negate(self) -> Self;
    fn absolute(self) -> Self;
    /// -1, 0 or 1 (NaN stays NaN).
    fn sign(self) -> Self;
    fn to_f64(self) -> f64;
    /// `as`-style conversion: floats round, integers truncate toward zero and saturate.
    fn from_f64(v: f64) -> Self;
}

macro_rules! num_int_common {
    () => {
        const IS_FLOAT: bool = false;
        #[inline]
        fn plus(self, o: Self) -> Self {
            self.wrapping_add(o)
        }
        #[inline]
        fn minus(self, o: Self) -> Self {
            self.wrapping_sub(o)
        }
        #[inline]
        fn times(self, o: Self) -> Self {
            self.wrapping_mul(o)
        }
        #[inline]
        fn divide(self, o: Self) -> Self {
            if o == 0 {
                0
            } else {
                self.wrapping_div(o)
            }
        }
        #[inline]
        fn rem_trunc(self, o: Self) -> Self {
            if o == 0 {
                0
            } else {
                self.wrapping_rem(o)
            }
        }
        #[inline]
        fn min_nan(self, o: Self) -> Self {
            if o < self {
                o
            } else {
                self
            }
        }
        #[inline]
        fn max_nan(self, o: Self) -> Self {
            if o > self {
                o
            } else {
                self
            }
        }
        #[inline]
        fn negate(self) -> Self {
            self.wrapping_neg()
        }
        #[inline]
        fn to_f64(self) -> f64 {
            self as f64
        }
        #[inline]
        fn from_f64(v: f64) -> Self {
            v as Self
        }
    };
}

macro_rules! num_signed {
    ($($t:ty),*) => {$(
        impl Num for $t {
            num_int_common!();
            #[inline]
            fn rem_floor(self, o: Self) -> Self {
                let r = self.rem_trunc(o);
                if r != 0 && ((r < 0) != (o < 0)) {
                    r.wrapping_add(o)
                } else {
                    r
                }
            }
            #[inline]
            fn absolute(self) -> Self {
                self.wrapping_abs()
            }
            #[inline]
            fn sign(self) -> Self {
                self.signum()
            }
        }
    )*};
}

macro_rules! num_unsigned {
    ($($t:ty),*) => {$(
        impl Num for $t {
            num_int_common!();
            #[inline]
            fn rem_floor(self, o: Self) -> Self {
                self.rem_trunc(o)
            }
            #[inline]
            fn absolute(self) -> Self {
                self
            }
            #[inline]
            fn sign(self) -> Self {
                (self != 0) as Self
            }
        }
    )*};
}

macro_rules! num_float {
    ($($t:ty),*) => {$(
        impl Num for $t {
            const IS_FLOAT: bool = true;
            #[inline]
            fn plus(self, o: Self) -> Self {
                self + o
            }
            #[inline]
            fn minus(self, o: Self) -> Self {
                self - o
            }
            #[inline]
            fn times(self, o: Self) -> Self {
                self * o
            }
            #[inline]
            fn divide(self, o: Self) -> Self {
                self / o
            }
            #[inline]
            fn rem_trunc(self, o: Self) -> Self {
                self % o
            }
            #[inline]
            fn rem_floor(self, o: Self) -> Self {
                // numpy's npy_divmod: fmod, moved into the divisor's sign; a zero result takes
                // the divisor's sign too.
                let r = self % o;
                if r == 0.0 {
                    (0.0 as $t).copysign(o)
                } else if (r < 0.0) != (o < 0.0) {
                    r + o
                } else {
                    r
                }
            }
            #[inline]
            fn min_nan(self, o: Self) -> Self {
                if self.is_nan() {
                    self
                } else if o.is_nan() || o < self {
                    o
                } else {
                    self
                }
            }
            #[inline]
            fn max_nan(self, o: Self) -> Self {
                if self.is_nan() {
                    self
                } else if o.is_nan() || o > self {
                    o
                } else {
                    self
                }
            }
            #[inline]
            fn negate(self) -> Self {
                -self
            }
            #[inline]
            fn absolute(self) -> Self {
                self.abs()
            }
            #[inline]
            fn sign(self) -> Self {
                if self > 0.0 {
                    1.0
                } else if self < 0.0 {
                    -1.0
                } else {
                    self
                }
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as Self
            }
        }
    )*};
}

num_signed!(i8, i16, i32, i64);
num_unsigned!(u8, u16, u32, u64);
num_float!(f32, f64);

/// float16 computes in f32 and rounds once, as numpy does.
impl Num for f16 {
    const IS_FLOAT: bool = true;
    fn plus(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() + o.to_f32())
    }
    fn minus(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() - o.to_f32())
    }
    fn times(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() * o.to_f32())
    }
    fn divide(self, o: Self) -> Self {
        f16::from_f32(self.to_f32() / o.to_f32())
    }
    fn rem_trunc(self, o: Self) -> Self {
        f16::from_f32(self.to_f32().rem_trunc(o.to_f32()))
    }
    fn rem_floor(self, o: Self) -> Self {
        f16::from_f32(self.to_f32().rem_floor(o.to_f32()))
    }
    fn min_nan(self, o: Self) -> Self {
        f16::from_f32(self.to_f32().min_nan(o.to_f32()))
    }
    fn max_nan(self, o: Self) -> Self {
        f16::from_f32(self.to_f32().max_nan(o.to_f32()))
    }
    fn negate(self) -> Self {
        -self
    }
    fn absolute(self) -> Self {
        f16::from_bits(self.to_bits() & 0x7fff)
    }
    fn sign(self) -> Self {
        f16::from_f32(self.to_f32().sign())
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch helpers

/// Runs `$body` with `$a` bound to the inner array of a numeric (non-bool) tensor; otherwise
/// evaluates `$other` with the tensor bound to `$o`.
macro_rules! numeric {
    ($t:expr, $a:ident => $body:expr, $o:ident => $other:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $body,
            $crate::tensor::Tensor::F64($a) => $body,
            $crate::tensor::Tensor::F16($a) => $body,
            $crate::tensor::Tensor::I8($a) => $body,
            $crate::tensor::Tensor::U8($a) => $body,
            $crate::tensor::Tensor::I16($a) => $body,
            $crate::tensor::Tensor::U16($a) => $body,
            $crate::tensor::Tensor::I32($a) => $body,
            $crate::tensor::Tensor::U32($a) => $body,
            $crate::tensor::Tensor::I64($a) => $body,
            $crate::tensor::Tensor::U64($a) => $body,
            $o => $other,
        }
    };
    // Only the types narrow ones widen to: for use inside [`widened1`].
    (wide $t:expr, $a:ident => $body:expr, $o:ident => $other:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $body,
            $crate::tensor::Tensor::F64($a) => $body,
            $crate::tensor::Tensor::I64($a) => $body,
            $crate::tensor::Tensor::U64($a) => $body,
            $o => $other,
        }
    };
}
pub(crate) use numeric;

/// The type a narrow element type computes in: int8/16/32 in int64, uint8/16/32 in uint64,
/// float16 in float32. Every two-input op here gives the same result computed in the wide type
/// and converted back: wrapping integer arithmetic keeps its low bits (and Div, Mod, Min, Max
/// and comparisons of in-range values are exact in the wide type), and float16 arithmetic is
/// defined as float32 arithmetic rounded once. Pow is the exception (its float results saturate
/// when converted to an integer type), so it does not use this.
fn wide_type(d: DType) -> Option<DType> {
    match d {
        DType::I8 | DType::I16 | DType::I32 => Some(DType::I64),
        DType::U8 | DType::U16 | DType::U32 => Some(DType::U64),
        DType::F16 => Some(DType::F32),
        _ => None,
    }
}

/// `t` in its wide type, or None when its type is not narrow.
pub(crate) fn to_wide(t: &Tensor) -> Result<Option<Tensor>> {
    wide_type(t.dtype()).map(|wide| cast(t, wide)).transpose()
}

fn type_mismatch(a: &Tensor, b: &Tensor, what: &str) -> Error {
    if a.dtype() == b.dtype() {
        Error::dtype(format!("inputs must have {what}, got {}", a.dtype()))
    } else {
        Error::dtype(format!("inputs must have the same type, got {} and {}", a.dtype(), b.dtype()))
    }
}

/// An op of two required inputs.
fn binary(f: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![f(required(inputs, 0, "A")?, required(inputs, 1, "B")?)?])))
}

/// An op folding one or more inputs pairwise (Min, Max, Sum).
fn variadic(f: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Box<dyn Op> {
    Box::new(FnOp(move |inputs: &[Option<&Tensor>]| Ok(vec![fold(inputs, f)?])))
}

fn fold(inputs: &[Option<&Tensor>], f: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let mut it = inputs.iter().flatten();
    let first = it.next().ok_or_else(|| Error::invalid("needs at least one input"))?;
    let mut acc = (*first).clone();
    for t in it {
        acc = f(&acc, t)?;
    }
    Ok(acc)
}

pub(crate) fn contiguous<'a, T>(a: &'a ndarray::CowArray<'_, T, IxDyn>) -> Result<&'a [T]> {
    a.as_slice().ok_or_else(|| Error::internal("array is not contiguous after as_standard_layout"))
}

fn from_shape<T>(shape: &[usize], data: Vec<T>) -> Result<ArrayD<T>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| Error::shape(format!("output shape {shape:?}: {e}")))
}

/// `f` applied to every element of `a`, into a new array of its shape: a loop over a contiguous
/// slice. Unlike `mapv`, no strided-iteration path is compiled per closure, which counts for ops
/// instantiated once per element type (docs/size.md).
pub(crate) fn map_elems<S: Copy, T>(a: &ArrayD<S>, f: impl Fn(S) -> T) -> Result<ArrayD<T>> {
    let a = a.as_standard_layout();
    from_shape(a.shape(), contiguous(&a)?.iter().map(|&x| f(x)).collect())
}

/// `f` applied elementwise to `a` and `b` broadcast together.
pub(crate) fn zip_broadcast<A: Copy, B: Copy, O: Elem>(
    a: &ArrayD<A>,
    b: &ArrayD<B>,
    f: impl Fn(A, B) -> O,
) -> Result<ArrayD<O>> {
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    let n = checked_numel(&shape, O::DTYPE)?;
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (xa, xb) = (contiguous(&a)?, contiguous(&b)?);
    let mut out: Vec<O> = Vec::with_capacity(n);
    // Contiguous fast paths only where models spend time: float32 results. Other types take the
    // strided walk alone (it handles every case), one loop per instance instead of seven, which
    // keeps the per-type, per-op copies of this function small in the wasm build.
    let fast = matches!(O::DTYPE, DType::F32);
    if n == 0 {
    } else if fast && a.shape() == b.shape() {
        out.extend(xa.iter().zip(xb).map(|(&x, &y)| f(x, y)));
    } else if fast && xb.len() == 1 && a.shape() == shape.as_slice() {
        let y = xb[0];
        out.extend(xa.iter().map(|&x| f(x, y)));
    } else if fast && xa.len() == 1 && b.shape() == shape.as_slice() {
        let x = xa[0];
        out.extend(xb.iter().map(|&y| f(x, y)));
    } else {
        let walk = Walk::new(&shape, [a.shape(), b.shape()]);
        let (len, [sa, sb]) = walk.inner();
        walk.for_each_run(|[oa, ob]| match (sa, sb) {
            (1, 1) if fast => out.extend(xa[oa..oa + len].iter().zip(&xb[ob..ob + len]).map(|(&x, &y)| f(x, y))),
            (1, 0) if fast => {
                let y = xb[ob];
                out.extend(xa[oa..oa + len].iter().map(|&x| f(x, y)));
            }
            (0, 1) if fast => {
                let x = xa[oa];
                out.extend(xb[ob..ob + len].iter().map(|&y| f(x, y)));
            }
            _ => out.extend((0..len).map(|i| f(xa[oa + i * sa], xb[ob + i * sb]))),
        });
    }
    from_shape(&shape, out)
}

/// [`zip_broadcast`] for float32 arithmetic, every contiguous run through the vectorized
/// [`BinaryF32`] kernels (the same rule as [`Num`]'s for f32: IEEE +, -, *, /).
fn zip_broadcast_f32(op: BinaryF32, a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    let n = checked_numel(&shape, DType::F32)?;
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (xa, xb) = (contiguous(&a)?, contiguous(&b)?);
    let mut out: Vec<f32> = Vec::with_capacity(n);
    if n == 0 {
    } else if a.shape() == b.shape() {
        binary_f32(op, xa, xb, &mut out);
    } else if xb.len() == 1 && a.shape() == shape.as_slice() {
        binary_f32_scalar_right(op, xa, xb[0], &mut out);
    } else if xa.len() == 1 && b.shape() == shape.as_slice() {
        binary_f32_scalar_left(op, xa[0], xb, &mut out);
    } else {
        let walk = Walk::new(&shape, [a.shape(), b.shape()]);
        let (len, [sa, sb]) = walk.inner();
        walk.for_each_run(|[oa, ob]| match (sa, sb) {
            (1, 1) => binary_f32(op, &xa[oa..oa + len], &xb[ob..ob + len], &mut out),
            (1, 0) => binary_f32_scalar_right(op, &xa[oa..oa + len], xb[ob], &mut out),
            (0, 1) => binary_f32_scalar_left(op, xa[oa], &xb[ob..ob + len], &mut out),
            _ => out.extend((0..len).map(|i| op.apply(xa[oa + i * sa], xb[ob + i * sb]))),
        });
    }
    from_shape(&shape, out)
}

// ---------------------------------------------------------------------------------------------
// The ops

/// Two-input arithmetic. float32 Add, Sub, Mul and Div run the vectorized [`BinaryF32`]
/// kernels; every other type and op takes the wide scalar path (src/ops/wide.rs): floats in
/// f64, integers in i128, one loop per op family, with the same results as [`Num`]'s rules in
/// the narrow type (wide.rs has the argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    /// Remainder with the sign of the divisor (Mod, fmod = 0).
    ModFloor,
    /// Remainder with the sign of the dividend (Mod, fmod = 1).
    ModTrunc,
}

impl Arith {
    fn kernel(self) -> Option<BinaryF32> {
        match self {
            Arith::Add => Some(BinaryF32::Add),
            Arith::Sub => Some(BinaryF32::Sub),
            Arith::Mul => Some(BinaryF32::Mul),
            Arith::Div => Some(BinaryF32::Div),
            _ => None,
        }
    }

    /// The rule on floats ([`Num`] for f64).
    fn float(self, x: f64, y: f64) -> f64 {
        match self {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
            Arith::Min => x.min_nan(y),
            Arith::Max => x.max_nan(y),
            Arith::ModFloor => x.rem_floor(y),
            Arith::ModTrunc => x.rem_trunc(y),
        }
    }

    /// The rule on integers widened to i128, before truncation to the type (numpy semantics:
    /// Div truncates toward zero, a zero divisor gives 0).
    fn int(self, x: i128, y: i128) -> i128 {
        match self {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x.wrapping_mul(y),
            Arith::Div if y == 0 => 0,
            Arith::Div => x / y,
            Arith::ModFloor | Arith::ModTrunc if y == 0 => 0,
            Arith::ModTrunc => x % y,
            Arith::ModFloor => {
                let r = x % y;
                if r != 0 && ((r < 0) != (y < 0)) {
                    r + y
                } else {
                    r
                }
            }
            Arith::Min => x.min(y),
            Arith::Max => x.max(y),
        }
    }
}

/// `a` and `b` as wide values, with their broadcast shape; a type error unless both have one
/// type (numeric, or any with `any`).
fn wide_pair(a: &Tensor, b: &Tensor, any: bool, out: DType) -> Result<(Vec<usize>, Wide, Wide)> {
    if a.dtype() != b.dtype() || (!any && a.dtype() == DType::Bool) {
        return Err(type_mismatch(a, b, if any { "any type" } else { "a numeric type" }));
    }
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    checked_numel(&shape, out)?;
    Ok((shape, wide::values(a), wide::values(b)))
}

pub(crate) fn arith(op: Arith, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if let (Tensor::F32(x), Tensor::F32(y), Some(k)) = (a, b, op.kernel()) {
        return zip_broadcast_f32(k, x, y).map(Tensor::F32);
    }
    let (shape, x, y) = wide_pair(a, b, false, a.dtype())?;
    let (sa, sb) = (a.shape(), b.shape());
    let w = match (x, y) {
        (Wide::F(x), Wide::F(y)) => Wide::F(wide::zip(&x, sa, &y, sb, &shape, &|x, y| op.float(x, y))),
        (Wide::I(x), Wide::I(y)) => Wide::I(wide::zip(&x, sa, &y, sb, &shape, &|x, y| op.int(x, y))),
        _ => return Err(Error::internal("inputs of one type read as different wide types")),
    };
    wide::from_wide(a.dtype(), &shape, w)
}

fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Add, a, b)
}
fn sub(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Sub, a, b)
}
fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Mul, a, b)
}
fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Div, a, b)
}
fn min(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Min, a, b)
}
fn max(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    arith(Arith::Max, a, b)
}

fn build_mod(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let fmod = ctx.attrs().int_or("fmod", 0)?;
    let f: fn(&Tensor, &Tensor) -> Result<Tensor> = match fmod {
        0 => |a, b| arith(Arith::ModFloor, a, b),
        1 => |a, b| arith(Arith::ModTrunc, a, b),
        other => return Err(Error::invalid(format!("Mod: fmod must be 0 or 1, got {other}"))),
    };
    Ok(binary(f))
}

/// Sum / n: the count rounded to the inputs' type first, as the division of that type does.
fn mean(inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let n = inputs.iter().flatten().count();
    let sum = fold(inputs, add)?;
    if !sum.dtype().is_float() {
        return Err(Error::dtype(format!("Mean needs float inputs, got {}", sum.dtype())));
    }
    let count = cast(&Tensor::scalar(n as f64), sum.dtype())?;
    Ok(vec![arith(Arith::Div, &sum, &count)?])
}

/// `base ^ exponent` as numpy's `power(a, b).astype(a.dtype)`: computed in f64 when either side
/// is a float (the result converted with `as`: rounded for floats, truncated and saturated for
/// integers), by repeated wrapping multiplication when both are integers. The exponent comes as
/// f64 (exact for every exponent type but 64-bit integers beyond 2^53, which numpy's integer
/// power could not reach anyway) with `e_float` saying whether it was a float. `b` is the base
/// in i128, `dt` its type.
fn pow_int(b: i128, e: f64, e_float: bool, dt: DType) -> i128 {
    if e_float {
        return wide::int_from_f64(dt, (b as f64).powf(e));
    }
    if e < 0.0 {
        // Integer to a negative power: 1/b^|e| truncated (b = -1 in the type's own arithmetic,
        // so the all-ones value of an unsigned type too).
        return if b == 1 {
            1
        } else if wide::wrap_int(dt, b + 1) == 0 {
            if (e as i64) % 2 == 0 {
                1
            } else {
                b
            }
        } else {
            0
        };
    }
    let (mut acc, mut base, mut k) = (1i128, b, e as u64);
    while k > 0 {
        if k & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        k >>= 1;
    }
    acc
}

fn pow(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    // Small integer exponents of f32 (x^2 in layer-norm decompositions) skip the f64 power.
    if let Tensor::F32(x) = a {
        if b.len() == 1 {
            let e = b.to_f32_vec().first().copied().unwrap_or(f32::NAN);
            let fast = match e {
                1.0 => Some(x.clone()),
                2.0 => Some(x.mapv(|v| v * v)),
                3.0 => Some(x.mapv(|v| v * v * v)),
                _ => None,
            };
            if let Some(y) = fast {
                let shape = broadcast_shapes(&[x.shape(), b.shape()])?;
                if y.shape() == shape.as_slice() {
                    return Ok(Tensor::F32(y));
                }
                return y
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&shape))
                    .map(Tensor::F32)
                    .map_err(|e| Error::shape(e.to_string()));
            }
        }
    }
    let e_float = b.dtype().is_float();
    if b.dtype() == DType::Bool {
        return Err(Error::dtype(format!("Pow: the exponent must be numeric, got {}", b.dtype())));
    }
    if a.dtype() == DType::Bool {
        return Err(Error::dtype(format!("Pow: the base must be numeric, got {}", a.dtype())));
    }
    let Wide::F(e) = wide::values(&cast(b, DType::F64)?) else {
        return Err(Error::internal("Pow exponent did not cast to float64"));
    };
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    checked_numel(&shape, a.dtype())?;
    let (dt, sa, sb) = (a.dtype(), a.shape(), b.shape());
    let w = match wide::values(a) {
        Wide::F(x) => Wide::F(wide::zip(&x, sa, &e, sb, &shape, &|b: f64, e: f64| b.powf(e))),
        Wide::I(x) => Wide::I(wide::zip(&x, sa, &e, sb, &shape, &|b, e| pow_int(b, e, e_float, dt))),
    };
    wide::from_wide(dt, &shape, w)
}

/// A comparison of two values of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

impl Cmp {
    #[inline]
    fn test<T: PartialOrd>(self, x: T, y: T) -> bool {
        match self {
            Cmp::Eq => x == y,
            Cmp::Gt => x > y,
            Cmp::Lt => x < y,
            Cmp::Ge => x >= y,
            Cmp::Le => x <= y,
        }
    }
}

/// A comparison through the wide path: exact for every type (floats compare the same in f64,
/// NaN included; integers and bool in i128). Equal accepts bool, the others numbers only.
fn compare(op: Cmp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (shape, x, y) = wide_pair(a, b, op == Cmp::Eq, DType::Bool)?;
    let (sa, sb) = (a.shape(), b.shape());
    let v = match (x, y) {
        (Wide::F(x), Wide::F(y)) => wide::zip(&x, sa, &y, sb, &shape, &|x, y| op.test(x, y)),
        (Wide::I(x), Wide::I(y)) => wide::zip(&x, sa, &y, sb, &shape, &|x, y| op.test(x, y)),
        _ => return Err(Error::internal("inputs of one type read as different wide types")),
    };
    wide::from_bools(&shape, v)
}

fn equal(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    compare(Cmp::Eq, a, b)
}
fn greater(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    compare(Cmp::Gt, a, b)
}
fn less(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    compare(Cmp::Lt, a, b)
}
fn greater_or_equal(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    compare(Cmp::Ge, a, b)
}
fn less_or_equal(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    compare(Cmp::Le, a, b)
}

#[derive(Debug, Clone, Copy)]
enum Logic {
    And,
    Or,
    Xor,
}

/// And, Or, Xor: one broadcast loop for the three.
fn logical(a: &Tensor, b: &Tensor, op: Logic) -> Result<Tensor> {
    let f = move |x: bool, y: bool| match op {
        Logic::And => x & y,
        Logic::Or => x | y,
        Logic::Xor => x ^ y,
    };
    match (a, b) {
        (Tensor::Bool(x), Tensor::Bool(y)) => Ok(Tensor::Bool(zip_broadcast(x, y, f)?)),
        _ => Err(Error::dtype(format!("inputs must be bool, got {} and {}", a.dtype(), b.dtype()))),
    }
}

fn not(inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    match required(inputs, 0, "X")? {
        Tensor::Bool(x) => Ok(vec![Tensor::Bool(x.mapv(|v| !v))]),
        other => Err(Error::dtype(format!("input must be bool, got {}", other.dtype()))),
    }
}

/// Where selects whole elements without reading them: it runs on lanes of the elements' width
/// ([`crate::tensor::width`]), compiled four times for every element type (no widening).
fn where_(inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    use crate::tensor::{Lane, LanesView};
    let cond = required(inputs, 0, "condition")?;
    let (DType::Bool, LanesView::B1(c)) = (cond.dtype(), cond.lanes()) else {
        return Err(Error::dtype(format!("condition must be bool, got {}", cond.dtype())));
    };
    let (x, y) = (required(inputs, 1, "X")?, required(inputs, 2, "Y")?);
    if x.dtype() != y.dtype() {
        return Err(type_mismatch(x, y, "any type"));
    }
    fn pick<W: Lane>(c: ndarray::ArrayViewD<'_, u8>, x: ndarray::ArrayViewD<'_, W>, y: &Tensor) -> Result<ArrayD<W>> {
        let y = W::view_of(y).ok_or_else(|| Error::dtype("internal: Where's X and Y differ in width"))?;
        let shape = broadcast_shapes(&[c.shape(), x.shape(), y.shape()])?;
        let n = shape.iter().product::<usize>();
        let (c, x, y) = (super::shape::standard(c), super::shape::standard(x), super::shape::standard(y));
        let (xc, xx, xy) = (contiguous(&c)?, contiguous(&x)?, contiguous(&y)?);
        let mut out: Vec<W> = Vec::with_capacity(n);
        let sel = |c: u8, a: W, b: W| if c != 0 { a } else { b };
        if n == 0 {
        } else if c.shape() == x.shape() && x.shape() == y.shape() {
            out.extend(xc.iter().zip(xx).zip(xy).map(|((&c, &a), &b)| sel(c, a, b)));
        } else {
            let walk = Walk::new(&shape, [c.shape(), x.shape(), y.shape()]);
            let (len, [sc, sx, sy]) = walk.inner();
            walk.for_each_run(|[oc, ox, oy]| out.extend((0..len).map(|i| sel(xc[oc + i * sc], xx[ox + i * sx], xy[oy + i * sy]))));
        }
        from_shape(&shape, out)
    }
    let shape = broadcast_shapes(&[cond.shape(), x.shape(), y.shape()])?;
    checked_numel(&shape, x.dtype())?;
    let lanes = crate::map_lanes!(x.lanes(), a => pick(c.clone(), a, y)?);
    Ok(vec![Tensor::from_lanes(x.dtype(), lanes)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t<T: Elem>(shape: &[usize], v: Vec<T>) -> Tensor {
        Tensor::from_vec(shape, v).unwrap()
    }

    /// Broadcasting result computed the slow way, by index arithmetic.
    fn naive_add(a: &ArrayD<f32>, b: &ArrayD<f32>) -> ArrayD<f32> {
        let shape = broadcast_shapes(&[a.shape(), b.shape()]).unwrap();
        let a = a.broadcast(IxDyn(&shape)).unwrap();
        let b = b.broadcast(IxDyn(&shape)).unwrap();
        ndarray::Zip::from(&a).and(&b).map_collect(|x, y| x + y)
    }

    #[test]
    fn broadcast_walk_matches_naive_indexing() {
        let shapes: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4, 5], &[1, 3, 1, 1]),
            (&[2, 3, 4, 5], &[5]),
            (&[2, 3, 4, 5], &[4, 1]),
            (&[2, 1, 4, 1], &[1, 3, 1, 5]),
            (&[3, 1], &[1, 4]),
            (&[1], &[2, 2]),
            (&[], &[2, 3]),
            (&[2, 3, 1], &[2, 1, 7]),
            (&[1, 1, 1], &[1]),
            (&[0, 3], &[1, 3]),
        ];
        for (sa, sb) in shapes {
            let na: usize = sa.iter().product();
            let nb: usize = sb.iter().product();
            let a = ArrayD::from_shape_vec(IxDyn(sa), (0..na).map(|v| v as f32).collect()).unwrap();
            let b = ArrayD::from_shape_vec(IxDyn(sb), (0..nb).map(|v| 1000.0 * v as f32).collect()).unwrap();
            assert_eq!(zip_broadcast(&a, &b, |x, y| x + y).unwrap(), naive_add(&a, &b), "{sa:?} + {sb:?}");
            assert_eq!(zip_broadcast(&b, &a, |x, y| x + y).unwrap(), naive_add(&b, &a), "{sb:?} + {sa:?}");
        }
    }

    #[test]
    fn non_contiguous_inputs_are_handled() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0f32, 1., 2., 3., 4., 5.]).unwrap();
        let at = a.t().to_owned(); // standard layout copy for comparison
        let view = a.t().into_owned(); // may keep Fortran strides
        let b = ArrayD::from_shape_vec(IxDyn(&[3, 1]), vec![10f32, 20., 30.]).unwrap();
        assert_eq!(zip_broadcast(&view, &b, |x, y| x + y).unwrap(), naive_add(&at, &b));
    }

    #[test]
    fn mismatched_shapes_and_types_are_errors() {
        let a = t(&[2, 3], vec![0f32; 6]);
        let b = t(&[4, 3], vec![0f32; 12]);
        assert!(matches!(add(&a, &b), Err(Error::ShapeMismatch { .. })));
        let c = t(&[2, 3], vec![0i64; 6]);
        assert!(matches!(add(&a, &c), Err(Error::TypeMismatch { .. })));
        let d = t(&[1], vec![true]);
        assert!(matches!(add(&d, &d), Err(Error::TypeMismatch { .. })));
    }

    #[test]
    fn integer_division_and_modulo_follow_numpy() {
        let a = t(&[5], vec![-7i32, 7, -7, 7, 5]);
        let b = t(&[5], vec![2i32, -2, -2, 2, 0]);
        assert_eq!(div(&a, &b).unwrap(), t(&[5], vec![-3i32, -3, 3, 3, 0]));
        let m = |f: i64, a: &Tensor, b: &Tensor| arith(if f == 0 { Arith::ModFloor } else { Arith::ModTrunc }, a, b);
        assert_eq!(m(0, &a, &b).unwrap(), t(&[5], vec![1i32, -1, -1, 1, 0]));
        assert_eq!(m(1, &a, &b).unwrap(), t(&[5], vec![-1i32, 1, -1, 1, 0]));
        let big = t(&[1], vec![i32::MIN]);
        let neg1 = t(&[1], vec![-1i32]);
        assert_eq!(div(&big, &neg1).unwrap(), big);
    }

    /// Narrow types compute in their wide type ([`widened`]): every int8 and uint8 pair, and
    /// pairs of a spread of finite non-zero float16 values (no NaN results, so tensors compare
    /// with ==), give what the element rule computes in the narrow type itself.
    #[test]
    fn narrow_types_compute_in_their_wide_type_exactly() {
        type BinOp = fn(&Tensor, &Tensor) -> Result<Tensor>;
        fn rem_floor(a: &Tensor, b: &Tensor) -> Result<Tensor> {
            arith(Arith::ModFloor, a, b)
        }
        fn rem_trunc(a: &Tensor, b: &Tensor) -> Result<Tensor> {
            arith(Arith::ModTrunc, a, b)
        }
        fn check<T: Num>(xs: &[T]) {
            let n = xs.len();
            let a: Vec<T> = (0..n * n).map(|i| xs[i / n]).collect();
            let b: Vec<T> = (0..n * n).map(|i| xs[i % n]).collect();
            let (ta, tb) = (t(&[n * n], a.clone()), t(&[n * n], b.clone()));
            let arith_ops: [(BinOp, fn(T, T) -> T); 8] = [
                (add, Num::plus),
                (sub, Num::minus),
                (mul, Num::times),
                (div, Num::divide),
                (min, Num::min_nan),
                (max, Num::max_nan),
                (rem_floor, Num::rem_floor),
                (rem_trunc, Num::rem_trunc),
            ];
            // The same pairs by broadcasting [n, 1] against [1, n] (the strided walk).
            let (col, row) = (t(&[n, 1], xs.to_vec()), t(&[1, n], xs.to_vec()));
            for (i, (op, f)) in arith_ops.into_iter().enumerate() {
                let want: Vec<T> = a.iter().zip(&b).map(|(&x, &y)| f(x, y)).collect();
                assert_eq!(op(&ta, &tb).unwrap(), t(&[n * n], want.clone()), "{} op {i}", T::DTYPE);
                assert_eq!(op(&col, &row).unwrap(), t(&[n, n], want), "{} op {i} broadcast", T::DTYPE);
            }
            let cmp_ops: [(BinOp, fn(&T, &T) -> bool); 5] =
                [(equal, PartialEq::eq), (greater, PartialOrd::gt), (less, PartialOrd::lt), (greater_or_equal, PartialOrd::ge), (less_or_equal, PartialOrd::le)];
            for (i, (op, f)) in cmp_ops.into_iter().enumerate() {
                let want: Vec<bool> = a.iter().zip(&b).map(|(x, y)| f(x, y)).collect();
                assert_eq!(op(&ta, &tb).unwrap(), t(&[n * n], want.clone()), "{} comparison {i}", T::DTYPE);
                assert_eq!(op(&col, &row).unwrap(), t(&[n, n], want), "{} comparison {i} broadcast", T::DTYPE);
            }
            // Pow with an exponent of the same type (integers: small non-negative and negative
            // exponents; floats: every pair), against the rule computed in the narrow type.
            let e: Vec<T> = if T::IS_FLOAT { b.clone() } else { b.iter().map(|&v| T::from_f64(v.to_f64() % 7.0)).collect() };
            let want = t(&[n * n], a.iter().zip(&e).map(|(&x, &y)| pow_elem(x, y.to_f64(), T::IS_FLOAT)).collect());
            // Bit for bit: a negative float base to a fractional power is NaN.
            let bits = |t: Tensor| (t.dtype(), t.shape().to_vec(), t.to_le_bytes());
            assert_eq!(bits(pow(&ta, &t(&[n * n], e.clone())).unwrap()), bits(want), "{} Pow", T::DTYPE);
            let ef = t(&[n * n], e.iter().map(|v| v.to_f64() + 0.5).collect::<Vec<f64>>());
            let want = t(&[n * n], a.iter().zip(&e).map(|(&x, &y)| pow_elem(x, y.to_f64() + 0.5, true)).collect());
            assert_eq!(bits(pow(&ta, &ef).unwrap()), bits(want), "{} Pow with a float exponent", T::DTYPE);
            let c = t(&[n * n], (0..n * n).map(|i| i % 3 == 0).collect());
            let want = t(&[n * n], (0..n * n).map(|i| if i % 3 == 0 { a[i] } else { b[i] }).collect());
            assert_eq!(where_(&[Some(&c), Some(&ta), Some(&tb)]).unwrap()[0], want, "{} Where", T::DTYPE);
        }
        check(&(i8::MIN..=i8::MAX).collect::<Vec<_>>());
        check(&(u8::MIN..=u8::MAX).collect::<Vec<_>>());
        check(&(i16::MIN..=i16::MAX).step_by(257).chain([i16::MIN, -1, 1, i16::MAX]).collect::<Vec<_>>());
        check(&[i32::MIN, i32::MIN + 1, -65537, -2, -1, 0, 1, 3, 65536, i32::MAX]);
        check(&[0u32, 1, 2, 255, 65536, u32::MAX - 1, u32::MAX]);
        let halves: Vec<f16> = (1..0x7c00u16)
            .step_by(97)
            .flat_map(|bits| [f16::from_bits(bits), f16::from_bits(bits | 0x8000)])
            .chain([f16::MIN_POSITIVE_SUBNORMAL, f16::MAX, f16::MIN])
            .collect();
        check(&halves);
        check(&[i64::MIN, i64::MIN + 1, -(1 << 40), -3, -1, 0, 1, 2, 1 << 33, i64::MAX - 1, i64::MAX]);
        check(&[0u64, 1, 3, 1 << 40, u64::MAX / 2, u64::MAX - 1, u64::MAX]);
        check(&(0..=u16::MAX).step_by(331).chain([1, u16::MAX]).collect::<Vec<_>>());
        check(&[-3.5f32, -1.0, -1e-30, 1e-38, 0.1, 1.0, 2.5, 7.0, 1e20, f32::MAX, -f32::MAX]);
        check(&[-3.5f64, -1.0, -1e-300, 1e-310, 0.1, 1.0, 2.5, 7.0, 1e200, f64::MAX]);
    }

    /// The old per-type Pow rule, the oracle for [`pow`]'s wide path.
    fn pow_elem<B: Num>(b: B, e: f64, e_float: bool) -> B {
        if B::IS_FLOAT || e_float {
            return B::from_f64(b.to_f64().powf(e));
        }
        let one = B::from_f64(1.0);
        if e < 0.0 {
            return if b == one {
                one
            } else if b == one.negate() {
                if (e as i64) % 2 == 0 {
                    one
                } else {
                    b
                }
            } else {
                B::default()
            };
        }
        let (mut acc, mut base, mut k) = (one, b, e as u64);
        while k > 0 {
            if k & 1 == 1 {
                acc = acc.times(base);
            }
            base = base.times(base);
            k >>= 1;
        }
        acc
    }

    #[test]
    fn min_max_propagate_nan() {
        let a = t(&[3], vec![1f32, f32::NAN, 3.0]);
        let b = t(&[3], vec![f32::NAN, 2.0, 1.0]);
        let lo = min(&a, &b).unwrap().to_f32_vec();
        let hi = max(&a, &b).unwrap().to_f32_vec();
        assert!(lo[0].is_nan() && lo[1].is_nan() && lo[2] == 1.0);
        assert!(hi[0].is_nan() && hi[1].is_nan() && hi[2] == 3.0);
    }

    #[test]
    fn integer_powers() {
        let a = t(&[4], vec![2i64, -3, 1, -1]);
        let b = t(&[4], vec![10i64, 3, -5, -3]);
        assert_eq!(pow(&a, &b).unwrap(), t(&[4], vec![1024i64, -27, 1, -1]));
        let x = t(&[2, 2], vec![1f32, 2., 3., 4.]);
        let two = t(&[], vec![2f32]);
        assert_eq!(pow(&x, &two).unwrap(), t(&[2, 2], vec![1f32, 4., 9., 16.]));
        let two_4d = t(&[1, 1, 1], vec![2f32]);
        assert_eq!(pow(&x, &two_4d).unwrap().shape(), &[1, 2, 2]);
    }

    #[test]
    fn where_broadcasts_three_ways() {
        let c = t(&[2, 1], vec![true, false]);
        let x = t(&[3], vec![1i64, 2, 3]);
        let y = t(&[], vec![0i64]);
        let out = where_(&[Some(&c), Some(&x), Some(&y)]).unwrap();
        assert_eq!(out[0], t(&[2, 3], vec![1i64, 2, 3, 0, 0, 0]));
    }
}
