//! The opset upgrade pass (`passes::upgrade_opset`) on old-opset models, and the quantizer
//! using it: per-channel quantization of an opset-9 CNN.
//!
//! Cases: tests/fixtures/make_opset_upgrade.py (opsets 7, 9, 10, 11, 12, one per rewritten op
//! form, with onnxruntime's outputs of the old model). Each is converted to opset 13, checked to
//! hold no pre-13 form any more and to give those outputs in our runtime, and written to
//! target/opset-upgrade/ with its expected outputs, where tests/python/check_opset_upgrade.py
//! runs onnx.checker and onnxruntime on the converted files.
mod common;
mod quantize_support;

use quantize_support::{read_npy, rows, sqnr};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use webptq::passes::upgrade_opset;
use webptq::graph::Model;
use webptq::quantize::{quantize, QuantOptions};
use webptq::runtime::{Session, SessionOptions};

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/opset-upgrade");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn load(path: &Path) -> Model {
    webptq::onnx::load(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())), &HashMap::new()).unwrap()
}

/// The old forms an opset-13 graph must not hold: (op, attribute) pairs, and ops gone by 13.
fn pre13_forms(m: &Model) -> Vec<String> {
    const ATTRS: &[(&str, &str)] = &[
        ("Squeeze", "axes"),
        ("Unsqueeze", "axes"),
        ("ReduceSum", "axes"),
        ("Split", "split"),
        ("Slice", "starts"),
        ("Slice", "ends"),
        ("Slice", "axes"),
        ("TopK", "k"),
        ("Clip", "min"),
        ("Clip", "max"),
        ("Pad", "pads"),
        ("Pad", "value"),
        ("Dropout", "ratio"),
        ("BatchNormalization", "spatial"),
    ];
    let mut found = Vec::new();
    for n in &m.graph.nodes {
        if matches!(n.op_type.as_str(), "Upsample" | "Scatter") {
            found.push(n.op_type.clone());
        }
        for (op, attr) in ATTRS {
            if n.op_type == *op && n.attrs.has(attr) {
                found.push(format!("{op}.{attr}"));
            }
        }
        if n.op_type == "Resize" && n.inputs.len() < 3 {
            found.push("Resize(X, scales)".into());
        }
        // Softmax-family at 13 must work on the last axis of what it reads: 1 after our Flatten
        // (2-D), or -1.
        if matches!(n.op_type.as_str(), "Softmax" | "LogSoftmax" | "Hardmax") && !matches!(n.attrs.int("axis"), Ok(Some(-1 | 1))) {
            found.push(format!("{} axis {:?}", n.op_type, n.attrs.int("axis")));
        }
    }
    found
}

/// Converts one case; `Ok(true)` when our runtime also ran it.
fn convert_case(dir: &Path) -> Result<bool, String> {
    let mut model = load(&dir.join("model.onnx"));
    let from = model.opset();
    if from >= 13 {
        return Err(format!("case at opset {from}: nothing to convert"));
    }
    upgrade_opset(&mut model, 13).map_err(|e| e.to_string())?;
    if model.opset() != 13 || model.ir_version < 7 {
        return Err(format!("after the upgrade: opset {}, IR {}", model.opset(), model.ir_version));
    }
    let left = pre13_forms(&model);
    if !left.is_empty() {
        return Err(format!("pre-13 forms left: {left:?}"));
    }
    let set = dir.join("test_data_set_0");
    let x = common::read_numbered(&set, "input").remove(0);
    let expected = common::read_numbered(&set, "output");
    // Ops our runtime lacks (TopK, Hardmax, ScatterElements) are checked in onnxruntime only.
    let unsupported = webptq::ops::Registry::standard().unsupported(&model.graph);
    if !unsupported.is_empty() {
        save_case(dir, &model);
        return Ok(false);
    }
    let session = Session::new(model.clone(), &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false })
        .map_err(|e| e.to_string())?;
    let got = session.run(vec![("x".into(), x)]).map_err(|e| e.to_string())?;
    if got.len() != expected.len() {
        return Err(format!("{} outputs, expected {}", got.len(), expected.len()));
    }
    for ((name, g), w) in got.iter().zip(&expected) {
        common::compare(g, w, 1e-5, 1e-6).map_err(|e| format!("output '{name}': {e}"))?;
    }
    save_case(dir, &model);
    Ok(true)
}

/// For onnxruntime (tests/python/check_opset_upgrade.py): the converted model beside the case's
/// own data.
fn save_case(dir: &Path, model: &Model) {
    let set = dir.join("test_data_set_0");
    let case_out = out_dir().join(dir.file_name().unwrap());
    std::fs::create_dir_all(case_out.join("test_data_set_0")).unwrap();
    std::fs::write(case_out.join("model.onnx"), webptq::onnx::save(model)).unwrap();
    for f in std::fs::read_dir(&set).unwrap().flatten() {
        std::fs::copy(f.path(), case_out.join("test_data_set_0").join(f.file_name())).unwrap();
    }
}

#[test]
fn old_opset_cases_convert_to_13_with_the_same_outputs() {
    let dirs = common::case_dirs("opset-upgrade", 40);
    let opsets: std::collections::BTreeSet<i64> = dirs.iter().map(|d| load(&d.join("model.onnx")).opset()).collect();
    assert_eq!(opsets.into_iter().collect::<Vec<_>>(), vec![7, 9, 10, 11, 12]);
    let mut failures = Vec::new();
    let mut ran = 0;
    for d in &dirs {
        match std::panic::catch_unwind(|| convert_case(d)).unwrap_or_else(|_| Err("PANICKED".into())) {
            Ok(r) => ran += r as usize,
            Err(e) => failures.push(format!("{}: {e}", d.file_name().unwrap().to_string_lossy())),
        }
    }
    println!("opset upgrade: {} converted ({ran} also run here), {} failed", dirs.len() - failures.len(), failures.len());
    assert!(ran >= 35, "only {ran} cases ran in our runtime");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Forms no opset-13 graph can express are typed errors naming the node, never panics.
#[test]
fn inexpressible_forms_are_errors() {
    let root = common::fixtures_dir().join("opset-upgrade");
    let mut m = load(&root.join("v7_batchnorm_spatial/model.onnx"));
    m.graph.nodes[0].attrs.set("spatial", webptq::graph::Attr::Int(0));
    let e = upgrade_opset(&mut m, 13).unwrap_err();
    assert_eq!(e.code(), "INVALID_MODEL");
    assert!(e.to_string().contains("BatchNormalization") && e.to_string().contains("spatial=0"), "{e}");
    let mut m = load(&root.join("v10_dropout_mask_unread/model.onnx"));
    let mask = m.graph.nodes[0].output(1).unwrap();
    m.graph.outputs.push(mask);
    let e = upgrade_opset(&mut m, 13).unwrap_err();
    assert!(e.to_string().contains("Dropout") && e.to_string().contains("mask"), "{e}");
    let mut m = load(&root.join("v7_squeeze/model.onnx"));
    m.opset_imports[0].version = 6;
    assert!(upgrade_opset(&mut m, 13).unwrap_err().to_string().contains("opset 6"));
}

/// EfficientNet-Lite0 in opset 9 (Clip with attributes): per-channel quantization raises the
/// export to opset 13 by itself, and the result is the one the opset-13 original gives.
#[test]
fn opset9_cnn_quantizes_per_channel() {
    let fx = common::fixtures_dir();
    let old = load(&fx.join("opset-upgrade-models/efficientnet-lite0-opset9.onnx"));
    let new = load(&fx.join("models/efficientnet-lite0.onnx"));
    assert_eq!(old.opset(), 9);
    let x = read_npy(&fx.join("ref/efficientnet-lite0/input.npy"));
    let feeds = |lo, hi| vec![("input".to_string(), rows(&x, lo, hi))];
    let options = QuantOptions { per_channel: true, ..Default::default() };
    let run = |m: &Model| quantize(m, &options, (0..2).map(|b| Ok(feeds(2 * b, 2 * b + 2))), &mut |_| Ok(())).unwrap();
    let (q_old, q_new) = (run(&old), run(&new));
    let exported = webptq::onnx::load(&q_old.bytes, &HashMap::new()).unwrap();
    assert!(exported.opset() >= 13, "export at opset {}", exported.opset());
    assert!(pre13_forms(&exported).is_empty(), "{:?}", pre13_forms(&exported));
    let per_axis = exported.graph.nodes.iter().filter(|n| n.op_type == "DequantizeLinear" && n.attrs.has("axis")).count();
    assert!(per_axis > 20, "{per_axis} per-axis DequantizeLinear nodes");
    let (a, b) = (Session::from_bytes(&q_old.bytes, &SessionOptions::default()).unwrap(), Session::from_bytes(&q_new.bytes, &SessionOptions::default()).unwrap());
    let f = Session::new(new, &SessionOptions::default()).unwrap().run(feeds(0, 8)).unwrap().remove(0).1;
    let ya = a.run(feeds(0, 8)).unwrap().remove(0).1;
    let yb = b.run(feeds(0, 8)).unwrap().remove(0).1;
    assert_eq!(ya, yb, "the opset-9 form quantizes to a different model than the opset-13 original");
    let db = sqnr(&f, &ya);
    println!("EfficientNet-Lite0 opset 9, per channel: output SQNR {db:.2} dB on 8 images");
    assert!(db > 15.0, "{db} dB");
    std::fs::write(out_dir().join("efficientnet-lite0-opset9-int8.onnx"), &q_old.bytes).unwrap();
}
