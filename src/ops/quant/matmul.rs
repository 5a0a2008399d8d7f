//! MatMulInteger and QLinearMatMul: numpy-style batched matmul of 8-bit integers with an i32
//! accumulator, then (QLinearMatMul) requantization with `a_scale * b_scale / y_scale`.
//!
//! Zero points and scales are per tensor (one element) or per row of `a` / per column of `b`:
//! a 1-D parameter of `a` holds one value per row (`[M]`, used as `[M, 1]`), one of `b` one per
//! column (`[N]`); higher-rank parameters broadcast against the operand (`[..., M, 1]`,
//! `[..., 1, N]`), as the ONNX spec describes. The integer matmul here is the plain triple loop:
//! it is the oracle of the SIMD GEMM kernels, not one of them.
use super::{broadcast_values, float_values, int_values, quantized_tensor, FloatKind};
use crate::error::{Error, Result};
use crate::ops::broadcast_shapes;
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{checked_numel, DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("", "MatMulInteger", matmul_integer);
    r.register("", "QLinearMatMul", qlinear_matmul);
}

/// How a 1-D per-channel parameter lines up with its operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// One value per row (second-to-last dim): `[M]` is used as `[M, 1]`.
    Row,
    /// One value per column (last dim): `[N]` broadcasts as is.
    Col,
}

/// Expands a parameter (`values` of shape `shape`) to one value per element of `target`:
/// per tensor if it has one element, else broadcast (1-D per-row parameters as `[M, 1]`).
pub(crate) fn expand_param<T: Clone>(
    values: Vec<T>,
    shape: &[usize],
    target: &[usize],
    role: Role,
    what: &str,
) -> Result<Vec<T>> {
    let n = target.iter().product::<usize>();
    if values.len() == 1 {
        return Ok(vec![values[0].clone(); n]);
    }
    let shape: Vec<usize> = match (role, shape.len()) {
        (Role::Row, 1) => vec![shape[0], 1],
        _ => shape.to_vec(),
    };
    let expanded = broadcast_values(values, &shape, target);
    expanded.ok_or_else(|| {
        Error::shape(format!(
            "{what} has shape {shape:?}, which is neither a single value nor per-{} for an operand of shape {target:?}",
            if role == Role::Row { "row" } else { "column" }
        ))
    })
}

/// The shapes of a numpy matmul: the full output `[batch..., M, N]` (1-D operands promoted) and
/// the output as numpy returns it (promoted dims removed).
pub(crate) struct MatMulShape {
    pub full: Vec<usize>,
    pub out: Vec<usize>,
}

/// `a @ b` with numpy semantics on i32 values, accumulating in i32 (wrapping, as the ONNX spec
/// allows overflow only in the 32-bit accumulator).
pub(crate) fn matmul_i32(a: &[i32], a_shape: &[usize], b: &[i32], b_shape: &[usize]) -> Result<(MatMulShape, Vec<i32>)> {
    if a_shape.is_empty() || b_shape.is_empty() {
        return Err(Error::shape(format!("matmul needs operands of rank >= 1, got {a_shape:?} and {b_shape:?}")));
    }
    let a2: Vec<usize> = if a_shape.len() == 1 { vec![1, a_shape[0]] } else { a_shape.to_vec() };
    let b2: Vec<usize> = if b_shape.len() == 1 { vec![b_shape[0], 1] } else { b_shape.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != kb {
        return Err(Error::shape(format!(
            "matmul of shapes {a_shape:?} and {b_shape:?}: a has {k} columns but b has {kb} rows"
        )));
    }
    let a_batch = &a2[..a2.len() - 2];
    let b_batch = &b2[..b2.len() - 2];
    let batch = broadcast_shapes(&[a_batch, b_batch])
        .map_err(|_| Error::shape(format!("matmul batch dims of {a_shape:?} and {b_shape:?} do not broadcast")))?;
    let mut full = batch.clone();
    full.extend([m, n]);
    let total = checked_numel(&full, DType::I32)?;
    let mut out_shape = batch.clone();
    if a_shape.len() > 1 {
        out_shape.push(m);
    }
    if b_shape.len() > 1 {
        out_shape.push(n);
    }
    let a_index = batch_index(&batch, a_batch);
    let b_index = batch_index(&batch, b_batch);
    let batches = batch.iter().product::<usize>();
    let mut out = vec![0i32; total];
    for bi in 0..batches {
        let am = &a[a_index(bi) * m * k..][..m * k];
        let bm = &b[b_index(bi) * k * n..][..k * n];
        let om = &mut out[bi * m * n..][..m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0i32;
                for p in 0..k {
                    acc = acc.wrapping_add(am[i * k + p].wrapping_mul(bm[p * n + j]));
                }
                om[i * n + j] = acc;
            }
        }
    }
    Ok((MatMulShape { full, out: out_shape }, out))
}

/// Maps a flat index over the broadcast batch shape `batch` to the flat batch index of an
/// operand whose batch shape `own` broadcasts to it (right-aligned, size-1 dims repeat).
fn batch_index(batch: &[usize], own: &[usize]) -> impl Fn(usize) -> usize {
    let off = batch.len() - own.len();
    let batch = batch.to_vec();
    let own = own.to_vec();
    move |mut flat: usize| {
        let mut idx = 0;
        let mut stride = 1;
        for d in (0..batch.len()).rev() {
            let coord = flat % batch[d];
            flat /= batch[d];
            if d >= off {
                let od = own[d - off];
                if od != 1 {
                    idx += coord * stride;
                }
                stride *= od;
            }
        }
        idx
    }
}

/// An 8-bit operand minus its zero point, as i32 values.
fn centered(x: &Tensor, zp: Option<&Tensor>, role: Role, x_name: &str, zp_name: &str) -> Result<Vec<i32>> {
    if !matches!(x.dtype(), DType::U8 | DType::I8) {
        return Err(Error::dtype(format!("{x_name} must be uint8 or int8, got {}", x.dtype())));
    }
    let mut v = int_values(x, x_name)?;
    if let Some(z) = zp {
        if z.dtype() != x.dtype() {
            return Err(Error::dtype(format!("{zp_name} is {} but {x_name} is {}", z.dtype(), x.dtype())));
        }
        let zs = expand_param(int_values(z, zp_name)?, z.shape(), x.shape(), role, zp_name)?;
        v.iter_mut().zip(zs).for_each(|(x, z)| *x -= z);
    }
    Ok(v)
}

fn matmul_integer(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "A")?;
        let b = required(inputs, 1, "B")?;
        let av = centered(a, optional(inputs, 2), Role::Row, "A", "a_zero_point")?;
        let bv = centered(b, optional(inputs, 3), Role::Col, "B", "b_zero_point")?;
        let (shape, acc) = matmul_i32(&av, a.shape(), &bv, b.shape())?;
        Ok(vec![Tensor::from_vec(&shape.out, acc)?])
    })))
}

fn qlinear_matmul(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "a")?;
        let a_scale = required(inputs, 1, "a_scale")?;
        let b = required(inputs, 3, "b")?;
        let b_scale = required(inputs, 4, "b_scale")?;
        let y_scale = required(inputs, 6, "y_scale")?;
        let y_zp = optional(inputs, 7);
        let av = centered(a, optional(inputs, 2), Role::Row, "a", "a_zero_point")?;
        let bv = centered(b, optional(inputs, 5), Role::Col, "b", "b_zero_point")?;
        let (shape, acc) = matmul_i32(&av, a.shape(), &bv, b.shape())?;
        let full = &shape.full;
        // The scales of a and y line up with the output's rows, those of b with its columns.
        let (ka, sa) = float_values(a_scale, "a_scale")?;
        let (kb, sb) = float_values(b_scale, "b_scale")?;
        let (ky, sy) = float_values(y_scale, "y_scale")?;
        let kind: FloatKind = ka.max(kb).max(ky);
        let sa = expand_param(sa, a_scale.shape(), full, Role::Row, "a_scale")?;
        let sb = expand_param(sb, b_scale.shape(), full, Role::Col, "b_scale")?;
        let sy = expand_param(sy, y_scale.shape(), full, Role::Row, "y_scale")?;
        let (out_type, zy) = match y_zp {
            Some(z) => (z.dtype(), expand_param(int_values(z, "y_zero_point")?, z.shape(), full, Role::Row, "y_zero_point")?),
            None => (a.dtype(), vec![0; acc.len()]),
        };
        let y = quantized_tensor(out_type, &shape.out, acc.len(), |i| {
            // The multiplier is formed in the scales' type, the product in f32 (onnxruntime).
            let m = kind.div(kind.mul(sa[i], sb[i]), sy[i]);
            quant_math::scale_accumulator(acc[i] as i64, m as f32).saturating_add(zy[i] as i64)
        })?;
        Ok(vec![y])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::quant::test_util::run;

    fn t<T: crate::tensor::Elem>(shape: &[usize], v: Vec<T>) -> Option<Tensor> {
        Some(Tensor::from_vec(shape, v).unwrap())
    }

    #[test]
    fn matmul_broadcasts_batches_and_vectors() {
        // a [2,1,2,3] @ b [3,3,2] → [2,3,2,2]
        let a: Vec<i32> = (0..12).collect();
        let b: Vec<i32> = (0..18).map(|v| v - 9).collect();
        let (s, out) = matmul_i32(&a, &[2, 1, 2, 3], &b, &[3, 3, 2]).unwrap();
        assert_eq!(s.out, vec![2, 3, 2, 2]);
        // check one element by hand: batch (1, 2), row 1, col 0
        let am = &a[6..12];
        let bm = &b[12..18];
        let want: i32 = (0..3).map(|p| am[3 + p] * bm[p * 2]).sum();
        assert_eq!(out[((3 + 2) * 2 + 1) * 2], want);
        // vector @ matrix and matrix @ vector
        let (s, out) = matmul_i32(&[1, 2], &[2], &[1, 2, 3, 4], &[2, 2]).unwrap();
        assert_eq!((s.out, out), (vec![2], vec![7, 10]));
        let (s, out) = matmul_i32(&[1, 2, 3, 4], &[2, 2], &[1, 1], &[2]).unwrap();
        assert_eq!((s.out, out), (vec![2], vec![3, 7]));
        assert!(matmul_i32(&[1, 2], &[2], &[1, 2, 3], &[3]).is_err());
        assert!(matmul_i32(&[0; 12], &[2, 2, 3], &[0; 18], &[3, 3, 2]).is_err());
    }

    #[test]
    fn matmul_integer_per_row_and_per_column_zero_points() {
        let a = t(&[2, 2], vec![10u8, 20, 30, 40]);
        let b = t(&[2, 2], vec![1u8, 2, 3, 4]);
        let y = run("MatMulInteger", 10, &[], &[a, b, t(&[2], vec![10u8, 30]), t(&[2], vec![1u8, 2])]).unwrap();
        // A - [10; 30] per row = [[0, 10], [0, 10]]; B - [1, 2] per column = [[0, 0], [2, 2]]
        assert_eq!(y[0], Tensor::from_vec(&[2, 2], vec![20i32, 20, 20, 20]).unwrap());
    }

    #[test]
    fn matmul_integer_int8_and_type_errors() {
        let a = t(&[1, 2], vec![-128i8, 127]);
        let b = t(&[2, 1], vec![-128i8, -128]);
        let y = run("MatMulInteger", 10, &[], &[a.clone(), b.clone()]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 1], vec![128i32 * 128 - 127 * 128]).unwrap());
        assert!(run("MatMulInteger", 10, &[], &[a.clone(), b.clone(), t(&[], vec![0u8])]).is_err());
        assert!(run("MatMulInteger", 10, &[], &[a, t(&[2, 1], vec![1.0f32, 2.0])]).is_err());
    }

    #[test]
    fn qlinear_matmul_per_column_b_scale() {
        // y = saturate(round(acc * a_s * b_s[j] / y_s) + y_zp)
        let a = t(&[1, 2], vec![2u8, 4]);
        let b = t(&[2, 2], vec![1u8, 1, 1, 3]);
        let one = t(&[], vec![1.0f32]);
        let y = run(
            "QLinearMatMul",
            21,
            &[],
            &[a, one.clone(), t(&[], vec![0u8]), b, t(&[2], vec![0.5f32, 0.25]), t(&[2], vec![0u8, 1]), one, t(&[], vec![3u8])],
        )
        .unwrap();
        // col 0: (2 + 4) * 0.5 = 3 → 6; col 1: (2*0 + 4*2) * 0.25 = 2 → 5
        assert_eq!(y[0], Tensor::from_vec(&[1, 2], vec![6u8, 5]).unwrap());
    }
}
