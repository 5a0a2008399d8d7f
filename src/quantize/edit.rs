//! Small graph-editing helpers shared by the modes that rewrite a float graph without calibration
//! data (`dynamic`, `weight_only`, `fp16`): finding constant weights (initializers or Constant
//! nodes), adding initializers, values and nodes with unique names, and finishing an edited
//! model (dead float weights dropped, opsets imported).
//!
//! A rewrite builds a new node list in the old topological order, replacing one node by a short
//! chain whose last node writes the replaced node's output value, so every consumer downstream is
//! untouched.
use super::qdq::{signal_noise, sqnr_db, WeightInfo};
use super::report::{NodeReport, TensorDecision};
use super::weights::QuantizedWeight;
use crate::error::{Error, Result};
use crate::passes;
use crate::graph::{Attr, Dim, Graph, Model, Node, OpsetId, ValueId};
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// The graph being edited plus what the rewrite needs to look up quickly.
pub(crate) struct Edit {
    pub graph: Graph,
    /// Tensors of Constant nodes (`value` attribute), by output value.
    constant_nodes: HashMap<ValueId, Arc<Tensor>>,
}

impl Edit {
    pub(crate) fn new(graph: &Graph) -> Edit {
        let mut constant_nodes = HashMap::new();
        for n in &graph.nodes {
            if n.op_type == "Constant" && n.domain.is_empty() {
                if let (Ok(Some(t)), Some(out)) = (n.attrs.tensor("value"), n.output(0)) {
                    constant_nodes.insert(out, Arc::new(t.clone()));
                }
            }
        }
        Edit { graph: graph.clone(), constant_nodes }
    }

    /// The constant behind a value: a non-overridable initializer, or a Constant node's tensor.
    /// Initializers that a feed may replace are not constants.
    pub(crate) fn constant(&self, id: ValueId) -> Option<Arc<Tensor>> {
        if self.graph.overridable.contains(&id) {
            return None;
        }
        self.graph.initializers.get(&id).or_else(|| self.constant_nodes.get(&id)).cloned()
    }

    /// A new initializer named after `name` (made unique), with its dtype and shape declared.
    pub(crate) fn initializer(&mut self, name: &str, t: Tensor) -> ValueId {
        let shape = t.shape().iter().map(|&d| Dim::Fixed(d)).collect();
        let id = self.graph.add_value(name, Some(t.dtype()), Some(shape));
        self.graph.initializers.insert(id, Arc::new(t));
        id
    }

    /// A new intermediate value named after `name` (made unique).
    pub(crate) fn value(&mut self, name: &str, dtype: DType) -> ValueId {
        self.graph.add_value(name, Some(dtype), None)
    }

    pub(crate) fn name(&self, id: ValueId) -> &str {
        self.graph.value_name(id)
    }

    /// The edited model: `nodes` replace the graph's nodes (they must be in topological order),
    /// nodes and initializers no output depends on any more are dropped, and `extra_opsets` are
    /// imported (raised to at least the given version).
    pub(crate) fn finish(mut self, model: &Model, nodes: Vec<Node>, extra_opsets: &[(&str, i64)]) -> Result<Model> {
        self.graph.nodes = nodes;
        passes::remove_dead_nodes(&mut self.graph);
        passes::unique_node_names(&mut self.graph, &model.graph);
        // A graph output that was an initializer may have been consumed; keep outputs defined.
        for &o in &self.graph.outputs {
            let produced = self.graph.nodes.iter().any(|n| n.outputs.contains(&Some(o)));
            let given = self.graph.inputs.contains(&o) || self.graph.initializers.contains_key(&o);
            if !produced && !given {
                return Err(Error::internal(format!(
                    "rewrite left graph output '{}' undefined",
                    self.graph.value_name(o)
                )));
            }
        }
        let mut opset_imports = model.opset_imports.clone();
        for &(domain, version) in extra_opsets {
            match opset_imports.iter_mut().find(|o| crate::graph::normalize_domain(&o.domain) == domain) {
                Some(o) => o.version = o.version.max(version),
                None => opset_imports.push(OpsetId { domain: domain.to_string(), version }),
            }
        }
        Ok(Model { opset_imports, graph: self.graph, ..model.clone() })
    }
}

/// A node of the default domain (or `domain`) with `attrs`.
pub(crate) fn node(
    op: &str,
    domain: &str,
    name: String,
    inputs: &[Option<ValueId>],
    outputs: &[ValueId],
    attrs: Vec<(&str, Attr)>,
) -> Node {
    let mut n = Node {
        name,
        op_type: op.to_string(),
        domain: domain.to_string(),
        // Trailing omitted inputs are left out, not written as empty names.
        inputs: inputs[..inputs.iter().rposition(|i| i.is_some()).map_or(0, |p| p + 1)].to_vec(),
        outputs: outputs.iter().map(|&o| Some(o)).collect(),
        attrs: Default::default(),
    };
    for (k, v) in attrs {
        n.attrs.set(k, v);
    }
    n
}

/// A base for the names of what replaces `node`: its name, or its first output's.
pub(crate) fn base_name(g: &Graph, node: &Node) -> String {
    if !node.name.is_empty() {
        node.name.clone()
    } else {
        node.output(0).map(|o| g.value_name(o).to_string()).unwrap_or_else(|| node.op_type.clone())
    }
}

/// `w` (2-D, f32) transposed.
pub(crate) fn transpose_2d(w: &Tensor) -> Result<Tensor> {
    let a = w.array::<f32>()?;
    if a.ndim() != 2 {
        return Err(Error::shape(format!("expected a 2-D weight, got shape {:?}", a.shape())));
    }
    let t = a.t();
    Tensor::from_vec(&[t.shape()[0], t.shape()[1]], t.iter().copied().collect())
}

/// The activation's float32-ness: unknown counts as float32 when the weight is (ONNX makes both
/// operands of MatMul / Gemm / Conv the same type).
pub(crate) fn is_f32_or_unknown(g: &Graph, id: ValueId) -> bool {
    matches!(g.value(id).dtype, None | Some(DType::F32))
}

/// A constant float32 weight with at least one element.
pub(crate) fn f32_weight(edit: &Edit, id: ValueId) -> Option<Tensor> {
    let t = edit.constant(id)?;
    (t.dtype() == DType::F32 && !t.is_empty()).then(|| (*t).clone())
}

/// A bias added after a rewritten product.
pub(crate) enum BiasInput {
    /// A constant, already scaled (`beta`) and shaped to broadcast against the output.
    Constant(Tensor),
    /// A value times `beta`.
    Value(ValueId, f32),
}

/// A Gemm `Y = alpha · A · B' + beta · C` with a constant float32 B, as `Y = alpha · (A · W) + C'`.
pub(crate) struct GemmParts {
    pub x: ValueId,
    /// B as `[K, N]` (transposed when `transB`).
    pub w: Tensor,
    /// B's value and whether it was transposed.
    pub w_source: (ValueId, bool),
    pub alpha: f32,
    pub bias: Option<BiasInput>,
    pub y: ValueId,
}

/// The parts of a Gemm the rewrites handle: `transA = 0`, a constant 2-D float32 B, a float32 A,
/// and a C that is absent, a float32 constant or a value. `None` leaves the node float.
pub(crate) fn gemm_parts(edit: &Edit, n: &Node) -> Result<Option<GemmParts>> {
    let (Some(x), Some(w_id), Some(y)) = (n.input(0), n.input(1), n.output(0)) else { return Ok(None) };
    let a = &n.attrs;
    if a.int_or("transA", 0)? != 0 || !is_f32_or_unknown(&edit.graph, x) {
        return Ok(None);
    }
    let Some(w) = f32_weight(edit, w_id) else { return Ok(None) };
    if w.rank() != 2 {
        return Ok(None);
    }
    let trans_b = a.int_or("transB", 0)? != 0;
    let w = if trans_b { transpose_2d(&w)? } else { w };
    let (alpha, beta) = (a.float_or("alpha", 1.0)?, a.float_or("beta", 1.0)?);
    let bias = match n.input(2) {
        None => None,
        Some(_) if beta == 0.0 => None,
        Some(c) => match edit.constant(c) {
            Some(t) if t.dtype() == DType::F32 => {
                let scaled = t.to_f32_vec().into_iter().map(|v| v * beta).collect();
                Some(BiasInput::Constant(Tensor::from_vec(t.shape(), scaled)?))
            }
            Some(_) => return Ok(None),
            None => Some(BiasInput::Value(c, beta)),
        },
    };
    Ok(Some(GemmParts { x, w, w_source: (w_id, trans_b), alpha, bias, y }))
}

/// `y = scaled + bias` (the bias multiplied by `beta` first when it is a value and `beta != 1`).
pub(crate) fn emit_bias(edit: &mut Edit, base: &str, scaled: ValueId, bias: BiasInput, y: ValueId, nodes: &mut Vec<Node>) {
    let b = match bias {
        BiasInput::Constant(t) => edit.initializer(&format!("{base}_bias"), t),
        BiasInput::Value(c, 1.0) => c,
        BiasInput::Value(c, beta) => {
            let beta_v = edit.initializer(&format!("{base}_beta"), Tensor::scalar(beta));
            let c_scaled = edit.value(&format!("{base}_bias_scaled"), DType::F32);
            nodes.push(node("Mul", "", format!("{base}_beta_Mul"), &[Some(c), Some(beta_v)], &[c_scaled], vec![]));
            c_scaled
        }
    };
    nodes.push(node("Add", "", format!("{base}_bias_Add"), &[Some(scaled), Some(b)], &[y], vec![]));
}

/// What a calibration-free rewrite did: the model, every node's decision, and each quantized
/// int8 weight, in the report's types (`report::NodeReport`, `qdq::WeightInfo`), so
/// [`super::quantize`] can fill a [`super::Report`] for these modes too.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub model: Model,
    pub nodes: Vec<NodeReport>,
    pub weights: Vec<WeightInfo>,
}

/// Collects the decisions while a mode rewrites the graph.
#[derive(Default)]
pub(crate) struct Log {
    pub nodes: Vec<NodeReport>,
    pub weights: Vec<WeightInfo>,
}

impl Log {
    pub(crate) fn float(&mut self, n: &Node, reason: impl Into<String>) {
        self.nodes.push(NodeReport {
            name: n.label(),
            op_type: n.op_type.clone(),
            decision: "float",
            reason: Some(reason.into()),
            inputs: vec![],
            outputs: vec![],
        });
    }

    pub(crate) fn quantized(&mut self, n: &Node, how: impl Into<String>, inputs: Vec<TensorDecision>) {
        self.nodes.push(NodeReport {
            name: n.label(),
            op_type: n.op_type.clone(),
            decision: "quantized",
            reason: Some(how.into()),
            inputs,
            outputs: vec![],
        });
    }

    /// Records a quantized int8 weight (once per name) and returns its decision entry (whose
    /// parameters, as in static mode's report, are listed once, in `weights`).
    pub(crate) fn weight(&mut self, name: &str, reader: &Node, float: &Tensor, q: &QuantizedWeight) -> TensorDecision {
        if !self.weights.iter().any(|w| w.name == name) {
            let (s, n) = signal_noise(&float.to_f32_vec(), &q.dequantize());
            self.weights.push(WeightInfo {
                name: name.to_string(),
                node: reader.label(),
                shape: float.shape().to_vec(),
                params: q.params.clone(),
                sqnr_db: sqnr_db(s, n),
                float_bytes: float.size_in_bytes(),
                quantized_bytes: q.tensor.size_in_bytes() + q.params.scale.len() * 5,
            });
        }
        TensorDecision { name: name.to_string(), role: "weight", params: None }
    }
}

/// A tensor of a quantized node that is not stored as integers: a run-time quantized activation
/// ("activation", no stored parameters), a float bias ("bias") or anything else ("float").
pub(crate) fn tensor_decision(g: &Graph, id: ValueId, role: &'static str) -> TensorDecision {
    TensorDecision { name: g.value_name(id).to_string(), role, params: None }
}
