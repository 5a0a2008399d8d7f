//! Geometry shared by every windowed op (Conv, ConvTranspose, pooling, QLinearConv,
//! ConvInteger): the `kernel_shape` / `strides` / `dilations` / `pads` / `auto_pad` / `ceil_mode`
//! attributes for any number of spatial dims, the output shape they give, and a generic
//! [`im2col`] whose padding value is a parameter (int8 convs pad with the zero point).
//!
//! Use: read the attributes once at build time with [`WindowAttrs::from_attrs`], then at run
//! time [`WindowAttrs::resolve`] them against the input's spatial shape and the kernel's spatial
//! shape into a [`Geometry`] (resolved pads and output shape), and feed that to [`im2col`].
//! ConvTranspose computes its own output shape (it runs the geometry backwards) but shares the
//! attribute parsing.
//!
//! Semantics follow the ONNX spec (Conv and the pooling ops):
//! - NOTSET: `out = floor((in + pad_begin + pad_end - ((k - 1) * d + 1)) / s) + 1` (or `ceil`
//!   with `ceil_mode`, where a last window that would start in the end padding is dropped);
//! - SAME_UPPER / SAME_LOWER: `out = ceil(in / s)`, total padding
//!   `max(0, (out - 1) * s + (k - 1) * d + 1 - in)`, the odd element at the end (UPPER) or the
//!   beginning (LOWER);
//! - VALID: no padding, `out = floor((in - ((k - 1) * d + 1)) / s) + 1`.
use crate::error::{Error, Result};
use crate::graph::Attrs;

/// The `auto_pad` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AutoPad {
    /// Explicit `pads` (the default).
    #[default]
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: &str) -> Result<AutoPad> {
        Ok(match s {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => {
                return Err(Error::invalid(format!(
                    "auto_pad '{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
                )))
            }
        })
    }
}

/// The window attributes of a node as written (unresolved: the input shape is not known yet).
/// `None` means "not given": strides and dilations default to 1, pads to 0, the kernel shape to
/// the weight's spatial shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowAttrs {
    pub kernel_shape: Option<Vec<usize>>,
    pub strides: Option<Vec<usize>>,
    pub dilations: Option<Vec<usize>>,
    /// `[x1_begin, x2_begin, ..., x1_end, x2_end, ...]` as in ONNX.
    pub pads: Option<Vec<usize>>,
    pub auto_pad: AutoPad,
    /// Pooling only: round the output size up (`ceil_mode = 1`).
    pub ceil_mode: bool,
}

fn positive_list(attrs: &Attrs, name: &str, allow_zero: bool) -> Result<Option<Vec<usize>>> {
    let Some(v) = attrs.ints(name)? else { return Ok(None) };
    let min = if allow_zero { 0 } else { 1 };
    v.iter()
        .map(|&x| {
            if x < min {
                Err(Error::invalid(format!(
                    "attribute '{name}' = {v:?} must hold values >= {min}"
                )))
            } else {
                usize::try_from(x).map_err(|_| Error::invalid(format!("attribute '{name}' value {x} is too large")))
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl WindowAttrs {
    /// Reads `kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad` and `ceil_mode`
    /// (whichever the node has). Negative values are an error.
    pub fn from_attrs(attrs: &Attrs) -> Result<WindowAttrs> {
        Ok(WindowAttrs {
            kernel_shape: positive_list(attrs, "kernel_shape", false)?,
            strides: positive_list(attrs, "strides", false)?,
            dilations: positive_list(attrs, "dilations", false)?,
            pads: positive_list(attrs, "pads", true)?,
            auto_pad: AutoPad::parse(attrs.string_or("auto_pad", "NOTSET")?)?,
            ceil_mode: attrs.int_or("ceil_mode", 0)? != 0,
        })
    }

    /// The kernel's spatial shape: the `kernel_shape` attribute if given (checked against
    /// `weight_spatial` when that is known), else `weight_spatial`.
    pub fn kernel(&self, weight_spatial: Option<&[usize]>) -> Result<Vec<usize>> {
        match (&self.kernel_shape, weight_spatial) {
            (Some(k), Some(w)) if k.as_slice() != w => Err(Error::shape(format!(
                "kernel_shape {k:?} does not match the weight's spatial shape {w:?}"
            ))),
            (Some(k), _) => Ok(k.clone()),
            (None, Some(w)) => Ok(w.to_vec()),
            (None, None) => Err(Error::invalid("attribute 'kernel_shape' is required")),
        }
    }

    /// Strides, dilations and explicit pads expanded to `n` spatial dims (defaults filled in),
    /// with their lengths checked: `(strides, dilations, pads_begin, pads_end)`.
    #[allow(clippy::type_complexity)]
    pub fn expand(&self, n: usize) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>, Vec<usize>)> {
        let list = |v: &Option<Vec<usize>>, name: &str, default: usize| -> Result<Vec<usize>> {
            match v {
                None => Ok(vec![default; n]),
                Some(v) if v.len() == n => Ok(v.clone()),
                Some(v) => Err(Error::shape(format!(
                    "attribute '{name}' = {v:?} has {} values but the input has {n} spatial dims",
                    v.len()
                ))),
            }
        };
        let strides = list(&self.strides, "strides", 1)?;
        let dilations = list(&self.dilations, "dilations", 1)?;
        let (begin, end) = match &self.pads {
            None => (vec![0; n], vec![0; n]),
            Some(p) if p.len() == 2 * n => (p[..n].to_vec(), p[n..].to_vec()),
            Some(p) => {
                return Err(Error::shape(format!(
                    "attribute 'pads' = {p:?} has {} values but the input has {n} spatial dims (needs {})",
                    p.len(),
                    2 * n
                )))
            }
        };
        Ok((strides, dilations, begin, end))
    }

    /// Resolves the attributes for an input of spatial shape `input` and a kernel of spatial
    /// shape `kernel` (from [`WindowAttrs::kernel`]): pads per `auto_pad`, and the output shape.
    /// Errors (naming the shapes) when the window does not fit or the output would be empty.
    pub fn resolve(&self, input: &[usize], kernel: &[usize]) -> Result<Geometry> {
        let n = input.len();
        if kernel.len() != n {
            return Err(Error::shape(format!(
                "the kernel has spatial shape {kernel:?} ({} dims) but the input has spatial shape {input:?} ({n} dims)",
                kernel.len()
            )));
        }
        let (strides, dilations, mut pads_begin, mut pads_end) = self.expand(n)?;
        let mut output = vec![0usize; n];
        for i in 0..n {
            let (x, k, s, d) = (input[i], kernel[i], strides[i], dilations[i]);
            if k == 0 {
                return Err(Error::shape(format!("kernel spatial shape {kernel:?} has a zero dim")));
            }
            // Extent of the dilated window.
            let window = (k - 1)
                .checked_mul(d)
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| Error::too_large(format!("kernel {kernel:?} with dilations {dilations:?} overflows")))?;
            match self.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = x.div_ceil(s);
                    let need = (out.saturating_sub(1)).saturating_mul(s).saturating_add(window);
                    let total = need.saturating_sub(x);
                    let small = total / 2;
                    let (b, e) = if self.auto_pad == AutoPad::SameUpper {
                        (small, total - small)
                    } else {
                        (total - small, small)
                    };
                    pads_begin[i] = b;
                    pads_end[i] = e;
                    output[i] = out;
                }
                AutoPad::Valid | AutoPad::NotSet => {
                    if self.auto_pad == AutoPad::Valid {
                        pads_begin[i] = 0;
                        pads_end[i] = 0;
                    }
                    let padded = x
                        .checked_add(pads_begin[i])
                        .and_then(|v| v.checked_add(pads_end[i]))
                        .ok_or_else(|| Error::too_large("padded input size overflows"))?;
                    if padded < window {
                        return Err(Error::shape(format!(
                            "input spatial shape {input:?} padded by {pads_begin:?}/{pads_end:?} is smaller than the kernel {kernel:?} dilated by {dilations:?} (dim {i}: {padded} < {window})"
                        )));
                    }
                    let span = padded - window;
                    let mut out = if self.ceil_mode { span.div_ceil(s) + 1 } else { span / s + 1 };
                    // With ceil_mode, a last window starting beyond the input and its begin
                    // padding is dropped (ONNX reference, PyTorch).
                    if self.ceil_mode && out > 1 && (out - 1) * s >= x + pads_begin[i] {
                        out -= 1;
                    }
                    output[i] = out;
                }
            }
            if output[i] == 0 {
                return Err(Error::shape(format!(
                    "input spatial shape {input:?} with kernel {kernel:?} gives an empty output"
                )));
            }
        }
        Ok(Geometry { input: input.to_vec(), kernel: kernel.to_vec(), strides, dilations, pads_begin, pads_end, output })
    }
}

/// A window geometry resolved against one input shape (spatial dims only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub output: Vec<usize>,
}

impl Geometry {
    /// Number of spatial dims.
    pub fn rank(&self) -> usize {
        self.input.len()
    }
    pub fn input_size(&self) -> usize {
        self.input.iter().product()
    }
    pub fn output_size(&self) -> usize {
        self.output.iter().product()
    }
    pub fn kernel_size(&self) -> usize {
        self.kernel.iter().product()
    }
    /// A 1x1 (x1...) kernel with stride 1 and no padding: output = input, no im2col needed.
    pub fn is_pointwise(&self) -> bool {
        self.kernel.iter().all(|&k| k == 1)
            && self.strides.iter().all(|&s| s == 1)
            && self.pads_begin.iter().all(|&p| p == 0)
            && self.pads_end.iter().all(|&p| p == 0)
    }
    /// A 1-D or 2-D geometry as the 2-D window geometry of one plane (1-D as a single row),
    /// with the end pads `(rows, columns)`; `None` for other ranks.
    pub fn plane_2d(&self) -> Option<(crate::kernels::dwconv::Dw2d, (usize, usize))> {
        let at = |v: &[usize], d: usize, one: usize| if self.rank() == 1 { if d == 0 { one } else { v[0] } } else { v[d] };
        if !(1..=2).contains(&self.rank()) {
            return None;
        }
        let g = crate::kernels::dwconv::Dw2d {
            ih: at(&self.input, 0, 1),
            iw: at(&self.input, 1, 1),
            kh: at(&self.kernel, 0, 1),
            kw: at(&self.kernel, 1, 1),
            sh: at(&self.strides, 0, 1),
            sw: at(&self.strides, 1, 1),
            dh: at(&self.dilations, 0, 1),
            dw: at(&self.dilations, 1, 1),
            ph: at(&self.pads_begin, 0, 0),
            pw: at(&self.pads_begin, 1, 0),
            oh: at(&self.output, 0, 1),
            ow: at(&self.output, 1, 1),
        };
        Some((g, (at(&self.pads_end, 0, 0), at(&self.pads_end, 1, 0))))
    }
    /// Rows of the [`im2col`] matrix for `channels` input channels: `channels * kernel_size`.
    pub fn col_rows(&self, channels: usize) -> usize {
        channels * self.kernel_size()
    }
}

/// Unfolds `channels` channels of one image (`input`, laid out `[channels, *geometry.input]`)
/// into the column matrix `out` of shape `[channels * kernel_size, output_size]`, row-major:
/// row `c * kernel_size + kernel_offset` (kernel offsets in row-major order of `geometry.kernel`),
/// column = output position (row-major order of `geometry.output`). Positions in the padding
/// read `pad_value`. Then `conv = W[M, channels * kernel_size] x out`.
///
/// Errors if `input` or `out` has the wrong length.
pub fn im2col<T: Copy>(g: &Geometry, input: &[T], channels: usize, pad_value: T, out: &mut [T]) -> Result<()> {
    let in_size = g.input_size();
    let out_size = g.output_size();
    let ks = g.kernel_size();
    if input.len() != channels * in_size {
        return Err(Error::shape(format!(
            "im2col: input has {} elements, expected {channels} channels of {:?}",
            input.len(),
            g.input
        )));
    }
    if out.len() != channels * ks * out_size {
        return Err(Error::shape(format!(
            "im2col: buffer has {} elements, expected {} x {}",
            out.len(),
            channels * ks,
            out_size
        )));
    }
    if out_size == 0 || ks == 0 {
        return Ok(());
    }
    match g.rank() {
        2 => im2col_2d(g, input, channels, pad_value, out),
        _ => im2col_nd(g, input, channels, pad_value, out),
    }
    Ok(())
}

/// The 2-D fast path: per (channel, kh, kw) row, per output row, a run of contiguous or strided
/// copies with the padded ends filled.
fn im2col_2d<T: Copy>(g: &Geometry, input: &[T], channels: usize, pad: T, out: &mut [T]) {
    let (ih, iw) = (g.input[0], g.input[1]);
    let (kh, kw) = (g.kernel[0], g.kernel[1]);
    let (oh, ow) = (g.output[0], g.output[1]);
    let (sh, sw) = (g.strides[0], g.strides[1]);
    let (dh, dw) = (g.dilations[0], g.dilations[1]);
    let (ph, pw) = (g.pads_begin[0] as isize, g.pads_begin[1] as isize);
    let mut rows = out.chunks_exact_mut(oh * ow);
    for c in 0..channels {
        let plane = &input[c * ih * iw..(c + 1) * ih * iw];
        for ki in 0..kh {
            for kj in 0..kw {
                let Some(row) = rows.next() else { return };
                // Output columns whose input column is inside [0, iw): ox in [x0, x1).
                let off_w = (kj * dw) as isize - pw;
                let (x0, x1) = valid_range(off_w, sw, iw, ow);
                for oy in 0..oh {
                    let dst = &mut row[oy * ow..(oy + 1) * ow];
                    let y = (oy * sh) as isize + (ki * dh) as isize - ph;
                    if y < 0 || y >= ih as isize {
                        dst.fill(pad);
                        continue;
                    }
                    let src = &plane[y as usize * iw..(y as usize + 1) * iw];
                    dst[..x0].fill(pad);
                    dst[x1..].fill(pad);
                    if x0 < x1 {
                        let start = (x0 * sw) as isize + off_w;
                        let start = start as usize;
                        if sw == 1 {
                            dst[x0..x1].copy_from_slice(&src[start..start + (x1 - x0)]);
                        } else {
                            for (d, s) in dst[x0..x1].iter_mut().zip(src[start..].iter().step_by(sw)) {
                                *d = *s;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The output positions `o` in `[0, n_out)` for which `o * stride + offset` lies in `[0, n_in)`,
/// as a half-open range.
pub fn valid_range(offset: isize, stride: usize, n_in: usize, n_out: usize) -> (usize, usize) {
    let s = stride as isize;
    // first o with o*s + offset >= 0
    let lo = if offset >= 0 { 0 } else { ((-offset) + s - 1) / s };
    // first o with o*s + offset >= n_in
    let hi_num = n_in as isize - offset;
    let hi = if hi_num <= 0 { 0 } else { (hi_num + s - 1) / s };
    let lo = (lo as usize).min(n_out);
    let hi = (hi as usize).min(n_out).max(lo);
    (lo, hi)
}

/// Any rank: odometer over kernel offsets and output positions.
fn im2col_nd<T: Copy>(g: &Geometry, input: &[T], channels: usize, pad: T, out: &mut [T]) {
    let n = g.rank();
    let in_size = g.input_size();
    let out_size = g.output_size();
    let ks = g.kernel_size();
    // Row-major strides of the input's spatial dims.
    let mut in_strides = vec![1usize; n];
    for i in (0..n.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * g.input[i + 1];
    }
    let mut koff = vec![0usize; n];
    let mut opos = vec![0usize; n];
    for c in 0..channels {
        let plane = &input[c * in_size..(c + 1) * in_size];
        koff.iter_mut().for_each(|v| *v = 0);
        for kidx in 0..ks {
            let row = &mut out[(c * ks + kidx) * out_size..(c * ks + kidx + 1) * out_size];
            opos.iter_mut().for_each(|v| *v = 0);
            for dst in row.iter_mut() {
                let mut idx = 0usize;
                let mut inside = true;
                for d in 0..n {
                    let x = (opos[d] * g.strides[d] + koff[d] * g.dilations[d]) as isize - g.pads_begin[d] as isize;
                    if x < 0 || x >= g.input[d] as isize {
                        inside = false;
                        break;
                    }
                    idx += x as usize * in_strides[d];
                }
                *dst = if inside { plane[idx] } else { pad };
                increment(&mut opos, &g.output);
            }
            increment(&mut koff, &g.kernel);
        }
    }
}

/// The adjoint of [`im2col`] (ConvTranspose): adds every element of the column matrix `col`
/// (`[channels * kernel_size, output_size]`) into `dst` (`[channels, *geometry.input]`) at the
/// position [`im2col`] would have read it from; positions in the padding are dropped.
///
/// For ConvTranspose, build the [`Geometry`] of the forward conv: `input` = the ConvTranspose
/// output's spatial shape, `output` = its input's.
pub fn col2im_add<T: Copy + std::ops::AddAssign>(g: &Geometry, col: &[T], channels: usize, dst: &mut [T]) -> Result<()> {
    let in_size = g.input_size();
    let out_size = g.output_size();
    let ks = g.kernel_size();
    let n = g.rank();
    if dst.len() != channels * in_size || col.len() != channels * ks * out_size {
        return Err(Error::shape(format!(
            "col2im: {} column values and {} outputs for {channels} channels of {:?} from {:?}",
            col.len(),
            dst.len(),
            g.input,
            g.output
        )));
    }
    if out_size == 0 || ks == 0 {
        return Ok(());
    }
    let mut in_strides = vec![1usize; n];
    for i in (0..n.saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * g.input[i + 1];
    }
    let mut koff = vec![0usize; n];
    let mut opos = vec![0usize; n];
    for c in 0..channels {
        let plane = &mut dst[c * in_size..(c + 1) * in_size];
        koff.iter_mut().for_each(|v| *v = 0);
        for kidx in 0..ks {
            let row = &col[(c * ks + kidx) * out_size..(c * ks + kidx + 1) * out_size];
            opos.iter_mut().for_each(|v| *v = 0);
            for &v in row {
                let mut idx = 0usize;
                let mut inside = true;
                for d in 0..n {
                    let x = (opos[d] * g.strides[d] + koff[d] * g.dilations[d]) as isize - g.pads_begin[d] as isize;
                    if x < 0 || x >= g.input[d] as isize {
                        inside = false;
                        break;
                    }
                    idx += x as usize * in_strides[d];
                }
                if inside {
                    plane[idx] += v;
                }
                increment(&mut opos, &g.output);
            }
            increment(&mut koff, &g.kernel);
        }
    }
    Ok(())
}

/// Advances a row-major multi-index within `shape` (wrapping to all zeros at the end).
pub fn increment(idx: &mut [usize], shape: &[usize]) {
    for d in (0..idx.len()).rev() {
        idx[d] += 1;
        if idx[d] < shape[d] {
            return;
        }
        idx[d] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pads: Option<Vec<usize>>, strides: Option<Vec<usize>>, auto_pad: AutoPad) -> WindowAttrs {
        WindowAttrs { pads, strides, auto_pad, ..Default::default() }
    }

    #[test]
    fn output_shapes() {
        let g = attrs(Some(vec![1, 1, 1, 1]), None, AutoPad::NotSet).resolve(&[5, 5], &[3, 3]).unwrap();
        assert_eq!(g.output, vec![5, 5]);
        let g = attrs(None, Some(vec![2, 2]), AutoPad::NotSet).resolve(&[7, 5], &[3, 3]).unwrap();
        assert_eq!(g.output, vec![3, 2]);
        let g = attrs(None, Some(vec![2, 2]), AutoPad::SameUpper).resolve(&[5, 6], &[3, 3]).unwrap();
        assert_eq!(g.output, vec![3, 3]);
        assert_eq!((g.pads_begin.clone(), g.pads_end.clone()), (vec![1, 0], vec![1, 1]));
        let g = attrs(None, Some(vec![2, 2]), AutoPad::SameLower).resolve(&[5, 6], &[3, 3]).unwrap();
        assert_eq!((g.pads_begin, g.pads_end), (vec![1, 1], vec![1, 0]));
        let g = attrs(Some(vec![9, 9, 9, 9]), None, AutoPad::Valid).resolve(&[5, 5], &[3, 3]).unwrap();
        assert_eq!(g.output, vec![3, 3]);
        assert!(attrs(None, None, AutoPad::NotSet).resolve(&[2, 2], &[3, 3]).is_err());
        assert!(attrs(Some(vec![1, 1]), None, AutoPad::NotSet).resolve(&[5, 5], &[3, 3]).is_err());
        let mut a = attrs(None, Some(vec![2]), AutoPad::NotSet);
        a.ceil_mode = true;
        assert_eq!(a.resolve(&[6], &[3]).unwrap().output, vec![3]);
    }

    #[test]
    fn im2col_2d_matches_nd() {
        for (pads, strides, dil) in [
            (vec![1, 1, 1, 1], vec![1, 1], vec![1, 1]),
            (vec![0, 2, 1, 0], vec![2, 3], vec![1, 2]),
            (vec![0, 0, 0, 0], vec![1, 2], vec![2, 1]),
        ] {
            let wa = WindowAttrs { pads: Some(pads), strides: Some(strides), dilations: Some(dil), ..Default::default() };
            let g = wa.resolve(&[6, 7], &[3, 2]).unwrap();
            let input: Vec<i32> = (0..2 * 42).collect();
            let n = g.col_rows(2) * g.output_size();
            let (mut a, mut b) = (vec![0; n], vec![0; n]);
            im2col(&g, &input, 2, -1, &mut a).unwrap();
            im2col_nd(&g, &input, 2, -1, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn im2col_pads_with_value() {
        let wa = WindowAttrs { pads: Some(vec![1, 1]), ..Default::default() };
        let g = wa.resolve(&[3], &[3]).unwrap();
        let mut out = vec![0u8; 9];
        im2col(&g, &[1u8, 2, 3], 1, 7, &mut out).unwrap();
        assert_eq!(out, vec![7, 1, 2, 1, 2, 3, 2, 3, 7]);
    }
}
