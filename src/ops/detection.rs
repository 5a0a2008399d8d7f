//! Detection post-processing: NonMaxSuppression (opset 10+).
//!
//! Per batch and class, the boxes whose score is above `score_threshold` (strictly, as
//! onnxruntime; all boxes when it is absent) are visited by decreasing score (ties: lower box
//! index first); a box is kept unless its IoU with a kept box of that class is above
//! `iou_threshold`, until `max_output_boxes_per_class` are kept (0 or absent: none). Boxes are
//! corners `[y1, x1, y2, x2]` in either order (`center_point_box = 0`) or
//! `[x_center, y_center, width, height]` (`1`). A box of zero area overlaps nothing. The output
//! lists `[batch, class, box]` (int64) by batch, then class, then selection order.
use super::registry::{optional, required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};

pub fn register(r: &mut Registry) {
    r.register("", "NonMaxSuppression", build);
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let center = match ctx.attrs().int_or("center_point_box", 0)? {
        0 => false,
        1 => true,
        other => return Err(Error::invalid(format!("center_point_box must be 0 or 1, got {other}"))),
    };
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| run(inputs, center).map(|t| vec![t]))))
}

/// A box as (y_min, x_min, y_max, x_max).
fn corners(b: &[f32], center: bool) -> [f32; 4] {
    if center {
        let (xc, yc, w, h) = (b[0], b[1], b[2], b[3]);
        [yc - h / 2.0, xc - w / 2.0, yc + h / 2.0, xc + w / 2.0]
    } else {
        [b[0].min(b[2]), b[1].min(b[3]), b[0].max(b[2]), b[1].max(b[3])]
    }
}

/// Whether two boxes overlap by more than `threshold` IoU (onnxruntime's `SuppressByIOU`).
fn suppresses(a: &[f32; 4], b: &[f32; 4], threshold: f32) -> bool {
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if area_a <= 0.0 || area_b <= 0.0 {
        return false;
    }
    let (y0, x0, y1, x1) = (a[0].max(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].min(b[3]));
    if y1 <= y0 || x1 <= x0 {
        return false;
    }
    let inter = (y1 - y0) * (x1 - x0);
    let union = area_a + area_b - inter;
    union > 0.0 && inter / union > threshold
}

fn scalar_f32(t: Option<&Tensor>, what: &str, default: f32) -> Result<Option<f32>> {
    match t {
        None => Ok(None),
        Some(t) if t.len() == 1 && t.dtype().is_float() => Ok(Some(t.to_f32_vec()[0])),
        Some(t) if t.is_empty() => Ok(Some(default)),
        Some(t) => Err(Error::invalid(format!("{what} must be one float, got {} of shape {:?}", t.dtype(), t.shape()))),
    }
}

fn run(inputs: &[Option<&Tensor>], center: bool) -> Result<Tensor> {
    let boxes = required(inputs, 0, "boxes")?;
    let scores = required(inputs, 1, "scores")?;
    if boxes.rank() != 3 || boxes.shape()[2] != 4 {
        return Err(Error::shape(format!("boxes must be [batch, boxes, 4], got {:?}", boxes.shape())));
    }
    let (batches, n) = (boxes.shape()[0], boxes.shape()[1]);
    if scores.rank() != 3 || scores.shape()[0] != batches || scores.shape()[2] != n {
        return Err(Error::shape(format!("scores must be [{batches}, classes, {n}] for boxes {:?}, got {:?}", boxes.shape(), scores.shape())));
    }
    if !boxes.dtype().is_float() || !scores.dtype().is_float() {
        return Err(Error::dtype(format!("boxes and scores must be float, got {} and {}", boxes.dtype(), scores.dtype())));
    }
    let classes = scores.shape()[1];
    let max_out = match optional(inputs, 2) {
        None => 0,
        Some(t) if t.is_empty() => 0,
        Some(t) if t.len() == 1 && matches!(t.dtype(), DType::I64 | DType::I32) => t.to_i64_vec()?[0].max(0) as usize,
        Some(t) => return Err(Error::invalid(format!("max_output_boxes_per_class must be one int64, got {} of shape {:?}", t.dtype(), t.shape()))),
    };
    let iou = scalar_f32(optional(inputs, 3), "iou_threshold", 0.0)?.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&iou) {
        return Err(Error::invalid(format!("iou_threshold {iou} is outside [0, 1]")));
    }
    let score_min = scalar_f32(optional(inputs, 4), "score_threshold", f32::NEG_INFINITY)?;
    let b = boxes.to_f32_vec();
    let s = scores.to_f32_vec();
    let mut out: Vec<i64> = Vec::new();
    if max_out > 0 {
        for bi in 0..batches {
            let bx: Vec<[f32; 4]> = (0..n).map(|i| corners(&b[(bi * n + i) * 4..(bi * n + i) * 4 + 4], center)).collect();
            for c in 0..classes {
                let sc = &s[(bi * classes + c) * n..(bi * classes + c + 1) * n];
                let mut order: Vec<usize> = (0..n).filter(|&i| score_min.is_none_or(|t| sc[i] > t)).collect();
                order.sort_by(|&x, &y| sc[y].total_cmp(&sc[x]).then(x.cmp(&y)));
                let mut kept: Vec<usize> = Vec::new();
                for i in order {
                    if kept.len() >= max_out {
                        break;
                    }
                    if kept.iter().all(|&k| !suppresses(&bx[k], &bx[i], iou)) {
                        kept.push(i);
                    }
                }
                out.extend(kept.into_iter().flat_map(|i| [bi as i64, c as i64, i as i64]));
            }
        }
    }
    let rows = out.len() / 3;
    Tensor::from_vec(&[rows, 3], out)
}
