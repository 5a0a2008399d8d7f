//! Element moves by width, for the ops that never read an element (Tile, DepthToSpace,
//! GatherElements, ScatterND, Compress, ...; design convention 13).
//!
//! Such an op computes, for each output element, the row-major index of the input element it
//! copies ([`take`]), or, for each update, the index it overwrites ([`put`]). The copy itself runs
//! on the elements seen as lanes of their width ([`crate::tensor::width`], no copy of the input)
//! and is compiled once per element width (1, 2, 4, 8 bytes), not once per element type, which
//! keeps the wasm small. Indices come from the op's own checks
//! and are checked again here: a bad one is an error, never a panic.
use super::shape::{check_alloc, standard};
use crate::error::{Error, Result};
use crate::tensor::{Lane, Tensor};
use crate::with_lanes;
use ndarray::{ArrayD, IxDyn};

/// An index in a [`take`] list meaning "an element of zero bits" (0, 0.0, false) rather than an
/// input element (Trilu's cleared triangle, EyeLike's off-diagonal).
pub(super) const ZERO: usize = usize::MAX;

/// A tensor of `shape` whose k-th element (row-major) is element `idx[k]` of `x`, or zero where
/// `idx[k]` is [`ZERO`].
pub(super) fn take(x: &Tensor, idx: &[usize], shape: &[usize]) -> Result<Tensor> {
    let n = check_alloc(shape, x.dtype())?;
    if n != idx.len() {
        return Err(Error::internal(format!("{} source indices for an output of shape {shape:?}", idx.len())));
    }
    let bad = || Error::invalid(format!("index out of range for an input of shape {:?}", x.shape()));
    let out = with_lanes!(x.lanes(), a => {
        let a = standard(a);
        let src = a.as_slice().ok_or_else(bad)?;
        ArrayD::from_shape_vec(IxDyn(shape), take_w(src, idx).ok_or_else(bad)?)
            .map_err(|e| Error::shape(format!("output {shape:?}: {e}")))?
            .into()
    });
    Tensor::from_lanes(x.dtype(), out)
}

/// `data` with element `dst[k]` replaced by element `k` of `updates` (same type), in order, so
/// a later update of the same index wins.
pub(super) fn put(data: &Tensor, dst: &[usize], updates: &Tensor) -> Result<Tensor> {
    if updates.dtype() != data.dtype() {
        return Err(Error::dtype(format!("updates must have the data's type {}, got {}", data.dtype(), updates.dtype())));
    }
    if updates.len() != dst.len() {
        return Err(Error::internal(format!("{} destinations for {} updates", dst.len(), updates.len())));
    }
    let bad = || Error::invalid(format!("index out of range for data of shape {:?}", data.shape()));
    let out = with_lanes!(data.lanes(), a => {
        let mut out = a.as_standard_layout().into_owned();
        let u = updates.lanes();
        let u = standard(Lane::of(u).ok_or_else(bad)?);
        let (o, s) = (out.as_slice_mut().ok_or_else(bad)?, u.as_slice().ok_or_else(bad)?);
        if !put_w(o, dst, s) {
            return Err(bad());
        }
        out.into()
    });
    Tensor::from_lanes(data.dtype(), out)
}

fn take_w<W: Lane>(src: &[W], idx: &[usize]) -> Option<Vec<W>> {
    idx.iter().map(|&i| if i == ZERO { Some(W::default()) } else { src.get(i).copied() }).collect()
}

fn put_w<W: Lane>(out: &mut [W], dst: &[usize], src: &[W]) -> bool {
    for (&d, &s) in dst.iter().zip(src) {
        match out.get_mut(d) {
            Some(o) => *o = s,
            None => return false,
        }
    }
    true
}

/// Row-major strides of a shape (in elements).
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Calls `f(k, coords)` for every row-major position `k` of `shape`, with its coordinates.
pub(super) fn for_each_index(shape: &[usize], mut f: impl FnMut(usize, &[usize]) -> Result<()>) -> Result<()> {
    let n: usize = shape.iter().product();
    let mut c = vec![0usize; shape.len()];
    for k in 0..n {
        f(k, &c)?;
        for d in (0..c.len()).rev() {
            c[d] += 1;
            if c[d] < shape[d] {
                break;
            }
            c[d] = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn take_and_put_move_every_width_exactly() {
        let f = Tensor::from_vec(&[3], vec![1.5f32, -0.0, f32::NAN]).unwrap();
        let t = take(&f, &[2, ZERO, 1, 0], &[2, 2]).unwrap();
        let v = t.to_f32_vec();
        assert!(v[0].is_nan() && v[1] == 0.0 && v[2].to_bits() == (-0.0f32).to_bits() && v[3] == 1.5);
        let h = Tensor::from_vec(&[2], vec![f16::from_f32(2.0), f16::from_f32(-3.0)]).unwrap();
        assert_eq!(take(&h, &[1, 1, 0], &[3]).unwrap(), Tensor::from_vec(&[3], vec![f16::from_f32(-3.0), f16::from_f32(-3.0), f16::from_f32(2.0)]).unwrap());
        let b = Tensor::from_vec(&[2], vec![true, false]).unwrap();
        assert_eq!(take(&b, &[1, 0, ZERO], &[3]).unwrap(), Tensor::from_vec(&[3], vec![false, true, false]).unwrap());
        let i = Tensor::from_vec(&[3], vec![i64::MIN, 7, i64::MAX]).unwrap();
        let u = Tensor::from_vec(&[2], vec![-1i64, -2]).unwrap();
        assert_eq!(put(&i, &[2, 0], &u).unwrap(), Tensor::from_vec(&[3], vec![-2i64, 7, -1]).unwrap());
        // Out-of-range indices are errors.
        assert!(take(&i, &[3], &[1]).is_err());
        assert!(take(&i, &[usize::MAX / 2], &[1]).is_err());
        assert!(put(&i, &[5, 0], &u).is_err());
        assert!(put(&i, &[0, 1], &Tensor::from_vec(&[2], vec![1i32, 2]).unwrap()).is_err());
    }
}
