//! Ops that find elements by value: ArgMax, ArgMin, Hardmax, TopK, NonZero, Unique, and the
//! running CumSum / CumProd along an axis.
//!
//! Comparisons run on order keys ([`order_keys`]): each value mapped to a u64 whose unsigned
//! order is the values' order, so ArgMax, TopK, Unique and Hardmax are compiled once, not per
//! element type. Sums run in the wide type of elementwise.rs (float32, float64, int64, uint64;
//! narrow types widen exactly). Selected values are copied from the input by width ([`take`]),
//! never converted. Ties go to the lowest index (ArgMax's `select_last_index` to the highest), as
//! in onnx's reference.
use super::cast::cast;
use super::elementwise::{numeric, to_wide, Num};
use super::registry::{normalize_axis, required, BuildContext, FnOp, Op, Registry};
use super::shape::{dims_product, ints};
use super::take::take;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use ndarray::ArrayD;
use std::cmp::Ordering;

pub fn register(r: &mut Registry) {
    r.register("", "ArgMax", |ctx| arg_extreme(ctx, true));
    r.register("", "ArgMin", |ctx| arg_extreme(ctx, false));
    r.register("", "Hardmax", hardmax);
    r.register("", "TopK", top_k);
    r.register("", "NonZero", |_| Ok(Box::new(FnOp(non_zero))));
    r.register("", "Unique", unique);
    r.register("", "CumSum", |ctx| cumulative(ctx, false));
    r.register("", "CumProd", |ctx| cumulative(ctx, true));
}

/// `t` in its wide type (a copy only for narrow types).
fn widen(t: &Tensor) -> Result<Tensor> {
    Ok(to_wide(t)?.unwrap_or_else(|| t.clone()))
}

/// Each value of a numeric tensor as a u64 whose unsigned order is the values' order (row-major):
/// integers offset so that the smallest maps to 0, floats by their bits with the sign flipped
/// (negative ones all bits flipped). -0.0 counts as 0.0, and every NaN as one value above +inf
/// (numpy's argmax and sort put NaN last too).
fn order_keys(t: &Tensor) -> Result<Vec<u64>> {
    const TOP: u64 = 1 << 63;
    let float = |bits: u64, sign: u64| if bits & sign != 0 { !bits } else { bits | sign };
    Ok(match widen(t)? {
        Tensor::F32(a) => a.iter().map(|&v| if v.is_nan() { u64::MAX } else { float(u64::from((v + 0.0).to_bits()) << 32, TOP) }).collect(),
        Tensor::F64(a) => a.iter().map(|&v| if v.is_nan() { u64::MAX } else { float((v + 0.0).to_bits(), TOP) }).collect(),
        Tensor::I64(a) => a.iter().map(|&v| (v as u64) ^ TOP).collect(),
        Tensor::U64(a) => a.iter().copied().collect(),
        o => return Err(Error::dtype(format!("expects a numeric tensor, got {}", o.dtype()))),
    })
}

/// Orders a before b when it is larger (`largest`) or smaller.
fn order(a: u64, b: u64, largest: bool) -> Ordering {
    if largest {
        b.cmp(&a)
    } else {
        a.cmp(&b)
    }
}

/// (outer, n, inner) of a row-major shape around `axis`.
fn around(shape: &[usize], axis: usize) -> Result<(usize, usize, usize)> {
    Ok((dims_product(&shape[..axis])?, shape[axis], dims_product(&shape[axis + 1..])?))
}

/// The position along each lane (outer x inner lanes of n) of its best element.
fn best_in_lanes(v: &[u64], (outer, n, inner): (usize, usize, usize), largest: bool, last: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(outer * inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| v[(o * n + j) * inner + i];
            let mut best = 0;
            for j in 1..n {
                match order(at(j), at(best), largest) {
                    Ordering::Less => best = j,
                    Ordering::Equal if last => best = j,
                    _ => {}
                }
            }
            out.push(best);
        }
    }
    out
}

fn arg_extreme(ctx: &BuildContext, largest: bool) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", 0)?;
    let keepdims = ctx.attrs().int_or("keepdims", 1)? != 0;
    let last = ctx.attrs().int_or("select_last_index", 0)? != 0;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "data")?;
        let ax = normalize_axis(axis, x.rank())?;
        let lanes = around(x.shape(), ax)?;
        if lanes.1 == 0 {
            return Err(Error::shape(format!("cannot take the arg-extreme of an empty axis {axis} of {:?}", x.shape())));
        }
        let best = best_in_lanes(&order_keys(x)?, lanes, largest, last);
        let mut shape = x.shape().to_vec();
        if keepdims {
            shape[ax] = 1;
        } else {
            shape.remove(ax);
        }
        Ok(vec![Tensor::from_vec(&shape, best.into_iter().map(|b| b as i64).collect())?])
    })))
}

fn hardmax(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let legacy = ctx.opset < 13;
    let axis = ctx.attrs().int_or("axis", if legacy { 1 } else { -1 })?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        if !x.dtype().is_float() {
            return Err(Error::dtype(format!("Hardmax expects a float tensor, got {x}")));
        }
        let ax = normalize_axis(axis, x.rank())?;
        // Before opset 13 the input is coerced to 2-D [d0 * .. * d(axis-1), d(axis) * ..].
        let lanes = if legacy { (dims_product(&x.shape()[..ax])?, dims_product(&x.shape()[ax..])?, 1) } else { around(x.shape(), ax)? };
        let best = best_in_lanes(&order_keys(x)?, lanes, true, false);
        let (_, n, inner) = lanes;
        let mut idx = vec![0usize; x.len()];
        for (l, &b) in best.iter().enumerate() {
            idx[(l / inner * n + b) * inner + l % inner] = 1;
        }
        let zero_one = cast(&Tensor::from_vec(&[2], vec![0f32, 1.0])?, x.dtype())?;
        Ok(vec![take(&zero_one, &idx, x.shape())?])
    })))
}

fn top_k(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int_or("axis", -1)?;
    let largest = ctx.attrs().int_or("largest", 1)? != 0;
    let k_attr = if ctx.opset < 10 { ctx.attrs().int("k")? } else { None };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let k = match k_attr {
            Some(k) => k,
            None => match ints(required(inputs, 1, "K")?, "K")?.as_slice() {
                [k] => *k,
                v => return Err(Error::shape(format!("K must hold one value, got {}", v.len()))),
            },
        };
        let ax = normalize_axis(axis, x.rank())?;
        let (outer, n, inner) = around(x.shape(), ax)?;
        let k = usize::try_from(k).ok().filter(|&k| k <= n).ok_or_else(|| Error::invalid(format!("K = {k} must be in 0..={n} (axis {axis} of {:?})", x.shape())))?;
        // Positions (row-major, in x) of the k best of each lane, best first, ties by index.
        let v = order_keys(x)?;
        let mut picks = vec![(0usize, 0i64); outer * k * inner];
        let mut by_rank = Vec::with_capacity(n);
        for o in 0..outer {
            for i in 0..inner {
                let pos = |j: usize| (o * n + j) * inner + i;
                by_rank.clear();
                by_rank.extend(0..n);
                by_rank.sort_by(|&a, &b| order(v[pos(a)], v[pos(b)], largest).then(a.cmp(&b)));
                for (r, &j) in by_rank.iter().take(k).enumerate() {
                    picks[(o * k + r) * inner + i] = (pos(j), j as i64);
                }
            }
        }
        let mut shape = x.shape().to_vec();
        shape[ax] = k;
        let values = take(x, &picks.iter().map(|p| p.0).collect::<Vec<_>>(), &shape)?;
        let indices = Tensor::from_vec(&shape, picks.into_iter().map(|p| p.1).collect())?;
        Ok(vec![values, indices])
    })))
}

fn non_zero(inputs: &[Option<&Tensor>]) -> Result<Vec<Tensor>> {
    let x = required(inputs, 0, "X")?;
    let nz: Vec<bool> = cast(&cast(x, DType::Bool)?, DType::U8)?.to_i64_vec()?.iter().map(|&v| v != 0).collect();
    let shape = x.shape();
    let r = shape.len();
    let hits: Vec<usize> = (0..nz.len()).filter(|&i| nz[i]).collect();
    let mut out = vec![0i64; r * hits.len()];
    for (col, &flat) in hits.iter().enumerate() {
        let mut rest = flat;
        for d in (0..r).rev() {
            out[d * hits.len() + col] = (rest % shape[d]) as i64;
            rest /= shape[d];
        }
    }
    Ok(vec![Tensor::from_vec(&[r, hits.len()], out)?])
}

fn unique(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int("axis")?;
    let sorted = ctx.attrs().int_or("sorted", 1)? != 0;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        let flat = [x.len()];
        let (shape, ax) = match axis {
            Some(a) => (x.shape(), normalize_axis(a, x.rank())?),
            None => (&flat[..], 0),
        };
        let (outer, n, inner) = around(shape, ax)?;
        // The slices along the axis, compared element by element (row-major within a slice).
        let v = order_keys(x)?;
        let elem = |s: usize, e: usize| v[(e / inner * n + s) * inner + e % inner];
        let len = outer * inner;
        let cmp = |a: usize, b: usize| (0..len).map(|e| elem(a, e).cmp(&elem(b, e))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal);
        let mut by_value: Vec<usize> = (0..n).collect();
        by_value.sort_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
        // Each distinct slice by its first occurrence, in value order (or in order of appearance).
        let mut groups: Vec<usize> = Vec::new();
        let mut rep_of = vec![0usize; n];
        for &s in &by_value {
            match groups.last() {
                Some(&r) if cmp(r, s).is_eq() => rep_of[s] = r,
                _ => {
                    groups.push(s);
                    rep_of[s] = s;
                }
            }
        }
        if !sorted {
            groups.sort_unstable();
        }
        let mut slot = vec![0usize; n];
        for (u, &r) in groups.iter().enumerate() {
            slot[r] = u;
        }
        let inverse: Vec<usize> = (0..n).map(|s| slot[rep_of[s]]).collect();
        let u = groups.len();
        let mut out_shape = shape.to_vec();
        out_shape[ax] = u;
        let mut idx = Vec::with_capacity(outer * u * inner);
        for o in 0..outer {
            for &g in &groups {
                idx.extend((0..inner).map(|i| (o * n + g) * inner + i));
            }
        }
        let mut counts = vec![0i64; u];
        inverse.iter().for_each(|&s| counts[s] += 1);
        let vec1 = |v: Vec<i64>| Tensor::from_vec(&[v.len()], v);
        Ok(vec![
            take(x, &idx, &out_shape)?,
            vec1(groups.iter().map(|&f| f as i64).collect())?,
            vec1(inverse.iter().map(|&s| s as i64).collect())?,
            vec1(counts)?,
        ])
    })))
}

fn cumulative(ctx: &BuildContext, product: bool) -> Result<Box<dyn Op>> {
    let exclusive = ctx.attrs().int_or("exclusive", 0)? != 0;
    let reverse = ctx.attrs().int_or("reverse", 0)? != 0;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "x")?;
        let axis = match ints(required(inputs, 1, "axis")?, "axis")?.as_slice() {
            [a] => *a,
            v => return Err(Error::shape(format!("axis must be a scalar, got {} values", v.len()))),
        };
        let ax = normalize_axis(axis, x.rank())?;
        let (outer, n, inner) = around(x.shape(), ax)?;
        fn go<T: Num>(a: &ArrayD<T>, (outer, n, inner): (usize, usize, usize), product: bool, exclusive: bool, reverse: bool) -> Result<Tensor> {
            let v: Vec<T> = a.iter().copied().collect();
            let mut out = v.clone();
            let unit = if product { T::from_f64(1.0) } else { T::default() };
            for o in 0..outer {
                for i in 0..inner {
                    let mut acc = unit;
                    for step in 0..n {
                        let j = if reverse { n - 1 - step } else { step };
                        let p = (o * n + j) * inner + i;
                        let next = if product { acc.times(v[p]) } else { acc.plus(v[p]) };
                        out[p] = if exclusive { acc } else { next };
                        acc = next;
                    }
                }
            }
            Tensor::from_vec(a.shape(), out)
        }
        let w = widen(x)?;
        let w = &w;
        let y = numeric!(wide w, a => go(a, (outer, n, inner), product, exclusive, reverse)?,
            o => return Err(Error::dtype(format!("expects a numeric tensor, got {}", o.dtype()))));
        Ok(vec![cast(&y, x.dtype())?])
    })))
}

#[cfg(test)]
mod tests {
    use crate::graph::Attr;
    use crate::ops::shape::testing::run;
    use crate::tensor::Tensor;

    /// The keys order values as the values order: ascending inputs give ascending keys, equal
    /// values (0.0 and -0.0) equal keys, NaN the largest.
    #[test]
    fn order_keys_follow_the_values() {
        let ascending = |keys: Vec<u64>| keys.windows(2).all(|w| w[0] < w[1]);
        let f = vec![f32::NEG_INFINITY, -3.4e38, -1.0, -1e-45, 0.0, 1e-45, 2.0, 3.4e38, f32::INFINITY];
        assert!(ascending(super::order_keys(&Tensor::from_vec(&[9], f.clone()).unwrap()).unwrap()));
        let d: Vec<f64> = f.iter().map(|&v| v as f64).chain([f64::NAN]).collect();
        assert!(ascending(super::order_keys(&Tensor::from_vec(&[10], d).unwrap()).unwrap()));
        let z = super::order_keys(&Tensor::from_vec(&[3], vec![-0.0f32, 0.0, f32::NAN]).unwrap()).unwrap();
        assert!(z[0] == z[1] && z[2] == u64::MAX);
        assert!(ascending(super::order_keys(&Tensor::from_vec(&[4], vec![i8::MIN, -1, 0, i8::MAX]).unwrap()).unwrap()));
        assert!(ascending(super::order_keys(&Tensor::from_vec(&[3], vec![0u64, 1 << 63, u64::MAX]).unwrap()).unwrap()));
        assert!(super::order_keys(&Tensor::from_vec(&[1], vec![true]).unwrap()).is_err());
    }

    #[test]
    fn narrow_types_and_bad_inputs() {
        let x = Tensor::from_vec(&[4], vec![3u8, 250, 7, 250]).unwrap();
        let y = run("ArgMax", 13, vec![("select_last_index", Attr::Int(1))], vec![Some(x.clone())], 1).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[1], vec![3i64]).unwrap());
        let k = Tensor::from_vec(&[1], vec![2i64]).unwrap();
        let y = run("TopK", 11, vec![("largest", Attr::Int(0))], vec![Some(x.clone()), Some(k)], 2).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[2], vec![3u8, 7]).unwrap());
        assert_eq!(y[1], Tensor::from_vec(&[2], vec![0i64, 2]).unwrap());
        let big = Tensor::from_vec(&[1], vec![5i64]).unwrap();
        assert!(run("TopK", 11, vec![], vec![Some(x.clone()), Some(big)], 2).is_err());
        // uint8 running sum wraps like uint8 arithmetic.
        let axis = Tensor::scalar(0i64);
        let y = run("CumSum", 14, vec![], vec![Some(x.clone()), Some(axis)], 1).unwrap();
        assert_eq!(y[0], Tensor::from_vec(&[4], vec![3u8, 253, 4, 254]).unwrap());
        let empty = Tensor::from_vec::<f32>(&[0, 2], vec![]).unwrap();
        assert!(run("ArgMin", 13, vec![], vec![Some(empty)], 1).is_err());
    }
}
