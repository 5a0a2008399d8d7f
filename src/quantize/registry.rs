//! How each op type is quantized: one handler per [`QuantRule`], the rule each op declares when it
//! registers in `ops` (onnxruntime's `quantization/registry.py` idea, design convention 2; the
//! list of op types is the op registry's, not kept here). A handler looks at one node and says
//! what should happen to it ([`Action`]); the planner (`plan.rs`) applies the actions over the
//! graph, checks that every tensor involved is float32, and resolves what depends on neighbours
//! (shape ops follow their input, Relu/Clip fold into their producer).
//!
//! | op types | action |
//! |---|---|
//! | Conv, ConvTranspose | activation in/out, weight per channel (axis 0; 1 for ConvTranspose), int32 bias |
//! | Gemm | activation A in / out, B per channel (axis 0 with `transB=1`, else 1), int32 bias C |
//! | MatMul | activations in/out; a constant B is a weight per column (last axis) |
//! | Add, Mul | both inputs and the output, each with its own parameters |
//! | Concat | inputs and output share one set of parameters (no requantization) |
//! | GlobalAveragePool, Sigmoid, LeakyRelu | input and output, own parameters |
//! | AveragePool | output shares the input's parameters (an average never leaves its window's range) |
//! | Softmax | input own parameters, output fixed to `[0, 1]` (as onnxruntime) |
//! | ops declaring `ShareInput` (`moves_8bit()`: Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Slice, Split, Expand, Identity, Tile, DepthToSpace, SpaceToDepth, GatherElements; ReduceMax, ReduceMin), MaxPool, Resize (nearest) | outputs share the data input's parameters, if that input is quantized |
//! | Gather on a constant float table (embeddings) | the table quantized per tensor like an activation, the rows share its parameters |
//! | Relu, Clip | folded into the producer's output range (no Q/DQ between them) |
//!
//! Anything else (HardSigmoid, HardSwish, LayerNormalization, ...) stays float: the planner
//! records "no quantization handler" and the model still runs. docs/quantization.md §9 states the
//! rules, §6 the weight axes.
use super::options::QuantOptions;
use crate::calibrate::Range;
use crate::graph::{Graph, Node, ValueId};
use crate::ops::QuantRule;
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The role of one node input in a quantized node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "role")]
pub enum In {
    /// Left as it is (shape tensors, indices, absent optional inputs, float biases).
    Keep,
    /// A quantized activation (a constant here is quantized per tensor like an activation).
    Activation,
    /// A constant weight, quantized symmetrically, per channel on `axis` or per tensor (§3, §6).
    Weight { axis: Option<usize> },
    /// A constant bias stored as int32 with scale `s_x · s_w` of inputs `x` and `w` (§7).
    Bias { x: usize, w: usize },
}

/// The role of one node output.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "role")]
pub enum Out {
    Keep,
    /// Quantized with its own calibrated parameters.
    Activation,
    /// Quantized with the parameters shared by every activation input (Concat, shape ops).
    ShareInputs,
    /// Quantized with parameters for a fixed range (Softmax: `[0, 1]`).
    Fixed(Range),
}

/// What a handler wants for its node.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quantize { inputs: Vec<In>, outputs: Vec<Out> },
    /// A data-movement op: if input 0 is quantized, every output shares its parameters (the op
    /// then runs on the integers without requantizing); otherwise it stays float.
    ShareInput,
    /// Relu / Clip(lo, hi): removed, its producer's output takes its range (§8: the clamp is the
    /// saturation of the output's quantization).
    Fold { lo: f32, hi: f32 },
    Float(String),
}

/// What a handler may look at.
pub struct NodeCtx<'a> {
    pub node: &'a Node,
    pub graph: &'a Graph,
    pub options: &'a QuantOptions,
    /// Element type of each value, where known (declared, or seen on a calibration run).
    pub dtypes: &'a [Option<DType>],
}

impl NodeCtx<'_> {
    /// Input `i` if it is an initializer no feed can replace.
    pub fn constant(&self, i: usize) -> Option<&Tensor> {
        let id = self.node.input(i)?;
        if self.graph.overridable.contains(&id) {
            return None;
        }
        self.graph.initializers.get(&id).map(|t| t.as_ref())
    }
    pub fn input_dtype(&self, i: usize) -> Option<DType> {
        self.node.input(i).and_then(|v| self.dtype(v))
    }
    pub fn dtype(&self, v: ValueId) -> Option<DType> {
        self.dtypes.get(v).copied().flatten()
    }
    fn n_inputs(&self) -> usize {
        self.node.inputs.len()
    }
}

pub type Handler = fn(&NodeCtx) -> Action;

/// The handler of each rule an op declares at registration ([`QuantRule`], in `ops`): exhaustive,
/// so a new rule cannot go without one.
fn handler_for(rule: QuantRule) -> Option<Handler> {
    Some(match rule {
        QuantRule::Float => return None,
        QuantRule::ShareInput => share_input,
        QuantRule::Conv => conv,
        QuantRule::ConvTranspose => conv_transpose,
        QuantRule::Gemm => gemm,
        QuantRule::MatMul => matmul,
        QuantRule::Binary => binary,
        QuantRule::Concat => concat,
        QuantRule::Unary => unary,
        QuantRule::AveragePool => average_pool,
        QuantRule::Softmax => softmax,
        QuantRule::Gather => gather,
        QuantRule::MaxPool => max_pool,
        QuantRule::Resize => resize,
        QuantRule::Relu => relu,
        QuantRule::Clip => clip,
    })
}

/// Handlers by op type (default ONNX domain only: other domains stay float), read from the rule
/// each op declares when it registers in the op registry; an op declaring none stays float.
pub struct QuantHandlers {
    handlers: HashMap<String, Handler>,
}

impl QuantHandlers {
    pub fn standard() -> &'static QuantHandlers {
        static R: OnceLock<QuantHandlers> = OnceLock::new();
        R.get_or_init(|| QuantHandlers::from_ops(crate::ops::Registry::standard()))
    }

    /// The handlers of the default-domain ops of `ops` that declare a [`QuantRule`].
    pub fn from_ops(ops: &crate::ops::Registry) -> QuantHandlers {
        let handlers = ops
            .op_types()
            .into_iter()
            .filter(|(domain, _)| domain.is_empty())
            .filter_map(|(domain, op)| {
                let rule = ops.props(&domain, &op)?.quant;
                Some((op, handler_for(rule)?))
            })
            .collect();
        QuantHandlers { handlers }
    }

    /// The handler of a node's op, if it has one (default domain only).
    pub fn handler(&self, node: &Node) -> Option<Handler> {
        if !crate::graph::normalize_domain(&node.domain).is_empty() {
            return None;
        }
        self.handlers.get(node.op_type.as_str()).copied()
    }

    pub fn supports(&self, op_type: &str) -> bool {
        self.handlers.contains_key(op_type)
    }
}

fn keep_rest(mut roles: Vec<In>, n: usize) -> Vec<In> {
    roles.resize(n, In::Keep);
    roles
}

/// The weight axis for per-channel quantization, or None for per tensor.
fn axis_if_per_channel(ctx: &NodeCtx, w: Option<&Tensor>, axis: usize) -> Option<usize> {
    match w {
        Some(t) if ctx.options.per_channel && t.rank() > axis && t.rank() >= 2 => Some(axis),
        _ => None,
    }
}

/// Gather on a constant float table (an embedding lookup): the table is stored 8-bit like a
/// constant activation (per tensor, its own range) and the gathered rows share its parameters,
/// as onnxruntime's QDQ Gather does; the file shrinks by the table's 3/4. On any other data it is
/// a data-movement op like Reshape.
fn gather(ctx: &NodeCtx) -> Action {
    match ctx.constant(0) {
        Some(t) if t.dtype() == DType::F32 && t.rank() >= 2 => {
            Action::Quantize { inputs: keep_rest(vec![In::Activation], ctx.n_inputs()), outputs: vec![Out::ShareInputs] }
        }
        _ => share_input(ctx),
    }
}

fn conv(ctx: &NodeCtx) -> Action {
    conv_like(ctx, 0)
}

fn conv_transpose(ctx: &NodeCtx) -> Action {
    conv_like(ctx, 1)
}

/// Conv: weight `[M, C/g, k...]` per channel on axis 0; ConvTranspose: `[C, M/g, k...]` on axis 1
/// (§6). The bias has one value per output channel; for a grouped ConvTranspose the per-channel
/// axis has only M/g entries, so its bias stays float.
fn conv_like(ctx: &NodeCtx, axis: usize) -> Action {
    let w = ctx.constant(1);
    let mut ins = vec![In::Activation, In::Weight { axis: axis_if_per_channel(ctx, w, axis) }];
    if ctx.node.input(2).is_some() {
        let group = ctx.node.attrs.int_or("group", 1).unwrap_or(1);
        let bias_ok = axis == 0 || group == 1 || !ctx.options.per_channel;
        ins.push(if bias_ok { In::Bias { x: 0, w: 1 } } else { In::Keep });
    }
    Action::Quantize { inputs: keep_rest(ins, ctx.n_inputs()), outputs: vec![Out::Activation] }
}

fn gemm(ctx: &NodeCtx) -> Action {
    let trans_b = ctx.node.attrs.int_or("transB", 0).unwrap_or(0) != 0;
    let w = ctx.constant(1);
    let mut ins = vec![In::Activation, In::Weight { axis: axis_if_per_channel(ctx, w, if trans_b { 0 } else { 1 }) }];
    if ctx.node.input(2).is_some() {
        // The int32 bias form needs alpha = 1 (the accumulator's scale is then s_a·s_b) and a
        // 1-D C of N values; beta is folded into the bias when the graph is rewritten.
        let alpha = ctx.node.attrs.float_or("alpha", 1.0).unwrap_or(1.0);
        let n = w.and_then(|t| (t.rank() == 2).then(|| t.shape()[if trans_b { 0 } else { 1 }]));
        let c_ok = ctx.constant(2).is_some_and(|c| c.rank() == 1 && Some(c.len()) == n);
        ins.push(if alpha == 1.0 && c_ok { In::Bias { x: 0, w: 1 } } else { In::Keep });
    }
    Action::Quantize { inputs: keep_rest(ins, ctx.n_inputs()), outputs: vec![Out::Activation] }
}

fn matmul(ctx: &NodeCtx) -> Action {
    let b = ctx.constant(1);
    let b_role = match b {
        // A constant B `[..., K, N]`: a weight, per column on the last axis (§6).
        Some(t) if t.rank() >= 2 => In::Weight { axis: axis_if_per_channel(ctx, Some(t), t.rank() - 1) },
        _ => In::Activation,
    };
    Action::Quantize { inputs: vec![In::Activation, b_role], outputs: vec![Out::Activation] }
}

fn binary(ctx: &NodeCtx) -> Action {
    if ctx.n_inputs() != 2 {
        return Action::Float(format!("{} with {} inputs", ctx.node.op_type, ctx.n_inputs()));
    }
    Action::Quantize { inputs: vec![In::Activation, In::Activation], outputs: vec![Out::Activation] }
}

fn concat(ctx: &NodeCtx) -> Action {
    Action::Quantize { inputs: vec![In::Activation; ctx.n_inputs()], outputs: vec![Out::ShareInputs] }
}

fn unary(ctx: &NodeCtx) -> Action {
    Action::Quantize { inputs: keep_rest(vec![In::Activation], ctx.n_inputs()), outputs: vec![Out::Activation] }
}

/// AveragePool: an average lies inside its window's range (with zero, which every quantized
/// range contains, for padded windows), so the output shares the input's parameters, as
/// onnxruntime's QDQ AveragePool does (`QDQDirect8BitOp`). Calibrated on its own, the output's
/// range is that of the calibration images' averages, and a new image's larger averages were
/// clipped: on a ResNet-50-class classifier, whose 7×7 pool feeds the classifier, that lost
/// 3 dB of output SQNR. GlobalAveragePool keeps its own parameters, as in onnxruntime (measured on
/// EfficientNet-Lite0 and PP-LCNet: sharing there moves their figures by less than 0.1 dB, either way).
fn average_pool(_ctx: &NodeCtx) -> Action {
    Action::ShareInput
}

fn softmax(_ctx: &NodeCtx) -> Action {
    // onnxruntime fixes Softmax's output range to [0, 1] (base_quantizer.adjust_tensor_ranges).
    Action::Quantize { inputs: vec![In::Activation], outputs: vec![Out::Fixed(Range { min: 0.0, max: 1.0 })] }
}

fn share_input(_ctx: &NodeCtx) -> Action {
    Action::ShareInput
}

fn max_pool(ctx: &NodeCtx) -> Action {
    if ctx.node.output(1).is_some() {
        return Action::Float("MaxPool with an Indices output".into());
    }
    Action::ShareInput
}

fn resize(ctx: &NodeCtx) -> Action {
    match ctx.node.attrs.string_or("mode", "nearest") {
        Ok("nearest") => Action::ShareInput,
        Ok(mode) => Action::Float(format!("Resize mode '{mode}' interpolates (only 'nearest' stays quantized)")),
        Err(e) => Action::Float(e.to_string()),
    }
}

fn relu(_ctx: &NodeCtx) -> Action {
    Action::Fold { lo: 0.0, hi: f32::INFINITY }
}

fn clip(ctx: &NodeCtx) -> Action {
    // Opset 11+: min and max are optional inputs; before: attributes.
    let bound = |i: usize, attr: &str, default: f32| -> Option<f32> {
        match ctx.node.input(i) {
            Some(_) => {
                let t = ctx.constant(i)?;
                (t.len() == 1 && t.dtype() == DType::F32).then(|| t.to_f32_vec()[0])
            }
            None => ctx.node.attrs.float(attr).ok().map(|v| v.unwrap_or(default)),
        }
    };
    match (bound(1, "min", f32::NEG_INFINITY), bound(2, "max", f32::INFINITY)) {
        (Some(lo), Some(hi)) if lo <= hi => Action::Fold { lo, hi },
        // Bounds computed at run time: quantize around it, as any unary op.
        _ => Action::Quantize { inputs: keep_rest(vec![In::Activation], ctx.n_inputs()), outputs: vec![Out::Activation] },
    }
}
