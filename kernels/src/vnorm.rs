//! f32 row kernels of the normalizing ops, compiled at opt-level 3 with the other kernels:
//! LayerNormalization (hot in transformer encoders: MiniLM runs one per sublayer) and
//! Softmax / LogSoftmax. webptq's ops call them for float32; other types keep the ops' own
//! generic code. Each is one concrete function over slices, so it is compiled here, not where
//! a generic would be instantiated (docs/size.md, "a kernel entry point must be concrete").

use crate::math::exp_f32;

/// Folds `row` with `f` into 8 independent accumulators, merged at the end with `merge`, so
/// that the loop vectorizes (a single float accumulator is a serial dependency chain).
#[inline(always)]
fn lanes<A: Copy>(row: &[f32], init: A, f: impl Fn(A, f32) -> A, merge: impl Fn(A, A) -> A) -> A {
    let mut acc = [init; 8];
    let chunks = row.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = f(*a, v);
        }
    }
    let mut r = rest.iter().fold(init, |a, &v| f(a, v));
    for a in acc {
        r = merge(r, a);
    }
    r
}

/// LayerNormalization of every row of `size` elements of `x`:
/// `y = (x - mean) / sqrt(var + eps) * scale + bias` with the row's mean and (biased) variance,
/// `scale` and `bias` of `size` values. The statistics and the normalization are computed in
/// f64 (the sums in 8 lanes) and rounded once to f32, as webptq's reference LayerNormalization
/// does for every float type, so outputs near zero keep their precision. Appends the outputs
/// to `y` and each row's mean and 1/sqrt(var + eps) to `mean` and `inv_std`.
// A slice kernel: its inputs, parameters and outputs are plain slices and vectors.
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_f32(
    x: &[f32],
    size: usize,
    scale: &[f32],
    bias: Option<&[f32]>,
    eps: f64,
    y: &mut Vec<f32>,
    mean: &mut Vec<f64>,
    inv_std: &mut Vec<f64>,
) {
    if size == 0 {
        return;
    }
    let zeros;
    let bias = match bias {
        Some(b) => &b[..size],
        None => {
            zeros = vec![0f32; size];
            &zeros[..]
        }
    };
    let scale = &scale[..size];
    y.reserve(x.len());
    let n = size as f64;
    for row in x.chunks_exact(size) {
        let m = lanes(row, 0f64, |a, v| a + v as f64, |a, b| a + b) / n;
        let var = lanes(row, 0f64, |a, v| a + (v as f64 - m) * (v as f64 - m), |a, b| a + b) / n;
        let inv = 1.0 / (var + eps).sqrt();
        y.extend(row.iter().zip(scale).zip(bias).map(|((&v, &s), &b)| ((v as f64 - m) * inv * s as f64 + b as f64) as f32));
        mean.push(m);
        inv_std.push(inv);
    }
}

/// Numerically stable softmax (or log-softmax) in place, of every group of `n` elements spaced
/// `inner` apart, over blocks of `n * inner` contiguous elements (Softmax along one axis:
/// `inner` is the product of the dims after it). Uses the branch-free [`exp_f32`].
pub fn softmax_f32(data: &mut [f32], n: usize, inner: usize, log: bool) {
    if n == 0 || inner == 0 || data.is_empty() {
        return;
    }
    if inner == 1 {
        for row in data.chunks_exact_mut(n) {
            let max = |a: f32, v: f32| if v > a { v } else { a };
            let m = lanes(row, f32::NEG_INFINITY, max, max);
            if log {
                let sum = lanes(row, 0.0, |a, v| a + exp_f32(v - m), |a, b| a + b);
                let l = sum.ln();
                row.iter_mut().for_each(|v| *v = (*v - m) - l);
            } else {
                row.iter_mut().for_each(|v| *v = exp_f32(*v - m));
                let s = 1.0 / lanes(row, 0.0, |a, v| a + v, |a, b| a + b);
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
        return;
    }
    let mut maxes = vec![0f32; inner];
    let mut sums = vec![0f32; inner];
    for block in data.chunks_exact_mut(n * inner) {
        maxes.copy_from_slice(&block[..inner]);
        for row in block.chunks_exact(inner).skip(1) {
            for (m, &v) in maxes.iter_mut().zip(row) {
                if v > *m {
                    *m = v;
                }
            }
        }
        sums.iter_mut().for_each(|s| *s = 0.0);
        for row in block.chunks_exact_mut(inner) {
            for ((v, &m), s) in row.iter_mut().zip(&maxes).zip(sums.iter_mut()) {
                let d = *v - m;
                let e = exp_f32(d);
                *s += e;
                *v = if log { d } else { e };
            }
        }
        if log {
            sums.iter_mut().for_each(|s| *s = s.ln());
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&sums).for_each(|(v, &l)| *v -= l);
            }
        } else {
            sums.iter_mut().for_each(|s| *s = 1.0 / *s);
            for row in block.chunks_exact_mut(inner) {
                row.iter_mut().zip(&sums).for_each(|(v, &s)| *v *= s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_matches_the_f64_formula() {
        let size = 37;
        let x: Vec<f32> = (0..3 * size).map(|i| ((i as f32) * 0.731).sin() * 3.0 + 0.5).collect();
        let scale: Vec<f32> = (0..size).map(|i| 0.5 + i as f32 * 0.01).collect();
        let bias: Vec<f32> = (0..size).map(|i| i as f32 * -0.02).collect();
        let (mut y, mut m, mut inv) = (vec![], vec![], vec![]);
        layer_norm_f32(&x, size, &scale, Some(&bias), 1e-5, &mut y, &mut m, &mut inv);
        assert_eq!((y.len(), m.len(), inv.len()), (x.len(), 3, 3));
        for (r, row) in x.chunks(size).enumerate() {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / size as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / size as f64;
            let i = 1.0 / (var + 1e-5).sqrt();
            assert!((m[r] - mean).abs() < 1e-12 && (inv[r] - i).abs() < 1e-12);
            for j in 0..size {
                let want = ((row[j] as f64 - mean) * i * scale[j] as f64 + bias[j] as f64) as f32;
                assert!((y[r * size + j] - want).abs() <= f32::EPSILON * want.abs(), "{} vs {want}", y[r * size + j]);
            }
        }
        let (mut y2, mut m2, mut inv2) = (vec![], vec![], vec![]);
        layer_norm_f32(&x, size, &scale, None, 1e-5, &mut y2, &mut m2, &mut inv2);
        for (k, (a, b)) in y2.iter().zip(&y).enumerate() {
            assert!((a - (b - bias[k % size])).abs() < 1e-5);
        }
    }

    #[test]
    fn softmax_rows_and_strided_groups_sum_to_one() {
        for (n, inner) in [(10, 1), (3, 4), (17, 1), (1, 5)] {
            let x: Vec<f32> = (0..2 * n * inner).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
            let mut p = x.clone();
            softmax_f32(&mut p, n, inner, false);
            let mut l = x.clone();
            softmax_f32(&mut l, n, inner, true);
            for b in 0..2 {
                for i in 0..inner {
                    let idx: Vec<usize> = (0..n).map(|j| b * n * inner + j * inner + i).collect();
                    let m = idx.iter().map(|&k| x[k] as f64).fold(f64::NEG_INFINITY, f64::max);
                    let s: f64 = idx.iter().map(|&k| (x[k] as f64 - m).exp()).sum();
                    for &k in &idx {
                        let want = (x[k] as f64 - m).exp() / s;
                        assert!((p[k] as f64 - want).abs() < 1e-6, "softmax {n}x{inner}");
                        assert!((l[k] as f64 - want.ln()).abs() < 1e-5, "log-softmax {n}x{inner}");
                    }
                }
            }
        }
    }
}
