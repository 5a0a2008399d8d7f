//! Shapes real exports from outside declare (tests/fixtures/make_shape_models.py): dim_params
//! that bind nothing, a batch dimension fixed at 1 or 4 that calibration adapts to, and weights
//! held in Constant nodes that the model summary counts.
mod common;
mod quantize_support;

use quantize_support::{read_npy, rows};
use std::collections::HashMap;
use webptq::quantize::{quantize, QuantOptions};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn shapes(name: &str) -> std::path::PathBuf {
    common::fixtures_dir().join("shapes").join(name)
}

fn load(name: &str) -> webptq::graph::Model {
    webptq::onnx::load(&std::fs::read(shapes(name)).unwrap(), &HashMap::new()).unwrap()
}

/// Input [?, 3, "?", "?"] fed [1, 3, 48, 192]: the two "?" are different sizes, as onnxruntime
/// accepts; our outputs are onnxruntime's. Only the rank and the fixed dimension refuse a feed.
#[test]
fn dim_params_bind_nothing() {
    let session = Session::new(load("dim_params.onnx"), &SessionOptions::default()).unwrap();
    let x = read_npy(&shapes("dim_params_x.npy"));
    assert_eq!(x.shape(), &[1, 3, 48, 192]);
    let out = session.run(vec![("x".into(), x.clone())]).unwrap();
    common::compare(&out[0].1, &read_npy(&shapes("dim_params_y.npy")), 1e-4, 1e-5).unwrap();
    common::compare(&out[1].1, &read_npy(&shapes("dim_params_map.npy")), 1e-4, 1e-5).unwrap();
    // Other free sizes run too.
    let y = session.run(vec![("x".into(), Tensor::zeros(webptq::tensor::DType::F32, &[2, 3, 7, 5]).unwrap())]).unwrap();
    assert_eq!(y[1].1.shape(), &[2, 4, 7, 5]);
    for (shape, why) in [(&[1usize, 4, 8, 8][..], "dimension 1 is 4, not 3"), (&[3, 8, 8][..], "rank 3 instead of 4")] {
        let e = session.run(vec![("x".into(), Tensor::zeros(webptq::tensor::DType::F32, shape).unwrap())]).unwrap_err();
        assert_eq!(e.code(), "INVALID_FEED");
        assert!(e.to_string().contains(why), "{e}");
    }
}

/// 16 samples in one batch for a model whose batch is fixed at 1 (or 4): the quantizer regroups
/// them, says so once, and the result is the one batches of the model's own size give.
#[test]
fn calibration_regroups_to_a_fixed_batch() {
    let x = read_npy(&shapes("fixed_batch_calib.npy"));
    for (name, size) in [("fixed_batch.onnx", 1), ("fixed_batch4.onnx", 4)] {
        let model = load(name);
        let whole = quantize(&model, &QuantOptions::default(), [Ok(vec![("x".to_string(), x.clone())])], &mut |_| Ok(())).unwrap();
        let notes: Vec<&String> = whole.report.warnings.iter().filter(|w| w.contains("regrouped")).collect();
        assert_eq!(notes.len(), 1, "{:?}", whole.report.warnings);
        assert!(notes[0].contains(&format!("fixed at {size}")), "{}", notes[0]);
        assert_eq!(whole.report.calibration.batches, 16 / size);
        let own = (0..16 / size).map(|b| Ok(vec![("x".to_string(), rows(&x, b * size, (b + 1) * size))]));
        let reference = quantize(&model, &QuantOptions::default(), own, &mut |_| Ok(())).unwrap();
        assert!(!reference.report.warnings.iter().any(|w| w.contains("regrouped")));
        assert_eq!(whole.bytes, reference.bytes, "{name}: regrouped calibration gives another model");
    }
    // Batches of 3 for a batch of 4: joined across batches; the 3 left over are reported.
    let batches = (0..5).map(|b| Ok(vec![("x".to_string(), rows(&x, b * 3, b * 3 + 3))]));
    let q = quantize(&load("fixed_batch4.onnx"), &QuantOptions::default(), batches, &mut |_| Ok(())).unwrap();
    assert_eq!(q.report.calibration.batches, 3);
    assert!(q.report.warnings.iter().any(|w| w.contains("last 3 calibration samples")), "{:?}", q.report.warnings);
    // Fewer samples than one batch: a typed error saying so.
    let e = quantize(&load("fixed_batch4.onnx"), &QuantOptions::default(), [Ok(vec![("x".to_string(), rows(&x, 0, 3))])], &mut |_| Ok(()))
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_OPTIONS");
    assert!(e.to_string().contains("fixed at 4") && e.to_string().contains("only 3"), "{e}");
}

/// Weights in Constant nodes count as parameters (16x3x3x3 + 16 + 10x16 + 10 = 618 float32 values).
#[test]
fn constant_node_weights_are_parameters() {
    let info = webptq::info::model_info(&load("constant_weights.onnx"));
    assert_eq!(info.parameter_count, 618);
    assert_eq!(info.parameter_bytes, 618 * 4);
    let same = webptq::info::model_info(&load("fixed_batch.onnx"));
    assert_eq!((same.parameter_count, same.parameter_bytes), (618, 618 * 4));
}

/// A model that declares its batch free (`["N", 8]`) but fixes it in the graph, as an exporter
/// that traced one sample does (khmersm's attention Reshape to `[seq, 1, heads, dim]`): a batch
/// of 16 samples fails in the float run, so calibration splits batches into single samples,
/// says so once, and gives the model that 16 batches of one sample give.
#[test]
fn calibration_splits_batches_for_a_graph_that_fixes_its_batch() {
    use common::build::{f32_tensor, model, node, value_info};
    use common::graphs::{i64_tensor, values};
    use prost::Message;
    let w = f32_tensor("w", &[8, 6], &values(48, 3, -1.0, 1.0));
    let shape = i64_tensor("traced", &[1, 2, 3]);
    let nodes = vec![node("MatMul", "mm", &["x", "w"], &["h"]), node("Reshape", "view", &["h", "traced"], &["r"]), node("Relu", "relu", &["r"], &["y"])];
    let m = model(nodes, vec![w, shape], vec![value_info("x", 1, &[-1, 8])], vec![value_info("y", 1, &[1, 2, 3])], 13);
    let model = webptq::onnx::load(&m.encode_to_vec(), &HashMap::new()).unwrap();
    let x = Tensor::from_vec(&[16, 8], values(128, 5, -2.0, 2.0)).unwrap();
    let e = Session::new(model.clone(), &SessionOptions::default()).unwrap().run(vec![("x".into(), x.clone())]).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
    let whole = quantize(&model, &QuantOptions::default(), [Ok(vec![("x".to_string(), x.clone())])], &mut |_| Ok(())).unwrap();
    let notes: Vec<&String> = whole.report.warnings.iter().filter(|w| w.contains("one sample at a time")).collect();
    assert_eq!(notes.len(), 1, "{:?}", whole.report.warnings);
    assert!(notes[0].contains("'view'"), "{}", notes[0]);
    assert_eq!(whole.report.calibration.batches, 16);
    let single = (0..16).map(|b| Ok(vec![("x".to_string(), rows(&x, b, b + 1))]));
    let reference = quantize(&model, &QuantOptions::default(), single, &mut |_| Ok(())).unwrap();
    assert!(reference.report.warnings.iter().all(|w| !w.contains("one sample")));
    assert_eq!(whole.bytes, reference.bytes, "split calibration gives another model");
}
