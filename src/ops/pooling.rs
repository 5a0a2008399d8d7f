//! Pooling: GlobalAveragePool, GlobalMaxPool, AveragePool, MaxPool, N-d.
//!
//! Window geometry (kernel, strides, dilations, pads, auto_pad, ceil_mode) comes from
//! [`super::conv_geometry`]. Semantics (ONNX spec and onnxruntime):
//! - windows start at `o * stride - pad_begin`; positions outside the input never contribute to
//!   a max, and to an average only with `count_include_pad = 1`, where the divisor counts the
//!   window positions inside the padded input `[-pad_begin, in + pad_end)` (positions that
//!   `ceil_mode` adds past the end padding are not counted);
//! - MaxPool's optional `Indices` output holds the flat index of each max in the input tensor
//!   (row-major, or with the spatial dims column-major for `storage_order = 1`); ties keep the
//!   first position in window order.
//! - float32/float16/float64 everywhere; MaxPool also int8/uint8 (opset 12), 1-D and 2-D of
//!   those through the 8-bit kernel [`crate::kernels::qpool`] when `Indices` is not asked for.
use super::conv_geometry::{increment, Geometry, WindowAttrs};
use super::registry::{required, BuildContext, FnOp, Int8Inputs, Op, QuantRule, Registry};
use crate::error::{Error, Result};
use crate::kernels::q8::Q8;
use crate::kernels::qpool::{maxpool2d_q8, QPoolKernels, QPoolScratch};
use crate::kernels::select;
use crate::tensor::{checked_numel, DType, Elem, Tensor};
use half::f16;
use ndarray::{ArrayD, IxDyn};

pub fn register(r: &mut Registry) {
    r.register("", "GlobalAveragePool", global_average_pool).quant(QuantRule::Unary);
    r.register("", "GlobalMaxPool", global_max_pool);
    r.register("", "AveragePool", average_pool).quant(QuantRule::AveragePool);
    r.register("", "MaxPool", max_pool).int8(Int8Inputs::Only(&[0])).quant(QuantRule::MaxPool);
}

/// An element that pools: compared for max, accumulated in f64 for averages.
trait PoolElem: Elem + PartialOrd {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    /// Smallest value (the max of an empty window).
    const LOWEST: Self;
}
impl PoolElem for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    const LOWEST: Self = f32::NEG_INFINITY;
}
impl PoolElem for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    const LOWEST: Self = f64::NEG_INFINITY;
}
impl PoolElem for f16 {
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    const LOWEST: Self = f16::NEG_INFINITY;
}
impl PoolElem for i8 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as i8
    }
    const LOWEST: Self = i8::MIN;
}
impl PoolElem for u8 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as u8
    }
    const LOWEST: Self = u8::MIN;
}

fn check_rank(x: &Tensor, what: &str) -> Result<()> {
    if x.rank() < 3 {
        return Err(Error::shape(format!("{what} needs an input of rank >= 3 ([N, C, spatial...]), got {:?}", x.shape())));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Global pools

fn global_average_pool(_: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        check_rank(x, "GlobalAveragePool")?;
        fn avg<T: PoolElem>(a: &ArrayD<T>) -> Result<Tensor> {
            global(a, |plane| {
                let s: f64 = plane.iter().map(|v| v.to_f64()).sum();
                T::from_f64(s / plane.len().max(1) as f64)
            })
        }
        Ok(vec![match x {
            Tensor::F32(a) => global_f32_avg(a)?,
            Tensor::F64(a) => avg(a)?,
            Tensor::F16(a) => avg(a)?,
            other => return Err(Error::dtype(format!("GlobalAveragePool does not support {}", other.dtype()))),
        }])
    })))
}

/// float32 GlobalAveragePool summing in f32 lanes (auto-vectorized), the common case.
fn global_f32_avg(a: &ArrayD<f32>) -> Result<Tensor> {
    global(a, |plane| {
        let mut lanes = [0f32; 8];
        let mut chunks = plane.chunks_exact(8);
        for c in &mut chunks {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        let s: f32 = lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
        s / plane.len().max(1) as f32
    })
}

fn global_max_pool(_: &BuildContext) -> Result<Box<dyn Op>> {
    Ok(Box::new(FnOp(|inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        check_rank(x, "GlobalMaxPool")?;
        fn max<T: PoolElem>(a: &ArrayD<T>) -> Result<Tensor> {
            global(a, |plane| plane.iter().fold(T::LOWEST, |m, &v| if v > m || v.partial_cmp(&v).is_none() { v } else { m }))
        }
        Ok(vec![match x {
            Tensor::F32(a) => max(a)?,
            Tensor::F64(a) => max(a)?,
            Tensor::F16(a) => max(a)?,
            other => return Err(Error::dtype(format!("GlobalMaxPool does not support {}", other.dtype()))),
        }])
    })))
}

/// Reduces each `[n, c]` plane to one value; output `[N, C, 1, ...]`.
fn global<T: PoolElem>(a: &ArrayD<T>, f: impl Fn(&[T]) -> T) -> Result<Tensor> {
    let shape = a.shape();
    let planes = shape[0] * shape[1];
    let data = super::matmul::row_major(a);
    let size: usize = shape[2..].iter().product();
    let out: Vec<T> = if size == 0 {
        vec![f(&[]); planes]
    } else {
        data.chunks_exact(size).map(&f).collect()
    };
    let mut out_shape = vec![shape[0], shape[1]];
    out_shape.extend(std::iter::repeat_n(1, shape.len() - 2));
    Tensor::from_vec(&out_shape, out)
}

// ---------------------------------------------------------------------------------------------
// AveragePool / MaxPool

struct PoolAttrs {
    window: WindowAttrs,
    count_include_pad: bool,
    storage_order: i64,
}

fn pool_attrs(ctx: &BuildContext) -> Result<PoolAttrs> {
    let window = WindowAttrs::from_attrs(ctx.attrs())?;
    if window.kernel_shape.is_none() {
        return Err(Error::invalid("attribute 'kernel_shape' is required"));
    }
    Ok(PoolAttrs {
        window,
        count_include_pad: ctx.attrs().int_or("count_include_pad", 0)? != 0,
        storage_order: ctx.attrs().int_or("storage_order", 0)?,
    })
}

fn geometry(attrs: &PoolAttrs, x: &Tensor) -> Result<Geometry> {
    let kernel = attrs.window.kernel(None)?;
    attrs.window.resolve(&x.shape()[2..], &kernel)
}

fn average_pool(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = pool_attrs(ctx)?;
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        check_rank(x, "AveragePool")?;
        let g = geometry(&attrs, x)?;
        Ok(vec![match x {
            Tensor::F32(a) => avg_pool(a, &g, attrs.count_include_pad)?,
            Tensor::F64(a) => avg_pool(a, &g, attrs.count_include_pad)?,
            Tensor::F16(a) => avg_pool(a, &g, attrs.count_include_pad)?,
            other => return Err(Error::dtype(format!("AveragePool does not support {}", other.dtype()))),
        }])
    })))
}

fn max_pool(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let attrs = pool_attrs(ctx)?;
    if attrs.storage_order != 0 && attrs.storage_order != 1 {
        return Err(Error::invalid(format!("storage_order = {} must be 0 or 1", attrs.storage_order)));
    }
    let want_indices = ctx.node.outputs.get(1).is_some_and(|o| o.is_some());
    let q8 = select::qpool();
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "X")?;
        check_rank(x, "MaxPool")?;
        let g = geometry(&attrs, x)?;
        if !want_indices {
            if let Some(y) = max_pool_8bit(&q8, x, &g)? {
                return Ok(vec![y]);
            }
            if let Some(y) = max_pool_f32_2d(x, &g)? {
                return Ok(vec![y]);
            }
        }
        let col_major = attrs.storage_order == 1;
        let (y, idx) = match x {
            Tensor::F32(a) => max_pool_t(a, &g, want_indices, col_major)?,
            Tensor::F64(a) => max_pool_t(a, &g, want_indices, col_major)?,
            Tensor::F16(a) => max_pool_t(a, &g, want_indices, col_major)?,
            Tensor::I8(a) => max_pool_t(a, &g, want_indices, col_major)?,
            Tensor::U8(a) => max_pool_t(a, &g, want_indices, col_major)?,
            other => return Err(Error::dtype(format!("MaxPool does not support {}", other.dtype()))),
        };
        Ok(match idx {
            Some(i) => vec![y, i],
            None => vec![y],
        })
    })))
}

/// uint8 / int8 MaxPool of a 1-D or 2-D input without `Indices` (what a QDQ-fused model runs
/// on 8-bit tensors): [`maxpool2d_q8`] per plane on `k` (the op's, chosen when it was built);
/// `None` for other types and ranks.
fn max_pool_8bit(k: &QPoolKernels, x: &Tensor, g: &Geometry) -> Result<Option<Tensor>> {
    fn run<Q: Q8 + Elem>(k: &QPoolKernels, a: &ArrayD<Q>, g: &Geometry) -> Result<Option<Tensor>> {
        let Some((p, _)) = g.plane_2d() else { return Ok(None) };
        let shape = out_shape(a.shape(), g)?;
        let mut out = vec![Q::default(); checked_numel(&shape, Q::DTYPE)?];
        let data = super::matmul::row_major(a);
        let (in_sz, out_sz) = (g.input_size(), g.output_size());
        let mut scratch = QPoolScratch::default();
        for (i, o) in out.chunks_exact_mut(out_sz.max(1)).enumerate() {
            maxpool2d_q8(k, &p, &data[i * in_sz..][..in_sz], o, &mut scratch)?;
        }
        Tensor::from_vec(&shape, out).map(Some)
    }
    match x {
        Tensor::U8(a) => run(k, a, g),
        Tensor::I8(a) => run(k, a, g),
        _ => Ok(None),
    }
}

/// float32 MaxPool of a 1-D or 2-D input without `Indices`: direct loops over each window's taps
/// inside the input, the same rule as [`max_pool_t`] (the first tap, then any greater value).
fn max_pool_f32_2d(x: &Tensor, g: &Geometry) -> Result<Option<Tensor>> {
    let (Tensor::F32(a), Some((p, _))) = (x, g.plane_2d()) else { return Ok(None) };
    let shape = out_shape(a.shape(), g)?;
    let mut out = vec![0f32; checked_numel(&shape, DType::F32)?];
    let data = super::matmul::row_major(a);
    let (in_sz, out_sz) = (g.input_size(), g.output_size());
    // The taps of a window inside `[0, n)` along one axis: first tap index and count.
    let taps = |o: usize, s: usize, pad: usize, d: usize, k: usize, n: usize| -> (usize, usize, usize) {
        let start = (o * s) as isize - pad as isize;
        let first = (0..k).find(|&t| start + (t * d) as isize >= 0).unwrap_or(k);
        let last = (0..k).rev().find(|&t| start + ((t * d) as isize) < n as isize).map_or(0, |t| t + 1);
        let count = last.saturating_sub(first);
        (if count > 0 { (start + (first * d) as isize) as usize } else { 0 }, count, d)
    };
    // The common 2x2 stride-2 window without padding: four taps in row-major order, the same rule
    // with selects instead of branches.
    let two_by_two = (p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.ph, p.pw) == (2, 2, 2, 2, 1, 1, 0, 0) && 2 * p.oh <= p.ih && 2 * p.ow <= p.iw;
    let greater = |best: f32, v: f32| if v > best { v } else { best };
    for (plane, o) in data.chunks_exact(in_sz.max(1)).zip(out.chunks_exact_mut(out_sz.max(1))) {
        if two_by_two {
            for (oy, orow) in o.chunks_exact_mut(p.ow.max(1)).enumerate().take(p.oh) {
                let (r0, r1) = (&plane[2 * oy * p.iw..][..2 * p.ow], &plane[(2 * oy + 1) * p.iw..][..2 * p.ow]);
                for (ox, v) in orow.iter_mut().enumerate() {
                    *v = greater(greater(greater(r0[2 * ox], r0[2 * ox + 1]), r1[2 * ox]), r1[2 * ox + 1]);
                }
            }
            continue;
        }
        for oy in 0..p.oh {
            let (y0, ny, dy) = taps(oy, p.sh, p.ph, p.dh, p.kh, p.ih);
            for ox in 0..p.ow {
                let (x0, nx, dx) = taps(ox, p.sw, p.pw, p.dw, p.kw, p.iw);
                let mut best = f32::LOWEST;
                let mut first = true;
                for ty in 0..ny {
                    let row = &plane[(y0 + ty * dy) * p.iw..][..p.iw];
                    for tx in 0..nx {
                        let v = row[x0 + tx * dx];
                        if first || v > best {
                            best = v;
                            first = false;
                        }
                    }
                }
                o[oy * p.ow + ox] = best;
            }
        }
    }
    Tensor::from_vec(&shape, out).map(Some)
}

/// Walks every window of every plane: `visit(plane, output_index, positions)` where positions
/// are `(flat spatial index into the plane, inside_input)` for each kernel tap inside the
/// padded input (taps past the end padding, which only `ceil_mode` creates, are skipped).
struct Windows<'a> {
    g: &'a Geometry,
    in_strides: Vec<usize>,
}

impl<'a> Windows<'a> {
    fn new(g: &'a Geometry) -> Self {
        let n = g.rank();
        let mut in_strides = vec![1usize; n];
        for i in (0..n.saturating_sub(1)).rev() {
            in_strides[i] = in_strides[i + 1] * g.input[i + 1];
        }
        Windows { g, in_strides }
    }

    /// For each output position (row-major), calls `f(taps)` with the taps of its window.
    fn for_each(&self, mut f: impl FnMut(&[(usize, bool)])) {
        let g = self.g;
        let n = g.rank();
        let mut opos = vec![0usize; n];
        let mut k = vec![0usize; n];
        let mut taps: Vec<(usize, bool)> = Vec::with_capacity(g.kernel_size());
        for _ in 0..g.output_size() {
            taps.clear();
            k.iter_mut().for_each(|v| *v = 0);
            for _ in 0..g.kernel_size() {
                let mut idx = 0usize;
                let mut inside = true;
                let mut in_padded = true;
                for d in 0..n {
                    let p = (opos[d] * g.strides[d] + k[d] * g.dilations[d]) as isize - g.pads_begin[d] as isize;
                    if p < 0 || p >= g.input[d] as isize {
                        inside = false;
                        if p >= (g.input[d] + g.pads_end[d]) as isize {
                            in_padded = false;
                        }
                    } else {
                        idx += p as usize * self.in_strides[d];
                    }
                }
                if in_padded {
                    taps.push((idx, inside));
                }
                increment(&mut k, &g.kernel);
            }
            f(&taps);
            increment(&mut opos, &g.output);
        }
    }
}

fn out_shape(x: &[usize], g: &Geometry) -> Result<Vec<usize>> {
    let mut s = vec![x[0], x[1]];
    s.extend(&g.output);
    checked_numel(&s, DType::F64)?;
    Ok(s)
}

fn avg_pool<T: PoolElem>(a: &ArrayD<T>, g: &Geometry, count_include_pad: bool) -> Result<Tensor> {
    let shape = out_shape(a.shape(), g)?;
    let data = super::matmul::row_major(a);
    let (in_sz, planes) = (g.input_size(), a.shape()[0] * a.shape()[1]);
    let w = Windows::new(g);
    let mut out = Vec::with_capacity(planes * g.output_size());
    for p in 0..planes {
        let plane = &data[p * in_sz..(p + 1) * in_sz];
        w.for_each(|taps| {
            let mut sum = 0f64;
            let mut count = 0usize;
            for &(i, inside) in taps {
                if inside {
                    sum += plane[i].to_f64();
                    count += 1;
                } else if count_include_pad {
                    count += 1;
                }
            }
            out.push(T::from_f64(if count == 0 { f64::NAN } else { sum / count as f64 }));
        });
    }
    Tensor::from_vec(&shape, out)
}

fn max_pool_t<T: PoolElem>(a: &ArrayD<T>, g: &Geometry, want_indices: bool, col_major: bool) -> Result<(Tensor, Option<Tensor>)> {
    let shape = out_shape(a.shape(), g)?;
    let data = super::matmul::row_major(a);
    let (in_sz, planes) = (g.input_size(), a.shape()[0] * a.shape()[1]);
    let w = Windows::new(g);
    let mut out = Vec::with_capacity(planes * g.output_size());
    let mut indices: Vec<i64> = Vec::with_capacity(if want_indices { planes * g.output_size() } else { 0 });
    // Column-major spatial index of a row-major one (storage_order = 1).
    let to_col_major = |mut i: usize| -> usize {
        let mut coords = vec![0usize; g.rank()];
        for d in (0..g.rank()).rev() {
            coords[d] = i % g.input[d].max(1);
            i /= g.input[d].max(1);
        }
        let mut idx = 0;
        for d in (0..g.rank()).rev() {
            idx = idx * g.input[d] + coords[d];
        }
        idx
    };
    for p in 0..planes {
        let plane = &data[p * in_sz..(p + 1) * in_sz];
        w.for_each(|taps| {
            let mut best = T::LOWEST;
            let mut best_i: Option<usize> = None;
            for &(i, inside) in taps {
                if inside && (best_i.is_none() || plane[i] > best) {
                    best = plane[i];
                    best_i = Some(i);
                }
            }
            out.push(best);
            if want_indices {
                let i = best_i.unwrap_or(0);
                let i = if col_major { to_col_major(i) } else { i };
                indices.push((p * in_sz + i) as i64);
            }
        });
    }
    let y = Tensor::from_vec(&shape, out)?;
    let idx = if want_indices { Some(Tensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), indices).map_err(|e| Error::shape(e.to_string()))?)) } else { None };
    Ok((y, idx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv_geometry::AutoPad;

    /// The MaxPool cases of the fast-path tests: kernel, strides, pads, dilations, ceil_mode, on
    /// 2 x 3 planes of 7 x 10 (2-D) or 19 (1-D); returns each case's geometry and input shape.
    fn max_pool_cases() -> Vec<(Geometry, Vec<usize>)> {
        [
            (vec![3, 3], vec![2, 2], vec![1, 1, 1, 1], vec![1, 1], false),
            (vec![2, 2], vec![2, 2], vec![0, 0, 0, 0], vec![1, 1], true),
            (vec![2, 2], vec![2, 2], vec![0, 0, 0, 0], vec![1, 1], false),
            (vec![3, 2], vec![1, 3], vec![2, 0, 1, 1], vec![2, 1], true),
            (vec![5], vec![2], vec![2, 2], vec![1], false),
            (vec![2], vec![1], vec![0, 0], vec![3], false),
        ]
        .into_iter()
        .map(|(kernel, strides, pads, dil, ceil): (Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>, bool)| {
            let wa = WindowAttrs {
                kernel_shape: Some(kernel.clone()),
                strides: Some(strides),
                pads: Some(pads),
                dilations: Some(dil),
                ceil_mode: ceil,
                auto_pad: AutoPad::NotSet,
            };
            let spatial: Vec<usize> = if kernel.len() == 2 { vec![7, 10] } else { vec![19] };
            let mut shape = vec![2, 3];
            shape.extend(&spatial);
            (wa.resolve(&spatial, &kernel).unwrap(), shape)
        })
        .collect()
    }

    /// 8-bit MaxPool (the kernel path) equals float MaxPool (the generic path) on the same values.
    #[test]
    fn max_pool_8bit_matches_float() {
        for (g, shape) in max_pool_cases() {
            let n: usize = shape.iter().product();
            let v: Vec<i32> = (0..n).map(|i| ((i * 97 + 13) % 256) as i32).collect();
            let xu = Tensor::from_vec(&shape, v.iter().map(|&q| q as u8).collect::<Vec<_>>()).unwrap();
            let xi = Tensor::from_vec(&shape, v.iter().map(|&q| (q - 128) as i8).collect::<Vec<_>>()).unwrap();
            let xf = ArrayD::from_shape_vec(IxDyn(&shape), v.iter().map(|&q| q as f32).collect()).unwrap();
            let (want, _) = max_pool_t(&xf, &g, false, false).unwrap();
            let want = want.to_f32_vec();
            let got = max_pool_8bit(&select::qpool(), &xu, &g).unwrap().unwrap().to_f32_vec();
            assert_eq!(got, want);
            let got: Vec<f32> = max_pool_8bit(&select::qpool(), &xi, &g).unwrap().unwrap().to_f32_vec().iter().map(|v| v + 128.0).collect();
            assert_eq!(got, want);
        }
    }

    /// The float32 fast path equals the generic window walk, NaN included.
    #[test]
    fn max_pool_f32_fast_path_matches_the_generic_walk() {
        for (g, shape) in max_pool_cases() {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n).map(|i| if i % 17 == 5 { f32::NAN } else { ((i * 97 + 13) % 256) as f32 - 100.0 }).collect();
            let xf = ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap();
            let (want, _) = max_pool_t(&xf, &g, false, false).unwrap();
            let got = max_pool_f32_2d(&Tensor::F32(xf), &g).unwrap().unwrap();
            let bits = |t: &Tensor| t.to_f32_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(got.shape(), want.shape());
            assert_eq!(bits(&got), bits(&want), "{:?}", g.kernel);
        }
    }

    #[test]
    fn average_counts_pads_only_when_asked() {
        let wa = WindowAttrs { kernel_shape: Some(vec![3]), pads: Some(vec![1, 1]), auto_pad: AutoPad::NotSet, ..Default::default() };
        let g = wa.resolve(&[3], &[3]).unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 3]), vec![3f32, 6.0, 9.0]).unwrap();
        let y = avg_pool(&x, &g, false).unwrap().to_f32_vec();
        assert_eq!(y, vec![4.5, 6.0, 7.5]);
        let y = avg_pool(&x, &g, true).unwrap().to_f32_vec();
        assert_eq!(y, vec![3.0, 6.0, 5.0]);
        let (m, i) = max_pool_t(&x, &g, true, false).unwrap();
        assert_eq!(m.to_f32_vec(), vec![6.0, 9.0, 9.0]);
        assert_eq!(i.unwrap().to_i64_vec().unwrap(), vec![1, 2, 2]);
    }
}
