//! Shape and data-movement ops: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Slice,
//! Split, Gather, Shape, Size, Expand.
//!
//! Every op here moves elements without looking at them, so each is written once over a lane
//! type ([`crate::tensor::width`]: the elements seen as 1-, 2-, 4- or 8-byte unsigned integers)
//! and compiled four times, not once per element type. Shape-like inputs (Reshape's shape, Slice's starts, ...) are read
//! at run time from the input tensors, whatever opset made them inputs; before that opset they are
//! attributes read once when the node is built. Results are always owned arrays in standard
//! (row-major) layout, so later ops may rely on contiguous data.
//!
//! Reshape, Flatten, Squeeze and Unsqueeze are [`Relabel`] ops: they compute the new shape and
//! keep the data. The runtime hands such an op its input by value when no later step reads it
//! ([`Op::run_moved`]), and the output then keeps the input's buffer (`Tensor::into_shape`);
//! otherwise (an initializer, or a value read again later) it is copied once. Making the
//! variants of `Tensor` hold shared arrays (`ArcArray`) would have shared the buffer in every
//! case, but would have changed the type that the ~140 other ops build and match on; passing
//! ownership through the runtime changes one trait (two default methods) and the plan loop.
//!
//! Also holds the small helpers that pad, reduce, resize and generator share ([`ints`],
//! [`optional_ints`], [`normalize_axes`], [`dims_product`], [`check_alloc`]) and, for tests,
//! `testing::run`, which builds and runs one node.
use super::broadcast_shapes;
use super::registry::{normalize_axis, optional, required, BuildContext, FnOp, Int8Inputs, Op, QuantRule, Registry};
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, DType, Lane, LanesView, Tensor};
use crate::{map_lanes, with_lanes};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

pub fn register(r: &mut Registry) {
    r.register("", "Reshape", reshape).moves_8bit();
    r.register("", "Flatten", flatten).moves_8bit();
    r.register("", "Transpose", transpose).moves_8bit();
    r.register("", "Squeeze", squeeze).moves_8bit();
    r.register("", "Unsqueeze", unsqueeze).moves_8bit();
    r.register("", "Concat", concat).data_movement().int8(Int8Inputs::All).quant(QuantRule::Concat);
    r.register("", "Slice", slice).moves_8bit();
    r.register("", "Split", split).moves_8bit();
    r.register("", "Gather", gather).moves_8bit().quant(QuantRule::Gather);
    r.register("", "Shape", shape);
    r.register("", "Size", size);
    r.register("", "Expand", expand).moves_8bit();
}

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// The values of an integer tensor (shape, axes, pads, indices); `what` names it in errors.
pub(super) fn ints(t: &Tensor, what: &str) -> Result<Vec<i64>> {
    t.to_i64_vec().map_err(|_| Error::dtype(format!("{what} must be an integer tensor, got {t}")))
}

/// An optional integer input, treating an empty tensor like an omitted one.
pub(super) fn optional_ints(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<Option<Vec<i64>>> {
    match optional(inputs, i) {
        Some(t) if !t.is_empty() => ints(t, what).map(Some),
        _ => Ok(None),
    }
}

/// An owned copy of a view in standard (row-major, contiguous) layout.
pub(super) fn to_std<T: Clone>(v: ArrayViewD<'_, T>) -> ArrayD<T> {
    v.as_standard_layout().into_owned()
}

/// A view in standard layout: itself if it is already, else an owned copy.
pub(super) fn standard<T: Clone>(v: ArrayViewD<'_, T>) -> ndarray::CowArray<'_, T, IxDyn> {
    if v.is_standard_layout() {
        v.into()
    } else {
        v.as_standard_layout().into_owned().into()
    }
}

/// The product of some dims, or a too-large error if it overflows.
pub(super) fn dims_product(dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::too_large(format!("shape {dims:?} overflows")))
}

/// An op that only gives input 0 a new shape (Reshape, Flatten, Squeeze, Unsqueeze,
/// Identity): `F` computes that shape from the input's shape and the other inputs (it must not
/// read `inputs[0]`, which is `None` when the runtime moved the input in). Given the input by
/// value, the output keeps its buffer; borrowed, the data is copied once.
pub(super) struct Relabel<F>(pub F);

impl<F> Op for Relabel<F>
where
    F: Fn(&[usize], &[Option<&Tensor>]) -> Result<Vec<usize>> + Send + Sync,
{
    fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let x = required(inputs, 0, "data")?;
        let shape = (self.0)(x.shape(), inputs)?;
        Ok(vec![x.reshaped(&shape)?])
    }
    fn moves_input(&self) -> bool {
        true
    }
    fn run_moved(&self, x: Tensor, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        let shape = (self.0)(x.shape(), inputs)?;
        Ok(vec![x.into_shape(&shape)?])
    }
}

/// [`checked_numel`], plus ndarray's own limit (the product of the non-zero dims must fit an
/// isize, which ndarray enforces by panicking): call before building an array of `shape`.
pub(super) fn check_alloc(shape: &[usize], dtype: DType) -> Result<usize> {
    // `checked_numel` also bounds the non-zero dims' product, as ndarray requires.
    checked_numel(shape, dtype)
}

/// Turns a dim read from a tensor into a size, rejecting negative values.
fn to_dim(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::invalid(format!("{what} has a negative dimension {v}")))
}

/// Resolves a list of possibly negative axes against a rank, rejecting repeats.
pub(super) fn normalize_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>> {
    let mut seen = vec![false; rank];
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(a, rank)?;
        if std::mem::replace(&mut seen[n], true) {
            return Err(Error::invalid(format!("{what} {axes:?} name axis {a} twice")));
        }
        out.push(n);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze: same data, new shape
// ---------------------------------------------------------------------------------------------

/// Reshape's target shape: `0` copies the input dim (unless `allowzero`), one `-1` is inferred.
fn reshape_target(input: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total = dims_product(input)?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 => {
                if infer.replace(i).is_some() {
                    return Err(Error::invalid(format!("shape {spec:?} has more than one -1")));
                }
                out.push(1);
            }
            0 if !allowzero => match input.get(i) {
                Some(&d) => out.push(d),
                None => {
                    return Err(Error::shape(format!(
                        "shape {spec:?} copies dim {i} (a 0) but the input {input:?} has rank {}",
                        input.len()
                    )))
                }
            },
            s if s < 0 => return Err(Error::invalid(format!("shape {spec:?} has an invalid dim {s}"))),
            s => out.push(to_dim(s, "shape")?),
        }
    }
    if let Some(i) = infer {
        if allowzero && spec.contains(&0) {
            return Err(Error::invalid(format!("shape {spec:?} has both 0 and -1 while allowzero=1")));
        }
        let known = dims_product(&out)?;
        if known == 0 || total % known != 0 {
            return Err(Error::shape(format!(
                "cannot reshape {input:?} ({total} elements) to {spec:?}: the -1 cannot be inferred"
            )));
        }
        out[i] = total / known;
    }
    if dims_product(&out)? != total {
        return Err(Error::shape(format!(
            "cannot reshape {input:?} ({total} elements) to {spec:?} ({} elements)",
            dims_product(&out)?
        )));
    }
    Ok(out)
}

fn reshape(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let allowzero = ctx.attrs().int_or("allowzero", 0)? != 0;
    // Reshape-1 took the shape as an attribute; from opset 5 it is input 1.
    let shape_attr = if ctx.opset < 5 { ctx.attrs().ints("shape")?.map(<[i64]>::to_vec) } else { None };
    Ok(Box::new(Relabel(move |x: &[usize], inputs: &[Option<&Tensor>]| {
        let spec = match &shape_attr {
            Some(s) => s.clone(),
            None => ints(required(inputs, 1, "shape")?, "shape")?,
        };
        reshape_target(x, &spec, allowzero)
    })))
}

fn flatten(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", 1)?;
    Ok(Box::new(Relabel(move |x: &[usize], _: &[Option<&Tensor>]| {
        let r = x.len() as i64;
        let ax = if axis < 0 { axis + r } else { axis };
        if !(0..=r).contains(&ax) {
            return Err(Error::invalid(format!("axis {axis} is out of range for an input of shape {x:?}")));
        }
        let (outer, inner) = x.split_at(ax as usize);
        Ok(vec![dims_product(outer)?, dims_product(inner)?])
    })))
}

fn squeeze(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    let attr_axes = if opset < 13 { ctx.attrs().ints("axes")?.map(<[i64]>::to_vec) } else { None };
    Ok(Box::new(Relabel(move |shape: &[usize], inputs: &[Option<&Tensor>]| {
        let axes = if opset < 13 { attr_axes.clone() } else { optional_ints(inputs, 1, "axes")? };
        let axes = axes.filter(|a| !a.is_empty());
        let mut drop = vec![false; shape.len()];
        match axes {
            None => drop.iter_mut().zip(shape).for_each(|(d, &s)| *d = s == 1),
            Some(axes) => {
                for (a, n) in axes.iter().zip(normalize_axes(&axes, shape.len(), "axes")?) {
                    if shape[n] != 1 {
                        return Err(Error::shape(format!(
                            "cannot squeeze axis {a} of shape {shape:?}: its size is {}, not 1",
                            shape[n]
                        )));
                    }
                    drop[n] = true;
                }
            }
        }
        Ok(shape.iter().zip(&drop).filter(|(_, &d)| !d).map(|(&s, _)| s).collect())
    })))
}

fn unsqueeze(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    let attr_axes = if opset < 13 {
        Some(
            ctx.attrs()
                .ints("axes")?
                .map(<[i64]>::to_vec)
                .ok_or_else(|| Error::invalid("Unsqueeze needs the 'axes' attribute before opset 13"))?,
        )
    } else {
        None
    };
    Ok(Box::new(Relabel(move |x: &[usize], inputs: &[Option<&Tensor>]| {
        let axes = match &attr_axes {
            Some(a) => a.clone(),
            None => ints(required(inputs, 1, "axes")?, "axes")?,
        };
        let rank = x.len() + axes.len();
        let mut ones = vec![false; rank];
        for n in normalize_axes(&axes, rank, "axes")? {
            ones[n] = true;
        }
        let mut dims = x.iter();
        Ok(ones.iter().map(|&one| if one { 1 } else { dims.next().copied().unwrap_or(1) }).collect())
    })))
}

// ---------------------------------------------------------------------------------------------
// Transpose, Expand
// ---------------------------------------------------------------------------------------------

fn transpose(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let perm_attr = ctx.attrs().ints("perm")?.map(<[i64]>::to_vec);
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let r = x.rank();
        let perm: Vec<usize> = match &perm_attr {
            None => (0..r).rev().collect(),
            Some(p) => {
                let mut seen = vec![false; r];
                let ok = p.len() == r
                    && p.iter().all(|&v| {
                        usize::try_from(v)
                            .ok()
                            .filter(|&v| v < r)
                            .is_some_and(|v| !std::mem::replace(&mut seen[v], true))
                    });
                if !ok {
                    return Err(Error::invalid(format!(
                        "perm {p:?} is not a permutation of the axes of an input of shape {:?}",
                        x.shape()
                    )));
                }
                p.iter().map(|&v| v as usize).collect()
            }
        };
        Ok(vec![transpose_by_width(x, &perm)?])
    })))
}

/// Transpose as data movement: the element bits move through the kernel of their width
/// ([`crate::kernels::permute`]), one loop per width for every element type.
fn transpose_by_width(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    use crate::kernels::permute::{permute_x16, permute_x32, permute_x64, permute_x8};
    type Kernel<W> = fn(&[W], &[usize], &[usize], &mut [W]);
    fn go<W: Lane>(a: ArrayViewD<'_, W>, perm: &[usize], kernel: Kernel<W>) -> Result<ArrayD<W>> {
        let a = a.as_standard_layout();
        let src = super::elementwise::contiguous(&a)?;
        let mut out = vec![W::default(); src.len()];
        kernel(src, a.shape(), perm, &mut out);
        let shape: Vec<usize> = perm.iter().map(|&p| a.shape()[p]).collect();
        ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::shape(format!("Transpose output {shape:?}: {e}")))
    }
    let out = match x.lanes() {
        LanesView::B1(a) => go(a, perm, permute_x8)?.into(),
        LanesView::B2(a) => go(a, perm, permute_x16)?.into(),
        LanesView::B4(a) => go(a, perm, permute_x32)?.into(),
        LanesView::B8(a) => go(a, perm, permute_x64)?.into(),
    };
    Tensor::from_lanes(x.dtype(), out)
}

fn expand(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let spec = ints(required(inputs, 1, "shape")?, "shape")?;
        let spec: Vec<usize> = spec.iter().map(|&d| to_dim(d, "shape")).collect::<Result<_>>()?;
        let out = broadcast_shapes(&[x.shape(), &spec])
            .map_err(|_| Error::shape(format!("input of shape {:?} cannot be expanded to {spec:?}", x.shape())))?;
        check_alloc(&out, x.dtype())?;
        let lanes = map_lanes!(x.lanes(), a => {
            let v = a.broadcast(IxDyn(&out)).ok_or_else(|| {
                Error::shape(format!("input of shape {:?} cannot be expanded to {out:?}", a.shape()))
            })?;
            to_std(v)
        });
        Ok(vec![Tensor::from_lanes(x.dtype(), lanes)?])
    })))
}

// ---------------------------------------------------------------------------------------------
// Concat, Split
// ---------------------------------------------------------------------------------------------

fn concat(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int("axis")?.ok_or_else(|| Error::invalid("Concat needs the 'axis' attribute"))?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let xs: Vec<&Tensor> = inputs.iter().flatten().copied().collect();
        let first = *xs.first().ok_or_else(|| Error::invalid("Concat needs at least one input"))?;
        let ax = normalize_axis(axis, first.rank())?;
        let mut total = 0usize;
        for t in &xs {
            if t.dtype() != first.dtype() {
                return Err(Error::dtype(format!("Concat inputs have different types: {first} and {t}")));
            }
            let same = t.rank() == first.rank()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == ax || a == b);
            if !same {
                let shapes: Vec<_> = xs.iter().map(|t| t.shape().to_vec()).collect();
                return Err(Error::shape(format!("Concat inputs of shapes {shapes:?} differ outside axis {axis}")));
            }
            total = total.checked_add(t.shape()[ax]).ok_or_else(|| Error::too_large("Concat output overflows"))?;
        }
        let mut out_shape = first.shape().to_vec();
        out_shape[ax] = total;
        check_alloc(&out_shape, first.dtype())?;
        let lanes = with_lanes!(first.lanes(), a => concat_lanes(a, &xs, ax)?.into());
        Ok(vec![Tensor::from_lanes(first.dtype(), lanes)?])
    })))
}

/// The inputs (shapes checked by the caller) copied block by block: for each index of the axes
/// before `axis`, each input's contiguous block of `shape[axis] * inner` elements in turn. A
/// memcpy loop per element width, where `ndarray::concatenate` compiled to 15 KB per type.
fn concat_lanes<W: Lane>(first: ArrayViewD<'_, W>, xs: &[&Tensor], axis: usize) -> Result<ArrayD<W>> {
    let arrays = xs
        .iter()
        .map(|t| W::view_of(t).map(standard).ok_or_else(|| Error::dtype(format!("Concat input {t} differs in type"))))
        .collect::<Result<Vec<_>>>()?;
    let outer: usize = first.shape()[..axis].iter().product();
    let inner: usize = first.shape()[axis + 1..].iter().product();
    let mut shape = first.shape().to_vec();
    shape[axis] = arrays.iter().map(|a| a.shape()[axis]).sum();
    let mut out: Vec<W> = Vec::with_capacity(shape.iter().product());
    let bad = || Error::shape(format!("Concat along axis {axis}: inputs do not match"));
    for o in 0..outer {
        for a in &arrays {
            let block = a.shape()[axis] * inner;
            let src = a.as_slice().ok_or_else(bad)?;
            out.extend_from_slice(src.get(o * block..(o + 1) * block).ok_or_else(bad)?);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| Error::shape(format!("Concat along axis {axis}: {e}")))
}

fn split(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    let axis = ctx.attrs().int_or("axis", 0)?;
    let n_out = ctx.node.outputs.len();
    let split_attr = if opset < 13 { ctx.attrs().ints("split")?.map(<[i64]>::to_vec) } else { None };
    let num_outputs = if opset >= 18 { ctx.attrs().int("num_outputs")? } else { None };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let ax = normalize_axis(axis, x.rank())?;
        let dim = x.shape()[ax];
        let given = if opset < 13 { split_attr.clone() } else { optional_ints(inputs, 1, "split")? };
        let sizes: Vec<usize> = match given {
            Some(s) => {
                if num_outputs.is_some() {
                    return Err(Error::invalid("Split takes either 'split' or 'num_outputs', not both"));
                }
                let sizes: Vec<usize> = s.iter().map(|&v| to_dim(v, "split")).collect::<Result<_>>()?;
                if sizes.iter().sum::<usize>() != dim || sizes.len() != n_out {
                    return Err(Error::shape(format!(
                        "split {s:?} does not cut axis {axis} of shape {:?} into {n_out} outputs",
                        x.shape()
                    )));
                }
                sizes
            }
            None => {
                let n = num_outputs.map_or(Ok(n_out), |v| to_dim(v, "num_outputs"))?;
                if n == 0 || n != n_out {
                    return Err(Error::invalid(format!(
                        "Split into {n} parts needs as many outputs, the node has {n_out}"
                    )));
                }
                let chunk = dim.div_ceil(n);
                let last = dim.checked_sub(chunk * (n - 1)).ok_or_else(|| {
                    Error::shape(format!("axis {axis} of shape {:?} cannot be split into {n} parts", x.shape()))
                })?;
                let mut sizes = vec![chunk; n - 1];
                sizes.push(last);
                sizes
            }
        };
        let mut outs = Vec::with_capacity(sizes.len());
        let mut pos = 0usize;
        for s in sizes {
            let range = Slice::from(pos..pos + s);
            outs.push(Tensor::from_lanes(x.dtype(), map_lanes!(x.lanes(), a => to_std(a.slice_axis(Axis(ax), range))))?);
            pos += s;
        }
        Ok(outs)
    })))
}

// ---------------------------------------------------------------------------------------------
// Slice
// ---------------------------------------------------------------------------------------------

/// Per-axis ndarray slices for ONNX Slice (numpy clamping, negative steps, INT64 sentinels).
fn slice_spec(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Vec<Slice>> {
    let n = starts.len();
    if ends.len() != n || axes.is_some_and(|a| a.len() != n) || steps.is_some_and(|s| s.len() != n) {
        return Err(Error::invalid(format!(
            "starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} must have the same length"
        )));
    }
    let axes = match axes {
        Some(a) => normalize_axes(a, shape.len(), "axes")?,
        None if n <= shape.len() => (0..n).collect(),
        None => {
            return Err(Error::invalid(format!("{n} starts for an input of shape {shape:?}")));
        }
    };
    let mut spec: Vec<Slice> = shape.iter().map(|&d| Slice::from(0..d)).collect();
    for (i, &ax) in axes.iter().enumerate() {
        let d = shape[ax] as i64;
        let step = steps.map_or(1, |s| s[i]);
        let (start, end) = (starts[i], ends[i]);
        let resolve = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        spec[ax] = if step > 0 {
            let s = resolve(start).clamp(0, d);
            let e = resolve(end).clamp(0, d).max(s);
            Slice::new(s as isize, Some(e as isize), step.min(d.max(1)) as isize)
        } else if step < 0 {
            let s = resolve(start).clamp(0, (d - 1).max(0));
            let e = resolve(end).clamp(-1, d - 1);
            if d == 0 || s <= e {
                Slice::new(0, Some(0), 1)
            } else {
                Slice::new((e + 1) as isize, Some((s + 1) as isize), step.max(-d) as isize)
            }
        } else {
            return Err(Error::invalid(format!("steps {steps:?} contain 0")));
        };
    }
    Ok(spec)
}

fn slice(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.opset;
    // Slice-1: starts, ends, axes are attributes; from opset 10 they (and steps) are inputs.
    let attrs = if opset < 10 {
        let a = ctx.attrs();
        let need = |name: &str| {
            a.ints(name)?
                .map(<[i64]>::to_vec)
                .ok_or_else(|| Error::invalid(format!("Slice needs the '{name}' attribute before opset 10")))
        };
        Some((need("starts")?, need("ends")?, a.ints("axes")?.map(<[i64]>::to_vec)))
    } else {
        None
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let (starts, ends, axes, steps) = match &attrs {
            Some((s, e, a)) => (s.clone(), e.clone(), a.clone(), None),
            None => (
                ints(required(inputs, 1, "starts")?, "starts")?,
                ints(required(inputs, 2, "ends")?, "ends")?,
                optional_ints(inputs, 3, "axes")?,
                optional_ints(inputs, 4, "steps")?,
            ),
        };
        let spec = slice_spec(x.shape(), &starts, &ends, axes.as_deref(), steps.as_deref())?;
        let lanes = map_lanes!(x.lanes(), a => to_std(a.slice_each_axis(|d| spec[d.axis.index()])));
        Ok(vec![Tensor::from_lanes(x.dtype(), lanes)?])
    })))
}

// ---------------------------------------------------------------------------------------------
// Gather
// ---------------------------------------------------------------------------------------------

fn gather(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", 0)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let data = required(inputs, 0, "data")?;
        let indices = required(inputs, 1, "indices")?;
        if !matches!(indices.dtype(), DType::I32 | DType::I64) {
            return Err(Error::dtype(format!("indices must be int32 or int64, got {indices}")));
        }
        let ax = normalize_axis(axis, data.rank())?;
        let d = data.shape()[ax];
        let idx = ints(indices, "indices")?
            .into_iter()
            .map(|i| {
                let j = if i < 0 { i + d as i64 } else { i };
                usize::try_from(j).ok().filter(|&j| j < d).ok_or_else(|| {
                    Error::invalid(format!(
                        "index {i} is out of range for axis {axis} of size {d} (data shape {:?})",
                        data.shape()
                    ))
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        let shape = data.shape();
        let out_shape: Vec<usize> =
            shape[..ax].iter().chain(indices.shape()).chain(&shape[ax + 1..]).copied().collect();
        check_alloc(&out_shape, data.dtype())?;
        let lanes = map_lanes!(data.lanes(), a => gather_lanes(a, ax, &idx, &out_shape)?);
        Ok(vec![Tensor::from_lanes(data.dtype(), lanes)?])
    })))
}

/// Copies the `inner` blocks selected by `idx` along `axis` for every outer position.
fn gather_lanes<W: Lane>(a: ArrayViewD<'_, W>, axis: usize, idx: &[usize], out_shape: &[usize]) -> Result<ArrayD<W>> {
    let shape = a.shape();
    let outer = dims_product(&shape[..axis])?;
    let inner = dims_product(&shape[axis + 1..])?;
    let d = shape[axis];
    let std = a.as_standard_layout();
    let data = std.as_slice().ok_or_else(|| Error::invalid("Gather: data is not contiguous"))?;
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let s = (o * d + i) * inner;
            let block = data.get(s..s + inner).ok_or_else(|| Error::invalid("Gather: index past the data"))?;
            out.extend_from_slice(block);
        }
    }
    ArrayD::from_shape_vec(IxDyn(out_shape), out).map_err(|e| Error::shape(format!("Gather output {out_shape:?}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Shape, Size
// ---------------------------------------------------------------------------------------------

fn shape(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let (start, end) =
        if ctx.opset >= 15 { (ctx.attrs().int_or("start", 0)?, ctx.attrs().int("end")?) } else { (0, None) };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let r = x.rank() as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = clamp(start);
        let e = clamp(end.unwrap_or(r)).max(s);
        let dims: Vec<i64> = x.shape()[s..e].iter().map(|&d| d as i64).collect();
        Ok(vec![Tensor::from_vec(&[dims.len()], dims)?])
    })))
}

fn size(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| Ok(vec![Tensor::scalar(required(inputs, 0, "data")?.len() as i64)]))))
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Builds and runs one node through the standard registry (shared by this crate's op tests).
#[cfg(test)]
pub(super) mod testing {
    use crate::error::Result;
    use crate::graph::{Attr, Graph, Node};
    use crate::ops::{BuildContext, Registry};
    use crate::tensor::Tensor;

    pub fn run(
        op: &str,
        opset: i64,
        attrs: Vec<(&str, Attr)>,
        inputs: Vec<Option<Tensor>>,
        n_outputs: usize,
    ) -> Result<Vec<Tensor>> {
        let mut node = Node {
            name: "n".into(),
            op_type: op.into(),
            domain: String::new(),
            inputs: (0..inputs.len()).map(Some).collect(),
            outputs: (inputs.len()..inputs.len() + n_outputs).map(Some).collect(),
            attrs: Default::default(),
        };
        for (k, v) in attrs {
            node.attrs.set(k, v);
        }
        let graph = Graph::default();
        let built = Registry::standard().build(&BuildContext { node: &node, graph: &graph, opset })?;
        let args: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
        built.run(&args)
    }

    pub fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_vec(shape, v.to_vec()).unwrap()
    }
    pub fn i64s(v: &[i64]) -> Tensor {
        Tensor::from_vec(&[v.len()], v.to_vec()).unwrap()
    }
    pub fn iota(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(shape, (0..n).map(|v| v as f32).collect()).unwrap()
    }
    pub fn vals(t: &Tensor) -> Vec<f32> {
        t.to_f32_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use crate::graph::Attr;
    use crate::tensor::Tensor;

    #[test]
    fn reshape_zero_minus_one_and_errors() {
        let x = iota(&[2, 3, 4]);
        let out = run("Reshape", 14, vec![], vec![Some(x.clone()), Some(i64s(&[0, -1]))], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 12]);
        let err = run("Reshape", 14, vec![], vec![Some(x.clone()), Some(i64s(&[5, -1]))], 1).unwrap_err();
        assert!(err.to_string().contains("[2, 3, 4]"), "{err}");
        let z = iota(&[0, 3]);
        let out = run("Reshape", 14, vec![("allowzero", Attr::Int(1))], vec![Some(z), Some(i64s(&[3, 0]))], 1).unwrap();
        assert_eq!(out[0].shape(), &[3, 0]);
        assert!(run("Reshape", 14, vec![], vec![Some(x), Some(i64s(&[-1, -1]))], 1).is_err());
    }

    #[test]
    fn squeeze_unsqueeze_attribute_forms() {
        let x = iota(&[1, 3, 1]);
        let out = run("Squeeze", 11, vec![("axes", Attr::Ints(vec![-1]))], vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[1, 3]);
        let out = run("Squeeze", 13, vec![], vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[3]);
        assert!(run("Squeeze", 13, vec![], vec![Some(x.clone()), Some(i64s(&[1]))], 1).is_err());
        let out = run("Unsqueeze", 11, vec![("axes", Attr::Ints(vec![0, 4]))], vec![Some(x)], 1).unwrap();
        assert_eq!(out[0].shape(), &[1, 1, 3, 1, 1]);
    }

    #[test]
    fn slice_attribute_form_and_negative_steps() {
        let x = iota(&[3, 4]);
        let attrs = vec![("starts", Attr::Ints(vec![1, 0])), ("ends", Attr::Ints(vec![i64::MAX, 2]))];
        let out = run("Slice", 9, attrs, vec![Some(x.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 2]);
        assert_eq!(vals(&out[0]), vec![4.0, 5.0, 8.0, 9.0]);
        let ins =
            vec![Some(x.clone()), Some(i64s(&[-1])), Some(i64s(&[i64::MIN])), Some(i64s(&[1])), Some(i64s(&[-2]))];
        let out = run("Slice", 13, vec![], ins, 1).unwrap();
        assert_eq!(vals(&out[0]), vec![3.0, 1.0, 7.0, 5.0, 11.0, 9.0]);
        let ins = vec![Some(x), Some(i64s(&[0])), Some(i64s(&[1])), None, Some(i64s(&[0]))];
        assert!(run("Slice", 13, vec![], ins, 1).is_err());
    }

    #[test]
    fn split_attribute_and_uneven() {
        let x = iota(&[5]);
        let out = run("Split", 11, vec![("split", Attr::Ints(vec![2, 3]))], vec![Some(x.clone())], 2).unwrap();
        assert_eq!(vals(&out[1]), vec![2.0, 3.0, 4.0]);
        let out = run("Split", 18, vec![("num_outputs", Attr::Int(3))], vec![Some(x.clone())], 3).unwrap();
        assert_eq!(out.iter().map(|t| t.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
        assert!(run("Split", 13, vec![], vec![Some(x), Some(i64s(&[2, 2]))], 2).is_err());
    }

    #[test]
    fn gather_checks_indices() {
        let x = iota(&[3, 2]);
        let idx = Tensor::from_vec(&[2], vec![-1i32, 0]).unwrap();
        let out = run("Gather", 13, vec![], vec![Some(x.clone()), Some(idx)], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![4.0, 5.0, 0.0, 1.0]);
        let out = run("Gather", 13, vec![("axis", Attr::Int(1))], vec![Some(x.clone()), Some(Tensor::scalar(1i64))], 1)
            .unwrap();
        assert_eq!(out[0].shape(), &[3]);
        let err = run("Gather", 13, vec![], vec![Some(x), Some(i64s(&[3]))], 1).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn concat_empty_and_mismatch() {
        let a = iota(&[2, 0]);
        let b = iota(&[2, 3]);
        let out = run("Concat", 13, vec![("axis", Attr::Int(-1))], vec![Some(a), Some(b.clone())], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 3]);
        assert!(run("Concat", 13, vec![("axis", Attr::Int(0))], vec![Some(iota(&[1, 2])), Some(b)], 1).is_err());
    }

    #[test]
    fn expand_transpose_size() {
        let x = iota(&[3, 1]);
        let out = run("Expand", 13, vec![], vec![Some(x.clone()), Some(i64s(&[2, 1, 4]))], 1).unwrap();
        assert_eq!(out[0].shape(), &[2, 3, 4]);
        assert!(run("Expand", 13, vec![], vec![Some(x.clone()), Some(i64s(&[2, 1]))], 1).is_err());
        let out = run("Transpose", 13, vec![], vec![Some(iota(&[2, 3]))], 1).unwrap();
        assert_eq!(vals(&out[0]), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert!(run("Transpose", 13, vec![("perm", Attr::Ints(vec![0, 0]))], vec![Some(iota(&[2, 3]))], 1).is_err());
        let out = run("Size", 13, vec![], vec![Some(x)], 1).unwrap();
        assert_eq!(out[0], Tensor::scalar(3i64));
    }

    /// Every data-movement op moves the elements of every type as it moves indices: the op run on
    /// data of each of the 12 types gives, bit for bit, the elements that the same op run on an
    /// int64 tensor of (1-based) element numbers names (0 where it fills with zero bits).
    #[test]
    fn every_type_moves_like_its_indices() {
        use crate::tensor::DType;
        let types = [
            DType::F32, DType::F64, DType::F16, DType::I8, DType::U8, DType::I16,
            DType::U16, DType::I32, DType::U32, DType::I64, DType::U64, DType::Bool,
        ];
        let i64t = |shape: &[usize], v: Vec<i64>| Some(Tensor::from_vec(shape, v).unwrap());
        let bools = |shape: &[usize], v: Vec<bool>| Some(Tensor::from_vec(shape, v).unwrap());
        // (op, opset, attrs, data input shapes, other inputs placed after the data (None: the
        // data input goes there), outputs)
        type Case = (&'static str, i64, Vec<(&'static str, Attr)>, Vec<Vec<usize>>, Vec<Option<Option<Tensor>>>, usize);
        let cases: Vec<Case> = vec![
            ("Reshape", 14, vec![], vec![vec![2, 3, 4]], vec![None, Some(i64t(&[2], vec![4, -1]))], 1),
            ("Flatten", 13, vec![("axis", Attr::Int(2))], vec![vec![2, 3, 4]], vec![None], 1),
            ("Squeeze", 13, vec![], vec![vec![1, 3, 1]], vec![None], 1),
            ("Unsqueeze", 13, vec![], vec![vec![3, 2]], vec![None, Some(i64t(&[1], vec![1]))], 1),
            ("Identity", 13, vec![], vec![vec![5]], vec![None], 1),
            ("Transpose", 13, vec![("perm", Attr::Ints(vec![2, 0, 1]))], vec![vec![2, 3, 4]], vec![None], 1),
            ("Expand", 13, vec![], vec![vec![3, 1]], vec![None, Some(i64t(&[3], vec![2, 3, 4]))], 1),
            ("Concat", 13, vec![("axis", Attr::Int(1))], vec![vec![2, 3], vec![2, 2]], vec![None, None], 1),
            ("Split", 13, vec![("axis", Attr::Int(1))], vec![vec![2, 3]], vec![None, Some(i64t(&[2], vec![1, 2]))], 2),
            (
                "Slice", 13, vec![], vec![vec![3, 4]],
                vec![None, Some(i64t(&[1], vec![-1])), Some(i64t(&[1], vec![i64::MIN])), Some(i64t(&[1], vec![1])), Some(i64t(&[1], vec![-2]))],
                1,
            ),
            ("Gather", 13, vec![("axis", Attr::Int(1))], vec![vec![3, 4]], vec![None, Some(i64t(&[2, 2], vec![2, 0, -1, 1]))], 1),
            ("GatherElements", 13, vec![("axis", Attr::Int(1))], vec![vec![2, 3]], vec![None, Some(i64t(&[2, 2], vec![2, 0, 1, -3]))], 1),
            ("GatherND", 13, vec![], vec![vec![2, 3]], vec![None, Some(i64t(&[2, 1], vec![1, 0]))], 1),
            ("ScatterND", 16, vec![], vec![vec![3, 2], vec![2, 2]], vec![None, Some(i64t(&[2, 1], vec![2, 0])), None], 1),
            ("ScatterElements", 16, vec![("axis", Attr::Int(0))], vec![vec![3, 2], vec![1, 2]], vec![None, Some(i64t(&[1, 2], vec![2, 0])), None], 1),
            ("Tile", 13, vec![], vec![vec![2, 3]], vec![None, Some(i64t(&[2], vec![2, 2]))], 1),
            ("DepthToSpace", 13, vec![("blocksize", Attr::Int(2)), ("mode", Attr::String("CRD".into()))], vec![vec![1, 8, 2, 1]], vec![None], 1),
            ("SpaceToDepth", 13, vec![("blocksize", Attr::Int(2))], vec![vec![1, 2, 4, 2]], vec![None], 1),
            ("ReverseSequence", 10, vec![], vec![vec![4, 2, 2]], vec![None, Some(i64t(&[2], vec![3, 1]))], 1),
            ("Trilu", 14, vec![], vec![vec![3, 4]], vec![None], 1),
            ("Compress", 11, vec![("axis", Attr::Int(1))], vec![vec![2, 3]], vec![None, Some(bools(&[3], vec![true, false, true]))], 1),
            ("Pad", 18, vec![], vec![vec![2, 3]], vec![None, Some(i64t(&[4], vec![1, -1, 0, 2]))], 1),
            ("Pad", 18, vec![("mode", Attr::String("reflect".into()))], vec![vec![2, 3]], vec![None, Some(i64t(&[4], vec![1, 2, 1, 2]))], 1),
            ("Pad", 18, vec![("mode", Attr::String("wrap".into()))], vec![vec![2, 3]], vec![None, Some(i64t(&[4], vec![0, 4, 0, 1]))], 1),
            ("Where", 16, vec![], vec![vec![2, 1], vec![3]], vec![Some(bools(&[2, 3], vec![true, false, true, false, false, true])), None, None], 1),
            ("Resize", 19, vec![("mode", Attr::String("nearest".into()))], vec![vec![1, 1, 2, 2]], vec![None, None, Some(Some(f32s(&[4], &[1.0, 1.0, 1.5, 2.0])))], 1),
        ];
        for (op, opset, attrs, data_shapes, slots, n_out) in &cases {
            // The element numbers 1.. of the data inputs, in order, as int64.
            let mut next = 1i64;
            let numbered: Vec<Tensor> = data_shapes
                .iter()
                .map(|s| {
                    let n: usize = s.iter().product();
                    let t = Tensor::from_vec(s, (next..next + n as i64).collect()).unwrap();
                    next += n as i64;
                    t
                })
                .collect();
            let fill = |data: &[Tensor]| -> Vec<Option<Tensor>> {
                let mut d = data.iter();
                slots.iter().map(|slot| match slot {
                    None => d.next().cloned(),
                    Some(t) => t.clone(),
                }).collect()
            };
            let names = run(op, *opset, attrs.clone(), fill(&numbered), *n_out).unwrap_or_else(|e| panic!("{op} on indices: {e}"));
            for &ty in &types {
                let w = ty.size_of();
                let mut k = 0usize;
                let data: Vec<Tensor> = data_shapes
                    .iter()
                    .map(|s| {
                        let n: usize = s.iter().product();
                        let bytes: Vec<u8> = (0..n * w)
                            .map(|b| if ty == DType::Bool { ((k + b) % 3 % 2) as u8 } else { ((k + b) * 37 + 11) as u8 })
                            .collect();
                        k += n * w;
                        Tensor::from_le_bytes(ty, s, &bytes).unwrap()
                    })
                    .collect();
                let pool: Vec<u8> = data.iter().flat_map(|t| t.to_le_bytes()).collect();
                let outs = run(op, *opset, attrs.clone(), fill(&data), *n_out).unwrap_or_else(|e| panic!("{op} on {ty}: {e}"));
                assert_eq!(outs.len(), names.len());
                for (out, idx) in outs.iter().zip(&names) {
                    assert_eq!(out.dtype(), ty, "{op}");
                    assert_eq!(out.shape(), idx.shape(), "{op} on {ty}");
                    let want: Vec<u8> = idx
                        .to_i64_vec()
                        .unwrap()
                        .iter()
                        .flat_map(|&i| if i == 0 { vec![0u8; w] } else { pool[(i as usize - 1) * w..][..w].to_vec() })
                        .collect();
                    assert_eq!(out.to_le_bytes(), want, "{op} on {ty}");
                }
            }
        }
    }

    /// Hostile shapes, axes and sizes give errors, never panics, for every op of these families.
    #[test]
    fn odd_inputs_never_panic() {
        let datas = vec![
            Tensor::scalar(1.5f32),
            iota(&[0]),
            iota(&[0, 3]),
            iota(&[2, 3]),
            iota(&[1, 2, 1, 2]),
            i64s(&[5, -7]),
            Tensor::from_vec(&[2], vec![true, false]).unwrap(),
            Tensor::from_vec(&[2, 2], vec![1u8, 2, 3, 4]).unwrap(),
        ];
        let int_lists: Vec<Vec<i64>> = vec![
            vec![],
            vec![0],
            vec![-1],
            vec![1],
            vec![i64::MIN],
            vec![i64::MAX],
            vec![1, -1],
            vec![3, 0],
            vec![0, -2],
            vec![1 << 40, 1 << 40, 0],
            vec![-3, 2, 9, -9],
            vec![2; 8],
        ];
        let mut extras: Vec<Option<Tensor>> = int_lists.iter().map(|v| Some(i64s(v))).collect();
        extras.push(None);
        extras.push(Some(f32s(&[2], &[f32::NAN, f32::INFINITY])));
        extras.push(Some(f32s(&[4], &[0.0, 1e-30, 2.0, 1e30])));
        extras.push(Some(Tensor::scalar(3i32)));
        type Case = (&'static str, i64, Vec<(&'static str, Attr)>);
        let ops: Vec<Case> = vec![
            ("Reshape", 14, vec![]),
            ("Reshape", 14, vec![("allowzero", Attr::Int(1))]),
            ("Flatten", 13, vec![("axis", Attr::Int(-3))]),
            ("Transpose", 13, vec![("perm", Attr::Ints(vec![1, 0]))]),
            ("Squeeze", 13, vec![]),
            ("Unsqueeze", 13, vec![]),
            ("Concat", 13, vec![("axis", Attr::Int(1))]),
            ("Slice", 13, vec![]),
            ("Split", 18, vec![("num_outputs", Attr::Int(3))]),
            ("Split", 13, vec![("axis", Attr::Int(-1))]),
            ("Gather", 13, vec![("axis", Attr::Int(1))]),
            ("Shape", 15, vec![("start", Attr::Int(i64::MIN)), ("end", Attr::Int(i64::MAX))]),
            ("Expand", 13, vec![]),
            ("ConstantOfShape", 9, vec![]),
            ("Range", 11, vec![]),
            ("ReduceSum", 13, vec![("noop_with_empty_axes", Attr::Int(1))]),
            ("ReduceLogSumExp", 18, vec![("keepdims", Attr::Int(0))]),
            ("ReduceMax", 11, vec![("axes", Attr::Ints(vec![5]))]),
            ("Pad", 18, vec![("mode", Attr::String("reflect".into()))]),
            ("Pad", 18, vec![("mode", Attr::String("wrap".into()))]),
            ("Resize", 19, vec![("mode", Attr::String("cubic".into())), ("antialias", Attr::Int(1))]),
            ("Resize", 19, vec![("coordinate_transformation_mode", Attr::String("tf_crop_and_resize".into()))]),
            (
                "Resize",
                19,
                vec![("keep_aspect_ratio_policy", Attr::String("not_smaller".into())), ("axes", Attr::Ints(vec![-1]))],
            ),
            ("Upsample", 9, vec![("mode", Attr::String("linear".into()))]),
        ];
        let mut runs = 0;
        let mut oks = 0;
        for (op, opset, attrs) in &ops {
            for data in &datas {
                for e1 in &extras {
                    for e2 in [&extras[0], &extras[3], &extras[6], &extras[12], &extras[14]] {
                        for e3 in [&None, &extras[1], &extras[6], &extras[9]] {
                            let inputs = vec![Some(data.clone()), e1.clone(), e2.clone(), e3.clone()];
                            let result = std::panic::catch_unwind(|| run(op, *opset, attrs.clone(), inputs.clone(), 3));
                            assert!(result.is_ok(), "{op} panicked on {inputs:?}");
                            if matches!(result, Ok(Ok(_))) {
                                oks += 1;
                            }
                            runs += 1;
                        }
                    }
                }
            }
        }
        assert!(runs > 10_000 && oks > 1_000, "{runs} runs, {oks} ok");
    }
}
