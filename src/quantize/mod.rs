//! Post-training quantization: a float [`Model`] and calibration batches in, a quantized model,
//! its bytes and a [`Report`] out ([`quantize`]).
//!
//! Static quantization (the default mode) runs in stages, each reported through the progress
//! callback:
//!
//! 1. **Prepare.** Constant folding (weights held in Constant nodes become initializers),
//!    BatchNormalization folded into Conv/Gemm, dead nodes removed (`passes`).
//! 2. **Plan.** The first batch runs once to learn every value's element type; the op
//!    [`registry`] then decides per node what is quantized ([`plan::QuantPlan`]): activations, weights
//!    (per channel on the op's axis), int32 biases, shape ops sharing their input's parameters,
//!    Relu/Clip folded into their producer. Unknown ops, excluded nodes and non-float tensors stay
//!    float.
//! 3. **Calibrate.** Every batch runs through the float model with the calibrator's observers
//!    hooked in (streaming: batches are consumed one at a time and dropped, except the first few
//!    kept, up to a memory budget, to measure the result on).
//! 4. **Quantize.** Parameters from the calibrated ranges (docs/quantization.md §2–5), then the
//!    graph is rewritten in QDQ form ([`qdq`]) or QOperator form ([`qoperator`]).
//! 5. **Evaluate.** The float and the quantized model run on the kept batches; each quantized
//!    activation is compared with its float twin ([`report`]).
//! 6. **Keep float** (optional). The N layers that lose most are excluded and the model is
//!    rewritten again; the report shows the output SQNR before and after.
//!
//! Modules: [`options`] (what the caller asks), [`params`] (scales and zero points), [`weights`]
//! (weight and bias quantization), [`registry`] (per-op handlers), [`plan`], [`qdq`],
//! [`qoperator`], [`report`], `regroup` (calibration samples regrouped into the batch size a
//! model fixes, when the caller's batches do not have it). The calibration-free modes (dynamic, weight-only, fp16) live in
//! their own modules and are dispatched from [`quantize`] by `options.mode`.
//!
//! What this module does not do: read files or images (the caller supplies batches of feeds),
//! or run int8 kernels (the runtime's job).
pub mod dynamic;
mod edit;
pub mod fp16;
pub mod weight_only;
pub mod options;
pub mod params;
pub mod plan;
pub mod qdq;
pub mod qoperator;
mod regroup;
pub mod registry;
pub mod report;
pub mod weights;

pub use options::{QType, QuantFormat, QuantMode, QuantOptions};
pub use params::QParams;
pub use report::Report;
pub use weights::{quantize_bias, quantize_weight, QuantizedBias, QuantizedWeight};
pub use dynamic::quantize_dynamic;
pub use edit::Outcome;
pub use fp16::quantize_fp16;
pub use weight_only::{quantize_weight_only, quantize_weight_only_blocks};

use crate::calibrate::{CalibrationTable, Calibrator};
use crate::error::{Error, Result};
use crate::passes;
use crate::graph::{Model, ValueId};
use crate::runtime::{Session, SessionOptions};
use crate::tensor::{DType, Tensor};
use plan::{Constraints, QuantPlan};
use std::collections::HashMap;

/// One batch of feeds: `(input name, tensor)` pairs.
pub type Batch = Vec<(String, Tensor)>;

/// The stages of a quantization run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Prepare,
    Calibrate,
    Quantize,
    Evaluate,
    KeepFloat,
    Save,
}

/// Progress of a run: `done` of `total` steps of `stage` (`total` is None when the number of
/// calibration batches is not known in advance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub stage: Stage,
    pub done: usize,
    pub total: Option<usize>,
}

/// The result of [`quantize`].
#[derive(Debug, Clone)]
pub struct Quantized {
    pub model: Model,
    /// The model saved as ONNX.
    pub bytes: Vec<u8>,
    pub report: Report,
}

/// Bytes of feeds kept after calibration to evaluate the quantized model on.
pub const EVAL_BUDGET_BYTES: usize = 64 << 20;
/// Most batches kept for evaluation.
pub const EVAL_MAX_BATCHES: usize = 32;

/// Quantizes `model` as `options` say.
///
/// `batches` supplies calibration feeds one batch at a time (static mode needs at least one;
/// other modes ignore them). `progress` is called at every step; returning an error from it
/// (e.g. [`Error::Cancelled`]) stops the run with that error.
///
/// Errors: [`Error::InvalidOptions`] for contradictory options or static mode without data;
/// the session's typed errors ([`Error::InvalidFeed`], ...) for feeds that do not fit the model;
/// [`Error::InvalidModel`] naming the tensor for NaN/Inf weights; [`Error::UnsupportedOps`] when
/// the float model cannot run here (calibration needs to run it).
pub fn quantize<I>(model: &Model, options: &QuantOptions, batches: I, progress: &mut dyn FnMut(Progress) -> Result<()>) -> Result<Quantized>
where
    I: IntoIterator<Item = Result<Batch>>,
{
    options.validate()?;
    let batches = batches.into_iter();
    let mut q = Quantizer::new(model.clone(), options.clone(), progress)?;
    q.total = match batches.size_hint() {
        (lo, Some(hi)) if lo == hi => Some(hi),
        _ => None,
    };
    for batch in batches {
        q.add_batch(batch?, progress)?;
    }
    q.finish(progress)
}

/// The calibration-free modes (dynamic, weight-only, fp16): a graph rewrite by the mode's module.
/// Batches, when given, are not needed to quantize but measure the result: the float and the
/// quantized model run on them and the report compares their outputs.
fn quantize_calibration_free(
    model: &Model,
    options: &QuantOptions,
    batches_given: usize,
    eval_batches: &[Batch],
    progress: &mut dyn FnMut(Progress) -> Result<()>,
) -> Result<Quantized> {
    progress(Progress { stage: Stage::Prepare, done: 0, total: Some(1) })?;
    let float_bytes = crate::onnx::save(model).len();
    progress(Progress { stage: Stage::Quantize, done: 0, total: Some(1) })?;
    let outcome = match options.mode {
        QuantMode::Dynamic => dynamic::rewrite(model, options)?,
        QuantMode::WeightOnly => weight_only::rewrite(model, options, false)?,
        QuantMode::Fp16 => fp16::rewrite(model, options)?,
        QuantMode::Static => return Err(Error::internal("static mode is not calibration-free")),
    };
    progress(Progress { stage: Stage::Quantize, done: 1, total: Some(1) })?;
    let bytes = crate::onnx::save(&outcome.model);
    let mut warnings = Vec::new();
    let eval = if eval_batches.is_empty() {
        report::Evaluation::default()
    } else {
        let float_session = Session::new(model.clone(), &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false })?;
        match Session::new(outcome.model.clone(), &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false }) {
            Ok(session) => {
                let total = Some(eval_batches.len());
                report::evaluate(&float_session, &session, &[], eval_batches, &mut |done| {
                    progress(Progress { stage: Stage::Evaluate, done, total })
                })?
            }
            Err(e) => {
                warnings.push(format!("the quantized model was not evaluated: it does not run here ({e})"));
                report::Evaluation::default()
            }
        }
    };
    progress(Progress { stage: Stage::Save, done: 1, total: Some(1) })?;
    let report = Report {
        options: options.clone(),
        float_bytes,
        quantized_bytes: bytes.len(),
        size_ratio: bytes.len() as f64 / float_bytes.max(1) as f64,
        calibration: report::CalibrationSummary { method: options.calibration.clone(), batches: batches_given, values: 0 },
        evaluated_batches: eval.batches,
        nodes: outcome.nodes,
        weights: outcome.weights,
        activations: Vec::new(),
        outputs: eval.outputs(),
        most_lossy: Vec::new(),
        keep_float: None,
        warnings,
    };
    Ok(Quantized { model: outcome.model, bytes, report })
}

/// Element types of every value: declared, initializers, feeds, and what one run produced.
fn probe_dtypes(session: &Session, first: &Batch) -> Result<Vec<Option<DType>>> {
    let g = &session.model().graph;
    let mut dtypes: Vec<Option<DType>> = g.values.iter().map(|v| v.dtype).collect();
    for (&id, t) in &g.initializers {
        dtypes[id] = Some(t.dtype());
    }
    for (name, t) in first {
        if let Some(id) = g.find_value(name) {
            dtypes[id] = Some(t.dtype());
        }
    }
    let mut seen: Vec<(ValueId, DType)> = Vec::new();
    let mut hook = |id: ValueId, t: &Tensor| {
        seen.push((id, t.dtype()));
        Ok(())
    };
    session.run_observed(first.clone(), Some(&mut hook))?;
    for (id, d) in seen {
        dtypes[id] = Some(d);
    }
    Ok(dtypes)
}

/// Plans until the plan is consistent with the calibration: values without data make their
/// nodes float, folds that are not exact are undone.
fn settle(
    prepared: &Model,
    options: &QuantOptions,
    dtypes: &[Option<DType>],
    mut c: Constraints,
    table: &CalibrationTable,
) -> Result<(QuantPlan, HashMap<ValueId, QParams>, Constraints)> {
    let g = &prepared.graph;
    for _ in 0..=g.nodes.len() + 1 {
        let plan = QuantPlan::build(g, options, dtypes, &c);
        match plan.params(g, table, options) {
            Err(missing) => c.no_data.extend(missing),
            Ok(params) => {
                let bad = plan.check_folds(g, &params);
                if bad.is_empty() {
                    return Ok((plan, params, c));
                }
                c.no_fold.extend(bad);
            }
        }
    }
    Err(Error::internal("the quantization plan did not settle"))
}

/// One rewrite in the chosen format, saved and measured.
struct Candidate {
    plan: QuantPlan,
    params: HashMap<ValueId, QParams>,
    model: Model,
    info: qdq::RewriteInfo,
    bytes: Vec<u8>,
    eval: report::Evaluation,
}

fn build_candidate(
    prepared: &Model,
    float_session: &Session,
    plan: QuantPlan,
    params: HashMap<ValueId, QParams>,
    options: &QuantOptions,
    eval_batches: &[Batch],
    progress: &mut dyn FnMut(Progress) -> Result<()>,
) -> Result<Candidate> {
    let (model, info) = match options.format {
        QuantFormat::Qdq => qdq::rewrite(prepared, &plan, &params, options)?,
        QuantFormat::QOperator => qoperator::rewrite(prepared, &plan, &params, options)?,
    };
    let bytes = crate::onnx::save(&model);
    let session = Session::new(model.clone(), &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false })?;
    let total = Some(eval_batches.len());
    let eval = report::evaluate(float_session, &session, &info.twins, eval_batches, &mut |done| {
        progress(Progress { stage: Stage::Evaluate, done, total })
    })?;
    Ok(Candidate { plan, params, model, info, bytes, eval })
}

/// Calibration data must be finite: a NaN or Inf in a feed would corrupt the ranges (or, skipped,
/// hide a broken pipeline upstream), so it is an [`Error::InvalidFeed`] saying where.
fn check_finite(batch: &Batch, index: usize) -> Result<()> {
    for (name, t) in batch {
        if !t.dtype().is_float() {
            continue;
        }
        if let Some((i, v)) = t.to_f32_vec().iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::InvalidFeed {
                name: name.clone(),
                detail: format!(
                    "calibration batch {index} (counting from 0) holds {v} at element {i} of shape {:?}: calibration data must be finite",
                    t.shape()
                ),
            });
        }
    }
    Ok(())
}

fn batch_bytes(batch: &Batch) -> usize {
    batch.iter().map(|(_, t)| t.size_in_bytes()).sum()
}

/// What the first batch taught: value types, the values to observe, and their observers.
struct Calibrating {
    prepared: Model,
    float_session: Session,
    dtypes: Vec<Option<DType>>,
    names: Vec<String>,
    calibrator: Calibrator,
}

/// Push-style static quantization: [`Quantizer::new`], then [`Quantizer::add_batch`] for every
/// calibration batch (each is observed and dropped, except the first few kept, up to
/// [`EVAL_BUDGET_BYTES`], to evaluate on), then [`Quantizer::finish`]. [`quantize`] is built on it;
/// callers that receive batches asynchronously (the wasm bindings) drive it directly.
pub struct Quantizer {
    options: QuantOptions,
    float_bytes: usize,
    /// The model as given, until the first batch prepares it.
    model: Option<Model>,
    calibrating: Option<Calibrating>,
    warnings: Vec<String>,
    kept: Vec<Batch>,
    kept_bytes: usize,
    done: usize,
    /// Batches regrouped to the model's fixed batch size, when it has one ([`regroup`]).
    regroup: regroup::Regroup,
    /// Number of batches expected, when known (progress reports it as `total`).
    pub total: Option<usize>,
}

impl Quantizer {
    /// Validates the options. The model is prepared (constant folding, BatchNormalization folds)
    /// when the first batch arrives, since which inputs it feeds decides what is a weight.
    /// The calibration-free modes only keep the first batches (to evaluate the result on).
    pub fn new(model: Model, options: QuantOptions, progress: &mut dyn FnMut(Progress) -> Result<()>) -> Result<Quantizer> {
        options.validate()?;
        // Static mode measures the float file now; the calibration-free modes do it in one go at
        // the end.
        let float_bytes = if options.mode == QuantMode::Static {
            progress(Progress { stage: Stage::Prepare, done: 0, total: Some(1) })?;
            crate::onnx::save(&model).len()
        } else {
            0
        };
        Ok(Quantizer {
            options,
            float_bytes,
            regroup: regroup::Regroup::new(&model.graph),
            model: Some(model),
            calibrating: None,
            warnings: Vec::new(),
            kept: Vec::new(),
            kept_bytes: 0,
            done: 0,
            total: None,
        })
    }

    /// Batches observed so far.
    pub fn batches(&self) -> usize {
        self.done
    }

    /// Runs one calibration batch through the float model with the observers hooked in.
    /// The first batch also probes the value types and plans what to observe. When the model
    /// fixes its batch dimension and the batch does not have that many samples, the samples are
    /// regrouped into batches of the model's size ([`regroup`]; the report says so once).
    pub fn add_batch(&mut self, batch: Batch, progress: &mut dyn FnMut(Progress) -> Result<()>) -> Result<()> {
        let (batches, note) = self.regroup.push(batch)?;
        if let Some(note) = note {
            // The caller's batch count no longer counts what is observed.
            self.total = None;
            self.warnings.push(note);
        }
        for b in batches {
            self.observe(b, progress)?;
        }
        Ok(())
    }

    fn observe(&mut self, batch: Batch, progress: &mut dyn FnMut(Progress) -> Result<()>) -> Result<()> {
        check_finite(&batch, self.done)?;
        if self.options.mode != QuantMode::Static {
            // Calibration-free: nothing to observe; keep what fits to evaluate the result on.
            if self.worth_keeping(&batch) {
                self.keep(batch);
            }
            self.done += 1;
            return Ok(());
        }
        if self.calibrating.is_none() {
            let Some(mut prepared) = self.model.take() else {
                return Err(Error::invalid("the quantizer failed on an earlier batch"));
            };
            // Initializers that are also declared as inputs (older exporters list every weight) and
            // that the calibration feeds do not replace are weights: freeze them, so they are
            // quantized (onnxruntime does the same); the quantized model no longer takes them as inputs.
            let frozen: Vec<String> = {
                let g = &prepared.graph;
                g.overridable.iter().map(|&v| g.value_name(v).to_string()).filter(|n| !batch.iter().any(|(f, _)| f == n)).collect()
            };
            if !frozen.is_empty() {
                let g = &mut prepared.graph;
                g.overridable.retain(|&v| !frozen.iter().any(|n| n == &g.values[v].name));
                self.warnings.push(format!(
                    "{} initializers declared as graph inputs were frozen as constants (not fed in calibration): {}",
                    frozen.len(),
                    frozen.iter().take(8).cloned().collect::<Vec<_>>().join(", ") + if frozen.len() > 8 { ", ..." } else { "" }
                ));
            }
            passes::optimize(&mut prepared)?;
            let float_session = Session::new(prepared.clone(), &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false })?;
            let dtypes = match probe_dtypes(&float_session, &batch) {
                Ok(d) => d,
                Err(e) => {
                    // A model whose inputs declare a free batch dimension can still fix it in
                    // its graph: an exporter that traced one sample writes that 1 into a
                    // Reshape's target shape (khmersm's attention: [seq, 1, heads, dim]), and
                    // onnxruntime refuses more samples just the same. If one sample runs, it is
                    // the model's batch: split every batch into single samples, and say so.
                    let one = regroup::samples(&batch).filter(|&n| n > 1 && e.code() == "SHAPE_MISMATCH").and_then(|_| {
                        let first: Batch = batch.iter().map(|(k, t)| Ok((k.clone(), regroup::rows(t, 0, 1)?))).collect::<Result<_>>().ok()?;
                        probe_dtypes(&float_session, &first).ok()
                    });
                    let Some(d) = one else { return Err(e) };
                    self.warnings.push(format!(
                        "the model runs one sample at a time, although its inputs leave the batch dimension free ({e}): calibration batches were split into single samples"
                    ));
                    self.total = None;
                    self.regroup.force(1);
                    let (split, _) = self.regroup.push(batch)?;
                    let g = &prepared.graph;
                    let plan0 = QuantPlan::build(g, &self.options, &d, &Constraints::default());
                    let names = plan0.values_to_calibrate(g);
                    let calibrator = Calibrator::new(self.options.calibration.clone(), &names)?;
                    progress(Progress { stage: Stage::Prepare, done: 1, total: Some(1) })?;
                    self.calibrating = Some(Calibrating { prepared, float_session, dtypes: d, names, calibrator });
                    for b in split {
                        self.observe(b, progress)?;
                    }
                    return Ok(());
                }
            };
            let g = &prepared.graph;
            let plan0 = QuantPlan::build(g, &self.options, &dtypes, &Constraints::default());
            let names = plan0.values_to_calibrate(g);
            let calibrator = Calibrator::new(self.options.calibration.clone(), &names)?;
            progress(Progress { stage: Stage::Prepare, done: 1, total: Some(1) })?;
            self.calibrating = Some(Calibrating { prepared, float_session, dtypes, names, calibrator });
        }
        progress(Progress { stage: Stage::Calibrate, done: self.done, total: self.total })?;
        let keep = self.worth_keeping(&batch);
        let cal = self.calibrating.as_mut().expect("set above");
        if keep {
            cal.calibrator.run_batch(&cal.float_session, batch.clone())?;
            self.keep(batch);
        } else {
            cal.calibrator.run_batch(&cal.float_session, batch)?;
        }
        self.done += 1;
        Ok(())
    }

    /// Whether `batch` fits the evaluation budget (the first batch always does).
    fn worth_keeping(&self, batch: &Batch) -> bool {
        self.kept.is_empty() || (self.kept.len() < EVAL_MAX_BATCHES && self.kept_bytes + batch_bytes(batch) <= EVAL_BUDGET_BYTES)
    }

    fn keep(&mut self, batch: Batch) {
        self.kept_bytes += batch_bytes(&batch);
        self.kept.push(batch);
    }

    /// Computes the parameters, rewrites and evaluates the model, and writes the report.
    pub fn finish(mut self, progress: &mut dyn FnMut(Progress) -> Result<()>) -> Result<Quantized> {
        if let Some((n, size)) = self.regroup.leftover() {
            if self.done == 0 && self.options.mode == QuantMode::Static {
                return Err(Error::InvalidOptions(format!(
                    "the model's batch dimension is fixed at {size} but only {n} calibration samples were given"
                )));
            }
            self.warnings.push(format!("the last {n} calibration samples do not fill a batch of {size} and were not used"));
        }
        if self.options.mode != QuantMode::Static {
            let model = self.model.as_ref().ok_or_else(|| Error::internal("the quantizer lost its model"))?;
            return quantize_calibration_free(model, &self.options, self.done, &self.kept, progress);
        }
        let Quantizer { options, float_bytes, calibrating, kept, done, mut warnings, .. } = self;
        let options = &options;
        let Some(Calibrating { prepared, float_session, dtypes, names, calibrator }) = calibrating else {
            return Err(Error::InvalidOptions("static quantization needs calibration data: no batch of feeds was given".into()));
        };
        progress(Progress { stage: Stage::Calibrate, done, total: Some(done) })?;
        let table = calibrator.finish();
        warnings.extend(
            table.nonfinite().into_iter().map(|(name, n)| format!("calibration skipped {n} NaN/Inf values of '{name}'")),
        );
        let g = &prepared.graph;

        // Quantize and evaluate.
        progress(Progress { stage: Stage::Quantize, done: 0, total: Some(1) })?;
        let mut start = Constraints::default();
        start.mark_fill_values(g, &table);
        let (plan, params, constraints) = settle(&prepared, options, &dtypes, start, &table)?;
        for v in &constraints.no_data {
            warnings.push(format!("no float data reached '{}' during calibration: its readers stay float", g.value_name(*v)));
        }
        for (v, x) in &constraints.fill {
            warnings.push(format!(
                "'{}' reaches {x:e}, a fill value (beyond ±{:e}, as attention masks add): it and the nodes that read or write it stay float",
                g.value_name(*v),
                plan::FILL_MAGNITUDE
            ));
        }
        let mut best = build_candidate(&prepared, &float_session, plan, params, options, &kept, progress)?;
        progress(Progress { stage: Stage::Quantize, done: 1, total: Some(1) })?;

        // Keep the lossiest layers float, if asked.
        let mut keep_report = None;
        if options.keep_float > 0 {
            progress(Progress { stage: Stage::KeepFloat, done: 0, total: Some(1) })?;
            let losses = report::layer_losses(g, &best.plan, &best.eval);
            let chosen: Vec<&report::LayerLoss> = losses.iter().take(options.keep_float).collect();
            if chosen.len() < options.keep_float {
                warnings.push(format!(
                    "keepFloat {} asked, but only {} quantized layers have a measured loss",
                    options.keep_float,
                    chosen.len()
                ));
            }
            let mut c = constraints.clone();
            for l in &chosen {
                c.keep_float.insert(l.index, match l.own_sqnr_db {
                    Some(db) => format!("kept float by keepFloat (its own error: {db:.1} dB SQNR)"),
                    None => "kept float by keepFloat".to_string(),
                });
            }
            let (plan, params, _) = settle(&prepared, options, &dtypes, c, &table)?;
            let mixed = build_candidate(&prepared, &float_session, plan, params, options, &kept, progress)?;
            keep_report = Some(report::KeepFloatReport {
                nodes: chosen.iter().map(|l| l.node.clone()).collect(),
                outputs_before: best.eval.outputs(),
                outputs_after: mixed.eval.outputs(),
                quantized_bytes_before: best.bytes.len(),
                quantized_bytes_after: mixed.bytes.len(),
            });
            best = mixed;
            progress(Progress { stage: Stage::KeepFloat, done: 1, total: Some(1) })?;
        }

        progress(Progress { stage: Stage::Save, done: 0, total: Some(1) })?;
        let Candidate { plan, params, model: qmodel, info, bytes, eval } = best;
        let mut most_lossy = report::layer_losses(g, &plan, &eval);
        most_lossy.truncate(10);
        let report = Report {
            options: options.clone(),
            float_bytes,
            quantized_bytes: bytes.len(),
            size_ratio: bytes.len() as f64 / float_bytes.max(1) as f64,
            calibration: report::CalibrationSummary { method: options.calibration.clone(), batches: done, values: names.len() },
            evaluated_batches: eval.batches,
            nodes: report::node_reports(g, &plan, &params, &info),
            activations: report::activation_reports(g, &plan, &params, &table, &eval),
            outputs: eval.outputs(),
            weights: info.weights,
            most_lossy,
            keep_float: keep_report,
            warnings,
        };
        progress(Progress { stage: Stage::Save, done: 1, total: Some(1) })?;
        Ok(Quantized { model: qmodel, bytes, report })
    }
}
