//! Control flow: If, Loop and Scan, whose bodies are graph attributes.
//!
//! A body is loaded from its `GraphProto` attribute by the loader's own graph conversion and
//! bound to a [`Plan`] once, when the node's op is built; each run (branch, iteration, scan
//! step) runs that plan on the body's inputs. A body may read any value of the enclosing graphs
//! (ONNX "Graph scoping"): the loader gives the node those values as extra inputs after its
//! declared ones ([`OUTER_SCOPE`]), so the outer plan orders the node after them and keeps them
//! alive; constants among them are bound into the body's plan when it is built (so its ops can
//! prepack them), the others are fed on every run. Nodes of the default domain inside a body run
//! at the enclosing node's opset; other domains at version 1.
//!
//! - If: `cond` (one bool) picks `then_branch` or `else_branch`; their outputs are the node's.
//! - Loop: `M` (int64 trip count) and `cond` (bool), both optional (not both absent: that loop
//!   never ends); the body maps `(iteration, cond, carried...)` to `(cond, carried..., scan...)`;
//!   scan outputs are stacked along a new first axis.
//! - Scan (opset 9+): `num_scan_inputs` of the inputs are sliced along `scan_input_axes`
//!   (reversed where `scan_input_directions` is 1); the states thread through the body; scan
//!   outputs are stacked along `scan_output_axes` (reversed where `scan_output_directions` is 1).
//!   Opset 8's Scan has a batch axis 0 on everything: each batch row is one opset-9 scan (over
//!   axis 1, `directions`), results stacked; its `sequence_lens` must equal the sequence length.
use super::registry::{normalize_axis, optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::graph::{normalize_domain, Attr, Dim, ValueId, OUTER_SCOPE};
use super::Plan;
use crate::tensor::{checked_numel, DType, Lane, Tensor};
use ndarray::{ArrayD, ArrayViewD, Axis};
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.register("", "If", build_if);
    r.register("", "Loop", build_loop);
    r.register("", "Scan", build_scan);
}

/// A body graph bound to a plan.
struct Body {
    plan: Plan,
    /// The body's declared inputs.
    inputs: Vec<ValueId>,
    /// The outer-scope values the body reads that are not constants of the enclosing graph (those
    /// are bound into the plan when it is built): (the value in the body, its index among the
    /// node's outer-scope inputs).
    outer: Vec<(ValueId, usize)>,
    /// Declared element types of the outputs (for empty scan outputs).
    output_types: Vec<Option<DType>>,
}

impl Body {
    fn load(ctx: &BuildContext, name: &str) -> Result<Body> {
        let proto = match ctx.attrs().get(name) {
            Some(Attr::Raw(a)) if a.g.is_some() => a.g.as_ref().unwrap(),
            Some(_) => return Err(Error::invalid(format!("attribute '{name}' is not a graph"))),
            None => return Err(Error::invalid(format!("the graph attribute '{name}' is missing"))),
        };
        let scoped: Vec<String> = ctx.attrs().strings(OUTER_SCOPE)?.map(|v| v.to_vec()).unwrap_or_default();
        let declared = ctx.node.declared_inputs();
        let reads = crate::onnx::load::free_names(proto);
        let mut graph = crate::onnx::load::graph_from_proto(proto, &Default::default(), &reads)?;
        let mut outer = Vec::new();
        for r in &reads {
            let k = scoped.iter().position(|s| s == r).ok_or_else(|| {
                Error::model(format!("body '{name}' reads '{r}', which neither the body nor the enclosing graph provides"))
            })?;
            let id = graph.find_value(r).ok_or_else(|| Error::model(format!("body '{name}' lost its read of '{r}'")))?;
            let bound = ctx.node.input(declared + k);
            let constant = bound.filter(|b| !ctx.graph.overridable.contains(b)).and_then(|b| ctx.graph.initializers.get(&b));
            match constant {
                Some(t) => {
                    graph.inputs.retain(|&i| i != id);
                    let v = &mut graph.values[id];
                    v.dtype = Some(t.dtype());
                    v.shape = Some(t.shape().iter().map(|&d| Dim::Fixed(d)).collect());
                    graph.initializers.insert(id, t.clone());
                }
                None => outer.push((id, k)),
            }
        }
        let declared_names: Vec<String> = proto.input.iter().map(|v| v.name.clone().unwrap_or_default()).collect();
        let inputs = declared_names
            .iter()
            .map(|n| graph.find_value(n).ok_or_else(|| Error::model(format!("body '{name}' input '{n}' is not in its graph"))))
            .collect::<Result<Vec<_>>>()?;
        let output_types = graph.outputs.iter().map(|&o| graph.value(o).dtype).collect();
        let opset = ctx.opset;
        let plan = Plan::new(&graph, Registry::standard(), &|d| if normalize_domain(d).is_empty() { opset } else { 1 })?;
        Ok(Body { plan, inputs, outer, output_types })
    }

    /// Runs the body on its declared inputs `feeds`; `scoped` holds the node's outer-scope
    /// inputs, those of [`bind_scope`] for this body.
    fn run(&self, what: &str, feeds: Vec<Arc<Tensor>>, scoped: &[Option<Arc<Tensor>>]) -> Result<Vec<Arc<Tensor>>> {
        if feeds.len() != self.inputs.len() {
            return Err(Error::invalid(format!("{what} takes {} inputs, given {}", self.inputs.len(), feeds.len())));
        }
        let mut all: Vec<(ValueId, Arc<Tensor>)> = self.inputs.iter().copied().zip(feeds).collect();
        for &(id, k) in &self.outer {
            let t = scoped.get(k).cloned().flatten().ok_or_else(|| {
                Error::invalid(format!("{what} reads outer-scope value {k} of the node, which is missing"))
            })?;
            all.push((id, t));
        }
        self.plan.run(all, None)
    }
}

/// The node's outer-scope inputs (after its `declared` ones) that `bodies` read at run time,
/// shared once for every run of a body; `None` where no body needs one.
fn bind_scope(inputs: &[Option<&Tensor>], declared: usize, bodies: &[&Body]) -> Result<Vec<Option<Arc<Tensor>>>> {
    let mut out: Vec<Option<Arc<Tensor>>> = vec![None; inputs.len().saturating_sub(declared)];
    for &(_, k) in bodies.iter().flat_map(|b| &b.outer) {
        let slot = out.get_mut(k).ok_or_else(|| Error::invalid(format!("outer-scope input {k} of the node is missing")))?;
        if slot.is_none() {
            *slot = Some(Arc::new(required(inputs, declared + k, "an outer-scope value a body reads")?.clone()));
        }
    }
    Ok(out)
}

fn owned(t: Arc<Tensor>) -> Tensor {
    Arc::try_unwrap(t).unwrap_or_else(|t| (*t).clone())
}

/// The single value of a bool (or, as some exporters write, integer) condition.
fn truth(t: &Tensor, what: &str) -> Result<bool> {
    if t.len() != 1 {
        return Err(Error::shape(format!("{what} must hold one value, got shape {:?}", t.shape())));
    }
    match t {
        Tensor::Bool(a) => Ok(a.iter().next().copied().unwrap_or(false)),
        other if !other.dtype().is_float() => Ok(other.to_i64_vec()?[0] != 0),
        other => Err(Error::dtype(format!("{what} must be bool, got {}", other.dtype()))),
    }
}

/// Stacks equally shaped tensors along a new axis `axis` (0..=rank).
fn stack(parts: &[Tensor], axis: usize, empty: Option<DType>) -> Result<Tensor> {
    let Some(first) = parts.first() else {
        return Tensor::zeros(empty.unwrap_or(DType::F32), &[0]);
    };
    if parts.iter().any(|p| p.dtype() != first.dtype()) {
        return Err(Error::dtype("scan outputs of different element types cannot be stacked"));
    }
    if axis > first.rank() {
        return Err(Error::invalid(format!("scan output axis {axis} is out of range for rank {}", first.rank() + 1)));
    }
    let mut shape = first.shape().to_vec();
    shape.insert(axis, parts.len());
    checked_numel(&shape, first.dtype())?;
    let lanes = crate::with_lanes!(first.lanes(), a => stack_like(a, parts, axis)?.into());
    Tensor::from_lanes(first.dtype(), lanes)
}

/// [`stack`] on the parts' elements as lanes of the width of `_first`'s (data movement: one
/// copy per width, not per type).
fn stack_like<W: Lane>(_first: ArrayViewD<'_, W>, parts: &[Tensor], axis: usize) -> Result<ArrayD<W>> {
    let views = parts
        .iter()
        .map(|t| W::view_of(t).ok_or_else(|| Error::dtype("scan outputs of different element types cannot be stacked")))
        .collect::<Result<Vec<_>>>()?;
    ndarray::stack(Axis(axis), &views)
        .map_err(|e| Error::shape(format!("scan outputs of different shapes cannot be stacked ({e})")))
}

/// Slice `i` of `t` along `axis` (the axis removed).
fn slice(t: &Tensor, axis: usize, i: usize) -> Tensor {
    let lanes = crate::map_lanes!(t.lanes(), a => a.index_axis(Axis(axis), i).as_standard_layout().into_owned());
    // The lanes come from `t`, so they have its type's width: from_lanes cannot fail.
    Tensor::from_lanes(t.dtype(), lanes).unwrap_or_else(|_| t.clone())
}

// ---------------------------------------------------------------------------------------------
// If

fn build_if(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let then_b = Body::load(ctx, "then_branch")?;
    let else_b = Body::load(ctx, "else_branch")?;
    let declared = ctx.node.declared_inputs();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let cond = truth(required(inputs, 0, "cond")?, "cond")?;
        let (body, what) = if cond { (&then_b, "then_branch") } else { (&else_b, "else_branch") };
        let scoped = bind_scope(inputs, declared, &[body])?;
        Ok(body.run(what, Vec::new(), &scoped)?.into_iter().map(owned).collect())
    })))
}

// ---------------------------------------------------------------------------------------------
// Loop

fn build_loop(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let body = Body::load(ctx, "body")?;
    if body.inputs.len() < 2 {
        return Err(Error::invalid(format!("the Loop body takes {} inputs; it needs the iteration and the condition", body.inputs.len())));
    }
    let declared = ctx.node.declared_inputs();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let scoped = bind_scope(inputs, declared, &[&body])?;
        let inputs = &inputs[..declared.min(inputs.len())];
        let trips = optional(inputs, 0).map(|m| -> Result<i64> {
            if m.len() != 1 || !matches!(m.dtype(), DType::I64 | DType::I32) {
                return Err(Error::invalid(format!("M must be one int64, got {} of shape {:?}", m.dtype(), m.shape())));
            }
            Ok(m.to_i64_vec()?[0])
        });
        let trips = trips.transpose()?;
        let mut cond = optional(inputs, 1).map(|c| truth(c, "cond")).transpose()?;
        if trips.is_none() && cond.is_none() {
            return Err(Error::invalid("a Loop with neither M nor cond never ends"));
        }
        let mut carried: Vec<Arc<Tensor>> = inputs.iter().skip(2).map(|t| t.map(|t| Arc::new(t.clone()))).collect::<Option<_>>()
            .ok_or_else(|| Error::invalid("a loop-carried initial value is missing"))?;
        let n = carried.len();
        if body.inputs.len() != n + 2 {
            return Err(Error::invalid(format!("the Loop body takes {} inputs for {n} loop-carried values", body.inputs.len())));
        }
        let mut scans: Vec<Vec<Tensor>> = Vec::new();
        let mut i: i64 = 0;
        while trips.is_none_or(|m| i < m) && cond != Some(false) {
            let mut feeds = vec![Arc::new(Tensor::scalar(i)), Arc::new(Tensor::scalar(cond.unwrap_or(true)))];
            feeds.append(&mut carried);
            let outs = body.run("the Loop body", feeds, &scoped)?;
            if outs.len() < n + 1 {
                return Err(Error::invalid(format!("the Loop body gives {} outputs for {n} loop-carried values", outs.len())));
            }
            let mut outs = outs.into_iter();
            let c = outs.next().unwrap();
            // Without a cond input the loop is a for loop: the body's condition is ignored.
            if optional(inputs, 1).is_some() {
                cond = Some(truth(&c, "the body's condition")?);
            }
            carried = outs.by_ref().take(n).collect();
            let rest: Vec<Tensor> = outs.map(owned).collect();
            if scans.is_empty() {
                scans = vec![Vec::new(); rest.len()];
            }
            for (s, t) in scans.iter_mut().zip(rest) {
                s.push(t);
            }
            i += 1;
        }
        let k = body.output_types.len().saturating_sub(n + 1);
        scans.resize(k, Vec::new());
        let mut out: Vec<Tensor> = carried.into_iter().map(owned).collect();
        for (j, s) in scans.iter().enumerate() {
            out.push(stack(s, 0, body.output_types[n + 1 + j])?);
        }
        Ok(out)
    })))
}

// ---------------------------------------------------------------------------------------------
// Scan

struct ScanAttrs {
    states: usize,
    in_axes: Vec<i64>,
    in_reverse: Vec<bool>,
    out_axes: Vec<i64>,
    out_reverse: Vec<bool>,
}

fn build_scan(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let body = Body::load(ctx, "body")?;
    let a = ctx.attrs();
    // Opset 8: a first input sequence_lens, and a batch axis 0 on every input and output.
    let batched = ctx.opset < 9;
    let m = a.int("num_scan_inputs")?.ok_or_else(|| Error::invalid("num_scan_inputs is missing"))?;
    let declared = ctx.node.declared_inputs();
    let inputs = declared.saturating_sub(batched as usize);
    if m < 1 || m as usize > inputs {
        return Err(Error::invalid(format!("num_scan_inputs {m} is not in [1, {inputs}]")));
    }
    let m = m as usize;
    let states = inputs - m;
    let k = body.output_types.len().checked_sub(states).ok_or_else(|| {
        Error::invalid(format!("the Scan body gives {} outputs for {states} states", body.output_types.len()))
    })?;
    if body.inputs.len() != inputs {
        return Err(Error::invalid(format!("the Scan body takes {} inputs, the node gives {inputs}", body.inputs.len())));
    }
    let list = |name: &str, len: usize| -> Result<Vec<i64>> {
        let v = a.ints(name)?.map(|v| v.to_vec()).unwrap_or_else(|| vec![0; len]);
        if v.len() != len {
            return Err(Error::invalid(format!("{name} has {} values, expected {len}", v.len())));
        }
        Ok(v)
    };
    let in_dirs = if batched { "directions" } else { "scan_input_directions" };
    let attrs = ScanAttrs {
        states,
        in_axes: if batched { vec![0; m] } else { list("scan_input_axes", m)? },
        in_reverse: list(in_dirs, m)?.iter().map(|&d| d != 0).collect(),
        out_axes: if batched { vec![0; k] } else { list("scan_output_axes", k)? },
        out_reverse: if batched { vec![false; k] } else { list("scan_output_directions", k)?.iter().map(|&d| d != 0).collect() },
    };
    if !batched {
        return Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
            let scoped = bind_scope(inputs, declared, &[&body])?;
            let all = (0..declared).map(|i| required(inputs, i, "a Scan input")).collect::<Result<Vec<_>>>()?;
            run_scan(&body, &attrs, &all, &scoped)
        })));
    }
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let scoped = bind_scope(inputs, declared, &[&body])?;
        let all = (1..declared).map(|i| required(inputs, i, "a Scan input")).collect::<Result<Vec<_>>>()?;
        let batch = all[0].shape().first().copied().unwrap_or(0);
        if all.iter().any(|t| t.shape().first() != Some(&batch)) {
            return Err(Error::shape(format!("Scan (opset 8) inputs must share the batch axis 0 of {batch}")));
        }
        let seq = all[attrs.states].shape().get(1).copied().unwrap_or(0);
        if let Some(l) = optional(inputs, 0) {
            if l.to_i64_vec()?.iter().any(|&v| v != seq as i64) {
                return Err(Error::invalid(format!("Scan (opset 8) with sequence_lens shorter than the sequence ({seq}) is not supported")));
            }
        }
        let mut per_output: Vec<Vec<Tensor>> = Vec::new();
        for b in 0..batch {
            let rows: Vec<Tensor> = all.iter().map(|t| slice(t, 0, b)).collect();
            let out = run_scan(&body, &attrs, &rows.iter().collect::<Vec<_>>(), &scoped)?;
            per_output.resize(out.len(), Vec::new());
            for (p, t) in per_output.iter_mut().zip(out) {
                p.push(t);
            }
        }
        per_output.iter().zip(&body.output_types).map(|(p, &ty)| stack(p, 0, ty)).collect()
    })))
}

/// One Scan over unbatched inputs (the states, then the scanned inputs).
fn run_scan(body: &Body, a: &ScanAttrs, all: &[&Tensor], scoped: &[Option<Arc<Tensor>>]) -> Result<Vec<Tensor>> {
    let (states, scanned) = all.split_at(a.states);
    let axes = scanned.iter().zip(&a.in_axes).map(|(t, &ax)| normalize_axis(ax, t.rank())).collect::<Result<Vec<_>>>()?;
    let len = scanned[0].shape()[axes[0]];
    for (t, &ax) in scanned.iter().zip(&axes) {
        if t.shape()[ax] != len {
            return Err(Error::shape(format!("scan inputs have {} and {len} steps (shape {:?}, axis {ax})", t.shape()[ax], t.shape())));
        }
    }
    let mut carried: Vec<Arc<Tensor>> = states.iter().map(|t| Arc::new((*t).clone())).collect();
    let k = a.out_axes.len();
    let mut outs: Vec<Vec<Tensor>> = vec![Vec::with_capacity(len); k];
    for step in 0..len {
        let mut feeds = std::mem::take(&mut carried);
        for ((t, &ax), &rev) in scanned.iter().zip(&axes).zip(&a.in_reverse) {
            feeds.push(Arc::new(slice(t, ax, if rev { len - 1 - step } else { step })));
        }
        let mut results = body.run("the Scan body", feeds, scoped)?.into_iter();
        carried = results.by_ref().take(a.states).collect();
        for (o, t) in outs.iter_mut().zip(results) {
            o.push(owned(t));
        }
    }
    let mut out: Vec<Tensor> = carried.into_iter().map(owned).collect();
    for (j, mut parts) in outs.into_iter().enumerate() {
        if a.out_reverse[j] {
            parts.reverse();
        }
        let rank = parts.first().map_or(1, |p| p.rank() + 1);
        let axis = normalize_axis(a.out_axes[j], rank)?;
        out.push(stack(&parts, axis, body.output_types[a.states + j])?);
    }
    Ok(out)
}
