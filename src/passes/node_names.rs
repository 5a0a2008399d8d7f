//! Makes node names unique in a graph: ONNX requires it and onnxruntime refuses a model with two
//! nodes of the same (non-empty) name. Rewrites name the nodes they insert after a tensor or a
//! node (`w_DequantizeLinear`, `fc_MatMulInteger`, ...), which collides when one tensor gets two
//! such nodes or the name is already taken; every export runs this pass last.
use crate::graph::Graph;
use std::collections::{HashMap, HashSet};

/// Gives every repeated non-empty node name but one a fresh `NAME_1`, `NAME_2`, ... (skipping
/// names any node has). The one that keeps a name is the first node of that name and op type in
/// `source` (the graph the rewrite started from), so the source model's node names survive; else
/// the first node of the name. Empty names stay empty. Returns how many nodes were renamed.
pub fn unique_node_names(graph: &mut Graph, source: &Graph) -> usize {
    let source_ops: HashSet<(&str, &str)> = source.nodes.iter().map(|n| (n.name.as_str(), n.op_type.as_str())).collect();
    let mut keeper: HashMap<String, usize> = HashMap::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let from_source = source_ops.contains(&(n.name.as_str(), n.op_type.as_str()));
        match keeper.get(&n.name) {
            None => {
                keeper.insert(n.name.clone(), i);
            }
            Some(&k) if from_source && !source_ops.contains(&(n.name.as_str(), graph.nodes[k].op_type.as_str())) => {
                keeper.insert(n.name.clone(), i);
            }
            Some(_) => {}
        }
    }
    let mut taken: HashSet<String> = keeper.keys().cloned().collect();
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut renamed = 0;
    for (i, n) in graph.nodes.iter_mut().enumerate() {
        if n.name.is_empty() || keeper[&n.name] == i {
            continue;
        }
        let k = next.entry(n.name.clone()).or_insert(1);
        let fresh = loop {
            let candidate = format!("{}_{}", n.name, k);
            *k += 1;
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        taken.insert(fresh.clone());
        n.name = fresh;
        renamed += 1;
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;

    fn named(name: &str, op: &str) -> Node {
        let (domain, inputs, outputs, attrs) = (String::new(), vec![], vec![], Default::default());
        Node { name: name.into(), op_type: op.into(), domain, inputs, outputs, attrs }
    }

    fn names(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn repeated_names_get_fresh_suffixes_and_empty_names_stay() {
        let mut g = Graph::default();
        g.nodes = ["a", "a", "a_1", "", "", "a", "b"].iter().map(|s| named(s, "Relu")).collect();
        assert_eq!(unique_node_names(&mut g, &Graph::default()), 2);
        assert_eq!(names(&g), ["a", "a_2", "a_1", "", "", "a_3", "b"]);
    }

    #[test]
    fn the_source_graphs_node_keeps_its_name() {
        let mut source = Graph::default();
        source.nodes = vec![named("h_DequantizeLinear", "Sigmoid")];
        let mut g = Graph::default();
        g.nodes = vec![named("h_DequantizeLinear", "DequantizeLinear"), named("h_DequantizeLinear", "Sigmoid")];
        assert_eq!(unique_node_names(&mut g, &source), 1);
        assert_eq!(names(&g), ["h_DequantizeLinear_1", "h_DequantizeLinear"]);
        assert_eq!(g.nodes[1].op_type, "Sigmoid");
    }
}
