//! Calibration batches fitted to a model whose batch dimension is fixed: a detector exported
//! with input `[1, 3, 640, 640]` cannot run a batch of 16 samples, so the samples of the batches
//! the caller gives are regrouped (split, or joined across batches) into batches of the declared
//! size. The caller's batch size is a transport detail; the model's is a constraint.
//!
//! Regrouping starts at the first batch that a fixed first dimension refuses (every feed of rank
//! at least 1 with the same number of samples); from then on all batches go through it, and the
//! samples left when calibration ends (fewer than one batch) are reported as unused. Feeds that
//! do not fit in another way (rank, other dimensions) are left to the session's feed check.
//! The quantizer also forces a batch of 1 ([`Regroup::force`]) on a model whose inputs leave the
//! batch free but whose graph runs only one sample (a traced batch of 1 in a Reshape's shape).
use super::Batch;
use crate::error::{Error, Result};
use crate::graph::{Dim, Graph};
use crate::tensor::Tensor;
use std::collections::HashMap;

pub(crate) struct Regroup {
    /// Input name → (fixed first dimension, declared rank).
    fixed: HashMap<String, (usize, usize)>,
    /// The batch size regrouped to, once regrouping started.
    size: Option<usize>,
    /// Samples waiting for a full batch (each feed with the same number of rows).
    carry: Option<Batch>,
}

pub(crate) fn samples(batch: &Batch) -> Option<usize> {
    let n = batch.first()?.1.shape().first().copied()?;
    batch.iter().all(|(_, t)| t.rank() >= 1 && t.shape()[0] == n).then_some(n)
}

/// Rows `lo..hi` of `t` (first axis).
pub(crate) fn rows(t: &Tensor, lo: usize, hi: usize) -> Result<Tensor> {
    let n = t.shape()[0];
    let row = if n == 0 { 0 } else { t.size_in_bytes() / n };
    let mut shape = t.shape().to_vec();
    shape[0] = hi - lo;
    Tensor::from_le_bytes(t.dtype(), &shape, &t.to_le_bytes()[lo * row..hi * row])
}

/// `a` then `b` along the first axis.
fn join(a: &Tensor, b: &Tensor, name: &str) -> Result<Tensor> {
    if a.dtype() != b.dtype() || a.shape()[1..] != b.shape()[1..] {
        return Err(Error::InvalidFeed {
            name: name.to_string(),
            detail: format!(
                "calibration batches of {} {:?} and {} {:?} cannot be regrouped into the model's fixed batch",
                a.dtype(),
                a.shape(),
                b.dtype(),
                b.shape()
            ),
        });
    }
    let mut shape = a.shape().to_vec();
    shape[0] += b.shape()[0];
    let mut bytes = a.to_le_bytes();
    bytes.extend_from_slice(&b.to_le_bytes());
    Tensor::from_le_bytes(a.dtype(), &shape, &bytes)
}

impl Regroup {
    pub(crate) fn new(g: &Graph) -> Regroup {
        let fixed = g
            .inputs
            .iter()
            .filter_map(|&id| {
                let v = g.value(id);
                match v.shape.as_deref() {
                    Some([Dim::Fixed(b), ..]) => Some((v.name.clone(), (*b, v.shape.as_ref().map_or(0, |s| s.len())))),
                    _ => None,
                }
            })
            .collect();
        Regroup { fixed, size: None, carry: None }
    }

    /// The fixed batch size that `batch` does not fit, if regrouping would make it fit.
    fn needed(&self, batch: &Batch) -> Option<usize> {
        let n = samples(batch)?;
        let mut size = None;
        for (name, t) in batch {
            if let Some(&(b, rank)) = self.fixed.get(name) {
                if t.rank() != rank || b == 0 || size.is_some_and(|s| s != b) {
                    return None;
                }
                size = Some(b);
            }
        }
        size.filter(|&b| b != n)
    }

    /// The batches to observe for `batch`: itself, or (once the model's fixed batch size refused
    /// one) its samples after the leftovers of earlier batches, in batches of that size. The
    /// first time, also the sentence that says so.
    pub(crate) fn push(&mut self, batch: Batch) -> Result<(Vec<Batch>, Option<String>)> {
        let mut note = None;
        if self.size.is_none() {
            let Some(b) = self.needed(&batch) else { return Ok((vec![batch], None)) };
            self.size = Some(b);
            let n = samples(&batch).unwrap_or(0);
            note = Some(format!(
                "the model's batch dimension is fixed at {b}: calibration batches (the first of {n} samples) were regrouped into batches of {b}"
            ));
        }
        let size = self.size.unwrap_or(1);
        let joined = match self.carry.take() {
            None => batch,
            Some(carry) => {
                let mut out = Vec::with_capacity(carry.len());
                for (name, a) in &carry {
                    let Some((_, b)) = batch.iter().find(|(k, _)| k == name) else {
                        return Err(Error::InvalidFeed {
                            name: name.clone(),
                            detail: "missing from a later calibration batch (every batch must feed the same inputs)".into(),
                        });
                    };
                    out.push((name.clone(), join(a, b, name)?));
                }
                if let Some((extra, _)) = batch.iter().find(|(k, _)| !carry.iter().any(|(c, _)| c == k)) {
                    return Err(Error::InvalidFeed {
                        name: extra.clone(),
                        detail: "fed by a later calibration batch but not the first (every batch must feed the same inputs)".into(),
                    });
                }
                out
            }
        };
        let Some(n) = samples(&joined) else {
            return Err(Error::InvalidFeed {
                name: joined.first().map(|(k, _)| k.clone()).unwrap_or_default(),
                detail: "calibration feeds hold different numbers of samples (first dimensions); they cannot be regrouped into the model's fixed batch".into(),
            });
        };
        let full = n / size * size;
        let mut out = Vec::with_capacity(n / size);
        for lo in (0..full).step_by(size) {
            out.push(joined.iter().map(|(k, t)| Ok((k.clone(), rows(t, lo, lo + size)?))).collect::<Result<Batch>>()?);
        }
        if full < n {
            self.carry = Some(joined.iter().map(|(k, t)| Ok((k.clone(), rows(t, full, n)?))).collect::<Result<Batch>>()?);
        }
        Ok((out, note))
    }

    /// Regroups into batches of `size` from now on, whatever the declared shapes say (a model
    /// that fixes its batch in the graph, not in its inputs' shapes).
    pub(crate) fn force(&mut self, size: usize) {
        self.size.get_or_insert(size);
    }

    /// `(samples, batch size)` left unobserved: fewer samples than one fixed batch.
    pub(crate) fn leftover(&self) -> Option<(usize, usize)> {
        let carry = self.carry.as_ref()?;
        Some((samples(carry)?, self.size?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(shape: Vec<Dim>) -> Graph {
        let mut g = Graph::default();
        let x = g.add_value("x", Some(crate::tensor::DType::F32), Some(shape));
        g.inputs.push(x);
        g
    }

    fn batch(lo: usize, n: usize) -> Batch {
        vec![("x".into(), Tensor::from_vec(&[n, 2], (lo * 2..(lo + n) * 2).map(|v| v as f32).collect()).unwrap())]
    }

    #[test]
    fn splits_and_joins_samples_into_the_fixed_batch_in_order() {
        let mut r = Regroup::new(&model(vec![Dim::Fixed(4), Dim::Fixed(2)]));
        let (a, note) = r.push(batch(0, 6)).unwrap();
        assert!(note.unwrap().contains("fixed at 4"));
        assert_eq!(a.len(), 1);
        let (b, note) = r.push(batch(6, 3)).unwrap();
        assert!(note.is_none());
        assert_eq!(b.len(), 1);
        assert_eq!(b[0][0].1.to_f32_vec(), (8..16).map(|v| v as f32).collect::<Vec<_>>());
        assert_eq!(r.leftover(), Some((1, 4)));
    }

    #[test]
    fn batches_that_fit_or_free_dimensions_pass_unchanged() {
        let mut r = Regroup::new(&model(vec![Dim::Fixed(3), Dim::Fixed(2)]));
        assert_eq!(r.push(batch(0, 3)).unwrap().0, vec![batch(0, 3)]);
        let mut r = Regroup::new(&model(vec![Dim::Symbolic("N".into()), Dim::Fixed(2)]));
        assert_eq!(r.push(batch(0, 5)).unwrap().0, vec![batch(0, 5)]);
        assert_eq!(r.leftover(), None);
    }
}
