//! `TensorProto` <-> [`Tensor`]: raw_data or typed fields, external data, size checks.
use super::proto::{self, TensorProto};
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, onnx_type_name, DType, Tensor};
use half::f16;
use std::collections::HashMap;

/// Bytes of external data files, keyed by the `location` the model names.
pub type ExternalData<'a> = HashMap<String, &'a [u8]>;

fn dims_of(t: &TensorProto, what: &str) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| {
            usize::try_from(d).map_err(|_| Error::model(format!("{what} has a negative dimension {d} in {:?}", t.dims)))
        })
        .collect()
}

/// Converts a tensor from the file. `what` names it in errors (e.g. "initializer 'conv1.weight'").
pub fn from_proto(t: &TensorProto, what: &str, external: &ExternalData) -> Result<Tensor> {
    let code = t.data_type.unwrap_or(0);
    let dtype = DType::from_onnx_code(code).map_err(|_| {
        Error::model(format!("{what} has element type {} ({code}), which is not supported", onnx_type_name(code)))
    })?;
    let shape = dims_of(t, what)?;
    let n = checked_numel(&shape, dtype).map_err(|e| Error::model(format!("{what}: {e}")))?;
    let mismatch = |got: usize| {
        Error::model(format!(
            "{what} declares shape {shape:?} ({n} elements of {dtype}) but holds {got} elements"
        ))
    };
    if t.data_location == Some(proto::tensor_proto::DataLocation::External as i32) {
        let bytes = external_bytes(t, what, external)?;
        return Tensor::from_le_bytes(dtype, &shape, bytes).map_err(|_| mismatch(bytes.len() / dtype.size_of().max(1)));
    }
    if let Some(raw) = &t.raw_data {
        if raw.len() != n * dtype.size_of() {
            return Err(mismatch(raw.len() / dtype.size_of()));
        }
        return Tensor::from_le_bytes(dtype, &shape, raw);
    }
    macro_rules! typed {
        ($field:expr, $ty:ty, $conv:expr) => {{
            if $field.len() != n {
                return Err(mismatch($field.len()));
            }
            Tensor::from_vec::<$ty>(&shape, $field.iter().map($conv).collect())
        }};
    }
    match dtype {
        DType::F32 => typed!(t.float_data, f32, |&v| v),
        DType::F64 => typed!(t.double_data, f64, |&v| v),
        // float16 values are stored as their bit patterns in int32_data.
        DType::F16 => typed!(t.int32_data, f16, |&v| f16::from_bits(v as u16)),
        DType::I8 => typed!(t.int32_data, i8, |&v| v as i8),
        DType::U8 => typed!(t.int32_data, u8, |&v| v as u8),
        DType::I16 => typed!(t.int32_data, i16, |&v| v as i16),
        DType::U16 => typed!(t.int32_data, u16, |&v| v as u16),
        DType::I32 => typed!(t.int32_data, i32, |&v| v),
        DType::Bool => typed!(t.int32_data, bool, |&v| v != 0),
        DType::I64 => typed!(t.int64_data, i64, |&v| v),
        DType::U32 => typed!(t.uint64_data, u32, |&v| v as u32),
        DType::U64 => typed!(t.uint64_data, u64, |&v| v),
    }
}

fn external_bytes<'a>(t: &TensorProto, what: &str, external: &ExternalData<'a>) -> Result<&'a [u8]> {
    let mut location = None;
    let mut offset = 0usize;
    let mut length = None;
    for kv in &t.external_data {
        let key = kv.key.as_deref().unwrap_or("");
        let value = kv.value.as_deref().unwrap_or("");
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| Error::model(format!("{what} has external data {key}='{s}', not a number")))
        };
        match key {
            "location" => location = Some(value.to_string()),
            "offset" => offset = parse(value)?,
            "length" => length = Some(parse(value)?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| Error::model(format!("{what} is external but names no location")))?;
    let file = external.get(&location).ok_or_else(|| {
        Error::model(format!("{what} is stored in external file '{location}', which was not supplied"))
    })?;
    let end = match length {
        Some(l) => offset.checked_add(l),
        None => Some(file.len()),
    }
    .filter(|&e| e <= file.len() && offset <= e)
    .ok_or_else(|| {
        Error::model(format!(
            "{what}: external file '{location}' has {} bytes, too few for offset {offset} length {length:?}",
            file.len()
        ))
    })?;
    Ok(&file[offset..end])
}

/// Converts a tensor to a `TensorProto` with little-endian `raw_data`.
pub fn to_proto(t: &Tensor, name: &str) -> TensorProto {
    TensorProto {
        dims: t.shape().iter().map(|&d| d as i64).collect(),
        data_type: Some(t.dtype().onnx_code()),
        name: Some(name.to_string()),
        raw_data: Some(t.to_le_bytes()),
        ..Default::default()
    }
}
