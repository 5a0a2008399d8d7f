//! Transposition of a row-major n-d array by element width: `permute_x8` .. `permute_x64` move
//! bytes, halves, words or double words without reading them, so one loop per width serves
//! every element type (float32 and int32 are both 4-byte lanes, bool and uint8 1-byte ones).
//! The innermost output axis is a unit-stride copy where the permutation keeps the last input
//! axis last, else a strided gather; the outer axes are walked with an odometer.

/// `dst[o] = src[i]` where output index `o` (row-major over the permuted shape) reads input
/// index `i` with coordinate `perm[d]` of the input at output axis `d`. `shape` is the input's,
/// `perm` a permutation of its axes; `src` and `dst` hold the shape's element count.
#[inline(always)]
fn permute<T: Copy>(src: &[T], shape: &[usize], perm: &[usize], dst: &mut [T]) {
    let rank = shape.len();
    let n: usize = shape.iter().product();
    debug_assert!(src.len() == n && dst.len() == n && perm.len() == rank);
    if n == 0 {
        return;
    }
    if rank == 0 {
        dst[0] = src[0];
        return;
    }
    let mut in_strides = vec![1usize; rank];
    for d in (0..rank - 1).rev() {
        in_strides[d] = in_strides[d + 1] * shape[d + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let inner = out_shape[rank - 1];
    let inner_stride = strides[rank - 1];
    let mut idx = vec![0usize; rank - 1];
    let mut base = 0usize;
    for row in dst.chunks_exact_mut(inner) {
        if inner_stride == 1 {
            row.copy_from_slice(&src[base..base + inner]);
        } else {
            for (j, d) in row.iter_mut().enumerate() {
                *d = src[base + j * inner_stride];
            }
        }
        // Next row: the odometer over the outer output axes, moving `base` along.
        for d in (0..rank - 1).rev() {
            idx[d] += 1;
            base += strides[d];
            if idx[d] < out_shape[d] {
                break;
            }
            base -= strides[d] * out_shape[d];
            idx[d] = 0;
        }
    }
}

/// [`permute`] of 1-byte elements.
pub fn permute_x8(src: &[u8], shape: &[usize], perm: &[usize], dst: &mut [u8]) {
    permute(src, shape, perm, dst)
}
/// [`permute`] of 2-byte elements.
pub fn permute_x16(src: &[u16], shape: &[usize], perm: &[usize], dst: &mut [u16]) {
    permute(src, shape, perm, dst)
}
/// [`permute`] of 4-byte elements.
pub fn permute_x32(src: &[u32], shape: &[usize], perm: &[usize], dst: &mut [u32]) {
    permute(src, shape, perm, dst)
}
/// [`permute`] of 8-byte elements.
pub fn permute_x64(src: &[u64], shape: &[usize], perm: &[usize], dst: &mut [u64]) {
    permute(src, shape, perm, dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one element at a time.
    fn reference(src: &[u32], shape: &[usize], perm: &[usize]) -> Vec<u32> {
        let rank = shape.len();
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let n: usize = shape.iter().product();
        let mut out = vec![0; n];
        for (o, v) in out.iter_mut().enumerate() {
            let mut rem = o;
            let mut coord = vec![0; rank];
            for d in (0..rank).rev() {
                coord[perm[d]] = rem % out_shape[d];
                rem /= out_shape[d];
            }
            let i = coord.iter().zip(shape).fold(0, |acc, (&c, &s)| acc * s + c);
            *v = src[i];
        }
        out
    }

    #[test]
    fn every_permutation_of_rank_four_matches_the_definition() {
        let shape = [2, 3, 4, 5];
        let src: Vec<u32> = (0..120).collect();
        let mut perms = vec![];
        for a in 0..4 {
            for b in 0..4 {
                for c in 0..4 {
                    for d in 0..4 {
                        let p = [a, b, c, d];
                        if (0..4).all(|x| p.contains(&x)) {
                            perms.push(p);
                        }
                    }
                }
            }
        }
        for p in perms {
            let mut dst = vec![0; 120];
            permute_x32(&src, &shape, &p, &mut dst);
            assert_eq!(dst, reference(&src, &shape, &p), "perm {p:?}");
        }
        let mut dst = vec![0; 0];
        permute_x32(&[], &[0, 3], &[1, 0], &mut dst);
        let mut one = vec![0u32];
        permute_x32(&[7], &[], &[], &mut one);
        assert_eq!(one, [7]);
    }
}
