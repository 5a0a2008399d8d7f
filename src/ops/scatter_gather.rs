//! Indexed reads and writes: GatherElements, GatherND, ScatterElements (and its opset-9 name
//! Scatter), ScatterND, OneHot.
//!
//! Indices may be negative (counted from the end of their axis) and are checked against the data
//! shape: an index out of range is an error naming it. The element copies go through [`take`] /
//! [`put`] (by width, whatever the type); the scatter reductions (`add`, `mul`, `max`, `min`)
//! compute in the wide type of elementwise.rs (float32, float64, int64, uint64) and convert back,
//! exact for every type.
use super::cast::cast;
use super::elementwise::{numeric, to_wide, Num};
use super::registry::{normalize_axis, required, BuildContext, FnOp, Op, Registry};
use super::shape::{check_alloc, dims_product, ints};
use super::take::{for_each_index, put, strides, take};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use ndarray::ArrayD;

pub fn register(r: &mut Registry) {
    r.register("", "GatherElements", gather_elements).moves_8bit();
    r.register("", "GatherND", gather_nd).data_movement();
    r.register("", "ScatterElements", scatter_elements);
    r.register("", "Scatter", scatter_elements);
    r.register("", "ScatterND", scatter_nd);
    r.register("", "OneHot", one_hot);
}

/// An index into an axis of size `dim`, negative ones counted from the end.
fn resolve(i: i64, dim: usize, what: &str) -> Result<usize> {
    let d = dim as i64;
    let j = if i < 0 { i + d } else { i };
    if j < 0 || j >= d {
        return Err(Error::invalid(format!("{what} index {i} is out of range for an axis of size {dim}")));
    }
    Ok(j as usize)
}

/// For each element of `indices` (same rank as `data`), the row-major position in `data` that
/// it names along `axis` (GatherElements reads there, ScatterElements writes there).
fn element_positions(data: &[usize], indices: &Tensor, axis: i64) -> Result<Vec<usize>> {
    let is = indices.shape();
    if is.len() != data.len() {
        return Err(Error::shape(format!("indices {is:?} must have the rank of the data {data:?}")));
    }
    let ax = normalize_axis(axis, data.len())?;
    for (d, (&i, &s)) in is.iter().zip(data).enumerate() {
        if d != ax && i > s {
            return Err(Error::shape(format!("indices {is:?} exceed the data {data:?} on axis {d}")));
        }
    }
    let iv = ints(indices, "indices")?;
    let st = strides(data);
    let mut pos = Vec::with_capacity(iv.len());
    for_each_index(is, |k, c| {
        let mut p = 0;
        for (d, (&c, &s)) in c.iter().zip(&st).enumerate() {
            p += if d == ax { resolve(iv[k], data[ax], "indices")? } else { c } * s;
        }
        pos.push(p);
        Ok(())
    })?;
    Ok(pos)
}

fn gather_elements(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", 0)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let pos = element_positions(x.shape(), indices, axis)?;
        Ok(vec![take(x, &pos, indices.shape())?])
    })))
}

/// How scattered updates combine with the data.
#[derive(Clone, Copy)]
enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

fn reduction(ctx: &BuildContext) -> Result<Reduction> {
    Ok(match ctx.attrs().string_or("reduction", "none")? {
        "none" => Reduction::None,
        "add" => Reduction::Add,
        "mul" => Reduction::Mul,
        "max" => Reduction::Max,
        "min" => Reduction::Min,
        r => return Err(Error::invalid(format!("reduction must be none, add, mul, max or min, got '{r}'"))),
    })
}

/// `data` with `updates[k]` written to (or combined into) position `dst[k]`.
fn scatter(data: &Tensor, dst: &[usize], updates: &Tensor, red: Reduction) -> Result<Tensor> {
    if let Reduction::None = red {
        return put(data, dst, updates);
    }
    if updates.dtype() != data.dtype() {
        return Err(Error::dtype(format!("updates must have the data's type {}, got {}", data.dtype(), updates.dtype())));
    }
    fn go<T: Num>(a: &ArrayD<T>, dst: &[usize], u: &Tensor, red: Reduction) -> Result<Tensor> {
        let mut out: Vec<T> = a.iter().copied().collect();
        for (&d, &v) in dst.iter().zip(u.array::<T>()?.iter()) {
            let o = out.get_mut(d).ok_or_else(|| Error::invalid(format!("index out of range for data of shape {:?}", a.shape())))?;
            *o = match red {
                Reduction::Add => o.plus(v),
                Reduction::Mul => o.times(v),
                Reduction::Max => o.max_nan(v),
                Reduction::Min => o.min_nan(v),
                Reduction::None => v,
            };
        }
        Tensor::from_vec(a.shape(), out)
    }
    let widen = |t: &Tensor| -> Result<Tensor> { Ok(to_wide(t)?.unwrap_or_else(|| t.clone())) };
    let (d, u) = (widen(data)?, widen(updates)?);
    let d = &d;
    let y = numeric!(wide d, a => go(a, dst, &u, red)?,
        o => return Err(Error::dtype(format!("reduction needs a numeric tensor, got {}", o.dtype()))));
    cast(&y, data.dtype())
}

fn scatter_elements(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", 0)?;
    let red = reduction(ctx)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let updates = required(inputs, 2, "updates")?;
        if updates.shape() != indices.shape() {
            return Err(Error::shape(format!("updates {:?} must have the shape of indices {:?}", updates.shape(), indices.shape())));
        }
        let pos = element_positions(x.shape(), indices, axis)?;
        Ok(vec![scatter(x, &pos, updates, red)?])
    })))
}

/// The row-major offsets in `data` of the slices that the index tuples of `indices` (last dim
/// `k`) name, after `batch` leading batch dims; returns them with the slice size.
fn nd_offsets(data: &[usize], indices: &Tensor, batch: usize) -> Result<(Vec<usize>, usize)> {
    let is = indices.shape();
    let Some(&k) = is.last() else {
        return Err(Error::shape("indices must have rank >= 1"));
    };
    if batch >= is.len() || batch + k > data.len() || data[..batch] != is[..batch] {
        return Err(Error::shape(format!(
            "indices {is:?} (last dim {k}, {batch} batch dims) do not fit data {data:?}"
        )));
    }
    let st = strides(data);
    let per_batch = dims_product(&data[batch..])?;
    let slice = dims_product(&data[batch + k..])?;
    let iv = ints(indices, "indices")?;
    let tuples_per_batch = dims_product(&is[batch..is.len() - 1])?;
    let n_tuples = dims_product(&is[..is.len() - 1])?;
    let mut offs = Vec::with_capacity(n_tuples);
    for t in 0..n_tuples {
        let mut o = t / tuples_per_batch * per_batch;
        for j in 0..k {
            o += resolve(iv[t * k + j], data[batch + j], "indices")? * st[batch + j];
        }
        offs.push(o);
    }
    Ok((offs, slice))
}

fn gather_nd(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let batch = usize::try_from(ctx.attrs().int_or("batch_dims", 0)?).map_err(|_| Error::invalid("batch_dims must not be negative"))?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let (offs, slice) = nd_offsets(x.shape(), indices, batch)?;
        let is = indices.shape();
        let k = is[is.len() - 1];
        let mut out: Vec<usize> = is[..is.len() - 1].to_vec();
        out.extend_from_slice(&x.shape()[batch + k..]);
        check_alloc(&out, x.dtype())?;
        let idx: Vec<usize> = offs.iter().flat_map(|&o| o..o + slice).collect();
        Ok(vec![take(x, &idx, &out)?])
    })))
}

fn scatter_nd(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let red = reduction(ctx)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        let updates = required(inputs, 2, "updates")?;
        let (offs, slice) = nd_offsets(x.shape(), indices, 0)?;
        let is = indices.shape();
        let mut want: Vec<usize> = is[..is.len() - 1].to_vec();
        want.extend_from_slice(&x.shape()[is[is.len() - 1]..]);
        if updates.shape() != want {
            return Err(Error::shape(format!("updates {:?} must have shape {want:?}", updates.shape())));
        }
        let dst: Vec<usize> = offs.iter().flat_map(|&o| o..o + slice).collect();
        Ok(vec![scatter(x, &dst, updates, red)?])
    })))
}

fn one_hot(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", -1)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let indices = required(inputs, 0, "indices")?;
        let depth = required(inputs, 1, "depth")?;
        let values = required(inputs, 2, "values")?;
        let as_ints = |t: &Tensor, what: &str| -> Result<Vec<i64>> {
            if t.dtype() == DType::Bool {
                return Err(Error::dtype(format!("{what} must be numeric, got {t}")));
            }
            cast(t, DType::I64)?.to_i64_vec()
        };
        let depth = match as_ints(depth, "depth")?.as_slice() {
            [d] if *d > 0 => *d,
            d => return Err(Error::invalid(format!("depth must be one positive value, got {d:?}"))),
        };
        if values.len() != 2 {
            return Err(Error::shape(format!("values must hold [off, on], got shape {:?}", values.shape())));
        }
        let iv = as_ints(indices, "indices")?;
        let r = indices.rank() as i64;
        let ax = if axis < 0 { axis + r + 1 } else { axis };
        if ax < 0 || ax > r {
            return Err(Error::invalid(format!("axis {axis} is out of range for rank {}", r + 1)));
        }
        let ax = ax as usize;
        let mut out = indices.shape().to_vec();
        out.insert(ax, usize::try_from(depth).map_err(|_| Error::too_large("depth too large"))?);
        let inner = dims_product(&out[ax + 1..])?;
        let d = out[ax];
        let mut idx = Vec::with_capacity(check_alloc(&out, values.dtype())?);
        for_each_index(&out, |_, c| {
            let outer = c[..ax].iter().zip(&out[..ax]).fold(0, |a, (&c, &s)| a * s + c);
            let rest = c[ax + 1..].iter().zip(&out[ax + 1..]).fold(0, |a, (&c, &s)| a * s + c);
            let v = iv[outer * inner + rest];
            let v = if v < 0 { v + depth } else { v };
            idx.push(usize::from(v == c[ax] as i64 && (c[ax] < d)));
            Ok(())
        })?;
        Ok(vec![take(values, &idx, &out)?])
    })))
}

#[cfg(test)]
mod tests {
    use crate::graph::Attr;
    use crate::ops::shape::testing::run;
    use crate::tensor::Tensor;

    #[test]
    fn out_of_range_indices_are_errors_and_reductions_stay_exact() {
        let x = Tensor::from_vec(&[2, 2], vec![1i8, 2, 3, 4]).unwrap();
        let bad = Tensor::from_vec(&[1, 1], vec![2i64]).unwrap();
        let e = run("GatherElements", 13, vec![], vec![Some(x.clone()), Some(bad.clone())], 1).unwrap_err();
        assert!(e.to_string().contains("index 2 is out of range"), "{e}");
        let nd = Tensor::from_vec(&[1, 2], vec![0i64, 5]).unwrap();
        assert!(run("GatherND", 13, vec![], vec![Some(x.clone()), Some(nd)], 1).is_err());
        // int8 add wraps, as numpy does.
        let i = Tensor::from_vec(&[1, 1], vec![0i64]).unwrap();
        let u = Tensor::from_vec(&[1, 1], vec![127i8]).unwrap();
        let y = run("ScatterElements", 18, vec![("reduction", Attr::String("add".into()))], vec![Some(x.clone()), Some(i), Some(u)], 1).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[2, 2], vec![-128i8, 2, 3, 4]).unwrap());
        let e = run("ScatterND", 18, vec![("reduction", Attr::String("avg".into()))], vec![Some(x), Some(bad.clone()), Some(bad)], 1).unwrap_err();
        assert!(e.to_string().contains("reduction"), "{e}");
    }
}
