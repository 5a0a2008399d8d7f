//! Static quantization written in QDQ form (onnxruntime's `QuantFormat.QDQ`): the float ops stay,
//! every quantized activation passes through a QuantizeLinear → DequantizeLinear pair, weights are
//! stored as int8 with a DequantizeLinear (with `axis` when per channel, docs/quantization.md §6),
//! biases as int32 with scale `s_x · s_w` and a DequantizeLinear (§7). A runtime that knows the
//! patterns (`DQ → Conv → Q`, ...) runs them as integer kernels; any runtime can run the file.
//!
//! [`Builder`] holds what both static formats share (weight, bias and parameter initializers,
//! Q/DQ nodes, the opset upgrade); [`rewrite`] is the QDQ form, `qoperator.rs` the other.
use super::options::{QType, QuantOptions};
use super::params::QParams;
use super::plan::{Decision, QuantPlan};
use super::registry::In;
use super::weights::{quantize_bias, quantize_weight};
use crate::error::{Error, Result};
use crate::passes;
use crate::graph::{Attr, Attrs, Dim, Graph, Model, Node, OpsetId, ValueId};
use crate::quant_math;
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// One quantized weight, for the report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightInfo {
    /// The float initializer's name.
    pub name: String,
    /// The node that reads it (the first, if several do).
    pub node: String,
    pub shape: Vec<usize>,
    pub params: QParams,
    /// SQNR of the dequantized weight against the float one, in dB (None: exact).
    pub sqnr_db: Option<f64>,
    /// Bytes of the float tensor and of the integer tensor with its scales and zero points.
    pub float_bytes: usize,
    pub quantized_bytes: usize,
}

/// How to compare a value of the quantized model with its float twin: `quantized` names the
/// value that carries it; `params` is set when that value holds integers (QOperator form) and
/// must be dequantized first.
#[derive(Debug, Clone, PartialEq)]
pub struct Twin {
    pub float: String,
    pub quantized: String,
    pub params: Option<QParams>,
}

/// What a rewrite produces besides the model.
#[derive(Debug, Clone, Default)]
pub struct RewriteInfo {
    pub weights: Vec<WeightInfo>,
    pub twins: Vec<Twin>,
    /// Notes per node index (bias saturation, bias left float, ...).
    pub notes: BTreeMap<usize, Vec<String>>,
}

/// SQNR in dB of `approx` against `reference`: `10 log10(Σ x² / Σ (x − x̂)²)`; None when the
/// error is zero. A zero reference with a nonzero error gives -200 (the floor of the scale).
pub fn sqnr_db(signal: f64, noise: f64) -> Option<f64> {
    if noise <= 0.0 {
        return None;
    }
    if signal <= 0.0 {
        return Some(-200.0);
    }
    Some((10.0 * (signal / noise).log10()).clamp(-200.0, 200.0))
}

/// Σ x² and Σ (x − y)² of two equally long slices, in f64.
pub fn signal_noise(x: &[f32], y: &[f32]) -> (f64, f64) {
    x.iter().zip(y).fold((0.0, 0.0), |(s, n), (&a, &b)| {
        let (a, b) = (a as f64, b as f64);
        (s + a * a, n + (a - b) * (a - b))
    })
}

/// A quantized constant's initializers: (integers, scale, zero point) and its parameters.
pub(crate) type QuantizedInits = (ValueId, ValueId, ValueId, QParams);
/// A quantized bias's initializers: (int32 values, scale, zero point) and its DequantizeLinear axis.
pub(crate) type BiasInits = (ValueId, ValueId, ValueId, Option<usize>);

/// Builds the initializers and Q/DQ nodes of a static export over a copy of the prepared graph.
pub(crate) struct Builder<'a> {
    pub g: Graph,
    pub plan: &'a QuantPlan,
    pub params: &'a HashMap<ValueId, QParams>,
    pub options: &'a QuantOptions,
    /// (float weight, axis) → (integer initializer, scale, zero point, params).
    weights: HashMap<(ValueId, Option<usize>), QuantizedInits>,
    weight_dq: HashMap<(ValueId, Option<usize>), ValueId>,
    /// Group representative → (scale, zero point) initializers.
    act_params: HashMap<ValueId, (ValueId, ValueId)>,
    /// Quantized constants (activation role) → integer initializer.
    const_q: HashMap<ValueId, ValueId>,
    pub info: RewriteInfo,
    /// Lowest default-domain opset the rewritten graph needs (13 once a DequantizeLinear has an
    /// axis, §6).
    pub min_opset: i64,
}

impl<'a> Builder<'a> {
    pub fn new(model: &Model, plan: &'a QuantPlan, params: &'a HashMap<ValueId, QParams>, options: &'a QuantOptions) -> Self {
        Builder {
            g: model.graph.clone(),
            plan,
            params,
            options,
            weights: HashMap::new(),
            weight_dq: HashMap::new(),
            act_params: HashMap::new(),
            const_q: HashMap::new(),
            info: RewriteInfo::default(),
            min_opset: 10,
        }
    }

    fn shape_of(&self, v: ValueId) -> Option<Vec<Dim>> {
        self.g.values[v].shape.clone()
    }

    /// A new initializer (name made unique).
    pub fn init(&mut self, name: &str, t: Tensor) -> ValueId {
        let shape = t.shape().iter().map(|&d| Dim::Fixed(d)).collect();
        let id = self.g.add_value(name, Some(t.dtype()), Some(shape));
        self.g.initializers.insert(id, Arc::new(t));
        id
    }

    /// A new value with the dtype given and the shape of `like`.
    pub fn value_like(&mut self, name: &str, dtype: DType, like: ValueId) -> ValueId {
        let shape = self.shape_of(like);
        self.g.add_value(name, Some(dtype), shape)
    }

    pub fn node(&self, op: &str, name: &str, inputs: Vec<ValueId>, outputs: Vec<ValueId>, attrs: Attrs) -> Node {
        Node {
            name: name.to_string(),
            op_type: op.to_string(),
            domain: String::new(),
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: outputs.into_iter().map(Some).collect(),
            attrs,
        }
    }

    pub fn name(&self, v: ValueId) -> String {
        self.g.value_name(v).to_string()
    }

    /// The (scale, zero point) initializers of an activation's parameter group.
    pub fn act_param_inits(&mut self, v: ValueId) -> Result<(ValueId, ValueId, QParams)> {
        let p = self.act_params_of(v)?;
        let root = self.plan.group(v);
        if let Some(&(s, z)) = self.act_params.get(&root) {
            return Ok((s, z, p));
        }
        let base = self.name(root);
        let s = self.init(&format!("{base}_scale"), p.scale_tensor()?);
        let z = self.init(&format!("{base}_zero_point"), p.zero_point_tensor()?);
        self.act_params.insert(root, (s, z));
        Ok((s, z, p))
    }

    pub fn act_params_of(&self, v: ValueId) -> Result<QParams> {
        self.params.get(&v).cloned().ok_or_else(|| {
            Error::internal(format!("no quantization parameters for '{}'", self.g.value_name(v)))
        })
    }

    /// The integer initializer of a constant quantized as an activation (per tensor, its group's
    /// parameters).
    pub fn const_quantized(&mut self, v: ValueId) -> Result<ValueId> {
        if let Some(&q) = self.const_q.get(&v) {
            return Ok(q);
        }
        let p = self.act_params_of(v)?;
        let t = self.g.initializers[&v].clone();
        let name = self.name(v);
        let vals = t.to_f32_vec();
        if let Some(x) = vals.iter().find(|x| !x.is_finite()) {
            return Err(Error::InvalidModel(format!(
                "constant '{name}' contains {x}: NaN or infinite values cannot be quantized"
            )));
        }
        let (s, z) = (p.scale0(), p.zero_point0());
        let q = match p.dtype {
            QType::U8 => Tensor::from_vec(t.shape(), vals.iter().map(|&x| quant_math::quantize::<u8>(x, s, z)).collect())?,
            QType::I8 => Tensor::from_vec(t.shape(), vals.iter().map(|&x| quant_math::quantize::<i8>(x, s, z)).collect())?,
        };
        let id = self.init(&format!("{name}_quantized"), q);
        self.const_q.insert(v, id);
        Ok(id)
    }

    /// Quantizes a weight once per (weight, axis): (integer, scale, zero point, params).
    pub fn weight(&mut self, w: ValueId, axis: Option<usize>, reader: &str) -> Result<QuantizedInits> {
        if let Some(e) = self.weights.get(&(w, axis)) {
            return Ok(e.clone());
        }
        let t = self.g.initializers[&w].clone();
        let name = self.name(w);
        let q = quantize_weight(&name, &t, axis, self.options.weight_type, self.options.reduce_range)?;
        let deq = q.dequantize();
        let (s, n) = signal_noise(&t.to_f32_vec(), &deq);
        let qid = self.init(&format!("{name}_quantized"), q.tensor.clone());
        let sid = self.init(&format!("{name}_scale"), q.params.scale_tensor()?);
        let zid = self.init(&format!("{name}_zero_point"), q.params.zero_point_tensor()?);
        self.info.weights.push(WeightInfo {
            name: name.clone(),
            node: reader.to_string(),
            shape: t.shape().to_vec(),
            params: q.params.clone(),
            sqnr_db: sqnr_db(s, n),
            float_bytes: t.size_in_bytes(),
            quantized_bytes: q.tensor.size_in_bytes() + q.params.scale.len() * 5,
        });
        let e = (qid, sid, zid, q.params);
        self.weights.insert((w, axis), e.clone());
        Ok(e)
    }

    /// A DequantizeLinear of a weight (shared by every reader with the same axis).
    pub fn weight_dq(&mut self, w: ValueId, axis: Option<usize>, reader: &str, prelude: &mut Vec<Node>) -> Result<ValueId> {
        if let Some(&d) = self.weight_dq.get(&(w, axis)) {
            return Ok(d);
        }
        let (q, s, z, _) = self.weight(w, axis, reader)?;
        let out = self.dequantize_constant(w, [q, s, z], axis, prelude);
        self.weight_dq.insert((w, axis), out);
        Ok(out)
    }

    /// A DequantizeLinear of the quantized constant `[q, scale, zero point]` standing for the float
    /// value `v` (per-channel along `axis` when given, which needs opset 13); returns its output.
    pub fn dequantize_constant(&mut self, v: ValueId, qsz: [ValueId; 3], axis: Option<usize>, prelude: &mut Vec<Node>) -> ValueId {
        let name = self.name(v);
        let out = self.value_like(&format!("{name}_DequantizeLinear_Output"), DType::F32, v);
        let mut attrs = Attrs::default();
        if let Some(a) = axis {
            attrs.set("axis", Attr::Int(a as i64));
            self.min_opset = self.min_opset.max(13);
        }
        prelude.push(self.node("DequantizeLinear", &format!("{name}_DequantizeLinear"), qsz.to_vec(), vec![out], attrs));
        out
    }

    /// The int32 bias of node `i` (inputs `x`, `w` per the role), with its scale initializer and
    /// axis. `beta` multiplies the float bias first (Gemm). None (with a note) when it cannot be
    /// stored as int32; then the bias stays float.
    pub fn bias(&mut self, i: usize, j: usize, x: usize, w: usize, beta: f32) -> Result<Option<BiasInits>> {
        let node = self.g.nodes[i].clone();
        let (Some(b), Some(xv), Some(wv)) = (node.input(j), node.input(x), node.input(w)) else { return Ok(None) };
        let In::Weight { axis } = self.plan_role(i, w) else { return Ok(None) };
        let (_, _, _, wp) = self.weight(wv, axis, &node.label())?;
        let xp = self.act_params_of(xv)?;
        let mut bt = (*self.g.initializers[&b]).clone();
        if beta != 1.0 {
            bt = Tensor::from_vec(bt.shape(), bt.to_f32_vec().iter().map(|v| v * beta).collect())?;
        }
        let name = self.name(b);
        match quantize_bias(&name, &bt, xp.scale0(), &wp) {
            Ok(qb) => {
                if qb.saturated > 0 {
                    self.note(i, format!("bias '{name}': {} values clamped to the int32 range", qb.saturated));
                }
                let per_channel = qb.scale.len() > 1;
                let qid = self.init(&format!("{name}_quantized"), qb.tensor);
                let shape: &[usize] = if per_channel { &[qb.scale.len()] } else { &[] };
                let sid = self.init(&format!("{name}_scale"), Tensor::from_vec(shape, qb.scale.clone())?);
                let zid = self.init(&format!("{name}_zero_point"), Tensor::from_vec(shape, vec![0i32; qb.scale.len()])?);
                Ok(Some((qid, sid, zid, per_channel.then_some(0))))
            }
            Err(e @ Error::InvalidModel(_)) => Err(e),
            Err(e) => {
                self.note(i, format!("bias kept float: {e}"));
                Ok(None)
            }
        }
    }

    fn plan_role(&self, i: usize, j: usize) -> In {
        match &self.plan.decisions[i] {
            Decision::Quantized { inputs, .. } => inputs.get(j).copied().unwrap_or(In::Keep),
            _ => In::Keep,
        }
    }

    pub fn note(&mut self, i: usize, s: String) {
        self.info.notes.entry(i).or_default().push(s);
    }

    /// A QuantizeLinear of `v` (float) with its group's parameters; returns the integer value.
    pub fn quantize_node(&mut self, v: ValueId, out_name: &str) -> Result<(Node, ValueId)> {
        let (s, z, p) = self.act_param_inits(v)?;
        let base = self.name(v);
        let q = self.value_like(out_name, p.dtype.dtype(), v);
        Ok((self.node("QuantizeLinear", &format!("{base}_QuantizeLinear"), vec![v, s, z], vec![q], Attrs::default()), q))
    }

    /// A DequantizeLinear of the integers `q` (parameters of `v`'s group) into `out`.
    pub fn dequantize_node(&mut self, v: ValueId, q: ValueId, out: ValueId) -> Result<Node> {
        let (s, z, _) = self.act_param_inits(v)?;
        let base = self.name(v);
        Ok(self.node("DequantizeLinear", &format!("{base}_DequantizeLinear"), vec![q, s, z], vec![out], Attrs::default()))
    }

    /// Finishes: drops what nothing reads, makes node names unique, raises the opset as needed,
    /// names the producer.
    pub fn finish(mut self, model: &Model, extra_domains: &[(&str, i64)]) -> Result<(Model, RewriteInfo)> {
        passes::remove_dead_nodes(&mut self.g);
        passes::unique_node_names(&mut self.g, &model.graph);
        self.g.sort_topologically()?;
        let mut out = Model { graph: self.g, ..model.clone() };
        ensure_opset(&mut out, self.min_opset)?;
        for (d, v) in extra_domains {
            if out.opset_of(d) == 0 {
                out.opset_imports.push(OpsetId { domain: d.to_string(), version: *v });
            }
        }
        out.producer_name = "webptq".into();
        out.producer_version = env!("CARGO_PKG_VERSION").into();
        Ok((out, self.info))
    }
}

/// Makes the default-domain opset at least `need` (13 for per-axis DequantizeLinear, §6): the
/// ops whose definition changed on the way are rewritten by `passes::upgrade_opset`.
pub(crate) fn ensure_opset(model: &mut Model, need: i64) -> Result<()> {
    passes::upgrade_opset(model, need).map(|_| ())
}

/// Rewrites the prepared float model into QDQ form following `plan` and the activations'
/// `params`.
pub fn rewrite(model: &Model, plan: &QuantPlan, params: &HashMap<ValueId, QParams>, options: &QuantOptions) -> Result<(Model, RewriteInfo)> {
    let mut b = Builder::new(model, plan, params, options);
    let original = b.g.nodes.clone();
    let mut prelude: Vec<Node> = Vec::new();
    // Value → what its readers read instead (the DequantizeLinear output).
    let mut rewire: HashMap<ValueId, ValueId> = HashMap::new();
    let graph_outputs: HashSet<ValueId> = b.g.outputs.iter().copied().collect();

    // Q/DQ for quantized activations that no node produces: graph inputs and constants.
    let produced: HashSet<ValueId> = original.iter().flat_map(|n| n.outputs.iter().flatten().copied()).collect();
    for &v in &plan.act {
        if produced.contains(&v) || plan.folded.contains_key(&v) {
            continue;
        }
        let name = b.name(v);
        let dq_out = b.value_like(&format!("{name}_DequantizeLinear_Output"), DType::F32, v);
        if b.g.initializers.contains_key(&v) && !b.g.overridable.contains(&v) {
            let q = b.const_quantized(v)?;
            prelude.push(b.dequantize_node(v, q, dq_out)?);
        } else {
            let (qn, q) = b.quantize_node(v, &format!("{name}_QuantizeLinear_Output"))?;
            prelude.push(qn);
            prelude.push(b.dequantize_node(v, q, dq_out)?);
        }
        rewire.insert(v, dq_out);
        b.info.twins.push(Twin { float: name.clone(), quantized: b.name(dq_out), params: None });
    }

    let mut nodes: Vec<Node> = Vec::new();
    for (i, node) in original.iter().enumerate() {
        let mut node = node.clone();
        match &plan.decisions[i] {
            Decision::Folded { .. } => continue,
            Decision::Quantized { inputs, .. } => {
                let beta = if node.op_type == "Gemm" { node.attrs.float_or("beta", 1.0)? } else { 1.0 };
                for (j, role) in inputs.iter().enumerate() {
                    let Some(v) = node.input(j) else { continue };
                    match *role {
                        In::Weight { axis } => {
                            node.inputs[j] = Some(b.weight_dq(v, axis, &node.label(), &mut prelude)?);
                        }
                        In::Bias { x, w } => {
                            if let Some((q, s, z, axis)) = b.bias(i, j, x, w, beta)? {
                                node.inputs[j] = Some(b.dequantize_constant(v, [q, s, z], axis, &mut prelude));
                                if beta != 1.0 {
                                    node.attrs.set("beta", Attr::Float(1.0));
                                }
                            }
                        }
                        In::Keep | In::Activation => {}
                    }
                }
            }
            Decision::Float(_) => {}
        }
        // Readers of quantized activations read the dequantized values.
        for inp in node.inputs.iter_mut().flatten() {
            if let Some(&d) = rewire.get(inp) {
                *inp = d;
            }
        }
        // A producer whose output was folded writes the activation's output instead.
        let outs: Vec<Option<ValueId>> = node.outputs.iter().map(|o| o.map(|v| plan.resolve_folded(v))).collect();
        node.outputs = outs.clone();
        let mut after = Vec::new();
        for (k, o) in outs.iter().enumerate() {
            let Some(v) = *o else { continue };
            if !plan.act.contains(&v) {
                continue;
            }
            let name = b.name(v);
            if graph_outputs.contains(&v) {
                // The graph output keeps its name and becomes the DequantizeLinear's output.
                let pre = b.value_like(&format!("{name}_prequant"), DType::F32, v);
                node.outputs[k] = Some(pre);
                let (qn, q) = b.quantize_node_from(pre, v, &format!("{name}_QuantizeLinear_Output"))?;
                after.push(qn);
                after.push(b.dequantize_node(v, q, v)?);
                b.info.twins.push(Twin { float: name.clone(), quantized: name, params: None });
            } else {
                let (qn, q) = b.quantize_node(v, &format!("{name}_QuantizeLinear_Output"))?;
                let dq_out = b.value_like(&format!("{name}_DequantizeLinear_Output"), DType::F32, v);
                after.push(qn);
                after.push(b.dequantize_node(v, q, dq_out)?);
                rewire.insert(v, dq_out);
                b.info.twins.push(Twin { float: name, quantized: b.name(dq_out), params: None });
            }
        }
        nodes.push(node);
        nodes.extend(after);
    }
    prelude.extend(nodes);
    b.g.nodes = prelude;
    b.finish(model, &[])
}

impl Builder<'_> {
    /// A QuantizeLinear reading `input` with the parameters of `v`'s group.
    pub fn quantize_node_from(&mut self, input: ValueId, v: ValueId, out_name: &str) -> Result<(Node, ValueId)> {
        let (n, q) = self.quantize_node(v, out_name)?;
        let mut n = n;
        n.inputs[0] = Some(input);
        Ok((n, q))
    }
}
