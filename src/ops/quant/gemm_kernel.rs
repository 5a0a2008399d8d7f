//! The bridge from the integer ops (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv) to
//! the int8 GEMM [`crate::kernels::qgemm`]: tensors as 8-bit byte views, zero points and
//! constant weights read when the op is built, outputs allocated per element type.
//!
//! The ops keep their plain reference implementation for what the GEMM does not cover
//! (per-row parameters of `a`, 16-bit types, depthwise convs, ...); both paths compute the same
//! integers ([`crate::quant_math::requantize_clamped`] is the GEMM's epilogue).
use super::int_values;
use crate::error::{Error, Result};
use crate::kernels::qgemm::{i8_bytes, i8_bytes_mut, PackedQWeights, QGemmKernels, QMat, QOut, Requant};
use crate::ops::registry::BuildContext;
use crate::tensor::{checked_numel, DType, Tensor};
use std::borrow::Cow;

/// An 8-bit tensor's elements in row-major order as bytes, and whether they are int8; `None`
/// for other types.
pub(crate) fn q8_bytes(t: &Tensor) -> Option<(Cow<'_, [u8]>, bool)> {
    match t {
        Tensor::U8(a) => Some((crate::ops::matmul::row_major(a), false)),
        Tensor::I8(a) => Some((
            match a.as_slice() {
                Some(s) => Cow::Borrowed(i8_bytes(s)),
                None => Cow::Owned(a.iter().map(|&v| v as u8).collect()),
            },
            true,
        )),
        _ => None,
    }
}

/// The values of zero point `zp` for an operand `of`: `[0]` when absent, `None` when its type
/// differs from the operand's (the reference path reports that) or it is not 8-bit.
pub(crate) fn zero_points(zp: Option<&Tensor>, of: DType) -> Option<Vec<i32>> {
    match zp {
        None => Some(vec![0]),
        Some(z) if z.dtype() == of && matches!(of, DType::U8 | DType::I8) => int_values(z, "zero point").ok(),
        Some(_) => None,
    }
}

/// The single value of a per-tensor parameter (any shape with one element).
pub(crate) fn single<T: Copy>(v: &[T]) -> Option<T> {
    match v {
        [x] => Some(*x),
        _ => None,
    }
}

/// Zero points of input `idx` known when the op is built: `[0]` if the input is absent, its
/// values if it is a constant of type `of`, `None` otherwise (then nothing is prepacked).
pub(crate) fn constant_zero_points(ctx: &BuildContext, idx: usize, of: DType) -> Option<Vec<i32>> {
    if ctx.node.input(idx).is_none() {
        return Some(vec![0]);
    }
    zero_points(Some(ctx.constant_input(idx)?), of)
}

/// Weights packed when the op was built, with the shape, type and zero points they were packed
/// from (one set of panels per conv group) and the kernels chosen for them then (right-side
/// weights: those of the layout the packing ended up in; left-side: `main`).
pub(crate) struct Prepacked {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub zero_points: Vec<i32>,
    pub panels: Vec<PackedQWeights>,
    pub kernels: QGemmKernels,
}

impl Prepacked {
    /// The panels, if `w` (with zero points `zp`) is what they were packed from.
    pub(crate) fn get(&self, w: &Tensor, zp: &[i32]) -> Option<&[PackedQWeights]> {
        (w.shape() == self.shape.as_slice() && w.dtype() == self.dtype && zp == self.zero_points.as_slice())
            .then_some(self.panels.as_slice())
    }
}

/// A flat output buffer of a GEMM-backed op: i32 accumulators or 8-bit values.
pub(crate) enum OutBuf {
    I32(Vec<i32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
}

impl OutBuf {
    /// `len` zeros of `dtype` (int32, uint8 or int8).
    pub(crate) fn new(dtype: DType, shape: &[usize]) -> Result<OutBuf> {
        let len = checked_numel(shape, dtype)?;
        Ok(match dtype {
            DType::I32 => OutBuf::I32(vec![0; len]),
            DType::U8 => OutBuf::U8(vec![0; len]),
            DType::I8 => OutBuf::I8(vec![0; len]),
            other => return Err(Error::internal(format!("no int8 GEMM output of type {other}"))),
        })
    }

    /// The GEMM output over the elements from `at` on, element `(i, j)` at `at + i·rs + j·cs`,
    /// requantized with `multiplier` (1 or one per column) and `zero_point` for 8-bit buffers,
    /// clamped to the type's range.
    pub(crate) fn view<'a>(&'a mut self, at: usize, rs: usize, cs: usize, multiplier: &'a [f32], zero_point: i32) -> Result<QOut<'a>> {
        let tail = |len: usize| {
            if at > len {
                Err(Error::internal(format!("output offset {at} past {len} elements")))
            } else {
                Ok(())
            }
        };
        Ok(match self {
            OutBuf::I32(v) => {
                tail(v.len())?;
                QOut::I32 { c: &mut v[at..], rs, cs }
            }
            OutBuf::U8(v) => {
                tail(v.len())?;
                let requant = Requant::per_channel::<u8>(multiplier, zero_point);
                QOut::Q8 { c: &mut v[at..], signed: false, rs, cs, requant }
            }
            OutBuf::I8(v) => {
                tail(v.len())?;
                let requant = Requant::per_channel::<i8>(multiplier, zero_point);
                QOut::Q8 { c: &mut i8_bytes_mut(v)[at..], signed: true, rs, cs, requant }
            }
        })
    }

    pub(crate) fn into_tensor(self, shape: &[usize]) -> Result<Tensor> {
        match self {
            OutBuf::I32(v) => Tensor::from_vec(shape, v),
            OutBuf::U8(v) => Tensor::from_vec(shape, v),
            OutBuf::I8(v) => Tensor::from_vec(shape, v),
        }
    }
}

/// A `rows x cols` view of `bytes` from `at`, with strides.
pub(crate) fn view(bytes: &[u8], signed: bool, at: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> Result<QMat<'_>> {
    let tail = bytes.get(at..).ok_or_else(|| Error::internal(format!("view offset {at} past {} bytes", bytes.len())))?;
    Ok(QMat::new(tail, signed, rows, cols, rs, cs)?)
}
