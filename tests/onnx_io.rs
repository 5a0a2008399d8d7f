//! ONNX reading and writing: tensor encodings, external data, initializer-backed inputs,
//! save/load round trips, and the typed errors for bad files.
mod common;

use common::build::{f32_tensor, model, node, value_info};
use prost::Message;
use std::collections::HashMap;
use webptq::onnx::{self, proto};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;
use webptq::Error;

fn load(m: &proto::ModelProto) -> Result<webptq::graph::Model, Error> {
    onnx::load(&m.encode_to_vec(), &HashMap::new())
}

/// Identity through a Constant, so only ops from the skeleton are needed.
fn constant_model() -> proto::ModelProto {
    let mut c = node("Constant", "c", &[], &["y"]);
    c.attribute.push(proto::AttributeProto {
        name: Some("value".into()),
        r#type: Some(4),
        t: Some(f32_tensor("", &[2, 2], &[1.0, -2.0, 3.5, 0.25])),
        ..Default::default()
    });
    model(vec![c], vec![], vec![], vec![value_info("y", 1, &[2, 2])], 13)
}

#[test]
fn raw_and_typed_tensor_fields_read_the_same() {
    let typed = f32_tensor("w", &[3], &[1.0, 2.0, -3.0]);
    let raw = proto::TensorProto {
        raw_data: Some([1.0f32, 2.0, -3.0].iter().flat_map(|v| v.to_le_bytes()).collect()),
        float_data: vec![],
        ..typed.clone()
    };
    let a = onnx::tensor_proto::from_proto(&typed, "w", &HashMap::new()).unwrap();
    let b = onnx::tensor_proto::from_proto(&raw, "w", &HashMap::new()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.to_f32_vec(), vec![1.0, 2.0, -3.0]);
}

#[test]
fn int64_and_float16_typed_fields() {
    let t = proto::TensorProto { dims: vec![2], data_type: Some(7), int64_data: vec![-5, 1 << 40], ..Default::default() };
    assert_eq!(onnx::tensor_proto::from_proto(&t, "t", &HashMap::new()).unwrap().to_i64_vec().unwrap(), vec![-5, 1 << 40]);
    let h = proto::TensorProto {
        dims: vec![1],
        data_type: Some(10),
        int32_data: vec![half::f16::from_f32(1.5).to_bits() as i32],
        ..Default::default()
    };
    assert_eq!(onnx::tensor_proto::from_proto(&h, "h", &HashMap::new()).unwrap().to_f32_vec(), vec![1.5]);
}

#[test]
fn external_data_is_read_from_supplied_files() {
    let bytes: Vec<u8> = [0u8; 8].into_iter().chain([4.0f32, 5.0].iter().flat_map(|v| v.to_le_bytes())).collect();
    let kv = |k: &str, v: &str| proto::StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) };
    let t = proto::TensorProto {
        name: Some("w".into()),
        dims: vec![2],
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![kv("location", "weights.bin"), kv("offset", "8"), kv("length", "8")],
        ..Default::default()
    };
    let mut files = HashMap::new();
    files.insert("weights.bin".to_string(), bytes.as_slice());
    let got = onnx::tensor_proto::from_proto(&t, "initializer 'w'", &files).unwrap();
    assert_eq!(got.to_f32_vec(), vec![4.0, 5.0]);
    let missing = onnx::tensor_proto::from_proto(&t, "initializer 'w'", &HashMap::new()).unwrap_err();
    assert_eq!(missing.code(), "INVALID_MODEL");
    assert!(missing.to_string().contains("weights.bin"), "{missing}");
}

/// The files a loader must supply: every location, once, from initializers and from tensor
/// attributes (here of a Constant node inside an If branch).
#[test]
fn external_locations_lists_each_file_a_model_names_once() {
    let kv = |k: &str, v: &str| proto::StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) };
    let ext = |name: &str, location: &str, offset: &str| proto::TensorProto {
        name: Some(name.into()),
        dims: vec![2],
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![kv("location", location), kv("offset", offset), kv("length", "8")],
        ..Default::default()
    };
    let mut constant = node("Constant", "c", &[], &["k"]);
    constant.attribute.push(proto::AttributeProto { name: Some("value".into()), r#type: Some(4), t: Some(ext("", "consts.bin", "0")), ..Default::default() });
    let branch = proto::GraphProto { name: Some("then".into()), node: vec![constant], ..Default::default() };
    let mut cond = node("If", "if", &["flag"], &["k"]);
    cond.attribute.push(proto::AttributeProto { name: Some("then_branch".into()), r#type: Some(5), g: Some(branch), ..Default::default() });
    let m = model(vec![cond], vec![ext("a", "weights.bin", "0"), ext("b", "weights.bin", "8")], vec![], vec![value_info("k", 1, &[2])], 13);
    assert_eq!(onnx::external_locations(&m.encode_to_vec()).unwrap(), ["weights.bin", "consts.bin"]);
    assert!(onnx::external_locations(&constant_model().encode_to_vec()).unwrap().is_empty());
    assert_eq!(onnx::external_locations(b"not a model").unwrap_err().code(), "INVALID_MODEL");
}

#[test]
fn declared_size_disagreeing_with_data_is_an_invalid_model() {
    let m = model(
        vec![node("Identity", "id", &["w"], &["y"])],
        vec![f32_tensor("w", &[2, 3], &[1.0, 2.0])],
        vec![],
        vec![value_info("y", 1, &[2, 3])],
        13,
    );
    let e = load(&m).unwrap_err();
    assert_eq!(e.code(), "INVALID_MODEL");
    let msg = e.to_string();
    assert!(msg.contains("'w'") && msg.contains("[2, 3]") && msg.contains("2 elements"), "{msg}");
}

#[test]
fn truncated_and_foreign_bytes_are_invalid_models() {
    let bytes = constant_model().encode_to_vec();
    for bad in [&bytes[..bytes.len() / 2], b"GIF89a not a model at all".as_slice(), &[][..]] {
        let e = onnx::load(bad, &HashMap::new()).unwrap_err();
        assert_eq!(e.code(), "INVALID_MODEL", "{e}");
    }
}

#[test]
fn cycles_are_reported_with_a_node() {
    let m = model(
        vec![node("Identity", "a", &["x", "q"], &["p"]), node("Identity", "b", &["p"], &["q"])],
        vec![],
        vec![value_info("x", 1, &[1])],
        vec![value_info("q", 1, &[1])],
        13,
    );
    let e = load(&m).unwrap_err();
    assert!(matches!(e, Error::Cycle { .. }), "{e}");
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn unknown_ops_are_listed_before_any_run() {
    let m = model(
        vec![node("FancyOp", "f1", &["x"], &["y"]), node("OtherOp", "f2", &["y"], &["z"])],
        vec![],
        vec![value_info("x", 1, &[1])],
        vec![value_info("z", 1, &[1])],
        13,
    );
    let e = Session::new(load(&m).unwrap(), &SessionOptions::default()).err().unwrap();
    assert_eq!(e.code(), "UNSUPPORTED_OP");
    let msg = e.to_string();
    assert!(msg.contains("FancyOp (node 'f1')") && msg.contains("OtherOp (node 'f2')"), "{msg}");
    // The error carries each node as fields, in graph order: callers never parse the message.
    let webptq::Error::UnsupportedOps(list) = &e else { panic!("not UnsupportedOps: {e:?}") };
    let fields: Vec<_> = list.iter().map(|u| (u.op_type.as_str(), u.domain.as_str(), u.node.as_str())).collect();
    assert_eq!(fields, [("FancyOp", "", "f1"), ("OtherOp", "", "f2")]);
    let info = webptq::info::model_info(&load(&m).unwrap());
    assert_eq!(info.unsupported_ops.len(), 2);
    assert_eq!(&info.unsupported, list);
}

#[test]
fn internal_errors_have_their_own_code() {
    let e = webptq::Error::internal("a plan step lost its output").in_node("n1", "Conv");
    assert_eq!(e.code(), "INTERNAL");
    assert!(e.to_string().contains("node 'n1' (Conv)") && e.to_string().contains("bug"), "{e}");
}

#[test]
fn reading_an_undefined_value_is_an_invalid_model() {
    let m = model(vec![node("Identity", "id", &["nowhere"], &["y"])], vec![], vec![], vec![value_info("y", 1, &[1])], 13);
    let e = load(&m).unwrap_err();
    assert!(e.to_string().contains("nowhere") && e.to_string().contains("'id'"), "{e}");
}

#[test]
fn save_then_load_gives_the_same_model_and_outputs() {
    let m = load(&constant_model()).unwrap();
    let again = onnx::load(&onnx::save(&m), &HashMap::new()).unwrap();
    assert_eq!(again.graph.nodes, m.graph.nodes);
    assert_eq!(again.opset(), 13);
    let run = |m: webptq::graph::Model| Session::new(m, &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false }).unwrap().run(vec![]).unwrap();
    assert_eq!(run(m), run(again));
}

#[test]
fn feeds_are_checked_by_name_type_and_shape() {
    let m = model(
        vec![node("Constant", "c", &[], &["k"])],
        vec![],
        vec![value_info("x", 1, &[-1, 3])],
        vec![value_info("k", 1, &[1])],
        13,
    );
    let mut m = m;
    m.graph.as_mut().unwrap().node[0].attribute.push(proto::AttributeProto {
        name: Some("value_float".into()),
        r#type: Some(1),
        f: Some(1.0),
        ..Default::default()
    });
    let s = Session::new(load(&m).unwrap(), &SessionOptions::default()).unwrap();
    let f32x = |shape: &[usize]| Tensor::zeros(webptq::tensor::DType::F32, shape).unwrap();
    let cases: Vec<(Vec<(String, Tensor)>, &str)> = vec![
        (vec![], "missing"),
        (vec![("x".into(), f32x(&[2, 4]))], "dimension 1 is 4, not 3"),
        (vec![("x".into(), f32x(&[3]))], "rank 1 instead of 2"),
        (vec![("x".into(), Tensor::zeros(webptq::tensor::DType::I64, &[1, 3]).unwrap())], "expected a float32 tensor, got int64"),
        (vec![("x".into(), f32x(&[1, 3])), ("y".into(), f32x(&[1]))], "no such input"),
    ];
    for (feeds, want) in cases {
        let e = s.run(feeds).unwrap_err();
        assert_eq!(e.code(), "INVALID_FEED");
        assert!(e.to_string().contains(want), "'{e}' should mention '{want}'");
    }
    assert!(s.run(vec![("x".into(), f32x(&[5, 3]))]).is_ok());
}

#[test]
fn initializer_backed_inputs_can_be_overridden() {
    let m = model(
        vec![node("Identity", "id", &["w"], &["y"])],
        vec![f32_tensor("w", &[2], &[1.0, 2.0])],
        vec![value_info("w", 1, &[2])],
        vec![value_info("y", 1, &[2])],
        13,
    );
    let g = load(&m).unwrap();
    assert!(g.graph.inputs.is_empty() && g.graph.overridable.len() == 1);
    let saved = onnx::save(&g);
    let back = proto::ModelProto::decode(saved.as_slice()).unwrap();
    assert_eq!(back.graph.as_ref().unwrap().input.len(), 1, "initializer-backed input is kept on save");
}
