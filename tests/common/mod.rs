//! Helpers shared by the Rust integration tests: where fixtures live, reading TensorProto files,
//! comparing tensors.
#![allow(dead_code)]
use prost::Message;
use std::path::{Path, PathBuf};
use webptq::runtime::{Session, SessionOptions};
use webptq::tensor::Tensor;

/// The fixture cache: `$WEBPTQ_FIXTURES`, else `<repo>/.cache/fixtures`. Tests fail (never skip)
/// when it is missing: `npm test` (scripts/setup.sh) fetches it.
pub fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("WEBPTQ_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/fixtures"));
    assert!(dir.is_dir(), "fixture cache {} is missing: run scripts/setup.sh (npm test does)", dir.display());
    dir
}

/// The case directories under `$WEBPTQ_FIXTURES/<sub>`, sorted; fails with fewer than `min`.
pub fn case_dirs(sub: &str, min: usize) -> Vec<PathBuf> {
    let root = fixtures_dir().join(sub);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= min, "expected at least {min} cases in {}", root.display());
    dirs
}

/// `<prefix>_0.pb`, `<prefix>_1.pb`, ... of an ONNX test data set, as far as they go.
pub fn read_numbered(dir: &std::path::Path, prefix: &str) -> Vec<Tensor> {
    (0..).map(|k| dir.join(format!("{prefix}_{k}.pb"))).take_while(|p| p.exists()).map(|p| read_tensor_pb(&p)).collect()
}

pub fn read_tensor_pb(path: &std::path::Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let proto = webptq::onnx::proto::TensorProto::decode(bytes.as_slice()).expect("decode TensorProto");
    webptq::onnx::tensor_proto::from_proto(&proto, &path.display().to_string(), &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks `got` against `want` like onnx's backend tests (rtol 1e-3, atol 1e-7 for floats,
/// exact for integers and bools, NaN equal to NaN). Returns a description of the first mismatch.
pub fn compare(got: &Tensor, want: &Tensor, rtol: f64, atol: f64) -> Result<(), String> {
    if got.dtype() != want.dtype() {
        return Err(format!("dtype {} != expected {}", got.dtype(), want.dtype()));
    }
    if got.shape() != want.shape() {
        return Err(format!("shape {:?} != expected {:?}", got.shape(), want.shape()));
    }
    if got.dtype().is_float() {
        let (g, w) = (float_values(got), float_values(want));
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            let ok = (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= atol + rtol * b.abs();
            if !ok {
                return Err(format!("element {i}: {a} != expected {b}"));
            }
        }
        Ok(())
    } else if got.to_le_bytes() != want.to_le_bytes() {
        Err(format!("integer values differ (got {:?}…, expected {:?}…)", head(got), head(want)))
    } else {
        Ok(())
    }
}

/// Runs a case in the ONNX test layout (`model.onnx` + `test_data_set_*/{input,output}_K.pb`)
/// with the graph as written (no passes) and compares every output with [`compare`] (rtol 1e-3,
/// atol 1e-7). Returns a description of the first failure.
pub fn run_case(dir: &Path) -> Result<(), String> {
    let bytes = std::fs::read(dir.join("model.onnx")).map_err(|e| e.to_string())?;
    let model = webptq::onnx::load(&bytes, &Default::default()).map_err(|e| e.to_string())?;
    let session = Session::new(model, &SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false }).map_err(|e| e.to_string())?;
    let mut sets: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    if sets.is_empty() {
        return Err("no test data sets".into());
    }
    for set in sets {
        let inputs = read_numbered(&set, "input");
        let names = session.model().graph.inputs.iter().map(|&i| session.model().graph.value_name(i).to_string());
        let feeds: Vec<_> = names.zip(inputs).collect();
        let outputs = session.run(feeds).map_err(|e| e.to_string())?;
        let expected = read_numbered(&set, "output");
        if outputs.len() != expected.len() {
            return Err(format!("{} outputs, expected {}", outputs.len(), expected.len()));
        }
        for ((name, got), want) in outputs.iter().zip(&expected) {
            compare(got, want, 1e-3, 1e-7).map_err(|e| format!("output '{name}': {e}"))?;
        }
    }
    Ok(())
}

fn head(t: &Tensor) -> Vec<f32> {
    t.to_f32_vec().into_iter().take(8).collect()
}

fn float_values(t: &Tensor) -> Vec<f64> {
    match t {
        Tensor::F64(a) => a.iter().copied().collect(),
        other => other.to_f32_vec().into_iter().map(|v| v as f64).collect(),
    }
}

pub mod build;
pub mod graphs;
pub mod npy;

