//! Direct 2-D depthwise convolution, f32, one channel at a time (EfficientNet and MobileNet are
//! depthwise-heavy; im2col would copy each input kh*kw times for a product of depth 1).
//!
//! Row scheme: each output row starts at the bias; for every kernel tap whose input row exists,
//! the valid span of output columns gets `w * input` added. With stride 1 the span is two
//! contiguous slices (auto-vectorized: `f32x4` on wasm SIMD128, SSE natively); with stride 2 the
//! input row is split once into even and odd columns so every tap reads contiguously too.
//! Oracle: [`super::reference::dwconv2d_f32_ref`].
use crate::error::{Error, Result};
use crate::ops::conv_geometry::valid_range;

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

/// Scratch for [`dwconv2d_f32`]: the deinterleaved input row of the stride-2 path.
#[derive(Default)]
pub struct DwScratch {
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
    if input.len() != p.ih * p.iw || w.len() != p.kh * p.kw || out.len() != p.oh * p.ow || p.sh == 0 || p.sw == 0 {
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
    out.fill(bias);
    let deinterleave = p.sw == 2;
    if deinterleave {
        scratch.even.resize(p.iw.div_ceil(2), 0.0);
        scratch.odd.resize(p.iw / 2, 0.0);
    }
    // Input row -> (for the stride-2 path) split once per (oy, ki): rows repeat across oy only
    // when sh < kh, and the split costs about one tap.
    for oy in 0..p.oh {
        let orow = &mut out[oy * p.ow..(oy + 1) * p.ow];
        for ki in 0..p.kh {
            let y = (oy * p.sh + ki * p.dh) as isize - p.ph as isize;
            if y < 0 || y >= p.ih as isize {
                continue;
            }
            let irow = &input[y as usize * p.iw..(y as usize + 1) * p.iw];
            let wrow = &w[ki * p.kw..(ki + 1) * p.kw];
            if deinterleave {
                for (i, pair) in irow.chunks(2).enumerate() {
                    scratch.even[i] = pair[0];
                    if let Some(&v) = pair.get(1) {
                        scratch.odd[i] = v;
                    }
                }
            }
            for (kj, &wv) in wrow.iter().enumerate() {
                let off = (kj * p.dw) as isize - p.pw as isize;
                let (x0, x1) = valid_range(off, p.sw, p.iw, p.ow);
                if x0 >= x1 {
                    continue;
                }
                let dst = &mut orow[x0..x1];
                // First input column read: x0 * sw + off (>= 0 by construction).
                let start = (x0 * p.sw) as isize + off;
                let start = start as usize;
                if p.sw == 1 {
                    axpy(dst, wv, &irow[start..start + (x1 - x0)]);
                } else if deinterleave {
                    let half = start / 2;
                    let src = if start % 2 == 0 { &scratch.even } else { &scratch.odd };
                    axpy(dst, wv, &src[half..half + (x1 - x0)]);
                } else {
                    for (d, s) in dst.iter_mut().zip(irow[start..].iter().step_by(p.sw)) {
                        *d += wv * s;
                    }
                }
            }
        }
    }
    if let Some((lo, hi)) = clamp {
        out.iter_mut().for_each(|v| *v = v.max(lo).min(hi));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::dwconv2d_f32_ref;

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
