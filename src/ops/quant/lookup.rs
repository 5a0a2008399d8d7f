//! `ai.webptq` QLinearLookup: `y = table[x]` for 8-bit `x`, the op that the QDQ fusion pass
//! (`graph::passes::qdq_fusion`) makes of `DequantizeLinear → elementwise op → QuantizeLinear`.
//! A runtime-only op: never written to a file.
//!
//! Inputs: `x` (uint8 or int8, any shape) and `table` (256 values of the output type, uint8 or
//! int8): entry `x − min(type)` (`x` for uint8, `x + 128` for int8) is the output for `x`.
use super::gemm_kernel::q8_bytes;
use crate::kernels::qgemm::i8_bytes_mut;
use crate::kernels::qlut::lut_x8;
use crate::error::{Error, Result};
use crate::ops::registry::{required, BuildContext, FnOp, Op, Registry};
use crate::tensor::Tensor;

pub fn register(r: &mut Registry) {
    r.register(crate::graph::passes::WEBPTQ_DOMAIN, "QLinearLookup", lookup);
}

fn lookup(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let table = required(inputs, 1, "table")?;
        if table.len() != 256 || table.rank() != 1 {
            return Err(Error::shape(format!("table has shape {:?}; it must be [256]", table.shape())));
        }
        let Some((bytes, signed)) = q8_bytes(x) else {
            return Err(Error::dtype(format!("x must be uint8 or int8, got {}", x.dtype())));
        };
        let flip = if signed { 0x80 } else { 0 };
        // The table as bytes; the output has the table's type.
        let (entries, out_signed): ([u8; 256], bool) = match table {
            Tensor::U8(t) => (as_entries(t.iter().copied()), false),
            Tensor::I8(t) => (as_entries(t.iter().map(|&v| v as u8)), true),
            other => return Err(Error::dtype(format!("table must be uint8 or int8, got {}", other.dtype()))),
        };
        Ok(vec![if out_signed {
            let mut y = vec![0i8; bytes.len()];
            lut_x8(&bytes, flip, &entries, i8_bytes_mut(&mut y));
            Tensor::from_vec(x.shape(), y)?
        } else {
            let mut y = vec![0u8; bytes.len()];
            lut_x8(&bytes, flip, &entries, &mut y);
            Tensor::from_vec(x.shape(), y)?
        }])
    })))
}

/// The 256 entries as an array (the caller checked the length).
fn as_entries(values: impl Iterator<Item = u8>) -> [u8; 256] {
    let mut t = [0u8; 256];
    for (slot, v) in t.iter_mut().zip(values) {
        *slot = v;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::quant::test_util::{run_in, t};

    #[test]
    fn looks_up_uint8_and_int8_inputs() {
        let table: Vec<i8> = (0..256).map(|i| (255 - i) as u8 as i8).collect();
        let y = run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[3], vec![0u8, 1, 255]), t(&[256], table.clone())]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-1i8, -2, 0]).unwrap());
        // int8 -128 is entry 0, 127 entry 255.
        let y = run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1, 2], vec![-128i8, 127]), t(&[256], table)]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 2], vec![-1i8, 0]).unwrap());
    }

    #[test]
    fn rejects_bad_tables_and_types() {
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0u8]), t(&[255], vec![0u8; 255])]).is_err());
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0f32]), t(&[256], vec![0u8; 256])]).is_err());
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0u8]), t(&[256], vec![0f32; 256])]).is_err());
    }
}
