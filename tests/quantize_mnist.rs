//! Static quantization of the built-in MNIST model (www/models/mnist-cnn.onnx) on the fixture
//! digits: the QDQ and QOperator exports load and run in our runtime, agree with float on top-1
//! for at least 99% of the digits, and are at most 0.28x the float file.
mod common;
mod quantize_support;

use quantize_support::{argmax_rows, read_npy, rows};

use std::collections::HashMap;
use webptq::quantize::{quantize, Progress, QuantFormat, QuantOptions, Quantized};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn mnist() -> (webptq::graph::Model, Tensor) {
    let model_bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/mnist-cnn.onnx")).unwrap();
    let model = webptq::onnx::load(&model_bytes, &HashMap::new()).unwrap();
    let x = read_npy(&common::fixtures_dir().join("ref/mnist/test_x.npy"));
    (model, x)
}

fn run_quantize(options: &QuantOptions, x: &Tensor, model: &webptq::graph::Model) -> Quantized {
    // Calibrate on the first 512 digits in batches of 64; evaluate on all 2,000.
    let batches = (0..8).map(|b| Ok(vec![("input".to_string(), rows(x, b * 64, (b + 1) * 64))]));
    let mut stages = Vec::new();
    let q = quantize(model, options, batches, &mut |p: Progress| {
        stages.push(p.stage);
        Ok(())
    })
    .unwrap();
    assert!(stages.len() > 8, "{stages:?}");
    q
}

fn agreement(model: &webptq::graph::Model, bytes: &[u8], x: &Tensor) -> f64 {
    let float = Session::new(model.clone(), &SessionOptions::default()).unwrap();
    let quant = Session::from_bytes(bytes, &SessionOptions::default()).unwrap();
    let n = x.shape()[0];
    let mut agree = 0;
    for lo in (0..n).step_by(250) {
        let xb = rows(x, lo, (lo + 250).min(n));
        let f = float.run(vec![("input".into(), xb.clone())]).unwrap();
        let q = quant.run(vec![("input".into(), xb)]).unwrap();
        agree += argmax_rows(&f[0].1).iter().zip(argmax_rows(&q[0].1)).filter(|(a, b)| **a == *b).count();
    }
    agree as f64 / n as f64
}

#[test]
fn mnist_qdq_per_channel() {
    let (model, x) = mnist();
    let q = run_quantize(&QuantOptions::default(), &x, &model);
    let r = &q.report;
    let agree = agreement(&model, &q.bytes, &x);
    eprintln!(
        "MNIST QDQ: size {} -> {} bytes ({:.3}x), top-1 agreement {:.4}, output SQNR {:?} dB",
        r.float_bytes, r.quantized_bytes, r.size_ratio, agree, r.outputs[0].sqnr_db
    );
    for w in &r.weights {
        eprintln!("  weight {} SQNR {:?}", w.name, w.sqnr_db);
    }
    for l in &r.most_lossy {
        eprintln!("  layer {} ({}) SQNR {:?}, own error {:?} dB", l.node, l.op_type, l.sqnr_db, l.own_sqnr_db);
    }
    assert!(r.size_ratio <= 0.28, "size ratio {}", r.size_ratio);
    assert!(agree >= 0.99, "top-1 agreement {agree}");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/quantize-exports")).unwrap();
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/target/quantize-exports/mnist-qdq.onnx"), &q.bytes).unwrap();
    std::fs::write(
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/quantize-exports/mnist-qdq.report.json"),
        serde_json::to_string_pretty(&q.report).unwrap(),
    )
    .unwrap();
}

#[test]
fn mnist_qoperator() {
    let (model, x) = mnist();
    let options = QuantOptions { format: QuantFormat::QOperator, ..Default::default() };
    let q = run_quantize(&options, &x, &model);
    let agree = agreement(&model, &q.bytes, &x);
    eprintln!("MNIST QOperator: {:.3}x, agreement {agree:.4}, output SQNR {:?}", q.report.size_ratio, q.report.outputs[0].sqnr_db);
    assert!(q.report.size_ratio <= 0.28, "size ratio {}", q.report.size_ratio);
    assert!(agree >= 0.99, "top-1 agreement {agree}");
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/target/quantize-exports")).unwrap();
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/target/quantize-exports/mnist-qoperator.onnx"), &q.bytes).unwrap();
}

#[test]
fn mnist_keep_float_one_layer() {
    let (model, x) = mnist();
    let options = QuantOptions { keep_float: 1, ..Default::default() };
    let q = run_quantize(&options, &x, &model);
    let kf = q.report.keep_float.as_ref().unwrap();
    let agree = agreement(&model, &q.bytes, &x);
    eprintln!(
        "MNIST keepFloat 1 ({}): output SQNR {:?} -> {:?} dB, {} -> {} bytes, agreement {agree:.4}",
        kf.nodes.join(", "),
        kf.outputs_before[0].sqnr_db,
        kf.outputs_after[0].sqnr_db,
        kf.quantized_bytes_before,
        kf.quantized_bytes_after
    );
    assert_eq!(kf.nodes.len(), 1);
    assert!(agree >= 0.99, "{agree}");
    let kept = q.report.nodes.iter().find(|n| n.name == kf.nodes[0]).unwrap();
    assert_eq!(kept.decision, "float");
}
