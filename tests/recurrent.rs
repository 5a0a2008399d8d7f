//! LSTM, GRU and RNN (and If / Loop / Scan) beyond the ONNX backend node tests, against
//! onnxruntime, and a CRNN-style text recognizer end to end.
//!
//! The cases come from tests/fixtures/make_recurrent_cases.py (`$WEBPTQ_FIXTURES/recurrent/`):
//! every activation function with alpha / beta, clip, input_forget, linear_before_reset,
//! per-row sequence_lens in every direction, initial states, batch-first, float64, constant
//! (prepacked) weights, `cf_*` (Scan axes and directions, Loop ended by its condition, If with
//! two outputs), and `crnn` (Conv -> Reshape/Transpose -> bidirectional LSTM -> MatMul).
//! The CRNN is quantized with the command line's defaults: Conv and MatMul int8, the LSTM float;
//! the export goes to target/quantize-exports/ for tests/python/check_exports.py (onnxruntime).
//! tests/js/cli.test.mjs quantizes it with the command line and runs the export in onnxruntime.
mod common;
mod quantize_support;

use common::build::{f32_tensor, model, node, value_info};
use common::graphs::{int, values, with};
use quantize_support::{argmax_rows, export_dir, read_npy, sqnr};
use prost::Message;
use webptq::onnx::proto;
use webptq::quantize::{quantize, QuantOptions};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

fn recurrent_dir() -> std::path::PathBuf {
    common::fixtures_dir().join("recurrent")
}

#[test]
fn recurrent_cases_match_onnxruntime() {
    let mut dirs: Vec<_> = std::fs::read_dir(recurrent_dir()).expect("recurrent cases").flatten().map(|e| e.path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 29, "expected the recurrent cases in {}", recurrent_dir().display());
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            let r = std::panic::catch_unwind(|| common::run_case(d)).unwrap_or_else(|_| Err("PANICKED".into()));
            r.err().map(|e| format!("{}: {e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    println!("recurrent cases: {} passed, {} failed", dirs.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The CRNN with the CLI's defaults (static, QDQ, per-channel int8 weights, uint8 activations,
/// MinMax, batches of 32): the convolutions and the classifier are quantized, the LSTM stays
/// float and reads float weights, and the export keeps the float model's decisions.
#[test]
fn crnn_quantizes_around_a_float_lstm() {
    let dir = recurrent_dir().join("crnn");
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let float_model = webptq::onnx::load(&bytes, &Default::default()).unwrap();
    let calib = read_npy(&dir.join("calib.npy"));
    let n = calib.shape()[0];
    let batches = (0..n.div_ceil(32)).map(|b| Ok(vec![("image".to_string(), quantize_support::rows(&calib, b * 32, ((b + 1) * 32).min(n)))]));
    let q = quantize(&float_model, &QuantOptions::default(), batches, &mut |_| Ok(())).unwrap();
    let decision = |name: &str| q.report.nodes.iter().find(|r| r.name == name).map(|r| r.decision).unwrap_or("missing");
    for name in ["conv1", "conv2", "conv3", "fc"] {
        assert_eq!(decision(name), "quantized", "node {name}");
    }
    assert_eq!(decision("blstm"), "float");

    // In the export, the LSTM reads float32 weights (initializers, not dequantized values).
    let exported = webptq::onnx::load(&q.bytes, &Default::default()).unwrap();
    let g = &exported.graph;
    let lstm = g.nodes.iter().find(|n| n.op_type == "LSTM").expect("the LSTM is kept");
    for i in 1..4 {
        let w = lstm.input(i).unwrap();
        assert_eq!(g.initializers.get(&w).map(|t| t.dtype()), Some(webptq::tensor::DType::F32), "LSTM input {i}");
    }
    let int8_convs = g.nodes.iter().filter(|n| n.op_type == "DequantizeLinear").count();
    assert!(int8_convs >= 8, "{int8_convs} DequantizeLinear nodes");

    // The float model matches onnxruntime with the session's passes on as well; the export is
    // close to it and decodes the same best path on most frames.
    let x = common::read_tensor_pb(&dir.join("test_data_set_0/input_0.pb"));
    let want = common::read_tensor_pb(&dir.join("test_data_set_0/output_0.pb"));
    let float = Session::new(float_model, &SessionOptions::default()).unwrap();
    let f = float.run(vec![("image".into(), x.clone())]).unwrap();
    common::compare(&f[0].1, &want, 1e-3, 1e-5).unwrap();
    let quant = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    let y = quant.run(vec![("image".into(), x)]).unwrap();
    let db = sqnr(&f[0].1, &y[0].1);
    let (a, b) = (argmax_rows(&f[0].1), argmax_rows(&y[0].1));
    let agree = a.iter().zip(&b).filter(|(u, v)| u == v).count() as f64 / a.len() as f64;
    println!("crnn: size {:.3}x, output SQNR {db:.1} dB, best class agrees on {agree:.3} of frames", q.report.size_ratio);
    assert!(db >= 25.0, "output SQNR {db:.1} dB");
    assert!(agree >= 0.9, "best class agrees on {agree:.3} of frames");
    // No crnn.float.onnx beside it: check_exports.py would compare the two on uniform [-1, 1)
    // noise, far outside the calibrated images; tests/js/cli.test.mjs compares them in
    // onnxruntime on the test lines.
    std::fs::write(export_dir().join("crnn.onnx"), &q.bytes).unwrap();
}

fn string_attr(name: &str, v: &str) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), r#type: Some(3), s: Some(v.as_bytes().to_vec()), ..Default::default() }
}

/// An LSTM of hidden size 3 on X [2, 1, 4] with W of `w_dims` (constant) and R, B as given.
fn lstm_model(w_dims: &[i64], attrs: Vec<proto::AttributeProto>, with_lens: bool) -> Vec<u8> {
    let numel = |d: &[i64]| d.iter().product::<i64>() as usize;
    let mut inputs = vec!["x", "w", "r", "b"];
    let mut graph_inputs = vec![value_info("x", 1, &[2, 1, 4])];
    if with_lens {
        inputs.push("lens");
        graph_inputs.push(value_info("lens", 6, &[1]));
    }
    let lstm = with(node("LSTM", "enc", &inputs, &["y", "y_h"]), attrs);
    let inits = vec![
        f32_tensor("w", w_dims, &values(numel(w_dims), 1, -0.5, 0.5)),
        f32_tensor("r", &[1, 12, 3], &values(36, 2, -0.5, 0.5)),
        f32_tensor("b", &[1, 24], &values(24, 3, -0.5, 0.5)),
    ];
    model(vec![lstm], inits, graph_inputs, vec![value_info("y", 1, &[2, 1, 1, 3]), value_info("y_h", 1, &[1, 1, 3])], 14)
        .encode_to_vec()
}

fn x_feed() -> (String, Tensor) {
    ("x".into(), Tensor::from_vec(&[2, 1, 4], values(8, 4, -1.0, 1.0)).unwrap())
}

#[test]
fn bad_lstm_inputs_and_attributes_are_typed_errors() {
    let opts = SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false };
    // A good model runs.
    let good = Session::from_bytes(&lstm_model(&[1, 12, 4], vec![int("hidden_size", 3)], false), &opts).unwrap();
    let out = good.run(vec![x_feed()]).unwrap();
    assert_eq!(out[0].1.shape(), &[2, 1, 1, 3]);

    // W's input size disagrees with X: a shape error naming the node, W and both shapes.
    let s = Session::from_bytes(&lstm_model(&[1, 12, 5], vec![int("hidden_size", 3)], false), &opts).unwrap();
    let e = s.run(vec![x_feed()]).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
    let msg = e.to_string();
    assert!(msg.contains("'enc'") && msg.contains("LSTM") && msg.contains("[1, 12, 5]") && msg.contains("[1, 12, 4]"), "{msg}");

    // hidden_size disagrees with R.
    let s = Session::from_bytes(&lstm_model(&[1, 12, 4], vec![int("hidden_size", 5)], false), &opts).unwrap();
    let e = s.run(vec![x_feed()]).unwrap_err();
    assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
    assert!(e.to_string().contains("hidden_size is 5"), "{e}");

    // Attributes outside the definition fail when the plan is built.
    for (attr, want) in [
        (string_attr("direction", "sideways"), "direction 'sideways'"),
        (int("layout", 2), "layout 2"),
        (proto::AttributeProto { name: Some("activations".into()), r#type: Some(8), strings: vec![b"Sigmoid".to_vec(), b"Tanh".to_vec(), b"Cube".to_vec()], ..Default::default() }, "unknown activation function 'Cube'"),
        (proto::AttributeProto { name: Some("activations".into()), r#type: Some(8), strings: vec![b"Sigmoid".to_vec()], ..Default::default() }, "3 activation function(s) per direction"),
        (proto::AttributeProto { name: Some("clip".into()), r#type: Some(1), f: Some(-1.0), ..Default::default() }, "clip -1"),
    ] {
        let e = Session::from_bytes(&lstm_model(&[1, 12, 4], vec![attr], false), &opts).err().expect(want);
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
        assert!(e.to_string().contains("'enc'") && e.to_string().contains(want), "{e}");
    }

    // A sequence length past the sequence.
    let s = Session::from_bytes(&lstm_model(&[1, 12, 4], vec![], true), &opts).unwrap();
    let lens = ("lens".to_string(), Tensor::from_vec(&[1], vec![3i32]).unwrap());
    let e = s.run(vec![x_feed(), lens]).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    assert!(e.to_string().contains("sequence length 3 is outside [0, 2]"), "{e}");
    // A batch of sequence lengths that does not match X's batch.
    let lens = ("lens".to_string(), Tensor::from_vec(&[2], vec![1i32, 1]).unwrap());
    let e = s.run(vec![x_feed(), lens]).unwrap_err();
    assert!(matches!(e.code(), "SHAPE_MISMATCH" | "INVALID_FEED"), "{e}");
}

fn graph_attr(name: &str, g: proto::GraphProto) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), r#type: Some(5), g: Some(g), ..Default::default() }
}

/// A body graph of one node.
fn body(n: proto::NodeProto, inputs: Vec<proto::ValueInfoProto>, outputs: Vec<proto::ValueInfoProto>) -> proto::GraphProto {
    proto::GraphProto { name: Some("body".into()), node: vec![n], input: inputs, output: outputs, ..Default::default() }
}

/// A model whose If branches read the enclosing graph's input `x` and initializer `w`, saved and
/// loaded again: the node is written with its one declared input (the outer-scope values are the
/// loader's own extra inputs), the bodies keep reading `x` and `w`, and both copies agree.
#[test]
fn outer_scope_reads_survive_a_round_trip() {
    let then_b = body(node("Mul", "mul", &["x", "w"], &["t"]), vec![], vec![value_info("t", 1, &[2])]);
    let else_b = body(node("Neg", "neg", &["x"], &["e"]), vec![], vec![value_info("e", 1, &[2])]);
    let if_node = with(node("If", "branch", &["c"], &["y"]), vec![graph_attr("then_branch", then_b), graph_attr("else_branch", else_b)]);
    let m = model(vec![if_node], vec![f32_tensor("w", &[2], &[3.0, -2.0])], vec![value_info("c", 9, &[]), value_info("x", 1, &[2])], vec![value_info("y", 1, &[2])], 13);
    let loaded = webptq::onnx::load(&m.encode_to_vec(), &Default::default()).unwrap();
    let n = &loaded.graph.nodes[0];
    assert_eq!((n.inputs.len(), n.declared_inputs()), (3, 1));
    let saved = webptq::onnx::save(&loaded);
    let back = proto::ModelProto::decode(saved.as_slice()).unwrap();
    let g = back.graph.unwrap();
    assert_eq!(g.node[0].input, vec!["c".to_string()]);
    assert!(g.node[0].attribute.iter().all(|a| !a.name().starts_with("__")), "{:?}", g.node[0].attribute);
    let x = || ("x".to_string(), Tensor::from_vec(&[2], vec![1.5f32, 4.0]).unwrap());
    for bytes in [m.encode_to_vec(), saved] {
        let s = Session::from_bytes(&bytes, &SessionOptions::default()).unwrap();
        for (c, want) in [(true, vec![4.5f32, -8.0]), (false, vec![-1.5, -4.0])] {
            let out = s.run(vec![("c".into(), Tensor::scalar(c)), x()]).unwrap();
            assert_eq!(out[0].1.to_f32_vec(), want);
        }
    }
}

/// An If whose branches read a quantized MatMul's output from the enclosing graph: the quantizer
/// quantizes the MatMul, the If stays float and still reads `h` (its outer-scope input rebound to
/// whatever value carries `h` in the export), and the export runs, in webptq here and in
/// onnxruntime through tests/python/check_exports.py (outer_scope_if.onnx beside its float).
#[test]
fn outer_scope_reads_of_quantized_values_export() {
    let then_b = body(node("Relu", "relu", &["h"], &["t"]), vec![], vec![value_info("t", 1, &[2, 6])]);
    let else_b = body(node("Sigmoid", "sig", &["h"], &["e"]), vec![], vec![value_info("e", 1, &[2, 6])]);
    let nodes = vec![
        node("MatMul", "mm", &["x", "w"], &["h"]),
        with(node("ReduceSum", "sum", &["x"], &["s"]), vec![int("keepdims", 0)]),
        node("Greater", "positive", &["s", "zero"], &["c"]),
        with(node("If", "branch", &["c"], &["y"]), vec![graph_attr("then_branch", then_b), graph_attr("else_branch", else_b)]),
    ];
    let inits = vec![f32_tensor("w", &[8, 6], &values(48, 4, -1.0, 1.0)), f32_tensor("zero", &[], &[0.0])];
    let m = model(nodes, inits, vec![value_info("x", 1, &[2, 8])], vec![value_info("y", 1, &[2, 6])], 13);
    let float_bytes = m.encode_to_vec();
    let float_model = webptq::onnx::load(&float_bytes, &Default::default()).unwrap();
    let batches = (0..8u32).map(|b| Ok(vec![("x".to_string(), Tensor::from_vec(&[2, 8], values(16, 10 + b, -1.0, 1.0)).unwrap())]));
    let q = quantize(&float_model, &QuantOptions::default(), batches, &mut |_| Ok(())).unwrap();
    let decision = |name: &str| q.report.nodes.iter().find(|r| r.name == name).map(|r| r.decision).unwrap_or("missing");
    assert_eq!(decision("mm"), "quantized");
    let float = Session::new(float_model, &SessionOptions::default()).unwrap();
    let quant = Session::from_bytes(&q.bytes, &SessionOptions::default()).unwrap();
    for (seed, sign) in [(30u32, 1.0f32), (31, -1.0)] {
        let x = Tensor::from_vec(&[2, 8], values(16, seed, 0.0, 1.0).into_iter().map(|v| v * sign).collect()).unwrap();
        let f = float.run(vec![("x".into(), x.clone())]).unwrap();
        let y = quant.run(vec![("x".into(), x)]).unwrap();
        let db = sqnr(&f[0].1, &y[0].1);
        assert!(db >= 25.0, "branch for sign {sign}: output SQNR {db:.1} dB");
    }
    std::fs::write(export_dir().join("outer_scope_if.onnx"), &q.bytes).unwrap();
    std::fs::write(export_dir().join("outer_scope_if.float.onnx"), &float_bytes).unwrap();
}

#[test]
fn bad_control_flow_is_a_typed_error() {
    let opts = SessionOptions::default();
    // An If branch that reads a value no enclosing graph provides: refused by name.
    let then_b = body(node("Neg", "neg", &["x"], &["t"]), vec![], vec![value_info("t", 1, &[2])]);
    let else_b = body(node("Abs", "abs", &["nowhere"], &["e"]), vec![], vec![value_info("e", 1, &[2])]);
    let if_node = with(node("If", "branch", &["c"], &["y"]), vec![graph_attr("then_branch", then_b), graph_attr("else_branch", else_b)]);
    let m = model(vec![if_node], vec![], vec![value_info("c", 9, &[]), value_info("x", 1, &[2])], vec![value_info("y", 1, &[2])], 13);
    let e = Session::from_bytes(&m.encode_to_vec(), &opts).err().expect("a read of nothing");
    assert_eq!(e.code(), "INVALID_MODEL", "{e}");
    assert!(e.to_string().contains("'branch'") && e.to_string().contains("'nowhere'"), "{e}");

    // A Loop with neither a trip count nor a condition would never end.
    let loop_body = body(
        node("Identity", "id", &["cond_in"], &["cond_out"]),
        vec![value_info("i", 7, &[]), value_info("cond_in", 9, &[])],
        vec![value_info("cond_out", 9, &[])],
    );
    let loop_node = with(node("Loop", "forever", &["", ""], &[]), vec![graph_attr("body", loop_body)]);
    let m = model(vec![loop_node, node("Identity", "out", &["x"], &["y"])], vec![], vec![value_info("x", 1, &[2])], vec![value_info("y", 1, &[2])], 13);
    let s = Session::from_bytes(&m.encode_to_vec(), &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false }).unwrap();
    let e = s.run(vec![("x".into(), Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap())]).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    assert!(e.to_string().contains("'forever'") && e.to_string().contains("never ends"), "{e}");
}
