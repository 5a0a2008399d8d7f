//! A tiny `.npy` reader for the reference data of the fixture cache: format versions 1–3,
//! little-endian `<f4`, `<f8`, `<i8`, `<i4`, `|u1`, `|i1`, C order only.
use std::path::Path;
use webptq::tensor::{DType, Tensor};

pub fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_npy(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn parse_npy(bytes: &[u8]) -> Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).ok_or("truncated header")?)
        .map_err(|e| e.to_string())?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header.find(&format!("'{key}'")).ok_or(format!("header has no '{key}': {header}"))?;
        Ok(header[at + key.len() + 2..].trim_start_matches([':', ' ']))
    };
    if field("fortran_order")?.starts_with("True") {
        return Err("Fortran order is not supported".into());
    }
    let descr = field("descr")?;
    let dtype = match descr.get(1..4).ok_or("bad descr")? {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "<i8" => DType::I64,
        "<i4" => DType::I32,
        "|u1" => DType::U8,
        "|i1" => DType::I8,
        other => return Err(format!("unsupported dtype {other}")),
    };
    let shape_src = field("shape")?;
    let inner = &shape_src[shape_src.find('(').ok_or("bad shape")? + 1..shape_src.find(')').ok_or("bad shape")?];
    let shape: Vec<usize> =
        inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().map_err(|_| format!("bad dim {s}"))).collect::<Result<_, _>>()?;
    Tensor::from_le_bytes(dtype, &shape, &bytes[start + header_len..]).map_err(|e| e.to_string())
}

/// Writes a float32 tensor as a version 1 `.npy` file.
pub fn write_npy(path: &Path, t: &Tensor) {
    let descr = match t.dtype() {
        DType::F32 => "<f4",
        DType::I64 => "<i8",
        other => panic!("write_npy: unsupported dtype {other}"),
    };
    let dims: Vec<String> = t.shape().iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(t.to_le_bytes());
    std::fs::write(path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
