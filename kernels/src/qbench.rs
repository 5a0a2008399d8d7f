//! A depthwise-conv workload for benchmarks: one layer (`channels x size x size`, a `k x k`
//! kernel, stride `s`, "same" padding) run through the f32 kernel ([`super::dwconv`]) or the
//! 8-bit kernel ([`super::qdwconv`], weights prepacked as the op does at plan build time), so
//! that a caller can time exactly the kernels side by side (benches/q8_ops.mjs through the
//! bindings' `WasmQBench`).
use super::dwconv::{dwconv2d_f32, Dw2d, DwScratch};
use super::q8::Requant;
use super::qdwconv::{dwconv2d_q8, regular_taps, Pairing, QDwKernels, QDwScratch, QDwWeights};
use super::select;
use crate::error::{Error, Result};

enum Data {
    F32 { x: Vec<f32>, w: Vec<f32>, y: Vec<f32>, scratch: DwScratch },
    Q8 { x: Vec<u8>, w: QDwWeights, kernels: Box<QDwKernels>, y: Vec<u8>, bias: Vec<i32>, rq: Vec<Requant>, scratch: QDwScratch },
}

/// One depthwise layer with its inputs, ready to run.
pub struct DwBench {
    g: Dw2d,
    channels: usize,
    data: Data,
}

impl DwBench {
    /// `int8`: the 8-bit kernel (uint8 activations, int8 per-channel weights), else f32.
    pub fn new(int8: bool, channels: usize, size: usize, k: usize, stride: usize) -> Result<DwBench> {
        if channels == 0 || size == 0 || k == 0 || stride == 0 || channels * size * size > 1 << 26 || k > size + k / 2 * 2 {
            return Err(Error::invalid(format!("bench layer {channels}x{size}x{size}, kernel {k}, stride {stride}")));
        }
        let pad = k / 2;
        let out = (size + 2 * pad - k) / stride + 1;
        let g = Dw2d { ih: size, iw: size, kh: k, kw: k, sh: stride, sw: stride, dh: 1, dw: 1, ph: pad, pw: pad, oh: out, ow: out };
        let (n_in, n_w, n_out) = (channels * size * size, channels * k * k, channels * out * out);
        let byte = |i: usize| (i.wrapping_mul(2654435761) >> 7) as u8;
        let data = if int8 {
            let w: Vec<i8> = (0..n_w).map(|i| byte(i) as i8).collect();
            let pairing = Pairing::for_columns(stride, 1);
            Data::Q8 {
                x: (0..n_in).map(byte).collect(),
                w: QDwWeights::pack(&w, &vec![0; channels], channels, k, k, pairing)?,
                kernels: Box::new(select::dwconv_q8(k, k, pairing, regular_taps(pairing, stride, 1))),
                y: vec![0; n_out],
                bias: vec![100; channels],
                rq: (0..channels).map(|c| Requant::new::<u8>(0.0004 + c as f32 * 1e-6, 120)).collect(),
                scratch: QDwScratch::default(),
            }
        } else {
            Data::F32 {
                x: (0..n_in).map(|i| byte(i) as f32 / 128.0 - 1.0).collect(),
                w: (0..n_w).map(|i| byte(i + 7) as f32 / 256.0 - 0.5).collect(),
                y: vec![0.0; n_out],
                scratch: DwScratch::default(),
            }
        };
        Ok(DwBench { g, channels, data })
    }

    /// Runs the layer `reps` times.
    pub fn run(&mut self, reps: usize) -> Result<()> {
        let g = &self.g;
        let (in_sz, out_sz, ks) = (g.ih * g.iw, g.oh * g.ow, g.kh * g.kw);
        for _ in 0..reps {
            match &mut self.data {
                Data::F32 { x, w, y, scratch } => {
                    for c in 0..self.channels {
                        let (xc, wc) = (&x[c * in_sz..][..in_sz], &w[c * ks..][..ks]);
                        dwconv2d_f32(g, xc, wc, 0.1, &mut y[c * out_sz..][..out_sz], None, scratch)?;
                    }
                }
                Data::Q8 { x, w, kernels, y, bias, rq, scratch } => dwconv2d_q8::<u8, u8>(kernels, g, x, 128, w, bias, rq, y, scratch)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_layers_run() {
        for int8 in [false, true] {
            super::DwBench::new(int8, 3, 9, 5, 2).unwrap().run(2).unwrap();
        }
        assert!(super::DwBench::new(true, 0, 9, 5, 2).is_err());
    }
}
