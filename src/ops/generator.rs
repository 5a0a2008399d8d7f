//! Ops that make tensors from attributes or shapes: Constant, ConstantOfShape, Range.
//!
//! ConstantOfShape and Range size-check their output before allocating: a shape or a range read
//! from the model must not be able to take the engine's memory down.
use super::reduce::Numeric;
use super::registry::{required, BuildContext, FnOp, Op, Registry};
use super::shape::{check_alloc, ints};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "Constant", constant);
    r.register("", "ConstantOfShape", constant_of_shape);
    r.register("", "Range", range);
}

fn constant(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let value: Tensor = if let Some(t) = a.tensor("value")? {
        t.clone()
    } else if let Some(v) = a.float("value_float")? {
        Tensor::scalar(v)
    } else if let Some(v) = a.int("value_int")? {
        Tensor::scalar(v)
    } else if let Some(v) = a.floats("value_floats")? {
        Tensor::from_vec(&[v.len()], v.to_vec())?
    } else if let Some(v) = a.ints("value_ints")? {
        Tensor::from_vec(&[v.len()], v.to_vec())?
    } else {
        return Err(Error::invalid(
            "Constant needs one of value, value_float(s) or value_int(s) (sparse and string values are not supported)",
        ));
    };
    Ok(Box::new(FnOp(move |_: &[Option<&Tensor>]| Ok(vec![value.clone()]))))
}

fn constant_of_shape(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let value = match ctx.attrs().tensor("value")? {
        Some(t) if t.len() == 1 => t.clone(),
        Some(t) => return Err(Error::invalid(format!("ConstantOfShape's value must hold one element, got {t}"))),
        None => Tensor::scalar(0f32),
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let spec = ints(required(inputs, 0, "input")?, "shape")?;
        let shape = spec
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<std::result::Result<Vec<usize>, _>>()
            .map_err(|_| Error::invalid(format!("shape {spec:?} has a negative dimension")))?;
        check_alloc(&shape, value.dtype())?;
        // The fill is copied as lanes of its width: one loop per width, not per type.
        let lanes = crate::map_lanes!(value.lanes(), a => {
            let v = a.iter().next().copied().unwrap_or_default();
            ArrayD::from_elem(IxDyn(&shape), v)
        });
        Ok(vec![Tensor::from_lanes(value.dtype(), lanes)?])
    })))
}

/// One element of a Range input, which must be a scalar (or a one-element tensor).
fn range_scalar<T: Numeric>(t: &Tensor, what: &str) -> Result<T> {
    let a = t.array::<T>().map_err(|_| Error::dtype(format!("Range inputs must share one type; {what} is {t}")))?;
    match (a.len(), a.iter().next()) {
        (1, Some(&v)) => Ok(v),
        _ => Err(Error::shape(format!("Range's {what} must be a scalar, got shape {:?}", a.shape()))),
    }
}

/// `start + i * delta` for `i` in `0..max(ceil((limit - start) / delta), 0)`.
fn range_typed<T: Numeric>(inputs: &[Option<&Tensor>]) -> Result<Tensor> {
    let start: T = range_scalar(required(inputs, 0, "start")?, "start")?;
    let limit: T = range_scalar(required(inputs, 1, "limit")?, "limit")?;
    let delta: T = range_scalar(required(inputs, 2, "delta")?, "delta")?;
    let (s, l, d) = (start.to_f64(), limit.to_f64(), delta.to_f64());
    if d == 0.0 || !(s.is_finite() && l.is_finite() && d.is_finite()) {
        return Err(Error::invalid(format!("Range({s}, {l}, {d}) needs finite values and a non-zero delta")));
    }
    let count = if T::IS_FLOAT {
        ((l - s) / d).ceil().max(0.0)
    } else {
        // Exact integer ceil((limit - start) / delta).
        let (a, b) = (limit.to_i128() - start.to_i128(), delta.to_i128());
        let q = a / b + i128::from(a % b != 0 && (a % b > 0) == (b > 0));
        q.max(0) as f64
    };
    if count > (usize::MAX / 2) as f64 {
        return Err(Error::too_large(format!("Range({s}, {l}, {d}) has {count} elements")));
    }
    let n = count as usize;
    check_alloc(&[n], T::DTYPE)?;
    let values: Vec<T> = if T::IS_FLOAT {
        (0..n).map(|i| T::from_f64(s + i as f64 * d)).collect()
    } else {
        // Exact integer steps (f64 would round 64-bit values).
        let mut v = Vec::with_capacity(n);
        let mut cur = start;
        for _ in 0..n {
            v.push(cur);
            cur = cur.add(delta);
        }
        v
    };
    Tensor::from_vec(&[n], values)
}

fn range(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let start = required(inputs, 0, "start")?;
        let out = match start.dtype() {
            DType::F32 => range_typed::<f32>(inputs)?,
            DType::F64 => range_typed::<f64>(inputs)?,
            DType::F16 => range_typed::<f16>(inputs)?,
            DType::I16 => range_typed::<i16>(inputs)?,
            DType::I32 => range_typed::<i32>(inputs)?,
            DType::I64 => range_typed::<i64>(inputs)?,
            other => return Err(Error::dtype(format!("Range does not accept {other} inputs"))),
        };
        Ok(vec![out])
    })))
}

#[cfg(test)]
mod tests {
    use super::super::shape::testing::*;
    use crate::graph::Attr;
    use crate::tensor::Tensor;

    #[test]
    fn constant_of_shape_defaults_and_limits() {
        let out = run("ConstantOfShape", 9, vec![], vec![Some(i64s(&[2, 3]))], 1).unwrap();
        assert_eq!(out[0], Tensor::from_vec(&[2, 3], vec![0f32; 6]).unwrap());
        let v = Tensor::from_vec(&[1], vec![7i64]).unwrap();
        let out =
            run("ConstantOfShape", 9, vec![("value", Attr::Tensor(v.clone()))], vec![Some(i64s(&[]))], 1).unwrap();
        assert_eq!(out[0], Tensor::scalar(7i64));
        let err = run("ConstantOfShape", 9, vec![], vec![Some(i64s(&[1 << 20, 1 << 20]))], 1).unwrap_err();
        assert_eq!(err.code(), "TOO_LARGE");
        assert!(run("ConstantOfShape", 9, vec![], vec![Some(i64s(&[-1]))], 1).is_err());
    }

    #[test]
    fn range_types_and_limits() {
        let s = |v: i64| Some(Tensor::scalar(v));
        let out = run("Range", 11, vec![], vec![s(i64::MAX - 2), s(i64::MAX), s(1)], 1).unwrap();
        assert_eq!(out[0].to_i64_vec().unwrap(), vec![i64::MAX - 2, i64::MAX - 1]);
        let f = |v: f32| Some(Tensor::scalar(v));
        let out = run("Range", 11, vec![], vec![f(0.0), f(1.0), f(0.25)], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![0.0, 0.25, 0.5, 0.75]);
        let out = run("Range", 11, vec![], vec![f(1.0), f(0.0), f(0.25)], 1).unwrap();
        assert_eq!(out[0].shape(), &[0]);
        assert!(run("Range", 11, vec![], vec![f(0.0), f(1.0), f(0.0)], 1).is_err());
        assert_eq!(run("Range", 11, vec![], vec![f(0.0), f(1e30), f(1.0)], 1).unwrap_err().code(), "TOO_LARGE");
        assert!(run("Range", 11, vec![], vec![f(0.0), s(3), f(1.0)], 1).is_err());
    }
}
