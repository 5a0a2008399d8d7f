//! The one scalar path for rare element types: compute ops read a tensor of any numeric type as
//! values of one wide type per class, compute there in a single loop per op family, and write
//! the result back in the tensor's own type. Floats (float64, float16, and float32 where no
//! float32 kernel exists) are read as f64; integers of every width and sign (and bool, as 0 / 1)
//! as i128. So an op family is compiled for two value types, not once per element type
//! (12 types: docs/size.md), and float32 keeps its own kernels where models spend time.
//!
//! Why results are bit-identical to computing in the narrow type:
//! - Integers: i128 holds every int8..uint64 value exactly. Addition, subtraction and
//!   multiplication (wrapping in i128) keep the low bits, so truncating to the type gives the
//!   wrapping result of the narrow type (`Z/2^128 -> Z/2^bits` is a ring homomorphism). Division
//!   and remainders of in-range values are exact (int64's `MIN / -1` is 2^63, which truncates to
//!   `MIN`, as `wrapping_div` does); comparisons, min and max are exact.
//! - Floats: f16 and f32 values are exact in f64. +, -, *, / and sqrt of two p-bit values
//!   computed in a format of at least 2p + 2 bits and rounded once more give the correctly
//!   rounded p-bit result (double rounding is innocuous: Figueroa, "When is double rounding
//!   innocuous?", 1995); f64 has 53 >= 2 * 24 + 2 bits. fmod is exact in any format; min, max and
//!   comparisons are exact. float16 arithmetic is defined as float32 arithmetic rounded once,
//!   which by the same argument (24 >= 2 * 11 + 2) is the correctly rounded result, as f64 is.
use super::broadcast::Walk;
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, DType, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

/// A tensor's values in the wide type of its class, row-major.
pub(crate) enum Wide {
    /// float32, float64, float16.
    F(Vec<f64>),
    /// Every integer type and bool.
    I(Vec<i128>),
}

fn collect<T: Copy, W>(a: &ArrayD<T>, f: impl Fn(T) -> W) -> Vec<W> {
    let a = a.as_standard_layout();
    match a.as_slice() {
        Some(s) => s.iter().map(|&v| f(v)).collect(),
        // as_standard_layout always gives a contiguous array.
        None => Vec::new(),
    }
}

/// The values of `t` in its wide type.
pub(crate) fn values(t: &Tensor) -> Wide {
    match t {
        Tensor::F32(a) => Wide::F(collect(a, f64::from)),
        Tensor::F64(a) => Wide::F(collect(a, |v| v)),
        Tensor::F16(a) => Wide::F(collect(a, f16::to_f64)),
        Tensor::I8(a) => Wide::I(collect(a, i128::from)),
        Tensor::U8(a) => Wide::I(collect(a, i128::from)),
        Tensor::I16(a) => Wide::I(collect(a, i128::from)),
        Tensor::U16(a) => Wide::I(collect(a, i128::from)),
        Tensor::I32(a) => Wide::I(collect(a, i128::from)),
        Tensor::U32(a) => Wide::I(collect(a, i128::from)),
        Tensor::I64(a) => Wide::I(collect(a, i128::from)),
        Tensor::U64(a) => Wide::I(collect(a, i128::from)),
        Tensor::Bool(a) => Wide::I(collect(a, i128::from)),
    }
}

fn array<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape(format!("output shape {shape:?}: {e}")))
}

/// A tensor of float type `dt` from f64 values (each rounded once to `dt`).
pub(crate) fn from_floats(dt: DType, shape: &[usize], v: Vec<f64>) -> Result<Tensor> {
    checked_numel(shape, dt)?;
    Ok(match dt {
        DType::F64 => Tensor::F64(array(shape, v)?),
        DType::F32 => Tensor::F32(array(shape, v.into_iter().map(|x| x as f32).collect())?),
        DType::F16 => Tensor::F16(array(shape, v.into_iter().map(f16::from_f64).collect())?),
        other => return Err(Error::internal(format!("{other} is not a float type"))),
    })
}

/// A tensor of integer (or bool) type `dt` from i128 values, truncated to `dt` as wrapping
/// arithmetic does (bool: `!= 0`).
pub(crate) fn from_ints(dt: DType, shape: &[usize], v: Vec<i128>) -> Result<Tensor> {
    checked_numel(shape, dt)?;
    let it = v.into_iter();
    Ok(match dt {
        DType::I8 => Tensor::I8(array(shape, it.map(|x| x as i8).collect())?),
        DType::U8 => Tensor::U8(array(shape, it.map(|x| x as u8).collect())?),
        DType::I16 => Tensor::I16(array(shape, it.map(|x| x as i16).collect())?),
        DType::U16 => Tensor::U16(array(shape, it.map(|x| x as u16).collect())?),
        DType::I32 => Tensor::I32(array(shape, it.map(|x| x as i32).collect())?),
        DType::U32 => Tensor::U32(array(shape, it.map(|x| x as u32).collect())?),
        DType::I64 => Tensor::I64(array(shape, it.map(|x| x as i64).collect())?),
        DType::U64 => Tensor::U64(array(shape, it.map(|x| x as u64).collect())?),
        DType::Bool => Tensor::Bool(array(shape, it.map(|x| x != 0).collect())?),
        other => return Err(Error::internal(format!("{other} is not an integer type"))),
    })
}

/// A tensor of float type `dt` from i128 values, each rounded once (float16 through f64, as
/// float16 conversions of integers are defined here: exact below 2^53, infinite beyond 65504).
pub(crate) fn floats_from_ints(dt: DType, shape: &[usize], v: Vec<i128>) -> Result<Tensor> {
    checked_numel(shape, dt)?;
    let it = v.into_iter();
    Ok(match dt {
        DType::F32 => Tensor::F32(array(shape, it.map(|x| x as f32).collect())?),
        DType::F64 => Tensor::F64(array(shape, it.map(|x| x as f64).collect())?),
        DType::F16 => Tensor::F16(array(shape, it.map(|x| f16::from_f64(x as f64)).collect())?),
        other => return Err(Error::internal(format!("{other} is not a float type"))),
    })
}

/// A tensor of type `dt` from wide values of its class.
pub(crate) fn from_wide(dt: DType, shape: &[usize], w: Wide) -> Result<Tensor> {
    match w {
        Wide::F(v) => from_floats(dt, shape, v),
        Wide::I(v) => from_ints(dt, shape, v),
    }
}

/// A bool tensor.
pub(crate) fn from_bools(shape: &[usize], v: Vec<bool>) -> Result<Tensor> {
    checked_numel(shape, DType::Bool)?;
    Ok(Tensor::Bool(array(shape, v)?))
}

/// `v` as the integer type `dt` holds it after wrapping (two's complement truncation).
pub(crate) fn wrap_int(dt: DType, v: i128) -> i128 {
    match dt {
        DType::I8 => v as i8 as i128,
        DType::U8 => v as u8 as i128,
        DType::I16 => v as i16 as i128,
        DType::U16 => v as u16 as i128,
        DType::I32 => v as i32 as i128,
        DType::U32 => v as u32 as i128,
        DType::I64 => v as i64 as i128,
        DType::U64 => v as u64 as i128,
        DType::Bool => (v != 0) as i128,
        _ => v,
    }
}

/// `v as T` for the integer type `dt`: truncation toward zero, saturating (NaN gives 0).
pub(crate) fn int_from_f64(dt: DType, v: f64) -> i128 {
    match dt {
        DType::I8 => v as i8 as i128,
        DType::U8 => v as u8 as i128,
        DType::I16 => v as i16 as i128,
        DType::U16 => v as u16 as i128,
        DType::I32 => v as i32 as i128,
        DType::U32 => v as u32 as i128,
        DType::I64 => v as i64 as i128,
        DType::U64 => v as u64 as i128,
        DType::Bool => (v != 0.0) as i128,
        _ => v as i128,
    }
}

/// `v` rounded to the float type `dt` (and widened back to f64).
pub(crate) fn round_float(dt: DType, v: f64) -> f64 {
    match dt {
        DType::F32 => v as f32 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        _ => v,
    }
}

/// The smallest and largest value of the integer type `dt`.
pub(crate) fn int_range(dt: DType) -> (i128, i128) {
    match dt {
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        _ => (0, 1),
    }
}

/// `f(a, b)` over `a` (of shape `sa`) and `b` (of shape `sb`) broadcast to `shape`, row-major.
/// The element rule is a value (`dyn`), so each value-type combination has one loop.
pub(crate) fn zip<A: Copy, B: Copy, O>(
    a: &[A],
    sa: &[usize],
    b: &[B],
    sb: &[usize],
    shape: &[usize],
    f: &dyn Fn(A, B) -> O,
) -> Vec<O> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return out;
    }
    let walk = Walk::new(shape, [sa, sb]);
    let (len, [da, db]) = walk.inner();
    walk.for_each_run(|[oa, ob]| out.extend((0..len).map(|i| f(a[oa + i * da], b[ob + i * db]))));
    out
}

/// `t` with every value mapped by `ff` (floats) or `fi` (integers; bool is refused), in its type.
pub(crate) fn map(t: &Tensor, what: &str, ff: &dyn Fn(f64) -> f64, fi: &dyn Fn(i128) -> i128) -> Result<Tensor> {
    if t.dtype() == DType::Bool {
        return Err(Error::dtype(format!("{what} expects a numeric tensor, got {}", t.dtype())));
    }
    let w = match values(t) {
        Wide::F(v) => Wide::F(v.into_iter().map(ff).collect()),
        Wide::I(v) => Wide::I(v.into_iter().map(fi).collect()),
    };
    from_wide(t.dtype(), t.shape(), w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_every_type() {
        let ts = [
            Tensor::from_vec(&[3], vec![1.5f32, -0.0, f32::MAX]).unwrap(),
            Tensor::from_vec(&[2], vec![f64::MIN_POSITIVE, -1e300]).unwrap(),
            Tensor::from_vec(&[2], vec![f16::MAX, f16::from_f32(-0.1)]).unwrap(),
            Tensor::from_vec(&[2], vec![i8::MIN, i8::MAX]).unwrap(),
            Tensor::from_vec(&[2], vec![0u8, 255]).unwrap(),
            Tensor::from_vec(&[2], vec![i16::MIN, 7]).unwrap(),
            Tensor::from_vec(&[2], vec![u16::MAX, 1]).unwrap(),
            Tensor::from_vec(&[2], vec![i32::MIN, i32::MAX]).unwrap(),
            Tensor::from_vec(&[2], vec![u32::MAX, 0]).unwrap(),
            Tensor::from_vec(&[2], vec![i64::MIN, i64::MAX]).unwrap(),
            Tensor::from_vec(&[2], vec![u64::MAX, 3]).unwrap(),
            Tensor::from_vec(&[2], vec![true, false]).unwrap(),
        ];
        for t in ts {
            assert_eq!(from_wide(t.dtype(), t.shape(), values(&t)).unwrap(), t, "{}", t.dtype());
        }
    }

    #[test]
    fn integers_wrap_and_saturate_as_the_narrow_types() {
        assert_eq!(wrap_int(DType::I8, 128), -128);
        assert_eq!(wrap_int(DType::U8, -1), 255);
        assert_eq!(wrap_int(DType::U64, -1), u64::MAX as i128);
        assert_eq!(int_from_f64(DType::I8, 1e9), 127);
        assert_eq!(int_from_f64(DType::U16, -3.7), 0);
        assert_eq!(int_from_f64(DType::I32, f64::NAN), 0);
        assert_eq!(int_from_f64(DType::U64, 1e30), u64::MAX as i128);
    }
}
