//! Ops that rearrange, repeat, select or clear elements without reading them: Tile,
//! DepthToSpace, SpaceToDepth, ReverseSequence, Trilu, Compress, EyeLike.
//!
//! Each computes the source index of every output element and lets [`take`] copy the elements by
//! width, so each op is compiled once, whatever the element type (docs/size.md).
use super::cast::cast;
use super::registry::{normalize_axis, optional, required, BuildContext, FnOp, Op, Registry};
use super::shape::{check_alloc, dims_product, ints};
use super::take::{for_each_index, strides, take, ZERO};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("", "Tile", tile).moves_8bit();
    r.register("", "DepthToSpace", depth_to_space).moves_8bit();
    r.register("", "SpaceToDepth", space_to_depth).moves_8bit();
    r.register("", "ReverseSequence", reverse_sequence).data_movement();
    r.register("", "Trilu", trilu).data_movement();
    r.register("", "Compress", compress).data_movement();
    r.register("", "EyeLike", eye_like);
}

/// A non-negative size read from an integer input.
fn to_size(v: i64, what: &str) -> Result<usize> {
    usize::try_from(v).map_err(|_| Error::invalid(format!("{what} must not be negative, got {v}")))
}

fn tile(_ctx: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let reps = ints(required(inputs, 1, "repeats")?, "repeats")?;
        let xs = x.shape();
        if reps.len() != xs.len() {
            return Err(Error::shape(format!("Tile: repeats {reps:?} must have one value per axis of input {xs:?}")));
        }
        let mut out = Vec::with_capacity(xs.len());
        for (&d, &r) in xs.iter().zip(&reps) {
            out.push(d.checked_mul(to_size(r, "repeats")?).ok_or_else(|| Error::too_large("Tile output overflows"))?);
        }
        let n = check_alloc(&out, x.dtype())?;
        let st = strides(xs);
        let mut idx = Vec::with_capacity(n);
        for_each_index(&out, |_, c| {
            idx.push(c.iter().zip(xs).zip(&st).map(|((&c, &d), &s)| (c % d) * s).sum());
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    })))
}

/// The block size of DepthToSpace / SpaceToDepth and the 4-D input's dims.
fn blocks(ctx: &BuildContext) -> Result<usize> {
    let b = ctx.attrs().int("blocksize")?.ok_or_else(|| Error::invalid("needs the 'blocksize' attribute"))?;
    match usize::try_from(b) {
        Ok(b) if b > 0 => Ok(b),
        _ => Err(Error::invalid(format!("blocksize must be positive, got {b}"))),
    }
}

fn nchw(x: &Tensor) -> Result<[usize; 4]> {
    <[usize; 4]>::try_from(x.shape()).map_err(|_| Error::shape(format!("expects a 4-D input, got shape {:?}", x.shape())))
}

/// Whether the channel order is column-row-depth (`mode = "CRD"`) rather than DCR.
fn crd_mode(ctx: &BuildContext) -> Result<bool> {
    match ctx.attrs().string_or("mode", "DCR")? {
        "DCR" => Ok(false),
        "CRD" => Ok(true),
        m => Err(Error::invalid(format!("mode must be DCR or CRD, got '{m}'"))),
    }
}

fn depth_to_space(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let b = blocks(ctx)?;
    let crd = crd_mode(ctx)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let [n, c, h, w] = nchw(x)?;
        if c % (b * b) != 0 {
            return Err(Error::shape(format!("DepthToSpace: {c} channels are not a multiple of blocksize² = {}", b * b)));
        }
        let oc = c / (b * b);
        let out = [n, oc, h * b, w * b];
        let mut idx = Vec::with_capacity(check_alloc(&out, x.dtype())?);
        for_each_index(&out, |_, p| {
            let (y, xx) = (p[2], p[3]);
            let (i, j) = (y % b, xx % b);
            let ch = if crd { p[1] * b * b + i * b + j } else { (i * b + j) * oc + p[1] };
            idx.push(((p[0] * c + ch) * h + y / b) * w + xx / b);
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    })))
}

fn space_to_depth(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let b = blocks(ctx)?;
    let crd = crd_mode(ctx)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let [n, c, h, w] = nchw(x)?;
        if h % b != 0 || w % b != 0 {
            return Err(Error::shape(format!("SpaceToDepth: spatial dims {h}x{w} are not multiples of blocksize {b}")));
        }
        let out = [n, c * b * b, h / b, w / b];
        let mut idx = Vec::with_capacity(check_alloc(&out, x.dtype())?);
        for_each_index(&out, |_, p| {
            let (blk, ch) = if crd { (p[1] % (b * b), p[1] / (b * b)) } else { (p[1] / c, p[1] % c) };
            let (i, j) = (blk / b, blk % b);
            idx.push(((p[0] * c + ch) * h + p[2] * b + i) * w + p[3] * b + j);
            Ok(())
        })?;
        Ok(vec![take(x, &idx, &out)?])
    })))
}

fn reverse_sequence(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let time_axis = ctx.attrs().int_or("time_axis", 0)?;
    let batch_axis = ctx.attrs().int_or("batch_axis", 1)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let lens = ints(required(inputs, 1, "sequence_lens")?, "sequence_lens")?;
        let xs = x.shape();
        if xs.len() < 2 {
            return Err(Error::shape(format!("ReverseSequence needs rank >= 2, got {xs:?}")));
        }
        let (t, bt) = (normalize_axis(time_axis, xs.len())?, normalize_axis(batch_axis, xs.len())?);
        if t == bt || t > 1 || bt > 1 {
            return Err(Error::invalid(format!("time_axis {time_axis} and batch_axis {batch_axis} must be 0 and 1")));
        }
        if lens.len() != xs[bt] {
            return Err(Error::shape(format!("sequence_lens has {} values for a batch of {}", lens.len(), xs[bt])));
        }
        let lens = lens
            .iter()
            .map(|&l| to_size(l, "sequence_lens").and_then(|l| if l <= xs[t] { Ok(l) } else { Err(Error::invalid(format!("sequence length {l} exceeds the time dim {}", xs[t]))) }))
            .collect::<Result<Vec<_>>>()?;
        let st = strides(xs);
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(xs, |k, c| {
            let len = lens[c[bt]];
            let at = c[t];
            idx.push(if at < len { k - at * st[t] + (len - 1 - at) * st[t] } else { k });
            Ok(())
        })?;
        Ok(vec![take(x, &idx, xs)?])
    })))
}

fn trilu(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let upper = ctx.attrs().int_or("upper", 1)? != 0;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let k = match optional(inputs, 1) {
            Some(t) => match ints(t, "k")?.as_slice() {
                [k] => *k,
                v => return Err(Error::shape(format!("Trilu: k must be a scalar, got {} values", v.len()))),
            },
            None => 0,
        };
        let xs = x.shape();
        let r = xs.len();
        if r < 2 {
            return Err(Error::shape(format!("Trilu needs rank >= 2, got {xs:?}")));
        }
        let mut idx = Vec::with_capacity(x.len());
        for_each_index(xs, |n, c| {
            let d = c[r - 1] as i64 - c[r - 2] as i64;
            let keep = if upper { d >= k } else { d <= k };
            idx.push(if keep { n } else { ZERO });
            Ok(())
        })?;
        Ok(vec![take(x, &idx, xs)?])
    })))
}

fn compress(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let axis = ctx.attrs().int("axis")?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let cond = required(inputs, 1, "condition")?;
        let cond: Vec<bool> = match cond.dtype() {
            DType::Bool => cast(cond, DType::U8)?.to_i64_vec()?.iter().map(|&v| v != 0).collect(),
            _ => return Err(Error::dtype(format!("condition must be a bool tensor, got {cond}"))),
        };
        // Without an axis, the input is flattened first.
        let flat = [x.len()];
        let (xs, ax) = match axis {
            Some(a) => (x.shape(), normalize_axis(a, x.rank())?),
            None => (&flat[..], 0),
        };
        let dim = xs[ax];
        if cond.iter().skip(dim).any(|&c| c) {
            return Err(Error::shape(format!("condition selects index {} beyond the axis size {dim}", cond.len() - 1)));
        }
        let keep: Vec<usize> = (0..dim.min(cond.len())).filter(|&i| cond[i]).collect();
        let outer = dims_product(&xs[..ax])?;
        let inner = dims_product(&xs[ax + 1..])?;
        let mut out = xs.to_vec();
        out[ax] = keep.len();
        let mut idx = Vec::with_capacity(outer * keep.len() * inner);
        for o in 0..outer {
            for &i in &keep {
                idx.extend((0..inner).map(|j| (o * dim + i) * inner + j));
            }
        }
        Ok(vec![take(x, &idx, &out)?])
    })))
}

fn eye_like(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let dtype = ctx.attrs().int("dtype")?.map(|c| DType::from_onnx_code(c as i32)).transpose()?;
    let k = ctx.attrs().int_or("k", 0)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "input")?;
        let &[rows, cols] = x.shape() else {
            return Err(Error::shape(format!("EyeLike expects a 2-D input, got shape {:?}", x.shape())));
        };
        let one = cast(&Tensor::scalar(1f32), dtype.unwrap_or(x.dtype()))?;
        let mut idx = Vec::with_capacity(check_alloc(&[rows, cols], one.dtype())?);
        for i in 0..rows {
            idx.extend((0..cols).map(|j| if j as i64 - i as i64 == k { 0 } else { ZERO }));
        }
        Ok(vec![take(&one, &idx, &[rows, cols])?])
    })))
}

#[cfg(test)]
mod tests {
    use crate::graph::Attr;
    use crate::ops::shape::testing::run;
    use crate::tensor::Tensor;

    #[test]
    fn bad_inputs_are_typed_errors() {
        let x = Tensor::from_vec(&[2, 3], vec![1u8, 2, 3, 4, 5, 6]).unwrap();
        let reps = Tensor::from_vec(&[1], vec![2i64]).unwrap();
        let e = run("Tile", 13, vec![], vec![Some(x.clone()), Some(reps)], 1).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH", "{e}");
        let neg = Tensor::from_vec(&[2], vec![2i64, -1]).unwrap();
        assert!(run("Tile", 13, vec![], vec![Some(x.clone()), Some(neg)], 1).is_err());
        let e = run("DepthToSpace", 13, vec![("blocksize", Attr::Int(2))], vec![Some(x.clone())], 1).unwrap_err();
        assert!(e.to_string().contains("4-D"), "{e}");
        let e = run("Compress", 11, vec![("axis", Attr::Int(1))], vec![Some(x.clone()), Some(Tensor::from_vec(&[4], vec![false, false, false, true]).unwrap())], 1).unwrap_err();
        assert!(e.to_string().contains("beyond"), "{e}");
        let lens = Tensor::from_vec(&[3], vec![1i64, 2, 9]).unwrap();
        assert!(run("ReverseSequence", 10, vec![("time_axis", Attr::Int(1)), ("batch_axis", Attr::Int(0))], vec![Some(x.clone()), Some(lens)], 1).is_err());
        // Tile of a u8 tensor repeats it exactly.
        let reps = Tensor::from_vec(&[2], vec![2i64, 1]).unwrap();
        let y = run("Tile", 13, vec![], vec![Some(x), Some(reps)], 1).unwrap().remove(0);
        assert_eq!(y, Tensor::from_vec(&[4, 3], vec![1u8, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]).unwrap());
    }
}
