//! The quantization plan: the registry's actions applied to a whole graph (docs/quantization.md §9).
//!
//! [`QuantPlan::build`] walks the nodes twice. First every node whose handler asks to
//! [`Action::Quantize`] is checked (all its quantized tensors must be float32; weights must be
//! constant) and marks the activations it reads and writes. Then, in topological order, the
//! data-movement ops join their input's parameter group if that input is quantized, and Relu/Clip
//! fold into their producer: the producer writes the activation's output directly, and that
//! output's calibrated range (which is inside the clamp) becomes the producer's output range, as
//! onnxruntime does (`QDQRemovableActivation`, `adjust_tensor_ranges`).
//!
//! Parameters are per group: values joined by a shape op or a Concat share one scale and zero
//! point, computed from the union of their ranges ([`QuantPlan::params`], docs/quantization.md §2–4).
//! Whether a fold is exact (the output's quantized range lies inside the clamp) is only known
//! then; [`QuantPlan::check_folds`] lists the folds to undo, and the caller plans again with them in
//! [`Constraints::no_fold`].
use super::options::QuantOptions;
use super::params::QParams;
use super::registry::{Action, In, NodeCtx, Out, QuantHandlers};
use crate::calibrate::{CalibrationTable, Range};
use crate::graph::{Graph, ValueId};
use crate::tensor::{DType, Tensor};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What the caller learned since the last plan.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    /// Nodes kept float, with the reason (keepFloat).
    pub keep_float: BTreeMap<usize, String>,
    /// Relu/Clip nodes whose fold was not exact: quantize around them instead.
    pub no_fold: HashSet<usize>,
    /// Values that calibration saw no finite float data for.
    pub no_data: HashSet<ValueId>,
    /// Values whose calibrated range reaches a fill value ([`FILL_MAGNITUDE`]), with the value
    /// reached: 8 bits cannot hold it beside the real values, so they stay float.
    pub fill: BTreeMap<ValueId, f32>,
}

/// A calibrated value at least this large in magnitude is a fill value, not an activation: the
/// attention masks of transformer exports add `(1 - mask) * f32::MIN` (-3.4e38) to the scores so
/// that Softmax gives the masked positions zero weight. Quantized together with the real scores,
/// such a range has a scale near 1e36 and every real score rounds to the zero point (MiniLM-L3
/// static int8: mean cosine 0.66 to float); the mask term itself is 0 wherever it is not the fill,
/// so a range without the fill would erase the mask. So a value that reaches it stays float, and
/// so do the nodes that read or write it.
pub const FILL_MAGNITUDE: f32 = 1e30;

impl Constraints {
    /// Records every value of `graph` whose calibrated range in `table` reaches [`FILL_MAGNITUDE`].
    pub fn mark_fill_values(&mut self, graph: &Graph, table: &CalibrationTable) {
        for v in 0..graph.values.len() {
            let Some(e) = table.get(graph.value_name(v)) else { continue };
            if !e.has_data() {
                continue;
            }
            let x = if e.range.min.abs() >= e.range.max.abs() { e.range.min } else { e.range.max };
            if x.abs() >= FILL_MAGNITUDE {
                self.fill.insert(v, x);
            }
        }
    }
}

/// What happens to one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Quantized with these input and output roles. `shares_input`: a data-movement op whose
    /// outputs share input 0's parameters. `note`: anything partial (a bias left float, ...).
    Quantized { inputs: Vec<In>, outputs: Vec<Out>, shares_input: bool, note: Option<String> },
    /// Relu/Clip removed; node `producer` now writes its output. `lo..hi` is its clamp.
    Folded { producer: usize, lo: f32, hi: f32 },
    Float(String),
}

impl Decision {
    pub fn is_quantized(&self) -> bool {
        matches!(self, Decision::Quantized { .. })
    }
}

#[derive(Debug, Clone)]
pub struct QuantPlan {
    /// One per node of the graph, same order.
    pub decisions: Vec<Decision>,
    /// Quantized activation values (constants among them are quantized per tensor from their
    /// own values), after folding.
    pub act: BTreeSet<ValueId>,
    /// Folded-away value → the value that replaces it (a Relu's input → its output).
    pub folded: BTreeMap<ValueId, ValueId>,
    /// Inputs of every Relu/Clip that could fold: calibrated too, so a fold can be undone.
    pub fold_inputs: BTreeSet<ValueId>,
    pub fixed: HashMap<ValueId, Range>,
    parent: Vec<ValueId>,
}

fn is_constant(g: &Graph, v: ValueId) -> bool {
    g.initializers.contains_key(&v) && !g.overridable.contains(&v)
}

impl QuantPlan {
    /// Plans `graph`. `dtypes[v]` is the element type of value `v` where known.
    pub fn build(graph: &Graph, options: &QuantOptions, dtypes: &[Option<DType>], constraints: &Constraints) -> QuantPlan {
        let registry = QuantHandlers::standard();
        let n = graph.nodes.len();
        let mut plan = QuantPlan {
            decisions: vec![Decision::Float(String::new()); n],
            act: BTreeSet::new(),
            folded: BTreeMap::new(),
            fold_inputs: BTreeSet::new(),
            fixed: HashMap::new(),
            parent: (0..graph.values.len()).collect(),
        };
        let dtype_of = |v: ValueId| -> Option<DType> {
            if let Some(t) = graph.initializers.get(&v) {
                return Some(t.dtype());
            }
            dtypes.get(v).copied().flatten()
        };
        // Why value `v` cannot be a quantized activation, if it cannot.
        let not_quantizable = |v: ValueId| -> Option<String> {
            let name = graph.value_name(v);
            if constraints.no_data.contains(&v) {
                return Some(format!("no finite float data reached '{name}' during calibration"));
            }
            if let Some(x) = constraints.fill.get(&v) {
                return Some(format!("'{name}' reaches {x:e} during calibration, a fill value (a mask's) that 8 bits cannot hold beside its real values"));
            }
            match dtype_of(v) {
                Some(DType::F32) => None,
                Some(d) => Some(format!("'{name}' is {d}, not float32")),
                None => Some(format!("the type of '{name}' is unknown (it was not computed on calibration data)")),
            }
        };
        let mut pending = Vec::new();
        // Pass 1: nodes that quantize their own inputs and outputs.
        for (i, node) in graph.nodes.iter().enumerate() {
            if let Some(reason) = exclusion(options, constraints, i, &node.name, &node.op_type) {
                plan.decisions[i] = Decision::Float(reason);
                continue;
            }
            let Some(handler) = registry.handler(node) else {
                let what = if crate::graph::normalize_domain(&node.domain).is_empty() {
                    format!("no quantization handler for {}", node.op_type)
                } else {
                    format!("no quantization handler for {}.{}", node.domain, node.op_type)
                };
                plan.decisions[i] = Decision::Float(what);
                continue;
            };
            let ctx = NodeCtx { node, graph, options, dtypes };
            match handler(&ctx) {
                Action::Float(reason) => plan.decisions[i] = Decision::Float(reason),
                Action::Quantize { inputs, outputs } => {
                    plan.decisions[i] = plan.resolve(graph, i, inputs, outputs, &not_quantizable);
                }
                other => pending.push((i, other)),
            }
        }
        // Pass 2, in topological order: shape ops follow their input, activations fold.
        let mut producers = graph.producers();
        let consumers = graph.consumers();
        for (i, action) in pending {
            let node = &graph.nodes[i];
            let x = node.input(0);
            let x_quantized = x.is_some_and(|x| plan.act.contains(&x));
            plan.decisions[i] = match action {
                Action::ShareInput => {
                    let outs: Vec<ValueId> = node.outputs.iter().flatten().copied().collect();
                    if !x_quantized {
                        Decision::Float(match x {
                            Some(x) => format!("its input '{}' is not quantized", graph.value_name(x)),
                            None => "it has no data input".into(),
                        })
                    } else if let Some(why) = outs.iter().find_map(|&v| not_quantizable(v)) {
                        Decision::Float(why)
                    } else {
                        let x = x.unwrap_or_default();
                        for &o in &outs {
                            plan.act.insert(o);
                            plan.union(o, x);
                        }
                        let mut inputs = vec![In::Keep; node.inputs.len()];
                        inputs[0] = In::Activation;
                        let outputs = node.outputs.iter().map(|o| if o.is_some() { Out::ShareInputs } else { Out::Keep }).collect();
                        Decision::Quantized { inputs, outputs, shares_input: true, note: None }
                    }
                }
                Action::Fold { lo, hi } => {
                    let (Some(x), Some(r)) = (x, node.output(0)) else {
                        plan.decisions[i] = Decision::Float("no input or output".into());
                        continue;
                    };
                    let producer = producers.get(&x).copied();
                    let producer_quantized = producer.is_some_and(|p| plan.decisions[p].is_quantized());
                    let single_reader = consumers.get(&x).is_some_and(|c| c.len() == 1);
                    let io = graph.outputs.contains(&x) || graph.inputs.contains(&x);
                    let r_bad = not_quantizable(r);
                    if x_quantized && producer_quantized && single_reader && !io && r_bad.is_none() {
                        plan.fold_inputs.insert(x);
                    }
                    if !x_quantized {
                        Decision::Float(format!("its input '{}' is not quantized", graph.value_name(x)))
                    } else if let Some(why) = r_bad {
                        Decision::Float(why)
                    } else if producer_quantized
                        && single_reader
                        && !io
                        && !options.symmetric_activations
                        && !constraints.no_fold.contains(&i)
                    {
                        let p = producer.unwrap_or_default();
                        plan.act.remove(&x);
                        plan.act.insert(r);
                        plan.folded.insert(x, r);
                        plan.union(x, r);
                        producers.insert(r, p);
                        Decision::Folded { producer: p, lo, hi }
                    } else {
                        plan.act.insert(r);
                        let why = if options.symmetric_activations {
                            "not folded: symmetric activations cannot represent the clamp"
                        } else if constraints.no_fold.contains(&i) {
                            "not folded: its output's quantized range does not lie inside the clamp"
                        } else {
                            "not folded: its input has other readers or is a graph input/output"
                        };
                        let mut inputs = vec![In::Keep; node.inputs.len()];
                        inputs[0] = In::Activation;
                        Decision::Quantized { inputs, outputs: vec![Out::Activation], shares_input: false, note: Some(why.into()) }
                    }
                }
                _ => unreachable!("pass 1 keeps only ShareInput and Fold"),
            };
        }
        plan
    }

    /// Checks a Quantize action's tensors and records its activations.
    fn resolve(
        &mut self,
        g: &Graph,
        i: usize,
        mut inputs: Vec<In>,
        outputs: Vec<Out>,
        not_quantizable: &dyn Fn(ValueId) -> Option<String>,
    ) -> Decision {
        let node = &g.nodes[i];
        inputs.resize(node.inputs.len(), In::Keep);
        let mut notes = Vec::new();
        for (j, role) in inputs.iter_mut().enumerate() {
            let Some(v) = node.input(j) else {
                *role = In::Keep;
                continue;
            };
            let name = g.value_name(v);
            match *role {
                In::Keep => {}
                In::Activation => {
                    if let Some(why) = not_quantizable(v) {
                        return Decision::Float(why);
                    }
                }
                In::Weight { .. } => {
                    let const_f32 = is_constant(g, v) && g.initializers[&v].dtype() == DType::F32;
                    if !const_f32 {
                        if let Some(why) = not_quantizable(v) {
                            return Decision::Float(why);
                        }
                        notes.push(format!("weight '{name}' is not constant: quantized per tensor as an activation"));
                        *role = In::Activation;
                    }
                }
                In::Bias { .. } => {}
            }
        }
        // A bias needs a constant float32 1-D tensor, a quantized x and a constant weight.
        for j in 0..inputs.len() {
            if let In::Bias { x, w } = inputs[j] {
                let v = node.input(j).unwrap_or_default();
                let ok = is_constant(g, v)
                    && g.initializers[&v].dtype() == DType::F32
                    && g.initializers[&v].rank() == 1
                    && inputs.get(x) == Some(&In::Activation)
                    && matches!(inputs.get(w), Some(In::Weight { .. }));
                if !ok {
                    notes.push(format!("bias '{}' kept float", g.value_name(v)));
                    inputs[j] = In::Keep;
                }
            }
        }
        let mut outs = outputs;
        outs.resize(node.outputs.len(), Out::Keep);
        for (k, o) in outs.iter_mut().enumerate() {
            match node.output(k) {
                None => *o = Out::Keep,
                Some(v) if *o != Out::Keep => {
                    if let Some(why) = not_quantizable(v) {
                        return Decision::Float(why);
                    }
                }
                _ => {}
            }
        }
        // Record.
        let act_inputs: Vec<ValueId> =
            (0..inputs.len()).filter(|&j| inputs[j] == In::Activation).filter_map(|j| node.input(j)).collect();
        self.act.extend(act_inputs.iter().copied());
        for (k, o) in outs.iter().enumerate() {
            let Some(v) = node.output(k) else { continue };
            match o {
                Out::Keep => continue,
                Out::Activation => {}
                Out::Fixed(r) => {
                    self.fixed.insert(v, *r);
                }
                Out::ShareInputs => {
                    for &x in &act_inputs {
                        self.union(v, x);
                    }
                }
            }
            self.act.insert(v);
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        Decision::Quantized { inputs, outputs: outs, shares_input: false, note }
    }

    fn find(&self, mut v: ValueId) -> ValueId {
        while self.parent[v] != v {
            v = self.parent[v];
        }
        v
    }

    fn union(&mut self, a: ValueId, b: ValueId) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Keep the smaller id as root: deterministic, and usually the upstream value.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo;
        }
    }

    /// The representative of `v`'s parameter group (values sharing one scale and zero point).
    pub fn group(&self, v: ValueId) -> ValueId {
        self.find(v)
    }

    /// Where a folded-away value went (following chains: Relu then Clip).
    pub fn resolve_folded(&self, mut v: ValueId) -> ValueId {
        while let Some(&r) = self.folded.get(&v) {
            v = r;
        }
        v
    }

    /// Values calibration must observe: quantized activations that are not constants, plus
    /// the inputs of foldable activations (in case a fold is undone).
    pub fn values_to_calibrate(&self, g: &Graph) -> Vec<String> {
        self.act
            .iter()
            .chain(self.fold_inputs.iter())
            .filter(|&&v| !is_constant(g, v))
            .map(|&v| g.value_name(v).to_string())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Parameters of every quantized activation, per group (§2–4). Errors with the values that
    /// have no calibrated data (the caller plans again with them in `no_data`).
    pub fn params(&self, g: &Graph, table: &CalibrationTable, options: &QuantOptions) -> Result<HashMap<ValueId, QParams>, Vec<ValueId>> {
        let folded_away: HashSet<ValueId> = self.folded.keys().copied().collect();
        let mut members: BTreeMap<ValueId, Vec<ValueId>> = BTreeMap::new();
        for &v in &self.act {
            members.entry(self.find(v)).or_default().push(v);
        }
        // Folded-away values belong to their group but contribute no range.
        let mut missing = Vec::new();
        let mut out = HashMap::new();
        for (root, vs) in &members {
            let mut range: Option<Range> = None;
            let mut add = |r: Range| {
                range = Some(match range {
                    None => r,
                    Some(a) => Range { min: a.min.min(r.min), max: a.max.max(r.max) },
                })
            };
            let mut group_missing = Vec::new();
            for &v in vs {
                if folded_away.contains(&v) {
                    continue;
                }
                if let Some(r) = self.fixed.get(&v) {
                    add(*r);
                } else if is_constant(g, v) {
                    add(tensor_range(&g.initializers[&v]));
                } else {
                    match table.get(g.value_name(v)) {
                        Some(e) if e.has_data() => add(e.range),
                        _ => group_missing.push(v),
                    }
                }
            }
            if !group_missing.is_empty() {
                missing.extend(group_missing);
                continue;
            }
            let Some(range) = range else { continue };
            let p = QParams::from_range(range, options.activation_type, options.symmetric_activations);
            for &v in vs {
                out.insert(v, p.clone());
            }
            let _ = root;
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }

    /// Folds whose clamp is not implied by their output's quantization: the real range
    /// `[s(qmin − z), s(qmax − z)]` must lie inside `[lo, hi]` up to half a step.
    pub fn check_folds(&self, g: &Graph, params: &HashMap<ValueId, QParams>) -> Vec<usize> {
        let mut bad = Vec::new();
        for (i, d) in self.decisions.iter().enumerate() {
            if let Decision::Folded { lo, hi, .. } = d {
                let Some(r) = g.nodes[i].output(0) else { continue };
                let Some(p) = params.get(&self.resolve_folded(r)) else {
                    bad.push(i);
                    continue;
                };
                let rep = p.represented_range();
                let half = p.scale0() as f64 / 2.0;
                if (rep.min as f64) < *lo as f64 - half || (rep.max as f64) > *hi as f64 + half {
                    bad.push(i);
                }
            }
        }
        bad
    }
}

/// Why a node is excluded, if it is.
fn exclusion(options: &QuantOptions, c: &Constraints, i: usize, name: &str, op: &str) -> Option<String> {
    if options.exclude_nodes.iter().any(|n| n == name) {
        return Some("excluded by excludeNodes".into());
    }
    if options.exclude_op_types.iter().any(|t| t == op) {
        return Some("excluded by excludeOpTypes".into());
    }
    c.keep_float.get(&i).cloned()
}

/// `[min, max]` of a constant's finite values (non-finite ones are rejected when it is quantized).
pub fn tensor_range(t: &Tensor) -> Range {
    let v = t.to_f32_vec();
    let (lo, hi) = v.iter().filter(|x| x.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    if lo <= hi {
        Range { min: lo, max: hi }
    } else {
        Range::ZERO
    }
}
