//! Einsum (opset 12+): sums of products of the inputs' elements over labelled axes, as numpy's
//! `einsum`.
//!
//! The equation names each input's axes with letters (`"bij,bjk->bik"`); `...` stands for the
//! remaining axes, broadcast numpy-style (right-aligned, size 1 stretches) between the inputs.
//! A letter repeated within one input takes its diagonal. Without `->` the output is the
//! ellipsis axes, then the letters used exactly once, in alphabetical order. Every letter not in
//! the output is summed over.
//!
//! Evaluation is one walk over the output's elements, with an inner walk over the summed labels;
//! each input is read through one stride per label (the sum of the strides of its axes with that
//! label, 0 where an axis of size 1 is broadcast), so diagonals and broadcasting cost nothing
//! extra. Two-input contractions of the attention kind (`bhqd,bhkd->bhqk`) are small in the
//! models that use them; a GEMM path can come when a model needs the speed.
use super::registry::{required, BuildContext, FnOp, Op, Registry};
use crate::error::{Error, Result};
use crate::tensor::{checked_numel, Elem, Tensor};
use ndarray::{ArrayD, IxDyn, LinalgScalar};

pub fn register(r: &mut Registry) {
    r.register("", "Einsum", build);
}

/// An axis label: a letter, or the i-th ellipsis axis (counted from the left of the ellipsis).
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Label {
    Ellipsis(usize),
    Letter(u8),
}

/// One side of the equation: letters with an optional ellipsis position.
#[derive(Debug, Clone)]
struct Term {
    /// Letters before and after the ellipsis (all of them if there is none).
    before: Vec<u8>,
    after: Vec<u8>,
    ellipsis: bool,
}

fn parse_term(s: &str, eq: &str) -> Result<Term> {
    let bad = |why: &str| Error::invalid(format!("Einsum equation '{eq}': {why}"));
    let (before, after, ellipsis) = match s.find("...") {
        Some(p) => (&s[..p], &s[p + 3..], true),
        None => (s, "", false),
    };
    if after.contains('.') || before.contains('.') {
        return Err(bad("a '.' outside an ellipsis"));
    }
    let letters = |t: &str| -> Result<Vec<u8>> {
        t.bytes().map(|b| if b.is_ascii_alphabetic() { Ok(b) } else { Err(bad(&format!("'{}' is not a letter", b as char))) }).collect()
    };
    Ok(Term { before: letters(before)?, after: letters(after)?, ellipsis })
}

impl Term {
    fn letters(&self) -> impl Iterator<Item = u8> + '_ {
        self.before.iter().chain(&self.after).copied()
    }
    /// The labels of an operand of rank `rank` (with `ell` ellipsis axes in all), right-aligning
    /// its own ellipsis axes into the equation's `ell` ones.
    fn labels(&self, rank: usize, ell: usize, eq: &str) -> Result<Vec<Label>> {
        let n = self.before.len() + self.after.len();
        if (!self.ellipsis && rank != n) || (self.ellipsis && rank < n) {
            return Err(Error::shape(format!("Einsum equation '{eq}' names {n} axes for an input of rank {rank}")));
        }
        let own = rank - n;
        let mut out: Vec<Label> = self.before.iter().map(|&b| Label::Letter(b)).collect();
        out.extend((ell - own..ell).map(Label::Ellipsis));
        out.extend(self.after.iter().map(|&b| Label::Letter(b)));
        Ok(out)
    }
}

struct Equation {
    inputs: Vec<Term>,
    output: Option<Term>,
}

fn parse(eq: &str) -> Result<Equation> {
    let clean: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match clean.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (clean.clone(), None),
    };
    let inputs = lhs.split(',').map(|t| parse_term(t, eq)).collect::<Result<Vec<_>>>()?;
    let output = rhs.map(|r| parse_term(&r, eq)).transpose()?;
    if let Some(o) = &output {
        let mut seen = Vec::new();
        for b in o.letters() {
            if seen.contains(&b) {
                return Err(Error::invalid(format!("Einsum equation '{eq}': output label '{}' appears twice", b as char)));
            }
            if !inputs.iter().any(|t| t.letters().any(|x| x == b)) {
                return Err(Error::invalid(format!("Einsum equation '{eq}': output label '{}' is in no input", b as char)));
            }
            seen.push(b);
        }
    }
    Ok(Equation { inputs, output })
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Op>> {
    let eq = ctx.attrs().string("equation")?.ok_or_else(|| Error::invalid("Einsum needs an 'equation'"))?.to_string();
    let parsed = parse(&eq)?;
    if parsed.inputs.len() != ctx.node.inputs.len() {
        return Err(Error::invalid(format!(
            "Einsum equation '{eq}' has {} operands, the node {} inputs",
            parsed.inputs.len(),
            ctx.node.inputs.len()
        )));
    }
    Ok(Box::new(FnOp(move |inputs: &[Option<&Tensor>]| {
        let ts = (0..inputs.len()).map(|i| required(inputs, i, "an Einsum operand")).collect::<Result<Vec<_>>>()?;
        if ts.iter().any(|t| t.dtype() != ts[0].dtype()) {
            return Err(Error::dtype("Einsum operands must share one element type"));
        }
        let out = match ts[0] {
            Tensor::F32(_) => einsum::<f32>(&eq, &parsed, &ts)?,
            Tensor::F64(_) => einsum::<f64>(&eq, &parsed, &ts)?,
            Tensor::I32(_) => einsum::<i32>(&eq, &parsed, &ts)?,
            Tensor::I64(_) => einsum::<i64>(&eq, &parsed, &ts)?,
            Tensor::U32(_) => einsum::<u32>(&eq, &parsed, &ts)?,
            Tensor::U64(_) => einsum::<u64>(&eq, &parsed, &ts)?,
            other => return Err(Error::dtype(format!("Einsum of {} is not supported", other.dtype()))),
        };
        Ok(vec![out])
    })))
}

fn einsum<T: Elem + LinalgScalar>(eq: &str, e: &Equation, ts: &[&Tensor]) -> Result<Tensor> {
    let arrays = ts.iter().map(|t| t.array::<T>()).collect::<Result<Vec<&ArrayD<T>>>>()?;
    let ell = e
        .inputs
        .iter()
        .zip(&arrays)
        .filter(|(t, _)| t.ellipsis)
        .map(|(t, a)| a.ndim().saturating_sub(t.before.len() + t.after.len()))
        .max()
        .unwrap_or(0);
    let labels = e.inputs.iter().zip(&arrays).map(|(t, a)| t.labels(a.ndim(), ell, eq)).collect::<Result<Vec<_>>>()?;
    // The size of every label; broadcast ellipsis axes of size 1 take the others' size.
    let mut size: std::collections::BTreeMap<Label, usize> = std::collections::BTreeMap::new();
    for (ls, a) in labels.iter().zip(&arrays) {
        for (&l, &d) in ls.iter().zip(a.shape()) {
            let s = size.entry(l).or_insert(d);
            if *s != d {
                match l {
                    Label::Ellipsis(_) if d == 1 => {}
                    Label::Ellipsis(_) if *s == 1 => *s = d,
                    _ => {
                        return Err(Error::shape(format!(
                            "Einsum equation '{eq}': axis {l:?} is {d} in one input and {s} in another",
                            s = *s
                        )))
                    }
                }
            }
        }
    }
    let out_labels: Vec<Label> = match &e.output {
        Some(o) => {
            if o.ellipsis || ell == 0 {
                let mut v: Vec<Label> = o.before.iter().map(|&b| Label::Letter(b)).collect();
                if o.ellipsis {
                    v.extend((0..ell).map(Label::Ellipsis));
                }
                v.extend(o.after.iter().map(|&b| Label::Letter(b)));
                v
            } else {
                return Err(Error::invalid(format!("Einsum equation '{eq}': the inputs' ellipsis must be in the output")));
            }
        }
        None => {
            let mut v: Vec<Label> = (0..ell).map(Label::Ellipsis).collect();
            let mut once: Vec<u8> = Vec::new();
            for b in b'A'..=b'z' {
                let n: usize = e.inputs.iter().map(|t| t.letters().filter(|&x| x == b).count()).sum();
                if n == 1 {
                    once.push(b);
                }
            }
            v.extend(once.into_iter().map(Label::Letter));
            v
        }
    };
    let summed: Vec<Label> = size.keys().copied().filter(|l| !out_labels.contains(l)).collect();
    let out_shape: Vec<usize> = out_labels.iter().map(|l| size[l]).collect();
    checked_numel(&out_shape, T::DTYPE)?;
    // The inputs in row-major order, and per input one stride per label (output labels first,
    // then summed ones): the sum of its axes' strides with that label, 0 for a broadcast axis.
    let data: Vec<Vec<T>> = arrays.iter().map(|a| a.iter().copied().collect()).collect();
    let all: Vec<Label> = out_labels.iter().chain(&summed).copied().collect();
    let strides: Vec<Vec<usize>> = labels
        .iter()
        .zip(&arrays)
        .map(|(ls, a)| {
            let mut row_major = vec![1usize; a.ndim()];
            for k in (0..a.ndim().saturating_sub(1)).rev() {
                row_major[k] = row_major[k + 1] * a.shape()[k + 1];
            }
            all.iter()
                .map(|l| {
                    ls.iter()
                        .zip(a.shape().iter().zip(&row_major))
                        .filter(|(x, (&d, _))| *x == l && !(d == 1 && size[l] != 1))
                        .map(|(_, (_, &s))| s)
                        .sum()
                })
                .collect()
        })
        .collect();
    let no = out_labels.len();
    let out_dims = &out_shape;
    let sum_dims: Vec<usize> = summed.iter().map(|l| size[l]).collect();
    let total_out: usize = out_dims.iter().product();
    let total_sum: usize = sum_dims.iter().product();
    let mut out = Vec::with_capacity(total_out);
    if total_out > 0 {
        let mut oi = vec![0usize; no];
        let mut si = vec![0usize; summed.len()];
        for _ in 0..total_out {
            let base: Vec<usize> = strides.iter().map(|st| oi.iter().zip(st).map(|(&i, &s)| i * s).sum()).collect();
            let mut acc = T::zero();
            if total_sum > 0 {
                si.iter_mut().for_each(|v| *v = 0);
                for _ in 0..total_sum {
                    let mut p = T::one();
                    for (k, st) in strides.iter().enumerate() {
                        let off = base[k] + si.iter().zip(&st[no..]).map(|(&i, &s)| i * s).sum::<usize>();
                        p = p * data[k][off];
                    }
                    acc = acc + p;
                    advance(&mut si, &sum_dims);
                }
            }
            out.push(acc);
            advance(&mut oi, out_dims);
        }
    }
    let arr = ArrayD::from_shape_vec(IxDyn(&out_shape), out).map_err(|e| Error::shape(format!("Einsum output: {e}")))?;
    Ok(T::wrap(arr))
}

/// Next multi-index in row-major order (wraps to zeros after the last).
fn advance(idx: &mut [usize], dims: &[usize]) {
    for k in (0..idx.len()).rev() {
        idx[k] += 1;
        if idx[k] < dims[k] {
            return;
        }
        idx[k] = 0;
    }
}
