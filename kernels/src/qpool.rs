//! 8-bit pooling, NCHW, one channel plane at a time: MaxPool, AveragePool (2-D, any kernel,
//! stride, dilation and padding) and GlobalAveragePool. Oracles:
//! [`super::reference::maxpool2d_q8_ref`], [`super::reference::avgpool2d_q8_ref`],
//! [`super::reference::global_avgpool_q8_ref`].
//!
//! The plane is first copied (as biased bytes, see [`super::q8`]) into a padded plane whose
//! padding holds the value that changes nothing: the type's minimum for a max, the zero point
//! for an average (so each window sums `kh·kw` bytes and subtracts `kh·kw · zero_point`).
//! Column strides above 1 split the columns into phases, so every tap of a row of outputs reads
//! contiguously; a micro-kernel then reduces 16 outputs per step.
//!
//! Averages requantize `Σ (x - z_x)` with `x_scale / (y_scale · count)` (f32, like
//! QLinearGlobalAveragePool), `count` being the taps inside the input, or inside the padded
//! input with `count_include_pad`; the count is a product of a row count and a column count,
//! so the multipliers come from a table indexed by it.
use super::dwconv::Dw2d;
use super::q8::Q8;
pub use crate::ukernel::{AvgPoolQ8Ukernel, MaxPoolQ8Ukernel, PoolRows, QPoolKernels, Requant, SumU8Ukernel, POOL_CHUNK as CHUNK};
use crate::error::{Error, Result};

/// Largest window whose byte sums fit the SIMD kernels' 16-bit lanes (257 · 255 < 65536).
pub const MAX_U16_TAPS: usize = 257;

/// AveragePool's parameters. `out` gives the output zero point and clamp; its multiplier is
/// replaced per window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvgPoolParams {
    pub x_zp: i32,
    pub x_scale: f32,
    pub y_scale: f32,
    pub count_include_pad: bool,
    pub out: Requant,
}

/// Reusable buffers (one per op run, shared by all planes).
#[derive(Default)]
pub struct QPoolScratch {
    plane: Vec<u8>,
    offs: Vec<usize>,
    mult: Vec<f32>,
    table: Vec<f32>,
    cols: Vec<usize>,
}

fn check(p: &Dw2d, x_len: usize, out_len: usize) -> Result<()> {
    if x_len != p.ih * p.iw || out_len != p.oh * p.ow || [p.kh, p.kw, p.sh, p.sw, p.dh, p.dw].contains(&0) {
        return Err(Error::shape(format!(
            "8-bit pool: input {x_len} (want {}x{}), output {out_len} (want {}x{}), kernel {}x{}, strides {}x{}, dilations {}x{}",
            p.ih, p.iw, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw
        )));
    }
    Ok(())
}

/// Fills the padded, phase-split plane (`sw` phases of `rows` rows of `len` bytes; phase `f`
/// holds padded columns `f, f + sw, ...`) and the tap offsets; returns the row stride of outputs.
fn prepare(s: &mut QPoolScratch, x: &[u8], flip: u8, pad: u8, p: &Dw2d) -> usize {
    let rows = (p.oh - 1) * p.sh + (p.kh - 1) * p.dh + 1;
    let len = p.ow.next_multiple_of(CHUNK) + (p.kw - 1) * p.dw / p.sw + 1;
    s.plane.clear();
    s.plane.resize(p.sw * rows * len, pad);
    for y in 0..p.ih.min(rows.saturating_sub(p.ph)) {
        let src = &x[y * p.iw..][..p.iw];
        for f in 0..p.sw {
            // Columns c of this phase with pw <= f + c·sw < pw + iw.
            let c0 = p.pw.saturating_sub(f).div_ceil(p.sw);
            let c1 = (p.pw + p.iw).saturating_sub(f).div_ceil(p.sw).min(len);
            if c0 >= c1 {
                continue;
            }
            let dst = &mut s.plane[(f * rows + y + p.ph) * len..][c0..c1];
            let first = f + c0 * p.sw - p.pw;
            for (d, &v) in dst.iter_mut().zip(src[first..].iter().step_by(p.sw)) {
                *d = v ^ flip;
            }
        }
    }
    s.offs.clear();
    for ki in 0..p.kh {
        for kj in 0..p.kw {
            let (f, off) = ((kj * p.dw) % p.sw, (kj * p.dw) / p.sw);
            s.offs.push((f * rows + ki * p.dh) * len + off);
        }
    }
    p.sh * len
}

/// Checks that every read of every output row stays inside the plane.
fn check_reads(s: &QPoolScratch, p: &Dw2d, row_stride: usize) -> Result<()> {
    let last = s.offs.iter().max().copied().unwrap_or(0) + (p.oh - 1) * row_stride + p.ow.next_multiple_of(CHUNK);
    if last > s.plane.len() {
        return Err(Error::invalid(format!("8-bit pool: plane of {} bytes, reads up to {last}", s.plane.len())));
    }
    Ok(())
}

/// One plane of MaxPool: the largest value inside each window (`Q::MIN` if none is), on
/// `k.max` (`k` chosen once by `select::qpool`).
pub fn maxpool2d_q8<Q: Q8>(k: &QPoolKernels, p: &Dw2d, x: &[Q], out: &mut [Q], s: &mut QPoolScratch) -> Result<()> {
    check(p, x.len(), out.len())?;
    if out.is_empty() {
        return Ok(());
    }
    let row_stride = prepare(s, Q::bytes(x), Q::FLIP, 0, p);
    check_reads(s, p, row_stride)?;
    let kern = k.max;
    // SAFETY: check_reads; offs has kh·kw >= 1 entries; out holds oh·ow bytes.
    let r = PoolRows { rows: p.oh, n: p.ow, base: s.plane.as_ptr(), in_stride: row_stride, offs: &s.offs };
    unsafe { (kern.ukernel)(&r, Q::FLIP, Q::bytes_mut(out).as_mut_ptr()) };
    Ok(())
}

/// Taps of output `o` along one axis inside `[lo, hi)` of the padded axis.
fn counted(o: usize, stride: usize, k: usize, dilation: usize, lo: usize, hi: usize) -> usize {
    (0..k).filter(|&t| (lo..hi).contains(&(o * stride + t * dilation))).count()
}

/// One plane of AveragePool (see the module overview) on `k.avg` (its fallback for windows of
/// more than [`MAX_U16_TAPS`] taps and non-finite multipliers); `pads_end` are the end pads,
/// which bound the counted padding.
pub fn avgpool2d_q8<Q: Q8>(
    k: &QPoolKernels,
    p: &Dw2d,
    pads_end: (usize, usize),
    x: &[Q],
    prm: &AvgPoolParams,
    out: &mut [Q],
    s: &mut QPoolScratch,
) -> Result<()> {
    check(p, x.len(), out.len())?;
    let taps = p.kh * p.kw;
    if taps > (i32::MAX / 255) as usize {
        return Err(Error::invalid(format!("8-bit AveragePool window of {}x{} is too large", p.kh, p.kw)));
    }
    if out.is_empty() {
        return Ok(());
    }
    let zp = prm.x_zp + Q::BIAS;
    let row_stride = prepare(s, Q::bytes(x), Q::FLIP, zp as u8, p);
    check_reads(s, p, row_stride)?;
    // Counted ranges in padded coordinates.
    let (ry, rx) = if prm.count_include_pad {
        ((0, p.ph + p.ih + pads_end.0), (0, p.pw + p.iw + pads_end.1))
    } else {
        ((p.ph, p.ph + p.ih), (p.pw, p.pw + p.iw))
    };
    s.table.clear();
    s.table.extend((0..=taps).map(|c| prm.x_scale / (prm.y_scale * c as f32)));
    s.cols.clear();
    s.cols.extend((0..p.ow).map(|ox| counted(ox, p.sw, p.kw, p.dw, rx.0, rx.1)));
    let n16 = p.ow.next_multiple_of(CHUNK);
    s.mult.clear();
    s.mult.resize(n16, 0.0);
    let ob = Q::bytes_mut(out);
    let mut oy = 0;
    while oy < p.oh {
        // A run of rows with the same row count shares the multipliers.
        let rc = counted(oy, p.sh, p.kh, p.dh, ry.0, ry.1);
        let end = (oy + 1..p.oh).find(|&r| counted(r, p.sh, p.kh, p.dh, ry.0, ry.1) != rc).unwrap_or(p.oh);
        for (m, &cc) in s.mult.iter_mut().zip(&s.cols) {
            *m = s.table[rc * cc];
        }
        let simd = taps <= MAX_U16_TAPS && prm.out.simd_ok() && s.mult.iter().all(|m| m.is_finite());
        let kern = k.avg.pick(simd).get::<Q>();
        let orows = &mut ob[oy * p.ow..end * p.ow];
        // SAFETY: check_reads (rows oy..end); mult holds n16 values; orows (end - oy)·ow bytes.
        let r = PoolRows { rows: end - oy, n: p.ow, base: s.plane[oy * row_stride..].as_ptr(), in_stride: row_stride, offs: &s.offs };
        unsafe { (kern.ukernel)(&r, taps as i32 * zp, &s.mult, &prm.out, orows.as_mut_ptr()) };
        oy = end;
    }
    Ok(())
}

/// GlobalAveragePool over `planes` contiguous planes of `x` (NCHW): `out[i] =
/// requantize(Σ (x - x_zp), rq)` per plane ([`Requant::apply_wide`]), `rq.multiplier = x_scale /
/// (y_scale · plane size)` in f32; the sums on `k.sum`.
pub fn global_avgpool_q8<Q: Q8>(k: &QPoolKernels, x: &[Q], planes: usize, x_zp: i32, rq: &Requant, out: &mut [Q]) -> Result<()> {
    if out.len() != planes || (planes == 0 && !x.is_empty()) || (planes > 0 && x.len() % planes != 0) {
        return Err(Error::shape(format!("8-bit GlobalAveragePool: {} values for {planes} planes, output {}", x.len(), out.len())));
    }
    if planes == 0 {
        return Ok(());
    }
    let size = x.len() / planes;
    if size == 0 {
        out.iter_mut().for_each(|o| *o = rq.apply_wide::<Q>(0));
        return Ok(());
    }
    let kern = k.sum;
    let zp = (x_zp + Q::BIAS) as i64;
    for (o, plane) in out.iter_mut().zip(Q::bytes(x).chunks_exact(size)) {
        // SAFETY: the plane holds `size` bytes.
        let sum = unsafe { (kern.ukernel)(size, plane.as_ptr(), Q::FLIP) };
        *o = rq.apply_wide::<Q>(sum as i64 - zp * size as i64);
    }
    Ok(())
}

/// GlobalAveragePool of `images` NHWC images of `spatial` positions and `channels` channels
/// (`channels_last`): `out[n][c]` as [`global_avgpool_q8`]. Per-channel sums in u32 lanes
/// (auto-vectorized), flushed to u64 every 2^24 positions.
pub fn global_avgpool_nhwc_q8<Q: Q8>(
    x: &[Q],
    images: usize,
    spatial: usize,
    channels: usize,
    x_zp: i32,
    rq: &Requant,
    out: &mut [Q],
) -> Result<()> {
    if Some(x.len()) != images.checked_mul(spatial).and_then(|v| v.checked_mul(channels)) || out.len() != images * channels {
        return Err(Error::shape(format!(
            "8-bit GlobalAveragePool (channels last): {} values for {images}x{spatial}x{channels}, output {}",
            x.len(),
            out.len()
        )));
    }
    if channels == 0 {
        return Ok(());
    }
    let zp = (x_zp + Q::BIAS) as i64;
    let mut lanes = vec![0u32; channels];
    let mut total = vec![0u64; channels];
    for (img, o) in out.chunks_exact_mut(channels).enumerate() {
        total.iter_mut().for_each(|t| *t = 0);
        let image = &Q::bytes(x)[img * spatial * channels..][..spatial * channels];
        for block in image.chunks(channels << 24) {
            lanes.iter_mut().for_each(|l| *l = 0);
            for row in block.chunks_exact(channels) {
                for (l, &v) in lanes.iter_mut().zip(row) {
                    *l += (v ^ Q::FLIP) as u32;
                }
            }
            total.iter_mut().zip(&lanes).for_each(|(t, &l)| *t += l as u64);
        }
        for (o, &t) in o.iter_mut().zip(&total) {
            *o = rq.apply_wide::<Q>(t as i64 - zp * spatial as i64);
        }
    }
    Ok(())
}
