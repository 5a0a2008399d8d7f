//! The only place with `#[wasm_bindgen]`: thin wrappers around core types. Errors convert here,
//! once, into JS `Error`s carrying a stable `code`; tensors cross as raw little-endian bytes that
//! the JS wrapper views as typed arrays. Nothing here holds logic of its own.
use crate::error::Error;
use crate::runtime::SessionOptions;
use crate::tensor::{DType, Tensor};
use js_sys::{Array, Object, Reflect, Uint8Array};
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

#[cfg(feature = "checks")]
mod checks;
mod memory;

fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = Reflect::set(&err, &"code".into(), &e.code().into());
    // Structured fields, so that JS never parses the message.
    if let Error::UnsupportedOps(list) = &e {
        if let Ok(v) = to_js(list) {
            let _ = Reflect::set(&err, &"unsupported".into(), &v);
        }
    }
    err.into()
}

fn get(obj: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(obj, &key.into())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_sys::Error::new(&e.to_string()).into())
}

/// Bytes of external data files: a JS object mapping location name to Uint8Array.
fn external_files(external: &JsValue) -> Result<Vec<(String, Vec<u8>)>, JsValue> {
    if external.is_undefined() || external.is_null() {
        return Ok(vec![]);
    }
    let keys = Object::keys(&Object::from(external.clone()));
    let mut out = Vec::new();
    for k in keys.iter() {
        let name = k.as_string().unwrap_or_default();
        let bytes = Uint8Array::new(&get(external, &name)?).to_vec();
        out.push((name, bytes));
    }
    Ok(out)
}

fn load_model(bytes: &[u8], external: &JsValue) -> Result<crate::graph::Model, JsValue> {
    let files = external_files(external)?;
    let map: HashMap<String, &[u8]> = files.iter().map(|(k, v)| (k.clone(), v.as_slice())).collect();
    crate::onnx::load(bytes, &map).map_err(js_error)
}

/// Feeds from JS: an array of `{ name, type, dims, bytes }`.
fn parse_feeds(feeds: &Array) -> Result<Vec<(String, Tensor)>, JsValue> {
    let mut tensors = Vec::with_capacity(feeds.length() as usize);
    for f in feeds.iter() {
        let name = get(&f, "name")?.as_string().unwrap_or_default();
        let ty = get(&f, "type")?.as_string().unwrap_or_default();
        let dtype = DType::from_js_name(&ty).map_err(|e| js_error(Error::InvalidFeed { name: name.clone(), detail: e.to_string() }))?;
        let dims: Vec<usize> = Array::from(&get(&f, "dims")?)
            .iter()
            .map(|d| d.as_f64().filter(|v| *v >= 0.0 && v.fract() == 0.0).map(|v| v as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| js_error(Error::InvalidFeed { name: name.clone(), detail: "dims must be non-negative integers".into() }))?;
        let bytes = Uint8Array::new(&get(&f, "bytes")?).to_vec();
        let t = Tensor::from_le_bytes(dtype, &dims, &bytes).map_err(|e| js_error(Error::InvalidFeed { name: name.clone(), detail: e.to_string() }))?;
        tensors.push((name, t));
    }
    Ok(tensors)
}

/// Calls a JS progress callback (if any) with `{ stage, done, total }`; a throw stops the run as
/// CANCELLED.
fn js_progress(callback: &JsValue) -> impl FnMut(crate::quantize::Progress) -> crate::error::Result<()> + '_ {
    move |p| {
        if let Some(f) = callback.dyn_ref::<js_sys::Function>() {
            let v = to_js(&p).map_err(|_| Error::Cancelled)?;
            f.call1(&JsValue::NULL, &v).map_err(|_| Error::Cancelled)?;
        }
        Ok(())
    }
}

/// Push-style static quantization: `new(modelBytes, external, options)`, `addBatch(feeds)` per
/// calibration batch (observed and dropped in Rust; only the first few are kept to evaluate on),
/// then `finish()` → `{ bytes, report }`.
#[wasm_bindgen]
pub struct WasmQuantizer {
    inner: Option<crate::quantize::Quantizer>,
}

#[wasm_bindgen]
impl WasmQuantizer {
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], external: JsValue, options: JsValue, progress: JsValue) -> Result<WasmQuantizer, JsValue> {
        // Through JSON, so that serde_json enforces deny_unknown_fields (serde_wasm_bindgen reads
        // only the declared fields of a struct, so a misspelt option would pass silently).
        let opts = if options.is_undefined() || options.is_null() {
            crate::quantize::QuantOptions::default()
        } else {
            let json = js_sys::JSON::stringify(&options)
                .ok()
                .and_then(|s| s.as_string())
                .ok_or_else(|| js_error(Error::InvalidOptions("options must be a JSON-compatible object".into())))?;
            crate::quantize::QuantOptions::from_json(&json).map_err(js_error)?
        };
        let model = load_model(bytes, &external)?;
        let inner = crate::quantize::Quantizer::new(model, opts, &mut js_progress(&progress)).map_err(js_error)?;
        Ok(WasmQuantizer { inner: Some(inner) })
    }

    fn quantizer(&mut self) -> Result<&mut crate::quantize::Quantizer, JsValue> {
        self.inner.as_mut().ok_or_else(|| js_error(Error::invalid("the quantizer has already finished")))
    }

    /// Number of batches expected (progress `total`), when known.
    #[wasm_bindgen(js_name = setTotal)]
    pub fn set_total(&mut self, total: Option<u32>) -> Result<(), JsValue> {
        self.quantizer()?.total = total.map(|t| t as usize);
        Ok(())
    }

    /// Batches observed so far.
    pub fn batches(&self) -> usize {
        self.inner.as_ref().map_or(0, |q| q.batches())
    }

    /// `feeds`: array of `{ name, type, dims, bytes }`.
    #[wasm_bindgen(js_name = addBatch)]
    pub fn add_batch(&mut self, feeds: Array, progress: JsValue) -> Result<(), JsValue> {
        let batch = parse_feeds(&feeds)?;
        self.quantizer()?.add_batch(batch, &mut js_progress(&progress)).map_err(js_error)
    }

    /// Returns `{ bytes: Uint8Array, report: object }`.
    pub fn finish(&mut self, progress: JsValue) -> Result<JsValue, JsValue> {
        let q = self.inner.take().ok_or_else(|| js_error(Error::invalid("the quantizer has already finished")))?;
        let out = q.finish(&mut js_progress(&progress)).map_err(js_error)?;
        let o = Object::new();
        Reflect::set(&o, &"bytes".into(), &Uint8Array::from(out.bytes.as_slice()))?;
        Reflect::set(&o, &"report".into(), &to_js(&out.report)?)?;
        Ok(o.into())
    }
}

/// A parsed model: inspect it, save it.
#[wasm_bindgen]
pub struct WasmModel {
    inner: crate::graph::Model,
}

#[wasm_bindgen]
impl WasmModel {
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], external: JsValue) -> Result<WasmModel, JsValue> {
        Ok(WasmModel { inner: load_model(bytes, &external)? })
    }

    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&crate::info::model_info(&self.inner))
    }

    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::onnx::save(&self.inner)
    }
}

/// A model ready to run.
#[wasm_bindgen]
pub struct WasmSession {
    inner: crate::runtime::Session,
}

/// Session options from JS, `{ optimize?: boolean, engine?: 'auto' | 'float' | 'int8' }`, both
/// already checked by js/session.js. `engine: 'float'` runs Q/DQ nodes as written (no QDQ
/// fusion into integer ops); 'auto' and 'int8' fuse them (`passes::fuse_qdq`); 'int8' is checked
/// in JS (the model must be quantized).
fn session_options(options: &JsValue) -> Result<SessionOptions, JsValue> {
    let mut o = SessionOptions::default();
    if options.is_undefined() || options.is_null() {
        return Ok(o);
    }
    if let Some(b) = get(options, "optimize")?.as_bool() {
        o.optimize = b;
    }
    match get(options, "engine")?.as_string().as_deref() {
        None | Some("auto") | Some("int8") => Ok(o),
        Some("float") => {
            o.fuse_qdq = false;
            Ok(o)
        }
        Some(other) => Err(js_error(Error::InvalidOptions(format!("unknown engine '{other}' (auto, float or int8)")))),
    }
}

#[wasm_bindgen]
impl WasmSession {
    /// `options`: see [`session_options`].
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], external: JsValue, options: JsValue) -> Result<WasmSession, JsValue> {
        let opts = session_options(&options)?;
        let model = load_model(bytes, &external)?;
        let inner = crate::runtime::Session::new(model, &opts).map_err(js_error)?;
        Ok(WasmSession { inner })
    }

    /// A session on a copy of a parsed model (no serialize/parse round trip).
    #[wasm_bindgen(js_name = fromModel)]
    pub fn from_model(model: &WasmModel, options: JsValue) -> Result<WasmSession, JsValue> {
        let opts = session_options(&options)?;
        let inner = crate::runtime::Session::new(model.inner.clone(), &opts).map_err(js_error)?;
        Ok(WasmSession { inner })
    }

    #[wasm_bindgen(js_name = inputNames)]
    pub fn input_names(&self) -> Vec<String> {
        self.inner.input_names()
    }

    #[wasm_bindgen(js_name = outputNames)]
    pub fn output_names(&self) -> Vec<String> {
        self.inner.output_names()
    }

    pub fn info(&self) -> Result<JsValue, JsValue> {
        to_js(&crate::info::model_info(self.inner.model()))
    }

    /// `{ peakActivationBytes, fusedGroups }`: the largest activation memory a run has needed so
    /// far and how many QDQ groups run as integer ops.
    pub fn stats(&self) -> Result<JsValue, JsValue> {
        let o = Object::new();
        Reflect::set(&o, &"peakActivationBytes".into(), &(self.inner.peak_activation_bytes() as f64).into())?;
        Reflect::set(&o, &"fusedGroups".into(), &(self.inner.fused_groups() as f64).into())?;
        Ok(o.into())
    }

    /// Runs once with the same `feeds` as [`run`](Self::run) and returns the time of every node,
    /// in the order they ran: `[{ index, name, opType, ms }]` (`Session::profile`).
    pub fn profile(&self, feeds: Array) -> Result<JsValue, JsValue> {
        let tensors = parse_feeds(&feeds)?;
        to_js(&self.inner.profile(tensors, &mut now_ms).map_err(js_error)?)
    }

    /// `feeds`: array of `{ name, type, dims, bytes }`; returns the same shape for the outputs.
    pub fn run(&self, feeds: Array) -> Result<Array, JsValue> {
        let tensors = parse_feeds(&feeds)?;
        let outputs = self.inner.run(tensors).map_err(js_error)?;
        let result = Array::new();
        for (name, t) in outputs {
            let o = Object::new();
            Reflect::set(&o, &"name".into(), &name.into())?;
            Reflect::set(&o, &"type".into(), &t.dtype().js_name().into())?;
            let dims = Array::new();
            for &d in t.shape() {
                dims.push(&(d as f64).into());
            }
            Reflect::set(&o, &"dims".into(), &dims)?;
            Reflect::set(&o, &"bytes".into(), &Uint8Array::from(t.to_le_bytes().as_slice()))?;
            result.push(&o);
        }
        Ok(result)
    }
}

/// The ops this build can run, as "Op" or "domain.Op".
/// The external data files a model names (`location`s), for a loader that reads them next to it.
#[wasm_bindgen(js_name = externalDataLocations)]
pub fn external_data_locations(bytes: &[u8]) -> Result<Array, JsValue> {
    let names = crate::onnx::external_locations(bytes).map_err(js_error)?;
    Ok(names.into_iter().map(JsValue::from).collect())
}

#[wasm_bindgen(js_name = supportedOps)]
pub fn supported_ops() -> Vec<String> {
    crate::ops::Registry::standard()
        .op_types()
        .into_iter()
        .map(|(d, o)| if d.is_empty() { o } else { format!("{d}.{o}") })
        .collect()
}

/// Milliseconds from `performance.now()` (Node, browsers, workers), else `Date.now()`.
fn now_ms() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).ok();
    perf.and_then(|p| {
        let now = Reflect::get(&p, &"now".into()).ok()?.dyn_into::<js_sys::Function>().ok()?;
        now.call0(&p).ok()?.as_f64()
    })
    .unwrap_or_else(js_sys::Date::now)
}

/// The micro-kernels of this build: `{ f32: [selected names], int8: [every int8 kernel],
/// int8Selected: name }`.
#[wasm_bindgen(js_name = kernelNames)]
pub fn kernel_names() -> Result<JsValue, JsValue> {
    use crate::kernels::select;
    let o = Object::new();
    let names = |it: Vec<&str>| it.into_iter().map(JsValue::from).collect::<Array>();
    Reflect::set(&o, &"f32".into(), &names(select::gemm_f32_kernels().iter().map(|k| k.name).collect()))?;
    Reflect::set(&o, &"int8".into(), &names(select::qgemm_kernels().iter().map(|k| k.name).collect()))?;
    Reflect::set(&o, &"int8Selected".into(), &select::qgemm().main.name.into())?;
    Ok(o.into())
}

