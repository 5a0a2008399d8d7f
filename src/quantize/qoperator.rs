//! Static quantization written in QOperator form (onnxruntime's `QuantFormat.QOperator`):
//! integer ops carry the quantized tensors between them, QuantizeLinear/DequantizeLinear appear
//! only at the borders with float.
//!
//! | float op | QOperator form |
//! |---|---|
//! | Conv (constant weight) | QLinearConv: uint8 activations with int8 or uint8 weights, or int8 with int8 (onnxruntime CPU's combinations); int32 bias |
//! | MatMul | QLinearMatMul (B per column only when it is 2-D) |
//! | Add, Mul | com.microsoft QLinearAdd, QLinearMul |
//! | GlobalAveragePool | com.microsoft QLinearGlobalAveragePool |
//! | Concat | com.microsoft QLinearConcat |
//! | Sigmoid, LeakyRelu | com.microsoft QLinearSigmoid, QLinearLeakyRelu |
//! | shape ops, MaxPool, Resize (nearest) | the same op on the integers (the parameters are shared) |
//! | Relu, Clip | folded: the producer's output parameters clamp |
//!
//! Quantized nodes without a QLinear form here (Gemm, ConvTranspose, AveragePool, Softmax, an
//! unfolded Relu, ...) are written as in QDQ form, `DequantizeLinear → op → QuantizeLinear`, with
//! their weights stored as integers: onnxruntime fuses such islands (Gemm into QGemm) and any
//! runtime runs them. Float nodes read float values; a quantized value is dequantized for them
//! once, where first needed.
use super::options::QuantOptions;
use super::params::QParams;
use super::plan::{Decision, QuantPlan};
use super::qdq::{Builder, RewriteInfo, Twin};
use super::registry::In;
use crate::error::Result;
use crate::graph::{Attr, Model, Node, ValueId};
use crate::tensor::DType;
use std::collections::{HashMap, HashSet};

const MS: &str = "com.microsoft";

/// The integer op a quantized node becomes, if it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Conv,
    MatMul,
    /// com.microsoft op with inputs `(x, s, z)*` then the output's `(s, z)`.
    Contrib(&'static str),
    Concat,
    /// A data-movement op run on the integers.
    Share,
    /// QDQ island.
    Island,
}

fn kind(node: &Node, inputs: &[In], shares_input: bool) -> Kind {
    if shares_input {
        // AveragePool shares its input's parameters but computes: it has no integer form in the
        // default domain, so it stays an island (DQ → AveragePool → Q, parameters equal).
        return if node.op_type == "AveragePool" { Kind::Island } else { Kind::Share };
    }
    let all_act = |n: usize| inputs.len() == n && inputs.iter().all(|r| *r == In::Activation);
    match node.op_type.as_str() {
        "Conv" if inputs.first() == Some(&In::Activation) && matches!(inputs.get(1), Some(In::Weight { .. })) => {
            // A float bias has no place in QLinearConv.
            if node.input(2).is_some() && !matches!(inputs.get(2), Some(In::Bias { .. })) {
                Kind::Island
            } else {
                Kind::Conv
            }
        }
        "MatMul" if inputs.first() == Some(&In::Activation) => Kind::MatMul,
        "Add" if all_act(2) => Kind::Contrib("QLinearAdd"),
        "Mul" if all_act(2) => Kind::Contrib("QLinearMul"),
        "GlobalAveragePool" if all_act(1) => Kind::Contrib("QLinearGlobalAveragePool"),
        "Sigmoid" if all_act(1) => Kind::Contrib("QLinearSigmoid"),
        "LeakyRelu" if all_act(1) => Kind::Contrib("QLinearLeakyRelu"),
        "Concat" if inputs.iter().all(|r| *r == In::Activation) => Kind::Concat,
        _ => Kind::Island,
    }
}

struct State {
    /// Value → its integer form.
    qform: HashMap<ValueId, ValueId>,
    /// Values available as float.
    fform: HashSet<ValueId>,
}

/// Rewrites the prepared float model into QOperator form following `plan` and `params`.
pub fn rewrite(model: &Model, plan: &QuantPlan, params: &HashMap<ValueId, QParams>, options: &QuantOptions) -> Result<(Model, RewriteInfo)> {
    let mut b = Builder::new(model, plan, params, options);
    let original = b.g.nodes.clone();
    let mut st = State { qform: HashMap::new(), fform: HashSet::new() };
    st.fform.extend(b.g.inputs.iter().copied());
    st.fform.extend(b.g.overridable.iter().copied());
    st.fform.extend(b.g.initializers.keys().copied());
    let mut nodes: Vec<Node> = Vec::new();
    let mut prelude: Vec<Node> = Vec::new();
    let mut uses_ms = false;

    for (i, node) in original.iter().enumerate() {
        let (inputs, shares_input) = match &plan.decisions[i] {
            Decision::Folded { .. } => continue,
            Decision::Float(_) => {
                let mut n = node.clone();
                for inp in n.inputs.iter_mut().flatten() {
                    *inp = ensure_float(&mut b, &mut st, *inp, &mut nodes)?;
                }
                st.fform.extend(n.outputs.iter().flatten().copied());
                nodes.push(n);
                continue;
            }
            Decision::Quantized { inputs, shares_input, .. } => (inputs.clone(), *shares_input),
        };
        let outs: Vec<Option<ValueId>> = node.outputs.iter().map(|o| o.map(|v| plan.resolve_folded(v))).collect();
        let mut k = kind(node, &inputs, shares_input);
        // QLinearMatMul takes a per-column B only when B is 2-D.
        if k == Kind::MatMul {
            if let (Some(In::Weight { axis: Some(_) }), Some(w)) = (inputs.get(1), node.input(1)) {
                if b.g.initializers[&w].rank() != 2 {
                    k = Kind::Island;
                }
            }
        }
        // The integer bias must exist before QLinearConv can be chosen.
        let mut conv_bias = None;
        if k == Kind::Conv {
            if let Some(In::Bias { x, w }) = inputs.get(2).copied() {
                match b.bias(i, 2, x, w, 1.0)? {
                    Some((q, ..)) => conv_bias = Some(q),
                    None => k = Kind::Island,
                }
            }
        }
        let label = node.label();
        match k {
            Kind::Island => {
                let mut n = node.clone();
                let beta = if n.op_type == "Gemm" { n.attrs.float_or("beta", 1.0)? } else { 1.0 };
                for (j, role) in inputs.iter().enumerate() {
                    let Some(v) = n.input(j) else { continue };
                    n.inputs[j] = Some(match *role {
                        In::Weight { axis } => b.weight_dq(v, axis, &label, &mut prelude)?,
                        In::Bias { x, w } => match b.bias(i, j, x, w, beta)? {
                            Some((q, s, z, axis)) => {
                                let out = b.dequantize_constant(v, [q, s, z], axis, &mut prelude);
                                if beta != 1.0 {
                                    n.attrs.set("beta", Attr::Float(1.0));
                                }
                                out
                            }
                            None => ensure_float(&mut b, &mut st, v, &mut nodes)?,
                        },
                        In::Activation => {
                            // The island computes on the quantized values, as in QDQ form.
                            let q = ensure_quant(&mut b, &mut st, v, &mut nodes)?;
                            let name = b.name(v);
                            let out = b.value_like(&format!("{name}_DequantizeLinear_Output"), DType::F32, v);
                            nodes.push(b.dequantize_node(v, q, out)?);
                            out
                        }
                        In::Keep => ensure_float(&mut b, &mut st, v, &mut nodes)?,
                    });
                }
                // An output a Relu/Clip was folded into is only clamped once quantized: the
                // island writes a fresh value, quantized at once; float readers get it back
                // through a DequantizeLinear.
                let mut after = Vec::new();
                for (k, o) in outs.iter().enumerate() {
                    let Some(v) = *o else { continue };
                    if node.output(k) == Some(v) {
                        n.outputs[k] = Some(v);
                        st.fform.insert(v);
                        continue;
                    }
                    let name = b.name(v);
                    let pre = b.value_like(&format!("{name}_prequant"), DType::F32, v);
                    n.outputs[k] = Some(pre);
                    let (qn, q) = b.quantize_node_from(pre, v, &format!("{name}_quantized"))?;
                    after.push(qn);
                    st.qform.insert(v, q);
                }
                nodes.push(n);
                nodes.extend(after);
            }
            Kind::Share => {
                let mut n = node.clone();
                for (j, inp) in n.inputs.iter_mut().enumerate() {
                    let Some(v) = *inp else { continue };
                    *inp = Some(if j == 0 { ensure_quant(&mut b, &mut st, v, &mut nodes)? } else { ensure_float(&mut b, &mut st, v, &mut nodes)? });
                }
                n.outputs = new_quantized_outputs(&mut b, &mut st, &outs)?;
                if n.op_type == "MaxPool" {
                    // MaxPool takes int8/uint8 from opset 12.
                    b.min_opset = b.min_opset.max(12);
                }
                nodes.push(n);
            }
            Kind::Conv | Kind::MatMul | Kind::Contrib(_) | Kind::Concat => {
                let y = outs.first().copied().flatten().unwrap_or_default();
                let (ys, yz, _) = b.act_param_inits(y)?;
                let mut ins: Vec<ValueId> = Vec::new();
                if k == Kind::Concat {
                    ins.extend([ys, yz]);
                }
                let n_data = if k == Kind::Conv || k == Kind::MatMul { 2 } else { inputs.len() };
                for (j, role) in inputs.iter().enumerate().take(n_data) {
                    let v = node.input(j).unwrap_or_default();
                    match *role {
                        In::Weight { axis } => {
                            let (q, s, z, _) = b.weight(v, axis, &label)?;
                            ins.extend([q, s, z]);
                        }
                        _ => {
                            let q = ensure_quant(&mut b, &mut st, v, &mut nodes)?;
                            let (s, z, _) = b.act_param_inits(v)?;
                            ins.extend([q, s, z]);
                        }
                    }
                }
                if k != Kind::Concat {
                    ins.extend([ys, yz]);
                }
                if let Some(bq) = conv_bias {
                    ins.push(bq);
                }
                let (op, domain) = match k {
                    Kind::Conv => ("QLinearConv", ""),
                    Kind::MatMul => ("QLinearMatMul", ""),
                    Kind::Concat => ("QLinearConcat", MS),
                    Kind::Contrib(op) => (op, MS),
                    _ => unreachable!(),
                };
                let mut attrs = node.attrs.clone();
                if op == "QLinearGlobalAveragePool" {
                    attrs.set("channels_last", Attr::Int(0));
                }
                uses_ms |= !domain.is_empty();
                let outputs = new_quantized_outputs(&mut b, &mut st, &outs[..1])?;
                let mut n = b.node(op, &format!("{label}_quant"), ins, vec![], attrs);
                n.outputs = outputs;
                n.domain = domain.to_string();
                nodes.push(n);
            }
        }
    }
    // Graph outputs are float.
    let outputs = b.g.outputs.clone();
    for v in outputs {
        ensure_float(&mut b, &mut st, v, &mut nodes)?;
    }
    let mut twins: Vec<(ValueId, ValueId)> = st.qform.iter().map(|(&v, &q)| (v, q)).collect();
    twins.sort_unstable();
    for (v, q) in twins {
        let p = b.act_params_of(v)?;
        b.info.twins.push(Twin { float: b.name(v), quantized: b.name(q), params: Some(p) });
    }
    prelude.extend(nodes);
    b.g.nodes = prelude;
    let domains: &[(&str, i64)] = if uses_ms { &[(MS, 1)] } else { &[] };
    b.finish(model, domains)
}

fn new_quantized_outputs(b: &mut Builder, st: &mut State, outs: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>> {
    outs.iter()
        .map(|o| {
            let Some(v) = *o else { return Ok(None) };
            let p = b.act_params_of(v)?;
            let name = b.name(v);
            let q = b.value_like(&format!("{name}_quantized"), p.dtype.dtype(), v);
            st.qform.insert(v, q);
            Ok(Some(q))
        })
        .collect()
}

/// `v` as float: itself when some node (or the graph) provides it as float, else dequantized
/// from its integer form into `v`.
fn ensure_float(b: &mut Builder, st: &mut State, v: ValueId, nodes: &mut Vec<Node>) -> Result<ValueId> {
    if st.fform.contains(&v) {
        return Ok(v);
    }
    if let Some(&q) = st.qform.get(&v) {
        nodes.push(b.dequantize_node(v, q, v)?);
    }
    st.fform.insert(v);
    Ok(v)
}

/// `v` as integers: its integer form, a quantized constant, or a QuantizeLinear of the float.
fn ensure_quant(b: &mut Builder, st: &mut State, v: ValueId, nodes: &mut Vec<Node>) -> Result<ValueId> {
    if let Some(&q) = st.qform.get(&v) {
        return Ok(q);
    }
    let q = if b.g.initializers.contains_key(&v) && !b.g.overridable.contains(&v) {
        b.const_quantized(v)?
    } else {
        let name = b.name(v);
        let (n, q) = b.quantize_node(v, &format!("{name}_quantized"))?;
        nodes.push(n);
        q
    };
    st.qform.insert(v, q);
    Ok(q)
}
