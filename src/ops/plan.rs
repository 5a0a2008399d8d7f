//! A [`Plan`]: the graph's nodes bound to ops once (attributes parsed, constants captured), with
//! each value's last use computed so that intermediate tensors are freed as soon as possible.
use crate::error::{Error, Result};
use crate::graph::{Graph, ValueId};
use super::{BuildContext, Op, Registry};
use crate::tensor::Tensor;
use std::sync::Arc;

struct Step {
    name: String,
    op_type: String,
    op: Box<dyn Op>,
    inputs: Vec<Option<ValueId>>,
    outputs: Vec<Option<ValueId>>,
    /// Values whose last reader is this step: dropped right after it runs.
    frees: Vec<ValueId>,
}

pub struct Plan {
    steps: Vec<Step>,
    value_count: usize,
    constants: Vec<(ValueId, Arc<Tensor>)>,
    outputs: Vec<ValueId>,
}

/// Called with every value a step produces (calibration observers hook in here). Returning an
/// error (e.g. [`Error::Cancelled`]) stops the run.
pub type ValueHook<'a> = dyn FnMut(ValueId, &Tensor) -> Result<()> + 'a;

impl Plan {
    /// Binds every node to an op of `registry`. All unsupported ops are reported at once, before
    /// anything runs. `opset_of` gives the imported opset version of a domain.
    pub fn new(graph: &Graph, registry: &Registry, opset_of: &dyn Fn(&str) -> i64) -> Result<Plan> {
        let unsupported = registry.unsupported(graph);
        if !unsupported.is_empty() {
            return Err(Error::UnsupportedOps(unsupported));
        }
        let mut last_use = vec![usize::MAX; graph.values.len()];
        for (i, n) in graph.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                last_use[*v] = i;
            }
        }
        let keep: std::collections::HashSet<ValueId> = graph.outputs.iter().copied().collect();
        let mut steps = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            let ctx = BuildContext { node, graph, opset: opset_of(&node.domain) };
            let op = registry.build(&ctx)?;
            let mut frees: Vec<ValueId> = node
                .inputs
                .iter()
                .flatten()
                .copied()
                .filter(|v| last_use[*v] == i && !keep.contains(v) && !graph.initializers.contains_key(v))
                .collect();
            // Outputs nobody reads are dropped at once too.
            frees.extend(
                node.outputs.iter().flatten().copied().filter(|v| last_use[*v] == usize::MAX && !keep.contains(v)),
            );
            frees.sort_unstable();
            frees.dedup();
            steps.push(Step {
                name: node.label(),
                op_type: node.op_type.clone(),
                op,
                inputs: node.inputs.clone(),
                outputs: node.outputs.clone(),
                frees,
            });
        }
        Ok(Plan {
            steps,
            value_count: graph.values.len(),
            constants: graph.initializers.iter().map(|(&id, t)| (id, t.clone())).collect(),
            outputs: graph.outputs.clone(),
        })
    }

    /// Runs the plan. `feeds` must cover every graph input (the session checks them); a feed for
    /// an initializer-backed input replaces the initializer.
    pub fn run(&self, feeds: Vec<(ValueId, Arc<Tensor>)>, observer: Option<&mut ValueHook>) -> Result<Vec<Arc<Tensor>>> {
        self.run_measured(feeds, observer).map(|(outputs, _)| outputs)
    }

    /// [`run`](Self::run), also returning the peak activation memory of the run: the largest
    /// total size in bytes of the values held at once (feeds and computed values, not the
    /// constants, not an op's own scratch buffers), taken after each step stores its outputs and
    /// before it frees its inputs' last uses.
    pub fn run_measured(
        &self,
        feeds: Vec<(ValueId, Arc<Tensor>)>,
        observer: Option<&mut ValueHook>,
    ) -> Result<(Vec<Arc<Tensor>>, usize)> {
        let mut values: Vec<Option<Arc<Tensor>>> = vec![None; self.value_count];
        for (id, t) in &self.constants {
            values[*id] = Some(t.clone());
        }
        // Bytes each value added to the live total (0 for constants).
        let mut counted = vec![0usize; self.value_count];
        let mut live = 0usize;
        for (id, t) in feeds {
            counted[id] = t.size_in_bytes();
            live += counted[id];
            values[id] = Some(t);
        }
        let mut peak = live;
        let mut observer = observer;
        for step in &self.steps {
            // A Reshape-like op takes its input by value when this step is its last reader and
            // no one else holds it, so the output keeps the input's buffer (no copy).
            let mut moved: Option<Tensor> = None;
            if let (true, Some(&Some(id))) = (step.op.moves_input(), step.inputs.first()) {
                if step.frees.contains(&id) && !step.inputs[1..].contains(&Some(id)) {
                    if let Some(shared) = values[id].take() {
                        match Arc::try_unwrap(shared) {
                            Ok(t) => {
                                live -= std::mem::take(&mut counted[id]);
                                moved = Some(t);
                            }
                            Err(shared) => values[id] = Some(shared),
                        }
                    }
                }
            }
            let mut args: Vec<Option<&Tensor>> = Vec::with_capacity(step.inputs.len());
            for (i, input) in step.inputs.iter().enumerate() {
                match input {
                    None => args.push(None),
                    Some(_) if i == 0 && moved.is_some() => args.push(None),
                    Some(id) => match &values[*id] {
                        Some(t) => args.push(Some(t.as_ref())),
                        None => {
                            return Err(Error::model(format!(
                                "node '{}' ({}) reads a value that was not computed",
                                step.name, step.op_type
                            )))
                        }
                    },
                }
            }
            let results = match moved {
                Some(first) => step.op.run_moved(first, &args),
                None => step.op.run(&args),
            }
            .map_err(|e| e.in_node(&step.name, &step.op_type))?;
            drop(args);
            let wanted = step.outputs.iter().rposition(|o| o.is_some()).map_or(0, |p| p + 1);
            if results.len() < wanted {
                return Err(Error::invalid(format!(
                    "produced {} outputs where the node declares {}",
                    results.len(),
                    wanted
                ))
                .in_node(&step.name, &step.op_type));
            }
            for (slot, tensor) in step.outputs.iter().zip(results) {
                if let Some(id) = slot {
                    if let Some(obs) = observer.as_deref_mut() {
                        obs(*id, &tensor)?;
                    }
                    live = live - counted[*id] + tensor.size_in_bytes();
                    counted[*id] = tensor.size_in_bytes();
                    values[*id] = Some(Arc::new(tensor));
                }
            }
            peak = peak.max(live);
            for &v in &step.frees {
                values[v] = None;
                live -= std::mem::take(&mut counted[v]);
            }
        }
        let outputs = self
            .outputs
            .iter()
            .map(|&o| {
                values[o].clone().ok_or_else(|| Error::model("a graph output was not computed".to_string()))
            })
            .collect::<Result<_>>()?;
        Ok((outputs, peak))
    }

    pub fn node_count(&self) -> usize {
        self.steps.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Node;

    #[test]
    fn peak_counts_the_values_held_at_once() {
        // x → Relu → a → Relu → b → Relu → y: x is freed after the first step, a after the
        // second, so at most two 100-float tensors are held at once (and the output at the end).
        let mut g = Graph::default();
        let ids: Vec<ValueId> = ["x", "a", "b", "y"].iter().map(|n| g.add_value(n, None, None)).collect();
        for w in ids.windows(2) {
            g.nodes.push(Node {
                name: String::new(),
                op_type: "Relu".into(),
                domain: String::new(),
                inputs: vec![Some(w[0])],
                outputs: vec![Some(w[1])],
                attrs: Default::default(),
            });
        }
        g.inputs = vec![ids[0]];
        g.outputs = vec![ids[3]];
        let plan = Plan::new(&g, Registry::standard(), &|_| 13).unwrap();
        let x = Tensor::from_vec(&[100], vec![-1.0f32; 100]).unwrap();
        let (out, peak) = plan.run_measured(vec![(ids[0], Arc::new(x))], None).unwrap();
        assert_eq!(out[0].to_f32_vec(), vec![0.0; 100]);
        assert_eq!(peak, 2 * 400);
    }

    fn data_ptr(t: &Tensor) -> usize {
        crate::dispatch!(t, a => a.as_ptr() as usize)
    }

    #[test]
    fn reshape_family_keeps_the_buffer_when_it_is_the_last_reader() {
        // x → Reshape → a → Flatten → b → Squeeze → c → Unsqueeze → d → Identity → y, x fed and
        // not kept: every step is its input's last reader, so y is x's buffer, never copied.
        let mut g = Graph::default();
        let names = ["x", "shape", "a", "b", "c", "d", "y"];
        let ids: Vec<ValueId> = names.iter().map(|n| g.add_value(n, None, None)).collect();
        g.initializers.insert(ids[1], Arc::new(Tensor::from_vec(&[3], vec![4i64, 1, -1]).unwrap()));
        let node = |op: &str, inputs: Vec<Option<ValueId>>, out: ValueId| Node {
            name: String::new(),
            op_type: op.into(),
            domain: String::new(),
            inputs,
            outputs: vec![Some(out)],
            attrs: Default::default(),
        };
        g.nodes.push(node("Reshape", vec![Some(ids[0]), Some(ids[1])], ids[2]));
        g.nodes.push(node("Flatten", vec![Some(ids[2])], ids[3]));
        g.nodes.push(node("Squeeze", vec![Some(ids[3])], ids[4]));
        g.nodes.push(node("Unsqueeze", vec![Some(ids[4]), Some(ids[1])], ids[5]));
        g.nodes[3].inputs[1] = None;
        g.nodes[3].attrs.set("axes", crate::graph::Attr::Ints(vec![0]));
        g.nodes.push(node("Identity", vec![Some(ids[5])], ids[6]));
        g.inputs = vec![ids[0]];
        g.outputs = vec![ids[6]];
        let plan = Plan::new(&g, Registry::standard(), &|_| 11).unwrap();
        let x = Tensor::from_vec(&[2, 6], (0..12).map(|v| v as f32).collect()).unwrap();
        let (ptr, bytes) = (data_ptr(&x), x.to_le_bytes());
        let (out, peak) = plan.run_measured(vec![(ids[0], Arc::new(x))], None).unwrap();
        assert_eq!(out[0].shape(), &[1, 4, 3]);
        assert_eq!(out[0].to_le_bytes(), bytes);
        assert_eq!(data_ptr(&out[0]), ptr, "the output was copied");
        assert_eq!(peak, 48, "a moved input and its output share one buffer");

        // A caller that keeps the feed: the first Reshape copies once, the rest move.
        let x = Arc::new(Tensor::from_vec(&[2, 6], vec![1u8; 12]).unwrap());
        let out = plan.run(vec![(ids[0], x.clone())], None).unwrap();
        assert_ne!(data_ptr(&out[0]), data_ptr(&x));
        assert_eq!(out[0].to_le_bytes(), x.to_le_bytes());
        assert_eq!(out[0].shape(), &[1, 4, 3]);
    }
}
