//! Multidirectional (numpy-style) broadcasting, shared by every op that broadcasts: the
//! broadcast shape ([`broadcast_shapes`]) and the run-splitting engine ([`Walk`]) that turns a
//! broadcast into contiguous runs, which each op hands to its (vectorized) kernel: one run for
//! equal shapes or a scalar side, one per channel for a per-channel side, one per repeat for a
//! trailing side, and the general case without materializing the broadcast operands.
use crate::error::{Error, Result};

/// The broadcast shape of several shapes, or a shape error naming them.
pub fn broadcast_shapes(shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[off + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(Error::shape(format!("shapes {:?} cannot be broadcast together", shapes)));
            }
        }
    }
    Ok(out)
}

/// How K inputs are read while their broadcast output is written in row-major order: the
/// output's dimensions with size-1 ones dropped and mergeable neighbours merged, and per
/// dimension each input's element stride (0 where the input is broadcast). The innermost
/// stride of every input is 1 or 0 (a run of the input, or one element repeated).
pub(crate) struct Walk<const K: usize> {
    dims: Vec<usize>,
    strides: Vec<[usize; K]>,
}

impl<const K: usize> Walk<K> {
    /// `out` must be the broadcast of `shapes` (each no longer than `out`; see
    /// [`broadcast_shapes`]).
    pub(crate) fn new(out: &[usize], shapes: [&[usize]; K]) -> Walk<K> {
        let r = out.len();
        let mut own = vec![[0usize; K]; r];
        for (k, s) in shapes.iter().enumerate() {
            let off = r.saturating_sub(s.len());
            let mut acc = 1usize;
            for (j, &d) in s.iter().enumerate().rev() {
                own[off + j][k] = if d == 1 { 0 } else { acc };
                acc = acc.saturating_mul(d);
            }
        }
        let mut dims: Vec<usize> = Vec::with_capacity(r);
        let mut strides: Vec<[usize; K]> = Vec::with_capacity(r);
        for (&d, st) in out.iter().zip(&own) {
            if d == 1 {
                continue;
            }
            if let (Some(ld), Some(ls)) = (dims.last_mut(), strides.last_mut()) {
                if (0..K).all(|k| ls[k] == st[k] * d) {
                    *ld *= d;
                    *ls = *st;
                    continue;
                }
            }
            dims.push(d);
            strides.push(*st);
        }
        if dims.is_empty() {
            dims.push(1);
            strides.push([0; K]);
        }
        Walk { dims, strides }
    }

    /// The innermost run: its length and each input's stride along it.
    pub(crate) fn inner(&self) -> (usize, [usize; K]) {
        (self.dims[self.dims.len() - 1], self.strides[self.strides.len() - 1])
    }

    /// [`try_for_each_run`](Self::try_for_each_run) for an `f` that cannot fail.
    pub(crate) fn for_each_run(&self, mut f: impl FnMut([usize; K])) {
        let always: Result<()> = self.try_for_each_run(|o| {
            f(o);
            Ok(())
        });
        debug_assert!(always.is_ok());
    }

    /// Calls `f` with each input's offset at the start of every innermost run, in output order
    /// (run `i` is output elements `i·len .. (i + 1)·len`), stopping at the first error. The
    /// output must not be empty.
    pub(crate) fn try_for_each_run(&self, mut f: impl FnMut([usize; K]) -> Result<()>) -> Result<()> {
        let outer = self.dims.len() - 1;
        let mut idx = vec![0usize; outer];
        let mut offs = [0usize; K];
        loop {
            f(offs)?;
            let mut d = outer;
            loop {
                if d == 0 {
                    return Ok(());
                }
                d -= 1;
                idx[d] += 1;
                for (o, s) in offs.iter_mut().zip(&self.strides[d]) {
                    *o += s;
                }
                if idx[d] < self.dims[d] {
                    break;
                }
                for (o, s) in offs.iter_mut().zip(&self.strides[d]) {
                    *o -= s * self.dims[d];
                }
                idx[d] = 0;
            }
        }
    }
}

/// One innermost run of a binary broadcast, as [`binary_runs`] hands it out.
pub(crate) enum BinaryRun<'a, T> {
    /// Runs of both inputs, element by element.
    Both(&'a [T], &'a [T]),
    /// A run of A with one element of B.
    ScalarB(&'a [T], T),
    /// One element of A with a run of B.
    ScalarA(T, &'a [T]),
}

/// Splits the broadcast of `a` (shape `sa`, row-major) and `b` (`sb`) into contiguous runs
/// and calls `f(run, out)` for each, `out` the run's slice of `out` (the broadcast shape's
/// elements, row-major). Runs the engine's general case too: an input broadcast inside a run
/// (never the innermost dimension after merging) is gathered into a run first.
pub(crate) fn binary_runs<T: Copy, O>(
    a: &[T],
    sa: &[usize],
    b: &[T],
    sb: &[usize],
    out_shape: &[usize],
    out: &mut [O],
    mut f: impl FnMut(BinaryRun<'_, T>, &mut [O]) -> Result<()>,
) -> Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let walk = Walk::new(out_shape, [sa, sb]);
    let (len, [ia, ib]) = walk.inner();
    let mut at = 0;
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    walk.try_for_each_run(|[oa, ob]| {
        let o = out.get_mut(at..at + len).ok_or_else(|| Error::shape(format!("broadcast output of {} elements is too short", at + len)))?;
        at += len;
        match (ia, ib) {
            (1, 1) => f(BinaryRun::Both(&a[oa..oa + len], &b[ob..ob + len]), o),
            (1, 0) => f(BinaryRun::ScalarB(&a[oa..oa + len], b[ob]), o),
            (0, 1) => f(BinaryRun::ScalarA(a[oa], &b[ob..ob + len]), o),
            _ => {
                ga.clear();
                gb.clear();
                ga.extend((0..len).map(|i| a[oa + i * ia]));
                gb.extend((0..len).map(|i| b[ob + i * ib]));
                f(BinaryRun::Both(&ga, &gb), o)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn broadcasts_like_numpy() {
        assert_eq!(broadcast_shapes(&[&[2, 1, 4], &[3, 1]]).unwrap(), vec![2, 3, 4]);
        assert_eq!(broadcast_shapes(&[&[], &[5]]).unwrap(), vec![5]);
        assert_eq!(broadcast_shapes(&[&[0, 1], &[1, 3]]).unwrap(), vec![0, 3]);
        assert!(broadcast_shapes(&[&[2, 3], &[4, 3]]).is_err());
    }

    #[test]
    fn runs_cover_the_broadcast_in_order() {
        // Every pattern the ops meet: equal, scalar, per channel, trailing, general, both sides.
        let cases: [(&[usize], &[usize]); 7] =
            [(&[2, 3, 4], &[2, 3, 4]), (&[2, 3, 4], &[]), (&[1], &[2, 3]), (&[2, 3, 4], &[1, 3, 1]), (&[2, 3, 4], &[4]), (&[2, 1, 4], &[3, 1]), (&[1, 1], &[1])];
        for (sa, sb) in cases {
            let shape = broadcast_shapes(&[sa, sb]).unwrap();
            let (na, nb) = (sa.iter().product::<usize>(), sb.iter().product::<usize>());
            let a: Vec<i32> = (0..na as i32).collect();
            let b: Vec<i32> = (0..nb as i32).map(|v| 1000 * (v + 1)).collect();
            let n: usize = shape.iter().product();
            let mut out = vec![0i32; n];
            binary_runs(&a, sa, &b, sb, &shape, &mut out, |run, o| {
                match run {
                    BinaryRun::Both(x, y) => o.iter_mut().zip(x.iter().zip(y)).for_each(|(o, (x, y))| *o = x + y),
                    BinaryRun::ScalarB(x, y) => o.iter_mut().zip(x).for_each(|(o, x)| *o = x + y),
                    BinaryRun::ScalarA(x, y) => o.iter_mut().zip(y).for_each(|(o, y)| *o = x + y),
                }
                Ok(())
            })
            .unwrap();
            let av = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(sa), a).unwrap();
            let bv = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(sb), b).unwrap();
            let want: Vec<i32> = av.broadcast(ndarray::IxDyn(&shape)).unwrap().iter().zip(bv.broadcast(ndarray::IxDyn(&shape)).unwrap().iter()).map(|(x, y)| x + y).collect();
            assert_eq!(out, want, "{sa:?} with {sb:?}");
        }
    }
}
