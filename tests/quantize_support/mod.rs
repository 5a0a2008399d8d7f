//! Helpers of the quantization integration tests: .npy reading and row slicing.
#![allow(dead_code)]
use webptq::tensor::{DType, Tensor};

/// Reads a little-endian C-order .npy file of float32, int64 or int32.
pub fn read_npy(path: &std::path::Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("'fortran_order': False"), "{header}");
    let dtype = if header.contains("'<f4'") {
        DType::F32
    } else if header.contains("'<i8'") {
        DType::I64
    } else if header.contains("'<i4'") {
        DType::I32
    } else {
        panic!("{}: unsupported dtype in {header}", path.display())
    };
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = shape_txt.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    Tensor::from_le_bytes(dtype, &shape, &bytes[start + hlen..]).unwrap()
}

/// Rows `lo..hi` (first axis) of a tensor.
pub fn rows(x: &Tensor, lo: usize, hi: usize) -> Tensor {
    let r = ndarray::Slice::from(lo..hi);
    match x {
        Tensor::F32(a) => Tensor::F32(a.slice_axis(ndarray::Axis(0), r).to_owned()),
        Tensor::I64(a) => Tensor::I64(a.slice_axis(ndarray::Axis(0), r).to_owned()),
        Tensor::I32(a) => Tensor::I32(a.slice_axis(ndarray::Axis(0), r).to_owned()),
        other => panic!("rows of {}", other.dtype()),
    }
}

/// SQNR in dB of `y` against `x`.
pub fn sqnr(x: &Tensor, y: &Tensor) -> f64 {
    let (a, b) = (x.to_f32_vec(), y.to_f32_vec());
    let s: f64 = a.iter().map(|v| (*v as f64).powi(2)).sum();
    let n: f64 = a.iter().zip(&b).map(|(u, v)| (*u as f64 - *v as f64).powi(2)).sum();
    10.0 * (s / n.max(1e-30)).log10()
}

pub fn argmax_rows(t: &Tensor) -> Vec<usize> {
    let v = t.to_f32_vec();
    let c = *t.shape().last().unwrap();
    v.chunks(c).map(|r| r.iter().enumerate().fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0).collect()
}

/// Where tests write exports for tests/python/check_exports.py.
pub fn export_dir() -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/quantize-exports");
    std::fs::create_dir_all(&d).unwrap();
    d
}
