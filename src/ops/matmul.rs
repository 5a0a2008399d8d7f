//! Matrix products: Gemm and MatMul.
//!
//! float32 runs through [`crate::kernels::sgemm`]; a constant (initializer) B is packed once
//! when the plan is built. Other element types (float16, float64, integers) use ndarray's `dot`
//! (exact for integers; float16 accumulates in float16).
//!
//! - Gemm: `Y = alpha * A' * B' + beta * C`, `A'`/`B'` optionally transposed (free: strided
//!   views), C unidirectionally broadcast to `[M, N]` (optional from opset 11). With `alpha = 1`,
//!   a row/column/scalar C becomes the kernel's bias and a full C is accumulated into.
//! - MatMul: numpy semantics: a 1-D A is `[1, K]`, a 1-D B is `[K, 1]` (the added dim is removed
//!   from the result), batch dims broadcast. A 2-D B with a batched A is one product with the
//!   batch folded into M.
use super::broadcast::broadcast_shapes;
use super::registry::{optional, required, BuildContext, FnOp, Op, QuantRule, Registry};
use crate::error::{Error, Result};
use crate::kernels::select;
use crate::kernels::sgemm::{sgemm_ex, Bias, Epilogue, GemmKernels, Lhs, MatRef, PackedB, Rhs};
use crate::tensor::{checked_numel, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, ArrayView2, IxDyn, LinalgScalar};
use std::borrow::Cow;

pub fn register(r: &mut Registry) {
    r.register("", "Gemm", gemm).quant(QuantRule::Gemm);
    r.register("", "MatMul", matmul).quant(QuantRule::MatMul);
}

/// The elements in row-major order, borrowed when the array already is.
pub(super) fn row_major<T: Clone>(a: &ArrayD<T>) -> Cow<'_, [T]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().cloned().collect()),
    }
}

fn f16_to_f32(a: &ArrayD<f16>) -> ArrayD<f32> {
    a.mapv(|v| v.to_f32())
}
fn f32_to_f16(a: ArrayD<f32>) -> ArrayD<f16> {
    a.mapv(f16::from_f32)
}

// ---------------------------------------------------------------------------------------------
// Gemm

struct GemmAttrs {
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
}

fn gemm(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attrs = GemmAttrs {
        alpha: a.float_or("alpha", 1.0)?,
        beta: a.float_or("beta", 1.0)?,
        trans_a: a.int_or("transA", 0)? != 0,
        trans_b: a.int_or("transB", 0)? != 0,
    };
    if a.int_or("broadcast", 1)? == 0 {
        return Err(Error::invalid("Gemm with broadcast = 0 (opset < 7) is not supported"));
    }
    // The f32 kernels, chosen once; a constant float32 B is packed for them once.
    let kernels = select::gemm_f32();
    let packed_b = match ctx.constant_input(1) {
        Some(Tensor::F32(b)) if b.ndim() == 2 => {
            let data = row_major(b);
            let (r, c) = (b.shape()[0], b.shape()[1]);
            let view = MatRef::row_major(&data, r, c)?;
            let view = if attrs.trans_b { view.t() } else { view };
            Some(PackedB::pack(view, &kernels)?)
        }
        _ => None,
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "A")?;
        let b = required(inputs, 1, "B")?;
        let c = optional(inputs, 2);
        Ok(vec![run_gemm(&kernels, &attrs, a, b, c, packed_b.as_ref())?])
    })))
}

/// `(m, k, n)` of a Gemm, checked.
fn gemm_dims(attrs: &GemmAttrs, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize)> {
    if a.len() != 2 || b.len() != 2 {
        return Err(Error::shape(format!("Gemm needs 2-D A and B, got A {a:?} and B {b:?}")));
    }
    let (m, k) = if attrs.trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
    let (k2, n) = if attrs.trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
    if k != k2 {
        return Err(Error::shape(format!(
            "Gemm: A {a:?} (transA={}) and B {b:?} (transB={}) have different inner dims {k} and {k2}",
            attrs.trans_a as u8, attrs.trans_b as u8
        )));
    }
    Ok((m, k, n))
}

/// How C broadcasts to `[m, n]`: checked unidirectional broadcast.
fn check_c(c: &[usize], m: usize, n: usize) -> Result<()> {
    if c.len() > 2 || broadcast_shapes(&[c, &[m, n]]).ok().as_deref() != Some(&[m, n][..]) {
        return Err(Error::shape(format!("Gemm: C {c:?} cannot be broadcast to [{m}, {n}]")));
    }
    Ok(())
}

fn run_gemm(kernels: &GemmKernels, attrs: &GemmAttrs, a: &Tensor, b: &Tensor, c: Option<&Tensor>, packed_b: Option<&PackedB>) -> Result<Tensor> {
    let (m, _k, n) = gemm_dims(attrs, a.shape(), b.shape())?;
    if let Some(c) = c {
        check_c(c.shape(), m, n)?;
        if c.dtype() != a.dtype() {
            return Err(Error::dtype(format!("Gemm: C is {} but A is {}", c.dtype(), a.dtype())));
        }
    }
    if a.dtype() != b.dtype() {
        return Err(Error::dtype(format!("Gemm: A is {} but B is {}", a.dtype(), b.dtype())));
    }
    match a {
        Tensor::F32(av) => {
            let c = c.map(|c| c.array::<f32>()).transpose()?;
            gemm_f32(kernels, attrs, av, b.array::<f32>()?, c, packed_b).map(Tensor::F32)
        }
        Tensor::F16(av) => {
            let c = c.map(|c| c.array::<f16>().map(f16_to_f32)).transpose()?;
            let y = gemm_f32(kernels, attrs, &f16_to_f32(av), &f16_to_f32(b.array::<f16>()?), c.as_ref(), None)?;
            Ok(Tensor::F16(f32_to_f16(y)))
        }
        Tensor::F64(av) => gemm_generic(attrs, av, b.array::<f64>()?, c.map(|c| c.array::<f64>()).transpose()?, |x, s| {
            x * s as f64
        })
        .map(Tensor::F64),
        Tensor::I32(av) => gemm_int(attrs, av, b, c).map(Tensor::I32),
        Tensor::I64(av) => gemm_int(attrs, av, b, c).map(Tensor::I64),
        Tensor::U32(av) => gemm_int(attrs, av, b, c).map(Tensor::U32),
        Tensor::U64(av) => gemm_int(attrs, av, b, c).map(Tensor::U64),
        other => Err(Error::dtype(format!("Gemm does not support {} tensors", other.dtype()))),
    }
}

fn gemm_f32(
    kernels: &GemmKernels,
    attrs: &GemmAttrs,
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    c: Option<&ArrayD<f32>>,
    packed_b: Option<&PackedB>,
) -> Result<ArrayD<f32>> {
    let (m, k, n) = gemm_dims(attrs, a.shape(), b.shape())?;
    checked_numel(&[m, n], f32::DTYPE)?;
    let a_data = row_major(a);
    let av = MatRef::row_major(&a_data, a.shape()[0], a.shape()[1])?;
    let av = if attrs.trans_a { av.t() } else { av };
    let b_data;
    let rhs = match packed_b {
        Some(p) if p.rows() == k && p.cols() == n => Rhs::Packed(p),
        _ => {
            b_data = row_major(b);
            let bv = MatRef::row_major(&b_data, b.shape()[0], b.shape()[1])?;
            Rhs::Mat(if attrs.trans_b { bv.t() } else { bv })
        }
    };
    let mut out = vec![0f32; m * n];
    // Fold C into the kernel's epilogue where it is a bias or an accumulator and alpha is 1.
    let c_shape: Vec<usize> = c.map(|c| c.shape().to_vec()).unwrap_or_default();
    let c_vals: Option<Vec<f32>> = c.filter(|_| attrs.beta != 0.0).map(|c| c.iter().map(|&v| v * attrs.beta).collect());
    let c_numel = c_vals.as_ref().map_or(0, |v| v.len());
    let col_bias: Vec<f32>;
    let mut ep = Epilogue::default();
    let mut c_done = true;
    match &c_vals {
        None => {}
        Some(_) if attrs.alpha != 1.0 => c_done = false,
        Some(v) if c_numel == 1 => {
            col_bias = vec![v[0]; n];
            ep.bias = Bias::Col(&col_bias);
        }
        // [n] or [1, n]
        Some(v) if c_numel == n && c_shape.last() == Some(&n) && (c_shape.len() == 1 || c_shape[0] == 1) => {
            ep.bias = Bias::Col(v)
        }
        // [m, 1]
        Some(v) if c_shape.len() == 2 && c_shape[1] == 1 && c_shape[0] == m => ep.bias = Bias::Row(v),
        Some(_) => c_done = false,
    }
    if !c_done && attrs.alpha == 1.0 {
        if let Some(c) = c {
            fill_broadcast(&mut out, c, m, n, attrs.beta)?;
            ep.accumulate = true;
            c_done = true;
        }
    }
    sgemm_ex(kernels, Lhs::Mat(av), rhs, &mut out, n, &ep)?;
    if attrs.alpha != 1.0 {
        out.iter_mut().for_each(|v| *v *= attrs.alpha);
    }
    if !c_done {
        if let Some(c) = c {
            let mut cb = vec![0f32; m * n];
            fill_broadcast(&mut cb, c, m, n, attrs.beta)?;
            out.iter_mut().zip(&cb).for_each(|(o, c)| *o += c);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[m, n]), out).map_err(|e| Error::shape(e.to_string()))
}

/// `out[m x n] = beta * broadcast(c)`.
fn fill_broadcast(out: &mut [f32], c: &ArrayD<f32>, m: usize, n: usize, beta: f32) -> Result<()> {
    let cb = c
        .broadcast(IxDyn(&[m, n]))
        .ok_or_else(|| Error::shape(format!("Gemm: C {:?} cannot be broadcast to [{m}, {n}]", c.shape())))?;
    for (o, &v) in out.iter_mut().zip(cb.iter()) {
        *o = beta * v;
    }
    Ok(())
}

fn gemm_generic<T: LinalgScalar>(
    attrs: &GemmAttrs,
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    c: Option<&ArrayD<T>>,
    scale: impl Fn(T, f32) -> T,
) -> Result<ArrayD<T>> {
    let (m, _, n) = gemm_dims(attrs, a.shape(), b.shape())?;
    checked_numel(&[m, n], crate::tensor::DType::F64)?;
    let a2 = a.view().into_dimensionality::<ndarray::Ix2>().map_err(|e| Error::shape(e.to_string()))?;
    let b2 = b.view().into_dimensionality::<ndarray::Ix2>().map_err(|e| Error::shape(e.to_string()))?;
    let a2 = if attrs.trans_a { a2.t() } else { a2 };
    let b2 = if attrs.trans_b { b2.t() } else { b2 };
    let mut y = a2.dot(&b2);
    if attrs.alpha != 1.0 {
        y.mapv_inplace(|v| scale(v, attrs.alpha));
    }
    if let (Some(c), true) = (c, attrs.beta != 0.0) {
        let cb = c
            .broadcast(IxDyn(&[m, n]))
            .ok_or_else(|| Error::shape(format!("Gemm: C {:?} cannot be broadcast to [{m}, {n}]", c.shape())))?;
        for (o, &v) in y.iter_mut().zip(cb.iter()) {
            *o = *o + scale(v, attrs.beta);
        }
    }
    Ok(y.into_dyn())
}

/// Integer Gemm: exact, only with `alpha = beta = 1` (scaling an integer by a float is not
/// defined by the spec's examples).
fn gemm_int<T: LinalgScalar + Elem>(attrs: &GemmAttrs, a: &ArrayD<T>, b: &Tensor, c: Option<&Tensor>) -> Result<ArrayD<T>> {
    if attrs.alpha != 1.0 || (c.is_some() && attrs.beta != 1.0) {
        return Err(Error::invalid("integer Gemm supports only alpha = 1 and beta = 1"));
    }
    gemm_generic(attrs, a, b.array::<T>()?, c.map(|c| c.array::<T>()).transpose()?, |v, _| v)
}

// ---------------------------------------------------------------------------------------------
// MatMul

fn matmul(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let kernels = select::gemm_f32();
    let packed_b = match ctx.constant_input(1) {
        Some(Tensor::F32(b)) if b.ndim() <= 2 && b.ndim() >= 1 => {
            let data = row_major(b);
            let (k, n) = if b.ndim() == 1 { (b.shape()[0], 1) } else { (b.shape()[0], b.shape()[1]) };
            Some(PackedB::pack(MatRef::row_major(&data, k, n)?, &kernels)?)
        }
        _ => None,
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let a = required(inputs, 0, "A")?;
        let b = required(inputs, 1, "B")?;
        Ok(vec![run_matmul(&kernels, a, b, packed_b.as_ref())?])
    })))
}

/// The shapes of a numpy matmul: batch dims broadcast, and where each operand's matrices are.
struct MatMulPlan {
    m: usize,
    k: usize,
    n: usize,
    /// For each batch index (row-major over `batch`), the matrix index into A and into B.
    a_index: Vec<usize>,
    b_index: Vec<usize>,
    out_shape: Vec<usize>,
    /// B has no batch dims (the whole batch of A can be one product).
    b_is_matrix: bool,
}

fn plan_matmul(a: &[usize], b: &[usize]) -> Result<MatMulPlan> {
    if a.is_empty() || b.is_empty() {
        return Err(Error::shape(format!("MatMul needs inputs of rank >= 1, got A {a:?} and B {b:?}")));
    }
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(Error::shape(format!("MatMul: A {a:?} and B {b:?} have different inner dims {k} and {k2}")));
    }
    let a_batch = &a2[..a2.len() - 2];
    let b_batch = &b2[..b2.len() - 2];
    let batch = broadcast_shapes(&[a_batch, b_batch])
        .map_err(|_| Error::shape(format!("MatMul: batch dims of A {a:?} and B {b:?} cannot be broadcast")))?;
    let count = checked_numel(&batch, f32::DTYPE)?;
    let mut out_shape = batch.clone();
    if a.len() > 1 {
        out_shape.push(m);
    }
    if b.len() > 1 {
        out_shape.push(n);
    }
    let mut full = batch.clone();
    full.extend([m, n]);
    checked_numel(&full, f32::DTYPE)?;
    let index_of = |own: &[usize]| -> Vec<usize> {
        // Matrix index into an operand with batch shape `own` for each broadcast batch index.
        let off = batch.len() - own.len();
        let mut strides = vec![0usize; own.len()];
        let mut s = 1;
        for i in (0..own.len()).rev() {
            strides[i] = if own[i] == 1 { 0 } else { s };
            s *= own[i];
        }
        let mut idx = vec![0usize; batch.len()];
        let mut v = Vec::with_capacity(count);
        for _ in 0..count {
            v.push((0..own.len()).map(|i| idx[off + i] * strides[i]).sum());
            super::conv_geometry::increment(&mut idx, &batch);
        }
        v
    };
    let a_index = index_of(a_batch);
    let b_index = index_of(b_batch);
    Ok(MatMulPlan { m, k, n, b_is_matrix: b_batch.iter().product::<usize>() == 1, a_index, b_index, out_shape })
}

fn run_matmul(kernels: &GemmKernels, a: &Tensor, b: &Tensor, packed_b: Option<&PackedB>) -> Result<Tensor> {
    if a.dtype() != b.dtype() {
        return Err(Error::dtype(format!("MatMul: A is {} but B is {}", a.dtype(), b.dtype())));
    }
    let p = plan_matmul(a.shape(), b.shape())?;
    match a {
        Tensor::F32(av) => matmul_f32(kernels, &p, av, b.array::<f32>()?, packed_b).map(Tensor::F32),
        Tensor::F16(av) => {
            let y = matmul_f32(kernels, &p, &f16_to_f32(av), &f16_to_f32(b.array::<f16>()?), None)?;
            Ok(Tensor::F16(f32_to_f16(y)))
        }
        Tensor::F64(av) => matmul_generic(&p, av, b.array()?).map(Tensor::F64),
        Tensor::I32(av) => matmul_generic(&p, av, b.array()?).map(Tensor::I32),
        Tensor::I64(av) => matmul_generic(&p, av, b.array()?).map(Tensor::I64),
        Tensor::U32(av) => matmul_generic(&p, av, b.array()?).map(Tensor::U32),
        Tensor::U64(av) => matmul_generic(&p, av, b.array()?).map(Tensor::U64),
        other => Err(Error::dtype(format!("MatMul does not support {} tensors", other.dtype()))),
    }
}

fn matmul_f32(kernels: &GemmKernels, p: &MatMulPlan, a: &ArrayD<f32>, b: &ArrayD<f32>, packed_b: Option<&PackedB>) -> Result<ArrayD<f32>> {
    let (m, k, n) = (p.m, p.k, p.n);
    let count = p.a_index.len();
    let mut out = vec![0f32; count * m * n];
    let a_data = row_major(a);
    let packed = packed_b.filter(|pb| p.b_is_matrix && pb.rows() == k && pb.cols() == n);
    let b_data = if packed.is_some() { Cow::Borrowed(&[][..]) } else { row_major(b) };
    let rhs_at = |bi: usize| -> Result<Rhs> {
        Ok(match packed {
            Some(pb) => Rhs::Packed(pb),
            None => Rhs::Mat(MatRef::row_major(&b_data[bi * k * n..(bi + 1) * k * n], k, n)?),
        })
    };
    let a_batch_contiguous = p.a_index.iter().enumerate().all(|(i, &ai)| ai == i);
    if p.b_is_matrix && a_batch_contiguous && count > 0 {
        // One product: the batch of A folded into M.
        let av = MatRef::row_major(&a_data, count * m, k)?;
        sgemm_ex(kernels, Lhs::Mat(av), rhs_at(0)?, &mut out, n, &Epilogue::default())?;
    } else {
        for (t, (&ai, &bi)) in p.a_index.iter().zip(&p.b_index).enumerate() {
            let av = MatRef::row_major(&a_data[ai * m * k..(ai + 1) * m * k], m, k)?;
            sgemm_ex(kernels, Lhs::Mat(av), rhs_at(bi)?, &mut out[t * m * n..(t + 1) * m * n], n, &Epilogue::default())?;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&p.out_shape), out).map_err(|e| Error::shape(e.to_string()))
}

fn matmul_generic<T: LinalgScalar>(p: &MatMulPlan, a: &ArrayD<T>, b: &ArrayD<T>) -> Result<ArrayD<T>> {
    let (m, k, n) = (p.m, p.k, p.n);
    let a_data = row_major(a);
    let b_data = row_major(b);
    let mut out = Vec::with_capacity(p.a_index.len() * m * n);
    for (&ai, &bi) in p.a_index.iter().zip(&p.b_index) {
        let av = ArrayView2::from_shape((m, k), &a_data[ai * m * k..(ai + 1) * m * k]).map_err(|e| Error::shape(e.to_string()))?;
        let bv = ArrayView2::from_shape((k, n), &b_data[bi * k * n..(bi + 1) * k * n]).map_err(|e| Error::shape(e.to_string()))?;
        out.extend(av.dot(&bv).iter().copied());
    }
    ArrayD::from_shape_vec(IxDyn(&p.out_shape), out).map_err(|e| Error::shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_broadcasts_batches_and_promotes_vectors() {
        let p = plan_matmul(&[2, 1, 3, 4], &[5, 4, 6]).unwrap();
        assert_eq!(p.out_shape, vec![2, 5, 3, 6]);
        assert_eq!(p.a_index, vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
        assert_eq!(p.b_index, vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        assert_eq!(plan_matmul(&[4], &[4]).unwrap().out_shape, Vec::<usize>::new());
        assert_eq!(plan_matmul(&[3, 4], &[4]).unwrap().out_shape, vec![3]);
        assert_eq!(plan_matmul(&[4], &[2, 4, 5]).unwrap().out_shape, vec![2, 5]);
        assert!(plan_matmul(&[3, 4], &[5, 6]).is_err());
        assert!(plan_matmul(&[2, 3, 4], &[3, 4, 6]).is_err());
    }

    #[test]
    fn batched_matmul_matches_generic() {
        let a: Vec<f32> = (0..2 * 3 * 4).map(|v| v as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..4 * 5).map(|v| (v % 7) as f32 - 2.0).collect();
        let at = ArrayD::from_shape_vec(IxDyn(&[2, 3, 4]), a).unwrap();
        let bt = ArrayD::from_shape_vec(IxDyn(&[4, 5]), b).unwrap();
        let p = plan_matmul(at.shape(), bt.shape()).unwrap();
        let y = matmul_f32(&crate::kernels::select::gemm_f32(), &p, &at, &bt, None).unwrap();
        let at64 = at.mapv(|v| v as f64);
        let bt64 = bt.mapv(|v| v as f64);
        let y64 = matmul_generic(&p, &at64, &bt64).unwrap();
        for (x, z) in y.iter().zip(y64.iter()) {
            assert!((*x as f64 - z).abs() < 1e-4);
        }
    }
}
