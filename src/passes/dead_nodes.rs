//! Removes nodes none of whose outputs reach a graph output, and initializers nobody reads.
use crate::graph::{Graph, ValueId};
use std::collections::HashSet;

pub fn remove_dead_nodes(graph: &mut Graph) {
    let mut live: HashSet<ValueId> = graph.outputs.iter().copied().collect();
    let mut keep = vec![false; graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate().rev() {
        if n.outputs.iter().flatten().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(n.inputs.iter().flatten().copied());
        }
    }
    let mut i = 0;
    graph.nodes.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    let inputs: HashSet<ValueId> = graph.overridable.iter().copied().collect();
    graph.initializers.retain(|id, _| live.contains(id) || inputs.contains(id));
}
