//! Small graph-editing helpers shared by the modes that rewrite a float graph without calibration
//! data (`dynamic`, `weight_only`, `fp16`): finding constant weights (initializers or Constant
//! nodes), adding initializers, values and nodes with unique names, and finishing an edited
//! model (dead float weights dropped, opsets imported).
//!
//! A rewrite builds a new node list in the old topological order, replacing one node by a short
//! chain whose last node writes the replaced node's output value, so every consumer downstream is
//! untouched.
use crate::error::{Error, Result};
use crate::graph::{passes, Attr, Dim, Graph, Model, Node, OpsetId, ValueId};
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
        // A graph output that was an initializer may have been consumed; keep outputs defined.
        for &o in &self.graph.outputs {
            let produced = self.graph.nodes.iter().any(|n| n.outputs.contains(&Some(o)));
            let given = self.graph.inputs.contains(&o) || self.graph.initializers.contains_key(&o);
            if !produced && !given {
                return Err(Error::model(format!(
                    "internal error: rewrite left graph output '{}' undefined",
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
        inputs: inputs.to_vec(),
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
