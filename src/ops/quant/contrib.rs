//! onnxruntime's `com.microsoft` QOperator ops, as its quantizer emits them: QLinearAdd,
//! QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat, QLinearLeakyRelu,
//! QLinearSigmoid.
//!
//! Semantics follow the formulas of onnxruntime's ContribOperators.md, in f32, through
//! [`crate::quant_math`]; all scales and zero points are per tensor, zero points optional
//! (default 0), data uint8 or int8. The 8-bit kernels of [`crate::kernels`] compute Add, Mul,
//! the pools and Concat's requantization (their oracles in `kernels::reference` spell out the
//! same formulas element by element):
//! - QLinearAdd: `C = round((A_scale (A - A_zp) + B_scale (B - B_zp)) / C_scale + C_zp)` in f32,
//!   the zero point added before rounding as onnxruntime's MLAS does (numpy broadcasting).
//! - QLinearMul: `C = round(f32((A - A_zp)(B - B_zp)) · f32(A_scale B_scale / C_scale) + C_zp)`, the
//!   zero point added in f32 before rounding (onnxruntime's MLAS does, on every platform).
//! - QLinearGlobalAveragePool: `Y = requantize(Σ (X - x_zp), x_scale / (y_scale · n)) + y_zp`
//!   (the product in f32, `quant_math::scale_accumulator`)
//!   over the `n` spatial positions of each channel (`channels_last` selects N…C layout).
//! - QLinearAveragePool (1-D and 2-D): the same rule per window, `n` being the window's count as
//!   in AveragePool (`count_include_pad`); onnxruntime averages dequantized floats instead and
//!   may differ by one step (its own tests allow 1).
//! - QLinearConcat: each input is requantized to the output's scale and zero point
//!   (`quantize(dequantize(x))`; copied when its parameters equal the output's), then concatenated.
//! - QLinearLeakyRelu / QLinearSigmoid: `quantize(f(dequantize(x)))`, f computed in f32
//!   (the sigmoid with the exact `exp`; onnxruntime's table may differ by one step on ties),
//!   run as the 256-entry [`Table`] of that formula (`ops::quant::lookup`).
//! - QLinearSoftmax (attributes `axis`, `opset`): onnxruntime's table-driven approximation, which
//!   defines the op: `e[d] = f32(exp((255 − d + s) · x_scale))` for the distance `d = max − x` of
//!   an element below its row's maximum, with the headroom `s = max(0, ln(f32::MAX / D) − 5) /
//!   x_scale` (D = the row length), the row sum `Σ e` accumulated in f32 in order, and
//!   `y = round(e · floor(1 / y_scale) / Σ e) + y_zp` in f32, saturated (onnxruntime wraps int8
//!   values above 127; that cannot happen with a `[0, 1]` output range). Rows follow Softmax's
//!   opset rules: the one axis from opset 13, the flattened trailing dims before.
use super::lookup::Table;
use super::{int_values, quantized_tensor};
use crate::error::{Error, Result};
use crate::kernels::q8::{Requant, Q8};
use crate::kernels::qelementwise::{add_q8, mul_q8, requantize_q8, AddParams, MulParams, Operand, RequantizeParams};
use crate::kernels::qpool::{avgpool2d_q8, global_avgpool_nhwc_q8, global_avgpool_q8, AvgPoolParams, QPoolScratch};
use crate::kernels::select;
use crate::ops::broadcast::{binary_runs, broadcast_shapes, BinaryRun};
use crate::ops::conv_geometry::WindowAttrs;
use crate::ops::matmul::row_major;
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{checked_numel, DType, Tensor};
use ndarray::{ArrayD, IxDyn};

const MS: &str = "com.microsoft";

pub fn register(r: &mut Registry) {
    r.register(MS, "QLinearAdd", qlinear_add);
    r.register(MS, "QLinearMul", qlinear_mul);
    r.register(MS, "QLinearGlobalAveragePool", qlinear_global_average_pool);
    r.register(MS, "QLinearAveragePool", qlinear_average_pool);
    r.register(MS, "QLinearConcat", qlinear_concat);
    r.register(MS, "QLinearLeakyRelu", qlinear_leaky_relu);
    r.register(MS, "QLinearSigmoid", qlinear_sigmoid);
    r.register(MS, "QLinearSoftmax", qlinear_softmax);
}

/// Runs `$body` with `$a` bound to the 8-bit array of `$t` and `$Q` to its element type.
macro_rules! with_q8 {
    ($t:expr, $what:expr, |$a:ident: $Q:ident| $body:expr) => {
        match $t {
            Tensor::U8($a) => {
                type $Q = u8;
                $body
            }
            Tensor::I8($a) => {
                type $Q = i8;
                $body
            }
            other => return Err(Error::dtype(format!("{} must be uint8 or int8, got {}", $what, other.dtype()))),
        }
    };
}

/// A per-tensor float32 scale.
fn scale_of(t: &Tensor, what: &str) -> Result<f32> {
    let a = t.array::<f32>().map_err(|_| Error::dtype(format!("{what} must be float32, got {}", t.dtype())))?;
    match a.iter().collect::<Vec<_>>().as_slice() {
        [v] => Ok(**v),
        _ => Err(Error::shape(format!("{what} has shape {:?}; it must be a single value", t.shape()))),
    }
}

/// A per-tensor zero point of the data type `dtype` (0 when absent).
fn zero_point_of(t: Option<&Tensor>, dtype: DType, what: &str) -> Result<i32> {
    let Some(t) = t else { return Ok(0) };
    if t.dtype() != dtype {
        return Err(Error::dtype(format!("{what} is {} but the data is {dtype}", t.dtype())));
    }
    match int_values(t, what)?.as_slice() {
        [v] => Ok(*v),
        _ => Err(Error::shape(format!("{what} has shape {:?}; it must be a single value", t.shape()))),
    }
}

/// A quantized tensor (data, scale, zero point) read from inputs `i`, `i + 1`, `i + 2`; the data
/// uint8 or int8.
struct QTensor<'a> {
    t: &'a Tensor,
    scale: f32,
    zp: i32,
}

fn qtensor<'a>(inputs: &[Option<&'a Tensor>], i: usize, name: &str) -> Result<QTensor<'a>> {
    let t = required(inputs, i, name)?;
    if !matches!(t.dtype(), DType::U8 | DType::I8) {
        return Err(Error::dtype(format!("{name} must be uint8 or int8, got {}", t.dtype())));
    }
    let scale = scale_of(required(inputs, i + 1, &format!("{name}_scale"))?, &format!("{name}_scale"))?;
    let zp = zero_point_of(optional(inputs, i + 2), t.dtype(), &format!("{name}_zero_point"))?;
    Ok(QTensor { t, scale, zp })
}

/// The input and output parameters of a unary QOperator op: X (inputs 0-2), then the output's
/// scale (3) and zero point (4), named `{y}_scale` / `{y}_zero_point`.
fn unary_params<'a>(inputs: &[Option<&'a Tensor>], x: &str, y: &str) -> Result<(QTensor<'a>, f32, i32)> {
    let xq = qtensor(inputs, 0, x)?;
    let y_scale = scale_of(required(inputs, 3, &format!("{y}_scale"))?, &format!("{y}_scale"))?;
    let y_zp = zero_point_of(optional(inputs, 4), xq.t.dtype(), &format!("{y}_zero_point"))?;
    Ok((xq, y_scale, y_zp))
}

/// A binary op on two 8-bit arrays with numpy broadcasting, through a kernel call
/// `f(x, y, swapped, out)` per contiguous run of the shared engine
/// ([`crate::ops::broadcast::binary_runs`]; `swapped`: `x` is B and `y` is A): equal shapes and
/// a scalar side are one call, a per-channel side one call per run, a trailing side (a bias)
/// one call per repeat, and nothing is materialized.
fn broadcast_binary<Q: Q8 + crate::tensor::Elem>(
    a: &ArrayD<Q>,
    b: &ArrayD<Q>,
    f: impl Fn(&[Q], Operand<Q>, bool, &mut [Q]) -> Result<()>,
) -> Result<Tensor> {
    let shape = broadcast_shapes(&[a.shape(), b.shape()])?;
    let mut out = vec![Q::default(); checked_numel(&shape, Q::DTYPE)?];
    let (ad, bd) = (row_major(a), row_major(b));
    binary_runs(&ad, a.shape(), &bd, b.shape(), &shape, &mut out, |run, o| match run {
        BinaryRun::Both(x, y) => f(x, Operand::Slice(y), false, o),
        BinaryRun::ScalarB(x, y) => f(x, Operand::Scalar(y), false, o),
        BinaryRun::ScalarA(x, y) => f(y, Operand::Scalar(x), true, o),
    })?;
    Tensor::from_vec(&shape, out)
}

/// Reads A, B and C's parameters of QLinearAdd / QLinearMul and runs `op` on the typed data.
fn qlinear_binary(
    inputs: &[Option<&Tensor>],
    op: impl Fn(&QTensor, &QTensor, f32, i32) -> Result<Tensor>,
) -> Result<Vec<Tensor>> {
    let a = qtensor(inputs, 0, "A")?;
    let b = qtensor(inputs, 3, "B")?;
    if a.t.dtype() != b.t.dtype() {
        return Err(Error::dtype(format!("A is {} but B is {}", a.t.dtype(), b.t.dtype())));
    }
    let c_scale = scale_of(required(inputs, 6, "C_scale")?, "C_scale")?;
    let c_zp = zero_point_of(optional(inputs, 7), a.t.dtype(), "C_zero_point")?;
    Ok(vec![op(&a, &b, c_scale, c_zp)?])
}

fn qlinear_add(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let ew = select::qelementwise();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        qlinear_binary(inputs, |a, b, c_scale, c_zp| {
            let p = AddParams { a_scale: a.scale, a_zp: a.zp, b_scale: b.scale, b_zp: b.zp, y_scale: c_scale, y_zp: c_zp, lo: i32::MIN, hi: i32::MAX };
            let swapped = AddParams { a_scale: b.scale, a_zp: b.zp, b_scale: a.scale, b_zp: a.zp, ..p };
            with_q8!(a.t, "A", |av: Q| {
                let bv = b.t.array::<Q>()?;
                broadcast_binary(av, bv, |x, y, sw, o| Ok(add_q8(&ew, x, y, if sw { &swapped } else { &p }, o)?))
            })
        })
    })))
}

fn qlinear_mul(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let ew = select::qelementwise();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        qlinear_binary(inputs, |a, b, c_scale, c_zp| {
            let multiplier = quant_math::multiplier(a.scale, b.scale, c_scale);
            with_q8!(a.t, "A", |av: Q| {
                let p = MulParams { a_zp: a.zp, b_zp: b.zp, multiplier, y_zp: c_zp, lo: i32::MIN, hi: i32::MAX };
                let swapped = MulParams { a_zp: b.zp, b_zp: a.zp, ..p };
                let bv = b.t.array::<Q>()?;
                broadcast_binary(av, bv, |x, y, sw, o| Ok(mul_q8(&ew, x, y, if sw { &swapped } else { &p }, o)?))
            })
        })
    })))
}

fn qlinear_global_average_pool(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let channels_last = ctx.attrs().int_or("channels_last", 0)? != 0;
    let pk = select::qpool();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (x, y_scale, y_zp) = unary_params(inputs, "x", "y")?;
        let shape = x.t.shape();
        if shape.len() < 3 {
            return Err(Error::shape(format!("X has shape {shape:?}; it needs rank >= 3 (N, C and spatial dims)")));
        }
        let n = shape[0];
        let (c, spatial): (usize, usize) = if channels_last {
            (shape[shape.len() - 1], shape[1..shape.len() - 1].iter().product())
        } else {
            (shape[1], shape[2..].iter().product())
        };
        let mut out_shape = vec![1usize; shape.len()];
        out_shape[0] = n;
        out_shape[if channels_last { shape.len() - 1 } else { 1 }] = c;
        let m = x.scale / (y_scale * spatial as f32);
        let y = with_q8!(x.t, "x", |a: Q| {
            let data = row_major(a);
            let rq = Requant::new::<Q>(m, y_zp);
            let mut out = vec![Q::default(); n * c];
            if channels_last {
                global_avgpool_nhwc_q8(&data, n, spatial, c, x.zp, &rq, &mut out)?;
            } else {
                global_avgpool_q8(&pk, &data, n * c, x.zp, &rq, &mut out)?;
            }
            Tensor::from_vec(&out_shape, out)?
        });
        Ok(vec![y])
    })))
}

/// The axis permutation from N…C to NC… (`to_channels_first`) or back.
fn channels_perm(rank: usize, to_channels_first: bool) -> Vec<usize> {
    if to_channels_first {
        [0, rank - 1].into_iter().chain(1..rank - 1).collect()
    } else {
        [0].into_iter().chain(2..rank).chain([1]).collect()
    }
}

fn qlinear_average_pool(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let window = WindowAttrs::from_attrs(ctx.attrs())?;
    if window.kernel_shape.is_none() {
        return Err(Error::invalid("attribute 'kernel_shape' is required"));
    }
    let count_include_pad = ctx.attrs().int_or("count_include_pad", 0)? != 0;
    let channels_last = ctx.attrs().int_or("channels_last", 0)? != 0;
    let pk = select::qpool();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (x, y_scale, y_zp) = unary_params(inputs, "X", "y")?;
        let rank = x.t.rank();
        if !(3..=4).contains(&rank) {
            return Err(Error::shape(format!(
                "QLinearAveragePool supports 1-D and 2-D pools (X of rank 3 or 4), got X of shape {:?}",
                x.t.shape()
            )));
        }
        let y = with_q8!(x.t, "X", |a: Q| {
            let a = if channels_last {
                a.view().permuted_axes(IxDyn(&channels_perm(rank, true))).as_standard_layout().into_owned()
            } else {
                a.clone()
            };
            let s = a.shape().to_vec();
            let geo = window.resolve(&s[2..], &window.kernel(None)?)?;
            let (g, pads_end) = geo.plane_2d().ok_or_else(|| Error::shape("QLinearAveragePool: not a 1-D or 2-D pool"))?;
            let p = AvgPoolParams {
                x_zp: x.zp,
                x_scale: x.scale,
                y_scale,
                count_include_pad,
                out: Requant::new::<Q>(f32::NAN, y_zp),
            };
            let mut out_shape = vec![s[0], s[1]];
            out_shape.extend(&geo.output);
            let mut out = vec![Q::default(); checked_numel(&out_shape, x.t.dtype())?];
            let data = row_major(&a);
            let (in_sz, out_sz) = (g.ih * g.iw, g.oh * g.ow);
            let mut scratch = QPoolScratch::default();
            for (i, o) in out.chunks_exact_mut(out_sz.max(1)).enumerate() {
                avgpool2d_q8(&pk, &g, pads_end, &data[i * in_sz..][..in_sz], &p, o, &mut scratch)?;
            }
            let y = ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| Error::shape(e.to_string()))?;
            if channels_last {
                Tensor::from(y.permuted_axes(IxDyn(&channels_perm(rank, false))).as_standard_layout().into_owned())
            } else {
                Tensor::from(y)
            }
        });
        Ok(vec![y])
    })))
}

fn qlinear_concat(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx
        .attrs()
        .int("axis")?
        .ok_or_else(|| Error::invalid("QLinearConcat needs the attribute 'axis'"))?;
    let ew = select::qelementwise();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let y_scale = scale_of(required(inputs, 0, "Y_scale")?, "Y_scale")?;
        let y_zp_t = required(inputs, 1, "Y_zero_point")?;
        let dtype = y_zp_t.dtype();
        let y_zp = zero_point_of(Some(y_zp_t), dtype, "Y_zero_point")?;
        if inputs.len() < 5 || (inputs.len() - 2) % 3 != 0 {
            return Err(Error::invalid(format!(
                "QLinearConcat takes Y_scale, Y_zero_point and (tensor, scale, zero point) triples; got {} inputs",
                inputs.len()
            )));
        }
        let parts: Vec<QTensor> =
            (2..inputs.len()).step_by(3).map(|i| qtensor(inputs, i, &format!("input {}", (i - 2) / 3))).collect::<Result<_>>()?;
        let first = parts[0].t.shape();
        let ax = crate::ops::normalize_axis(axis, first.len())?;
        let mut out_shape = first.to_vec();
        out_shape[ax] = 0;
        for p in &parts {
            let s = p.t.shape();
            if p.t.dtype() != dtype {
                return Err(Error::dtype(format!("a QLinearConcat input is {} but Y_zero_point is {dtype}", p.t.dtype())));
            }
            let same = s.len() == first.len() && s.iter().zip(first).enumerate().all(|(d, (a, b))| d == ax || a == b);
            if !same {
                return Err(Error::shape(format!(
                    "QLinearConcat inputs of shapes {first:?} and {s:?} differ outside axis {ax}"
                )));
            }
            out_shape[ax] += s[ax];
        }
        let total = checked_numel(&out_shape, dtype)?;
        let outer: usize = first[..ax].iter().product();
        let inner: usize = first[ax + 1..].iter().product();
        let y = with_q8!(y_zp_t, "Y_zero_point", |_z: Q| {
            // Requantize each input to the output's parameters, then interleave the axis slabs.
            let requantized: Vec<Vec<Q>> = parts
                .iter()
                .map(|p| {
                    let v = row_major(p.t.array::<Q>()?).into_owned();
                    if p.scale == y_scale && p.zp == y_zp {
                        return Ok(v);
                    }
                    let mut out = vec![Q::default(); v.len()];
                    let rp = RequantizeParams { x_scale: p.scale, x_zp: p.zp, y_scale, y_zp };
                    requantize_q8(&ew, &v, &rp, &mut out)?;
                    Ok(out)
                })
                .collect::<Result<_>>()?;
            let mut flat = Vec::with_capacity(total);
            for o in 0..outer {
                for (p, v) in parts.iter().zip(&requantized) {
                    let slab = p.t.shape()[ax] * inner;
                    flat.extend_from_slice(&v[o * slab..(o + 1) * slab]);
                }
            }
            Tensor::from_vec(&out_shape, flat)?
        });
        Ok(vec![y])
    })))
}

/// `quantize(f(dequantize(x)))` elementwise, in f32: the per-element definition of
/// QLinearSigmoid and QLinearLeakyRelu, which their tables hold.
fn qlinear_unary(inputs: &[Option<&Tensor>], f: impl Fn(f32) -> f32) -> Result<Tensor> {
    let (x, y_scale, y_zp) = unary_params(inputs, "X", "Y")?;
    let values = int_values(x.t, "X")?;
    quantized_tensor(x.t.dtype(), x.t.shape(), values.len(), |i| {
        let v = f(quant_math::dequantize(values[i], x.scale, x.zp));
        quant_math::round_to_i64(f64::from(v / y_scale)).saturating_add(y_zp as i64)
    })
}

/// The [`Table`] of [`qlinear_unary`] for X of the given signedness, with the parameters of
/// `inputs` (1-4; input 0 is ignored).
fn unary_table(inputs: &[Option<&Tensor>], signed: bool, f: &impl Fn(f32) -> f32) -> Result<Table> {
    Table::of(signed, |values| {
        let with: Vec<Option<&Tensor>> = std::iter::once(Some(values)).chain(inputs.iter().skip(1).copied()).collect();
        qlinear_unary(&with, f)
    })
}

/// A unary QOperator op of formula `f`, run as a table: built when the plan is built when the
/// scales and zero points are constants and X's type is known (from its zero point or the
/// graph), else once per run from the run's parameters (256 evaluations).
fn qlinear_table_op(ctx: &BuildContext, f: impl Fn(f32) -> f32 + Send + Sync + 'static) -> Result<Box<dyn Op>> {
    let constant = |i: usize| match ctx.node.input(i) {
        None => Some(None),
        Some(_) => ctx.constant_input(i).map(Some),
    };
    let params: Option<Vec<Option<&Tensor>>> = (0..5).map(|i| if i == 0 { Some(None) } else { constant(i) }).collect();
    let x_dtype = params.as_ref().and_then(|p| p[2].map(|z| z.dtype())).or_else(|| ctx.node.input(0).and_then(|x| ctx.graph.values.get(x)?.dtype));
    let built: Option<Table> = match (params, x_dtype) {
        (Some(p), Some(d @ (DType::U8 | DType::I8))) => unary_table(&p, d == DType::I8, &f).ok(),
        _ => None,
    };
    let lut = select::lut_x8();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let signed = match x.dtype() {
            DType::U8 => false,
            DType::I8 => true,
            other => return Err(Error::dtype(format!("X must be uint8 or int8, got {other}"))),
        };
        let y = match &built {
            Some(t) if (t.out_dtype() == DType::I8) == signed => t.apply(lut, x)?,
            _ => unary_table(inputs, signed, &f)?.apply(lut, x)?,
        };
        Ok(vec![y])
    })))
}

fn qlinear_leaky_relu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let alpha = ctx.attrs().float_or("alpha", 0.01)?;
    qlinear_table_op(ctx, move |v| if v < 0.0 { alpha * v } else { v })
}

fn qlinear_sigmoid(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    qlinear_table_op(ctx, |v| 1.0 / (1.0 + (-v).exp()))
}

fn qlinear_softmax(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let opset = ctx.attrs().int("opset")?.ok_or_else(|| Error::invalid("QLinearSoftmax needs the attribute 'opset'"))?;
    let legacy = opset < 13;
    let axis = ctx.attrs().int_or("axis", if legacy { 1 } else { -1 })?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let (x, y_scale, y_zp) = unary_params(inputs, "X", "y")?;
        let values = int_values(x.t, "X")?;
        let shape = x.t.shape();
        let r = shape.len() as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a > r || (!legacy && a == r) {
            return Err(Error::invalid(format!("axis {axis} is out of range for rank {r}")));
        }
        let a = a as usize;
        // Rows of `d` elements spaced `inner` apart.
        let (d, inner) = if legacy { (shape[a..].iter().product::<usize>(), 1) } else { (shape[a], shape[a + 1..].iter().product()) };
        let n = values.len();
        if n == 0 || d == 0 {
            return Ok(vec![quantized_tensor(x.t.dtype(), shape, 0, |_| 0)?]);
        }
        // e[k] = exp((k − 255 + headroom) · x_scale) for k = 255 − (max − x), in f64, stored f32.
        let headroom = ((f32::MAX / d as f32) as f64).ln();
        let headroom = (headroom - 5.0).max(0.0) / f64::from(x.scale);
        let table: Vec<f32> =
            (0..256).map(|k| ((k as f64 - 255.0 + headroom) * f64::from(x.scale)).exp() as f32).collect();
        let scale = (1.0 / y_scale).floor();
        let mut out = vec![0i64; n];
        let rows = n / d;
        for row in 0..rows {
            let (outer, i) = (row / inner, row % inner);
            let at = |k: usize| (outer * d + k) * inner + i;
            let max = (0..d).map(|k| values[at(k)]).max().unwrap_or(0);
            // The distance below the maximum saturates at 255 (8-bit data cannot go further).
            let e = |k: usize| table[255 - ((max - values[at(k)]) as usize).min(255)];
            let sum: f32 = (0..d).map(e).fold(0.0, |s, v| s + v);
            for k in 0..d {
                out[at(k)] = if sum == 0.0 {
                    y_zp as i64
                } else {
                    quant_math::round_to_i64(f64::from(e(k) * scale / sum)).saturating_add(y_zp as i64)
                };
            }
        }
        Ok(vec![quantized_tensor(x.t.dtype(), shape, n, |i| out[i])?])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::{run_in, t};
    use crate::ops::quant::broadcast_values;

    fn s(v: f32) -> Option<Tensor> {
        t(&[], vec![v])
    }

    #[test]
    fn add_broadcasts_and_follows_the_formula() {
        // A [2,2] scale 0.5 zp 10, B [2] scale 0.25 zp 0, C scale 1 zp 100
        let y = run_in(
            MS,
            "QLinearAdd",
            1,
            &[],
            &[t(&[2, 2], vec![10u8, 12, 20, 255]), s(0.5), t(&[], vec![10u8]), t(&[2], vec![2u8, 6]), s(0.25), t(&[], vec![0u8]), s(1.0), t(&[], vec![100u8])],
        )
        .unwrap();
        // reals: [0 + 0.5, 1 + 1.5, 5 + 0.5, 122.5 + 1.5] → round half even: 0, 2, 6, 124 (+100, saturate)
        assert_eq!(y[0], Tensor::from_vec(&[2, 2], vec![100u8, 102, 106, 224]).unwrap());
        // incompatible shapes and mixed types are errors
        assert!(run_in(MS, "QLinearAdd", 1, &[], &[t(&[3], vec![0u8; 3]), s(1.0), None, t(&[2], vec![0u8; 2]), s(1.0), None, s(1.0), None]).is_err());
        assert!(run_in(MS, "QLinearAdd", 1, &[], &[t(&[2], vec![0u8; 2]), s(1.0), None, t(&[2], vec![0i8; 2]), s(1.0), None, s(1.0), None]).is_err());
    }

    #[test]
    fn mul_int8_saturates() {
        let y = run_in(
            MS,
            "QLinearMul",
            1,
            &[],
            &[t(&[3], vec![-128i8, 3, 5]), s(0.5), None, t(&[3], vec![127i8, 5, -1]), s(0.5), None, s(0.5), t(&[], vec![1i8])],
        )
        .unwrap();
        // acc = [-16256, 15, -5], M = 0.5, zero point 1 added before rounding (as onnxruntime):
        // [-8127 → -128, 8.5 → 8, -1.5 → -2] (ties to even)
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-128i8, 8, -2]).unwrap());
    }

    #[test]
    fn global_average_pool_both_layouts() {
        // N=1, C=2, 2x2 spatial; x scale 1 zp 0, y scale 1 zp 0: plain rounded mean
        let x: Vec<u8> = vec![1, 2, 3, 5, 10, 10, 10, 11];
        let y = run_in(MS, "QLinearGlobalAveragePool", 1, &[], &[t(&[1, 2, 2, 2], x.clone()), s(1.0), t(&[], vec![0u8]), s(1.0), t(&[], vec![0u8])])
            .unwrap();
        // means 2.75 → 3, 10.25 → 10
        assert_eq!(y[0], Tensor::from_vec(&[1, 2, 1, 1], vec![3u8, 10]).unwrap());
        // the same data laid out N H W C
        let nhwc: Vec<u8> = vec![1, 10, 2, 10, 3, 10, 5, 11];
        let y = run_in(
            MS,
            "QLinearGlobalAveragePool",
            1,
            &[("channels_last", Attr::Int(1))],
            &[t(&[1, 2, 2, 2], nhwc), s(1.0), t(&[], vec![0u8]), s(1.0), t(&[], vec![0u8])],
        )
        .unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 1, 1, 2], vec![3u8, 10]).unwrap());
        // zero points and scales: x zp 2, scale 0.5; y scale 0.25 zp 1 → mean((x-2)*0.5)/0.25 + 1
        let y = run_in(MS, "QLinearGlobalAveragePool", 1, &[], &[t(&[1, 1, 1, 2], vec![2u8, 5]), s(0.5), t(&[], vec![2u8]), s(0.25), t(&[], vec![1u8])])
            .unwrap();
        // mean real = 0.75 → 3 + 1
        assert_eq!(y[0], Tensor::from_vec(&[1, 1, 1, 1], vec![4u8]).unwrap());
    }

    /// Every broadcasting path (same shape, scalar on either side, per-channel runs on either
    /// side, materialized) against the per-element formula on numpy-broadcast values.
    #[test]
    fn add_and_mul_follow_the_formula_on_every_broadcast_path() {
        use crate::kernels::reference::{add_q8_one, mul_q8_one};
        let full = [2usize, 3, 4, 5];
        let data = |shape: &[usize], seed: usize| -> Vec<u8> {
            (0..shape.iter().product::<usize>()).map(|i| ((i * 73 + seed * 29) % 256) as u8).collect()
        };
        for small in [vec![2, 3, 4, 5], vec![1], vec![], vec![2, 3, 1, 1], vec![3, 1, 1], vec![5], vec![1, 4, 5], vec![3, 4, 5], vec![1, 3, 4, 1]] {
            for swap in [false, true] {
                let (sa, sb) = if swap { (small.clone(), full.to_vec()) } else { (full.to_vec(), small.clone()) };
                let (a, b) = (data(&sa, 1), data(&sb, 2));
                let inputs = [t(&sa, a.clone()), s(0.02), t(&[], vec![100u8]), t(&sb, b.clone()), s(0.03), t(&[], vec![3u8]), s(0.05), t(&[], vec![120u8])];
                let ab = broadcast_values(a.clone(), &sa, &full).unwrap();
                let bb = broadcast_values(b.clone(), &sb, &full).unwrap();
                let add = AddParams { a_scale: 0.02, a_zp: 100, b_scale: 0.03, b_zp: 3, y_scale: 0.05, y_zp: 120, lo: 0, hi: 255 };
                let mul = MulParams { a_zp: 100, b_zp: 3, multiplier: quant_math::multiplier(0.02, 0.03, 0.05), y_zp: 120, lo: 0, hi: 255 };
                let want: Vec<u8> = ab.iter().zip(&bb).map(|(&x, &y)| add_q8_one(x, y, &add)).collect();
                let y = run_in(MS, "QLinearAdd", 1, &[], &inputs).unwrap();
                assert_eq!(y[0], Tensor::from_vec(&full, want).unwrap(), "add {sa:?} + {sb:?}");
                let want: Vec<u8> = ab.iter().zip(&bb).map(|(&x, &y)| mul_q8_one(x, y, &mul)).collect();
                let y = run_in(MS, "QLinearMul", 1, &[], &inputs).unwrap();
                assert_eq!(y[0], Tensor::from_vec(&full, want).unwrap(), "mul {sa:?} * {sb:?}");
            }
        }
    }

    #[test]
    fn average_pool_requantizes_window_sums() {
        // 1 x 1 x 2 x 3, 2x2 window, stride 1, pads 1 on the end: windows hold 4, 2, 2, 1 values.
        let x = t(&[1, 1, 2, 3], vec![10u8, 20, 30, 40, 50, 61]);
        let attrs = [("kernel_shape", Attr::Ints(vec![2, 2])), ("pads", Attr::Ints(vec![0, 0, 1, 1]))];
        let inputs = [x.clone(), s(0.5), t(&[], vec![10u8]), s(0.25), t(&[], vec![1u8])];
        let y = run_in(MS, "QLinearAveragePool", 1, &attrs, &inputs).unwrap();
        // Σ(x - 10): [0+10+30+40, 10+20+40+51, 20+51, 30+40, 40+51, 51] / count · 2 + 1
        // counts (exclude pad): 4, 4, 2, 2, 2, 1 → 40, 60.5→60, 71, 70, 91, 102, then + 1
        assert_eq!(y[0], Tensor::from_vec(&[1, 1, 2, 3], vec![41u8, 61, 72, 71, 92, 103]).unwrap());
        // count_include_pad: every window counts 4 → sums / 4 · 2 + 1
        let mut with_pad = attrs.to_vec();
        with_pad.push(("count_include_pad", Attr::Int(1)));
        let y = run_in(MS, "QLinearAveragePool", 1, &with_pad, &inputs).unwrap();
        // 80/2 = 40, 121/2 = 60.5 → 60, 71/2 = 35.5 → 36, 35, 45.5 → 46, 25.5 → 26
        assert_eq!(y[0], Tensor::from_vec(&[1, 1, 2, 3], vec![41u8, 61, 37, 36, 47, 27]).unwrap());
        // channels_last: the same data as N H W C gives the same values in N H W C
        let mut cl = attrs.to_vec();
        cl.push(("channels_last", Attr::Int(1)));
        let inputs_cl = [t(&[1, 2, 3, 1], vec![10u8, 20, 30, 40, 50, 61]), s(0.5), t(&[], vec![10u8]), s(0.25), t(&[], vec![1u8])];
        let y = run_in(MS, "QLinearAveragePool", 1, &cl, &inputs_cl).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 2, 3, 1], vec![41u8, 61, 72, 71, 92, 103]).unwrap());
        // 1-D int8, and a 3-D input is a clear error
        let y = run_in(MS, "QLinearAveragePool", 1, &[("kernel_shape", Attr::Ints(vec![2]))], &[t(&[1, 1, 3], vec![-4i8, 2, 7]), s(1.0), None, s(1.0), None])
            .unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1, 1, 2], vec![-1i8, 4]).unwrap()); // -1, 4.5 → 4
        let e = run_in(MS, "QLinearAveragePool", 1, &[("kernel_shape", Attr::Ints(vec![1, 1, 1]))], &[t(&[1, 1, 1, 1, 1], vec![0u8]), s(1.0), None, s(1.0), None])
            .unwrap_err();
        assert!(e.to_string().contains("[1, 1, 1, 1, 1]"), "{e}");
    }

    #[test]
    fn concat_requantizes_inputs_with_other_params() {
        let y = run_in(
            MS,
            "QLinearConcat",
            1,
            &[("axis", Attr::Int(1))],
            &[
                s(1.0),
                t(&[], vec![0u8]),
                t(&[2, 1], vec![3u8, 4]),
                s(1.0),
                t(&[], vec![0u8]),
                t(&[2, 2], vec![10u8, 12, 14, 15]),
                s(0.5),
                t(&[], vec![10u8]),
            ],
        )
        .unwrap();
        // second input: (q - 10) * 0.5 → 0, 1, 2, 2.5→2
        assert_eq!(y[0], Tensor::from_vec(&[2, 3], vec![3u8, 0, 1, 4, 2, 2]).unwrap());
        // mismatched non-axis dims
        assert!(run_in(
            MS,
            "QLinearConcat",
            1,
            &[("axis", Attr::Int(1))],
            &[s(1.0), t(&[], vec![0u8]), t(&[2, 1], vec![3u8, 4]), s(1.0), None, t(&[1, 1], vec![1u8]), s(1.0), None],
        )
        .is_err());
    }

    #[test]
    fn leaky_relu_and_sigmoid() {
        let y = run_in(
            MS,
            "QLinearLeakyRelu",
            1,
            &[("alpha", Attr::Float(0.5))],
            &[t(&[4], vec![0u8, 100, 128, 200]), s(0.1), t(&[], vec![128u8]), s(0.1), t(&[], vec![128u8])],
        )
        .unwrap();
        // reals: -12.8 → -6.4 → 64 → 64; -2.8 → -1.4 → 114; 0 → 128; 7.2 → 200
        assert_eq!(y[0], Tensor::from_vec(&[4], vec![64u8, 114, 128, 200]).unwrap());
        let y = run_in(
            MS,
            "QLinearSigmoid",
            1,
            &[],
            &[t(&[3], vec![-128i8, 0, 127]), s(0.1), None, s(1.0 / 256.0), t(&[], vec![-128i8])],
        )
        .unwrap();
        // sigmoid(-12.8) ≈ 2.8e-6 → -128; sigmoid(0) = 0.5 → 128 - 128 = 0; sigmoid(12.7) ≈ 1 → 256 - 128 → 127
        assert_eq!(y[0], Tensor::from_vec(&[3], vec![-128i8, 0, 127]).unwrap());
    }

    /// The tables (built with the plan from constant parameters, or per run) hold the
    /// per-element formula for every input value: uint8 and int8, several scales and zero points.
    #[test]
    fn sigmoid_and_leaky_relu_tables_equal_their_formula_on_every_value() {
        let zp = |v: i32, signed: bool| if signed { t(&[], vec![v as i8]) } else { t(&[], vec![v as u8]) };
        for signed in [false, true] {
            let lo = if signed { -128 } else { 0 };
            for (xs, xz, ys, yz) in [(0.1f32, 10, 1.0 / 256.0, 0), (0.031, 100, 0.0039, 3), (0.5, 255, 0.02, 128), (0.003, 0, 0.7, 77)] {
                let (xz, yz) = (xz + lo, yz + lo);
                // Every value, twice, in a [2, 256] tensor.
                let values: Vec<i64> = Table::inputs(signed).to_i64_vec().unwrap();
                let all: Vec<i64> = values.iter().chain(values.iter().rev()).copied().collect();
                let x = if signed {
                    t(&[2, 256], all.iter().map(|&v| v as i8).collect::<Vec<i8>>())
                } else {
                    t(&[2, 256], all.iter().map(|&v| v as u8).collect::<Vec<u8>>())
                };
                let inputs = [x, s(xs), zp(xz, signed), s(ys), zp(yz, signed)];
                let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
                for (op, attrs, want) in [
                    ("QLinearSigmoid", vec![], qlinear_unary(&refs, |v| 1.0 / (1.0 + (-v).exp())).unwrap()),
                    ("QLinearLeakyRelu", vec![("alpha", Attr::Float(0.3))], qlinear_unary(&refs, |v| if v < 0.0 { 0.3 * v } else { v }).unwrap()),
                ] {
                    let per_run = run_in(MS, op, 1, &attrs, &inputs).unwrap();
                    let built = crate::ops::quant::test_util::run_with_constants_in(MS, op, 1, &attrs, &inputs, &[1, 2, 3, 4]).unwrap();
                    assert_eq!(per_run[0], want, "{op} signed {signed} x {xs}/{xz} y {ys}/{yz}");
                    assert_eq!(built[0], want, "{op} (plan-time table) signed {signed} x {xs}/{xz} y {ys}/{yz}");
                }
            }
        }
        // A float X is a type error, not a panic.
        assert!(run_in(MS, "QLinearSigmoid", 1, &[], &[t(&[1], vec![0f32]), s(1.0), None, s(1.0), None]).is_err());
    }

    #[test]
    fn softmax_follows_onnxruntime_table() {
        // One row of 3 uint8 values, x_scale 0.1 (zero point irrelevant), y = [0, 1] in 1/256 steps.
        let y = run_in(
            MS,
            "QLinearSoftmax",
            1,
            &[("axis", Attr::Int(-1)), ("opset", Attr::Int(13))],
            &[t(&[1, 3], vec![100u8, 110, 120]), s(0.1), t(&[], vec![7u8]), s(1.0 / 256.0), t(&[], vec![0u8])],
        )
        .unwrap();
        // softmax([-2, -1, 0]) = [0.0900, 0.2447, 0.6652] → × 256 → 23, 63, 170
        assert_eq!(y[0], Tensor::from_vec(&[1, 3], vec![23u8, 63, 170]).unwrap());
        // int8 along axis 0 of a [2, 2]: columns are rows; equal values split evenly.
        let y = run_in(
            MS,
            "QLinearSoftmax",
            1,
            &[("axis", Attr::Int(0)), ("opset", Attr::Int(13))],
            &[t(&[2, 2], vec![5i8, -3, 5, 100]), s(0.05), None, s(1.0 / 255.0), t(&[], vec![-128i8])],
        )
        .unwrap();
        // column 0: [0.5, 0.5] · 255 = 127.49999 in f32 → 127 − 128; column 1: softmax([-5.15, 0])
        // ≈ [0.0058, 0.9942] → 1, 253 (onnxruntime 1.32 gives the same [[-1, -127], [-1, 125]]).
        assert_eq!(y[0], Tensor::from_vec(&[2, 2], vec![-1i8, -127, -1, 125]).unwrap());
        // opset is required
        assert!(run_in(MS, "QLinearSoftmax", 1, &[], &[t(&[1], vec![1u8]), s(1.0), None, s(1.0), None]).is_err());
    }
}
