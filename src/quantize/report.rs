//! What a quantization did and what it cost, serializable for JS and the CLI (`--report`).
//!
//! - sizes of the saved float and quantized files;
//! - every node's decision (quantized, folded into its producer, or kept float and why) with the
//!   parameters of its quantized inputs and outputs;
//! - per-layer SQNR: of each weight (dequantized against float) and of each activation (the
//!   quantized model run on the calibration batches, each quantized tensor compared with its
//!   float twin from the float model on the same feeds; errors accumulate through the network, as
//!   they do at run time);
//! - the layers that lose most: each layer's own error is the relative noise power of its output
//!   minus that of its worst quantized input (what the layer adds to what it received), given as
//!   an SQNR (`ownSqnrDb`, lower is worse);
//! - `keepFloat`: the N lossiest layers kept float, with the output SQNR before and after.
//!
//! SQNR is `10 log10(Σ x² / Σ (x − x̂)²)` over all elements of all evaluated batches; `null`
//! means no error at all.
use super::options::QuantOptions;
use super::params::QParams;
use super::plan::{Decision, QuantPlan};
use super::qdq::{signal_noise, sqnr_db, RewriteInfo, Twin, WeightInfo};
use super::registry::{In, Out};
use crate::calibrate::{CalibrationMethod, CalibrationTable, Range};
use crate::error::Result;
use crate::graph::{Graph, ValueId};
use crate::quant_math;
use crate::runtime::Session;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};

/// The whole report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub options: QuantOptions,
    /// Bytes of the float model as given (saved by us) and of the quantized file.
    pub float_bytes: usize,
    pub quantized_bytes: usize,
    /// `quantized_bytes / float_bytes`.
    pub size_ratio: f64,
    pub calibration: CalibrationSummary,
    /// Batches the SQNR figures were measured on (the first calibration batches, up to a memory
    /// budget).
    pub evaluated_batches: usize,
    pub nodes: Vec<NodeReport>,
    pub weights: Vec<WeightInfo>,
    pub activations: Vec<ActivationReport>,
    pub outputs: Vec<OutputReport>,
    /// Quantized layers sorted by loss, largest first (at most 10).
    pub most_lossy: Vec<LayerLoss>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_float: Option<KeepFloatReport>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalibrationSummary {
    pub method: CalibrationMethod,
    pub batches: usize,
    pub values: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TensorDecision {
    pub name: String,
    /// "activation", "weight", "bias" or "float".
    pub role: &'static str,
    /// An activation's parameters (a weight's are in [`Report::weights`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<QParams>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeReport {
    pub name: String,
    pub op_type: String,
    /// "quantized", "folded" (a Relu/Clip merged into its producer's output range) or "float".
    pub decision: &'static str,
    /// Why a node stayed float or was folded, or what was partial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub inputs: Vec<TensorDecision>,
    pub outputs: Vec<TensorDecision>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationReport {
    pub name: String,
    /// The calibrated range (None for constants and fixed ranges).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    pub params: QParams,
    pub sqnr_db: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputReport {
    pub name: String,
    pub sqnr_db: Option<f64>,
    /// Fraction of rows whose argmax over the last axis agrees with float (outputs with a last
    /// axis longer than 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top1_agreement: Option<f64>,
    pub max_abs_error: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerLoss {
    pub node: String,
    pub op_type: String,
    pub output: String,
    /// SQNR of the layer's output and of its worst quantized input.
    pub sqnr_db: Option<f64>,
    pub input_sqnr_db: Option<f64>,
    /// The error the layer adds by itself, as an SQNR (see [`layer_losses`]).
    pub own_sqnr_db: Option<f64>,
    #[serde(skip)]
    pub index: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeepFloatReport {
    /// The layers kept float, lossiest first.
    pub nodes: Vec<String>,
    /// Outputs and size with every layer quantized, then with these kept float.
    pub outputs_before: Vec<OutputReport>,
    pub outputs_after: Vec<OutputReport>,
    pub quantized_bytes_before: usize,
    pub quantized_bytes_after: usize,
}

/// Accumulated comparison of one value.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    signal: f64,
    noise: f64,
    max_abs: f64,
    agree: u64,
    rows: u64,
}

/// What running both models on the evaluation batches measured.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    values: HashMap<String, Acc>,
    outputs: Vec<(String, Acc)>,
    pub batches: usize,
}

impl Evaluation {
    pub fn sqnr(&self, float_name: &str) -> Option<Option<f64>> {
        self.values.get(float_name).map(|a| sqnr_db(a.signal, a.noise))
    }

    pub fn outputs(&self) -> Vec<OutputReport> {
        self.outputs
            .iter()
            .map(|(name, a)| OutputReport {
                name: name.clone(),
                sqnr_db: sqnr_db(a.signal, a.noise),
                top1_agreement: (a.rows > 0).then(|| a.agree as f64 / a.rows as f64),
                max_abs_error: a.max_abs,
            })
            .collect()
    }
}

fn values_of(t: &Tensor, params: Option<&QParams>) -> Vec<f32> {
    match (params, t) {
        (Some(p), Tensor::U8(a)) => a.iter().map(|&q| quant_math::dequantize(q as i32, p.scale0(), p.zero_point0())).collect(),
        (Some(p), Tensor::I8(a)) => a.iter().map(|&q| quant_math::dequantize(q as i32, p.scale0(), p.zero_point0())).collect(),
        _ => t.to_f32_vec(),
    }
}

/// Argmax agreement over the last axis: (agreeing rows, rows).
fn top1(x: &[f32], y: &[f32], shape: &[usize]) -> (u64, u64) {
    let Some(&c) = shape.last() else { return (0, 0) };
    if c < 2 || shape.len() < 2 || x.len() != y.len() {
        return (0, 0);
    }
    let argmax = |r: &[f32]| {
        r.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) }).0
    };
    let mut agree = 0;
    let rows = (x.len() / c) as u64;
    for (a, b) in x.chunks(c).zip(y.chunks(c)) {
        if argmax(a) == argmax(b) {
            agree += 1;
        }
    }
    (agree, rows)
}

fn accumulate(acc: &mut Acc, x: &[f32], y: &[f32], shape: &[usize], rows: bool) {
    if x.len() != y.len() {
        return;
    }
    let (s, n) = signal_noise(x, y);
    acc.signal += s;
    acc.noise += n;
    acc.max_abs = x.iter().zip(y).fold(acc.max_abs, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
    if rows {
        let (a, r) = top1(x, y, shape);
        acc.agree += a;
        acc.rows += r;
    }
}

/// Runs the float and the quantized session on each batch and compares every twin and output.
pub fn evaluate(
    float: &Session,
    quantized: &Session,
    twins: &[Twin],
    batches: &[Vec<(String, Tensor)>],
    progress: &mut dyn FnMut(usize) -> Result<()>,
) -> Result<Evaluation> {
    let fg = &float.model().graph;
    let qg = &quantized.model().graph;
    let by_float: HashMap<&str, &Twin> = twins.iter().map(|t| (t.float.as_str(), t)).collect();
    let want_float: Vec<bool> = fg.values.iter().map(|v| by_float.contains_key(v.name.as_str())).collect();
    let by_quant: HashMap<&str, &Twin> = twins.iter().map(|t| (t.quantized.as_str(), t)).collect();
    let want_quant: Vec<Option<&Twin>> = qg.values.iter().map(|v| by_quant.get(v.name.as_str()).copied()).collect();
    let mut ev = Evaluation::default();
    let out_names = float.output_names();
    ev.outputs = out_names.iter().map(|n| (n.clone(), Acc::default())).collect();
    for (bi, feeds) in batches.iter().enumerate() {
        progress(bi)?;
        let mut seen: HashMap<String, Vec<f32>> = HashMap::new();
        for (name, t) in feeds {
            if by_float.contains_key(name.as_str()) {
                seen.insert(name.clone(), t.to_f32_vec());
            }
        }
        let float_out = {
            let mut hook = |id: ValueId, t: &Tensor| {
                if want_float.get(id).copied().unwrap_or(false) {
                    seen.insert(fg.values[id].name.clone(), t.to_f32_vec());
                }
                Ok(())
            };
            float.run_observed(feeds.clone(), Some(&mut hook))?
        };
        let values = &mut ev.values;
        let quant_out = {
            let mut hook = |id: ValueId, t: &Tensor| {
                if let Some(Some(tw)) = want_quant.get(id) {
                    if let Some(x) = seen.get(&tw.float) {
                        let y = values_of(t, tw.params.as_ref());
                        accumulate(values.entry(tw.float.clone()).or_default(), x, &y, t.shape(), false);
                    }
                }
                Ok(())
            };
            quantized.run_observed(feeds.clone(), Some(&mut hook))?
        };
        // Graph inputs are not produced by a run: `seen` took them from the feeds above.
        for ((_, acc), ((_, f), (_, q))) in ev.outputs.iter_mut().zip(float_out.iter().zip(quant_out.iter())) {
            accumulate(acc, &f.to_f32_vec(), &q.to_f32_vec(), f.shape(), true);
        }
        ev.batches += 1;
    }
    Ok(ev)
}

/// Per-layer losses of the quantized compute layers (not data-movement ops), lossiest first.
///
/// A layer's own error is the relative noise power of its output minus that of its worst
/// quantized input, `10^(−out/10) − 10^(−in/10)`: what it adds to what it received. Its
/// `own_sqnr_db` is that error as an SQNR (lower is worse; None when it adds nothing measurable).
pub fn layer_losses(g: &Graph, plan: &QuantPlan, ev: &Evaluation) -> Vec<LayerLoss> {
    let db = |v: ValueId| -> Option<Option<f64>> { ev.sqnr(g.value_name(v)) };
    let rel = |d: Option<f64>| d.map_or(0.0, |d| 10f64.powf(-d / 10.0));
    let mut out = Vec::new();
    for (i, d) in plan.decisions.iter().enumerate() {
        let Decision::Quantized { inputs, outputs, shares_input: false, .. } = d else { continue };
        let node = &g.nodes[i];
        let Some(o) = outputs.iter().position(|o| *o != Out::Keep).and_then(|k| node.output(k)) else { continue };
        let o = plan.resolve_folded(o);
        let Some(out_db) = db(o) else { continue };
        let in_dbs: Vec<Option<f64>> = inputs
            .iter()
            .enumerate()
            .filter(|(_, r)| **r == In::Activation)
            .filter_map(|(j, _)| node.input(j))
            .filter_map(db)
            .collect();
        // The worst input: the one with the most relative noise (None = exact).
        let in_db = in_dbs.iter().copied().max_by(|a, b| rel(*a).total_cmp(&rel(*b))).flatten();
        let own = rel(out_db) - rel(in_db);
        out.push(LayerLoss {
            node: node.label(),
            op_type: node.op_type.clone(),
            output: g.value_name(o).to_string(),
            sqnr_db: out_db,
            input_sqnr_db: in_db,
            own_sqnr_db: (own > 0.0).then(|| (-10.0 * own.log10()).min(200.0)),
            index: i,
        });
    }
    out.sort_by(|a, b| a.own_sqnr_db.unwrap_or(f64::INFINITY).total_cmp(&b.own_sqnr_db.unwrap_or(f64::INFINITY)));
    out
}

/// Every node's decision with the parameters of its quantized tensors.
pub fn node_reports(g: &Graph, plan: &QuantPlan, params: &HashMap<ValueId, QParams>, info: &RewriteInfo) -> Vec<NodeReport> {
    g.nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let name = |v: ValueId| g.value_name(v).to_string();
            let (decision, mut reason, inputs, outputs) = match &plan.decisions[i] {
                Decision::Float(r) => ("float", Some(r.clone()), vec![], vec![]),
                Decision::Folded { producer, .. } => (
                    "folded",
                    Some(format!("folded into '{}': its output range does the clamp", g.nodes[*producer].label())),
                    vec![],
                    vec![],
                ),
                Decision::Quantized { inputs, outputs, note, .. } => {
                    let ins = inputs
                        .iter()
                        .enumerate()
                        .filter_map(|(j, r)| {
                            let v = node.input(j)?;
                            let (role, p) = match r {
                                In::Keep => ("float", None),
                                In::Activation => ("activation", params.get(&v).cloned()),
                                // The weight's (per-channel) parameters are in `Report::weights`.
                                In::Weight { .. } => ("weight", None),
                                In::Bias { .. } => ("bias", None),
                            };
                            Some(TensorDecision { name: name(v), role, params: p })
                        })
                        .collect();
                    let outs = outputs
                        .iter()
                        .enumerate()
                        .filter_map(|(k, r)| {
                            let v = plan.resolve_folded(node.output(k)?);
                            let (role, p) = match r {
                                Out::Keep => ("float", None),
                                _ => ("activation", params.get(&v).cloned()),
                            };
                            Some(TensorDecision { name: name(v), role, params: p })
                        })
                        .collect();
                    ("quantized", note.clone(), ins, outs)
                }
            };
            if let Some(notes) = info.notes.get(&i) {
                let extra = notes.join("; ");
                reason = Some(match reason {
                    Some(r) if !r.is_empty() => format!("{r}; {extra}"),
                    _ => extra,
                });
            }
            NodeReport { name: node.label(), op_type: node.op_type.clone(), decision, reason, inputs, outputs }
        })
        .collect()
}

/// Every quantized activation with its range, parameters and SQNR.
pub fn activation_reports(
    g: &Graph,
    plan: &QuantPlan,
    params: &HashMap<ValueId, QParams>,
    table: &CalibrationTable,
    ev: &Evaluation,
) -> Vec<ActivationReport> {
    let mut out: BTreeMap<String, ActivationReport> = BTreeMap::new();
    for &v in &plan.act {
        let Some(p) = params.get(&v) else { continue };
        let name = g.value_name(v).to_string();
        let range = table.get(&name).filter(|e| e.has_data()).map(|e| e.range);
        let sqnr = ev.sqnr(&name).flatten();
        out.insert(name.clone(), ActivationReport { name, range, params: p.clone(), sqnr_db: sqnr });
    }
    out.into_values().collect()
}
