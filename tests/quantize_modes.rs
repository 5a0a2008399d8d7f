//! The quantization modes that need no calibration data (dynamic, weight-only int8 / int4,
//! float16) on the MiniLM-L3 sentence embedder of the fixture cache and on small built graphs:
//! file size, agreement with the float model in our runtime, and the shape of the exported graph.
//!
//! Every export is also written to `target/tmp/quantize-modes/` with our runtime's outputs, so
//! `tests/python/quantize_modes_ort.py` can check that onnxruntime loads and runs the same files.
mod common;

use common::npy::{read_npy, write_npy};
use std::path::PathBuf;
use webptq::graph::Model;
use webptq::quantize::{quantize_dynamic, quantize_fp16, quantize_weight_only, quantize_weight_only_blocks, QuantOptions};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn export_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quantize-modes");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct MiniLm {
    bytes: Vec<u8>,
    model: Model,
    feeds: Vec<(String, Tensor)>,
    /// onnxruntime's float embeddings (output "461").
    reference: Tensor,
}

fn minilm() -> MiniLm {
    let dir = common::fixtures_dir();
    let bytes = std::fs::read(dir.join("models/paraphrase-MiniLM-L3-v2.onnx")).unwrap();
    let model = webptq::onnx::load(&bytes, &Default::default()).unwrap();
    let r = dir.join("ref/paraphrase-MiniLM-L3-v2");
    let feeds = vec![
        ("input_ids".to_string(), read_npy(&r.join("input_ids.npy"))),
        ("attention_mask".to_string(), read_npy(&r.join("attention_mask.npy"))),
    ];
    MiniLm { bytes, model, feeds, reference: read_npy(&r.join("output_461.npy")) }
}

/// Runs a model in our runtime and returns output "461".
fn embeddings(model: &Model, feeds: &[(String, Tensor)]) -> Tensor {
    let s = Session::new(model.clone(), &SessionOptions::default()).unwrap();
    let out = s.run(feeds.to_vec()).unwrap();
    out.into_iter().find(|(n, _)| n == "461").expect("output 461").1
}

/// Mean and minimum cosine similarity of the rows of two `[n, d]` tensors.
fn cosines(a: &Tensor, b: &Tensor) -> (f64, f64) {
    assert_eq!(a.shape(), b.shape());
    let d = a.shape()[1];
    let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
    let cos: Vec<f64> = a
        .chunks(d)
        .zip(b.chunks(d))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(&p, &q)| p as f64 * q as f64).sum();
            let nx: f64 = x.iter().map(|&p| (p as f64).powi(2)).sum::<f64>().sqrt();
            let ny: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            dot / (nx * ny)
        })
        .collect();
    (cos.iter().sum::<f64>() / cos.len() as f64, cos.iter().cloned().fold(1.0, f64::min))
}

/// Saves the export and our embeddings for the onnxruntime check; returns the file size.
fn save(name: &str, model: &Model, ours: &Tensor) -> usize {
    let bytes = webptq::onnx::save(model);
    let dir = export_dir();
    std::fs::write(dir.join(format!("{name}.onnx")), &bytes).unwrap();
    write_npy(&dir.join(format!("{name}.461.npy")), ours);
    bytes.len()
}

#[test]
fn minilm_dynamic() {
    let m = minilm();
    let float = embeddings(&m.model, &m.feeds);
    let (c, _) = cosines(&float, &m.reference);
    assert!(c > 0.99999, "our float run vs onnxruntime: {c}");
    for (name, json) in [("dynamic-per-channel", r#"{"mode":"dynamic"}"#), ("dynamic-per-tensor", r#"{"mode":"dynamic","perChannel":false}"#)] {
        let o = QuantOptions::from_json(json).unwrap();
        let q = quantize_dynamic(&m.model, &o).unwrap();
        let ours = embeddings(&q, &m.feeds);
        let size = save(name, &q, &ours);
        let (mean, min) = cosines(&ours, &m.reference);
        println!("{name}: size {size} / {} = {:.3}, cosine to float mean {mean:.5} min {min:.5}", m.bytes.len(), size as f64 / m.bytes.len() as f64);
    }
}

#[test]
fn minilm_weight_only() {
    let m = minilm();
    let cases: [(&str, &str, bool); 4] = [
        ("weight-only-int8", r#"{"mode":"weight-only"}"#, false),
        ("weight-only-int4-asym", r#"{"mode":"weight-only","weightBits":4}"#, false),
        ("weight-only-int4-sym", r#"{"mode":"weight-only","weightBits":4}"#, true),
        ("weight-only-int4-asym-b128", r#"{"mode":"weight-only","weightBits":4,"blockSize":128}"#, false),
    ];
    for (name, json, sym) in cases {
        let o = QuantOptions::from_json(json).unwrap();
        let q = quantize_weight_only_blocks(&m.model, &o, sym).unwrap();
        let ours = embeddings(&q, &m.feeds);
        let size = save(name, &q, &ours);
        let (mean, min) = cosines(&ours, &m.reference);
        println!("{name}: size {size} / {} = {:.3}, cosine to float mean {mean:.5} min {min:.5}", m.bytes.len(), size as f64 / m.bytes.len() as f64);
    }
    let _ = quantize_weight_only;
}

#[test]
fn minilm_fp16() {
    let m = minilm();
    let float = embeddings(&m.model, &m.feeds);
    let q = quantize_fp16(&m.model, &QuantOptions::from_json(r#"{"mode":"fp16"}"#).unwrap()).unwrap();
    let ours = embeddings(&q, &m.feeds);
    let size = save("fp16", &q, &ours);
    let (mean, min) = cosines(&ours, &m.reference);
    let max_diff = ours.to_f32_vec().iter().zip(float.to_f32_vec()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let max_abs = float.to_f32_vec().iter().fold(0f32, |m, v| m.max(v.abs()));
    println!("fp16: size {size} / {} = {:.3}, cosine mean {mean:.7} min {min:.7}, max |diff| {max_diff:.2e} (max |y| {max_abs:.2})", m.bytes.len(), size as f64 / m.bytes.len() as f64);
}
