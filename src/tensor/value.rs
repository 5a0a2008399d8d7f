//! [`Tensor`]: an n-dimensional array of one element type, backed by `ndarray::ArrayD`.
//!
//! Ops are written generically over [`Elem`] and dispatched on the enum with [`dispatch!`]
//! (same element type in, same out) or by matching the variants they accept.
use super::dtype::DType;
use crate::error::{Error, Result};
use half::f16;
use ndarray::{ArrayD, IxDyn};

/// Most elements a single tensor may hold: 2^31 bytes of f32. Larger requests are an error,
/// never an allocation that takes the wasm instance down.
pub const MAX_BYTES: usize = 1 << 31;

#[derive(Debug, Clone, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    I32(ArrayD<i32>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
}

/// Runs `$body` with `$a` bound to the inner array, whatever the element type.
#[macro_export]
macro_rules! dispatch {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $body,
            $crate::tensor::Tensor::F64($a) => $body,
            $crate::tensor::Tensor::F16($a) => $body,
            $crate::tensor::Tensor::I8($a) => $body,
            $crate::tensor::Tensor::U8($a) => $body,
            $crate::tensor::Tensor::I16($a) => $body,
            $crate::tensor::Tensor::U16($a) => $body,
            $crate::tensor::Tensor::I32($a) => $body,
            $crate::tensor::Tensor::U32($a) => $body,
            $crate::tensor::Tensor::I64($a) => $body,
            $crate::tensor::Tensor::U64($a) => $body,
            $crate::tensor::Tensor::Bool($a) => $body,
        }
    };
}

/// Like [`dispatch!`], but wraps the resulting array back into the same variant.
#[macro_export]
macro_rules! map_same {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            $crate::tensor::Tensor::F32($a) => $crate::tensor::Tensor::F32($body),
            $crate::tensor::Tensor::F64($a) => $crate::tensor::Tensor::F64($body),
            $crate::tensor::Tensor::F16($a) => $crate::tensor::Tensor::F16($body),
            $crate::tensor::Tensor::I8($a) => $crate::tensor::Tensor::I8($body),
            $crate::tensor::Tensor::U8($a) => $crate::tensor::Tensor::U8($body),
            $crate::tensor::Tensor::I16($a) => $crate::tensor::Tensor::I16($body),
            $crate::tensor::Tensor::U16($a) => $crate::tensor::Tensor::U16($body),
            $crate::tensor::Tensor::I32($a) => $crate::tensor::Tensor::I32($body),
            $crate::tensor::Tensor::U32($a) => $crate::tensor::Tensor::U32($body),
            $crate::tensor::Tensor::I64($a) => $crate::tensor::Tensor::I64($body),
            $crate::tensor::Tensor::U64($a) => $crate::tensor::Tensor::U64($body),
            $crate::tensor::Tensor::Bool($a) => $crate::tensor::Tensor::Bool($body),
        }
    };
}

/// An element type a [`Tensor`] can hold.
pub trait Elem: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const DTYPE: DType;
    fn wrap(a: ArrayD<Self>) -> Tensor;
    fn view(t: &Tensor) -> Option<&ArrayD<Self>>;
    fn unwrap(t: Tensor) -> std::result::Result<ArrayD<Self>, Tensor>;
}

macro_rules! impl_elem {
    ($($ty:ty => $v:ident),*) => {$(
        impl Elem for $ty {
            const DTYPE: DType = DType::$v;
            fn wrap(a: ArrayD<Self>) -> Tensor { Tensor::$v(a) }
            fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
                if let Tensor::$v(a) = t { Some(a) } else { None }
            }
            fn unwrap(t: Tensor) -> std::result::Result<ArrayD<Self>, Tensor> {
                if let Tensor::$v(a) = t { Ok(a) } else { Err(t) }
            }
        }
        impl From<ArrayD<$ty>> for Tensor {
            fn from(a: ArrayD<$ty>) -> Tensor { Tensor::$v(a) }
        }
    )*};
}
impl_elem!(f32 => F32, f64 => F64, f16 => F16, i8 => I8, u8 => U8, i16 => I16, u16 => U16,
           i32 => I32, u32 => U32, i64 => I64, u64 => U64, bool => Bool);

/// Element count of a shape, or an error if it overflows or exceeds [`MAX_BYTES`].
pub fn checked_numel(shape: &[usize], dtype: DType) -> Result<usize> {
    // ndarray also requires the product of the non-zero dims to fit in isize, even for an empty
    // array ([2^62, 4, 0] has no elements but would panic there), so check both.
    let mut n: usize = 1;
    let mut nonzero: usize = 1;
    for &d in shape {
        n = n.checked_mul(d).ok_or_else(|| Error::too_large(format!("shape {shape:?} overflows")))?;
        if d != 0 {
            nonzero = nonzero
                .checked_mul(d)
                .filter(|&p| p <= isize::MAX as usize)
                .ok_or_else(|| Error::too_large(format!("shape {shape:?} overflows")))?;
        }
    }
    if n.saturating_mul(dtype.size_of()) > MAX_BYTES {
        return Err(Error::too_large(format!(
            "a {dtype} tensor of shape {shape:?} needs {} bytes, more than the {} allowed",
            n.saturating_mul(dtype.size_of()),
            MAX_BYTES
        )));
    }
    Ok(n)
}

impl Tensor {
    /// A tensor from a flat vector and a shape; errors if the sizes disagree.
    pub fn from_vec<T: Elem>(shape: &[usize], data: Vec<T>) -> Result<Tensor> {
        let n = checked_numel(shape, T::DTYPE)?;
        if n != data.len() {
            return Err(Error::shape(format!(
                "shape {shape:?} needs {n} elements but {} were given",
                data.len()
            )));
        }
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .map(T::wrap)
            .map_err(|e| Error::shape(format!("shape {shape:?}: {e}")))
    }

    pub fn scalar<T: Elem>(v: T) -> Tensor {
        T::wrap(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A tensor of zeros (false for bool); errors if the shape is too large.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Result<Tensor> {
        checked_numel(shape, dtype)?;
        fn z<T: Elem>(shape: &[usize]) -> Tensor {
            T::wrap(ArrayD::from_elem(IxDyn(shape), T::default()))
        }
        Ok(match dtype {
            DType::F32 => z::<f32>(shape),
            DType::F64 => z::<f64>(shape),
            DType::F16 => z::<f16>(shape),
            DType::I8 => z::<i8>(shape),
            DType::U8 => z::<u8>(shape),
            DType::I16 => z::<i16>(shape),
            DType::U16 => z::<u16>(shape),
            DType::I32 => z::<i32>(shape),
            DType::U32 => z::<u32>(shape),
            DType::I64 => z::<i64>(shape),
            DType::U64 => z::<u64>(shape),
            DType::Bool => z::<bool>(shape),
        })
    }

    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::F16(_) => DType::F16,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I16(_) => DType::I16,
            Tensor::U16(_) => DType::U16,
            Tensor::I32(_) => DType::I32,
            Tensor::U32(_) => DType::U32,
            Tensor::I64(_) => DType::I64,
            Tensor::U64(_) => DType::U64,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    pub fn shape(&self) -> &[usize] {
        dispatch!(self, a => a.shape())
    }

    pub fn rank(&self) -> usize {
        self.shape().len()
    }

    pub fn len(&self) -> usize {
        dispatch!(self, a => a.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn size_in_bytes(&self) -> usize {
        self.len() * self.dtype().size_of()
    }

    /// The inner array if the element type is `T`, else a type error naming both types.
    pub fn array<T: Elem>(&self) -> Result<&ArrayD<T>> {
        T::view(self).ok_or_else(|| {
            Error::dtype(format!("expected a {} tensor, got {}", T::DTYPE, self.dtype()))
        })
    }

    pub fn into_array<T: Elem>(self) -> Result<ArrayD<T>> {
        T::unwrap(self).map_err(|t| {
            Error::dtype(format!("expected a {} tensor, got {}", T::DTYPE, t.dtype()))
        })
    }

    /// Values of an integer tensor as i64 (for shapes, axes, indices).
    pub fn to_i64_vec(&self) -> Result<Vec<i64>> {
        Ok(match self {
            Tensor::I64(a) => a.iter().copied().collect(),
            Tensor::I32(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::I16(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::I8(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::U8(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::U16(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::U32(a) => a.iter().map(|&v| v as i64).collect(),
            Tensor::U64(a) => a.iter().map(|&v| v as i64).collect(),
            other => {
                return Err(Error::dtype(format!(
                    "expected an integer tensor, got {}",
                    other.dtype()
                )))
            }
        })
    }

    /// Values converted to f32 (for calibration statistics and comparisons).
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match self {
            Tensor::F32(a) => a.iter().copied().collect(),
            Tensor::F64(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::F16(a) => a.iter().map(|&v| v.to_f32()).collect(),
            Tensor::I8(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::U8(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::I16(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::U16(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::I32(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::U32(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::I64(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::U64(a) => a.iter().map(|&v| v as f32).collect(),
            Tensor::Bool(a) => a.iter().map(|&v| v as u8 as f32).collect(),
        }
    }

    /// The data as little-endian bytes in row-major order (ONNX raw_data, .npy, JS typed arrays).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size_in_bytes());
        match self {
            Tensor::F32(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::F64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::F16(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::I8(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::U8(a) => a.iter().for_each(|v| out.push(*v)),
            Tensor::I16(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::U16(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::I32(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::U32(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::I64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::U64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
            Tensor::Bool(a) => a.iter().for_each(|v| out.push(*v as u8)),
        }
        out
    }

    /// A tensor from little-endian bytes; errors if the byte count does not match the shape.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor> {
        let n = checked_numel(shape, dtype)?;
        let need = n * dtype.size_of();
        if bytes.len() != need {
            return Err(Error::shape(format!(
                "a {dtype} tensor of shape {shape:?} needs {need} bytes, got {}",
                bytes.len()
            )));
        }
        macro_rules! le {
            ($ty:ty, $w:expr) => {
                Tensor::from_vec::<$ty>(
                    shape,
                    bytes.chunks_exact($w).map(|c| <$ty>::from_le_bytes(c.try_into().unwrap_or_default())).collect(),
                )
            };
        }
        match dtype {
            DType::F32 => le!(f32, 4),
            DType::F64 => le!(f64, 8),
            DType::F16 => Tensor::from_vec::<f16>(
                shape,
                bytes.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]])).collect(),
            ),
            DType::I8 => Tensor::from_vec::<i8>(shape, bytes.iter().map(|&b| b as i8).collect()),
            DType::U8 => Tensor::from_vec::<u8>(shape, bytes.to_vec()),
            DType::I16 => le!(i16, 2),
            DType::U16 => le!(u16, 2),
            DType::I32 => le!(i32, 4),
            DType::U32 => le!(u32, 4),
            DType::I64 => le!(i64, 8),
            DType::U64 => le!(u64, 8),
            DType::Bool => Tensor::from_vec::<bool>(shape, bytes.iter().map(|&b| b != 0).collect()),
        }
    }
}

impl std::fmt::Display for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:?}", self.dtype(), self.shape())
    }
}
