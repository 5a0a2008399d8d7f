//! The op registry: each op family registers a builder per (domain, op_type). A builder reads
//! the node's attributes once and returns an [`Op`] that the runtime calls on every run.
use crate::error::{Error, Result};
use crate::graph::{normalize_domain, Graph, Node};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::OnceLock;

/// What a builder may look at: the node, the graph (for constant inputs) and the opset version
/// of the node's domain.
pub struct BuildContext<'a> {
    pub node: &'a Node,
    pub graph: &'a Graph,
    pub opset: i64,
}

impl BuildContext<'_> {
    /// Input `i` if it is an initializer that no feed can replace (safe to preprocess, e.g.
    /// prepack, when the plan is built). Initializers also declared as graph inputs are not.
    pub fn constant_input(&self, i: usize) -> Option<&Tensor> {
        let id = self.node.input(i)?;
        if self.graph.overridable.contains(&id) {
            return None;
        }
        self.graph.initializers.get(&id).map(|t| t.as_ref())
    }
    pub fn attrs(&self) -> &crate::graph::Attrs {
        &self.node.attrs
    }
}

/// A node ready to run. `inputs[i]` is `None` where an optional input was omitted; the result
/// holds one tensor per output the op produces (trailing optional outputs may be left out).
pub trait Op: Send + Sync {
    fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>>;

    /// Whether the op would keep input 0's buffer if given it by value: true for the ops that
    /// only give their input a new shape (Reshape, Flatten, Squeeze, Unsqueeze, Identity). The
    /// runtime then hands input 0 over with [`run_moved`](Op::run_moved) when no later step
    /// reads it.
    fn moves_input(&self) -> bool {
        false
    }

    /// [`run`](Op::run) with input 0 given by value (`inputs[0]` is `None`); called only when
    /// [`moves_input`](Op::moves_input) is true. The default is one tiny non-generic call per
    /// op type (a default that called `run` would copy every op's body once more: +25 KB).
    fn run_moved(&self, first: Tensor, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        not_moving(first, inputs.len())
    }
}

#[inline(never)]
fn not_moving(first: Tensor, _n: usize) -> Result<Vec<Tensor>> {
    Err(Error::invalid(format!("internal: an op that does not move its input was given {first} by value")))
}

/// An [`Op`] from a closure: `Ok(Box::new(FnOp(move |inputs| ...)))`.
pub struct FnOp<F>(pub F);

impl<F> Op for FnOp<F>
where
    F: Fn(&[Option<&Tensor>]) -> Result<Vec<Tensor>> + Send + Sync,
{
    fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
        (self.0)(inputs)
    }
}

pub type BuildFn = fn(&BuildContext) -> Result<Box<dyn Op>>;

#[derive(Default)]
pub struct Registry {
    builders: HashMap<(String, String), BuildFn>,
}

impl Registry {
    /// The registry with every op family of this crate.
    pub fn standard() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| {
            let mut r = Registry::default();
            super::register_all(&mut r);
            r
        })
    }

    pub fn register(&mut self, domain: &str, op_type: &str, build: BuildFn) {
        self.builders.insert((normalize_domain(domain).to_string(), op_type.to_string()), build);
    }

    pub fn supports(&self, domain: &str, op_type: &str) -> bool {
        self.builders.contains_key(&(normalize_domain(domain).to_string(), op_type.to_string()))
    }

    /// All registered (domain, op_type) pairs, sorted.
    pub fn op_types(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self.builders.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Op>> {
        let key = (normalize_domain(&ctx.node.domain).to_string(), ctx.node.op_type.clone());
        match self.builders.get(&key) {
            Some(build) => build(ctx).map_err(|e| e.in_node(&ctx.node.label(), &ctx.node.op_type)),
            None => Err(Error::UnsupportedOps(vec![describe_op(ctx.node)])),
        }
    }
}

/// "Op (node 'name')" or "domain.Op (node 'name')", as listed in unsupported-op errors.
pub fn describe_op(node: &Node) -> String {
    let d = normalize_domain(&node.domain);
    if d.is_empty() {
        format!("{} (node '{}')", node.op_type, node.label())
    } else {
        format!("{}.{} (node '{}')", d, node.op_type, node.label())
    }
}

/// Input `i`, which the op requires; `what` names it in the error (e.g. "X").
pub fn required<'a>(inputs: &[Option<&'a Tensor>], i: usize, what: &str) -> Result<&'a Tensor> {
    inputs
        .get(i)
        .copied()
        .flatten()
        .ok_or_else(|| Error::invalid(format!("required input {i} ({what}) is missing")))
}

/// Input `i` if given.
pub fn optional<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}

/// Resolves a possibly negative axis against a rank; errors when out of range.
pub fn normalize_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::invalid(format!("axis {axis} is out of range for rank {rank}")));
    }
    Ok(a as usize)
}
