//! The op registry: each op family registers a builder per (domain, op_type). A builder reads
//! the node's attributes once and returns an [`Op`] that the runtime calls on every run.
//!
//! Each registration also declares the op's properties once ([`OpProps`]): whether it only moves
//! data, which inputs may stay 8-bit, and how the static quantizer treats it. The quantizer
//! (`quantize::registry`), the QDQ fusion pass (`passes::qdq_fusion`) and the runtime read these
//! declarations; none of them keeps its own list of op types for these questions.
//!
//! ```ignore
//! r.register("", "Reshape", reshape).moves_8bit();
//! r.register("", "MaxPool", max_pool).int8(Int8Inputs::Only(&[0])).quant(QuantRule::MaxPool);
//! ```
use crate::error::{Error, Result, UnsupportedOp};
use crate::graph::{normalize_domain, Graph, Node};
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::OnceLock;

/// The domain of webptq's own runtime ops (`ai.webptq` QLinearLookup), never written to a file.
/// Declared here, with the registry, so that the ops registering under it and the QDQ fusion pass
/// that emits it both read it from below.
pub const WEBPTQ_DOMAIN: &str = "ai.webptq";

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

/// Which inputs of an op may stay 8-bit: with those inputs and every output quantized with the
/// same parameters (per tensor), the op runs on the integers as they are and gives exactly the
/// quantized float result, because it only moves, selects or compares values (quantization is
/// monotonic). The QDQ fusion then drops the DequantizeLinear/QuantizeLinear pair around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Int8Inputs {
    /// Float only (or 8-bit only through a fused QLinear form).
    #[default]
    None,
    /// These inputs (the data; the others are shapes, indices, axes).
    Only(&'static [usize]),
    /// Every input (Concat).
    All,
}

impl Int8Inputs {
    pub fn allows(self, i: usize) -> bool {
        match self {
            Int8Inputs::None => false,
            Int8Inputs::Only(v) => v.contains(&i),
            Int8Inputs::All => true,
        }
    }
}

/// How the static quantizer treats an op. The op declares it here; the quantizer, a layer above,
/// holds one handler per rule (`quantize::registry`, whose `//!` table says what each does;
/// docs/quantization.md §9 the rules). `Float`, the default, keeps the op in float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuantRule {
    #[default]
    Float,
    /// The outputs share the data input's parameters when that input is quantized: the op then
    /// runs on the integers without requantizing (data movement, order-preserving selection).
    ShareInput,
    /// Activation in and out, weight per channel on axis 0, int32 bias.
    Conv,
    /// As Conv with the weight's channel axis 1.
    ConvTranspose,
    Gemm,
    MatMul,
    /// Every input and the output with its own parameters (Add, Mul).
    Binary,
    /// The inputs and the output share one set of parameters.
    Concat,
    /// Input and output with their own parameters (GlobalAveragePool, Sigmoid, LeakyRelu).
    Unary,
    /// The output shares the input's parameters (an average stays in its window's range), but
    /// the op computes: it runs in float between its Q/DQ.
    AveragePool,
    /// The output's range fixed to [0, 1].
    Softmax,
    /// A constant float table quantized like an activation (an embedding); else `ShareInput`.
    Gather,
    /// `ShareInput` unless it has an Indices output.
    MaxPool,
    /// `ShareInput` in mode 'nearest'; interpolating modes stay float.
    Resize,
    /// Folded into its producer's output range.
    Relu,
    /// Folded with constant bounds; quantized as `Unary` with bounds computed at run time.
    Clip,
}

/// What an op declares about itself when it is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpProps {
    /// The op moves, copies or selects elements by position and never reads one as a number
    /// (Reshape, Transpose, Concat, Gather, Expand, Tile, Pad, ...): it can run on any element
    /// type by its width alone.
    pub data_movement: bool,
    /// Which inputs may stay 8-bit ([`Int8Inputs`]).
    pub int8: Int8Inputs,
    /// How the static quantizer treats it.
    pub quant: QuantRule,
}

impl OpProps {
    /// Declares the op data movement ([`OpProps::data_movement`]).
    pub fn data_movement(&mut self) -> &mut Self {
        self.data_movement = true;
        self
    }
    /// Declares which inputs may stay 8-bit.
    pub fn int8(&mut self, inputs: Int8Inputs) -> &mut Self {
        self.int8 = inputs;
        self
    }
    /// Declares how the static quantizer treats the op.
    pub fn quant(&mut self, rule: QuantRule) -> &mut Self {
        self.quant = rule;
        self
    }
    /// The usual data-movement op: moves data, runs on an 8-bit input 0 as it is, and is
    /// quantized sharing that input's parameters.
    pub fn moves_8bit(&mut self) -> &mut Self {
        self.data_movement().int8(Int8Inputs::Only(&[0])).quant(QuantRule::ShareInput)
    }
}

struct Entry {
    build: BuildFn,
    props: OpProps,
}

#[derive(Default)]
pub struct Registry {
    builders: HashMap<(String, String), Entry>,
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

    /// Registers (or replaces) an op's builder; the returned properties start at the default
    /// (computes, float only, not quantized) and are declared by chaining on them.
    pub fn register(&mut self, domain: &str, op_type: &str, build: BuildFn) -> &mut OpProps {
        let key = (normalize_domain(domain).to_string(), op_type.to_string());
        let entry = Entry { build, props: OpProps::default() };
        let slot = self.builders.entry(key).and_modify(|e| *e = Entry { build, props: OpProps::default() }).or_insert(entry);
        &mut slot.props
    }

    /// The declared properties of an op, if registered.
    pub fn props(&self, domain: &str, op_type: &str) -> Option<&OpProps> {
        self.builders.get(&(normalize_domain(domain).to_string(), op_type.to_string())).map(|e| &e.props)
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

    /// Every node of `graph` whose op this registry cannot build, in graph order.
    pub fn unsupported(&self, graph: &Graph) -> Vec<UnsupportedOp> {
        graph.nodes.iter().filter(|n| !self.supports(&n.domain, &n.op_type)).map(unsupported_op).collect()
    }

    pub fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Op>> {
        let key = (normalize_domain(&ctx.node.domain).to_string(), ctx.node.op_type.clone());
        match self.builders.get(&key) {
            Some(entry) => (entry.build)(ctx).map_err(|e| e.in_node(&ctx.node.label(), &ctx.node.op_type)),
            None => Err(Error::UnsupportedOps(vec![unsupported_op(ctx.node)])),
        }
    }
}

/// `node` as an entry of an unsupported-op error (domain normalized, node named by its label).
pub fn unsupported_op(node: &Node) -> UnsupportedOp {
    UnsupportedOp::new(node.op_type.clone(), normalize_domain(&node.domain), node.label())
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
