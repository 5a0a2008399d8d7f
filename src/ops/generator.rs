//! Ops that make tensors from attributes or shapes: Constant, ConstantOfShape, Range.
use super::registry::{BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.register("", "Constant", constant);
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
