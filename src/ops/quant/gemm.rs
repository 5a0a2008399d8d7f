//! onnxruntime's `com.microsoft` QGemm: `Y = alpha · A' · B' (+ C)` on 8-bit integers with an i32
//! accumulator, as onnxruntime's QDQ fusion turns `DequantizeLinear → Gemm → QuantizeLinear`
//! into (and its QOperator quantizer writes for Gemm).
//!
//! Inputs: `A, a_scale, a_zero_point, B, b_scale, b_zero_point, [C], [y_scale], [y_zero_point]`;
//! attributes `alpha` (1), `transA` (0), `transB` (0). A and B are 2-D uint8/int8 (`A'`, `B'` are
//! them transposed when asked); `a_scale`/`a_zero_point` are per tensor, `b_scale`/`b_zero_point`
//! per tensor or per column of `B'` (`[N]`). C is int32 with scale `a_scale · b_scale` and zero
//! point 0, broadcast to `[M, N]` (`()`, `[N]`, `[1, N]`, `[M, 1]` or `[M, N]`), and added to the
//! accumulator before scaling, as onnxruntime does. With `y_scale` the output is requantized,
//! `saturate(round_ties_even(acc · M[n]) + y_zp)` with `M[n] = alpha · a_scale · b_scale[n] /
//! y_scale` formed in f32 (docs/quantization.md §8); without it the output is float32
//! `acc · alpha · a_scale · b_scale[n]`.
use super::gemm_kernel::{constant_zero_points, q8_bytes, single, view, zero_points, OutBuf, Prepacked};
use super::matmul::matmul_i32;
use crate::kernels::qgemm::{self as kernel, PackedQWeights, QGemmKernels, QMat, QRhs};
use crate::kernels::select;
use super::{int_values, quantized_tensor};
use crate::error::{Error, Result};
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("com.microsoft", "QGemm", qgemm);
}

#[derive(Clone, Copy)]
struct GemmAttrs {
    alpha: f32,
    trans_a: bool,
    trans_b: bool,
}

/// A per-tensor f32 value (a scale).
fn single_f32(t: &Tensor, what: &str) -> Result<f32> {
    let a = t.array::<f32>().map_err(|_| Error::dtype(format!("{what} must be float32, got {}", t.dtype())))?;
    match a.iter().collect::<Vec<_>>().as_slice() {
        [v] => Ok(**v),
        _ => Err(Error::shape(format!("{what} has shape {:?}; it must be a single value", t.shape()))),
    }
}

/// An 8-bit operand's values and its zero point(s), checking the types.
fn operand(t: &Tensor, zp: Option<&Tensor>, what: &str) -> Result<(Vec<i32>, Vec<i32>)> {
    if !matches!(t.dtype(), DType::U8 | DType::I8) {
        return Err(Error::dtype(format!("{what} must be uint8 or int8, got {}", t.dtype())));
    }
    if t.rank() != 2 {
        return Err(Error::shape(format!("{what} has shape {:?}; QGemm needs 2-D operands", t.shape())));
    }
    let z = match zp {
        Some(z) if z.dtype() != t.dtype() => {
            return Err(Error::dtype(format!("{what}'s zero point is {} but {what} is {}", z.dtype(), t.dtype())))
        }
        Some(z) => int_values(z, &format!("{what}'s zero point"))?,
        None => vec![0],
    };
    Ok((int_values(t, what)?, z))
}

/// The transpose of a row-major `[rows, cols]` matrix.
fn transposed(v: &[i32], rows: usize, cols: usize) -> Vec<i32> {
    let mut out = vec![0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// One value per column (`[N]`) from a per-tensor or per-column parameter.
fn per_column<T: Copy>(v: &[T], shape: &[usize], n: usize, what: &str) -> Result<Vec<T>> {
    match v {
        [one] => Ok(vec![*one; n]),
        _ if shape.len() == 1 && v.len() == n => Ok(v.to_vec()),
        _ => Err(Error::shape(format!("{what} has shape {shape:?}; it must hold one value or one per column ([{n}])"))),
    }
}

/// C broadcast to `[m, n]` (row-major).
fn bias(c: &Tensor, m: usize, n: usize) -> Result<Vec<i32>> {
    let v = c.array::<i32>().map_err(|_| Error::dtype(format!("C must be int32, got {}", c.dtype())))?;
    let v: Vec<i32> = v.iter().copied().collect();
    let s = c.shape();
    let at: Box<dyn Fn(usize, usize) -> i32> = match (s, v.len()) {
        (_, 1) => Box::new(|_, _| v[0]),
        ([k], _) | ([1, k], _) if *k == n => Box::new(|_, j| v[j]),
        ([k, 1], _) if *k == m => Box::new(|i, _| v[i]),
        ([a, b], _) if *a == m && *b == n => Box::new(|i, j| v[i * n + j]),
        _ => return Err(Error::shape(format!("C has shape {s:?}, which does not broadcast to [{m}, {n}]"))),
    };
    Ok((0..m * n).map(|i| at(i / n.max(1), i % n.max(1))).collect())
}

fn qgemm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attrs = GemmAttrs {
        alpha: a.float_or("alpha", 1.0)?,
        trans_a: a.int_or("transA", 0)? != 0,
        trans_b: a.int_or("transB", 0)? != 0,
    };
    // The int8 GEMM kernels, chosen once (a constant B is packed for them here).
    let kernels = select::qgemm();
    let prepacked = prepack_b(ctx, attrs.trans_b, &kernels)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        if let Some(y) = qgemm_on_kernel(attrs, &kernels, prepacked.as_ref(), inputs)? {
            return Ok(vec![y]);
        }
        qgemm_run(attrs, inputs)
    })))
}

/// `B'` (`[k, n]`) as a strided view of B's bytes: B itself, or B `[n, k]` read transposed.
fn b_view<'a>(bytes: &'a [u8], signed: bool, shape: &[usize], trans_b: bool) -> Result<Option<QMat<'a>>> {
    let &[r, c] = shape else { return Ok(None) };
    Ok(Some(if trans_b { view(bytes, signed, 0, c, r, 1, c)? } else { view(bytes, signed, 0, r, c, c, 1)? }))
}

/// A constant B packed for the int8 GEMM when the op is built.
fn prepack_b(ctx: &BuildContext, trans_b: bool, kernels: &QGemmKernels) -> Result<Option<Prepacked>> {
    let Some(b) = ctx.constant_input(3) else { return Ok(None) };
    let Some(zp) = constant_zero_points(ctx, 5, b.dtype()) else { return Ok(None) };
    let Some((bytes, signed)) = q8_bytes(b) else { return Ok(None) };
    let Some(bv) = b_view(&bytes, signed, b.shape(), trans_b)? else { return Ok(None) };
    if !(zp.len() == 1 || zp.len() == bv.cols()) {
        return Ok(None);
    }
    let packed = PackedQWeights::pack(bv, &zp, kernels)?;
    let kernels = select::qgemm_for(packed.layout());
    Ok(Some(Prepacked { shape: b.shape().to_vec(), dtype: b.dtype(), zero_points: zp, panels: vec![packed], kernels }))
}

/// QGemm on the int8 GEMM kernel (`kernels::qgemm`) when its parameters suit it: A not
/// transposed, per-tensor `a` parameters, C one value per column (or a single row), and a
/// requantized 8-bit output or a float one. `Ok(None)` otherwise; [`qgemm_run`] (the reference)
/// then computes, and reports errors. Both compute the same accumulators and the same f32
/// multipliers.
fn qgemm_on_kernel(attrs: GemmAttrs, kernels: &QGemmKernels, prepacked: Option<&Prepacked>, inputs: &[Option<&Tensor>]) -> Result<Option<Tensor>> {
    let (Some(a), Some(b)) = (optional(inputs, 0), optional(inputs, 3)) else { return Ok(None) };
    if attrs.trans_a || a.rank() != 2 {
        return Ok(None);
    }
    let (Some((ab, a_signed)), Some((bb, b_signed))) = (q8_bytes(a), q8_bytes(b)) else { return Ok(None) };
    let Some(a_zp) = zero_points(optional(inputs, 2), a.dtype()).as_deref().and_then(single) else { return Ok(None) };
    let Some(bv) = b_view(&bb, b_signed, b.shape(), attrs.trans_b)? else { return Ok(None) };
    let (m, k, n) = (a.shape()[0], a.shape()[1], bv.cols());
    if bv.rows() != k {
        return Ok(None);
    }
    let Some(b_zp) = zero_points(optional(inputs, 5), b.dtype()) else { return Ok(None) };
    let (Some(sa), Some(b_scale)) = (optional(inputs, 1), optional(inputs, 4)) else { return Ok(None) };
    let (Ok(sa), Ok(sb)) = (single_f32(sa, "a_scale"), b_scale.array::<f32>()) else { return Ok(None) };
    let sb: Vec<f32> = sb.iter().copied().collect();
    let Ok(sb) = per_column(&sb, b_scale.shape(), n, "b_scale") else { return Ok(None) };
    let bias = match optional(inputs, 6) {
        None => None,
        Some(c) => match (c, c.shape()) {
            (Tensor::I32(v), s) if c.len() == 1 || s == [n] || s == [1, n] => {
                let v: Vec<i32> = v.iter().copied().collect();
                Some(if v.len() == 1 { vec![v[0]; n] } else { v })
            }
            _ => return Ok(None),
        },
    };
    // alpha · a_scale · b_scale[n] (÷ y_scale), in f32 as the reference forms it.
    let scales: Vec<f32> = sb.iter().map(|&s| attrs.alpha * sa * s).collect();
    let av = view(&ab, a_signed, 0, m, k, k, 1)?;
    let (rhs, kernels) = match prepacked.and_then(|pp| Some((pp.get(b, &b_zp)?.first()?, pp.kernels))) {
        Some((pw, k)) => (QRhs::Packed(pw), k),
        None => (QRhs::Mat { b: bv, zero_point: &b_zp }, *kernels),
    };
    let shape = [m, n];
    match optional(inputs, 7) {
        None => {
            let mut acc = OutBuf::new(DType::I32, &shape)?;
            kernel::qgemm(&kernels, av, a_zp, rhs, bias.as_deref(), acc.view(0, n, 1, &[], 0)?)?;
            let OutBuf::I32(acc) = acc else { return Ok(None) };
            let col = |i: usize| i % n.max(1);
            Ok(Some(Tensor::from_vec(&shape, acc.iter().enumerate().map(|(i, &v)| v as f32 * scales[col(i)]).collect())?))
        }
        Some(ys) => {
            let Ok(sy) = single_f32(ys, "y_scale") else { return Ok(None) };
            let (out_type, zy) = match optional(inputs, 8) {
                Some(z) => match int_values(z, "y_zero_point").ok().as_deref() {
                    Some([v]) => (z.dtype(), *v),
                    _ => return Ok(None),
                },
                None => (a.dtype(), 0),
            };
            if !matches!(out_type, DType::U8 | DType::I8) {
                return Ok(None);
            }
            let mult: Vec<f32> = scales.iter().map(|&s| s / sy).collect();
            let mut y = OutBuf::new(out_type, &shape)?;
            kernel::qgemm(&kernels, av, a_zp, rhs, bias.as_deref(), y.view(0, n, 1, &mult, zy)?)?;
            Ok(Some(y.into_tensor(&shape)?))
        }
    }
}

fn qgemm_run(attrs: GemmAttrs, inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let a = required(inputs, 0, "A")?;
    let b = required(inputs, 3, "B")?;
    let sa = single_f32(required(inputs, 1, "a_scale")?, "a_scale")?;
    let (av, za) = operand(a, optional(inputs, 2), "A")?;
    let (bv, zb) = operand(b, optional(inputs, 5), "B")?;
    let [za] = za.as_slice() else {
        return Err(Error::shape("a_zero_point must be a single value".to_string()));
    };
    let (ar, ac) = (a.shape()[0], a.shape()[1]);
    let (br, bc) = (b.shape()[0], b.shape()[1]);
    let (m, k) = if attrs.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if attrs.trans_b { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(Error::shape(format!(
            "A {:?} (transA={}) and B {:?} (transB={}) do not multiply",
            a.shape(),
            attrs.trans_a as u8,
            b.shape(),
            attrs.trans_b as u8
        )));
    }
    let b_scale = required(inputs, 4, "b_scale")?;
    let sb_all = b_scale.array::<f32>().map_err(|_| Error::dtype(format!("b_scale must be float32, got {}", b_scale.dtype())))?;
    let sb = per_column(&sb_all.iter().copied().collect::<Vec<f32>>(), b_scale.shape(), n, "b_scale")?;
    let zb_shape = optional(inputs, 5).map(|z| z.shape().to_vec()).unwrap_or_default();
    let zb = per_column(&zb, &zb_shape, n, "b_zero_point")?;
    // A' [m, k] and B' [k, n], minus their zero points.
    let mut a2 = if attrs.trans_a { transposed(&av, ar, ac) } else { av };
    a2.iter_mut().for_each(|v| *v -= za);
    let mut b2 = if attrs.trans_b { transposed(&bv, br, bc) } else { bv };
    for (i, v) in b2.iter_mut().enumerate() {
        *v -= zb[i % n.max(1)];
    }
    let (_, mut acc) = matmul_i32(&a2, &[m, k], &b2, &[k, n])?;
    if let Some(c) = optional(inputs, 6) {
        for (o, cv) in acc.iter_mut().zip(bias(c, m, n)?) {
            *o = o.wrapping_add(cv);
        }
    }
    // alpha · a_scale · b_scale[n] (÷ y_scale), in f32 as onnxruntime forms it.
    let scales: Vec<f32> = sb.iter().map(|&s| attrs.alpha * sa * s).collect();
    let shape = [m, n];
    let col = |i: usize| i % n.max(1);
    let y = match optional(inputs, 7) {
        None => Tensor::from_vec(&shape, acc.iter().enumerate().map(|(i, &v)| v as f32 * scales[col(i)]).collect())?,
        Some(ys) => {
            let sy = single_f32(ys, "y_scale")?;
            let (out_type, zy) = match optional(inputs, 8) {
                Some(z) => match int_values(z, "y_zero_point")?.as_slice() {
                    [v] => (z.dtype(), *v),
                    _ => return Err(Error::shape(format!("y_zero_point has shape {:?}; it must be a single value", z.shape()))),
                },
                None => (a.dtype(), 0),
            };
            let mult: Vec<f32> = scales.iter().map(|&s| s / sy).collect();
            quantized_tensor(out_type, &shape, acc.len(), |i| {
                quant_math::scale_accumulator(acc[i] as i64, mult[col(i)]).saturating_add(zy as i64)
            })?
        }
    };
    Ok(vec![y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::{run_in, t};

    #[test]
    fn kernel_path_equals_the_reference() {
        let (m, k, n) = (5, 37, 11);
        let bytes = |len: usize, seed: usize| -> Vec<u8> { (0..len).map(|i| ((i * 73 + seed * 31) % 256) as u8).collect() };
        for (trans_b, per_col, bias_shape, float_out, b_signed) in [
            (false, false, None, false, true),
            (true, true, Some(vec![n]), false, true),
            (true, false, Some(vec![1, n]), true, false),
            (false, true, Some(vec![]), false, false),
            (true, true, None, true, true),
        ] {
            let a = t(&[m, k], bytes(m * k, 1));
            let braw = bytes(k * n, 2);
            let bshape = if trans_b { [n, k] } else { [k, n] };
            let b = if b_signed { t(&bshape, braw.iter().map(|&v| v as i8).collect::<Vec<i8>>()) } else { t(&bshape, braw) };
            let nz = if per_col { n } else { 1 };
            let b_zp = if b_signed {
                t(&[nz], (0..nz).map(|j| (j as i8) - 3).collect::<Vec<i8>>())
            } else {
                t(&[nz], (0..nz).map(|j| 120 + j as u8).collect::<Vec<u8>>())
            };
            let b_scale = t(&[nz], (0..nz).map(|j| 0.002 + 0.0003 * j as f32).collect::<Vec<f32>>());
            let c = bias_shape.map(|s: Vec<usize>| {
                let len = s.iter().product();
                Tensor::from_vec(&s, (0..len).map(|j| j as i32 * 977 - 4000).collect::<Vec<i32>>()).unwrap()
            });
            let mut inputs = vec![a, t(&[], vec![0.03f32]), t(&[], vec![7u8]), b, b_scale, b_zp, c];
            if !float_out {
                inputs.extend([t(&[], vec![0.04f32]), t(&[], vec![131u8])]);
            }
            let args: Vec<Option<&Tensor>> = inputs.iter().map(|v| v.as_ref()).collect();
            let attrs = GemmAttrs { alpha: 1.5, trans_a: false, trans_b };
            let fast = qgemm_on_kernel(attrs, &select::qgemm(), None, &args).unwrap().expect("the kernel path applies");
            assert_eq!(fast, qgemm_run(attrs, &args).unwrap()[0], "trans_b {trans_b}, per column {per_col}");
        }
    }

    #[test]
    fn qgemm_trans_b_per_column_with_bias() {
        // A [1, 2] (zp 1), B' = B^T with B [2 cols→N=2, K=2]: B = [[1, 2], [3, -1]] (rows are columns of B').
        let a = t(&[1, 2], vec![3u8, 5]);
        let b = t(&[2, 2], vec![1i8, 2, 3, -1]);
        let inputs = [
            a,
            t(&[], vec![0.5f32]),
            t(&[], vec![1u8]),
            b,
            t(&[2], vec![1.0f32, 0.25]),
            t(&[2], vec![0i8, 0]),
            t(&[2], vec![4i32, -8]),
            t(&[], vec![0.5f32]),
            t(&[], vec![100u8]),
        ];
        let y = run_in("com.microsoft", "QGemm", 1, &[("transB", Attr::Int(1))], &inputs).unwrap();
        // A - zp = [2, 4]; col 0: 2*1 + 4*2 + 4 = 14, M = 0.5*1/0.5 = 1 → 114
        // col 1: 2*3 + 4*-1 - 8 = -6, M = 0.5*0.25/0.5 = 0.25 → -1.5 → -2 (ties to even) → 98
        assert_eq!(y[0], Tensor::from_vec(&[1, 2], vec![114u8, 98]).unwrap());
        // Without y_scale: float output acc · a_scale · b_scale[n].
        let y = run_in("com.microsoft", "QGemm", 1, &[("transB", Attr::Int(1))], &inputs[..7]).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 2], vec![7.0f32, -0.75]).unwrap());
    }

    #[test]
    fn qgemm_trans_a_alpha_and_broadcast_bias() {
        // A^T: A [2, 1] → A' [1, 2]; B [2, 1]; alpha 2; C scalar.
        let inputs = [
            t(&[2, 1], vec![1i8, 2]),
            t(&[], vec![1.0f32]),
            t(&[], vec![0i8]),
            t(&[2, 1], vec![3i8, 4]),
            t(&[], vec![1.0f32]),
            t(&[], vec![0i8]),
            t(&[], vec![1i32]),
            t(&[], vec![1.0f32]),
            t(&[], vec![0i8]),
        ];
        let y = run_in("com.microsoft", "QGemm", 1, &[("transA", Attr::Int(1)), ("alpha", Attr::Float(2.0))], &inputs).unwrap();
        // (1*3 + 2*4 + 1) * 2 = 24
        assert_eq!(y[0], Tensor::from_vec(&[1, 1], vec![24i8]).unwrap());
    }

    #[test]
    fn qgemm_errors() {
        let base = |b: Option<Tensor>, c: Option<Tensor>| {
            vec![t(&[1, 2], vec![0u8, 0]), t(&[], vec![1.0f32]), None, b, t(&[], vec![1.0f32]), None, c]
        };
        // K mismatch
        assert!(run_in("com.microsoft", "QGemm", 1, &[], &base(t(&[3, 1], vec![0u8; 3]), None)).is_err());
        // bias that does not broadcast
        assert!(run_in("com.microsoft", "QGemm", 1, &[], &base(t(&[2, 1], vec![0u8; 2]), t(&[3], vec![0i32; 3]))).is_err());
        // float bias
        assert!(run_in("com.microsoft", "QGemm", 1, &[], &base(t(&[2, 1], vec![0u8; 2]), t(&[1], vec![0f32]))).is_err());
        // 1-D operand
        assert!(run_in("com.microsoft", "QGemm", 1, &[], &base(t(&[2], vec![0u8; 2]), None)).is_err());
    }
}
