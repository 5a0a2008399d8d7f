//! Static quantization on small graphs built here: the QDQ and QOperator structures, parameter
//! sharing, activation folding, exclusions, unknown ops, Constant-node weights, keepFloat, opsets
//! and the typed errors. Exports are written to target/quantize-exports/ for
//! tests/python/check_exports.py (onnxruntime) to load and run.
mod common;

use common::build::{f32_tensor, model, node, value_info};
use common::graphs::{cnn, ints, mixed, movement_ops, shape_ops, values, with};
use prost::Message;
use std::collections::HashMap;
use webptq::graph::{Graph, Model, Node};
use webptq::onnx::proto;
use webptq::quantize::{quantize, Progress, QType, QuantFormat, QuantOptions, Quantized, Stage};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;
use webptq::Error;

fn load(m: &proto::ModelProto) -> Model {
    webptq::onnx::load(&m.encode_to_vec(), &HashMap::new()).unwrap()
}

fn batches(input: &str, shape: &[usize], n: usize, lo: f32, hi: f32) -> Vec<webptq::Result<Vec<(String, Tensor)>>> {
    let len: usize = shape.iter().product();
    (0..n).map(|i| Ok(vec![(input.to_string(), Tensor::from_vec(shape, values(len, 100 + i as u32, lo, hi)).unwrap())])).collect()
}

fn run(options: &QuantOptions, m: &Model, input: &str, shape: &[usize]) -> webptq::Result<Quantized> {
    quantize(m, options, batches(input, shape, 4, -1.0, 1.0), &mut |_| Ok(()))
}

fn export(name: &str, float: &Model, q: &Quantized) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quantize-exports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.onnx")), &q.bytes).unwrap();
    std::fs::write(dir.join(format!("{name}.float.onnx")), webptq::onnx::save(float)).unwrap();
}

fn find<'a>(g: &'a Graph, name: &str) -> &'a Node {
    g.nodes.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node '{name}'"))
}
fn producer(g: &Graph, v: Option<usize>) -> Option<&Node> {
    let v = v?;
    g.nodes.iter().find(|n| n.outputs.contains(&Some(v)))
}
fn readers(g: &Graph, v: usize) -> Vec<&Node> {
    g.nodes.iter().filter(|n| n.inputs.contains(&Some(v))).collect()
}
fn ops(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.op_type.as_str()).collect()
}

/// Outputs of the float and the quantized model on fresh data: SQNR (dB) per output.
fn output_sqnr(float: &Model, q: &Quantized, input: &str, shape: &[usize]) -> Vec<f64> {
    let fs = Session::new(float.clone(), &SessionOptions::default()).unwrap();
    let qs = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let len: usize = shape.iter().product();
    let x = Tensor::from_vec(shape, values(len, 999, -1.0, 1.0)).unwrap();
    let f = fs.run(vec![(input.into(), x.clone())]).unwrap();
    let y = qs.run(vec![(input.into(), x)]).unwrap();
    f.iter()
        .zip(&y)
        .map(|((_, a), (_, b))| {
            let (a, b) = (a.to_f32_vec(), b.to_f32_vec());
            let s: f64 = a.iter().map(|v| (*v as f64).powi(2)).sum();
            let n: f64 = a.iter().zip(&b).map(|(u, v)| (*u as f64 - *v as f64).powi(2)).sum();
            10.0 * (s / n.max(1e-30)).log10()
        })
        .collect()
}

#[test]
fn qdq_structure_of_a_cnn() {
    let float = load(&cnn());
    let q = run(&QuantOptions::default(), &float, "x", &[2, 3, 8, 8]).unwrap();
    let g = &q.model.graph;
    // BatchNormalization folded, Relu folded: Conv → Q → DQ → MaxPool directly.
    assert!(!ops(g).contains(&"BatchNormalization") && !ops(g).contains(&"Relu"), "{:?}", ops(g));
    let conv = find(g, "conv");
    let q_after_conv = readers(g, conv.output(0).unwrap());
    assert_eq!(q_after_conv.len(), 1);
    assert_eq!(q_after_conv[0].op_type, "QuantizeLinear");
    // Its weight: int8 initializer → DequantizeLinear with axis 0; bias int32 → DequantizeLinear.
    let wdq = producer(g, conv.input(1)).unwrap();
    assert_eq!(wdq.op_type, "DequantizeLinear");
    assert_eq!(wdq.attrs.int("axis").unwrap(), Some(0));
    assert_eq!(g.initializers[&wdq.input(0).unwrap()].dtype(), webptq::tensor::DType::I8);
    let bdq = producer(g, conv.input(2)).unwrap();
    assert_eq!(g.initializers[&bdq.input(0).unwrap()].dtype(), webptq::tensor::DType::I32);
    // Gemm with transB=1: weight per channel on axis 0; fc2 (transB=0) on axis 1.
    assert_eq!(producer(g, find(g, "fc1").input(1)).unwrap().attrs.int("axis").unwrap(), Some(0));
    assert_eq!(producer(g, find(g, "fc2").input(1)).unwrap().attrs.int("axis").unwrap(), Some(1));
    // MaxPool and Reshape share their input's parameters: the same scale/zero point initializers.
    for name in ["pool", "flat"] {
        let n = find(g, name);
        let dq_in = producer(g, n.input(0)).unwrap();
        assert_eq!(dq_in.op_type, "DequantizeLinear");
        let q_out = readers(g, n.output(0).unwrap())[0];
        assert_eq!(q_out.op_type, "QuantizeLinear");
        assert_eq!(q_out.inputs[1..], dq_in.inputs[1..], "{name} requantizes");
    }
    // Relu folded into Conv: its output range starts at 0, so the zero point is 0 (uint8).
    let conv_q = q_after_conv[0];
    assert_eq!(g.initializers[&conv_q.input(2).unwrap()].to_i64_vec().unwrap(), vec![0]);
    // No float weight is left; the graph output keeps its name.
    assert!(g.initializers.values().all(|t| t.dtype() != webptq::tensor::DType::F32 || t.len() <= 64));
    assert_eq!(g.value_name(g.outputs[0]), "y");
    let r = &q.report;
    assert_eq!(r.nodes.iter().find(|n| n.name == "relu").unwrap().decision, "folded");
    export("cnn-qdq", &float, &q);
    // fc1 is 92% of the float weights; Q/DQ nodes and per-channel scales add ~3 KB.
    assert!(r.size_ratio < 0.35, "{}", r.size_ratio);
    assert_eq!(r.weights.len(), 3);
    assert!(r.weights.iter().all(|w| w.sqnr_db.unwrap() > 35.0), "{:?}", r.weights);
    assert!(r.outputs[0].sqnr_db.unwrap() > 25.0, "{:?}", r.outputs);
    let json = serde_json::to_value(r).unwrap();
    assert!(json["nodes"].as_array().unwrap().len() >= 7 && json["sizeRatio"].is_number());
    assert!(output_sqnr(&float, &q, "x", &[3, 3, 8, 8])[0] > 25.0);
    export("cnn-qdq", &float, &q);
}

#[test]
fn qdq_of_mixed_ops() {
    let float = load(&mixed());
    let q = run(&QuantOptions::default(), &float, "x", &[2, 4, 6, 6]).unwrap();
    let g = &q.model.graph;
    let r = &q.report;
    let decision = |n: &str| r.nodes.iter().find(|x| x.name == n).unwrap().clone();
    // Clip(0, 6) after a Conv folds; HardSwish has no handler and stays float; the model runs.
    assert_eq!(decision("clip").decision, "folded");
    assert_eq!(decision("hswish").decision, "float");
    assert!(decision("hswish").reason.unwrap().contains("no quantization handler"));
    for n in ["c1", "c2", "add", "cat", "gap", "mm", "scale", "sig", "tr", "leaky", "softmax", "flatten"] {
        assert_eq!(decision(n).decision, "quantized", "{n}: {:?}", decision(n));
    }
    // Concat shares one set of parameters between its inputs and output.
    let cat = find(g, "cat");
    let dq0 = producer(g, cat.input(0)).unwrap();
    let dq1 = producer(g, cat.input(1)).unwrap();
    let q_out = readers(g, cat.output(0).unwrap())[0];
    assert_eq!(dq0.inputs[1..], dq1.inputs[1..]);
    assert_eq!(q_out.inputs[1..], dq0.inputs[1..]);
    // Softmax output fixed to [0, 1].
    let sm_report = decision("softmax");
    let p = sm_report.outputs[0].params.as_ref().unwrap();
    assert_eq!((p.scale[0], p.zero_point[0]), (1.0 / 255.0, 0));
    // A constant input of Mul is quantized like an activation (uint8 with its own range).
    assert!(decision("scale").inputs.iter().any(|t| t.name == "half" && t.role == "activation"));
    for db in output_sqnr(&float, &q, "x", &[2, 4, 6, 6]) {
        assert!(db > 20.0, "{db}");
    }
    export("mixed-qdq", &float, &q);
}

#[test]
fn qoperator_of_mixed_ops_and_cnn() {
    let options = QuantOptions { format: QuantFormat::QOperator, ..Default::default() };
    let float = load(&mixed());
    let q = run(&options, &float, "x", &[2, 4, 6, 6]).unwrap();
    let g = &q.model.graph;
    let o = ops(g);
    for want in ["QLinearConv", "QLinearAdd", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearMatMul", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu"] {
        assert!(o.contains(&want), "{want} missing from {o:?}");
    }
    assert!(!o.contains(&"Clip") && !o.contains(&"Conv") && !o.contains(&"Add"), "{o:?}");
    for n in &g.nodes {
        if ["QLinearAdd", "QLinearConcat", "QLinearGlobalAveragePool", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu"].contains(&n.op_type.as_str()) {
            assert_eq!(n.domain, "com.microsoft", "{}", n.op_type);
        }
    }
    assert_eq!(q.model.opset_of("com.microsoft"), 1);
    // Transpose runs on the uint8 tensor.
    let tr = g.nodes.iter().find(|n| n.op_type == "Transpose").unwrap();
    assert_eq!(g.value(tr.input(0).unwrap()).dtype, Some(webptq::tensor::DType::U8));
    for db in output_sqnr(&float, &q, "x", &[2, 4, 6, 6]) {
        assert!(db > 20.0, "{db}");
    }
    export("mixed-qoperator", &float, &q);

    let float = load(&cnn());
    let q = run(&options, &float, "x", &[2, 3, 8, 8]).unwrap();
    let o = ops(&q.model.graph);
    assert!(o.contains(&"QLinearConv") && o.contains(&"MaxPool") && o.contains(&"Gemm"), "{o:?}");
    assert!(output_sqnr(&float, &q, "x", &[3, 3, 8, 8])[0] > 25.0);
    export("cnn-qoperator", &float, &q);
}

#[test]
fn int8_activations_and_per_tensor_weights() {
    let float = load(&mixed());
    for (name, options) in [
        ("mixed-qdq-s8s8", QuantOptions { activation_type: QType::I8, symmetric_activations: true, ..Default::default() }),
        ("mixed-qdq-pertensor", QuantOptions { per_channel: false, ..Default::default() }),
        ("mixed-qoperator-s8s8", QuantOptions { activation_type: QType::I8, format: QuantFormat::QOperator, ..Default::default() }),
        ("mixed-qoperator-u8u8", QuantOptions { weight_type: QType::U8, format: QuantFormat::QOperator, ..Default::default() }),
    ] {
        let q = run(&options, &float, "x", &[2, 4, 6, 6]).unwrap();
        if options.symmetric_activations {
            // Symmetric activations cannot fold a Clip(0, 6): it stays, between Q/DQ pairs.
            assert!(ops(&q.model.graph).contains(&"Clip"), "{name}");
        }
        if !options.per_channel {
            assert!(q.model.graph.nodes.iter().all(|n| n.attrs.int("axis").unwrap_or(None).is_none() || n.op_type == "Concat"
                || n.op_type == "Flatten" || n.op_type == "Softmax" || n.op_type.starts_with("QLinear")), "{name}");
        }
        for db in output_sqnr(&float, &q, "x", &[2, 4, 6, 6]) {
            assert!(db > 15.0, "{name}: {db}");
        }
        export(name, &float, &q);
    }
}

#[test]
fn excluded_nodes_and_op_types_stay_float() {
    let float = load(&cnn());
    let options = QuantOptions { exclude_nodes: vec!["fc1".into()], exclude_op_types: vec!["MaxPool".into()], ..Default::default() };
    let q = run(&options, &float, "x", &[2, 3, 8, 8]).unwrap();
    let g = &q.model.graph;
    let fc1 = find(g, "fc1");
    // fc1 reads its float weight directly, not through a DequantizeLinear.
    assert_eq!(g.initializers[&fc1.input(1).unwrap()].dtype(), webptq::tensor::DType::F32);
    assert_eq!(producer(g, fc1.input(1)), None);
    let d = |n: &str| q.report.nodes.iter().find(|x| x.name == n).unwrap().clone();
    assert_eq!(d("fc1").decision, "float");
    assert_eq!(d("fc1").reason.as_deref(), Some("excluded by excludeNodes"));
    assert_eq!(d("pool").reason.as_deref(), Some("excluded by excludeOpTypes"));
    // fc1 float: its Relu has no quantized producer and is not folded.
    assert_ne!(d("relu2").decision, "folded");
    assert!(output_sqnr(&float, &q, "x", &[2, 3, 8, 8])[0] > 25.0);
    export("cnn-qdq-excluded", &float, &q);
}

#[test]
fn clip_that_does_not_contain_zero_is_not_folded() {
    // Clip(0.25, 6): the output's range [0.25, ..] widened to contain 0 cannot clamp at 0.25.
    let mut m = mixed();
    let g = m.graph.as_mut().unwrap();
    g.initializer.iter_mut().find(|t| t.name.as_deref() == Some("zero")).unwrap().float_data = vec![0.25];
    let float = load(&m);
    let q = run(&QuantOptions::default(), &float, "x", &[2, 4, 6, 6]).unwrap();
    let clip = q.report.nodes.iter().find(|n| n.name == "clip").unwrap();
    assert_eq!(clip.decision, "quantized");
    assert!(clip.reason.as_deref().unwrap().contains("not folded"), "{:?}", clip.reason);
    assert!(ops(&q.model.graph).contains(&"Clip"));
    for db in output_sqnr(&float, &q, "x", &[2, 4, 6, 6]) {
        assert!(db > 20.0, "{db}");
    }
}

#[test]
fn keep_float_keeps_the_lossiest_layers_and_reports_the_gain() {
    let float = load(&cnn());
    let options = QuantOptions { keep_float: 1, ..Default::default() };
    let q = run(&options, &float, "x", &[2, 3, 8, 8]).unwrap();
    let kf = q.report.keep_float.as_ref().unwrap();
    assert_eq!(kf.nodes.len(), 1);
    let kept = &kf.nodes[0];
    let d = q.report.nodes.iter().find(|n| &n.name == kept).unwrap();
    assert_eq!(d.decision, "float");
    assert!(d.reason.as_deref().unwrap().starts_with("kept float by keepFloat"), "{:?}", d.reason);
    let (before, after) = (kf.outputs_before[0].sqnr_db.unwrap(), kf.outputs_after[0].sqnr_db.unwrap());
    eprintln!("keepFloat {kept}: output SQNR {before:.2} -> {after:.2} dB, {} -> {} bytes", kf.quantized_bytes_before, kf.quantized_bytes_after);
    assert_eq!(q.report.outputs, kf.outputs_after);
    assert!(q.report.most_lossy.iter().all(|l| &l.node != kept));
}

#[test]
fn errors_are_typed() {
    let float = load(&cnn());
    let none: Vec<webptq::Result<Vec<(String, Tensor)>>> = vec![];
    let e = quantize(&float, &QuantOptions::default(), none, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(&e, Error::InvalidOptions(m) if m.contains("static quantization needs calibration data")), "{e}");
    // Feeds with a wrong name, dtype or shape: the session's typed errors.
    let e = quantize(&float, &QuantOptions::default(), batches("nope", &[1, 3, 8, 8], 1, 0.0, 1.0), &mut |_| Ok(())).unwrap_err();
    assert_eq!(e.code(), "INVALID_FEED", "{e}");
    let e = quantize(&float, &QuantOptions::default(), batches("x", &[1, 3, 8, 9], 1, 0.0, 1.0), &mut |_| Ok(())).unwrap_err();
    assert_eq!(e.code(), "INVALID_FEED", "{e}");
    let ints = vec![Ok(vec![("x".to_string(), Tensor::from_vec(&[1, 3, 8, 8], vec![1i64; 192]).unwrap())])];
    assert_eq!(quantize(&float, &QuantOptions::default(), ints, &mut |_| Ok(())).unwrap_err().code(), "INVALID_FEED");
    // A batch error from the source comes back as is.
    let failing = vec![Err(Error::InvalidFeed { name: "x".into(), detail: "unreadable".into() })];
    assert!(quantize(&float, &QuantOptions::default(), failing, &mut |_| Ok(())).is_err());
    // Contradicting options.
    let bad = QuantOptions { weight_bits: 4, ..Default::default() };
    assert_eq!(run(&bad, &float, "x", &[1, 3, 8, 8]).unwrap_err().code(), "INVALID_OPTIONS");
    // Cancelling from the progress callback, mid-calibration.
    let e = quantize(&float, &QuantOptions::default(), batches("x", &[1, 3, 8, 8], 5, 0.0, 1.0), &mut |p: Progress| {
        if p.stage == Stage::Calibrate && p.done == 2 {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    })
    .unwrap_err();
    assert_eq!(e, Error::Cancelled);
}

#[test]
fn nan_weights_are_an_error_naming_the_tensor() {
    let mut m = cnn();
    let g = m.graph.as_mut().unwrap();
    g.initializer.iter_mut().find(|t| t.name.as_deref() == Some("fc1.w")).unwrap().float_data[5] = f32::NAN;
    let float = load(&m);
    let e = run(&QuantOptions::default(), &float, "x", &[1, 3, 8, 8]).unwrap_err();
    assert_eq!(e.code(), "INVALID_MODEL");
    assert!(e.to_string().contains("'fc1.w'"), "{e}");
}

#[test]
fn nan_or_inf_in_calibration_data_is_an_error_naming_input_and_batch() {
    let float = load(&cnn());
    for (bad, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        let mut b = batches("x", &[2, 3, 8, 8], 3, -1.0, 1.0);
        if let Ok(feeds) = &mut b[1] {
            let mut v = feeds[0].1.to_f32_vec();
            v[3] = bad;
            feeds[0].1 = Tensor::from_vec(&[2, 3, 8, 8], v).unwrap();
        }
        let e = quantize(&float, &QuantOptions::default(), b, &mut |_| Ok(())).unwrap_err();
        assert_eq!(e.code(), "INVALID_FEED", "{e}");
        let msg = e.to_string();
        assert!(msg.contains("'x'") && msg.contains("batch 1") && msg.contains(shown) && msg.contains("element 3"), "{msg}");
    }
}

#[test]
fn opset_is_raised_and_changed_ops_rewritten() {
    // The CNN at opset 11 uses no op whose meaning changed: it is raised to 13.
    let mut m = cnn();
    m.opset_import[0].version = Some(11);
    let float = load(&m);
    let q = run(&QuantOptions::default(), &float, "x", &[1, 3, 8, 8]).unwrap();
    assert_eq!(q.model.opset(), 13);
    assert!(q.model.ir_version >= 7);
    // With a Squeeze and an Unsqueeze (axes attribute until 13), the per-channel export at 13
    // takes the axes as inputs (the opset upgrade); per-tensor stays at the model's opset.
    let mut m = cnn();
    m.opset_import[0].version = Some(11);
    let g = m.graph.as_mut().unwrap();
    g.node.push(with(node("Unsqueeze", "unsq", &["y"], &["y_u"]), vec![ints("axes", &[0])]));
    g.node.push(with(node("Squeeze", "sq", &["y_u"], &["y_s"]), vec![ints("axes", &[0])]));
    g.output = vec![value_info("y_s", 1, &[-1, 10])];
    let float = load(&m);
    let q = run(&QuantOptions::default(), &float, "x", &[1, 3, 8, 8]).unwrap();
    assert_eq!(q.model.opset(), 13);
    for op in ["Squeeze", "Unsqueeze"] {
        let n = q.model.graph.nodes.iter().find(|n| n.op_type == op).unwrap();
        assert!(!n.attrs.has("axes") && n.input(1).is_some(), "{op}: {n:?}");
    }
    assert!(output_sqnr(&float, &q, "x", &[1, 3, 8, 8])[0] > 25.0);
    let q = run(&QuantOptions { per_channel: false, ..Default::default() }, &float, "x", &[1, 3, 8, 8]).unwrap();
    assert_eq!(q.model.opset(), 11);
    assert!(output_sqnr(&float, &q, "x", &[1, 3, 8, 8])[0] > 25.0);
}

#[test]
fn progress_reports_every_stage_in_order() {
    let float = load(&cnn());
    let mut seen: Vec<Progress> = Vec::new();
    quantize(&float, &QuantOptions::default(), batches("x", &[1, 3, 8, 8], 3, 0.0, 1.0), &mut |p| {
        seen.push(p);
        Ok(())
    })
    .unwrap();
    let stages: Vec<Stage> = seen.iter().map(|p| p.stage).collect();
    let mut dedup = stages.clone();
    dedup.dedup();
    assert_eq!(dedup, vec![Stage::Prepare, Stage::Calibrate, Stage::Quantize, Stage::Evaluate, Stage::Quantize, Stage::Save]);
    let cal: Vec<&Progress> = seen.iter().filter(|p| p.stage == Stage::Calibrate).collect();
    assert_eq!(cal.first().unwrap().total, Some(3));
    assert_eq!(cal.last().unwrap().done, 3);
}

#[test]
fn shape_ops_stay_in_the_quantized_domain() {
    let sharing = ["reshape", "transpose", "slice", "unsqueeze", "squeeze", "split", "gather", "flatten", "resize"];
    data_movement_stays_quantized("shapes", &shape_ops(), &sharing, &["conv", "concat", "mm", "avgpool", "gap"]);
}

/// Tile, DepthToSpace, SpaceToDepth and GatherElements, which onnxruntime runs on 8-bit tensors
/// too, share their input's parameters like the shape ops.
#[test]
fn movement_ops_stay_in_the_quantized_domain() {
    data_movement_stays_quantized("movement", &movement_ops(), &["d2s", "s2d", "tile", "gather_el"], &["conv", "conv2"]);
}

/// Expand, ReduceMax and ReduceMin declare that their data input may stay 8-bit (`ops::OpProps`),
/// so the quantizer shares their input's parameters and the session's QDQ fusion runs them on the
/// integers. Before the declarations, the fusion ran them on 8-bit tensors but the quantizer left
/// them float (two lists of data-movement ops that disagreed).
#[test]
fn expand_and_reduce_max_min_stay_in_the_quantized_domain() {
    let m = model(
        vec![
            with(node("Conv", "conv", &["x", "w"], &["c"]), vec![ints("pads", &[1, 1, 1, 1])]),
            with(node("ReduceMax", "rmax", &["c"], &["r"]), vec![ints("axes", &[1])]),
            with(node("ReduceMin", "rmin", &["r"], &["r2"]), vec![ints("axes", &[2])]),
            node("Expand", "expand", &["r2", "eshape"], &["a"]),
            with(node("Conv", "conv2", &["a", "w2"], &["y"]), vec![ints("pads", &[1, 1, 1, 1])]),
        ],
        vec![
            f32_tensor("w", &[8, 4, 3, 3], &values(288, 51, -0.4, 0.4)),
            common::graphs::i64_tensor("eshape", &[1, 8, 6, 6]),
            f32_tensor("w2", &[4, 8, 3, 3], &values(288, 52, -0.3, 0.3)),
        ],
        vec![value_info("x", 1, &[-1, 4, 6, 6])],
        vec![value_info("y", 1, &[-1, 4, 6, 6])],
        13,
    );
    // Quantized in QDQ and QOperator form, sharing parameters, outputs above 20 dB (run fused).
    data_movement_stays_quantized("expand-reduce", &m, &["rmax", "rmin", "expand"], &["conv", "conv2"]);
    // The session runs them on the integers: no DequantizeLinear before them.
    let float = load(&m);
    let q = run(&QuantOptions::default(), &float, "x", &[2, 4, 6, 6]).unwrap();
    let fused = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let g = &fused.model().graph;
    for n in ["rmax", "rmin", "expand"] {
        let node = find(g, n);
        assert_ne!(producer(g, node.input(0)).map(|p| p.op_type.as_str()), Some("DequantizeLinear"), "{n} still runs in float");
    }
}

/// Quantizes a graph of input x[2,4,6,6] in QDQ and QOperator form: every node named in
/// `sharing` and `others` is quantized, the `sharing` ones carry their input's parameters (QDQ:
/// the same Q/DQ parameters around them; QOperator: they run on uint8), and every output keeps an
/// SQNR above 20 dB. The exports go to target/quantize-exports as `{tag}-qdq`/`{tag}-qoperator`.
fn data_movement_stays_quantized(tag: &str, proto: &proto::ModelProto, sharing: &[&str], others: &[&str]) {
    let float = load(proto);
    for format in [QuantFormat::Qdq, QuantFormat::QOperator] {
        let options = QuantOptions { format, ..Default::default() };
        let q = run(&options, &float, "x", &[2, 4, 6, 6]).unwrap();
        let d = |n: &str| q.report.nodes.iter().find(|x| x.name == n).unwrap().clone();
        for n in sharing.iter().chain(others) {
            assert_eq!(d(n).decision, "quantized", "{format:?} {n}: {:?}", d(n));
        }
        // Every data-movement op's outputs carry its input's parameters.
        for &n in sharing {
            let r = d(n);
            let pin = r.inputs[0].params.clone().unwrap();
            for o in &r.outputs {
                assert_eq!(o.params.as_ref(), Some(&pin), "{format:?} {n}");
            }
        }
        // AveragePool's output takes its input's parameters (onnxruntime's QDQ AveragePool):
        // calibrated on its own, it clipped the averages of images the calibration did not see.
        let pools: Vec<&str> = others.iter().copied().filter(|&n| n == "avgpool").collect();
        for &n in &pools {
            let ap = d(n);
            assert_eq!(ap.outputs[0].params, ap.inputs[0].params, "{format:?} {n}");
        }
        let g = &q.model.graph;
        match format {
            QuantFormat::Qdq => {
                for &n in sharing.iter().chain(&pools) {
                    let node = find(g, n);
                    let dq = producer(g, node.input(0)).unwrap();
                    for o in node.outputs.iter().flatten() {
                        let qn = readers(g, *o)[0];
                        assert_eq!(qn.op_type, "QuantizeLinear");
                        assert_eq!(qn.inputs[1..], dq.inputs[1..], "{n} requantizes");
                    }
                }
            }
            QuantFormat::QOperator => {
                for &n in sharing {
                    let node = find(g, n);
                    assert_eq!(g.value(node.input(0).unwrap()).dtype, Some(webptq::tensor::DType::U8), "{n}");
                }
            }
        }
        for db in output_sqnr(&float, &q, "x", &[2, 4, 6, 6]) {
            assert!(db > 20.0, "{format:?}: {db}");
        }
        export(&format!("{tag}-{}", if format == QuantFormat::Qdq { "qdq" } else { "qoperator" }), &float, &q);
    }
}

/// An embedding lookup: the constant table is stored 8-bit (the file shrinks), the gathered rows
/// share its parameters, and the outputs stay close to float.
#[test]
fn embedding_tables_are_stored_8_bit() {
    let m = load(&model(
        vec![node("Gather", "embed", &["table", "ids"], &["e"]), node("MatMul", "proj", &["e", "w"], &["y"])],
        vec![f32_tensor("table", &[500, 64], &values(32000, 31, -0.5, 0.5)), f32_tensor("w", &[64, 8], &values(512, 32, -1.0, 1.0))],
        vec![value_info("ids", 7, &[-1, 4])],
        vec![value_info("y", 1, &[-1, 4, 8])],
        13,
    ));
    let ids = |seed: i64| Tensor::from_vec(&[2, 4], (0..8).map(|i| (i * 61 + seed) % 500).collect::<Vec<i64>>()).unwrap();
    let batches = (0..4).map(|s| Ok(vec![("ids".to_string(), ids(s))]));
    let q = quantize(&m, &QuantOptions::default(), batches, &mut |_| Ok(())).unwrap();
    let g = &q.model.graph;
    let table = g.find_value("table").and_then(|v| g.initializers.get(&v));
    assert!(table.is_none(), "the float table is still in the file");
    let stored: Vec<_> = g.initializers.values().filter(|t| t.len() == 32000).map(|t| t.dtype()).collect();
    assert_eq!(stored, vec![webptq::tensor::DType::U8]);
    let gather = find(g, "embed");
    assert_eq!(producer(g, gather.input(0)).map(|n| n.op_type.as_str()), Some("DequantizeLinear"));
    assert!(q.report.size_ratio < 0.28, "{}", q.report.size_ratio);
    let fs = Session::new(m.clone(), &SessionOptions::default()).unwrap();
    let qs = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let (f, y) = (fs.run(vec![("ids".into(), ids(9))]).unwrap(), qs.run(vec![("ids".into(), ids(9))]).unwrap());
    let (a, b) = (f[0].1.to_f32_vec(), y[0].1.to_f32_vec());
    let s: f64 = a.iter().map(|v| (*v as f64).powi(2)).sum();
    let n: f64 = a.iter().zip(&b).map(|(u, v)| (*u as f64 - *v as f64).powi(2)).sum();
    assert!(10.0 * (s / n).log10() > 30.0, "SQNR {}", 10.0 * (s / n).log10());
}

/// One weight and one bias shared by three readers, and a float node whose name is one a rewrite
/// would give: x[N,8] → MatMul mm (W, per-channel axis 1) → h; Gemm gm (h, W, B, transB: W along
/// axis 0) → g; Gemm gm2 (g, W, B) → y; Sigmoid named `h_DynamicQuantizeLinear` (as in a model
/// onnxruntime's dynamic quantizer wrote) → y2. Opset 13.
fn shared_weights() -> proto::ModelProto {
    model(
        vec![
            node("MatMul", "mm", &["x", "W"], &["h"]),
            with(node("Gemm", "gm", &["h", "W", "B"], &["g"]), vec![common::graphs::int("transB", 1)]),
            node("Gemm", "gm2", &["g", "W", "B"], &["y"]),
            node("Sigmoid", "h_DynamicQuantizeLinear", &["h"], &["y2"]),
        ],
        vec![f32_tensor("W", &[8, 8], &values(64, 41, -0.6, 0.6)), f32_tensor("B", &[8], &values(8, 42, -0.2, 0.2))],
        vec![value_info("x", 1, &[-1, 8])],
        vec![value_info("y", 1, &[-1, 8]), value_info("y2", 1, &[-1, 8])],
        13,
    )
}

/// Every export format names each node uniquely (onnxruntime refuses "two nodes with same node
/// name", as it did the captcha-crnn zoo model's export), the source's node names survive, and
/// the model still computes what the float one does. The exports go to onnxruntime through
/// tests/python/check_exports.py.
#[test]
fn every_format_names_nodes_uniquely_when_a_tensor_has_several_readers() {
    use webptq::quantize::QuantMode;
    let float = load(&shared_weights());
    let cases = [
        ("shared-qdq", QuantMode::Static, QuantFormat::Qdq),
        ("shared-qoperator", QuantMode::Static, QuantFormat::QOperator),
        ("shared-dynamic", QuantMode::Dynamic, QuantFormat::Qdq),
        ("shared-weight-only", QuantMode::WeightOnly, QuantFormat::Qdq),
    ];
    for (name, mode, format) in cases {
        let options = QuantOptions { mode, format, ..Default::default() };
        let q = run(&options, &float, "x", &[4, 8]).unwrap();
        let g = &q.model.graph;
        let mut seen = std::collections::HashSet::new();
        for n in g.nodes.iter().filter(|n| !n.name.is_empty()) {
            assert!(seen.insert(n.name.as_str()), "{name}: two nodes named '{}' ({:?})", n.name, ops(g));
        }
        if format == QuantFormat::Qdq {
            // (QOperator form replaces the Sigmoid by a QLinearSigmoid of another name.)
            assert_eq!(find(g, "h_DynamicQuantizeLinear").op_type, "Sigmoid", "{name}");
        }
        if mode == QuantMode::Dynamic {
            // The name was wanted twice: the inserted node got a fresh one.
            assert_eq!(find(g, "h_DynamicQuantizeLinear_1").op_type, "DynamicQuantizeLinear");
        }
        for db in output_sqnr(&float, &q, "x", &[4, 8]) {
            assert!(db > 25.0, "{name}: SQNR {db}");
        }
        export(name, &float, &q);
    }
}
