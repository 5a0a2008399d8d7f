//! Elementwise regions of one 8-bit input become one table (`ai.webptq` QLinearLookup).
//!
//! A region ends in a QuantizeLinear and reads, through DequantizeLinear nodes, a single 8-bit
//! per-tensor integer tensor `x`; inside it are only ops that compute each element from the
//! elements at the same position ([`ELEMENTWISE`]: one-input activations and math, Add / Sub /
//! Mul / Div / Pow / Max / Min, Clip), one-element constants, and Q → DQ pairs (per tensor,
//! constant parameters). Its output is then a function of one 8-bit value, so the region is a
//! 256-entry table: single ops (`DQ → Sigmoid → Q`) and patterns alike, such as SiLU
//! `x·sigmoid(x)` in both QDQ forms (`DQ(x) → Sigmoid → Q → DQ → Mul(DQ(x), ·) → Q`, the
//! quantizers' output, and `Mul(DQ(x), Sigmoid(DQ(x))) → Q`), HardSwish `x·hardsigmoid(x)`, GELU
//! in its Erf and Tanh forms and Mish `x·tanh(softplus(x))`.
//!
//! Exact: the table is filled by running the region's own nodes, every one of them (the
//! DequantizeLinear nodes, the float ops with the model's attributes, the rounding Q → DQ pairs
//! inside and the closing Q), with the float kernels of the unfused plan on the 256 values of
//! `x`'s type. Each of those kernels computes an element from its value alone, so the entry for
//! `v` is what the literal graph computes for an element equal to `v`, bit for bit.
//!
//! A region's source is the deepest 8-bit tensor that all its paths share: through a Q → DQ
//! pair whose Q input is itself such a region, the region grows (a chain of tables is one
//! table). Only the node feeding the closing Q (its output read by that Q alone) is replaced;
//! the region's other nodes stay while something else reads them and are removed as dead
//! otherwise.
use super::{is_default, Group, Matcher, WEBPTQ_DOMAIN};
use crate::graph::{Node, ValueId};
use crate::ops::LookupTable as Table;
use crate::ops::BuildContext;
use crate::tensor::{DType, Tensor};
use std::collections::{HashMap, HashSet};

/// Ops that compute each output element from the input elements at its position alone (with
/// numpy broadcasting against one-element constants).
const ELEMENTWISE: &[&str] = &[
    "Abs", "Add", "Ceil", "Celu", "Clip", "Cos", "Div", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish",
    "LeakyRelu", "Log", "Max", "Min", "Mish", "Mul", "Neg", "Pow", "Reciprocal", "Relu", "Round", "Selu",
    "Sigmoid", "Sign", "Sin", "Softplus", "Softsign", "Sqrt", "Sub", "Tanh", "ThresholdedRelu",
];

/// The longest path of nodes (ops and Q/DQ nodes) a region follows back from its closing Q.
const MAX_DEPTH: usize = 24;

/// Whether an op may be part of a table region.
pub(super) fn is_elementwise(op: &str) -> bool {
    ELEMENTWISE.contains(&op)
}

/// What a value inside a region depends on.
#[derive(Debug, Clone, PartialEq)]
enum Sources {
    /// Constants only (one element each).
    Constant,
    /// The 8-bit tensors it is a function of alone, shallowest first.
    Of(Vec<ValueId>),
}

impl Matcher<'_> {
    /// `node i → Q` as a table, when `i`'s output is a function of one 8-bit tensor.
    pub(super) fn table(&self, i: usize) -> Option<Group> {
        let y = self.single_output(i)?;
        if self.outputs.contains(&y) {
            return None;
        }
        let [qi] = self.consumers.get(&y)?.as_slice() else { return None };
        let qn = &self.g.nodes[*qi];
        if qn.op_type != "QuantizeLinear" || !is_default(qn) || qn.input(0) != Some(y) {
            return None;
        }
        let out = self.q_node(*qi, None)?;
        let Sources::Of(sources) = self.sources(y, 0, &mut HashMap::new())? else { return None };
        let x = *sources.last()?;
        let mut order = Vec::new();
        self.collect(y, x, &mut HashSet::new(), &mut order)?;
        order.push(*qi);
        let signed = self.act_of(x)?;
        let table = Table::of(signed, |values| self.evaluate(&order, x, values)).ok()?;
        if table.out_dtype() != out.p.dtype {
            return None;
        }
        // A one-element constant of rank r broadcasts x to rank r: the table keeps x's shape only
        // if x has at least that rank.
        let r = self.max_constant_rank(&order);
        if r > 0 && self.rank(x).is_none_or(|rx| rx < r) {
            return None;
        }
        let mut grp = self.new_group(i, "QLinearLookup", WEBPTQ_DOMAIN, vec![Some(x)], vec![Some(out)]);
        grp.attrs = Default::default();
        grp.table = Some(table.to_tensor());
        Some(grp)
    }

    /// The signedness of the 8-bit tensor `x` as the region's DequantizeLinear nodes read it.
    fn act_of(&self, x: ValueId) -> Option<bool> {
        let dq = self.consumers.get(&x)?.iter().find_map(|&c| self.act(self.g.nodes[c].output(0)).filter(|d| d.x == x))?;
        Some(dq.p.dtype == DType::I8)
    }

    /// What `v` depends on, or None if it is not a region value (memoized in `memo`).
    fn sources(&self, v: ValueId, depth: usize, memo: &mut HashMap<ValueId, Option<Sources>>) -> Option<Sources> {
        if let Some(s) = memo.get(&v) {
            return s.clone();
        }
        let s = self.sources_uncached(v, depth, memo);
        memo.insert(v, s.clone());
        s
    }

    fn sources_uncached(&self, v: ValueId, depth: usize, memo: &mut HashMap<ValueId, Option<Sources>>) -> Option<Sources> {
        if let Some(t) = self.const_tensor(v) {
            return (t.len() == 1).then_some(Sources::Constant);
        }
        if depth >= MAX_DEPTH {
            return None;
        }
        let p = *self.producers.get(&v)?;
        let n = &self.g.nodes[p];
        if !is_default(n) || self.single_output(p) != Some(v) {
            return None;
        }
        if n.op_type == "DequantizeLinear" {
            let d = self.act(Some(v))?;
            // A quantized one-element constant (a GELU's 0.5 in a QDQ model).
            if let Some(t) = self.const_tensor(d.x) {
                return (t.len() == 1).then_some(Sources::Constant);
            }
            let mut of = vec![d.x];
            // Through a Q → DQ pair: the Q's input may itself be a region value.
            if let Some(q) = self.quantize_input(d.x) {
                if let Some(Sources::Of(deeper)) = self.sources(q, depth + 2, memo) {
                    of.extend(deeper);
                }
            }
            return Some(Sources::Of(of));
        }
        if !is_elementwise(&n.op_type) {
            return None;
        }
        let mut common: Option<Vec<ValueId>> = None;
        for input in n.inputs.iter().flatten() {
            match self.sources(*input, depth + 1, memo)? {
                Sources::Constant => {}
                Sources::Of(of) => {
                    common = Some(match common {
                        None => of,
                        Some(c) => c.into_iter().filter(|s| of.contains(s)).collect(),
                    })
                }
            }
        }
        match common {
            None => Some(Sources::Constant),
            Some(c) if c.is_empty() => None,
            Some(c) => Some(Sources::Of(c)),
        }
    }

    /// The input of the per-tensor 8-bit QuantizeLinear (constant parameters) producing `q`.
    fn quantize_input(&self, q: ValueId) -> Option<ValueId> {
        let p = *self.producers.get(&q)?;
        let n = &self.g.nodes[p];
        if n.op_type != "QuantizeLinear" || !is_default(n) || self.single_output(p) != Some(q) {
            return None;
        }
        self.q_node(p, None)?;
        n.input(0)
    }

    /// The nodes computing `v` from `x` and constants, inputs before readers, into `order`.
    fn collect(&self, v: ValueId, x: ValueId, seen: &mut HashSet<usize>, order: &mut Vec<usize>) -> Option<()> {
        if v == x || self.const_tensor(v).is_some() {
            return Some(());
        }
        let p = *self.producers.get(&v)?;
        if !seen.insert(p) {
            return Some(());
        }
        for input in self.g.nodes[p].inputs.iter().flatten() {
            self.collect(*input, x, seen, order)?;
        }
        order.push(p);
        Some(())
    }

    /// Runs the nodes of `order` (their inputs: `x` = `values`, constants, earlier results) with
    /// the registry's kernels; returns the last node's output.
    fn evaluate(&self, order: &[usize], x: ValueId, values: &Tensor) -> crate::error::Result<Tensor> {
        let mut computed: HashMap<ValueId, Tensor> = HashMap::new();
        computed.insert(x, values.clone());
        let mut last = None;
        for &i in order {
            let n: &Node = &self.g.nodes[i];
            let op = self.registry.build(&BuildContext { node: n, graph: self.g, opset: self.opset })?;
            let inputs: Vec<Option<&Tensor>> =
                n.inputs.iter().map(|v| v.and_then(|v| computed.get(&v).or_else(|| self.const_tensor(v)))).collect();
            let y = op.run(&inputs)?.into_iter().next();
            let (Some(y), Some(out)) = (y, n.output(0)) else {
                return Err(crate::error::Error::invalid(format!("{} '{}' gave no output", n.op_type, n.name)));
            };
            computed.insert(out, y);
            last = Some(out);
        }
        last.and_then(|o| computed.remove(&o)).ok_or_else(|| crate::error::Error::invalid("an empty table region"))
    }

    /// An initializer, or the `value` of a Constant node.
    fn const_tensor(&self, v: ValueId) -> Option<&Tensor> {
        if let Some(t) = self.constant(v) {
            return Some(t);
        }
        let n = &self.g.nodes[*self.producers.get(&v)?];
        (n.op_type == "Constant" && is_default(n)).then(|| n.attrs.tensor("value").ok().flatten()).flatten()
    }

    /// The highest rank of the constants that the nodes of `order` read (not the scales and zero
    /// points of its Q/DQ nodes, which do not broadcast).
    fn max_constant_rank(&self, order: &[usize]) -> usize {
        let inputs = order.iter().map(|&i| &self.g.nodes[i]).flat_map(|n| {
            let data_only = if n.op_type.ends_with("QuantizeLinear") { 1 } else { n.inputs.len() };
            n.inputs.iter().take(data_only).flatten()
        });
        inputs.filter_map(|&v| self.const_tensor(v)).map(Tensor::rank).max().unwrap_or(0)
    }
}
