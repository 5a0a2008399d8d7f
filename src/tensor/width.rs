//! Width-erased tensors for data movement (design convention 13, docs/size.md): the elements of
//! a [`Tensor`] seen as 1-, 2-, 4- or 8-byte unsigned lanes (`u8`/`u16`/`u32`/`u64`).
//!
//! An op that moves elements without reading them (Reshape, Transpose, Concat, Slice, Gather,
//! Pad, Where's selection, ...) is written once over a [`Lane`] type and compiled four times,
//! not once per element type (twelve):
//!
//! - [`Tensor::lanes`] views any tensor's elements as lanes without copying, whatever its
//!   layout (ndarray's raw-view cast keeps shape and strides);
//! - [`Tensor::into_lanes`] gives the buffer away without copying when the array is in standard
//!   layout and starts at its buffer's start (else one copy, made in the lane type);
//! - [`Tensor::from_lanes`] puts lanes back under an element type, again without copying (a
//!   non-standard-layout result is copied to standard layout first, so every tensor made here
//!   is row-major and contiguous, as the ops expect).
//!
//! Use [`with_lanes!`](crate::with_lanes) to run a generic body on a [`LanesView`] and
//! [`map_lanes!`](crate::map_lanes) to also wrap an `ArrayD<W>` result back into [`Lanes`].
//!
//! # Safety argument
//!
//! The reinterpretation is only between types of identical size and alignment: f32/i32 ↔ u32,
//! f64/i64 ↔ u64, f16/i16 ↔ u16, i8/bool ↔ u8 (`reinterpret_*` assert it; the asserts are
//! resolved at compile time). Every bit pattern of a lane is a valid f32, f64, f16 or integer,
//! so those directions are always sound. The one element type with invalid bit patterns is bool
//! (only the bytes 0 and 1 are valid): [`Tensor::from_lanes`] maps every nonzero 1-byte lane
//! to 1 before the bytes become bools, so no safe call can make an invalid bool, whatever the
//! lanes hold. Data movement copies whole lanes out of bool tensors (0 or 1 already), so that
//! normalisation never changes a value there.
use super::dtype::DType;
use super::value::Tensor;
use crate::error::{Error, Result};
use half::f16;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// An owned, width-erased array (standard layout). The element type lives beside it, with the
/// caller (e.g. the `dtype` given to [`Tensor::from_lanes`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Lanes {
    B1(ArrayD<u8>),
    B2(ArrayD<u16>),
    B4(ArrayD<u32>),
    B8(ArrayD<u64>),
}

/// A borrowed, width-erased view of a tensor's elements (any layout).
#[derive(Debug, Clone)]
pub enum LanesView<'a> {
    B1(ArrayViewD<'a, u8>),
    B2(ArrayViewD<'a, u16>),
    B4(ArrayViewD<'a, u32>),
    B8(ArrayViewD<'a, u64>),
}

/// One lane type: `u8`, `u16`, `u32` or `u64`.
pub trait Lane: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    fn wrap(a: ArrayD<Self>) -> Lanes;
    /// The view if `v` has this width.
    fn of<'a>(v: LanesView<'a>) -> Option<ArrayViewD<'a, Self>>;
    /// A tensor's elements as lanes of this width, if its element type has this width.
    fn view_of(t: &Tensor) -> Option<ArrayViewD<'_, Self>> {
        Self::of(t.lanes())
    }
}

macro_rules! impl_lane {
    ($($ty:ty => $v:ident),*) => {$(
        impl Lane for $ty {
            fn wrap(a: ArrayD<Self>) -> Lanes { Lanes::$v(a) }
            fn of<'a>(v: LanesView<'a>) -> Option<ArrayViewD<'a, Self>> {
                if let LanesView::$v(a) = v { Some(a) } else { None }
            }
        }
        impl From<ArrayD<$ty>> for Lanes {
            fn from(a: ArrayD<$ty>) -> Lanes { Lanes::$v(a) }
        }
    )*};
}
impl_lane!(u8 => B1, u16 => B2, u32 => B4, u64 => B8);

/// Runs `$body` with `$a` bound to the lane array of a [`LanesView`] or [`Lanes`] (whichever
/// `$enum` names: `LanesView` by default), whatever its width.
#[macro_export]
macro_rules! with_lanes {
    ($v:expr, $a:ident => $body:expr) => {
        $crate::with_lanes!(LanesView: $v, $a => $body)
    };
    ($enum:ident: $v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::tensor::$enum::B1($a) => $body,
            $crate::tensor::$enum::B2($a) => $body,
            $crate::tensor::$enum::B4($a) => $body,
            $crate::tensor::$enum::B8($a) => $body,
        }
    };
}

/// Like [`with_lanes!`], but wraps the `ArrayD<W>` that `$body` gives back into [`Lanes`].
#[macro_export]
macro_rules! map_lanes {
    ($v:expr, $a:ident => $body:expr) => {
        $crate::map_lanes!(LanesView: $v, $a => $body)
    };
    ($enum:ident: $v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::tensor::$enum::B1($a) => $crate::tensor::Lanes::B1($body),
            $crate::tensor::$enum::B2($a) => $crate::tensor::Lanes::B2($body),
            $crate::tensor::$enum::B4($a) => $crate::tensor::Lanes::B4($body),
            $crate::tensor::$enum::B8($a) => $crate::tensor::Lanes::B8($body),
        }
    };
}

/// `T`'s elements seen as `W`s (same size and alignment), without copying, whatever the layout.
fn reinterpret_view<T, W>(a: &ArrayD<T>) -> ArrayViewD<'_, W> {
    assert!(std::mem::size_of::<T>() == std::mem::size_of::<W>() && std::mem::align_of::<T>() == std::mem::align_of::<W>());
    // SAFETY: same size and alignment (asserted), every bit pattern of T is a valid W (W is a
    // plain unsigned integer), and the view borrows `a`, so the elements outlive it.
    unsafe { a.raw_view().cast::<W>().deref_into_view() }
}

/// A vector of `T`s as a vector of `W`s (same size and alignment), without copying.
///
/// # Safety
/// Every bit pattern of each element must be a valid `W`.
unsafe fn reinterpret_vec<T, W>(v: Vec<T>) -> Vec<W> {
    assert!(std::mem::size_of::<T>() == std::mem::size_of::<W>() && std::mem::align_of::<T>() == std::mem::align_of::<W>());
    let mut v = std::mem::ManuallyDrop::new(v);
    // SAFETY: same size and alignment, so the allocation's layout is unchanged; the caller
    // guarantees the elements are valid `W`s.
    unsafe { Vec::from_raw_parts(v.as_mut_ptr() as *mut W, v.len(), v.capacity()) }
}

/// The buffer of a standard-layout array that starts at its buffer's start, with the shape.
fn standard_vec<T>(a: ArrayD<T>) -> std::result::Result<(Vec<usize>, Vec<T>), ArrayD<T>> {
    if !a.is_standard_layout() {
        return Err(a);
    }
    let shape = a.shape().to_vec();
    let len = a.len();
    let (v, offset) = a.into_raw_vec_and_offset();
    if v.len() == len && offset.unwrap_or(0) == 0 {
        Ok((shape, v))
    } else {
        // A standard-layout view into a larger buffer: rebuild the array to copy it below.
        let start = offset.unwrap_or(0);
        let data = v.into_iter().skip(start).take(len).collect();
        Ok((shape, data))
    }
}

/// An owned array of `T`s as `W`s (same size and alignment), in standard layout: without
/// copying when it already is (the copy otherwise is made in the lane type `W`).
fn into_lanes_of<T, W: Lane>(a: ArrayD<T>) -> ArrayD<W> {
    match standard_vec(a) {
        // SAFETY (reinterpret_vec): W is a plain unsigned integer, valid for any bits.
        Ok((shape, v)) => unsafe { ArrayD::from_shape_vec_unchecked(IxDyn(&shape), reinterpret_vec::<T, W>(v)) },
        Err(a) => reinterpret_view::<T, W>(&a).as_standard_layout().into_owned(),
    }
}

/// An owned lane array in standard layout as a vector, copying only if it is not one already.
fn lanes_vec<W: Lane>(a: ArrayD<W>) -> (Vec<usize>, Vec<W>) {
    match standard_vec(a) {
        Ok(sv) => sv,
        Err(a) => (a.shape().to_vec(), a.iter().copied().collect()),
    }
}

/// Lanes `W` as an array of `T` (same size and alignment), without copying.
///
/// # Safety
/// Every lane must be a valid `T` (always so for the numeric types; for bool, 0 or 1).
unsafe fn from_lanes_of<W: Lane, T>(shape: &[usize], v: Vec<W>) -> ArrayD<T> {
    // SAFETY: the vector has exactly the shape's element count (from a standard-layout array)
    // and the caller guarantees the lanes are valid `T`s.
    unsafe { ArrayD::from_shape_vec_unchecked(IxDyn(shape), reinterpret_vec::<W, T>(v)) }
}

impl Lanes {
    pub fn shape(&self) -> &[usize] {
        with_lanes!(Lanes: self, a => a.shape())
    }
    /// The width in bytes (1, 2, 4 or 8).
    pub fn width(&self) -> usize {
        match self {
            Lanes::B1(_) => 1,
            Lanes::B2(_) => 2,
            Lanes::B4(_) => 4,
            Lanes::B8(_) => 8,
        }
    }
}

impl LanesView<'_> {
    pub fn shape(&self) -> &[usize] {
        with_lanes!(LanesView: self, a => a.shape())
    }
}

impl Tensor {
    /// The elements as lanes of their width, without copying (any layout).
    pub fn lanes(&self) -> LanesView<'_> {
        match self {
            Tensor::F32(a) => LanesView::B4(reinterpret_view(a)),
            Tensor::I32(a) => LanesView::B4(reinterpret_view(a)),
            Tensor::U32(a) => LanesView::B4(a.view()),
            Tensor::F64(a) => LanesView::B8(reinterpret_view(a)),
            Tensor::I64(a) => LanesView::B8(reinterpret_view(a)),
            Tensor::U64(a) => LanesView::B8(a.view()),
            Tensor::F16(a) => LanesView::B2(reinterpret_view(a)),
            Tensor::I16(a) => LanesView::B2(reinterpret_view(a)),
            Tensor::U16(a) => LanesView::B2(a.view()),
            Tensor::I8(a) => LanesView::B1(reinterpret_view(a)),
            Tensor::U8(a) => LanesView::B1(a.view()),
            Tensor::Bool(a) => LanesView::B1(reinterpret_view(a)),
        }
    }

    /// The elements as owned lanes in standard layout; the buffer is kept (no copy) when the
    /// array is in standard layout already.
    pub fn into_lanes(self) -> Lanes {
        match self {
            Tensor::F32(a) => Lanes::B4(into_lanes_of(a)),
            Tensor::I32(a) => Lanes::B4(into_lanes_of(a)),
            Tensor::U32(a) => Lanes::B4(into_lanes_of(a)),
            Tensor::F64(a) => Lanes::B8(into_lanes_of(a)),
            Tensor::I64(a) => Lanes::B8(into_lanes_of(a)),
            Tensor::U64(a) => Lanes::B8(into_lanes_of(a)),
            Tensor::F16(a) => Lanes::B2(into_lanes_of(a)),
            Tensor::I16(a) => Lanes::B2(into_lanes_of(a)),
            Tensor::U16(a) => Lanes::B2(into_lanes_of(a)),
            Tensor::I8(a) => Lanes::B1(into_lanes_of(a)),
            Tensor::U8(a) => Lanes::B1(into_lanes_of(a)),
            Tensor::Bool(a) => Lanes::B1(into_lanes_of(a)),
        }
    }

    /// Lanes as a tensor of `dtype`, which must have the lanes' width; the buffer is kept (no
    /// copy) when the lanes are in standard layout. Nonzero 1-byte lanes become `true` for bool.
    pub fn from_lanes(dtype: DType, lanes: Lanes) -> Result<Tensor> {
        if dtype.size_of() != lanes.width() {
            return Err(Error::dtype(format!(
                "internal: {}-byte lanes cannot hold {dtype} elements ({} bytes)",
                lanes.width(),
                dtype.size_of()
            )));
        }
        // SAFETY (from_lanes_of): every bit pattern is a valid element of the numeric types;
        // bool bytes are normalised to 0/1 first.
        Ok(unsafe {
            match lanes {
                Lanes::B1(a) => {
                    let (s, mut v) = lanes_vec(a);
                    match dtype {
                        DType::U8 => Tensor::U8(from_lanes_of(&s, v)),
                        DType::I8 => Tensor::I8(from_lanes_of(&s, v)),
                        _ => {
                            v.iter_mut().for_each(|b| *b = (*b != 0) as u8);
                            Tensor::Bool(from_lanes_of(&s, v))
                        }
                    }
                }
                Lanes::B2(a) => {
                    let (s, v) = lanes_vec(a);
                    match dtype {
                        DType::U16 => Tensor::U16(from_lanes_of(&s, v)),
                        DType::I16 => Tensor::I16(from_lanes_of(&s, v)),
                        _ => Tensor::F16(from_lanes_of::<u16, f16>(&s, v)),
                    }
                }
                Lanes::B4(a) => {
                    let (s, v) = lanes_vec(a);
                    match dtype {
                        DType::U32 => Tensor::U32(from_lanes_of(&s, v)),
                        DType::I32 => Tensor::I32(from_lanes_of(&s, v)),
                        _ => Tensor::F32(from_lanes_of(&s, v)),
                    }
                }
                Lanes::B8(a) => {
                    let (s, v) = lanes_vec(a);
                    match dtype {
                        DType::U64 => Tensor::U64(from_lanes_of(&s, v)),
                        DType::I64 => Tensor::I64(from_lanes_of(&s, v)),
                        _ => Tensor::F64(from_lanes_of(&s, v)),
                    }
                }
            }
        })
    }

    /// The same elements under a new shape of the same element count (row-major order),
    /// keeping the buffer (no copy) when the tensor is in standard layout.
    pub fn into_shape(self, shape: &[usize]) -> Result<Tensor> {
        if super::checked_numel(shape, self.dtype())? != self.len() {
            return Err(Error::shape(format!("cannot reshape {:?} ({} elements) to {shape:?}", self.shape(), self.len())));
        }
        let dtype = self.dtype();
        Tensor::from_lanes(dtype, relabel(self.into_lanes(), shape)?)
    }

    /// A copy under a new shape of the same element count (row-major order).
    pub fn reshaped(&self, shape: &[usize]) -> Result<Tensor> {
        if super::checked_numel(shape, self.dtype())? != self.len() {
            return Err(Error::shape(format!("cannot reshape {:?} ({} elements) to {shape:?}", self.shape(), self.len())));
        }
        let copy = map_lanes!(self.lanes(), a => a.as_standard_layout().into_owned());
        Tensor::from_lanes(self.dtype(), relabel(copy, shape)?)
    }
}

/// Standard-layout lanes under a new shape of the same element count, without copying.
fn relabel(lanes: Lanes, shape: &[usize]) -> Result<Lanes> {
    fn go<W: Lane>(a: ArrayD<W>, shape: &[usize]) -> Result<ArrayD<W>> {
        let (from, v) = lanes_vec(a);
        ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape(format!("cannot reshape {from:?} to {shape:?}: {e}")))
    }
    Ok(map_lanes!(Lanes: lanes, a => go(a, shape)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Axis;

    fn all_types() -> Vec<Tensor> {
        vec![
            Tensor::from_vec(&[2, 3], vec![1.5f32, -0.0, f32::NAN, f32::INFINITY, 7.0, -3.25]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![1.5f64, -0.0, f64::NAN, 1e300, 7.0, -3.25]).unwrap(),
            Tensor::from_vec(&[2, 3], [1.5f32, -0.0, 65504.0, 1e-7, 7.0, -3.25].map(f16::from_f32).to_vec()).unwrap(),
            Tensor::from_vec(&[2, 3], vec![-128i8, -1, 0, 1, 2, 127]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![0u8, 1, 2, 128, 254, 255]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![i16::MIN, -1, 0, 1, 2, i16::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![0u16, 1, 2, 3, 4, u16::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![i32::MIN, -1, 0, 1, 2, i32::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![0u32, 1, 2, 3, 4, u32::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![i64::MIN, -1, 0, 1, 2, i64::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![0u64, 1, 2, 3, 4, u64::MAX]).unwrap(),
            Tensor::from_vec(&[2, 3], vec![true, false, false, true, true, false]).unwrap(),
        ]
    }

    #[test]
    fn round_trips_keep_every_bit_and_the_buffer() {
        for t in all_types() {
            let bytes = t.to_le_bytes();
            let ptr = crate::dispatch!(&t, a => a.as_ptr() as usize);
            let lanes = t.clone().into_lanes();
            assert_eq!(lanes.width(), t.dtype().size_of());
            let back = Tensor::from_lanes(t.dtype(), lanes).unwrap();
            assert_eq!(back.dtype(), t.dtype());
            assert_eq!(back.to_le_bytes(), bytes, "{t}");
            // Moving a standard-layout tensor through lanes and a new shape keeps its buffer.
            let moved = t.into_shape(&[3, 2]).unwrap();
            assert_eq!(moved.shape(), &[3, 2]);
            assert_eq!(crate::dispatch!(&moved, a => a.as_ptr() as usize), ptr, "{moved} was copied");
            assert_eq!(moved.to_le_bytes(), bytes);
        }
    }

    #[test]
    fn views_follow_any_layout() {
        for t in all_types() {
            // A transposed, then reversed, tensor: non-standard strides, one of them negative.
            let odd = crate::map_same!(&t, a => {
                let mut v = a.clone().reversed_axes();
                v.invert_axis(Axis(1));
                v
            });
            let w = t.dtype().size_of();
            let expected: Vec<u8> = {
                let b = t.to_le_bytes();
                // element (i, j) of `odd` is element (1 - j, i) of `t`, shape [3, 2]
                let mut out = Vec::new();
                for i in 0..3 {
                    for j in 0..2 {
                        let k = (1 - j) * 3 + i;
                        out.extend_from_slice(&b[k * w..(k + 1) * w]);
                    }
                }
                out
            };
            assert_eq!(odd.to_le_bytes(), expected);
            let view_copy = map_lanes!(odd.lanes(), a => a.as_standard_layout().into_owned());
            assert_eq!(Tensor::from_lanes(t.dtype(), view_copy).unwrap().to_le_bytes(), expected, "{t}");
            // Owned non-standard arrays are copied to standard layout on the way in and out.
            let back = Tensor::from_lanes(t.dtype(), odd.clone().into_lanes()).unwrap();
            assert_eq!(back.to_le_bytes(), expected, "{t}");
            assert_eq!(odd.reshaped(&[6]).unwrap().to_le_bytes(), expected);
            assert_eq!(odd.into_shape(&[2, 3]).unwrap().to_le_bytes(), expected);
        }
    }

    #[test]
    fn bad_widths_and_bool_bytes() {
        let l = Lanes::B4(ArrayD::from_elem(IxDyn(&[2]), 1u32));
        assert!(Tensor::from_lanes(DType::I64, l.clone()).is_err());
        assert!(Tensor::from_lanes(DType::Bool, l).is_err());
        // Any nonzero byte becomes true: no invalid bool can be made through lanes.
        let b = Lanes::B1(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0u8, 2, 255]).unwrap());
        let t = Tensor::from_lanes(DType::Bool, b).unwrap();
        assert_eq!(t, Tensor::from_vec(&[3], vec![false, true, true]).unwrap());
        let t = Tensor::from_vec(&[2], vec![1i64, 2]).unwrap();
        assert!(t.reshaped(&[3]).is_err());
        assert!(t.into_shape(&[1, 3]).is_err());
    }
}
