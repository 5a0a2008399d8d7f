//! Direct 2-D depthwise convolution of 8-bit tensors (QLinearConv with one input and one output
//! channel per group), one channel plane at a time, with an i32 accumulator and the
//! [`Requant`] output rule. Oracle: [`super::reference::dwconv2d_q8_ref`].
//!
//! The products are formed by `i32x4.dot_i16x8_s`, which multiplies *pairs* of i16 lanes and
//! adds each pair: so the input, minus its zero point, is widened to i16 in a zero-padded plane
//! (padding reads the zero point, i.e. real 0, as in the reference's im2col), and the kernel taps
//! are grouped in pairs whose two inputs sit side by side in memory:
//!
//! - [`Pairing::Cols`] (column stride 2, no column dilation; the stride-2 depthwise layers):
//!   output `ox` reads columns `2·ox + kj`, so taps `kj = 2p, 2p + 1` of one kernel row are the
//!   adjacent pair `(x[2·ox + 2p], x[2·ox + 2p + 1])` of the padded plane: no shuffling at all.
//! - [`Pairing::Rows`] (everything else; stride 1 is the common case): kernel rows `2p, 2p + 1`
//!   are paired, from a "pair plane" whose row `r` interleaves padded rows `r` and `r + dh`; a
//!   column stride `s > 1` splits the columns into `s` phases first, so every tap reads
//!   contiguously.
//!
//! An odd last row (or column) pairs with a zero weight. The weights are packed once per
//! pairing ([`QDwWeights::pack`], at plan build time for constant weights): per channel, one i32
//! per tap pair holding the two centered i16 weights. A micro-kernel ([`DwQ8Ukernel`]) then
//! computes one output row: per 8 outputs, two loads, two dot products and two adds per tap
//! pair, and the requantization.
use super::dwconv::Dw2d;
use super::q8::Q8;
pub use crate::ukernel::{DwQ8Ukernel, DwRows, PackQ8Ukernel, Pairing, QDwKernels, Requant, DW_CHUNK as CHUNK};
use crate::error::{Error, Result};
use crate::quant_math::QInt;

/// Depthwise weights minus their zero points, packed as tap pairs for one [`Pairing`].
#[derive(Debug, Clone, PartialEq)]
pub struct QDwWeights {
    pub channels: usize,
    pub kh: usize,
    pub kw: usize,
    pub pairing: Pairing,
    /// Tap pairs per channel.
    pub taps: usize,
    /// `channels x taps`: low 16 bits the first tap's weight, high 16 bits the second's.
    w: Vec<i32>,
}

impl QDwWeights {
    /// Packs `w` (`[channels, 1, kh, kw]`, row-major) minus `w_zp[c]` (one per channel).
    pub fn pack<W: QInt>(w: &[W], w_zp: &[i32], channels: usize, kh: usize, kw: usize, pairing: Pairing) -> Result<QDwWeights> {
        if kh == 0 || kw == 0 || channels.checked_mul(kh * kw) != Some(w.len()) || w_zp.len() != channels {
            return Err(Error::shape(format!(
                "depthwise weights: {} values and {} zero points for {channels} channels of {kh}x{kw}",
                w.len(),
                w_zp.len()
            )));
        }
        let taps = match pairing {
            Pairing::Rows => kh.div_ceil(2) * kw,
            Pairing::Cols => kh * kw.div_ceil(2),
        };
        let mut packed = Vec::with_capacity(channels * taps);
        for c in 0..channels {
            let at = |ki: usize, kj: usize| -> i32 {
                if ki < kh && kj < kw {
                    w[(c * kh + ki) * kw + kj].to_i32() - w_zp[c]
                } else {
                    0
                }
            };
            for t in 0..taps {
                let (a, b) = match pairing {
                    Pairing::Rows => ((2 * (t / kw), t % kw), (2 * (t / kw) + 1, t % kw)),
                    Pairing::Cols => {
                        let per = kw.div_ceil(2);
                        ((t / per, 2 * (t % per)), (t / per, 2 * (t % per) + 1))
                    }
                };
                let (lo, hi) = (at(a.0, a.1), at(b.0, b.1));
                // Both are differences of two 8-bit values of one type: within i16.
                packed.push((lo as i16 as u16 as u32 | ((hi as i16 as u16 as u32) << 16)) as i32);
            }
        }
        Ok(QDwWeights { channels, kh, kw, pairing, taps, w: packed })
    }

    fn channel(&self, c: usize) -> &[i32] {
        &self.w[c * self.taps..(c + 1) * self.taps]
    }
}

/// Reusable buffers (one per op run).
#[derive(Default)]
pub struct QDwScratch {
    plane: Vec<i16>,
    pairs: Vec<i16>,
    zp_row: Vec<u8>,
    needed: Vec<bool>,
    offs: Vec<usize>,
}

fn check(p: &Dw2d, x_len: usize, w: &QDwWeights, bias: usize, rq: usize, out_len: usize) -> Result<()> {
    let pairing_ok = w.pairing == Pairing::Rows || (p.sw == 2 && p.dw == 1);
    let c = w.channels;
    if Some(x_len) != c.checked_mul(p.ih * p.iw)
        || Some(out_len) != c.checked_mul(p.oh * p.ow)
        || bias != c
        || rq != c
        || [p.sh, p.sw, p.dh, p.dw].contains(&0)
        || (p.kh, p.kw) != (w.kh, w.kw)
        || !pairing_ok
    {
        return Err(Error::shape(format!(
            "8-bit depthwise conv: input {x_len} (want {c}x{}x{}), output {out_len} (want {c}x{}x{}), {bias} biases, {rq} multipliers, kernel {}x{} packed {}x{} ({:?}), strides {}x{}",
            p.ih, p.iw, p.oh, p.ow, p.kh, p.kw, w.kh, w.kw, w.pairing, p.sh, p.sw
        )));
    }
    Ok(())
}

/// The padded input row `r` of `y`'s plane, if it lies inside the input.
fn input_row(r: usize, pad: usize, ih: usize) -> Option<usize> {
    r.checked_sub(pad).filter(|&y| y < ih)
}

/// Whether the tap groups of weights packed with `pairing` are 2 values apart for a column
/// stride and dilation (what the unrolled kernels need; the `regular` of `select::dwconv_q8`).
pub fn regular_taps(pairing: Pairing, stride: usize, dilation: usize) -> bool {
    pairing == Pairing::Cols || (stride == 1 && dilation == 1)
}

/// All channels of one image: `out` (`channels x oh x ow`) from `x` (`channels x ih x iw`, zero
/// point `x_zp`), the packed weights, `bias[c]`, requantized by `rq[c]`, on `k` (chosen once by
/// `select::dwconv_q8` for the weights' shape and pairing and [`regular_taps`]; a channel
/// whose requantization does not suit SIMD runs `k.conv.fallback`).
#[allow(clippy::too_many_arguments)]
pub fn dwconv2d_q8<X: Q8, Y: Q8>(
    k: &QDwKernels,
    p: &Dw2d,
    x: &[X],
    x_zp: i32,
    w: &QDwWeights,
    bias: &[i32],
    rq: &[Requant],
    out: &mut [Y],
    s: &mut QDwScratch,
) -> Result<()> {
    check(p, x.len(), w, bias.len(), rq.len(), out.len())?;
    let regular = regular_taps(w.pairing, p.sw, p.dw);
    if (k.kh, k.kw, k.pairing, k.regular) != (w.kh, w.kw, w.pairing, regular) {
        return Err(Error::invalid(format!(
            "8-bit depthwise conv: kernels chosen for {}x{} {:?} (regular taps: {}) cannot run {}x{} {:?} weights (regular taps: {regular})",
            k.kh, k.kw, k.pairing, k.regular, w.kh, w.kw, w.pairing
        )));
    }
    if out.is_empty() {
        return Ok(());
    }
    let zp = (x_zp + X::BIAS) as i16;
    let xb = X::bytes(x);
    let pack = k.pack;
    let n8 = p.ow.next_multiple_of(CHUNK);
    // Padded rows the outputs read.
    let hh = (p.oh - 1) * p.sh + (p.kh - 1) * p.dh + 1;
    // Input columns inside the padded row (the rest of each row stays 0 for every channel).
    let row_cols = |width: usize| p.iw.min(width.saturating_sub(p.pw));
    s.offs.clear();
    enum Layout {
        /// Centered plane `rows x width`, read directly (Cols) or split into pair rows.
        Plane { width: usize, rows: usize },
        /// Pair rows of `len` pairs packed straight from the input (Rows, column stride 1).
        Pairs { len: usize },
    }
    let (layout, row_stride) = match (w.pairing, p.sw) {
        (Pairing::Cols, _) => {
            // Output j reads columns 2j + 2p and 2j + 2p + 1.
            let width = 2 * n8 + 2 * p.kw.div_ceil(2);
            for ki in 0..p.kh {
                for pc in 0..p.kw.div_ceil(2) {
                    s.offs.push(ki * p.dh * width + 2 * pc);
                }
            }
            s.plane.clear();
            s.plane.resize(hh * width, 0);
            (Layout::Plane { width, rows: hh }, p.sh * width)
        }
        (Pairing::Rows, sw) => {
            // Phase f of the columns holds padded columns f, f + sw, ...; pair row r holds rows
            // r and r + dh interleaved, `len` pairs per phase.
            let len = n8 + (p.kw - 1) * p.dw / sw + 1;
            s.needed.clear();
            s.needed.resize(hh, false);
            for oy in 0..p.oh {
                for kp in 0..p.kh.div_ceil(2) {
                    s.needed[oy * p.sh + 2 * kp * p.dh] = true;
                }
            }
            for kp in 0..p.kh.div_ceil(2) {
                for kj in 0..p.kw {
                    let (f, off) = ((kj * p.dw) % sw, (kj * p.dw) / sw);
                    s.offs.push(((f * hh + 2 * kp * p.dh) * len + off) * 2);
                }
            }
            s.pairs.clear();
            s.pairs.resize(sw * hh * 2 * len, 0);
            let layout = if sw == 1 {
                s.zp_row.clear();
                s.zp_row.resize(p.iw, (zp as u8) ^ X::FLIP);
                Layout::Pairs { len }
            } else {
                s.plane.clear();
                s.plane.resize((hh + p.dh) * len * sw, 0);
                Layout::Plane { width: len * sw, rows: hh + p.dh }
            };
            (layout, p.sh * 2 * len)
        }
    };
    let buf_len = if w.pairing == Pairing::Cols { s.plane.len() } else { s.pairs.len() };
    // Every read of every row stays inside the buffer (so the kernel calls below are sound).
    let last = s.offs.iter().max().copied().unwrap_or(0) + (p.oh - 1) * row_stride + 2 * n8;
    if s.offs.len() != w.taps || last > buf_len {
        return Err(Error::invalid(format!("8-bit depthwise conv: buffer of {buf_len} values, reads up to {last}")));
    }
    let (in_sz, out_sz) = (p.ih * p.iw, p.oh * p.ow);
    for c in 0..w.channels {
        let xc = &xb[c * in_sz..][..in_sz];
        match layout {
            Layout::Plane { width, rows } => {
                let cols = row_cols(width);
                for y in 0..p.ih.min(rows.saturating_sub(p.ph)) {
                    let dst = &mut s.plane[(y + p.ph) * width + p.pw..][..cols];
                    // SAFETY: the source row holds iw >= cols bytes, dst cols values.
                    unsafe { (pack.ukernel)(cols, xc[y * p.iw..].as_ptr(), std::ptr::null(), X::FLIP, zp, dst.as_mut_ptr()) };
                }
                if w.pairing == Pairing::Rows {
                    let (sw, len) = (p.sw, width / p.sw);
                    for (r, _) in s.needed.iter().enumerate().filter(|(_, n)| **n) {
                        let (a, b) = (&s.plane[r * width..][..width], &s.plane[(r + p.dh) * width..][..width]);
                        for f in 0..sw {
                            let dst = &mut s.pairs[(f * hh + r) * 2 * len..][..2 * len];
                            for (k, d) in dst.chunks_exact_mut(2).enumerate() {
                                d[0] = a[f + k * sw];
                                d[1] = b[f + k * sw];
                            }
                        }
                    }
                }
            }
            Layout::Pairs { len } => {
                let cols = row_cols(len);
                for (r, _) in s.needed.iter().enumerate().filter(|(_, n)| **n) {
                    let row = |rr: usize| input_row(rr, p.ph, p.ih).map(|y| &xc[y * p.iw..][..cols]);
                    let (a, b) = match (row(r), row(r + p.dh)) {
                        (None, None) => continue,
                        (a, b) => (a.unwrap_or(&s.zp_row[..cols]), b.unwrap_or(&s.zp_row[..cols])),
                    };
                    let dst = &mut s.pairs[(r * len + p.pw) * 2..][..2 * cols];
                    // SAFETY: a and b hold cols bytes, dst 2·cols values.
                    unsafe { (pack.ukernel)(cols, a.as_ptr(), b.as_ptr(), X::FLIP, zp, dst.as_mut_ptr()) };
                }
            }
        }
        let buf = if w.pairing == Pairing::Cols { &s.plane } else { &s.pairs };
        let kern = k.conv.pick(rq[c].simd_ok()).get::<Y>();
        let orows = Y::bytes_mut(&mut out[c * out_sz..][..out_sz]);
        // SAFETY: checked above: base + (oh - 1)·row_stride + offs[t] + 2·n8 <= buf.len(), and
        // w.channel(c).len() == taps == offs.len(); orows holds oh·ow bytes.
        let rows = DwRows {
            rows: p.oh,
            n: p.ow,
            base: buf.as_ptr(),
            in_stride: row_stride,
            offs: &s.offs,
            w: w.channel(c),
            bias: bias[c],
            rq: &rq[c],
        };
        unsafe { (kern.ukernel)(&rows, orows.as_mut_ptr()) };
    }
    Ok(())
}
