//! The graph IR: values (named edges with optional dtype and shape), nodes, initializers, and
//! the model around them. One `Graph` type carries float and quantized models alike.
use super::attrs::Attrs;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Index of a value (an edge of the graph) in [`Graph::values`].
pub type ValueId = usize;

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
    Unknown,
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// Formats a declared shape as `[N,3,224,224]`.
pub fn format_dims(dims: &[Dim]) -> String {
    format!("[{}]", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: String,
    pub dtype: Option<DType>,
    pub shape: Option<Vec<Dim>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    /// Empty for the default ONNX domain.
    pub domain: String,
    /// `None` marks an omitted optional input (an empty name in ONNX).
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<Option<ValueId>>,
    pub attrs: Attrs,
}

/// The attribute, set by the loader, that names the values a node's subgraphs (If, Loop and Scan
/// bodies) read from the enclosing graph. Those values are the node's last inputs, after the
/// declared ones, in this order; `save` drops them and the attribute.
pub const OUTER_SCOPE: &str = "__webptq_outer_scope";

impl Node {
    /// The number of inputs the node declares in ONNX (without the outer-scope values its
    /// subgraphs read, see [`OUTER_SCOPE`]).
    pub fn declared_inputs(&self) -> usize {
        let outer = match self.attrs.get(OUTER_SCOPE) {
            Some(super::Attr::Strings(v)) => v.len(),
            _ => 0,
        };
        self.inputs.len().saturating_sub(outer)
    }
    /// The id of input `i`, if present.
    pub fn input(&self, i: usize) -> Option<ValueId> {
        self.inputs.get(i).copied().flatten()
    }
    pub fn output(&self, i: usize) -> Option<ValueId> {
        self.outputs.get(i).copied().flatten()
    }
    /// A label for messages: the node's name, or its op and first output when unnamed.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("<unnamed {}>", self.op_type)
        } else {
            self.name.clone()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub name: String,
    pub values: Vec<Value>,
    /// Kept in topological order by every pass.
    pub nodes: Vec<Node>,
    /// Graph inputs a caller must feed (initializer-backed inputs are in `overridable`).
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    pub initializers: BTreeMap<ValueId, Arc<Tensor>>,
    /// Initializers that the model also declares as graph inputs: a feed may replace them.
    pub overridable: Vec<ValueId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpsetId {
    pub domain: String,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub ir_version: i64,
    pub opset_imports: Vec<OpsetId>,
    pub producer_name: String,
    pub producer_version: String,
    pub doc_string: String,
    pub metadata: Vec<(String, String)>,
    pub graph: Graph,
}

impl Model {
    /// The version of the default ONNX domain ("" or "ai.onnx").
    pub fn opset(&self) -> i64 {
        self.opset_of("")
    }
    /// The imported version of a domain (0 if not imported).
    pub fn opset_of(&self, domain: &str) -> i64 {
        let want = normalize_domain(domain);
        self.opset_imports
            .iter()
            .find(|o| normalize_domain(&o.domain) == want)
            .map(|o| o.version)
            .unwrap_or(0)
    }
}

/// "ai.onnx" and "" name the same domain.
pub fn normalize_domain(domain: &str) -> &str {
    if domain == "ai.onnx" {
        ""
    } else {
        domain
    }
}

impl Graph {
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id]
    }

    pub fn value_name(&self, id: ValueId) -> &str {
        &self.values[id].name
    }

    /// Adds a new value; names must be unique, so a taken name gets a numeric suffix.
    pub fn add_value(&mut self, name: &str, dtype: Option<DType>, shape: Option<Vec<Dim>>) -> ValueId {
        let taken: std::collections::HashSet<&str> = self.values.iter().map(|v| v.name.as_str()).collect();
        let mut unique = name.to_string();
        let mut k = 1;
        while taken.contains(unique.as_str()) {
            unique = format!("{name}_{k}");
            k += 1;
        }
        self.values.push(Value { name: unique, dtype, shape });
        self.values.len() - 1
    }

    /// Finds a value by name.
    pub fn find_value(&self, name: &str) -> Option<ValueId> {
        self.values.iter().position(|v| v.name == name)
    }

    /// Map from value to the index of the node producing it.
    /// The initializer of `v` if no feed can replace it (not also a graph input).
    pub fn constant(&self, v: ValueId) -> Option<&Tensor> {
        if self.overridable.contains(&v) {
            return None;
        }
        self.initializers.get(&v).map(|t| t.as_ref())
    }

    pub fn producers(&self) -> HashMap<ValueId, usize> {
        let mut map = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for o in n.outputs.iter().flatten() {
                map.insert(*o, i);
            }
        }
        map
    }

    /// Map from value to the indices of the nodes reading it.
    pub fn consumers(&self) -> HashMap<ValueId, Vec<usize>> {
        let mut map: HashMap<ValueId, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                map.entry(*v).or_default().push(i);
            }
        }
        map
    }

    /// Reorders `nodes` topologically (stable: keeps the file's order where it is valid).
    /// Errors on a cycle or on a node that reads a value nothing produces.
    pub fn sort_topologically(&mut self) -> Result<()> {
        let producers = self.producers();
        let mut available = vec![false; self.values.len()];
        for &v in self.inputs.iter().chain(self.overridable.iter()) {
            available[v] = true;
        }
        for &v in self.initializers.keys() {
            available[v] = true;
        }
        for n in &self.nodes {
            for v in n.inputs.iter().flatten() {
                if !available[*v] && !producers.contains_key(v) {
                    return Err(Error::model(format!(
                        "node '{}' ({}) reads value '{}', which no node, input or initializer provides",
                        n.label(),
                        n.op_type,
                        self.values[*v].name
                    )));
                }
            }
        }
        // Kahn's algorithm over node indices, visiting in file order.
        let consumers = self.consumers();
        let mut missing: Vec<usize> = self
            .nodes
            .iter()
            .map(|n| {
                let mut uniq: Vec<ValueId> = n.inputs.iter().flatten().copied().filter(|v| !available[*v]).collect();
                uniq.sort_unstable();
                uniq.dedup();
                uniq.len()
            })
            .collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..self.nodes.len()).filter(|&i| missing[i] == 0).collect();
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut done = vec![false; self.values.len()];
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for o in self.nodes[i].outputs.iter().flatten() {
                if available[*o] || done[*o] {
                    continue;
                }
                done[*o] = true;
                if let Some(cs) = consumers.get(o) {
                    let mut seen = std::collections::HashSet::new();
                    for &c in cs {
                        if seen.insert(c) {
                            missing[c] -= 1;
                            if missing[c] == 0 {
                                ready.insert(c);
                            }
                        }
                    }
                }
            }
        }
        if order.len() != self.nodes.len() {
            let stuck = (0..self.nodes.len()).find(|i| !order.contains(i)).unwrap_or(0);
            let n = &self.nodes[stuck];
            return Err(Error::Cycle { node: n.label(), op: n.op_type.clone() });
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes).into_iter().map(Some).collect();
        self.nodes = order.into_iter().filter_map(|i| old[i].take()).collect();
        Ok(())
    }

    /// Total bytes of all initializers (the model's parameters).
    pub fn parameter_bytes(&self) -> usize {
        self.initializers.values().map(|t| t.size_in_bytes()).sum()
    }
}
