//! The graph passes preserve results: a Conv+BatchNormalization+Relu model and a Gemm+BN model
//! give the same outputs with and without optimization, and the passes did what they claim.
mod common;

use common::build::{f32_tensor, model, node, value_info};
use prost::Message;
use std::collections::HashMap;
use webptq::passes;
use webptq::graph::Dim;
use webptq::onnx::proto;
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    common::graphs::values(n, seed, -1.0, 1.0)
}

fn conv_bn_model() -> proto::ModelProto {
    let (c_in, c_out) = (3, 4);
    let mut conv = node("Conv", "conv", &["x", "w", "b"], &["c"]);
    conv.attribute.push(proto::AttributeProto { name: Some("pads".into()), r#type: Some(7), ints: vec![1, 1, 1, 1], ..Default::default() });
    let mut shape = node("Constant", "shape_const", &[], &["shape"]);
    shape.attribute.push(proto::AttributeProto {
        name: Some("value".into()),
        r#type: Some(4),
        t: Some(proto::TensorProto { dims: vec![2], data_type: Some(7), int64_data: vec![0, -1], ..Default::default() }),
        ..Default::default()
    });
    let var: Vec<f32> = values(c_out, 9).iter().map(|v| v.abs() + 0.5).collect();
    model(
        vec![
            conv,
            node("BatchNormalization", "bn", &["c", "gamma", "beta", "mean", "var"], &["n"]),
            node("Relu", "relu", &["n"], &["r"]),
            shape,
            node("Reshape", "flat", &["r", "shape"], &["y"]),
            // A dead branch: nothing reads it.
            node("Sigmoid", "dead", &["x"], &["unused"]),
        ],
        vec![
            f32_tensor("w", &[c_out as i64, c_in as i64, 3, 3], &values(c_out * c_in * 9, 1)),
            f32_tensor("b", &[c_out as i64], &values(c_out, 2)),
            f32_tensor("gamma", &[c_out as i64], &values(c_out, 3)),
            f32_tensor("beta", &[c_out as i64], &values(c_out, 4)),
            f32_tensor("mean", &[c_out as i64], &values(c_out, 5)),
            f32_tensor("var", &[c_out as i64], &var),
        ],
        vec![value_info("x", 1, &[-1, c_in as i64, 5, 5])],
        vec![value_info("y", 1, &[-1, (c_out * 25) as i64])],
        13,
    )
}

fn run(m: &proto::ModelProto, optimize: bool, x: Tensor) -> (Tensor, usize) {
    let model = webptq::onnx::load(&m.encode_to_vec(), &HashMap::new()).unwrap();
    // Only the default pipeline: the runtime's Conv + Relu fusion is tested on its own.
    let s = Session::new(model, &SessionOptions { optimize, fuse_activations: false, ..Default::default() }).unwrap();
    let nodes = s.model().graph.nodes.len();
    (s.run(vec![("x".into(), x)]).unwrap().remove(0).1, nodes)
}

#[test]
fn conv_batchnorm_folding_preserves_outputs() {
    let x = Tensor::from_vec(&[2, 3, 5, 5], values(150, 7)).unwrap();
    let (plain, n_plain) = run(&conv_bn_model(), false, x.clone());
    let (folded, n_folded) = run(&conv_bn_model(), true, x);
    assert_eq!(n_plain, 6);
    // BN folded into the Conv, the Constant became an initializer, the dead Sigmoid is gone.
    assert_eq!(n_folded, 3, "Conv, Relu, Reshape remain");
    common::compare(&folded, &plain, 1e-5, 1e-6).unwrap();
    assert!(plain.to_f32_vec().iter().any(|&v| v > 0.0), "the test exercises non-trivial outputs");
}

#[test]
fn gemm_batchnorm_folding_preserves_outputs() {
    for trans_b in [0, 1] {
        let (k, n) = (6, 4);
        let mut gemm = node("Gemm", "fc", &["x", "w", "b"], &["g"]);
        gemm.attribute.push(proto::AttributeProto { name: Some("transB".into()), r#type: Some(2), i: Some(trans_b), ..Default::default() });
        let wdims: Vec<i64> = if trans_b == 1 { vec![n, k] } else { vec![k, n] };
        let var: Vec<f32> = values(n as usize, 9).iter().map(|v| v.abs() + 0.5).collect();
        let m = model(
            vec![gemm, node("BatchNormalization", "bn", &["g", "gamma", "beta", "mean", "var"], &["y"])],
            vec![
                f32_tensor("w", &wdims, &values((k * n) as usize, 1)),
                f32_tensor("b", &[n], &values(n as usize, 2)),
                f32_tensor("gamma", &[n], &values(n as usize, 3)),
                f32_tensor("beta", &[n], &values(n as usize, 4)),
                f32_tensor("mean", &[n], &values(n as usize, 5)),
                f32_tensor("var", &[n], &var),
            ],
            vec![value_info("x", 1, &[3, k])],
            vec![value_info("y", 1, &[3, n])],
            13,
        );
        let x = Tensor::from_vec(&[3, k as usize], values(18, 11)).unwrap();
        let (plain, _) = run(&m, false, x.clone());
        let (folded, nodes) = run(&m, true, x);
        assert_eq!(nodes, 1, "transB={trans_b}: BN folded into Gemm");
        common::compare(&folded, &plain, 1e-5, 1e-6).unwrap();
    }
}

#[test]
fn shape_inference_records_every_value_for_concrete_inputs() {
    let mut model = webptq::onnx::load(&conv_bn_model().encode_to_vec(), &HashMap::new()).unwrap();
    let shapes = HashMap::from([("x".to_string(), vec![2usize, 3, 5, 5])]);
    passes::infer_shapes(&mut model, &shapes).unwrap();
    let g = &model.graph;
    let shape_of = |name: &str| g.value(g.find_value(name).unwrap()).shape.clone().unwrap();
    assert_eq!(shape_of("c"), vec![Dim::Fixed(2), Dim::Fixed(4), Dim::Fixed(5), Dim::Fixed(5)]);
    assert_eq!(shape_of("y"), vec![Dim::Fixed(2), Dim::Fixed(100)]);
    let missing = passes::infer_shapes(&mut model, &HashMap::new()).unwrap_err();
    assert_eq!(missing.code(), "INVALID_FEED", "a symbolic input needs a concrete shape: {missing}");
}
