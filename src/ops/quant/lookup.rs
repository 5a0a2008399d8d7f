//! The one table-lookup mechanism of the 8-bit ops. An 8-bit per-tensor input has 256 values, so
//! any op whose every output element is an 8-bit function of the input element alone is a
//! 256-entry [`Table`]: built once, by running the op's own definition on the 256 values
//! ([`Table::of`]), and applied with the `i8x16.swizzle` lookup kernel ([`crate::kernels::qlut`]).
//! Exact by construction: each entry is what the op computes for that value.
//!
//! Who builds tables:
//! - `ai.webptq` QLinearLookup (here): `y = table[x]`, the op that the QDQ fusion pass
//!   (`passes::qdq_fusion`) makes of a `DequantizeLinear → elementwise ops → QuantizeLinear`
//!   region (single ops such as Sigmoid or Tanh, and patterns such as SiLU `x·sigmoid(x)`): the
//!   pass fills the table by running the region's own float ops on the 256 values. A runtime-only
//!   op, never written to a file. Inputs: `x` (uint8 or int8, any shape) and `table` (256 values
//!   of the output type, uint8 or int8): entry `x − min(type)` (`x` for uint8, `x + 128` for
//!   int8) is the output for `x`.
//! - com.microsoft QLinearSigmoid and QLinearLeakyRelu (`contrib`): the table of their
//!   per-element formula, built when the plan is built if their scales and zero points are
//!   constants, else once per run.
use crate::error::{Error, Result};
use crate::kernels::qlut::{lut_x8, LutX8Ukernel, Named};
use crate::kernels::select;
use crate::ops::registry::{required, BuildContext, FnOp, Op, Registry};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register(crate::ops::WEBPTQ_DOMAIN, "QLinearLookup", lookup);
}

/// `y = table[x]` for an 8-bit `x` of one signedness: entry `x − min(type)` holds the output for
/// `x`; the output is uint8 or int8 (`out_signed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    entries: [u8; 256],
    out_signed: bool,
}

impl Table {
    /// The 256 values of uint8 (`signed` false) or int8, in table order, as a `[256]` tensor.
    pub(crate) fn inputs(signed: bool) -> Tensor {
        let t = if signed {
            Tensor::from_vec(&[256], (-128..=127).map(|v| v as i8).collect::<Vec<i8>>())
        } else {
            Tensor::from_vec(&[256], (0..=255).collect::<Vec<u8>>())
        };
        t.expect("256 values fill a [256] tensor")
    }

    /// The table of an elementwise 8-bit function of one 8-bit tensor of the given signedness:
    /// `f` runs once on the 256 [`inputs`](Self::inputs) and must give 256 8-bit values.
    pub(crate) fn of(signed: bool, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Table> {
        let y = f(&Self::inputs(signed))?;
        if y.len() != 256 {
            return Err(Error::shape(format!("a lookup table needs 256 values, the function gave shape {:?}", y.shape())));
        }
        Self::from_tensor(&y)
    }

    /// A table given as a tensor of 256 uint8 or int8 values (QLinearLookup's `table` input).
    pub(crate) fn from_tensor(t: &Tensor) -> Result<Table> {
        if t.len() != 256 {
            return Err(Error::shape(format!("table has shape {:?}; it must hold 256 values", t.shape())));
        }
        let mut entries = [0u8; 256];
        let out_signed = match t {
            Tensor::U8(a) => {
                entries.iter_mut().zip(a.iter()).for_each(|(e, &v)| *e = v);
                false
            }
            Tensor::I8(a) => {
                entries.iter_mut().zip(a.iter()).for_each(|(e, &v)| *e = v as u8);
                true
            }
            other => return Err(Error::dtype(format!("table must be uint8 or int8, got {}", other.dtype()))),
        };
        Ok(Table { entries, out_signed })
    }

    /// The table as a `[256]` tensor of its output type (what [`from_tensor`](Self::from_tensor) reads).
    pub(crate) fn to_tensor(&self) -> Tensor {
        let t = if self.out_signed {
            Tensor::from_vec(&[256], self.entries.iter().map(|&v| v as i8).collect::<Vec<i8>>())
        } else {
            Tensor::from_vec(&[256], self.entries.to_vec())
        };
        t.expect("256 entries fill a [256] tensor")
    }

    /// The output type.
    pub(crate) fn out_dtype(&self) -> DType {
        if self.out_signed {
            DType::I8
        } else {
            DType::U8
        }
    }

    /// `table[x]` for every element of the uint8 or int8 tensor `x`, in `x`'s shape, on `kernel`
    /// (the op's, chosen by `select::lut_x8` when it was built).
    pub(crate) fn apply(&self, kernel: Named<LutX8Ukernel>, x: &Tensor) -> Result<Tensor> {
        let Some((bytes, signed)) = super::gemm_kernel::q8_bytes(x) else {
            return Err(Error::dtype(format!("x must be uint8 or int8, got {}", x.dtype())));
        };
        let flip = if signed { 0x80 } else { 0 };
        if self.out_signed {
            let mut y = vec![0i8; bytes.len()];
            lut_x8(kernel, &bytes, flip, &self.entries, crate::kernels::qgemm::i8_bytes_mut(&mut y));
            Tensor::from_vec(x.shape(), y)
        } else {
            let mut y = vec![0u8; bytes.len()];
            lut_x8(kernel, &bytes, flip, &self.entries, &mut y);
            Tensor::from_vec(x.shape(), y)
        }
    }
}

fn lookup(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    // The fusion pass gives the table as an initializer: read once, when the plan is built.
    let built = ctx.constant_input(1).map(Table::from_tensor).transpose()?;
    let kernel = select::lut_x8();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let table = match &built {
            Some(t) => std::borrow::Cow::Borrowed(t),
            None => std::borrow::Cow::Owned(Table::from_tensor(required(inputs, 1, "table")?)?),
        };
        Ok(vec![table.apply(kernel, x)?])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::quant::test_util::{run_in, run_with_constants_in, t};

    #[test]
    fn looks_up_uint8_and_int8_inputs() {
        let table: Vec<i8> = (0..256).map(|i| (255 - i) as u8 as i8).collect();
        for constant in [false, true] {
            let run = |x: Option<Tensor>| {
                let inputs = [x, t(&[256], table.clone())];
                if constant {
                    run_with_constants_in("ai.webptq", "QLinearLookup", 1, &[], &inputs, &[1])
                } else {
                    run_in("ai.webptq", "QLinearLookup", 1, &[], &inputs)
                }
                .unwrap()
            };
            assert_eq!(run(t(&[3], vec![0u8, 1, 255]))[0], Tensor::from_vec(&[3], vec![-1i8, -2, 0]).unwrap());
            // int8 -128 is entry 0, 127 entry 255.
            assert_eq!(run(t(&[1, 2], vec![-128i8, 127]))[0], Tensor::from_vec(&[1, 2], vec![-1i8, 0]).unwrap());
        }
    }

    #[test]
    fn tables_round_trip_and_follow_their_function() {
        for (signed, out) in [(false, DType::U8), (true, DType::I8), (false, DType::I8), (true, DType::U8)] {
            // An arbitrary 8-bit function of the value: 7·v + 3, wrapping in the output type.
            let f = |x: &Tensor| -> Result<Tensor> {
                let v = x.to_i64_vec()?;
                Ok(match out {
                    DType::U8 => Tensor::from_vec(&[256], v.iter().map(|&v| (7 * v + 3) as u8).collect::<Vec<u8>>())?,
                    _ => Tensor::from_vec(&[256], v.iter().map(|&v| (7 * v + 3) as i8).collect::<Vec<i8>>())?,
                })
            };
            let table = Table::of(signed, f).unwrap();
            assert_eq!(table.out_dtype(), out);
            assert_eq!(Table::from_tensor(&table.to_tensor()).unwrap(), table);
            // Applied to all 256 values (in an odd order and length: SIMD body and tail).
            let x = Table::inputs(signed);
            let values = x.to_i64_vec().unwrap();
            let order: Vec<usize> = (0..301).map(|i| (i * 97) % 256).collect();
            let shuffled = match signed {
                true => Tensor::from_vec(&[301], order.iter().map(|&i| values[i] as i8).collect::<Vec<i8>>()).unwrap(),
                false => Tensor::from_vec(&[301], order.iter().map(|&i| values[i] as u8).collect::<Vec<u8>>()).unwrap(),
            };
            let want: Vec<i64> = order.iter().map(|&i| f(&x).unwrap().to_i64_vec().unwrap()[i]).collect();
            assert_eq!(table.apply(select::lut_x8(), &shuffled).unwrap().to_i64_vec().unwrap(), want);
        }
    }

    #[test]
    fn rejects_bad_tables_and_types() {
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0u8]), t(&[255], vec![0u8; 255])]).is_err());
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0f32]), t(&[256], vec![0u8; 256])]).is_err());
        assert!(run_in("ai.webptq", "QLinearLookup", 1, &[], &[t(&[1], vec![0u8]), t(&[256], vec![0f32; 256])]).is_err());
        assert!(Table::of(false, |_| Tensor::from_vec(&[2], vec![0u8, 1])).is_err());
    }
}
