//! Small float graphs built in code (no fixture files), shared by the quantization and runtime
//! tests: a CNN, a graph of mixed quantizable ops and one of data-movement ops.
use super::build::{f32_tensor, model, node, value_info};
use webptq::onnx::proto;

/// Deterministic pseudo-random values in [lo, hi).
pub fn values(n: usize, seed: u32, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            lo + (s as f32 / u32::MAX as f32) * (hi - lo)
        })
        .collect()
}

pub fn ints(name: &str, v: &[i64]) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), r#type: Some(7), ints: v.to_vec(), ..Default::default() }
}
pub fn int(name: &str, v: i64) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), r#type: Some(2), i: Some(v), ..Default::default() }
}
pub fn with(mut n: proto::NodeProto, attrs: Vec<proto::AttributeProto>) -> proto::NodeProto {
    n.attribute.extend(attrs);
    n
}
pub fn i64_tensor(name: &str, v: &[i64]) -> proto::TensorProto {
    proto::TensorProto { name: Some(name.into()), dims: vec![v.len() as i64], data_type: Some(7), int64_data: v.to_vec(), ..Default::default() }
}
pub fn constant_node(out: &str, t: proto::TensorProto) -> proto::NodeProto {
    let mut n = node("Constant", &format!("{out}_const"), &[], &[out]);
    n.attribute.push(proto::AttributeProto { name: Some("value".into()), r#type: Some(4), t: Some(t), ..Default::default() });
    n
}

/// x[N,3,8,8] → Conv (weights in a Constant node) → BatchNormalization → Relu → MaxPool →
/// Reshape → Gemm (transB, 256 → 64) → Relu → Gemm (64 → 10) → y[N,10].
pub fn cnn() -> proto::ModelProto {
    let mut w = f32_tensor("conv.w", &[16, 3, 3, 3], &values(432, 1, -0.5, 0.5));
    w.name = None;
    let var: Vec<f32> = values(16, 9, 0.5, 1.5);
    model(
        vec![
            constant_node("conv.w", w),
            with(node("Conv", "conv", &["x", "conv.w", "conv.b"], &["c"]), vec![ints("pads", &[1, 1, 1, 1])]),
            node("BatchNormalization", "bn", &["c", "gamma", "beta", "mean", "var"], &["n"]),
            node("Relu", "relu", &["n"], &["r"]),
            with(node("MaxPool", "pool", &["r"], &["p"]), vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]),
            node("Reshape", "flat", &["p", "shape"], &["f"]),
            with(node("Gemm", "fc1", &["f", "fc1.w", "fc1.b"], &["h"]), vec![int("transB", 1)]),
            node("Relu", "relu2", &["h"], &["hr"]),
            node("Gemm", "fc2", &["hr", "fc2.w", "fc2.b"], &["y"]),
        ],
        vec![
            f32_tensor("conv.b", &[16], &values(16, 2, -0.1, 0.1)),
            f32_tensor("gamma", &[16], &values(16, 3, 0.5, 1.5)),
            f32_tensor("beta", &[16], &values(16, 4, -0.2, 0.2)),
            f32_tensor("mean", &[16], &values(16, 5, -0.2, 0.2)),
            f32_tensor("var", &[16], &var),
            i64_tensor("shape", &[0, -1]),
            f32_tensor("fc1.w", &[64, 256], &values(16384, 6, -0.15, 0.15)),
            f32_tensor("fc1.b", &[64], &values(64, 7, -0.1, 0.1)),
            f32_tensor("fc2.w", &[64, 10], &values(640, 8, -0.5, 0.5)),
            f32_tensor("fc2.b", &[10], &values(10, 10, -0.1, 0.1)),
        ],
        vec![value_info("x", 1, &[-1, 3, 8, 8])],
        vec![value_info("y", 1, &[-1, 10])],
        13,
    )
}

/// x[N,4,6,6] → Conv c1 → Clip(0, 6) → Conv c2 → Add(clip, c2) → HardSwish (no handler) →
/// Concat(add, hardswish) → GlobalAveragePool → Flatten → MatMul → Mul(const) → y;
/// MatMul → Sigmoid → y2; Add → Transpose → LeakyRelu → Softmax(axis -1) → y3. Opset 14
/// (HardSwish).
pub fn mixed() -> proto::ModelProto {
    model(
        vec![
            with(node("Conv", "c1", &["x", "c1.w", "c1.b"], &["c1"]), vec![ints("pads", &[1, 1, 1, 1])]),
            node("Clip", "clip", &["c1", "zero", "six"], &["c1r"]),
            with(node("Conv", "c2", &["c1r", "c2.w"], &["c2"]), vec![ints("pads", &[1, 1, 1, 1])]),
            node("Add", "add", &["c1r", "c2"], &["a"]),
            node("HardSwish", "hswish", &["a"], &["hs"]),
            with(node("Concat", "cat", &["a", "hs"], &["cat"]), vec![int("axis", 1)]),
            node("GlobalAveragePool", "gap", &["cat"], &["g"]),
            node("Flatten", "flatten", &["g"], &["f"]),
            node("MatMul", "mm", &["f", "mm.w"], &["m"]),
            node("Mul", "scale", &["m", "half"], &["y"]),
            node("Sigmoid", "sig", &["m"], &["y2"]),
            with(node("Transpose", "tr", &["a"], &["t"]), vec![ints("perm", &[0, 2, 3, 1])]),
            node("LeakyRelu", "leaky", &["t"], &["lk"]),
            with(node("Softmax", "softmax", &["lk"], &["y3"]), vec![int("axis", -1)]),
        ],
        vec![
            f32_tensor("c1.w", &[8, 4, 3, 3], &values(288, 11, -0.4, 0.4)),
            f32_tensor("c1.b", &[8], &values(8, 12, -0.1, 0.3)),
            f32_tensor("zero", &[], &[0.0]),
            f32_tensor("six", &[], &[6.0]),
            f32_tensor("c2.w", &[8, 8, 3, 3], &values(576, 13, -0.3, 0.3)),
            f32_tensor("mm.w", &[16, 5], &values(80, 14, -1.0, 1.0)),
            f32_tensor("half", &[], &[0.5]),
        ],
        vec![value_info("x", 1, &[-1, 4, 6, 6])],
        vec![value_info("y", 1, &[-1, 5]), value_info("y2", 1, &[-1, 5]), value_info("y3", 1, &[-1, 6, 6, 8])],
        14,
    )
}

/// Data-movement ops after a Conv: Reshape → Transpose → Slice → Unsqueeze → Squeeze → Split →
/// Concat → Gather → Flatten → MatMul → y; and Conv → Resize (nearest) → AveragePool →
/// GlobalAveragePool → y2. Opset 13 (axes as inputs).
pub fn shape_ops() -> proto::ModelProto {
    let f = |name: &str, v: &[f32]| f32_tensor(name, &[v.len() as i64], v);
    model(
        vec![
            with(node("Conv", "conv", &["x", "w"], &["c"]), vec![ints("pads", &[1, 1, 1, 1])]),
            node("Reshape", "reshape", &["c", "shape"], &["r"]),
            with(node("Transpose", "transpose", &["r"], &["t"]), vec![ints("perm", &[0, 2, 1])]),
            node("Slice", "slice", &["t", "starts", "ends", "axes1"], &["sl"]),
            node("Unsqueeze", "unsqueeze", &["sl", "axes1"], &["u"]),
            node("Squeeze", "squeeze", &["u", "axes1"], &["sq"]),
            with(node("Split", "split", &["sq", "halves"], &["s0", "s1"]), vec![int("axis", 2)]),
            with(node("Concat", "concat", &["s0", "s1"], &["cat"]), vec![int("axis", 1)]),
            with(node("Gather", "gather", &["cat", "idx"], &["ga"]), vec![int("axis", 1)]),
            node("Flatten", "flatten", &["ga"], &["fl"]),
            node("MatMul", "mm", &["fl", "mm.w"], &["y"]),
            with(node("Resize", "resize", &["c", "", "scales"], &["rs"]), vec![proto::AttributeProto {
                name: Some("mode".into()),
                r#type: Some(3),
                s: Some(b"nearest".to_vec()),
                ..Default::default()
            }]),
            with(node("AveragePool", "avgpool", &["rs"], &["ap"]), vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])]),
            node("GlobalAveragePool", "gap", &["ap"], &["y2"]),
        ],
        vec![
            f32_tensor("w", &[8, 4, 3, 3], &values(288, 21, -0.4, 0.4)),
            i64_tensor("shape", &[0, 8, 36]),
            i64_tensor("starts", &[2]),
            i64_tensor("ends", &[34]),
            i64_tensor("axes1", &[1]),
            i64_tensor("halves", &[4, 4]),
            i64_tensor("idx", &[0, 2, 5, 63]),
            f32_tensor("mm.w", &[16, 3], &values(48, 22, -1.0, 1.0)),
            f("scales", &[1.0, 1.0, 2.0, 2.0]),
        ],
        vec![value_info("x", 1, &[-1, 4, 6, 6])],
        vec![value_info("y", 1, &[-1, 3]), value_info("y2", 1, &[-1, 8, 1, 1])],
        13,
    )
}

/// Activation patterns on `xs = 6·x − 3` (x[N,1,28,28]): SiLU `xs·sigmoid(xs)` → y1, HardSwish
/// as `xs·hardsigmoid(xs)` → y2, GELU (Erf form, 0.5 from a Constant node) → y3, Mish
/// `xs·tanh(softplus(xs))` → y4, GELU (Tanh form, with Pow) → y5. Opset 13. Quantized, every
/// output is a function of x's 8-bit value alone: one table each.
pub fn activations() -> proto::ModelProto {
    let c = |name: &str, v: f32| f32_tensor(name, &[], &[v]);
    model(
        vec![
            node("Mul", "scale", &["x", "six"], &["x6"]),
            node("Sub", "shift", &["x6", "three"], &["xs"]),
            node("Sigmoid", "silu.sig", &["xs"], &["sig"]),
            node("Mul", "silu", &["xs", "sig"], &["y1"]),
            with(node("HardSigmoid", "hs.sig", &["xs"], &["hsig"]), vec![float("alpha", 1.0 / 6.0)]),
            node("Mul", "hswish", &["xs", "hsig"], &["y2"]),
            node("Div", "gelu.div", &["xs", "sqrt2"], &["gd"]),
            node("Erf", "gelu.erf", &["gd"], &["ge"]),
            node("Add", "gelu.add", &["ge", "one"], &["ga"]),
            node("Mul", "gelu.mul", &["xs", "ga"], &["gm"]),
            constant_node("half", f32_tensor("half", &[], &[0.5])),
            node("Mul", "gelu", &["gm", "half"], &["y3"]),
            node("Softplus", "mish.sp", &["xs"], &["sp"]),
            node("Tanh", "mish.tanh", &["sp"], &["mt"]),
            node("Mul", "mish", &["xs", "mt"], &["y4"]),
            node("Pow", "gt.pow", &["xs", "three"], &["x3"]),
            node("Mul", "gt.k", &["x3", "k"], &["tk"]),
            node("Add", "gt.add", &["xs", "tk"], &["ta"]),
            node("Mul", "gt.s", &["ta", "s2pi"], &["tsc"]),
            node("Tanh", "gt.tanh", &["tsc"], &["tt"]),
            node("Add", "gt.one", &["tt", "one"], &["tu"]),
            node("Mul", "gt.x", &["xs", "tu"], &["tv"]),
            node("Mul", "gelu_tanh", &["tv", "half2"], &["y5"]),
        ],
        vec![c("six", 6.0), c("three", 3.0), c("sqrt2", std::f32::consts::SQRT_2), c("one", 1.0), c("k", 0.044715), c("s2pi", (2.0 / std::f32::consts::PI).sqrt()), c("half2", 0.5)],
        vec![value_info("x", 1, &[-1, 1, 28, 28])],
        (1..=5).map(|k| value_info(&format!("y{k}"), 1, &[-1, 1, 28, 28])).collect(),
        13,
    )
}

pub fn float(name: &str, v: f32) -> proto::AttributeProto {
    proto::AttributeProto { name: Some(name.into()), r#type: Some(1), f: Some(v), ..Default::default() }
}
/// Data-movement ops that onnxruntime also runs on 8-bit tensors (issue 11): Conv →
/// DepthToSpace(2) → SpaceToDepth(2) → Tile([1, 1, 2, 1]) → Conv → y[N,4,12,6], and the Tile's
/// output → GatherElements(axis 1, constant indices [1,4,12,6]) → y2. Opset 13.
pub fn movement_ops() -> proto::ModelProto {
    let idx: Vec<i64> = (0..288).map(|i| (i * 5 % 8) as i64).collect();
    let indices = proto::TensorProto { name: Some("gidx".into()), dims: vec![1, 4, 12, 6], data_type: Some(7), int64_data: idx, ..Default::default() };
    model(
        vec![
            with(node("Conv", "conv", &["x", "w"], &["c"]), vec![ints("pads", &[1, 1, 1, 1])]),
            with(node("DepthToSpace", "d2s", &["c"], &["d"]), vec![int("blocksize", 2)]),
            with(node("SpaceToDepth", "s2d", &["d"], &["s"]), vec![int("blocksize", 2)]),
            node("Tile", "tile", &["s", "reps"], &["t"]),
            with(node("Conv", "conv2", &["t", "w2"], &["y"]), vec![ints("pads", &[1, 1, 1, 1])]),
            with(node("GatherElements", "gather_el", &["t", "gidx"], &["y2"]), vec![int("axis", 1)]),
        ],
        vec![
            f32_tensor("w", &[8, 4, 3, 3], &values(288, 41, -0.4, 0.4)),
            i64_tensor("reps", &[1, 1, 2, 1]),
            f32_tensor("w2", &[4, 8, 3, 3], &values(288, 42, -0.3, 0.3)),
            indices,
        ],
        vec![value_info("x", 1, &[-1, 4, 6, 6])],
        vec![value_info("y", 1, &[-1, 4, 12, 6]), value_info("y2", 1, &[1, 4, 12, 6])],
        13,
    )
}
