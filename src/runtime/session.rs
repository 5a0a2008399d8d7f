//! A [`Session`]: a model prepared to run (optionally optimized by the passes, QDQ groups fused
//! into integer ops), with feeds checked against the model's declared inputs before anything
//! runs, and the peak activation memory of its runs recorded.
use crate::ops::{ValueHook, Plan};
use crate::error::{Error, Result};
use crate::passes;
use crate::graph::{format_dims, Dim, Model, ValueId};
use crate::ops::Registry;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Apply the result-preserving passes (constant folding, BatchNormalization folding, dead-node
    /// removal) before planning.
    pub optimize: bool,
    /// With `optimize`: run QDQ groups (`DequantizeLinear → Conv → QuantizeLinear`, ...) as
    /// integer ops, as onnxruntime does (`passes::fuse_qdq`). Off, a QDQ model runs literally in
    /// float (what the quantizer's report measures, value by value).
    pub fuse_qdq: bool,
    /// With `optimize`: a float32 Conv followed by a Relu or Clip runs as one FusedConv
    /// (`passes::fuse_conv_activations`; exact). Off for the quantizer's sessions, which observe
    /// the Conv's own output.
    pub fuse_activations: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { optimize: true, fuse_qdq: true, fuse_activations: true }
    }
}

/// The time one node took in [`Session::profile`].
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeTime {
    /// The node's index in the session's (optimized) graph.
    pub index: usize,
    pub name: String,
    pub op_type: String,
    pub ms: f64,
}

pub struct Session {
    model: Model,
    plan: Plan,
    fused_groups: usize,
    peak_activation_bytes: AtomicUsize,
}

impl Session {
    pub fn new(mut model: Model, options: &SessionOptions) -> Result<Session> {
        let mut fused_groups = 0;
        if options.optimize && options.fuse_qdq {
            fused_groups = passes::optimize_quantized(&mut model)?;
        } else if options.optimize {
            passes::optimize(&mut model)?;
        }
        if options.optimize && options.fuse_activations {
            passes::fuse_conv_activations(&mut model)?;
        }
        let plan = {
            let m = &model;
            Plan::new(&m.graph, Registry::standard(), &|d| m.opset_of(d))?
        };
        Ok(Session { model, plan, fused_groups, peak_activation_bytes: AtomicUsize::new(0) })
    }

    /// How many QDQ groups run as integer ops.
    pub fn fused_groups(&self) -> usize {
        self.fused_groups
    }

    /// The largest activation memory one run of this session has needed so far, in bytes: the
    /// feeds and computed values held at once (values are freed after their last reader), not
    /// the weights. 0 before the first run.
    pub fn peak_activation_bytes(&self) -> usize {
        self.peak_activation_bytes.load(Ordering::Relaxed)
    }

    pub fn from_bytes(bytes: &[u8], options: &SessionOptions) -> Result<Session> {
        Session::new(crate::onnx::load(bytes, &HashMap::new())?, options)
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn input_names(&self) -> Vec<String> {
        let g = &self.model.graph;
        g.inputs.iter().map(|&i| g.value_name(i).to_string()).collect()
    }

    pub fn output_names(&self) -> Vec<String> {
        let g = &self.model.graph;
        g.outputs.iter().map(|&i| g.value_name(i).to_string()).collect()
    }

    /// Runs the model; outputs come back in the model's output order, with their names.
    pub fn run(&self, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        self.run_observed(feeds, None)
    }

    /// Like [`run`](Self::run), calling `observer` with every intermediate value.
    pub fn run_observed(&self, feeds: Vec<(String, Tensor)>, observer: Option<&mut ValueHook>) -> Result<Vec<(String, Tensor)>> {
        let feeds = self.check_feeds(feeds)?;
        let (outputs, peak) = self.plan.run_measured(feeds, observer)?;
        self.peak_activation_bytes.fetch_max(peak, Ordering::Relaxed);
        Ok(self
            .output_names()
            .into_iter()
            .zip(outputs)
            .map(|(name, t)| (name, Arc::try_unwrap(t).unwrap_or_else(|shared| (*shared).clone())))
            .collect())
    }

    /// Runs once and times every node with `now` (milliseconds): one [`NodeTime`] per node that
    /// ran, in plan order. A node's time is the clock's advance from the previous node's last
    /// output to its own (so it includes reading its inputs and storing its outputs).
    pub fn profile(&self, feeds: Vec<(String, Tensor)>, now: &mut dyn FnMut() -> f64) -> Result<Vec<NodeTime>> {
        let producer: HashMap<ValueId, usize> = self
            .model
            .graph
            .nodes
            .iter()
            .enumerate()
            .flat_map(|(i, n)| n.outputs.iter().flatten().map(move |&v| (v, i)))
            .collect();
        let mut times: Vec<NodeTime> = Vec::new();
        let mut last = now();
        let mut observer = |id: ValueId, _: &Tensor| -> Result<()> {
            let t = now();
            if let Some(&i) = producer.get(&id) {
                let node = &self.model.graph.nodes[i];
                match times.last_mut() {
                    Some(prev) if prev.index == i => prev.ms += t - last,
                    _ => times.push(NodeTime { index: i, name: node.name.clone(), op_type: node.op_type.clone(), ms: t - last }),
                }
            }
            last = t;
            Ok(())
        };
        self.run_observed(feeds, Some(&mut observer))?;
        Ok(times)
    }

    /// Checks names, dtypes and shapes of the feeds against the model's inputs.
    pub fn check_feeds(&self, feeds: Vec<(String, Tensor)>) -> Result<Vec<(ValueId, Arc<Tensor>)>> {
        let g = &self.model.graph;
        let mut by_name: HashMap<String, Tensor> = HashMap::new();
        for (name, t) in feeds {
            if by_name.insert(name.clone(), t).is_some() {
                return Err(Error::InvalidFeed { name, detail: "given twice".into() });
            }
        }
        let mut out = Vec::new();
        for &id in g.inputs.iter().chain(g.overridable.iter()) {
            let v = g.value(id);
            let Some(t) = by_name.remove(&v.name) else {
                if g.overridable.contains(&id) {
                    continue;
                }
                return Err(Error::InvalidFeed {
                    name: v.name.clone(),
                    detail: format!(
                        "missing: the model needs this input ({} {})",
                        v.dtype.map(|d| d.to_string()).unwrap_or_else(|| "tensor".into()),
                        v.shape.as_deref().map(format_dims).unwrap_or_else(|| "of any shape".into())
                    ),
                });
            };
            if let Some(d) = v.dtype {
                if d != t.dtype() {
                    return Err(Error::InvalidFeed {
                        name: v.name.clone(),
                        detail: format!("expected a {d} tensor, got {}", t.dtype()),
                    });
                }
            }
            if let Some(dims) = &v.shape {
                check_shape(&v.name, dims, t.shape())?;
            }
            out.push((id, Arc::new(t)));
        }
        if let Some(name) = by_name.keys().next() {
            let names: Vec<&str> = g.inputs.iter().map(|&i| g.value_name(i)).collect();
            return Err(Error::InvalidFeed {
                name: name.clone(),
                detail: format!("the model has no such input (its inputs are: {})", names.join(", ")),
            });
        }
        Ok(out)
    }
}

/// A feed fits a declared shape when its rank is the declared rank and every fixed dimension
/// matches. A dim_param (`"batch"`, `"?"`) is a name for documentation, never a constraint: two
/// inputs with the same dim_param may be fed different sizes (Paddle2ONNX writes `"?"` for every
/// unknown dimension, and onnxruntime runs such models), so symbols bind nothing here.
fn check_shape(name: &str, dims: &[Dim], shape: &[usize]) -> Result<()> {
    let bad = |why: String| Error::InvalidFeed {
        name: name.to_string(),
        detail: format!("shape {shape:?} does not fit the declared {}: {why}", format_dims(dims)),
    };
    if dims.len() != shape.len() {
        return Err(bad(format!("rank {} instead of {}", shape.len(), dims.len())));
    }
    for (i, (d, &s)) in dims.iter().zip(shape).enumerate() {
        if let Dim::Fixed(n) = d {
            if *n != s {
                return Err(bad(format!("dimension {i} is {s}, not {n}")));
            }
        }
    }
    Ok(())
}
