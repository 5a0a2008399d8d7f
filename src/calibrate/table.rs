//! The method options ([`CalibrationMethod`]), the [`Calibrator`] that owns one observer per
//! chosen value and hooks into runs, and the [`CalibrationTable`] it produces.
use super::entropy::DEFAULT_QUANTIZED_BINS;
use super::mse::DEFAULT_LEVELS;
use super::percentile::DEFAULT_PERCENTILE;
use super::{Counts, Entropy, MinMax, Mse, Observer, Percentile, Range, Tails, DEFAULT_BINS};
use crate::error::{Error, Result};
use crate::graph::{Graph, ValueId};
use crate::runtime::Session;
use crate::tensor::Tensor;
use std::collections::{BTreeMap, HashMap};

/// How ranges are computed. Serialized (and parsed, e.g. from JS options) as
/// `{"method": "minmax" | "percentile" | "entropy" | "mse", ...camelCase fields}`; omitted fields
/// take their defaults.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", rename_all_fields = "camelCase")]
pub enum CalibrationMethod {
    /// Smallest and largest value; with `Some(c)`, a moving average of per-batch extremes
    /// (onnxruntime's `averaging_constant`, typically 0.01), `0 < c <= 1`.
    MinMax {
        #[serde(default)]
        moving_average: Option<f32>,
    },
    /// Cut `(100 - percentile)/2` percent from each tail; `0 < percentile <= 100`.
    Percentile {
        #[serde(default = "default_percentile")]
        percentile: f64,
    },
    /// KL-divergence threshold over `bins` bins of |x|, quantized to `quantized_bins` levels.
    Entropy {
        #[serde(default = "default_bins")]
        bins: usize,
        #[serde(default = "default_quantized_bins")]
        quantized_bins: usize,
    },
    /// Threshold minimizing the expected squared error of a 256-level quantizer, over `bins`
    /// bins of |x|.
    Mse {
        #[serde(default = "default_bins")]
        bins: usize,
    },
}

fn default_percentile() -> f64 {
    DEFAULT_PERCENTILE
}
fn default_bins() -> usize {
    DEFAULT_BINS
}
fn default_quantized_bins() -> usize {
    DEFAULT_QUANTIZED_BINS
}

impl Default for CalibrationMethod {
    /// MinMax, as onnxruntime's `quantize_static` defaults to.
    fn default() -> Self {
        CalibrationMethod::MinMax { moving_average: None }
    }
}

impl CalibrationMethod {
    /// Percentile 99.999 (onnxruntime's default).
    pub fn percentile() -> Self {
        CalibrationMethod::Percentile { percentile: DEFAULT_PERCENTILE }
    }
    /// Entropy with 2048 bins and 128 quantized bins (TensorRT's and onnxruntime's defaults).
    pub fn entropy() -> Self {
        CalibrationMethod::Entropy { bins: DEFAULT_BINS, quantized_bins: DEFAULT_QUANTIZED_BINS }
    }
    /// MSE with 2048 bins.
    pub fn mse() -> Self {
        CalibrationMethod::Mse { bins: DEFAULT_BINS }
    }

    /// The method's name as the CLI spells it.
    pub fn name(&self) -> &'static str {
        match self {
            CalibrationMethod::MinMax { .. } => "minmax",
            CalibrationMethod::Percentile { .. } => "percentile",
            CalibrationMethod::Entropy { .. } => "entropy",
            CalibrationMethod::Mse { .. } => "mse",
        }
    }

    /// Checks the options: [`Error::InvalidOptions`] says which is out of range.
    pub fn validate(&self) -> Result<()> {
        self.observer().map(|_| ())
    }

    fn observer(&self) -> Result<AnyObserver> {
        Ok(match *self {
            CalibrationMethod::MinMax { moving_average } => AnyObserver::MinMax(MinMax::new(moving_average)?),
            CalibrationMethod::Percentile { percentile } => {
                AnyObserver::Percentile(Percentile::new(percentile, Tails::Both, DEFAULT_BINS)?)
            }
            CalibrationMethod::Entropy { bins, quantized_bins } => {
                AnyObserver::Entropy(Entropy::new(bins, quantized_bins)?)
            }
            CalibrationMethod::Mse { bins } => AnyObserver::Mse(Mse::new(bins, DEFAULT_LEVELS)?),
        })
    }
}

/// One observer of whichever method the calibrator was built with.
#[derive(Debug, Clone, PartialEq)]
enum AnyObserver {
    MinMax(MinMax),
    Percentile(Percentile),
    Entropy(Entropy),
    Mse(Mse),
}

macro_rules! each {
    ($o:expr, $x:ident => $body:expr) => {
        match $o {
            AnyObserver::MinMax($x) => $body,
            AnyObserver::Percentile($x) => $body,
            AnyObserver::Entropy($x) => $body,
            AnyObserver::Mse($x) => $body,
        }
    };
}

impl AnyObserver {
    fn observe(&mut self, values: &[f32]) {
        each!(self, o => o.observe(values))
    }
    fn merge(&mut self, other: &AnyObserver) -> Result<()> {
        match (self, other) {
            (AnyObserver::MinMax(a), AnyObserver::MinMax(b)) => a.merge(b),
            (AnyObserver::Percentile(a), AnyObserver::Percentile(b)) => a.merge(b),
            (AnyObserver::Entropy(a), AnyObserver::Entropy(b)) => a.merge(b),
            (AnyObserver::Mse(a), AnyObserver::Mse(b)) => a.merge(b),
            _ => Err(Error::InvalidOptions("cannot merge observers of different methods".into())),
        }
    }
    fn range(&self) -> Range {
        each!(self, o => o.range())
    }
    fn counts(&self) -> Counts {
        each!(self, o => o.counts())
    }
}

/// One value's calibration: its range and how much data produced it. Serialized flat:
/// `{"min", "max", "batches", "values", "nonfinite"}`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TableEntry {
    #[serde(flatten)]
    pub range: Range,
    #[serde(flatten)]
    pub counts: Counts,
}

impl TableEntry {
    /// True if at least one finite value was seen; otherwise `range` is a placeholder
    /// ([`Range::ZERO`]) that must not be used to quantize.
    pub fn has_data(&self) -> bool {
        self.counts.values > 0
    }
}

/// Value name → [`TableEntry`], for every value the calibrator was asked to observe (those never
/// produced as a float tensor have `counts.batches == 0`). This is what the quantizer reads.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CalibrationTable {
    pub method: CalibrationMethod,
    pub entries: BTreeMap<String, TableEntry>,
}

impl CalibrationTable {
    pub fn get(&self, name: &str) -> Option<&TableEntry> {
        self.entries.get(name)
    }
    /// The range of `name`, if it is in the table and saw finite data.
    pub fn range(&self, name: &str) -> Option<Range> {
        self.entries.get(name).filter(|e| e.has_data()).map(|e| e.range)
    }
    /// Values whose data held NaN or ±Inf, with how many were skipped.
    pub fn nonfinite(&self) -> Vec<(&str, u64)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.counts.nonfinite > 0)
            .map(|(n, e)| (n.as_str(), e.counts.nonfinite))
            .collect()
    }
    /// Values that saw no finite value at all (never produced, not float, or only NaN/Inf).
    pub fn without_data(&self) -> Vec<&str> {
        self.entries.iter().filter(|(_, e)| !e.has_data()).map(|(n, _)| n.as_str()).collect()
    }
    /// The table as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a table of finite numbers always serializes")
    }
}

/// One observer per chosen value (selected by name), all of one [`CalibrationMethod`].
///
/// Feed it with [`run_batch`](Self::run_batch) (runs a [`Session`] and observes the feeds and
/// every value the run produces), or wire [`hook`](Self::hook) into any run yourself, or call
/// [`observe`](Self::observe) directly. Calibrators that saw different batches (workers)
/// combine with [`merge`](Self::merge). [`finish`](Self::finish) reads the table out.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibrator {
    method: CalibrationMethod,
    names: Vec<String>,
    observers: Vec<AnyObserver>,
    index: HashMap<String, usize>,
}

impl Calibrator {
    /// Validates `method` and creates an observer for each distinct name.
    pub fn new<S: AsRef<str>>(method: CalibrationMethod, names: impl IntoIterator<Item = S>) -> Result<Calibrator> {
        let proto = method.observer()?;
        let mut c = Calibrator { method, names: Vec::new(), observers: Vec::new(), index: HashMap::new() };
        for name in names {
            let name = name.as_ref();
            if !c.index.contains_key(name) {
                c.index.insert(name.to_string(), c.names.len());
                c.names.push(name.to_string());
                c.observers.push(proto.clone());
            }
        }
        Ok(c)
    }

    pub fn method(&self) -> &CalibrationMethod {
        &self.method
    }
    /// The observed value names, in the order given.
    pub fn names(&self) -> &[String] {
        &self.names
    }
    pub fn is_observed(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Observes one tensor of value `name` (one batch). Returns false, doing nothing, if the
    /// name is not selected or the tensor is not float (f32, f16 or f64; f64 values beyond the
    /// f32 range count as non-finite).
    pub fn observe(&mut self, name: &str, tensor: &Tensor) -> bool {
        match self.index.get(name) {
            Some(&slot) => observe_tensor(&mut self.observers[slot], tensor),
            None => false,
        }
    }

    /// Observes raw values of `name` as one batch; false if the name is not selected.
    pub fn observe_values(&mut self, name: &str, values: &[f32]) -> bool {
        match self.index.get(name) {
            Some(&slot) => {
                self.observers[slot].observe(values);
                true
            }
            None => false,
        }
    }

    /// A closure for the runtime's observer hook ([`crate::runtime::ValueHook`]): observes every
    /// selected value a run of a plan over `graph` produces. Graph inputs are not produced by a
    /// run; observe the feeds with [`observe`](Self::observe) (as [`run_batch`](Self::run_batch)
    /// does).
    pub fn hook<'a>(&'a mut self, graph: &Graph) -> impl FnMut(ValueId, &Tensor) -> Result<()> + 'a {
        let slots: Vec<Option<usize>> = graph.values.iter().map(|v| self.index.get(&v.name).copied()).collect();
        move |id, tensor| {
            if let Some(Some(slot)) = slots.get(id) {
                observe_tensor(&mut self.observers[*slot], tensor);
            }
            Ok(())
        }
    }

    /// Runs one batch of feeds through `session`, observing the feeds and every produced value
    /// that is selected; returns the model's outputs. After an error the calibrator may have
    /// seen part of the batch: discard it.
    pub fn run_batch(&mut self, session: &Session, feeds: Vec<(String, Tensor)>) -> Result<Vec<(String, Tensor)>> {
        for (name, tensor) in &feeds {
            self.observe(name, tensor);
        }
        let mut hook = self.hook(&session.model().graph);
        session.run_observed(feeds, Some(&mut hook))
    }

    /// Adds what `other` observed. Both must use the same method, and every value `other`
    /// observes must be observed here too.
    pub fn merge(&mut self, other: &Calibrator) -> Result<()> {
        if self.method != other.method {
            return Err(Error::InvalidOptions(format!(
                "cannot merge calibration by {:?} into calibration by {:?}",
                other.method, self.method
            )));
        }
        if let Some(missing) = other.names.iter().find(|n| !self.index.contains_key(n.as_str())) {
            return Err(Error::InvalidOptions(format!(
                "cannot merge: value '{missing}' is calibrated by the other calibrator only"
            )));
        }
        for (name, obs) in other.names.iter().zip(&other.observers) {
            self.observers[self.index[name]].merge(obs)?;
        }
        Ok(())
    }

    /// The table of ranges so far (computing the histogram methods' thresholds now).
    pub fn finish(&self) -> CalibrationTable {
        let entries = self
            .names
            .iter()
            .zip(&self.observers)
            .map(|(n, o)| (n.clone(), TableEntry { range: o.range(), counts: o.counts() }))
            .collect();
        CalibrationTable { method: self.method.clone(), entries }
    }
}

fn observe_tensor(obs: &mut AnyObserver, tensor: &Tensor) -> bool {
    match tensor {
        Tensor::F32(a) => match a.as_slice_memory_order() {
            // Element order does not matter to any statistic: take the buffer as it is.
            Some(s) => obs.observe(s),
            None => obs.observe(&a.iter().copied().collect::<Vec<f32>>()),
        },
        Tensor::F16(_) | Tensor::F64(_) => obs.observe(&tensor.to_f32_vec()),
        _ => return false,
    }
    true
}

/// Calibrates `names` over every batch of feeds: the data source of the three parts, for Rust
/// and CLI callers (JS drives [`Calibrator::run_batch`] itself, one batch per message).
///
/// Errors: [`Error::InvalidOptions`] for bad method options, a name the model does not have, or
/// no batch at all; the first batch error (from the iterator or the run) as is.
pub fn calibrate<S, I>(session: &Session, method: CalibrationMethod, names: &[S], batches: I) -> Result<CalibrationTable>
where
    S: AsRef<str>,
    I: IntoIterator<Item = Result<Vec<(String, Tensor)>>>,
{
    let graph = &session.model().graph;
    if let Some(bad) = names.iter().map(|n| n.as_ref()).find(|n| graph.find_value(n).is_none()) {
        return Err(Error::InvalidOptions(format!("cannot calibrate '{bad}': the model has no value of that name")));
    }
    let mut calibrator = Calibrator::new(method, names.iter().map(|n| n.as_ref()))?;
    let mut seen = 0usize;
    for batch in batches {
        calibrator.run_batch(session, batch?)?;
        seen += 1;
    }
    if seen == 0 {
        return Err(Error::InvalidOptions("calibration data is empty: no batch of feeds was given".into()));
    }
    Ok(calibrator.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::testdata;
    use crate::graph::{Attr, Attrs, Model, Node, OpsetId};
    use crate::ops::{FnOp, Registry};
    use crate::runtime::{Plan, SessionOptions};
    use crate::tensor::DType;
    use std::sync::Arc;

    fn f32_tensor(data: Vec<f32>) -> Tensor {
        Tensor::from_vec(&[data.len()], data).unwrap()
    }

    #[test]
    fn method_defaults_and_validation() {
        assert_eq!(CalibrationMethod::default(), CalibrationMethod::MinMax { moving_average: None });
        assert_eq!(CalibrationMethod::percentile(), CalibrationMethod::Percentile { percentile: 99.999 });
        assert_eq!(CalibrationMethod::entropy(), CalibrationMethod::Entropy { bins: 2048, quantized_bins: 128 });
        assert_eq!(CalibrationMethod::mse(), CalibrationMethod::Mse { bins: 2048 });
        for ok in [CalibrationMethod::default(), CalibrationMethod::percentile(), CalibrationMethod::entropy(), CalibrationMethod::mse()] {
            ok.validate().unwrap();
        }
        let bad = [
            CalibrationMethod::Percentile { percentile: 0.0 },
            CalibrationMethod::Percentile { percentile: 100.5 },
            CalibrationMethod::Percentile { percentile: f64::NAN },
            CalibrationMethod::Entropy { bins: 0, quantized_bins: 128 },
            CalibrationMethod::Entropy { bins: 2048, quantized_bins: 0 },
            CalibrationMethod::Mse { bins: 0 },
            CalibrationMethod::MinMax { moving_average: Some(0.0) },
            CalibrationMethod::MinMax { moving_average: Some(2.0) },
        ];
        for b in bad {
            let err = Calibrator::new(b.clone(), ["x"]).unwrap_err();
            assert_eq!(err.code(), "INVALID_OPTIONS", "{b:?}");
        }
    }

    #[test]
    fn method_json_round_trip_with_defaults() {
        let m: CalibrationMethod = serde_json::from_str(r#"{"method":"entropy","quantizedBins":255}"#).unwrap();
        assert_eq!(m, CalibrationMethod::Entropy { bins: 2048, quantized_bins: 255 });
        let m: CalibrationMethod = serde_json::from_str(r#"{"method":"minmax","movingAverage":0.01}"#).unwrap();
        assert_eq!(m, CalibrationMethod::MinMax { moving_average: Some(0.01) });
        let m: CalibrationMethod = serde_json::from_str(r#"{"method":"percentile"}"#).unwrap();
        assert_eq!(m, CalibrationMethod::percentile());
        let json = serde_json::to_string(&CalibrationMethod::mse()).unwrap();
        assert_eq!(json, r#"{"method":"mse","bins":2048}"#);
        assert!(serde_json::from_str::<CalibrationMethod>(r#"{"method":"kl"}"#).is_err());
    }

    #[test]
    fn observes_float_tensors_by_name_and_ignores_the_rest() {
        let mut c = Calibrator::new(CalibrationMethod::default(), ["a", "b", "a", "ints"]).unwrap();
        assert_eq!(c.names(), &["a", "b", "ints"]);
        assert!(c.observe("a", &f32_tensor(vec![1.0, -2.0, f32::NAN])));
        assert!(c.observe("a", &Tensor::from_vec(&[2], vec![half::f16::from_f32(3.0), half::f16::from_f32(0.5)]).unwrap()));
        assert!(c.observe("b", &Tensor::from_vec(&[1], vec![1e300f64]).unwrap()));
        assert!(!c.observe("ints", &Tensor::from_vec(&[2], vec![5i64, 6]).unwrap()));
        assert!(!c.observe("unknown", &f32_tensor(vec![100.0])));
        // A transposed (non-standard-layout) view is read in memory order.
        let t = Tensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 2]), vec![1.0, 2.0, 3.0, 9.0]).unwrap().reversed_axes());
        assert!(c.observe("b", &t));
        let table = c.finish();
        let a = table.get("a").unwrap();
        assert_eq!(a.range, Range { min: -2.0, max: 3.0 });
        assert_eq!(a.counts, Counts { batches: 2, values: 4, nonfinite: 1 });
        let b = table.get("b").unwrap();
        assert_eq!((b.range, b.counts.nonfinite, b.counts.values), (Range { min: 1.0, max: 9.0 }, 1, 4));
        assert!(!table.get("ints").unwrap().has_data());
        assert_eq!(table.range("ints"), None);
        assert_eq!(table.without_data(), vec!["ints"]);
        assert_eq!(table.nonfinite(), vec![("a", 1), ("b", 1)]);
    }

    #[test]
    fn table_serializes_flat_for_js() {
        let mut c = Calibrator::new(CalibrationMethod::default(), ["x"]).unwrap();
        c.observe("x", &f32_tensor(vec![-1.5, 2.0, f32::INFINITY]));
        let v: serde_json::Value = serde_json::from_str(&c.finish().to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "method": {"method": "minmax", "movingAverage": null},
                "entries": {"x": {"min": -1.5, "max": 2.0, "batches": 1, "values": 2, "nonfinite": 1}}
            })
        );
    }

    #[test]
    fn every_method_through_the_calibrator_and_merge() {
        let data = testdata::normal(200_000, 1.0, 51);
        let (a, b) = data.split_at(77_777);
        for method in [
            CalibrationMethod::default(),
            CalibrationMethod::percentile(),
            CalibrationMethod::entropy(),
            CalibrationMethod::mse(),
        ] {
            let mut all = Calibrator::new(method.clone(), ["v"]).unwrap();
            all.observe_values("v", a);
            all.observe_values("v", b);
            let mut left = Calibrator::new(method.clone(), ["v"]).unwrap();
            left.observe_values("v", a);
            let mut right = Calibrator::new(method.clone(), ["v"]).unwrap();
            right.observe_values("v", b);
            left.merge(&right).unwrap();
            let (got, want) = (left.finish(), all.finish());
            assert_eq!(got, want, "{method:?}");
            let r = want.range("v").unwrap();
            assert!(r.min < -2.5 && r.max > 2.5, "{method:?}: {r:?}");
        }
        let mut mm = Calibrator::new(CalibrationMethod::default(), ["v"]).unwrap();
        assert!(mm.merge(&Calibrator::new(CalibrationMethod::mse(), ["v"]).unwrap()).is_err());
        assert!(mm.merge(&Calibrator::new(CalibrationMethod::default(), ["w"]).unwrap()).is_err());
        mm.merge(&Calibrator::new(CalibrationMethod::default(), Vec::<String>::new()).unwrap()).unwrap();
    }

    fn node(op: &str, inputs: &[ValueId], outputs: &[ValueId], attrs: Attrs) -> Node {
        Node {
            name: format!("{op}_{}", outputs[0]),
            op_type: op.into(),
            domain: String::new(),
            inputs: inputs.iter().map(|&i| Some(i)).collect(),
            outputs: outputs.iter().map(|&o| Some(o)).collect(),
            attrs,
        }
    }

    #[test]
    fn hook_observes_selected_values_of_a_plan_run() {
        // x -> Twice -> y -> Floor64 -> z (int64): y is float, z is ignored.
        let mut g = Graph::default();
        let x = g.add_value("x", Some(DType::F32), None);
        let y = g.add_value("y", Some(DType::F32), None);
        let z = g.add_value("z", Some(DType::I64), None);
        g.inputs = vec![x];
        g.outputs = vec![z];
        g.nodes = vec![node("Twice", &[x], &[y], Attrs::default()), node("Floor64", &[y], &[z], Attrs::default())];
        let mut reg = Registry::default();
        reg.register("", "Twice", |_| {
            Ok(Box::new(FnOp(|i: &[Option<&Tensor>]| {
                Ok(vec![Tensor::F32(i[0].unwrap().array::<f32>()?.mapv(|v| 2.0 * v))])
            })))
        });
        reg.register("", "Floor64", |_| {
            Ok(Box::new(FnOp(|i: &[Option<&Tensor>]| {
                Ok(vec![Tensor::I64(i[0].unwrap().array::<f32>()?.mapv(|v| v.floor() as i64))])
            })))
        });
        let plan = Plan::new(&g, &reg, &|_| 13).unwrap();
        let mut c = Calibrator::new(CalibrationMethod::default(), ["y", "z", "x"]).unwrap();
        for batch in [vec![1.0f32, -0.5], vec![3.0, f32::NAN]] {
            let mut hook = c.hook(&g);
            plan.run(vec![(x, Arc::new(f32_tensor(batch)))], Some(&mut hook)).unwrap();
        }
        let t = c.finish();
        assert_eq!(t.get("y").unwrap().range, Range { min: -1.0, max: 6.0 });
        assert_eq!(t.get("y").unwrap().counts, Counts { batches: 2, values: 3, nonfinite: 1 });
        assert_eq!(t.get("z").unwrap().counts.batches, 0, "int64 values are not calibrated");
        assert_eq!(t.get("x").unwrap().counts.batches, 0, "feeds are not produced by a run");
    }

    fn tiny_session() -> Session {
        // Graph input x is also an output; a Constant node produces c.
        let mut g = Graph::default();
        let x = g.add_value("x", Some(DType::F32), None);
        let c = g.add_value("c", None, None);
        g.inputs = vec![x];
        g.outputs = vec![x, c];
        let mut attrs = Attrs::default();
        attrs.set("value_floats", Attr::Floats(vec![-4.0, 0.25]));
        g.nodes = vec![node("Constant", &[], &[c], attrs)];
        let model = Model {
            ir_version: 8,
            opset_imports: vec![OpsetId { domain: String::new(), version: 13 }],
            producer_name: String::new(),
            producer_version: String::new(),
            doc_string: String::new(),
            metadata: Vec::new(),
            graph: g,
        };
        Session::new(model, &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false }).unwrap()
    }

    #[test]
    fn calibrate_runs_batches_and_observes_feeds_and_produced_values() {
        let s = tiny_session();
        let batches = (0..3).map(|i| Ok(vec![("x".to_string(), f32_tensor(vec![i as f32, -(i as f32) / 2.0]))]));
        let t = calibrate(&s, CalibrationMethod::default(), &["x", "c"], batches).unwrap();
        assert_eq!(t.get("x").unwrap().range, Range { min: -1.0, max: 2.0 });
        assert_eq!(t.get("x").unwrap().counts.batches, 3);
        assert_eq!(t.get("c").unwrap().range, Range { min: -4.0, max: 0.25 });
    }

    #[test]
    fn calibrate_errors_are_typed() {
        let s = tiny_session();
        let none = std::iter::empty::<Result<Vec<(String, Tensor)>>>();
        let e = calibrate(&s, CalibrationMethod::default(), &["x"], none).unwrap_err();
        assert!(matches!(e, Error::InvalidOptions(ref m) if m.contains("empty")), "{e}");
        let one = || std::iter::once(Ok(vec![("x".to_string(), f32_tensor(vec![1.0]))]));
        let e = calibrate(&s, CalibrationMethod::default(), &["nope"], one()).unwrap_err();
        assert!(matches!(e, Error::InvalidOptions(ref m) if m.contains("'nope'")), "{e}");
        let e = calibrate(&s, CalibrationMethod::Percentile { percentile: 0.0 }, &["x"], one()).unwrap_err();
        assert_eq!(e.code(), "INVALID_OPTIONS");
        let wrong = std::iter::once(Ok(vec![("y".to_string(), f32_tensor(vec![1.0]))]));
        let e = calibrate(&s, CalibrationMethod::default(), &["x"], wrong).unwrap_err();
        assert_eq!(e.code(), "INVALID_FEED");
        let failing = std::iter::once(Err(Error::Cancelled));
        assert_eq!(calibrate(&s, CalibrationMethod::default(), &["x"], failing).unwrap_err(), Error::Cancelled);
    }
}
