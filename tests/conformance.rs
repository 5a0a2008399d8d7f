//! The ONNX backend node tests for every op we claim.
//!
//! Cases come from `onnx==1.23.2` (written by scripts/fixtures.py into `<fixtures>/onnx-node`).
//! `tests/conformance/manifest.tsv` lists every case of every claimed op with its status: `pass`
//! (must pass) or `exclude` with the reason. A claimed op's case missing from the manifest fails
//! the test, so the manifest stays complete.
//!
//! `WEBPTQ_CONFORMANCE_WRITE=1` rewrites the manifest from what passes now, keeping existing
//! reasons; new failures get a `TODO:` reason, which fails the normal run until a person writes why.
//! `CONFORMANCE_FILTER=substring` runs only matching cases (for development).
mod common;

use common::run_case;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The ops the foundation issue claims (ONNX op_type).
const CLAIMED: &[&str] = &[
    "Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization", "Relu", "LeakyRelu", "Clip", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Softmax", "LayerNormalization", "Add", "Sub", "Mul", "Div",
    "Pow", "Sqrt", "Exp", "Neg", "Abs", "Min", "Max", "Equal", "Greater", "Less", "Not", "And", "Where",
    "ReduceMean", "ReduceSum", "ReduceMax", "ReduceL2", "GlobalAveragePool", "AveragePool", "MaxPool", "Flatten",
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Slice", "Split", "Gather", "Shape", "Constant",
    "ConstantOfShape", "Cast", "Identity", "Expand", "Range", "Resize", "Pad", "Dropout", "QuantizeLinear",
    "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger",
    // recurrent and control flow (src/ops/recurrent.rs, control_flow.rs)
    "LSTM", "GRU", "RNN", "If", "Loop", "Scan",
    // math, rearrange, scatter/gather, selection and normalization families
    "Ceil", "CastLike", "Elu", "Floor", "GlobalMaxPool", "GreaterOrEqual", "InstanceNormalization", "LessOrEqual",
    "Log", "LogSoftmax", "Mean", "Mod", "Or", "Reciprocal", "ReduceL1", "ReduceLogSum", "ReduceLogSumExp", "ReduceMin",
    "ReduceProd", "ReduceSumSquare", "Round", "Selu", "Sign", "Size", "Softplus", "Softsign", "Sum", "Upsample", "Xor",
    "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Celu", "Mish",
    "ThresholdedRelu", "Shrink", "Swish", "PRelu", "IsNaN", "IsInf", "BitShift", "BitwiseAnd", "BitwiseOr",
    "BitwiseXor", "BitwiseNot", "Tile", "DepthToSpace", "SpaceToDepth", "ReverseSequence", "Trilu", "Compress",
    "EyeLike", "GatherElements", "GatherND", "ScatterElements", "Scatter", "ScatterND", "OneHot", "ArgMax",
    "ArgMin", "Hardmax", "TopK", "NonZero", "Unique", "CumSum", "CumProd", "GroupNormalization",
    "RMSNormalization", "LpNormalization", "MeanVarianceNormalization", "LRN",
    // einsum.rs, detection.rs
    "Einsum", "NonMaxSuppression",
];

const MANIFEST: &str = "tests/conformance/manifest.tsv";

/// The op a case tests: the op of the graph's last node; for `_expanded` cases (a function op
/// written out in primitive ops) the op of the unexpanded sibling case.
fn tested_op(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    let base = name.strip_suffix("_expanded_ver18").or_else(|| name.strip_suffix("_expanded")).unwrap_or(name);
    let model_dir = dir.with_file_name(base);
    let bytes = std::fs::read(model_dir.join("model.onnx")).ok()?;
    let model = webptq::onnx::load(&bytes, &HashMap::new()).ok()?;
    model.graph.nodes.last().map(|n| n.op_type.clone())
}

fn read_manifest(path: &Path) -> BTreeMap<String, (String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            Some((parts.next()?.to_string(), (parts.next()?.to_string(), parts.next().unwrap_or("").to_string())))
        })
        .collect()
}

#[test]
fn onnx_backend_node_tests() {
    let root = common::fixtures_dir().join("onnx-node");
    let manifest_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST);
    let manifest = read_manifest(&manifest_path);
    let write = std::env::var_os("WEBPTQ_CONFORMANCE_WRITE").is_some();
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let mut dirs: Vec<_> = std::fs::read_dir(&root).expect("onnx-node cases").flatten().map(|e| e.path()).collect();
    dirs.sort();
    let mut per_op: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut new_manifest: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut failures = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !filter.is_empty() && !name.contains(&filter) {
            continue;
        }
        let Some(op) = tested_op(&dir) else { continue };
        if !CLAIMED.contains(&op.as_str()) {
            continue;
        }
        let listed = manifest.get(&name).cloned();
        let counts = per_op.entry(op.clone()).or_default();
        if let Some((status, reason)) = &listed {
            if status == "exclude" && !write {
                counts.2 += 1;
                new_manifest.insert(name, (op, status.clone(), reason.clone()));
                continue;
            }
        }
        let result = std::panic::catch_unwind(|| run_case(&dir)).unwrap_or_else(|_| Err("PANICKED".to_string()));
        match result {
            Ok(()) => {
                counts.0 += 1;
                new_manifest.insert(name, (op, "pass".into(), String::new()));
            }
            Err(e) => {
                counts.1 += 1;
                let reason = match &listed {
                    Some((s, r)) if s == "exclude" && !r.starts_with("TODO") => r.clone(),
                    _ => format!("TODO: {}", e.replace(['\t', '\n'], " ")),
                };
                match listed.as_ref().map(|l| l.0.as_str()) {
                    Some("pass") | None if !write => failures.push(format!("{name}: {e}")),
                    _ => {}
                }
                new_manifest.insert(name, (op, "exclude".into(), reason));
            }
        }
    }
    let mut todo = Vec::new();
    for (name, (_, status, reason)) in &new_manifest {
        if status == "exclude" && reason.starts_with("TODO") {
            todo.push(name.clone());
        }
    }
    println!("{:<22} {:>6} {:>6} {:>8}", "op", "passed", "failed", "excluded");
    for (op, (p, f, x)) in &per_op {
        println!("{op:<22} {p:>6} {f:>6} {x:>8}");
    }
    let (p, f, x) = per_op.values().fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    println!("{:<22} {p:>6} {f:>6} {x:>8}", "total");
    if write && filter.is_empty() {
        let mut text = String::from("# ONNX backend node tests (onnx 1.23.2) for the claimed ops.\n# case\tstatus\treason (for exclusions)\n");
        for (name, (_, status, reason)) in &new_manifest {
            text.push_str(&format!("{name}\t{status}\t{reason}\n"));
        }
        std::fs::write(&manifest_path, text).expect("write manifest");
        println!("wrote {}", manifest_path.display());
        return;
    }
    if filter.is_empty() {
        let unlisted: Vec<_> = new_manifest.keys().filter(|k| !manifest.contains_key(*k)).collect();
        assert!(unlisted.is_empty(), "cases missing from {MANIFEST}: {unlisted:?}");
    }
    assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n"));
    assert!(todo.is_empty() || write, "exclusions without a reason (TODO): {todo:?}");
}

/// Old attribute forms and new input forms of ops whose signature changed between opsets 9 and
/// 21, with onnxruntime's outputs (tests/fixtures/make_opset_cases.py). Every case must pass.
#[test]
fn opset_forms_match_onnxruntime() {
    let dirs = common::case_dirs("opset-forms", 30);
    let failures: Vec<String> = dirs
        .iter()
        .filter_map(|d| {
            let r = std::panic::catch_unwind(|| run_case(d)).unwrap_or_else(|_| Err("PANICKED".into()));
            r.err().map(|e| format!("{}: {e}", d.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    println!("opset forms: {} passed, {} failed", dirs.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
