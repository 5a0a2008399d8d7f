//! onnxruntime's `com.microsoft` MatMulNBits: `Y = A · dequantize(B) (+ bias)`, with B a
//! `K x N` weight stored block-wise in 2, 4 or 8 bits (what weight-only int4 exports use).
//!
//! The layout is the one onnxruntime's ContribOperators.md specifies, and it is written down once
//! here ([`NBitsLayout`], [`pack_values`], [`dequantize_weight`]) so that the quantizer
//! (`quantize::weight_only`) packs exactly what this op unpacks:
//!
//! - Blocks run along K: column `n`, block `b` covers `k` in `[b·block_size, (b+1)·block_size)`
//!   (the last block padded past K). `k_blocks = ceil(K / block_size)`.
//! - `B` is uint8 `[N, k_blocks, blob_size]`, `blob_size = block_size · bits / 8`: the values of
//!   one block, consecutive in k, packed least significant bits first (for 4 bits: element `2j` in
//!   the low nibble of byte `j`, element `2j + 1` in the high nibble).
//! - `scales` is `[N, k_blocks]`, of A's float type.
//! - `zero_points` is either uint8 `[N, ceil(k_blocks · bits / 8)]`, packed like B along the
//!   blocks, or unpacked `[N, k_blocks]` of A's float type; absent, every block's zero point is
//!   `2^(bits - 1)` (8 for 4 bits).
//! - A weight is `(q - zero_point) · scale` (docs/quantization.md §1), in f32.
//!
//! The product is the float32 GEMM of [`crate::kernels::sgemm`] on the dequantized weight, which
//! is unpacked and packed for the kernel once when B, scales and zero points are constants
//! (as they always are in exported models). float16 A is computed in float32 and rounded once.
//! `accuracy_level` is accepted and ignored (this op is always "most accurate": A is never
//! quantized internally); the deprecated `g_idx` input and prepacked weights are rejected.
use super::float_values;
use crate::error::{Error, Result};
use crate::kernels::select;
use crate::kernels::sgemm::{sgemm_ex, Bias, Epilogue, Lhs, MatRef, PackedB, Rhs};
use crate::ops::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::quant_math;
use crate::tensor::{checked_numel, DType, Tensor};
use std::sync::Arc;

pub fn register(r: &mut Registry) {
    r.register("com.microsoft", "MatMulNBits", matmul_nbits);
}

/// The shape of a block-wise N-bit weight and of its packed buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NBitsLayout {
    pub k: usize,
    pub n: usize,
    pub bits: usize,
    pub block_size: usize,
}

impl NBitsLayout {
    /// Checks the attributes: bits 2, 4 or 8; block_size a power of two of at least 16; K, N > 0.
    pub(crate) fn new(k: usize, n: usize, bits: usize, block_size: usize) -> Result<NBitsLayout> {
        if !matches!(bits, 2 | 4 | 8) {
            return Err(Error::invalid(format!("bits must be 2, 4 or 8, got {bits}")));
        }
        if block_size < 16 || !block_size.is_power_of_two() {
            return Err(Error::invalid(format!("block_size must be a power of two of at least 16, got {block_size}")));
        }
        if k == 0 || n == 0 {
            return Err(Error::invalid(format!("K and N must be positive, got K = {k}, N = {n}")));
        }
        let l = NBitsLayout { k, n, bits, block_size };
        checked_numel(&[n, l.k_blocks(), l.blob_size()], DType::U8)?;
        checked_numel(&[k, n], DType::F32)?;
        Ok(l)
    }
    pub(crate) fn k_blocks(&self) -> usize {
        self.k.div_ceil(self.block_size)
    }
    /// Bytes per block of B.
    pub(crate) fn blob_size(&self) -> usize {
        self.block_size * self.bits / 8
    }
    /// Bytes per row (column of the weight) of packed uint8 zero points.
    pub(crate) fn zero_point_cols(&self) -> usize {
        (self.k_blocks() * self.bits).div_ceil(8)
    }
    /// The zero point implied when none is given: `2^(bits - 1)`.
    pub(crate) fn default_zero_point(&self) -> i32 {
        1 << (self.bits - 1)
    }
    pub(crate) fn qmax(&self) -> i32 {
        (1 << self.bits) - 1
    }
}

/// Packs `values` (each below `2^bits`) least significant bits first: value `i` goes to byte
/// `i · bits / 8` at bit `(i · bits) % 8`. The last byte is zero-filled.
pub(crate) fn pack_values(values: &[u8], bits: usize) -> Vec<u8> {
    let mut out = vec![0u8; (values.len() * bits).div_ceil(8)];
    let mask = ((1u16 << bits) - 1) as u8;
    for (i, &v) in values.iter().enumerate() {
        let bit = i * bits;
        out[bit / 8] |= (v & mask) << (bit % 8);
    }
    out
}

/// Value `i` of a buffer packed by [`pack_values`].
#[inline]
pub(crate) fn unpack_value(bytes: &[u8], bits: usize, i: usize) -> u8 {
    let bit = i * bits;
    let mask = ((1u16 << bits) - 1) as u8;
    (bytes[bit / 8] >> (bit % 8)) & mask
}

/// Zero points of a block-wise weight, as stored.
pub(crate) enum ZeroPoints<'a> {
    /// None given: `2^(bits - 1)` everywhere.
    Default,
    /// uint8 `[N, zero_point_cols]`, packed like B.
    Packed(&'a [u8]),
    /// Float `[N, k_blocks]` (f64 holding values of A's float type).
    Float(&'a [f64]),
}

/// The dequantized weight, `K x N` row-major f32: `w[k][n] = (q - zp) · scale` of its block
/// (docs/quantization.md §1). `b` is `[N, k_blocks, blob_size]`, `scales` `[N, k_blocks]`.
pub(crate) fn dequantize_weight(l: &NBitsLayout, b: &[u8], scales: &[f32], zp: &ZeroPoints) -> Vec<f32> {
    let (kb, blob) = (l.k_blocks(), l.blob_size());
    let mut w = vec![0f32; l.k * l.n];
    for n in 0..l.n {
        for blk in 0..kb {
            let s = scales[n * kb + blk];
            let bytes = &b[(n * kb + blk) * blob..][..blob];
            let k0 = blk * l.block_size;
            let len = l.block_size.min(l.k - k0);
            match zp {
                ZeroPoints::Float(z) => {
                    let z = z[n * kb + blk] as f32;
                    for i in 0..len {
                        w[(k0 + i) * l.n + n] = (unpack_value(bytes, l.bits, i) as f32 - z) * s;
                    }
                }
                _ => {
                    let z = match zp {
                        ZeroPoints::Packed(p) => unpack_value(&p[n * l.zero_point_cols()..], l.bits, blk) as i32,
                        _ => l.default_zero_point(),
                    };
                    for i in 0..len {
                        w[(k0 + i) * l.n + n] = quant_math::dequantize(unpack_value(bytes, l.bits, i) as i32, s, z);
                    }
                }
            }
        }
    }
    w
}

/// The weight unpacked from B, scales and zero points, checked against the layout.
fn weight_from_inputs(l: &NBitsLayout, b: &Tensor, scales: &Tensor, zp: Option<&Tensor>, a_type: DType) -> Result<Vec<f32>> {
    let (kb, n) = (l.k_blocks(), l.n);
    let b = b.array::<u8>().map_err(|_| Error::dtype(format!("B must be uint8, got {}", b.dtype())))?;
    let want_b = n * kb * l.blob_size();
    if b.len() != want_b {
        return Err(Error::shape(format!(
            "B has shape {:?} ({} bytes); K = {}, N = {n}, bits = {}, block_size = {} need [{n}, {kb}, {}]",
            b.shape(),
            b.len(),
            l.k,
            l.bits,
            l.block_size,
            l.blob_size()
        )));
    }
    if scales.dtype() != a_type {
        return Err(Error::dtype(format!("scales are {} but A is {a_type}", scales.dtype())));
    }
    if scales.len() != n * kb {
        return Err(Error::shape(format!("scales have shape {:?}; they must hold [{n}, {kb}]", scales.shape())));
    }
    let (_, s) = float_values(scales, "scales")?;
    let s: Vec<f32> = s.into_iter().map(|v| v as f32).collect();
    let b: Vec<u8> = b.iter().copied().collect();
    let zvals: Vec<f64>;
    let zbytes: Vec<u8>;
    let zp = match zp {
        None => ZeroPoints::Default,
        Some(Tensor::U8(z)) => {
            if z.len() != n * l.zero_point_cols() {
                return Err(Error::shape(format!(
                    "uint8 zero_points have shape {:?}; packed they must hold [{n}, {}]",
                    z.shape(),
                    l.zero_point_cols()
                )));
            }
            zbytes = z.iter().copied().collect();
            ZeroPoints::Packed(&zbytes)
        }
        Some(z) => {
            if z.dtype() != a_type {
                return Err(Error::dtype(format!("zero_points must be uint8 or A's type {a_type}, got {}", z.dtype())));
            }
            if z.len() != n * kb {
                return Err(Error::shape(format!("zero_points have shape {:?}; unpacked they must hold [{n}, {kb}]", z.shape())));
            }
            zvals = float_values(z, "zero_points")?.1;
            ZeroPoints::Float(&zvals)
        }
    };
    Ok(dequantize_weight(l, &b, &s, &zp))
}

/// A float tensor's values as f32 (A, bias).
fn as_f32(t: &Tensor, what: &str) -> Result<Vec<f32>> {
    match t {
        Tensor::F32(a) => Ok(a.iter().copied().collect()),
        Tensor::F16(a) => Ok(a.iter().map(|v| v.to_f32()).collect()),
        other => Err(Error::dtype(format!("{what} must be float or float16, got {}", other.dtype()))),
    }
}

fn matmul_nbits(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let a = ctx.attrs();
    let attr = |name: &str| -> Result<usize> {
        let v = a.int(name)?.ok_or_else(|| Error::invalid(format!("attribute '{name}' is required")))?;
        usize::try_from(v).map_err(|_| Error::invalid(format!("attribute '{name}' must be >= 0, got {v}")))
    };
    let layout = NBitsLayout::new(attr("K")?, attr("N")?, attr("bits")?, attr("block_size")?)?;
    if a.int_or("weight_prepacked", 0)? != 0 {
        return Err(Error::invalid("prepacked weights (weight_prepacked != 0) are specific to CUDA and not supported"));
    }
    if ctx.node.input(4).is_some() {
        return Err(Error::invalid("the deprecated g_idx input is not supported"));
    }
    // Exported models hold B, scales and zero points as initializers: unpack and pack them once.
    let constant = |i: usize| ctx.constant_input(i);
    let kernels = select::gemm_f32();
    let prepacked: Option<Arc<PackedB>> = match (constant(1), constant(2)) {
        (Some(b), Some(s)) if ctx.node.input(3).is_none() || constant(3).is_some() => {
            let w = weight_from_inputs(&layout, b, s, constant(3), s.dtype())?;
            Some(Arc::new(PackedB::pack(MatRef::row_major(&w, layout.k, layout.n)?, &kernels)?))
        }
        _ => None,
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let x = required(inputs, 0, "A")?;
        let a_type = x.dtype();
        if !matches!(a_type, DType::F32 | DType::F16) {
            return Err(Error::dtype(format!("A must be float or float16, got {a_type}")));
        }
        let shape = x.shape();
        if shape.last() != Some(&layout.k) {
            return Err(Error::shape(format!("A has shape {shape:?}; its last dim must be K = {}", layout.k)));
        }
        let m: usize = shape[..shape.len() - 1].iter().product();
        let mut out_shape = shape.to_vec();
        if let Some(last) = out_shape.last_mut() {
            *last = layout.n;
        }
        checked_numel(&out_shape, DType::F32)?;
        let bias = optional(inputs, 5).map(|b| -> Result<Vec<f32>> {
            if b.dtype() != a_type || b.len() != layout.n {
                return Err(Error::shape(format!(
                    "bias is {} of shape {:?}; it must be {a_type} with {} values",
                    b.dtype(),
                    b.shape(),
                    layout.n
                )));
            }
            as_f32(b, "bias")
        });
        let bias = bias.transpose()?;
        let b = required(inputs, 1, "B")?;
        let mut y = vec![0f32; m * layout.n];
        if b.is_empty() {
            // An omitted projection: zeros, or the bias.
            if let Some(bias) = &bias {
                y.chunks_exact_mut(layout.n).for_each(|row| row.copy_from_slice(bias));
            }
        } else {
            let owned;
            let packed = match &prepacked {
                Some(p) => p.as_ref(),
                None => {
                    let w = weight_from_inputs(&layout, b, required(inputs, 2, "scales")?, optional(inputs, 3), a_type)?;
                    owned = PackedB::pack(MatRef::row_major(&w, layout.k, layout.n)?, &kernels)?;
                    &owned
                }
            };
            if m > 0 {
                let av = as_f32(x, "A")?;
                let ep = Epilogue { bias: bias.as_deref().map_or(Bias::None, Bias::Col), ..Default::default() };
                sgemm_ex(&kernels, Lhs::Mat(MatRef::row_major(&av, m, layout.k)?), Rhs::Packed(packed), &mut y, layout.n, &ep)?;
            }
        }
        match a_type {
            DType::F16 => Tensor::from_vec(&out_shape, y.into_iter().map(half::f16::from_f32).collect()),
            _ => Tensor::from_vec(&out_shape, y),
        }
        .map(|t| vec![t])
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Attr;
    use crate::ops::quant::test_util::run_in;

    fn attrs(k: i64, n: i64, bits: i64, block: i64) -> Vec<(&'static str, Attr)> {
        vec![("K", Attr::Int(k)), ("N", Attr::Int(n)), ("bits", Attr::Int(bits)), ("block_size", Attr::Int(block))]
    }

    #[test]
    fn packs_least_significant_bits_first() {
        assert_eq!(pack_values(&[1, 2, 3, 15], 4), vec![0x21, 0xf3]);
        assert_eq!(pack_values(&[1, 2, 3], 4), vec![0x21, 0x03]);
        assert_eq!(pack_values(&[1, 2, 3, 0, 3], 2), vec![0b00_11_10_01, 0b11]);
        assert_eq!(pack_values(&[7, 200], 8), vec![7, 200]);
        for bits in [2, 4, 8] {
            let v: Vec<u8> = (0..37).map(|i| (i * 7 % (1 << bits)) as u8).collect();
            let p = pack_values(&v, bits);
            assert!((0..v.len()).all(|i| unpack_value(&p, bits, i) == v[i]));
        }
    }

    /// A K=20, N=2 weight in 4 bits with block 16 (two blocks, the second padded).
    fn example() -> (Vec<u8>, Vec<f32>, Vec<u8>, Vec<f32>) {
        let (k, n, bs) = (20usize, 2usize, 16usize);
        let l = NBitsLayout::new(k, n, 4, bs).unwrap();
        let q: Vec<Vec<u8>> = (0..n).map(|c| (0..2 * bs).map(|i| ((i * 3 + c * 5) % 16) as u8).collect()).collect();
        let scales = vec![0.5f32, 0.25, 2.0, 1.0]; // [n][blk]
        let zps = [[8u8, 3], [0, 15]];
        let mut b = Vec::new();
        for qc in &q {
            for blk in 0..2 {
                b.extend(pack_values(&qc[blk * bs..(blk + 1) * bs], 4));
            }
        }
        let zp: Vec<u8> = (0..n).flat_map(|c| pack_values(&zps[c], 4)).collect();
        assert_eq!((b.len(), zp.len()), (n * 2 * l.blob_size(), n * l.zero_point_cols()));
        let mut w = vec![0f32; k * n];
        for c in 0..n {
            for kk in 0..k {
                let blk = kk / bs;
                w[kk * n + c] = (q[c][kk] as f32 - zps[c][blk] as f32) * scales[c * 2 + blk];
            }
        }
        (b, scales, zp, w)
    }

    #[test]
    fn matmul_nbits_matches_the_dequantized_product() {
        let (b, scales, zp, w) = example();
        let a: Vec<f32> = (0..3 * 20).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
        let bias = vec![0.5f32, -1.0];
        let want: Vec<f32> = (0..3)
            .flat_map(|i| {
                let (a, w) = (&a, &w);
                (0..2).map(move |j| (0..20).map(|p| a[i * 20 + p] * w[p * 2 + j]).sum::<f32>())
            })
            .collect();
        let inputs = vec![
            Some(Tensor::from_vec(&[1, 3, 20], a.clone()).unwrap()),
            Some(Tensor::from_vec(&[2, 2, 8], b.clone()).unwrap()),
            Some(Tensor::from_vec(&[2, 2], scales.clone()).unwrap()),
            Some(Tensor::from_vec(&[2, 1], zp).unwrap()),
        ];
        let y = run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &inputs).unwrap();
        assert_eq!(y[0].shape(), &[1, 3, 2]);
        for (g, e) in y[0].to_f32_vec().iter().zip(&want) {
            assert!((g - e).abs() <= 1e-4 * e.abs().max(1.0), "{g} vs {e}");
        }
        // With a bias, and with unpacked float zero points.
        let mut with_bias = inputs.clone();
        with_bias[3] = Some(Tensor::from_vec(&[2, 2], vec![8f32, 3.0, 0.0, 15.0]).unwrap());
        with_bias.push(None);
        with_bias.push(Some(Tensor::from_vec(&[2], bias.clone()).unwrap()));
        let y = run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &with_bias).unwrap();
        for (i, (g, e)) in y[0].to_f32_vec().iter().zip(&want).enumerate() {
            let e = e + bias[i % 2];
            assert!((g - e).abs() <= 1e-4 * e.abs().max(1.0), "{g} vs {e}");
        }
        // Without zero points, every block's zero point is 8.
        let y = run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &inputs[..3]).unwrap();
        let l = NBitsLayout::new(20, 2, 4, 16).unwrap();
        let w8 = dequantize_weight(&l, &b, &scales, &ZeroPoints::Default);
        let want8: f32 = (0..20).map(|p| a[p] * w8[p * 2]).sum();
        assert!((y[0].to_f32_vec()[0] - want8).abs() < 1e-3);
    }

    #[test]
    fn float16_a_and_bad_inputs() {
        let (b, scales, zp, _) = example();
        let a16: Vec<half::f16> = (0..20).map(|i| half::f16::from_f32(i as f32 / 8.0)).collect();
        let s16: Vec<half::f16> = scales.iter().map(|&v| half::f16::from_f32(v)).collect();
        let ok = vec![
            Some(Tensor::from_vec(&[20], a16).unwrap()),
            Some(Tensor::from_vec(&[2, 2, 8], b.clone()).unwrap()),
            Some(Tensor::from_vec(&[2, 2], s16).unwrap()),
            Some(Tensor::from_vec(&[2, 1], zp.clone()).unwrap()),
        ];
        let y = run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &ok).unwrap();
        assert_eq!((y[0].dtype(), y[0].shape()), (DType::F16, &[2usize][..]));
        // f32 scales with f16 A, a wrong K, a short B, bits 3: typed errors.
        let mut bad = ok.clone();
        bad[2] = Some(Tensor::from_vec(&[2, 2], scales.clone()).unwrap());
        assert_eq!(run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &bad).unwrap_err().code(), "TYPE_MISMATCH");
        let e = run_in("com.microsoft", "MatMulNBits", 1, &attrs(21, 2, 4, 16), &ok).unwrap_err();
        assert_eq!(e.code(), "SHAPE_MISMATCH");
        let mut bad = ok.clone();
        bad[1] = Some(Tensor::from_vec(&[2, 8], b[..16].to_vec()).unwrap());
        assert_eq!(run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &bad).unwrap_err().code(), "SHAPE_MISMATCH");
        assert!(run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 3, 16), &ok).is_err());
        assert!(run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 24), &ok).is_err());
        assert!(run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16)[..3], &ok).is_err());
    }

    #[test]
    fn empty_b_gives_the_bias() {
        let inputs = vec![
            Some(Tensor::from_vec(&[2, 20], vec![1f32; 40]).unwrap()),
            Some(Tensor::from_vec(&[0, 2, 8], Vec::<u8>::new()).unwrap()),
            Some(Tensor::from_vec(&[0], Vec::<f32>::new()).unwrap()),
            None,
            None,
            Some(Tensor::from_vec(&[2], vec![1f32, 2.0]).unwrap()),
        ];
        let y = run_in("com.microsoft", "MatMulNBits", 1, &attrs(20, 2, 4, 16), &inputs).unwrap();
        assert_eq!(y[0].to_f32_vec(), vec![1.0, 2.0, 1.0, 2.0]);
    }
}
