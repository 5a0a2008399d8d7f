//! The reference (scalar, exact) quantized ops: the oracle of the int8 kernels and what runs
//! pre-quantized models.
//!
//! - [`linear`]: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
//! - [`matmul`]: MatMulInteger, QLinearMatMul, and the plain i32-accumulating batched matmul.
//! - [`conv`]: ConvInteger, QLinearConv (geometry and im2col from `ops::conv_geometry`).
//! - [`gemm_kernel`]: the bridge from these ops to the int8 GEMM kernel (`kernels::qgemm`).
//! - [`depthwise`]: QLinearConv's depthwise branch (the direct 8-bit kernel).
//! - [`contrib`]: onnxruntime's `com.microsoft` QOperator ops (QLinearAdd, QLinearMul,
//!   QLinearGlobalAveragePool, QLinearConcat, QLinearLeakyRelu, QLinearSigmoid).
//! - [`gemm`]: `com.microsoft` QGemm (what a fused `DequantizeLinear → Gemm → QuantizeLinear` runs).
//! - [`lookup`]: the one 256-entry table mechanism of the 8-bit elementwise ops, and webptq's
//!   QLinearLookup (fused `DQ → elementwise ops → Q` regions).
//! - [`nbits`]: `com.microsoft` MatMulNBits (block-wise 2/4/8-bit weights) and its packed layout,
//!   shared with the weight-only quantizer.
//!
//! All arithmetic on single values (quantize, dequantize, requantize, saturate) lives in
//! [`crate::quant_math`]; this module adds tensors: reading scales and zero points, mapping each
//! element to its per-tensor / per-axis / per-block parameter, and dispatching on dtypes.
//! The integer matrix ops run on the int8 GEMM kernel where their parameters allow (see
//! [`gemm_kernel`]) and keep a plain reference path for the rest; the depthwise QLinearConv
//! branch and the QOperator Add, Mul, pools and Concat run the 8-bit kernels of
//! [`crate::kernels`] (bit-exact with their scalar oracles, which spell out the same formulas).
mod contrib;
mod conv;
mod depthwise;
mod gemm;
mod gemm_kernel;
mod linear;
pub(crate) mod lookup;
mod matmul;
pub(crate) mod nbits;

use super::registry::Registry;
use crate::error::{Error, Result};
use crate::quant_math::QInt;
use crate::tensor::{DType, Elem, Tensor};
use half::f16;

pub fn register(r: &mut Registry) {
    linear::register(r);
    matmul::register(r);
    conv::register(r);
    contrib::register(r);
    gemm::register(r);
    nbits::register(r);
    lookup::register(r);
}

/// The float type an op computes in. Values travel as f64 (exact for all three types); each
/// arithmetic step is rounded to the kind as that type would round it, so results match the
/// ONNX reference (numpy) bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum FloatKind {
    F16,
    F32,
    F64,
}

impl FloatKind {
    pub(crate) fn of(dtype: DType) -> Option<FloatKind> {
        match dtype {
            DType::F16 => Some(FloatKind::F16),
            DType::F32 => Some(FloatKind::F32),
            DType::F64 => Some(FloatKind::F64),
            _ => None,
        }
    }

    /// The kind of an ONNX `TensorProto.DataType` code (for `precision` / `output_dtype`).
    pub(crate) fn from_onnx_code(code: i64, what: &str) -> Result<FloatKind> {
        i32::try_from(code)
            .ok()
            .and_then(|c| DType::from_onnx_code(c).ok())
            .and_then(FloatKind::of)
            .ok_or_else(|| {
                Error::dtype(format!("{what} {code} is not a supported float type (float, float16, double)"))
            })
    }

    /// Rounds an f64 to this kind.
    #[inline]
    pub(crate) fn round(self, v: f64) -> f64 {
        match self {
            FloatKind::F16 => f16::from_f64(v).to_f64(),
            FloatKind::F32 => v as f32 as f64,
            FloatKind::F64 => v,
        }
    }

    /// `a / b` rounded once to this kind (for f16, computed in f32 and rounded to f16, which is
    /// the correctly rounded f16 quotient, as numpy computes it).
    #[inline]
    pub(crate) fn div(self, a: f64, b: f64) -> f64 {
        match self {
            FloatKind::F64 => a / b,
            _ => self.round(f64::from(a as f32 / b as f32)),
        }
    }

    /// `a * b` rounded once to this kind.
    #[inline]
    pub(crate) fn mul(self, a: f64, b: f64) -> f64 {
        match self {
            FloatKind::F64 => a * b,
            _ => self.round(f64::from(a as f32 * b as f32)),
        }
    }
}

/// The values of a float tensor as f64 (exact) and its kind; a type error for other tensors.
pub(crate) fn float_values(t: &Tensor, what: &str) -> Result<(FloatKind, Vec<f64>)> {
    Ok(match t {
        Tensor::F32(a) => (FloatKind::F32, a.iter().map(|&v| f64::from(v)).collect()),
        Tensor::F16(a) => (FloatKind::F16, a.iter().map(|&v| v.to_f64()).collect()),
        Tensor::F64(a) => (FloatKind::F64, a.iter().copied().collect()),
        other => {
            return Err(Error::dtype(format!(
                "{what} must be float, float16 or double, got {}",
                other.dtype()
            )))
        }
    })
}

/// A float tensor of `kind` from f64 values (rounded to the kind).
pub(crate) fn float_tensor(kind: FloatKind, shape: &[usize], values: Vec<f64>) -> Result<Tensor> {
    match kind {
        FloatKind::F32 => Tensor::from_vec(shape, values.into_iter().map(|v| v as f32).collect()),
        FloatKind::F16 => Tensor::from_vec(shape, values.into_iter().map(f16::from_f64).collect()),
        FloatKind::F64 => Tensor::from_vec(shape, values),
    }
}

/// The values of a quantized-integer tensor (u8, i8, u16, i16, i32) as i32.
pub(crate) fn int_values(t: &Tensor, what: &str) -> Result<Vec<i32>> {
    Ok(match t {
        Tensor::U8(a) => a.iter().map(|&v| v as i32).collect(),
        Tensor::I8(a) => a.iter().map(|&v| v as i32).collect(),
        Tensor::U16(a) => a.iter().map(|&v| v as i32).collect(),
        Tensor::I16(a) => a.iter().map(|&v| v as i32).collect(),
        Tensor::I32(a) => a.iter().copied().collect(),
        other => {
            return Err(Error::dtype(format!(
                "{what} must be uint8, int8, uint16, int16 or int32, got {}",
                other.dtype()
            )))
        }
    })
}

/// A tensor of the quantized type `dtype` (u8, i8, u16, i16) whose element `i` is `f(i)`.
pub(crate) fn quantized_tensor(
    dtype: DType,
    shape: &[usize],
    n: usize,
    f: impl Fn(usize) -> i64,
) -> Result<Tensor> {
    fn build<Q: QInt + Elem>(shape: &[usize], n: usize, f: impl Fn(usize) -> i64) -> Result<Tensor> {
        Tensor::from_vec(shape, (0..n).map(|i| crate::quant_math::saturate::<Q>(f(i))).collect::<Vec<Q>>())
    }
    match dtype {
        DType::U8 => build::<u8>(shape, n, f),
        DType::I8 => build::<i8>(shape, n, f),
        DType::U16 => build::<u16>(shape, n, f),
        DType::I16 => build::<i16>(shape, n, f),
        other => Err(Error::dtype(format!(
            "quantized type must be uint8, int8, uint16 or int16, got {other}"
        ))),
    }
}

/// `values` of shape `shape` broadcast (numpy rules) to exactly `target`, in row-major order;
/// `None` if the shapes do not broadcast to `target` or `values` does not fill `shape`.
pub(crate) fn broadcast_values<T: Clone>(values: Vec<T>, shape: &[usize], target: &[usize]) -> Option<Vec<T>> {
    let fits = super::broadcast_shapes(&[target, shape]).map(|s| s == target).unwrap_or(false);
    if !fits {
        return None;
    }
    let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), values).ok()?;
    arr.broadcast(ndarray::IxDyn(target)).map(|v| v.iter().cloned().collect())
}

/// Which scale / zero point each element of a tensor uses: one for the whole tensor, one per
/// index along an axis, or one per block of `block` consecutive indices along an axis. The layout
/// of parameters, not parameters (those are the op's scale and zero-point inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamLayout {
    Scalar,
    /// `inner` = product of the dims after the axis, `dim` = the axis' length.
    Axis { inner: usize, dim: usize },
    /// Like `Axis`, with `pdim` = the parameter's length along the axis and the dims before the
    /// axis also indexing the parameter.
    Block { inner: usize, dim: usize, pdim: usize, block: usize },
}

impl ParamLayout {
    /// The map for a parameter of shape `param` against data of shape `x` (ONNX
    /// QuantizeLinear / DequantizeLinear rules). A parameter with one element is per-tensor
    /// whatever its shape; otherwise `block_size == 0` needs a 1-D parameter of the axis' length
    /// and `block_size > 0` a parameter of `x`'s rank whose axis dim is
    /// `ceil(x[axis] / block_size)` and whose other dims equal `x`'s.
    pub(crate) fn new(x: &[usize], param: &[usize], axis: i64, block_size: i64, what: &str) -> Result<ParamLayout> {
        let numel: usize = param.iter().product();
        if numel == 1 {
            return Ok(ParamLayout::Scalar);
        }
        if block_size < 0 {
            return Err(Error::invalid(format!("block_size must be >= 0, got {block_size}")));
        }
        let ax = super::normalize_axis(axis, x.len()).map_err(|_| {
            Error::shape(format!("{what} has shape {param:?} (not per-tensor) but axis {axis} is out of range for the input's shape {x:?}"))
        })?;
        let dim = x[ax];
        let inner: usize = x[ax + 1..].iter().product();
        if block_size == 0 {
            if param.len() != 1 || param[0] != dim {
                return Err(Error::shape(format!(
                    "{what} has shape {param:?}; per-axis quantization along axis {ax} of an input of shape {x:?} needs shape [{dim}]"
                )));
            }
            return Ok(ParamLayout::Axis { inner, dim });
        }
        let block = block_size as usize;
        let pdim = dim.div_ceil(block);
        let ok = param.len() == x.len()
            && param.iter().zip(x).enumerate().all(|(d, (&p, &xd))| if d == ax { p == pdim } else { p == xd });
        if !ok {
            let mut want = x.to_vec();
            want[ax] = pdim;
            return Err(Error::shape(format!(
                "{what} has shape {param:?}; blocked quantization (block_size {block}) along axis {ax} of an input of shape {x:?} needs shape {want:?}"
            )));
        }
        Ok(ParamLayout::Block { inner, dim, pdim, block })
    }

    /// The parameter index of flat (row-major) element `i` of the data.
    #[inline]
    pub(crate) fn index(&self, i: usize) -> usize {
        match *self {
            ParamLayout::Scalar => 0,
            ParamLayout::Axis { inner, dim } => (i / inner) % dim,
            ParamLayout::Block { inner, dim, pdim, block } => {
                let outer = i / (inner * dim);
                let a = (i / inner) % dim;
                (outer * pdim + a / block) * inner + i % inner
            }
        }
    }
}

/// Checks that a zero point has the scale's shape (both per-tensor counts as equal).
pub(crate) fn check_same_shape(scale: &Tensor, zero_point: &Tensor, scale_name: &str, zp_name: &str) -> Result<()> {
    if scale.shape() == zero_point.shape() || (scale.len() == 1 && zero_point.len() == 1) {
        Ok(())
    } else {
        Err(Error::shape(format!(
            "{zp_name} has shape {:?} but {scale_name} has shape {:?}; they must match",
            zero_point.shape(),
            scale.shape()
        )))
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use crate::error::Result;
    use crate::graph::{Attr, Graph, Node};
    use crate::ops::registry::BuildContext;
    use crate::tensor::Tensor;

    /// Builds `domain.op` with `attrs` at `opset` from the standard registry and runs it once.
    pub(crate) fn run_in(
        domain: &str,
        op: &str,
        opset: i64,
        attrs: &[(&str, Attr)],
        inputs: &[Option<Tensor>],
    ) -> Result<Vec<Tensor>> {
        let mut node = Node {
            name: String::new(),
            op_type: op.into(),
            domain: domain.into(),
            inputs: vec![],
            outputs: vec![],
            attrs: Default::default(),
        };
        for (k, v) in attrs {
            node.attrs.set(k, v.clone());
        }
        let graph = Graph::default();
        let ctx = BuildContext { node: &node, graph: &graph, opset };
        let built = crate::ops::Registry::standard().build(&ctx)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
        built.run(&refs)
    }

    /// [`run_with_constants_in`] for the default domain.
    pub(crate) fn run_with_constants(
        op: &str,
        opset: i64,
        attrs: &[(&str, Attr)],
        inputs: &[Option<Tensor>],
        constant: &[usize],
    ) -> Result<Vec<Tensor>> {
        run_with_constants_in("", op, opset, attrs, inputs, constant)
    }

    /// Builds `domain.op` over a graph in which the inputs listed in `constant` are
    /// initializers (so the op may preprocess them when built) and runs it once.
    pub(crate) fn run_with_constants_in(
        domain: &str,
        op: &str,
        opset: i64,
        attrs: &[(&str, Attr)],
        inputs: &[Option<Tensor>],
        constant: &[usize],
    ) -> Result<Vec<Tensor>> {
        let mut graph = Graph::default();
        let mut node = Node {
            name: String::new(),
            op_type: op.into(),
            domain: domain.into(),
            inputs: vec![],
            outputs: vec![],
            attrs: Default::default(),
        };
        for (k, v) in attrs {
            node.attrs.set(k, v.clone());
        }
        for (i, t) in inputs.iter().enumerate() {
            node.inputs.push(t.as_ref().map(|t| {
                let id = graph.add_value(&format!("in{i}"), Some(t.dtype()), None);
                if constant.contains(&i) {
                    graph.initializers.insert(id, std::sync::Arc::new(t.clone()));
                }
                id
            }));
        }
        let ctx = BuildContext { node: &node, graph: &graph, opset };
        let built = crate::ops::Registry::standard().build(&ctx)?;
        let refs: Vec<Option<&Tensor>> = inputs.iter().map(|t| t.as_ref()).collect();
        built.run(&refs)
    }

    pub(crate) use crate::kernels::bench::xorshift;

    /// `n` deterministic bytes (see [`xorshift`]).
    pub(crate) fn xorshift_bytes(n: usize, seed: u32) -> Vec<u8> {
        xorshift(n, seed, |s| (s >> 8) as u8)
    }

    /// An 8-bit tensor of `bytes`: int8 when `signed`, else uint8.
    pub(crate) fn q8_tensor(shape: &[usize], bytes: Vec<u8>, signed: bool) -> Tensor {
        if signed {
            Tensor::from_vec(shape, bytes.into_iter().map(|b| b as i8).collect::<Vec<i8>>()).unwrap()
        } else {
            Tensor::from_vec(shape, bytes).unwrap()
        }
    }

    /// An optional input from `shape` and `values` (the tests' shorthand).
    pub(crate) fn t<T: crate::tensor::Elem>(shape: &[usize], v: Vec<T>) -> Option<Tensor> {
        Some(Tensor::from_vec(shape, v).unwrap())
    }

    /// [`run_in`] for the default domain.
    pub(crate) fn run(op: &str, opset: i64, attrs: &[(&str, Attr)], inputs: &[Option<Tensor>]) -> Result<Vec<Tensor>> {
        run_in("", op, opset, attrs, inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_map_indexes_axis_and_blocks() {
        let m = ParamLayout::new(&[2, 3, 2], &[3], 1, 0, "s").unwrap();
        let idx: Vec<_> = (0..12).map(|i| m.index(i)).collect();
        assert_eq!(idx, vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
        // x [3, 5] blocked along axis 1 by 2 → param [3, 3]
        let m = ParamLayout::new(&[3, 5], &[3, 3], 1, 2, "s").unwrap();
        let idx: Vec<_> = (0..15).map(|i| m.index(i)).collect();
        assert_eq!(idx, vec![0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7, 8]);
        // blocked along axis 0: x [4, 2], block 3 → param [2, 2]
        let m = ParamLayout::new(&[4, 2], &[2, 2], 0, 3, "s").unwrap();
        let idx: Vec<_> = (0..8).map(|i| m.index(i)).collect();
        assert_eq!(idx, vec![0, 1, 0, 1, 0, 1, 2, 3]);
        assert_eq!(ParamLayout::new(&[4, 2], &[1, 1], 0, 3, "s").unwrap(), ParamLayout::Scalar);
        assert!(ParamLayout::new(&[4, 2], &[3], 1, 0, "s").is_err());
        assert!(ParamLayout::new(&[4, 2], &[2, 1], 0, 3, "s").is_err());
        assert!(ParamLayout::new(&[], &[2], 1, 0, "s").is_err());
        assert!(ParamLayout::new(&[4, 2], &[2, 2], 0, -1, "s").is_err());
    }

    #[test]
    fn float_kinds_round_like_their_types() {
        assert_eq!(FloatKind::F32.div(1.0, 3.0), f64::from(1.0f32 / 3.0));
        assert_eq!(FloatKind::F16.div(1.0, 3.0), f16::from_f32(1.0 / 3.0).to_f64());
        assert_eq!(FloatKind::F64.div(1.0, 3.0), 1.0 / 3.0);
    }
}
