//! MatMulInteger and QLinearMatMul: numpy-style batched matmul of 8-bit integers with an i32
//! accumulator, then (QLinearMatMul) requantization with `a_scale * b_scale / y_scale`.
//!
//! Zero points and scales are per tensor (one element) or per row of `a` / per column of `b`:
//! a 1-D parameter of `a` holds one value per row (`[M]`, used as `[M, 1]`), one of `b` one per
//! column (`[N]`); higher-rank parameters broadcast against the operand (`[..., M, 1]`,
//! `[..., 1, N]`), as the ONNX spec describes.
//!
//! Two paths compute the same integers: the int8 GEMM ([`crate::kernels::qgemm`], through
//! [`super::gemm_kernel`]) when `a`'s parameters and `y`'s are per tensor and `b`'s per tensor or per
//! column (the quantizer's forms), with a constant `b` prepacked when the op is built; and the
//! plain triple loop [`matmul_i32`] for everything else (per-row parameters, 16-bit outputs).
use super::gemm_kernel::{constant_zero_points, q8_bytes, single, view, zero_points, OutBuf, Prepacked};
use super::{broadcast_values, float_values, int_values, quantized_tensor, FloatKind};
use crate::kernels::qgemm::{qgemm, PackedQWeights, QGemmKernels, QRhs};
use crate::kernels::select;
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

/// The shapes of a numpy matmul: operands promoted to rank >= 2, `[..., m, k] @ [..., k, n]`,
/// batch dims broadcast.
pub(crate) struct MatMulPlan {
    pub shape: MatMulShape,
    m: usize,
    k: usize,
    n: usize,
    batch: Vec<usize>,
    a_batch: Vec<usize>,
    b_batch: Vec<usize>,
}

impl MatMulPlan {
    pub(crate) fn new(a_shape: &[usize], b_shape: &[usize]) -> Result<MatMulPlan> {
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
        let a_batch = a2[..a2.len() - 2].to_vec();
        let b_batch = b2[..b2.len() - 2].to_vec();
        let batch = broadcast_shapes(&[&a_batch, &b_batch])
            .map_err(|_| Error::shape(format!("matmul batch dims of {a_shape:?} and {b_shape:?} do not broadcast")))?;
        let mut full = batch.clone();
        full.extend([m, n]);
        checked_numel(&full, DType::I32)?;
        let mut out = batch.clone();
        if a_shape.len() > 1 {
            out.push(m);
        }
        if b_shape.len() > 1 {
            out.push(n);
        }
        Ok(MatMulPlan { shape: MatMulShape { full, out }, m, k, n, batch, a_batch, b_batch })
    }

    fn batches(&self) -> usize {
        self.batch.iter().product()
    }
}

/// `a @ b` with numpy semantics on i32 values, accumulating in i32 (wrapping, as the ONNX spec
/// allows overflow only in the 32-bit accumulator). The reference path.
pub(crate) fn matmul_i32(a: &[i32], a_shape: &[usize], b: &[i32], b_shape: &[usize]) -> Result<(MatMulShape, Vec<i32>)> {
    let p = MatMulPlan::new(a_shape, b_shape)?;
    let (m, k, n) = (p.m, p.k, p.n);
    let a_index = batch_index(&p.batch, &p.a_batch);
    let b_index = batch_index(&p.batch, &p.b_batch);
    let mut out = vec![0i32; p.batches() * m * n];
    for bi in 0..p.batches() {
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
    Ok((p.shape, out))
}

/// A constant `b` of rank 2 with constant per-tensor or per-column zero points (input `zp_idx`),
/// packed for `kernels` when the op is built.
fn prepack_b(ctx: &BuildContext, b_idx: usize, zp_idx: usize, kernels: &QGemmKernels) -> Result<Option<Prepacked>> {
    let Some(b) = ctx.constant_input(b_idx) else { return Ok(None) };
    let Some(zp) = constant_zero_points(ctx, zp_idx, b.dtype()) else { return Ok(None) };
    let (Some((bytes, signed)), [k, n]) = (q8_bytes(b), b.shape()) else { return Ok(None) };
    let (k, n) = (*k, *n);
    if !(zp.len() == 1 || zp.len() == n) {
        return Ok(None);
    }
    let packed = PackedQWeights::pack(view(&bytes, signed, 0, k, n, n, 1)?, &zp, kernels)?;
    let kernels = select::qgemm_for(packed.layout());
    Ok(Some(Prepacked { shape: vec![k, n], dtype: b.dtype(), zero_points: zp, panels: vec![packed], kernels }))
}

/// A parameter's values if it is per tensor (one element) or per column of `b` (`n` elements,
/// shape `[n]` or `[1, ..., 1, n]`); `None` otherwise.
fn per_column<T>(values: Vec<T>, shape: &[usize], n: usize) -> Option<Vec<T>> {
    let lead_ones = shape.split_last().is_some_and(|(&last, lead)| last == n && lead.iter().all(|&d| d == 1));
    (values.len() == 1 || (values.len() == n && lead_ones)).then_some(values)
}

/// The GEMM path of both ops: `y = a @ b` into `out` (int32, or uint8 / int8 requantized with
/// `multiplier` (1 or per column) and `y_zp`), on `kernels` (the op's, chosen when it was
/// built) or the prepacked weights' own. `Ok(None)` when the operands do not suit it.
#[allow(clippy::too_many_arguments)]
fn matmul_gemm(
    kernels: &QGemmKernels,
    a: &Tensor,
    a_zp: Option<&Tensor>,
    b: &Tensor,
    b_zp: Option<&Tensor>,
    prepacked: Option<&Prepacked>,
    out_type: DType,
    multiplier: impl FnOnce(usize) -> Option<Vec<f32>>,
    y_zp: i32,
) -> Result<Option<Tensor>> {
    let (Some((ab, a_signed)), Some((bb, b_signed))) = (q8_bytes(a), q8_bytes(b)) else { return Ok(None) };
    let Some(a_zp) = zero_points(a_zp, a.dtype()).as_deref().and_then(single) else { return Ok(None) };
    let p = MatMulPlan::new(a.shape(), b.shape())?;
    let (m, k, n) = (p.m, p.k, p.n);
    let b_zp_shape = b_zp.map_or(&[][..], |z| z.shape());
    let Some(b_zp) = zero_points(b_zp, b.dtype()).and_then(|z| per_column(z, if b_zp_shape.is_empty() { &[1] } else { b_zp_shape }, n)) else {
        return Ok(None);
    };
    let Some(mult) = multiplier(n) else { return Ok(None) };
    let mut y = OutBuf::new(out_type, &p.shape.full)?;
    let packed = prepacked.and_then(|pp| Some((pp.get(b, &b_zp)?.first()?, pp.kernels)));
    if p.b_batch.is_empty() {
        // One product: every batch of a stacked into rows (a is row-major), b shared.
        let rows = p.batches() * m;
        let av = view(&ab, a_signed, 0, rows, k, k, 1)?;
        let (rhs, kernels) = match packed {
            Some((pw, k)) => (QRhs::Packed(pw), k),
            None => (QRhs::Mat { b: view(&bb, b_signed, 0, k, n, n, 1)?, zero_point: &b_zp }, *kernels),
        };
        qgemm(&kernels, av, a_zp, rhs, None, y.view(0, n, 1, &mult, y_zp)?)?;
    } else {
        let a_index = batch_index(&p.batch, &p.a_batch);
        let b_index = batch_index(&p.batch, &p.b_batch);
        for bi in 0..p.batches() {
            let av = view(&ab, a_signed, a_index(bi) * m * k, m, k, k, 1)?;
            let bv = view(&bb, b_signed, b_index(bi) * k * n, k, n, n, 1)?;
            qgemm(kernels, av, a_zp, QRhs::Mat { b: bv, zero_point: &b_zp }, None, y.view(bi * m * n, n, 1, &mult, y_zp)?)?;
        }
    }
    Ok(Some(y.into_tensor(&p.shape.out)?))
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

fn matmul_integer(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let kernels = select::qgemm();
    let prepacked = prepack_b(ctx, 1, 3, &kernels)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "A")?;
        let b = required(inputs, 1, "B")?;
        let (a_zp, b_zp) = (optional(inputs, 2), optional(inputs, 3));
        if let Some(y) = matmul_gemm(&kernels, a, a_zp, b, b_zp, prepacked.as_ref(), DType::I32, |_| Some(vec![]), 0)? {
            return Ok(vec![y]);
        }
        let av = centered(a, a_zp, Role::Row, "A", "a_zero_point")?;
        let bv = centered(b, b_zp, Role::Col, "B", "b_zero_point")?;
        let (shape, acc) = matmul_i32(&av, a.shape(), &bv, b.shape())?;
        Ok(vec![Tensor::from_vec(&shape.out, acc)?])
    })))
}

fn qlinear_matmul(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let kernels = select::qgemm();
    let prepacked = prepack_b(ctx, 3, 5, &kernels)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "a")?;
        let a_scale = required(inputs, 1, "a_scale")?;
        let b = required(inputs, 3, "b")?;
        let b_scale = required(inputs, 4, "b_scale")?;
        let y_scale = required(inputs, 6, "y_scale")?;
        let y_zp = optional(inputs, 7);
        let (ka, sa) = float_values(a_scale, "a_scale")?;
        let (kb, sb) = float_values(b_scale, "b_scale")?;
        let (ky, sy) = float_values(y_scale, "y_scale")?;
        let kind: FloatKind = ka.max(kb).max(ky);
        let (out_type, zy) = match y_zp {
            Some(z) => (z.dtype(), int_values(z, "y_zero_point")?),
            None => (a.dtype(), vec![0]),
        };
        if let (DType::U8 | DType::I8, Some(zy), Some(sa), Some(sy)) = (out_type, single(&zy), single(&sa), single(&sy)) {
            // The multiplier is formed in the scales' type, the product in f32 (onnxruntime).
            let mult = |n: usize| per_column(sb.clone(), b_scale.shape(), n).map(|sb| sb.iter().map(|&s| kind.div(kind.mul(sa, s), sy) as f32).collect());
            if let Some(y) = matmul_gemm(&kernels, a, optional(inputs, 2), b, optional(inputs, 5), prepacked.as_ref(), out_type, mult, zy)? {
                return Ok(vec![y]);
            }
        }
        let av = centered(a, optional(inputs, 2), Role::Row, "a", "a_zero_point")?;
        let bv = centered(b, optional(inputs, 5), Role::Col, "b", "b_zero_point")?;
        let (shape, acc) = matmul_i32(&av, a.shape(), &bv, b.shape())?;
        let full = &shape.full;
        // The scales of a and y line up with the output's rows, those of b with its columns.
        let sa = expand_param(sa, a_scale.shape(), full, Role::Row, "a_scale")?;
        let sb = expand_param(sb, b_scale.shape(), full, Role::Col, "b_scale")?;
        let sy = expand_param(sy, y_scale.shape(), full, Role::Row, "y_scale")?;
        let zy = match y_zp {
            Some(z) => expand_param(zy, z.shape(), full, Role::Row, "y_zero_point")?,
            None => vec![0; acc.len()],
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
    use crate::ops::quant::test_util::{q8_tensor, run, run_with_constants, t, xorshift_bytes};

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

    fn q8(shape: &[usize], seed: u32, signed: bool) -> Tensor {
        q8_tensor(shape, xorshift_bytes(shape.iter().product(), seed), signed)
    }

    /// The GEMM path (b as an input, and as a constant prepacked at build time) against the
    /// reference loops: stacked and broadcast batches, 1-D operands, every signedness,
    /// per-tensor and per-column zero points and scales.
    #[test]
    fn gemm_path_matches_reference_path() {
        let shapes: [(&[usize], &[usize]); 6] = [
            (&[2, 3, 37], &[37, 19]),
            (&[37], &[37, 9]),
            (&[5, 16], &[2, 16, 8]),
            (&[2, 1, 4, 9], &[3, 9, 7]),
            (&[7, 300], &[300, 33]),
            (&[3, 8], &[8]),
        ];
        for (case, &(a_shape, b_shape)) in shapes.iter().enumerate() {
            let (sa, sb, sy) = (case % 2 == 0, case % 3 != 1, case % 4 < 2);
            let a = q8(a_shape, case as u32 + 1, sa);
            let b = q8(b_shape, case as u32 + 9, sb);
            let n = if b_shape.len() == 1 { 1 } else { b_shape[b_shape.len() - 1] };
            let zp = |v: i32, signed: bool| if signed { Tensor::scalar(v as i8) } else { Tensor::scalar(v as u8) };
            let a_zp = zp(if sa { 7 } else { 140 }, sa);
            let b_zp = if case % 2 == 1 {
                let v: Vec<i32> = (0..n as i32).map(|j| j * 29 % 200 - if sb { 100 } else { 0 }).collect();
                if sb {
                    Tensor::from_vec(&[n], v.iter().map(|&x| x as i8).collect::<Vec<i8>>()).unwrap()
                } else {
                    Tensor::from_vec(&[n], v.iter().map(|&x| x as u8).collect::<Vec<u8>>()).unwrap()
                }
            } else {
                zp(if sb { -2 } else { 128 }, sb)
            };
            let b_scale: Vec<f32> = (0..n).map(|j| 0.003 + 0.0005 * j as f32).collect();
            let (a_scale, y_scale, zy) = (0.03f32, 0.2f32, if sy { -4 } else { 99 });
            let y_zp = zp(zy, sy);
            // The reference: the fallback's own arithmetic.
            let av = centered(&a, Some(&a_zp), Role::Row, "a", "a_zero_point").unwrap();
            let bv = centered(&b, Some(&b_zp), Role::Col, "b", "b_zero_point").unwrap();
            let (shape, acc) = matmul_i32(&av, a.shape(), &bv, b.shape()).unwrap();
            let want = quantized_tensor(y_zp.dtype(), &shape.out, acc.len(), |i| {
                quant_math::scale_accumulator(acc[i] as i64, a_scale * b_scale[i % n] / y_scale).saturating_add(zy as i64)
            })
            .unwrap();
            let inputs = [
                Some(a.clone()),
                t(&[], vec![a_scale]),
                Some(a_zp.clone()),
                Some(b.clone()),
                t(&[n], b_scale.clone()),
                Some(b_zp.clone()),
                t(&[], vec![y_scale]),
                Some(y_zp.clone()),
            ];
            for constant in [&[][..], &[3, 4, 5]] {
                let y = run_with_constants("QLinearMatMul", 21, &[], &inputs, constant).unwrap();
                assert_eq!(y[0], want, "QLinearMatMul case {case}, constants {constant:?}");
                let mi = [Some(a.clone()), Some(b.clone()), Some(a_zp.clone()), Some(b_zp.clone())];
                let constant_mi: Vec<usize> = if constant.is_empty() { vec![] } else { vec![1, 3] };
                let y = run_with_constants("MatMulInteger", 10, &[], &mi, &constant_mi).unwrap();
                assert_eq!(y[0], Tensor::from_vec(&shape.out, acc.clone()).unwrap(), "MatMulInteger case {case}");
            }
        }
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
