//! Element moves by width, for the ops that never read an element (Tile, DepthToSpace,
//! GatherElements, ScatterND, Compress, ...; design convention 13).
//!
//! Such an op computes, for each output element, the row-major index of the input element it
//! copies ([`take`]), or, for each update, the index it overwrites ([`put`]). The copy itself runs
//! on the elements' little-endian bytes and is compiled once per element width (1, 2, 4, 8 bytes),
//! not once per element type, which keeps the wasm small. Indices come from the op's own checks
//! and are checked again here: a bad one is an error, never a panic.
use super::shape::check_alloc;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

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
    let src = x.to_le_bytes();
    let out = match x.dtype().size_of() {
        1 => take_w::<1>(&src, idx),
        2 => take_w::<2>(&src, idx),
        4 => take_w::<4>(&src, idx),
        _ => take_w::<8>(&src, idx),
    }
    .ok_or_else(|| Error::invalid(format!("index out of range for an input of shape {:?}", x.shape())))?;
    Tensor::from_le_bytes(x.dtype(), shape, &out)
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
    let mut out = data.to_le_bytes();
    let src = updates.to_le_bytes();
    let ok = match data.dtype().size_of() {
        1 => put_w::<1>(&mut out, dst, &src),
        2 => put_w::<2>(&mut out, dst, &src),
        4 => put_w::<4>(&mut out, dst, &src),
        _ => put_w::<8>(&mut out, dst, &src),
    };
    if !ok {
        return Err(Error::invalid(format!("index out of range for data of shape {:?}", data.shape())));
    }
    Tensor::from_le_bytes(data.dtype(), data.shape(), &out)
}

fn take_w<const W: usize>(src: &[u8], idx: &[usize]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; idx.len() * W];
    for (o, &i) in out.chunks_exact_mut(W).zip(idx) {
        if i != ZERO {
            o.copy_from_slice(src.get(i.checked_mul(W)?..)?.get(..W)?);
        }
    }
    Some(out)
}

fn put_w<const W: usize>(out: &mut [u8], dst: &[usize], src: &[u8]) -> bool {
    for (&d, s) in dst.iter().zip(src.chunks_exact(W)) {
        match d.checked_mul(W).and_then(|b| out.get_mut(b..)).and_then(|o| o.get_mut(..W)) {
            Some(o) => o.copy_from_slice(s),
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
