//! Direct 2-D depthwise convolution, f32, one channel at a time (EfficientNet and MobileNet are
//! depthwise-heavy; im2col would copy each input kh*kw times for a product of depth 1).
//!
//! The channel is first copied into a zero-padded plane holding exactly the rows and columns
//! the outputs read, so no tap needs a bounds check. Stride 1 (most depthwise layers) then uses
//! "wide rows": the output is computed over the padded width, so each kernel row is one long
//! contiguous multiply-add over the whole plane (all its taps at once, auto-vectorized: `f32x4`
//! on wasm SIMD128, SSE natively) and the extra columns are dropped at the end; this keeps small
//! planes (7x7, 14x14) fast. Stride 2 splits the padded plane into even and odd columns once, so
//! every tap reads contiguously per output row.
//! Oracle: [`super::reference::dwconv2d_f32_ref`].
use crate::error::{Error, Result};

/// The geometry of one depthwise channel (all resolved: pads are the begin pads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dw2d {
    pub ih: usize,
    pub iw: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub ph: usize,
    pub pw: usize,
    pub oh: usize,
    pub ow: usize,
}

/// Reusable buffers for [`dwconv2d_f32`] (one per op run, shared by all channels).
#[derive(Default)]
pub struct DwScratch {
    padded: Vec<f32>,
    wide: Vec<f32>,
    even: Vec<f32>,
    odd: Vec<f32>,
}

/// One channel: `out` (`oh x ow`) from `input` (`ih x iw`) and `w` (`kh x kw`).
pub fn dwconv2d_f32(
    p: &Dw2d,
    input: &[f32],
    w: &[f32],
    bias: f32,
    out: &mut [f32],
    clamp: Option<(f32, f32)>,
    scratch: &mut DwScratch,
) -> Result<()> {
    if input.len() != p.ih * p.iw
        || w.len() != p.kh * p.kw
        || out.len() != p.oh * p.ow
        || p.sh == 0
        || p.sw == 0
        || p.kh == 0
        || p.kw == 0
    {
        return Err(Error::shape(format!(
            "depthwise conv buffers: input {} (want {}x{}), weights {} (want {}x{}), output {} (want {}x{})",
            input.len(),
            p.ih,
            p.iw,
            w.len(),
            p.kh,
            p.kw,
            out.len(),
            p.oh,
            p.ow
        )));
    }
    if out.is_empty() {
        return Ok(());
    }
    // The padded plane: rows/columns [0, hh) x [0, ww) of the input shifted by the pads.
    let hh = (p.oh - 1) * p.sh + (p.kh - 1) * p.dh + 1;
    let ww = (p.ow - 1) * p.sw + (p.kw - 1) * p.dw + 1;
    let slack = (p.kw - 1) * p.dw;
    let padded = &mut scratch.padded;
    padded.clear();
    padded.resize(hh * ww + slack, 0.0);
    let cols = p.iw.min(ww.saturating_sub(p.pw));
    for y in 0..p.ih.min(hh.saturating_sub(p.ph)) {
        let dst = (y + p.ph) * ww + p.pw;
        padded[dst..dst + cols].copy_from_slice(&input[y * p.iw..y * p.iw + cols]);
    }
    if p.sh == 1 && p.sw == 1 {
        let n = p.oh * ww;
        let wide = &mut scratch.wide;
        wide.clear();
        wide.resize(n, bias);
        for (ki, wrow) in w.chunks_exact(p.kw).enumerate() {
            let base = ki * p.dh * ww;
            let tap = |kj: usize| &padded[base + kj * p.dw..base + kj * p.dw + n];
            match *wrow {
                [w0, w1, w2] => row3(wide, [w0, w1, w2], [tap(0), tap(1), tap(2)]),
                [w0, w1, w2, w3, w4] => {
                    row3(wide, [w0, w1, w2], [tap(0), tap(1), tap(2)]);
                    row2(wide, [w3, w4], [tap(3), tap(4)]);
                }
                _ => {
                    for (kj, &wv) in wrow.iter().enumerate() {
                        axpy(wide, wv, tap(kj));
                    }
                }
            }
        }
        for (dst, src) in out.chunks_exact_mut(p.ow).zip(wide.chunks_exact(ww)) {
            dst.copy_from_slice(&src[..p.ow]);
        }
    } else {
        out.fill(bias);
        let split = p.sw == 2;
        let (we, wo) = (ww.div_ceil(2), ww / 2);
        if split {
            scratch.even.clear();
            scratch.odd.clear();
            for row in padded[..hh * ww].chunks_exact(ww) {
                scratch.even.extend(row.iter().step_by(2));
                scratch.odd.extend(row.iter().skip(1).step_by(2));
            }
        }
        for (oy, orow) in out.chunks_exact_mut(p.ow).enumerate() {
            for (ki, wrow) in w.chunks_exact(p.kw).enumerate() {
                let r = oy * p.sh + ki * p.dh;
                for (kj, &wv) in wrow.iter().enumerate() {
                    let c = kj * p.dw;
                    if split {
                        let src = if c % 2 == 0 {
                            &scratch.even[r * we + c / 2..r * we + c / 2 + p.ow]
                        } else {
                            &scratch.odd[r * wo + c / 2..r * wo + c / 2 + p.ow]
                        };
                        axpy(orow, wv, src);
                    } else {
                        let prow = &padded[r * ww + c..];
                        for (d, s) in orow.iter_mut().zip(prow.iter().step_by(p.sw)) {
                            *d += wv * s;
                        }
                    }
                }
            }
        }
    }
    if let Some((lo, hi)) = clamp {
        out.iter_mut().for_each(|v| *v = crate::sgemm::clip(*v, lo, hi));
    }
    Ok(())
}

/// `dst += a * src` (same lengths), written to auto-vectorize.
#[inline(always)]
fn axpy(dst: &mut [f32], a: f32, src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += a * s;
    }
}

/// Three taps of a kernel row in one pass over `dst`.
#[inline(always)]
fn row3(dst: &mut [f32], w: [f32; 3], s: [&[f32]; 3]) {
    let n = dst.len().min(s[0].len()).min(s[1].len()).min(s[2].len());
    let (d, s0, s1, s2) = (&mut dst[..n], &s[0][..n], &s[1][..n], &s[2][..n]);
    for i in 0..n {
        d[i] += w[0] * s0[i] + w[1] * s1[i] + w[2] * s2[i];
    }
}

/// Two taps of a kernel row in one pass over `dst`.
#[inline(always)]
fn row2(dst: &mut [f32], w: [f32; 2], s: [&[f32]; 2]) {
    let n = dst.len().min(s[0].len()).min(s[1].len());
    let (d, s0, s1) = (&mut dst[..n], &s[0][..n], &s[1][..n]);
    for i in 0..n {
        d[i] += w[0] * s0[i] + w[1] * s1[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::dwconv2d_f32_ref;

    #[test]
    fn matches_oracle() {
        let mut scratch = DwScratch::default();
        for (ih, iw) in [(7, 7), (8, 9), (1, 5), (12, 3)] {
            for (kh, kw) in [(3, 3), (5, 5), (1, 1), (3, 2)] {
                for (s, d, pad) in [(1, 1, 1), (2, 1, 1), (2, 1, 2), (1, 2, 2), (3, 1, 0), (2, 2, 1)] {
                    let window_h = (kh - 1) * d + 1;
                    let window_w = (kw - 1) * d + 1;
                    if ih + 2 * pad < window_h || iw + 2 * pad < window_w {
                        continue;
                    }
                    let p = Dw2d {
                        ih,
                        iw,
                        kh,
                        kw,
                        sh: s,
                        sw: s,
                        dh: d,
                        dw: d,
                        ph: pad,
                        pw: pad,
                        oh: (ih + 2 * pad - window_h) / s + 1,
                        ow: (iw + 2 * pad - window_w) / s + 1,
                    };
                    let input: Vec<f32> = (0..ih * iw).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
                    let w: Vec<f32> = (0..kh * kw).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
                    let mut got = vec![0f32; p.oh * p.ow];
                    let mut want = got.clone();
                    dwconv2d_f32(&p, &input, &w, 0.5, &mut got, Some((-2.0, 3.0)), &mut scratch).unwrap();
                    dwconv2d_f32_ref(&p, &input, &w, 0.5, &mut want, Some((-2.0, 3.0)));
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() < 1e-5, "{p:?}: {g} != {w}");
                    }
                }
            }
        }
    }
}
