//! Evaluates nodes whose inputs are all constants and stores their outputs as initializers.
//! Constant nodes become initializers, so weights held in Constant nodes look like any other.
use crate::error::Result;
use crate::graph::{Model, Node};
use crate::ops::{BuildContext, Registry};
use crate::tensor::Tensor;
use std::sync::Arc;

/// Ops whose output is not a function of their inputs: never folded.
const NONDETERMINISTIC: &[&str] =
    &["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"];

/// Largest tensor folding may create (bigger ones are left to run time to keep files small).
const MAX_FOLDED_BYTES: usize = 64 << 20;

pub fn fold_constants(model: &mut Model) -> Result<usize> {
    fold_constants_except(model, &|_| false)
}

/// [`fold_constants`], leaving alone the nodes for which `keep` is true.
pub fn fold_constants_except(model: &mut Model, keep: &dyn Fn(&Node) -> bool) -> Result<usize> {
    let registry = Registry::standard();
    let mut folded = 0;
    let mut i = 0;
    while i < model.graph.nodes.len() {
        let node = &model.graph.nodes[i];
        let g = &model.graph;
        let foldable = !keep(node)
            && !NONDETERMINISTIC.contains(&node.op_type.as_str())
            && registry.supports(&node.domain, &node.op_type)
            && node.inputs.iter().flatten().all(|v| g.initializers.contains_key(v) && !g.overridable.contains(v))
            && node.outputs.iter().flatten().all(|o| !g.outputs.contains(o))
            && !node.outputs.is_empty();
        if !foldable {
            i += 1;
            continue;
        }
        let ctx = BuildContext { node, graph: g, opset: model.opset_of(&node.domain) };
        // A node that cannot be evaluated now (bad attributes, etc.) is left for run time, where
        // its error will name it.
        let Ok(op) = registry.build(&ctx) else {
            i += 1;
            continue;
        };
        let args: Vec<Option<&Tensor>> =
            node.inputs.iter().map(|v| v.map(|id| g.initializers[&id].as_ref())).collect();
        let Ok(results) = op.run(&args) else {
            i += 1;
            continue;
        };
        if results.iter().any(|t| t.size_in_bytes() > MAX_FOLDED_BYTES) || results.len() < node.outputs.len() {
            i += 1;
            continue;
        }
        let outputs = node.outputs.clone();
        for (slot, t) in outputs.iter().zip(results) {
            if let Some(id) = slot {
                let v = &mut model.graph.values[*id];
                v.dtype = Some(t.dtype());
                v.shape = Some(t.shape().iter().map(|&d| crate::graph::Dim::Fixed(d)).collect());
                model.graph.initializers.insert(*id, Arc::new(t));
            }
        }
        model.graph.nodes.remove(i);
        folded += 1;
    }
    Ok(folded)
}
