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
use webptq::quantize::{quantize, quantize_dynamic, quantize_fp16, quantize_weight_only, quantize_weight_only_blocks, QuantOptions};
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
        let ratio = size as f64 / m.bytes.len() as f64;
        println!("{name}: size {size} / {} = {ratio:.3}, cosine to float mean {mean:.5} min {min:.5}", m.bytes.len());
        // Issue 3: dynamic per-channel keeps the mean cosine at or above 0.995 (measured 0.9974;
        // per tensor 0.9748). Embedding table and MatMul weights are int8: about a quarter of the file.
        let want = if name.ends_with("per-channel") { 0.995 } else { 0.97 };
        assert!(mean >= want, "{name}: mean cosine {mean} < {want}");
        assert!(ratio < 0.26, "{name}: size ratio {ratio}");
    }
}

/// Static int8 on MiniLM-L3: the attention mask adds `(1 - mask) * f32::MIN` to the scores, a
/// fill value that 8 bits cannot hold beside the scores. Those values and their readers stay float
/// (plan::FILL_MAGNITUDE), with a warning; quantized with the fill, every score rounded to the zero
/// point and the mean cosine to float was 0.66.
#[test]
fn minilm_static_keeps_mask_fill_float() {
    let m = minilm();
    let float = embeddings(&m.model, &m.feeds);
    let o = QuantOptions::default();
    let q = quantize(&m.model, &o, std::iter::once(Ok(m.feeds.clone())), &mut |_| Ok(())).unwrap();
    let fill: Vec<&String> = q.report.warnings.iter().filter(|w| w.contains("fill value")).collect();
    assert!(!fill.is_empty(), "no fill-value warning: {:?}", q.report.warnings);
    let ours = embeddings(&q.model, &m.feeds);
    let (mean, min) = cosines(&ours, &float);
    println!("static: {} fill values kept float; cosine to float mean {mean:.5} min {min:.5}", fill.len());
    // Measured 0.899 (min 0.873) with the fill kept float, 0.66 without: what is left is the
    // activation outliers of static int8 transformers (issue 14: SmoothQuant, mixed precision).
    assert!(mean >= 0.85, "static int8 MiniLM: mean cosine {mean} < 0.85 (min {min})");
}

#[test]
fn minilm_weight_only() {
    let m = minilm();
    // (name, options, symmetric blocks, least mean cosine, largest size ratio); measured: int8
    // 0.99984 at 0.253, int4 asymmetric 0.98786 at 0.224 (onnxruntime's MatMulNBits quantizer:
    // 0.98787), symmetric 0.98543 at 0.223 (onnxruntime: 0.98542), block 128 0.98101 at 0.216.
    let cases: [(&str, &str, bool, f64, f64); 4] = [
        ("weight-only-int8", r#"{"mode":"weight-only"}"#, false, 0.999, 0.26),
        ("weight-only-int4-asym", r#"{"mode":"weight-only","weightBits":4}"#, false, 0.985, 0.23),
        ("weight-only-int4-sym", r#"{"mode":"weight-only","weightBits":4}"#, true, 0.98, 0.23),
        ("weight-only-int4-asym-b128", r#"{"mode":"weight-only","weightBits":4,"blockSize":128}"#, false, 0.975, 0.22),
    ];
    for (name, json, sym, want, max_ratio) in cases {
        let o = QuantOptions::from_json(json).unwrap();
        let q = quantize_weight_only_blocks(&m.model, &o, sym).unwrap();
        let ours = embeddings(&q, &m.feeds);
        let size = save(name, &q, &ours);
        let (mean, min) = cosines(&ours, &m.reference);
        let ratio = size as f64 / m.bytes.len() as f64;
        println!("{name}: size {size} / {} = {ratio:.3}, cosine to float mean {mean:.5} min {min:.5}", m.bytes.len());
        assert!(mean >= want, "{name}: mean cosine {mean} < {want}");
        assert!(ratio < max_ratio, "{name}: size ratio {ratio}");
    }
    // The default entry point uses asymmetric blocks.
    let o = QuantOptions::from_json(r#"{"mode":"weight-only","weightBits":4}"#).unwrap();
    assert_eq!(quantize_weight_only(&m.model, &o).unwrap(), quantize_weight_only_blocks(&m.model, &o, false).unwrap());
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
    let ratio = size as f64 / m.bytes.len() as f64;
    println!("fp16: size {size} / {} = {ratio:.3}, cosine mean {mean:.7} min {min:.7}, max |diff| {max_diff:.2e} (max |y| {max_abs:.2})", m.bytes.len());
    // Half the file; outputs within float16 weight rounding (measured: cosine 0.9999998, max
    // |diff| 6.6e-4 on embeddings of magnitude up to 1.2).
    assert!(ratio < 0.51, "size ratio {ratio}");
    assert!(min > 0.99999, "min cosine {min}");
    assert!(max_diff < 2e-3, "max |diff| {max_diff}");
}

// ---------------------------------------------------------------------------------------------
// Built graphs: every rewrite (Conv, Gemm with transB/alpha/beta/bias, MatMul, Gather) on a small
// CNN head and an embedding lookup, with random weights.

use common::build;
use prost::Message;
use webptq::onnx::proto;
use webptq::quantize::quantize_weight_only_blocks as blocks;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect()
}

fn attr_ints(name: &str, v: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), ints: v.to_vec(), r#type: Some(7), ..Default::default() }
}
fn attr_int(name: &str, v: i64) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), i: Some(v), r#type: Some(2), ..Default::default() }
}
fn attr_float(name: &str, v: f32) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), f: Some(v), r#type: Some(1), ..Default::default() }
}

/// x [2, 3, 8, 8] → Conv(4×3×3×3, bias, pads 1, stride 2) → Relu → Flatten → Gemm(B [5, 64],
/// transB, alpha 0.5, beta 2, C [5]) → MatMul(W [5, 6]) → y [2, 6].
fn cnn_head(opset: i64, w: Vec<f32>) -> Model {
    let mut conv = build::node("Conv", "conv", &["x", "W", "B"], &["c"]);
    conv.attribute = vec![attr_ints("pads", &[1, 1, 1, 1]), attr_ints("strides", &[2, 2]), attr_ints("kernel_shape", &[3, 3])];
    let mut gemm = build::node("Gemm", "fc", &["f", "W2", "C2"], &["g"]);
    gemm.attribute = vec![attr_int("transB", 1), attr_float("alpha", 0.5), attr_float("beta", 2.0)];
    let nodes = vec![
        conv,
        build::node("Relu", "relu", &["c"], &["r"]),
        build::node("Flatten", "flatten", &["r"], &["f"]),
        gemm,
        build::node("MatMul", "proj", &["g", "W3"], &["y"]),
    ];
    let inits = vec![
        build::f32_tensor("W", &[4, 3, 3, 3], &w),
        build::f32_tensor("B", &[4], &values(4, 2)),
        build::f32_tensor("W2", &[5, 64], &values(320, 3)),
        build::f32_tensor("C2", &[5], &values(5, 4)),
        build::f32_tensor("W3", &[5, 6], &values(30, 5)),
    ];
    let p = build::model(nodes, inits, vec![build::value_info("x", 1, &[2, 3, 8, 8])], vec![build::value_info("y", 1, &[2, 6])], opset);
    webptq::onnx::load(&p.encode_to_vec(), &Default::default()).unwrap()
}

/// ids [2, 3] (int64) → Gather(table [10, 16]) → MatMul(W [16, 8]) → y [2, 3, 8].
fn embedder() -> Model {
    let nodes = vec![build::node("Gather", "embed", &["table", "ids"], &["e"]), build::node("MatMul", "proj", &["e", "W"], &["y"])];
    let inits = vec![build::f32_tensor("table", &[10, 16], &values(160, 7)), build::f32_tensor("W", &[16, 8], &values(128, 8))];
    let p = build::model(nodes, inits, vec![build::value_info("ids", 7, &[2, 3])], vec![build::value_info("y", 1, &[2, 3, 8])], 17);
    webptq::onnx::load(&p.encode_to_vec(), &Default::default()).unwrap()
}

fn run1(model: &Model, input: &str, x: &Tensor) -> Tensor {
    let s = Session::new(model.clone(), &SessionOptions::default()).unwrap();
    s.run(vec![(input.to_string(), x.clone())]).unwrap().remove(0).1
}

/// Largest |a − b| relative to the largest |b|.
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
}

fn ops(m: &Model) -> Vec<String> {
    m.graph.nodes.iter().map(|n| n.op_type.clone()).collect()
}
fn count(m: &Model, op: &str) -> usize {
    m.graph.nodes.iter().filter(|n| n.op_type == op).count()
}

/// Saves a built-graph export with its input and our output, and checks that it loads back from
/// its bytes and computes the same.
fn save_built(name: &str, m: &Model, input: &str, x: &Tensor) -> Tensor {
    let y = run1(m, input, x);
    let bytes = webptq::onnx::save(m);
    let back = webptq::onnx::load(&bytes, &Default::default()).unwrap();
    assert_eq!(run1(&back, input, x), y, "{name}: the saved model computes something else");
    let dir = export_dir();
    std::fs::write(dir.join(format!("{name}.onnx")), &bytes).unwrap();
    write_npy(&dir.join(format!("{name}.in.npy")), x);
    write_npy(&dir.join(format!("{name}.out.npy")), &y);
    y
}

fn opts(json: &str) -> QuantOptions {
    QuantOptions::from_json(json).unwrap()
}

#[test]
fn built_dynamic() {
    let m = cnn_head(17, values(108, 1));
    let x = Tensor::from_vec(&[2, 3, 8, 8], values(384, 9)).unwrap();
    let float = run1(&m, "x", &x);
    let q = quantize_dynamic(&m, &opts(r#"{"mode":"dynamic"}"#)).unwrap();
    assert_eq!(count(&q, "DynamicQuantizeLinear"), 3, "{:?}", ops(&q));
    assert_eq!((count(&q, "ConvInteger"), count(&q, "MatMulInteger")), (1, 2), "{:?}", ops(&q));
    assert_eq!(count(&q, "Conv") + count(&q, "Gemm") + count(&q, "MatMul"), 0, "{:?}", ops(&q));
    // Per-channel scales: [4, 1, 1] for the conv, [5] and [6] for the products; int8 weights
    // with one (scalar) zero point each, as onnxruntime's ConvInteger requires.
    let g = &q.graph;
    let init = |name: &str| g.initializers[&g.find_value(name).unwrap()].clone();
    assert_eq!(init("W_scale").shape(), &[4, 1, 1]);
    assert_eq!(init("W2_scale").shape(), &[5]);
    assert_eq!(init("W3_scale").shape(), &[6]);
    assert_eq!(init("W_quantized").dtype(), webptq::tensor::DType::I8);
    assert_eq!(init("W_zero_point").shape(), &[] as &[usize]);
    // Gemm's alpha is in its scale, beta · C in its bias; transB was applied to the weight.
    assert_eq!(init("W2_quantized").shape(), &[64, 5]);
    let y = save_built("built-dynamic", &q, "x", &x);
    let e = rel_err(&y, &float);
    println!("built dynamic per-channel: relative max error {e:.4}");
    assert!(e < 0.03, "{e}");
    // Per tensor: scalar scales, still close.
    let q = quantize_dynamic(&m, &opts(r#"{"mode":"dynamic","perChannel":false}"#)).unwrap();
    assert_eq!(q.graph.initializers[&q.graph.find_value("W_scale").unwrap()].shape(), &[] as &[usize]);
    let e = rel_err(&save_built("built-dynamic-per-tensor", &q, "x", &x), &float);
    assert!(e < 0.05, "{e}");
    // uint8 weights (zero point 128) and 7-bit reduced range also run.
    for json in [r#"{"mode":"dynamic","weightType":"uint8"}"#, r#"{"mode":"dynamic","reduceRange":true}"#] {
        let q = quantize_dynamic(&m, &opts(json)).unwrap();
        let e = rel_err(&run1(&q, "x", &x), &float);
        assert!(e < 0.05, "{json}: {e}");
    }
    let q = quantize_dynamic(&m, &opts(r#"{"mode":"dynamic","weightType":"uint8"}"#)).unwrap();
    save_built("built-dynamic-uint8", &q, "x", &x);
}

#[test]
fn built_weight_only() {
    let m = cnn_head(17, values(108, 1));
    let x = Tensor::from_vec(&[2, 3, 8, 8], values(384, 9)).unwrap();
    let float = run1(&m, "x", &x);
    let q = quantize_weight_only(&m, &opts(r#"{"mode":"weight-only"}"#)).unwrap();
    // Same float ops, each weight behind a DequantizeLinear on its output-channel axis.
    assert_eq!(count(&q, "DequantizeLinear"), 3);
    assert_eq!((count(&q, "Conv"), count(&q, "Gemm"), count(&q, "MatMul")), (1, 1, 1));
    let axes: Vec<i64> = q
        .graph
        .nodes
        .iter()
        .filter(|n| n.op_type == "DequantizeLinear")
        .map(|n| n.attrs.int("axis").unwrap().unwrap())
        .collect();
    assert_eq!(axes, vec![0, 0, 1]); // Conv [M, …]; Gemm B [N, K] with transB; MatMul [K, N]
    let e = rel_err(&save_built("built-weight-only-int8", &q, "x", &x), &float);
    println!("built weight-only int8: relative max error {e:.5}");
    assert!(e < 0.01, "{e}");

    // 4 bits: Gemm and MatMul become MatMulNBits (alpha in the scales, beta · C an Add); the
    // conv weight gets the 8-bit treatment. K = 5 < block 16 exercises the padded block.
    for (sym, name) in [(false, "built-weight-only-int4-asym"), (true, "built-weight-only-int4-sym")] {
        let q = blocks(&m, &opts(r#"{"mode":"weight-only","weightBits":4,"blockSize":16}"#), sym).unwrap();
        assert_eq!((count(&q, "MatMulNBits"), count(&q, "Gemm"), count(&q, "MatMul")), (2, 0, 0), "{:?}", ops(&q));
        assert_eq!((count(&q, "DequantizeLinear"), count(&q, "Add")), (1, 1), "{:?}", ops(&q));
        assert!(q.opset_of("com.microsoft") >= 1);
        let nbits: Vec<usize> = q.graph.nodes.iter().filter(|n| n.op_type == "MatMulNBits").map(|n| n.inputs.len()).collect();
        assert_eq!(nbits, if sym { vec![3, 3] } else { vec![4, 4] }, "symmetric blocks store no zero points");
        let e = rel_err(&save_built(name, &q, "x", &x), &float);
        println!("{name}: relative max error {e:.4}");
        assert!(e < 0.1, "{e}");
    }
}

#[test]
fn built_embeddings() {
    let m = embedder();
    let ids = Tensor::from_vec(&[2, 3], vec![0i64, 9, 3, 3, 7, 1]).unwrap();
    let float = run1(&m, "ids", &ids);
    for (name, q) in [
        ("built-embed-dynamic", quantize_dynamic(&m, &opts(r#"{"mode":"dynamic"}"#)).unwrap()),
        ("built-embed-weight-only", quantize_weight_only(&m, &opts(r#"{"mode":"weight-only"}"#)).unwrap()),
    ] {
        // Gather reads the int8 table; the DequantizeLinear after it works per column (axis -1).
        let g = &q.graph;
        let gather = g.nodes.iter().find(|n| n.op_type == "Gather").unwrap();
        assert_eq!(g.initializers[&gather.input(0).unwrap()].dtype(), webptq::tensor::DType::I8);
        let dq = g.nodes.iter().find(|n| n.op_type == "DequantizeLinear" && n.input(0) == gather.output(0)).unwrap();
        assert_eq!(dq.attrs.int("axis").unwrap(), Some(-1));
        let e = rel_err(&save_built(name, &q, "ids", &ids), &float);
        assert!(e < 0.03, "{name}: {e}");
    }
}

#[test]
fn built_fp16_and_exclusions() {
    let m = cnn_head(17, values(108, 1));
    let x = Tensor::from_vec(&[2, 3, 8, 8], values(384, 9)).unwrap();
    let float = run1(&m, "x", &x);
    let q = quantize_fp16(&m, &opts(r#"{"mode":"fp16"}"#)).unwrap();
    // W (108), W2 (320) and W3 (30) become float16; the biases (4 and 5 values) stay float32.
    let g = &q.graph;
    let halves: Vec<&str> = g.initializers.iter().filter(|(_, t)| t.dtype() == webptq::tensor::DType::F16).map(|(&id, _)| g.value_name(id)).collect();
    assert_eq!(halves.len(), 3, "{halves:?}");
    assert_eq!(count(&q, "Cast"), 3);
    assert!(q.graph.parameter_bytes() < m.graph.parameter_bytes() * 6 / 10);
    let e = rel_err(&save_built("built-fp16", &q, "x", &x), &float);
    assert!(e < 2e-3, "{e}");

    // Excluded nodes and op types keep their float weights.
    let q = quantize_dynamic(&m, &opts(r#"{"mode":"dynamic","excludeOpTypes":["Conv"],"excludeNodes":["proj"]}"#)).unwrap();
    assert_eq!((count(&q, "Conv"), count(&q, "MatMul"), count(&q, "MatMulInteger")), (1, 1, 1), "{:?}", ops(&q));
    let q = quantize_fp16(&m, &opts(r#"{"mode":"fp16","excludeNodes":["fc"]}"#)).unwrap();
    assert_eq!(count(&q, "Cast"), 2);
    let q = quantize_weight_only(&m, &opts(r#"{"mode":"weight-only","excludeOpTypes":["Gemm","MatMul"]}"#)).unwrap();
    assert_eq!(count(&q, "DequantizeLinear"), 1);
}

#[test]
fn built_bad_input() {
    // NaN in a weight: a typed error naming the tensor, in every integer mode.
    let mut w = values(108, 1);
    w[7] = f32::NAN;
    let m = cnn_head(17, w);
    for r in [
        quantize_dynamic(&m, &opts(r#"{"mode":"dynamic"}"#)),
        quantize_weight_only(&m, &opts(r#"{"mode":"weight-only"}"#)),
    ] {
        let e = r.unwrap_err();
        assert_eq!(e.code(), "INVALID_MODEL");
        assert!(e.to_string().contains("'W'"), "{e}");
    }
    // fp16 keeps such a tensor float32 rather than failing.
    let q = quantize_fp16(&m, &opts(r#"{"mode":"fp16"}"#)).unwrap();
    assert_eq!(q.graph.initializers[&q.graph.find_value("W").unwrap()].dtype(), webptq::tensor::DType::F32);
    // Contradicting options.
    let m = cnn_head(17, values(108, 1));
    let four_bits = QuantOptions { weight_bits: 4, ..QuantOptions::default() };
    assert_eq!(quantize_dynamic(&m, &four_bits).unwrap_err().code(), "INVALID_OPTIONS");
    let bad_block = QuantOptions { weight_bits: 4, block_size: 24, ..QuantOptions::default() };
    assert_eq!(quantize_weight_only(&m, &bad_block).unwrap_err().code(), "INVALID_OPTIONS");
    // Opset 10: raised to 11 for DynamicQuantizeLinear, to 13 for per-channel DequantizeLinear
    // (none of the model's ops changed meaning); the results are the same as at opset 17.
    let x = Tensor::from_vec(&[2, 3, 8, 8], values(384, 9)).unwrap();
    let old = cnn_head(10, values(108, 1));
    let q = quantize_dynamic(&old, &QuantOptions::default()).unwrap();
    assert_eq!(q.opset(), 11);
    assert_eq!(run1(&q, "x", &x), run1(&quantize_dynamic(&m, &QuantOptions::default()).unwrap(), "x", &x));
    let q = quantize_weight_only(&old, &QuantOptions::default()).unwrap();
    assert_eq!(q.opset(), 13);
    let q = quantize_weight_only(&old, &opts(r#"{"perChannel":false}"#)).unwrap();
    assert_eq!(q.opset(), 10);
    assert!(q.graph.nodes.iter().filter(|n| n.op_type == "DequantizeLinear").all(|n| !n.attrs.has("axis")));
    // A model whose ops changed meaning (Softmax at opset 10, coercing to 2-D) is converted by
    // the opset upgrade: the results are those of the same model written at opset 17.
    let with_softmax = |mut m: Model| {
        let y = m.graph.outputs[0];
        let pre = m.graph.add_value("pre_softmax", None, None);
        m.graph.nodes.last_mut().unwrap().outputs[0] = Some(pre);
        m.graph.nodes.push(webptq::graph::Node {
            name: "softmax".into(),
            op_type: "Softmax".into(),
            domain: String::new(),
            inputs: vec![Some(pre)],
            outputs: vec![Some(y)],
            attrs: Default::default(),
        });
        m
    };
    let (soft, soft17) = (with_softmax(old.clone()), with_softmax(m.clone()));
    let q = quantize_dynamic(&soft, &QuantOptions::default()).unwrap();
    assert_eq!(q.opset(), 11);
    assert_eq!(run1(&q, "x", &x), run1(&quantize_dynamic(&soft17, &QuantOptions::default()).unwrap(), "x", &x));
    let q = quantize_weight_only(&soft, &QuantOptions::default()).unwrap();
    assert_eq!(q.opset(), 13);
    assert_eq!(run1(&q, "x", &x), run1(&quantize_weight_only(&soft17, &QuantOptions::default()).unwrap(), "x", &x));
}

#[test]
fn built_constant_node_weights() {
    // x [3, 16] → MatMul(Constant W [16, 8]) → y: the weight lives in a Constant node.
    let mut c = build::node("Constant", "w_const", &[], &["W"]);
    c.attribute = vec![proto::AttributeProto {
        name: Some("value".into()),
        t: Some(build::f32_tensor("", &[16, 8], &values(128, 11))),
        r#type: Some(4),
        ..Default::default()
    }];
    let nodes = vec![c, build::node("MatMul", "proj", &["x", "W"], &["y"])];
    let p = build::model(nodes, vec![], vec![build::value_info("x", 1, &[3, 16])], vec![build::value_info("y", 1, &[3, 8])], 17);
    let m = webptq::onnx::load(&p.encode_to_vec(), &Default::default()).unwrap();
    let x = Tensor::from_vec(&[3, 16], values(48, 12)).unwrap();
    let float = run1(&m, "x", &x);
    for (name, q, tol) in [
        ("constant-dynamic", quantize_dynamic(&m, &opts(r#"{"mode":"dynamic"}"#)).unwrap(), 0.03),
        ("constant-weight-only", quantize_weight_only(&m, &opts(r#"{"mode":"weight-only"}"#)).unwrap(), 0.01),
        ("constant-int4", quantize_weight_only(&m, &opts(r#"{"mode":"weight-only","weightBits":4,"blockSize":16}"#)).unwrap(), 0.1),
        ("constant-fp16", quantize_fp16(&m, &opts(r#"{"mode":"fp16"}"#)).unwrap(), 2e-3),
    ] {
        assert_eq!(count(&q, "Constant"), 0, "{name}: {:?}", ops(&q));
        let e = rel_err(&run1(&q, "x", &x), &float);
        assert!(e < tol, "{name}: {e}");
    }
}

#[test]
fn built_decisions_for_the_report() {
    use webptq::quantize::{dynamic, fp16, weight_only};
    let m = cnn_head(17, values(108, 1));
    let o = dynamic::rewrite(&m, &opts(r#"{"mode":"dynamic","excludeNodes":["proj"]}"#)).unwrap();
    let d: Vec<(&str, &str)> = o.nodes.iter().map(|n| (n.name.as_str(), n.decision)).collect();
    assert_eq!(d, vec![("conv", "quantized"), ("relu", "float"), ("flatten", "float"), ("fc", "quantized"), ("proj", "float")]);
    assert!(o.nodes[4].reason.as_deref().unwrap().contains("excluded"));
    assert!(o.nodes[0].reason.as_deref().unwrap().contains("ConvInteger"));
    let names: Vec<&str> = o.weights.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, vec!["W", "W2"]);
    assert!(o.weights.iter().all(|w| w.sqnr_db.unwrap() > 30.0 && w.params.is_per_channel()), "{:?}", o.weights);
    assert_eq!((o.nodes[0].inputs[1].role, o.weights[0].params.scale.len()), ("weight", 4));
    serde_json::to_string(&o.nodes).unwrap();

    let o = weight_only::rewrite(&m, &opts(r#"{"mode":"weight-only","weightBits":4,"blockSize":16}"#), false).unwrap();
    let reasons: Vec<String> = o.nodes.iter().map(|n| format!("{} {}", n.decision, n.reason.clone().unwrap_or_default())).collect();
    assert!(reasons[0].starts_with("quantized int8 weight → DequantizeLinear"), "{reasons:?}");
    assert!(reasons[3].contains("MatMulNBits") && reasons[3].contains("asymmetric blocks of 16"), "{reasons:?}");
    assert_eq!(o.weights.len(), 1); // the conv weight; 4-bit weights are described in their nodes

    let o = fp16::rewrite(&m, &opts(r#"{"mode":"fp16"}"#)).unwrap();
    let d: Vec<&str> = o.nodes.iter().map(|n| n.decision).collect();
    assert_eq!(d, vec!["quantized", "float", "float", "quantized", "quantized"]);
    assert_eq!(o.nodes[0].reason.as_deref(), Some("float16 weights behind a Cast to float32: W"));
    assert_eq!(o.nodes[1].reason.as_deref(), Some("no float32 constant input"));
}

/// Top-1 of each row.
fn argmax_rows(t: &Tensor) -> Vec<usize> {
    let c = *t.shape().last().unwrap();
    t.to_f32_vec().chunks(c).map(|r| (0..c).fold(0, |b, i| if r[i] > r[b] { i } else { b })).collect()
}

/// SQNR of `y` against `x`, in dB.
fn sqnr(x: &Tensor, y: &Tensor) -> f64 {
    let (a, b) = (x.to_f32_vec(), y.to_f32_vec());
    let s: f64 = a.iter().map(|v| (*v as f64).powi(2)).sum();
    let n: f64 = a.iter().zip(&b).map(|(u, v)| (*u as f64 - *v as f64).powi(2)).sum();
    10.0 * (s / n.max(1e-30)).log10()
}

/// The modes on a CNN (49 Conv, one Gemm): EfficientNet-Lite0 on the 20 reference images. Slow
/// in a debug-ish build (the reference ConvInteger is scalar): `cargo test --test
/// quantize_modes -- --ignored --nocapture`.
#[test]
#[ignore = "slow: about a minute"]
fn efficientnet_lite0_modes() {
    let dir = common::fixtures_dir();
    let bytes = std::fs::read(dir.join("models/efficientnet-lite0.onnx")).unwrap();
    let m = webptq::onnx::load(&bytes, &Default::default()).unwrap();
    let x = read_npy(&dir.join("ref/efficientnet-lite0/input.npy"));
    let float = run1(&m, "input", &x);
    let top1 = argmax_rows(&float);
    let q = [
        ("effnet-dynamic", quantize_dynamic(&m, &opts(r#"{"mode":"dynamic"}"#)).unwrap()),
        ("effnet-weight-only-int8", quantize_weight_only(&m, &opts(r#"{"mode":"weight-only"}"#)).unwrap()),
        ("effnet-fp16", quantize_fp16(&m, &opts(r#"{"mode":"fp16"}"#)).unwrap()),
    ];
    for (name, q) in q {
        let y = save_built(name, &q, "input", &x);
        let agree = argmax_rows(&y).iter().zip(&top1).filter(|(a, b)| a == b).count();
        let size = webptq::onnx::save(&q).len() as f64 / bytes.len() as f64;
        println!("{name}: size ratio {size:.3}, logits SQNR {:.1} dB, top-1 agreement {agree}/20", sqnr(&float, &y));
        assert!(agree >= 18, "{name}: top-1 agreement {agree}/20");
    }
}


/// `quantize()` runs every calibration-free mode: the bytes are the rewritten model, the report
/// has sizes and decisions, and batches given (not needed to quantize) measure the outputs.
#[test]
fn quantize_dispatches_every_mode() {
    use webptq::quantize::quantize;
    let m = cnn_head(17, values(108, 1));
    let x = Tensor::from_vec(&[2, 3, 8, 8], values(384, 9)).unwrap();
    let float = run1(&m, "x", &x);
    // (options, largest error relative to the largest output, smallest output SQNR in dB)
    let cases = [
        (r#"{"mode":"dynamic"}"#, 0.05, 25.0),
        (r#"{"mode":"weight-only"}"#, 0.05, 25.0),
        (r#"{"mode":"weight-only","weightBits":4,"blockSize":16}"#, 0.15, 15.0),
        (r#"{"mode":"fp16"}"#, 0.01, 45.0),
    ];
    for (json, max_rel, min_sqnr) in cases {
        let o = opts(json);
        let batches = vec![Ok(vec![("x".to_string(), x.clone())]), Ok(vec![("x".to_string(), x.clone())])];
        let q = quantize(&m, &o, batches, &mut |_| Ok(())).unwrap();
        let back = webptq::onnx::load(&q.bytes, &Default::default()).unwrap();
        let y = run1(&back, "x", &x);
        assert!(rel_err(&y, &float) < max_rel, "{json}: {}", rel_err(&y, &float));
        let r = &q.report;
        assert_eq!(r.quantized_bytes, q.bytes.len(), "{json}");
        // (This graph is too small for the sizes to shrink: the added nodes outweigh the weights.)
        assert_eq!(r.float_bytes, webptq::onnx::save(&m).len(), "{json}");
        assert_eq!(r.size_ratio, r.quantized_bytes as f64 / r.float_bytes as f64, "{json}");
        assert_eq!(r.nodes.len(), m.graph.nodes.len(), "{json}");
        assert!(r.nodes.iter().any(|n| n.decision == "quantized"), "{json}");
        assert_eq!((r.calibration.batches, r.evaluated_batches, r.outputs.len()), (2, 2, 1), "{json}");
        let sqnr = r.outputs[0].sqnr_db.unwrap();
        assert!(sqnr > min_sqnr, "{json}: output SQNR {sqnr}");
        // Without batches: the same model, no evaluation.
        let q2 = quantize(&m, &o, std::iter::empty(), &mut |_| Ok(())).unwrap();
        assert_eq!(q2.bytes, q.bytes, "{json}");
        assert_eq!((q2.report.evaluated_batches, q2.report.outputs.len()), (0, 0), "{json}");
    }
}
