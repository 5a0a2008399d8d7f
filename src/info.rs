//! A model summary (what `webptq inspect` prints and `model.info()` returns): inputs and outputs
//! with dtypes and shapes, op counts, parameters (initializers and the tensors of Constant
//! nodes, where some exporters keep every weight), opsets and unsupported ops.
use crate::error::UnsupportedOp;
use crate::graph::{Attr, Dim, Graph, Model};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct ValueSummary {
    pub name: String,
    /// onnxruntime-web type name ("float32", ...), or null when the model does not declare it.
    #[serde(rename = "type")]
    pub dtype: Option<String>,
    /// Numbers for fixed dims, strings for symbolic ones, null for unknown; null if undeclared.
    pub shape: Option<Vec<Dim>>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub ir_version: i64,
    pub opset: i64,
    pub opsets: BTreeMap<String, i64>,
    pub producer: String,
    pub inputs: Vec<ValueSummary>,
    pub outputs: Vec<ValueSummary>,
    pub node_count: usize,
    pub op_counts: BTreeMap<String, usize>,
    pub parameter_count: usize,
    pub parameter_bytes: usize,
    /// The nodes this build cannot run, as "Op (node 'name')" for display.
    pub unsupported_ops: Vec<String>,
    /// The same nodes as fields (`{ opType, domain, node }`), for programs.
    pub unsupported: Vec<UnsupportedOp>,
}

pub fn model_info(model: &Model) -> ModelInfo {
    let g = &model.graph;
    let summary = |id: usize| {
        let v = g.value(id);
        ValueSummary { name: v.name.clone(), dtype: v.dtype.map(|d| d.js_name().to_string()), shape: v.shape.clone() }
    };
    let mut op_counts = BTreeMap::new();
    for n in &g.nodes {
        let key = if n.domain.is_empty() || n.domain == "ai.onnx" { n.op_type.clone() } else { format!("{}.{}", n.domain, n.op_type) };
        *op_counts.entry(key).or_insert(0) += 1;
    }
    let unsupported = crate::ops::Registry::standard().unsupported(g);
    ModelInfo {
        ir_version: model.ir_version,
        opset: model.opset(),
        opsets: model
            .opset_imports
            .iter()
            .map(|o| (if o.domain.is_empty() { "ai.onnx".to_string() } else { o.domain.clone() }, o.version))
            .collect(),
        producer: format!("{} {}", model.producer_name, model.producer_version).trim().to_string(),
        inputs: g.inputs.iter().map(|&i| summary(i)).collect(),
        outputs: g.outputs.iter().map(|&i| summary(i)).collect(),
        node_count: g.nodes.len(),
        op_counts,
        parameter_count: g.initializers.values().map(|t| t.len()).sum::<usize>() + constant_nodes(g).map(|(n, _)| n).sum::<usize>(),
        parameter_bytes: g.parameter_bytes() + constant_nodes(g).map(|(_, b)| b).sum::<usize>(),
        unsupported_ops: unsupported.iter().map(|u| u.to_string()).collect(),
        unsupported,
    }
}

/// `(elements, bytes)` of the value of each default-domain Constant node (`value`, or a
/// `value_float(s)` / `value_int(s)` list; strings and sparse values count nothing).
fn constant_nodes(g: &Graph) -> impl Iterator<Item = (usize, usize)> + '_ {
    g.nodes.iter().filter(|n| n.op_type == "Constant" && crate::graph::normalize_domain(&n.domain).is_empty()).filter_map(|n| {
        n.attrs.0.values().find_map(|a| match a {
            Attr::Tensor(t) => Some((t.len(), t.size_in_bytes())),
            Attr::Float(_) => Some((1, 4)),
            Attr::Int(_) => Some((1, 8)),
            Attr::Floats(v) => Some((v.len(), 4 * v.len())),
            Attr::Ints(v) => Some((v.len(), 8 * v.len())),
            _ => None,
        })
    })
}
