//! Dynamic quantization: int8 weights stored in the file, activations quantized at run time.
//! No calibration data; a pure graph rewrite.
//!
//! Each float MatMul / Gemm with a constant 2-D weight, and each Conv with a constant weight,
//! becomes (`x` the float activation, `W` the weight, `b` an optional bias):
//!
//! ```text
//! x ─DynamicQuantizeLinear─▶ x_q (uint8), x_scale, x_zp          (one per activation, shared)
//! MatMulInteger(x_q, W_q, x_zp, W_zp) or ConvInteger(...) ─▶ acc (int32)
//! Cast(acc → float) · (x_scale · W_scale) (+ b) ─▶ y
//! ```
//!
//! which is docs/quantization.md §8 with the requantization replaced by a float multiply: the
//! int32 accumulator `Σ (x_q − z_x)(W_q − z_W)` times `s_x · s_W` is the float product. Weights
//! are symmetric (§3, §5) and per output channel by default (§6): per column of `[K, N]` for
//! MatMul and Gemm, per output channel for Conv. `W_scale` is then a vector that broadcasts over
//! the output's last axis (MatMul, Gemm) or is shaped `[M, 1, …]` (Conv).
//!
//! Only type combinations onnxruntime's CPU provider implements are emitted: DynamicQuantizeLinear
//! gives uint8 activations; MatMulInteger runs uint8 A with int8 or uint8 B (zero point of B per
//! tensor or per column); ConvInteger runs uint8 X with int8 or uint8 W but only a per-tensor
//! `w_zero_point`. Symmetric weights have one zero point for every channel (0 for int8, 128 for
//! uint8), so per-channel scales need only a scalar zero point and work with both ops.
//!
//! Embedding tables (constant float32 Gather data of rank ≥ 2) are stored int8 too, per column
//! of their last axis, and dequantized after the Gather (see `weight_only`, which shares this).
//!
//! What stays float: MatMul between two activations (attention scores), Gemm with `transA`, ops
//! whose weight is not a constant float32 tensor or whose activation is not float32, excluded
//! nodes and op types, and every other op.
use super::edit::{base_name, emit_bias, f32_weight, gemm_parts, is_f32_or_unknown, node, tensor_decision, BiasInput, Edit, Log, Outcome};
use super::report::TensorDecision;
use super::options::{QType, QuantMode, QuantOptions};
use super::qdq::ensure_opset;
use super::weight_only::gather_node;
use super::weights::{quantize_weight, QuantizedWeight};
use crate::error::{Error, Result};
use crate::graph::{Attr, Model, Node, ValueId};
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;

/// The dynamically quantized model; see the module docs. Reads `per_channel`, `weight_type`,
/// `reduce_range`, `exclude_nodes` and `exclude_op_types` from `options` (the mode field is not
/// consulted: this function is the dynamic mode).
pub fn quantize_dynamic(model: &Model, options: &QuantOptions) -> Result<Model> {
    rewrite(model, options).map(|o| o.model)
}

/// [`quantize_dynamic`] with every node's decision and each weight's parameters, for the report.
pub fn rewrite(model: &Model, options: &QuantOptions) -> Result<Outcome> {
    let options = QuantOptions { mode: QuantMode::Dynamic, ..options.clone() };
    options.validate()?;
    // DynamicQuantizeLinear exists from opset 11: older models are raised to it first, the ops
    // whose definition changed on the way rewritten (as static quantization does for opset 13).
    let mut raised = model.clone();
    if model.opset() < 11 {
        ensure_opset(&mut raised, 11).map_err(|e| {
            Error::model(format!("dynamic quantization needs ONNX opset 11 or later (DynamicQuantizeLinear): {e}"))
        })?;
    }
    let model = &raised;
    let opset = model.opset();
    let mut edit = Edit::new(&model.graph);
    let mut state = State { options: &options, activations: HashMap::new(), weights: HashMap::new(), log: Log::default() };
    let mut nodes = Vec::with_capacity(model.graph.nodes.len());
    for n in &model.graph.nodes {
        if !n.domain.is_empty() || options.excludes(&n.name, &n.op_type) {
            let why = if n.domain.is_empty() { "excluded by excludeNodes / excludeOpTypes" } else { "not an ONNX-domain op" };
            state.log.float(n, why);
            nodes.push(n.clone());
            continue;
        }
        // Embedding tables: int8 rows gathered, then dequantized (as onnxruntime's dynamic mode does).
        if n.op_type == "Gather" {
            if !gather_node(&mut edit, n, &options, opset >= 13, &mut nodes, &mut state.log)? {
                state.log.float(n, "not an embedding lookup (the data is not a constant float32 tensor of rank >= 2)");
                nodes.push(n.clone());
            }
            continue;
        }
        let target = match n.op_type.as_str() {
            "MatMul" => matmul_target(&edit, n),
            "Gemm" => gemm_target(&edit, n)?,
            "Conv" => conv_target(&edit, n)?,
            _ => {
                state.log.float(n, "dynamic mode quantizes MatMul, Gemm, Conv and Gather (embedding) weights only");
                nodes.push(n.clone());
                continue;
            }
        };
        match target {
            Some(t) => state.emit(&mut edit, n, t, &mut nodes)?,
            None => {
                state.log.float(
                    n,
                    "no constant float32 weight of a supported shape, a non-float32 input, Gemm with transA, \
                     or a bias that is not float32 (activation x activation products stay float)",
                );
                nodes.push(n.clone());
            }
        }
    }
    let Log { nodes: decisions, weights } = state.log;
    Ok(Outcome { model: edit.finish(model, nodes, &[])?, nodes: decisions, weights })
}

/// What a quantizable node computes, in a form the emitter understands.
struct Target {
    /// The float activation.
    x: ValueId,
    /// Where the weight came from (for sharing one quantized copy), and whether it was transposed.
    w_source: (ValueId, bool),
    /// The weight as the integer op reads it: `[K, N]` for MatMulInteger, `[M, C/g, k…]` for ConvInteger.
    w: Tensor,
    /// The float multiplier folded into the scale (Gemm's `alpha`).
    alpha: f32,
    bias: Option<BiasInput>,
    conv: Option<Vec<(String, Attr)>>,
    /// The replaced node's output.
    y: ValueId,
}

fn matmul_target(edit: &Edit, n: &Node) -> Option<Target> {
    let (x, w_id, y) = (n.input(0)?, n.input(1)?, n.output(0)?);
    let w = f32_weight(edit, w_id)?;
    if w.rank() != 2 || !is_f32_or_unknown(&edit.graph, x) {
        return None;
    }
    Some(Target { x, w_source: (w_id, false), w, alpha: 1.0, bias: None, conv: None, y })
}

fn gemm_target(edit: &Edit, n: &Node) -> Result<Option<Target>> {
    Ok(gemm_parts(edit, n)?.map(|g| Target {
        x: g.x,
        w_source: g.w_source,
        w: g.w,
        alpha: g.alpha,
        bias: g.bias,
        conv: None,
        y: g.y,
    }))
}

fn conv_target(edit: &Edit, n: &Node) -> Result<Option<Target>> {
    let (Some(x), Some(w_id), Some(y)) = (n.input(0), n.input(1), n.output(0)) else { return Ok(None) };
    let Some(w) = f32_weight(edit, w_id) else { return Ok(None) };
    if w.rank() < 3 || !is_f32_or_unknown(&edit.graph, x) {
        return Ok(None);
    }
    let m = w.shape()[0];
    let bias = match n.input(2) {
        None => None,
        Some(b) => match edit.constant(b) {
            // [M] → [M, 1, …] so it broadcasts over the spatial dims of [N, M, …].
            Some(t) if t.dtype() == DType::F32 && t.len() == m => {
                let mut shape = vec![m];
                shape.extend(std::iter::repeat_n(1, w.rank() - 2));
                Some(BiasInput::Constant(Tensor::from_vec(&shape, t.to_f32_vec())?))
            }
            _ => return Ok(None),
        },
    };
    let attrs = n.attrs.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    Ok(Some(Target { x, w_source: (w_id, false), w, alpha: 1.0, bias, conv: Some(attrs), y }))
}

/// The run-time quantized form of an activation.
#[derive(Clone, Copy)]
struct DynamicActivation {
    q: ValueId,
    scale: ValueId,
    zero_point: ValueId,
}

/// A weight quantized once, shared by every node that reads it.
#[derive(Clone)]
struct SharedWeight {
    q: ValueId,
    zero_point: ValueId,
    scale: Vec<f32>,
    decision: TensorDecision,
}

struct State<'a> {
    options: &'a QuantOptions,
    activations: HashMap<ValueId, DynamicActivation>,
    weights: HashMap<(ValueId, bool), SharedWeight>,
    log: Log,
}

impl State<'_> {
    fn activation(&mut self, edit: &mut Edit, x: ValueId, nodes: &mut Vec<Node>) -> DynamicActivation {
        if let Some(a) = self.activations.get(&x) {
            return *a;
        }
        let base = edit.name(x).to_string();
        let a = DynamicActivation {
            q: edit.value(&format!("{base}_quantized"), DType::U8),
            scale: edit.value(&format!("{base}_scale"), DType::F32),
            zero_point: edit.value(&format!("{base}_zero_point"), DType::U8),
        };
        nodes.push(node(
            "DynamicQuantizeLinear",
            "",
            format!("{base}_DynamicQuantizeLinear"),
            &[Some(x)],
            &[a.q, a.scale, a.zero_point],
            vec![],
        ));
        self.activations.insert(x, a);
        a
    }

    fn weight(&mut self, edit: &mut Edit, n: &Node, t: &Target, conv: bool) -> Result<SharedWeight> {
        if let Some(w) = self.weights.get(&t.w_source) {
            return Ok(w.clone());
        }
        let name = edit.name(t.w_source.0).to_string();
        let o = self.options;
        // §6: per output channel; MatMulInteger's B is [K, N] (axis 1), ConvInteger's W [M, …] (axis 0).
        let axis = if conv { 0 } else { 1 };
        let quantize = |axis: Option<usize>| quantize_weight(&name, &t.w, axis, o.weight_type, o.reduce_range);
        let mut qw: QuantizedWeight = quantize(o.per_channel.then_some(axis))?;
        let uniform_zp = qw.params.zero_point.iter().all(|&z| z == qw.params.zero_point[0]);
        if conv && !uniform_zp {
            // onnxruntime's ConvInteger takes one weight zero point only.
            qw = quantize(None)?;
        }
        let zp = if uniform_zp || conv { scalar_zero_point(qw.params.zero_point[0], o.weight_type) } else { qw.params.zero_point_tensor()? };
        let decision = self.log.weight(&name, n, &t.w, &qw);
        let shared = SharedWeight {
            decision,
            q: edit.initializer(&format!("{name}_quantized"), qw.tensor),
            zero_point: edit.initializer(&format!("{name}_zero_point"), zp),
            scale: qw.params.scale,
        };
        self.weights.insert(t.w_source, shared.clone());
        Ok(shared)
    }

    fn emit(&mut self, edit: &mut Edit, n: &Node, t: Target, nodes: &mut Vec<Node>) -> Result<()> {
        let base = base_name(&edit.graph, n);
        let conv = t.conv.is_some();
        let x = self.activation(edit, t.x, nodes);
        let w = self.weight(edit, n, &t, conv)?;
        let (op, b_type) = (if conv { "ConvInteger" } else { "MatMulInteger" }, self.options.weight_type.name());
        let mut inputs = vec![tensor_decision(&edit.graph, t.x, "activation"), w.decision.clone()];
        if let Some(BiasInput::Value(c, _)) = &t.bias {
            inputs.push(tensor_decision(&edit.graph, *c, "bias"));
        }
        self.log.quantized(
            n,
            format!("DynamicQuantizeLinear (uint8, at run time) → {op} (uint8 × {b_type} → int32) → float · x_scale · w_scale{}",
                if t.bias.is_some() { " + float bias" } else { "" }),
            inputs,
        );
        let acc = edit.value(&format!("{base}_int32"), DType::I32);
        let inputs = [Some(x.q), Some(w.q), Some(x.zero_point), Some(w.zero_point)];
        nodes.push(match &t.conv {
            Some(attrs) => {
                let attrs = attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                node("ConvInteger", "", format!("{base}_ConvInteger"), &inputs, &[acc], attrs)
            }
            None => node("MatMulInteger", "", format!("{base}_MatMulInteger"), &inputs, &[acc], vec![]),
        });
        let acc_f = edit.value(&format!("{base}_int32_float"), DType::F32);
        nodes.push(node("Cast", "", format!("{base}_Cast"), &[Some(acc)], &[acc_f], vec![("to", Attr::Int(1))]));
        // s_W · alpha, per channel shaped to broadcast over the output ([N] or [M, 1, …]).
        let scales: Vec<f32> = w.scale.iter().map(|&s| s * t.alpha).collect();
        let scale_t = if scales.len() == 1 {
            Tensor::scalar(scales[0])
        } else if conv {
            let mut shape = vec![scales.len()];
            shape.extend(std::iter::repeat_n(1, t.w.rank() - 2));
            Tensor::from_vec(&shape, scales)?
        } else {
            Tensor::from_vec(&[scales.len()], scales)?
        };
        let w_scale_name = format!("{}_scale", edit.name(t.w_source.0));
        let w_scale = edit.initializer(&w_scale_name, scale_t);
        let scale = edit.value(&format!("{base}_scale"), DType::F32);
        nodes.push(node("Mul", "", format!("{base}_scale_Mul"), &[Some(x.scale), Some(w_scale)], &[scale], vec![]));
        let scaled = if t.bias.is_some() { edit.value(&format!("{base}_scaled"), DType::F32) } else { t.y };
        nodes.push(node("Mul", "", format!("{base}_output_Mul"), &[Some(acc_f), Some(scale)], &[scaled], vec![]));
        if let Some(b) = t.bias {
            emit_bias(edit, &base, scaled, b, t.y, nodes);
        }
        Ok(())
    }
}

/// A scalar zero point of the weight type.
fn scalar_zero_point(v: i32, t: QType) -> Tensor {
    match t {
        QType::I8 => Tensor::scalar(crate::quant_math::saturate::<i8>(v as i64)),
        QType::U8 => Tensor::scalar(crate::quant_math::saturate::<u8>(v as i64)),
    }
}
