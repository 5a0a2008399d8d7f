//! Runs QDQ models in integers: the `DequantizeLinear → op → QuantizeLinear` groups that
//! onnxruntime's QDQ selectors fuse (`qdq_selector_action_transformer.cc`) become the integer ops
//! of `ops::quant`. A runtime-only pass (the session applies it; the quantizer never does).
//!
//! | group | becomes |
//! |---|---|
//! | DQ(x), DQ(w), [DQ(b) int32] → Conv → [Relu/Clip] → Q | QLinearConv |
//! | DQ(a), DQ(b) → MatMul → [Relu/Clip] → Q | QLinearMatMul |
//! | DQ(a), DQ(b), [DQ(c) int32] → Gemm → [Relu/Clip] → [Q] | com.microsoft QGemm (float output without Q) |
//! | DQ(a), DQ(b) → Add / Mul → [Relu/Clip] → Q | com.microsoft QLinearAdd / QLinearMul |
//! | DQ → GlobalAveragePool / Softmax → Q | com.microsoft QLinear* |
//! | DQ(x)… → Concat → Q | Concat on the integers when every input has the output's parameters, else com.microsoft QLinearConcat |
//! | DQ(x)… → elementwise ops of x alone (Sigmoid, LeakyRelu, Tanh, ...; SiLU, HardSwish, GELU, Mish, with Q → DQ pairs inside) → Q | ai.webptq QLinearLookup: a 256-entry table ([`tables`]) |
//! | DQ → an op whose registration declares its input 0 may stay 8-bit (`ops::OpProps::int8`: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Slice, Gather, Expand, Identity, MaxPool, Resize, ReduceMax, ReduceMin, Split, Tile, DepthToSpace, SpaceToDepth, GatherElements; onnxruntime's `DropQDQNodesRules` plus Identity) → Q (same parameters) | the op on the integers |
//!
//! Conditions (as onnxruntime's selectors, made exact where they are not): scales and zero
//! points are constant initializers, scales positive finite float32, activations 8-bit and per
//! tensor, and the op's input and output integer types equal; weights (Conv, MatMul, Gemm) per
//! tensor or per output channel; a bias is int32 with zero point 0 and scale `s_x · s_w` (to
//! float32 rounding); the op's output is read only by the Q (or a Relu/Clip read only by it) and
//! is not a graph output. A Relu/Clip between the op and the Q is dropped when the Q's range
//! already clamps it (its bounds quantize to the type's limits), else applied to the integers as a
//! Clip with the quantized bounds, which is exact: quantizing is monotonic, so
//! `Q(clip(v, lo, hi)) = clip(Q(v), Q(lo), Q(hi))`.
//!
//! A lookup table is exact: an 8-bit per-tensor input has 256 values, and the table holds, for
//! each, what the float path computes (the region's own nodes run by the float kernels on those
//! 256 values); see [`tables`]. A table takes precedence over QLinearMul / QLinearAdd when both
//! inputs come from one 8-bit tensor (SiLU's `Mul(x, sigmoid(x))`).
//!
//! A DequantizeLinear shared by several readers serves every fused reader through its integer
//! input and stays for the float ones; nothing unmatched changes, so every graph still runs.
//! Weights stay integer initializers (the ops prepack them once when the plan is built): the
//! session folds constants *after* this pass, so only the DequantizeLinear of weights read by
//! float ops become float. docs/architecture.md ("Running quantized models") has the summary.
use crate::error::Result;
use crate::graph::{normalize_domain, Attr, Attrs, Dim, Graph, Model, Node, ValueId};
use crate::ops::Registry;
use crate::quant_math;
use crate::tensor::{DType, Tensor};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

mod tables;

const MS: &str = "com.microsoft";
pub use crate::ops::WEBPTQ_DOMAIN;

/// Rewrites every matching group; returns how many fused ops the graph holds after. Leaves
/// the graph topologically sorted, with the DequantizeLinear nodes nobody reads any more removed.
pub fn fuse_qdq(model: &mut Model) -> Result<usize> {
    let opset = model.opset();
    let g = &mut model.graph;
    let groups: Vec<Group> = {
        let m = Matcher::new(g, opset);
        (0..g.nodes.len()).filter_map(|i| m.group(i)).collect()
    };
    if groups.is_empty() {
        return Ok(0);
    }
    // Groups may overlap (a QLinearAdd absorbing a Relu that is also a table's target): the
    // first one in node order keeps its nodes.
    let mut claimed: HashSet<usize> = HashSet::new();
    let groups: Vec<Group> = groups
        .into_iter()
        .filter(|grp| {
            let nodes = || std::iter::once(grp.target).chain(grp.absorbed.iter().copied());
            let free = nodes().all(|n| !claimed.contains(&n));
            if free {
                claimed.extend(nodes());
            }
            free
        })
        .collect();
    let mut removed: HashSet<usize> = HashSet::new();
    let mut replaced: HashMap<usize, Vec<Node>> = HashMap::new();
    // The first output of each fused op, to count the ones still read at the end.
    let mut fused_outputs: Vec<ValueId> = Vec::new();
    for grp in &groups {
        removed.extend(grp.absorbed.iter().copied());
        let new = build(g, grp)?;
        fused_outputs.extend(new.first().and_then(|n| n.outputs.iter().flatten().next().copied()));
        replaced.insert(grp.target, new);
    }
    let old = std::mem::take(&mut g.nodes);
    for (i, n) in old.into_iter().enumerate() {
        if let Some(new) = replaced.remove(&i) {
            g.nodes.extend(new);
        } else if !removed.contains(&i) {
            g.nodes.push(n);
        }
    }
    super::remove_dead_nodes(g);
    g.sort_topologically()?;
    // A group inside a larger table (SiLU's Sigmoid) is dead once the table replaces its reader.
    let produced: HashSet<ValueId> = g.nodes.iter().flat_map(|n| n.outputs.iter().flatten().copied()).collect();
    Ok(fused_outputs.iter().filter(|v| produced.contains(v)).count())
}

/// The scale and zero point operands of a QuantizeLinear / DequantizeLinear node found in a
/// graph: their value ids (the fused op reads the same initializers) and constant values, of any
/// integer type a model may use. Not `quantize::QParams`, which are the parameters the quantizer
/// chooses (8-bit types only) before any node exists; see docs/architecture.md ("One type per
/// concept").
#[derive(Debug, Clone)]
struct QdqOperands {
    scale: ValueId,
    zp: Option<ValueId>,
    /// The integer type.
    dtype: DType,
    scales: Vec<f32>,
    zps: Vec<i32>,
    /// The quantized axis when there is more than one scale.
    axis: Option<usize>,
}

impl QdqOperands {
    fn per_tensor(&self) -> bool {
        self.axis.is_none()
    }
    fn is_8bit(&self) -> bool {
        matches!(self.dtype, DType::U8 | DType::I8)
    }
    /// Same type, scale and zero point (bit for bit), per tensor.
    fn same_as(&self, o: &QdqOperands) -> bool {
        self.per_tensor()
            && o.per_tensor()
            && self.dtype == o.dtype
            && self.scales[0].to_bits() == o.scales[0].to_bits()
            && self.zps[0] == o.zps[0]
    }
    fn qmin_qmax(&self) -> (i64, i64) {
        match self.dtype {
            DType::U8 => (0, 255),
            _ => (-128, 127),
        }
    }
    /// `Q(x)` of a per-tensor parameter (±∞ saturate).
    fn quantize(&self, x: f32) -> i64 {
        let (lo, hi) = self.qmin_qmax();
        quant_math::round_to_i64(f64::from(x / self.scales[0])).saturating_add(self.zps[0] as i64).clamp(lo, hi)
    }
}

/// A value that a DequantizeLinear computes from integers `x`.
#[derive(Debug, Clone)]
struct Dq {
    x: ValueId,
    p: QdqOperands,
}

/// The QuantizeLinear that closes a group, and a Relu/Clip between the op and it.
#[derive(Debug, Clone)]
struct QOut {
    q_node: usize,
    /// The Q's output: the fused op's output.
    y: ValueId,
    p: QdqOperands,
    clip: Option<(usize, f32, f32)>,
}

/// One match: the integer op replacing `target`, and the nodes it absorbs.
struct Group {
    target: usize,
    absorbed: Vec<usize>,
    op_type: String,
    domain: &'static str,
    inputs: Vec<Option<ValueId>>,
    attrs: Attrs,
    /// One per output of the new op: the Q that supplies its value (None: the target's own
    /// output, for a float-output QGemm).
    outs: Vec<Option<QOut>>,
    target_outputs: Vec<Option<ValueId>>,
    /// A constant input appended when the group is built (QLinearLookup's table).
    table: Option<Tensor>,
}

struct Matcher<'a> {
    g: &'a Graph,
    opset: i64,
    producers: HashMap<ValueId, usize>,
    consumers: HashMap<ValueId, Vec<usize>>,
    outputs: HashSet<ValueId>,
    registry: &'static Registry,
}

fn is_default(n: &Node) -> bool {
    normalize_domain(&n.domain).is_empty()
}

impl<'a> Matcher<'a> {
    fn new(g: &'a Graph, opset: i64) -> Self {
        Matcher {
            g,
            opset,
            producers: g.producers(),
            consumers: g.consumers(),
            outputs: g.outputs.iter().copied().collect(),
            registry: Registry::standard(),
        }
    }

    fn constant(&self, v: ValueId) -> Option<&'a Tensor> {
        self.g.constant(v)
    }

    fn rank(&self, v: ValueId) -> Option<usize> {
        match self.constant(v) {
            Some(t) => Some(t.rank()),
            None => self.g.values[v].shape.as_ref().map(|s| s.len()),
        }
    }

    /// Scale and zero point of Q/DQ node `n`. `x_rank` resolves a per-axis `axis`; `x_dtype` is
    /// the integer type when the node has no zero point (a DequantizeLinear's data type; None for
    /// a QuantizeLinear, whose output is then uint8).
    fn params(&self, n: &Node, x_rank: Option<usize>, x_dtype: Option<DType>) -> Option<QdqOperands> {
        if n.attrs.int_or("block_size", 0).ok()? != 0 {
            return None;
        }
        let scale = n.input(1)?;
        let st = self.constant(scale)?;
        let scales: Vec<f32> = st.array::<f32>().ok()?.iter().copied().collect();
        if scales.is_empty() || scales.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return None;
        }
        let (zp, zps, dtype) = match n.input(2) {
            Some(z) => {
                let zt = self.constant(z)?;
                if zt.shape() != st.shape() && !(zt.len() == 1 && st.len() == 1) {
                    return None;
                }
                let zps = zt.to_i64_vec().ok()?.into_iter().map(|v| i32::try_from(v).ok()).collect::<Option<Vec<i32>>>()?;
                (Some(z), zps, zt.dtype())
            }
            // No zero point: 0 of the data's type, or of QuantizeLinear's uint8 default
            // (an `output_dtype` attribute is left alone).
            None if n.attrs.has("output_dtype") => return None,
            None => (None, vec![0; scales.len()], if n.op_type == "QuantizeLinear" { DType::U8 } else { x_dtype? }),
        };
        if x_dtype.is_some_and(|d| d != dtype) {
            return None;
        }
        let axis = if scales.len() == 1 {
            None
        } else {
            let r = x_rank? as i64;
            let a = n.attrs.int_or("axis", 1).ok()?;
            let a = if a < 0 { a + r } else { a };
            if st.rank() != 1 || a < 0 || a >= r {
                return None;
            }
            Some(a as usize)
        };
        Some(QdqOperands { scale, zp, dtype, scales, zps, axis })
    }

    /// `v` as produced by a DequantizeLinear, with its integer input.
    fn dq(&self, v: ValueId) -> Option<Dq> {
        let n = &self.g.nodes[*self.producers.get(&v)?];
        if n.op_type != "DequantizeLinear" || !is_default(n) || n.output(0) != Some(v) {
            return None;
        }
        let x = n.input(0)?;
        // A typed value or initializer must have the zero point's type (ONNX).
        let declared = self.constant(x).map(|t| t.dtype()).or(self.g.values[x].dtype);
        let p = self.params(n, self.rank(x), declared)?;
        Some(Dq { x, p })
    }

    /// An activation: 8-bit, per tensor.
    fn act(&self, v: Option<ValueId>) -> Option<Dq> {
        let d = self.dq(v?)?;
        (d.p.is_8bit() && d.p.per_tensor()).then_some(d)
    }

    /// The Q reading `v` (its only reader), with an optional Relu/Clip between.
    fn q_after(&self, v: ValueId) -> Option<QOut> {
        if self.outputs.contains(&v) {
            return None;
        }
        let [c] = self.consumers.get(&v)?.as_slice() else { return None };
        let n = &self.g.nodes[*c];
        if !is_default(n) || n.input(0) != Some(v) {
            return None;
        }
        if n.op_type == "QuantizeLinear" {
            return self.q_node(*c, None);
        }
        if n.op_type != "Relu" && n.op_type != "Clip" {
            return None;
        }
        let (lo, hi) = self.clip_bounds(n)?;
        let r = n.output(0)?;
        if self.outputs.contains(&r) || n.outputs.iter().flatten().count() != 1 {
            return None;
        }
        let [q] = self.consumers.get(&r)?.as_slice() else { return None };
        let qn = &self.g.nodes[*q];
        if qn.op_type != "QuantizeLinear" || !is_default(qn) || qn.input(0) != Some(r) {
            return None;
        }
        self.q_node(*q, Some((*c, lo, hi)))
    }

    fn q_node(&self, i: usize, clip: Option<(usize, f32, f32)>) -> Option<QOut> {
        let n = &self.g.nodes[i];
        let p = self.params(n, None, None)?;
        if !p.is_8bit() || !p.per_tensor() {
            return None;
        }
        let y = n.output(0)?;
        if let Some((_, lo, hi)) = clip {
            // Clamping the integers needs an integer Clip (opset 12).
            let (qmin, qmax) = p.qmin_qmax();
            let redundant = p.quantize(lo) <= qmin && p.quantize(hi) >= qmax;
            if !redundant && self.opset < 12 {
                return None;
            }
        }
        Some(QOut { q_node: i, y, p, clip })
    }

    /// A Relu's or Clip's constant bounds.
    fn clip_bounds(&self, n: &Node) -> Option<(f32, f32)> {
        super::clip_bounds(self.g, n, self.opset)
    }

    /// The single existing output of node `i`.
    fn single_output(&self, i: usize) -> Option<ValueId> {
        let n = &self.g.nodes[i];
        (n.outputs.iter().flatten().count() == 1).then(|| n.output(0)).flatten()
    }

    fn group(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        if !is_default(n) {
            return None;
        }
        let op = n.op_type.as_str();
        // An elementwise region of one 8-bit input is one table, whatever else would match it
        // (a Mul of x and sigmoid(x) is SiLU, not QLinearMul).
        let table = if tables::is_elementwise(op) { self.table(i) } else { None };
        let g = match op {
            _ if table.is_some() => table,
            "Conv" => self.conv(i),
            "MatMul" => self.matmul(i),
            "Gemm" => self.gemm(i),
            "Add" | "Mul" => self.binary(i),
            "GlobalAveragePool" | "Softmax" => self.unary(i),
            "Concat" => self.concat(i),
            // Ops that declare their data input may stay 8-bit (`ops::OpProps::int8`: data movement
            // and order-preserving selection) run on the integers when the parameters are equal.
            _ if self.registry.props(&n.domain, op).is_some_and(|p| p.int8.allows(0)) => self.data_movement(i),
            _ => None,
        }?;
        self.registry.supports(g.domain, &g.op_type).then_some(g)
    }

    fn new_group(&self, i: usize, op: &str, domain: &'static str, inputs: Vec<Option<ValueId>>, outs: Vec<Option<QOut>>) -> Group {
        let n = &self.g.nodes[i];
        let mut absorbed = Vec::new();
        for o in outs.iter().flatten() {
            absorbed.push(o.q_node);
            absorbed.extend(o.clip.map(|c| c.0));
        }
        Group {
            target: i,
            absorbed,
            op_type: op.to_string(),
            domain,
            inputs,
            attrs: n.attrs.clone(),
            outs,
            target_outputs: n.outputs.clone(),
            table: None,
        }
    }

    /// The output Q of a single-output op whose output type must be `dtype`.
    fn out_q(&self, i: usize, dtype: DType) -> Option<QOut> {
        let q = self.q_after(self.single_output(i)?)?;
        (q.p.dtype == dtype).then_some(q)
    }

    fn conv(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let x = self.act(n.input(0))?;
        let w = self.dq(n.input(1)?)?;
        if !w.p.is_8bit() || !(w.p.per_tensor() || w.p.axis == Some(0)) {
            return None;
        }
        let out = self.out_q(i, x.p.dtype)?;
        let bias = match n.input(2) {
            None => None,
            Some(b) => {
                let q = self.int32_bias(b, &x.p, &w.p)?;
                // QLinearConv wants one bias value per output channel.
                let m = self.constant(w.x).map(|t| t.shape().first().copied())?;
                if self.constant(q)?.shape() != [m?] {
                    return None;
                }
                Some(q)
            }
        };
        let mut inputs = vec![Some(x.x), Some(x.p.scale), x.p.zp, Some(w.x), Some(w.p.scale), w.p.zp, Some(out.p.scale), out.p.zp];
        if let Some(b) = bias {
            inputs.push(Some(b));
        }
        Some(self.new_group(i, "QLinearConv", "", inputs, vec![Some(out)]))
    }

    /// The int32 integers of a bias DequantizeLinear with zero point 0 and scale `s_x · s_w`.
    fn int32_bias(&self, b: ValueId, x: &QdqOperands, w: &QdqOperands) -> Option<ValueId> {
        let d = self.dq(b)?;
        if d.p.dtype != DType::I32 || d.p.zps.iter().any(|&z| z != 0) {
            return None;
        }
        let channels = w.scales.len().max(d.p.scales.len());
        let ok = (0..channels).all(|m| {
            let want = x.scales[0] * w.scales[m.min(w.scales.len() - 1)];
            let got = d.p.scales[m.min(d.p.scales.len() - 1)];
            (got - want).abs() <= want * 4.0 * f32::EPSILON
        });
        // A per-channel bias must line up with per-channel weights.
        let shapes_ok = d.p.scales.len() == 1 || d.p.scales.len() == w.scales.len();
        (ok && shapes_ok).then_some(d.x)
    }

    fn matmul(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let a = self.act(n.input(0))?;
        let b = self.dq(n.input(1)?)?;
        // B per tensor (then its rank may be unknown: an activation, as in attention's Q·Kᵀ) or
        // per column (its last axis).
        if !b.p.is_8bit() || !(b.p.per_tensor() || self.rank(b.x).is_some_and(|r| r >= 2 && b.p.axis == Some(r - 1))) {
            return None;
        }
        let out = self.out_q(i, a.p.dtype)?;
        let inputs = vec![Some(a.x), Some(a.p.scale), a.p.zp, Some(b.x), Some(b.p.scale), b.p.zp, Some(out.p.scale), out.p.zp];
        Some(self.new_group(i, "QLinearMatMul", "", inputs, vec![Some(out)]))
    }

    fn gemm(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let trans_b = n.attrs.int_or("transB", 0).ok()? != 0;
        let alpha = n.attrs.float_or("alpha", 1.0).ok()?;
        let beta = n.attrs.float_or("beta", 1.0).ok()?;
        let a = self.act(n.input(0))?;
        let b = self.dq(n.input(1)?)?;
        if !b.p.is_8bit() || self.rank(b.x)? != 2 || !(b.p.per_tensor() || b.p.axis == Some(if trans_b { 0 } else { 1 })) {
            return None;
        }
        let c = match n.input(2) {
            None => None,
            // QGemm adds C to the accumulator before scaling by alpha: exact only for alpha = beta = 1.
            Some(c) if alpha == 1.0 && beta == 1.0 => Some(self.int32_bias(c, &a.p, &b.p)?),
            Some(_) => return None,
        };
        let y = self.single_output(i)?;
        let out = self.q_after(y);
        let mut inputs = vec![Some(a.x), Some(a.p.scale), a.p.zp, Some(b.x), Some(b.p.scale), b.p.zp, c];
        match &out {
            Some(q) if q.p.dtype == a.p.dtype => inputs.extend([Some(q.p.scale), q.p.zp]),
            // Without a Q of the activation's type the output stays float (QGemm without y_scale).
            _ if self.g.values[y].dtype.is_none_or(|d| d == DType::F32) => {
                let mut grp = self.new_group(i, "QGemm", MS, inputs, vec![None]);
                grp.attrs = gemm_attrs(n);
                return Some(grp);
            }
            _ => return None,
        }
        let mut grp = self.new_group(i, "QGemm", MS, inputs, vec![out]);
        grp.attrs = gemm_attrs(n);
        Some(grp)
    }

    fn binary(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        if n.inputs.len() != 2 {
            return None;
        }
        let a = self.act(n.input(0))?;
        let b = self.act(n.input(1))?;
        if a.p.dtype != b.p.dtype {
            return None;
        }
        let out = self.out_q(i, a.p.dtype)?;
        let op = if n.op_type == "Add" { "QLinearAdd" } else { "QLinearMul" };
        let inputs = vec![Some(a.x), Some(a.p.scale), a.p.zp, Some(b.x), Some(b.p.scale), b.p.zp, Some(out.p.scale), out.p.zp];
        Some(self.new_group(i, op, MS, inputs, vec![Some(out)]))
    }

    fn unary(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let x = self.act(n.input(0))?;
        let out = self.out_q(i, x.p.dtype)?;
        let inputs = vec![Some(x.x), Some(x.p.scale), x.p.zp, Some(out.p.scale), out.p.zp];
        let op = format!("QLinear{}", n.op_type);
        let mut grp = self.new_group(i, &op, MS, inputs, vec![Some(out)]);
        if n.op_type == "GlobalAveragePool" {
            grp.attrs = Attrs::default();
            grp.attrs.set("channels_last", Attr::Int(0));
        }
        if n.op_type == "Softmax" {
            // QLinearSoftmax follows the Softmax of the model's opset (one axis from 13 on).
            let axis = n.attrs.int_or("axis", if self.opset < 13 { 1 } else { -1 }).ok()?;
            grp.attrs = Attrs::default();
            grp.attrs.set("axis", Attr::Int(axis));
            grp.attrs.set("opset", Attr::Int(self.opset));
        }
        Some(grp)
    }

    fn concat(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let xs: Vec<Dq> = n.inputs.iter().map(|v| self.act(*v)).collect::<Option<_>>()?;
        let dtype = xs.first()?.p.dtype;
        if xs.iter().any(|x| x.p.dtype != dtype) {
            return None;
        }
        let out = self.q_after(self.single_output(i)?)?;
        if out.clip.is_some() || out.p.dtype != dtype {
            return None;
        }
        if xs.iter().all(|x| x.p.same_as(&out.p)) {
            let inputs = xs.iter().map(|x| Some(x.x)).collect();
            return Some(self.new_group(i, "Concat", "", inputs, vec![Some(out)]));
        }
        // QLinearConcat needs the output's zero point.
        out.p.zp?;
        let mut inputs = vec![Some(out.p.scale), out.p.zp];
        for x in &xs {
            inputs.extend([Some(x.x), Some(x.p.scale), x.p.zp]);
        }
        Some(self.new_group(i, "QLinearConcat", MS, inputs, vec![Some(out)]))
    }

    fn data_movement(&self, i: usize) -> Option<Group> {
        let n = &self.g.nodes[i];
        let x = self.act(n.input(0))?;
        let mut outs = Vec::new();
        for o in &n.outputs {
            let q = self.q_after((*o)?)?;
            if q.clip.is_some() || !q.p.same_as(&x.p) {
                return None;
            }
            outs.push(Some(q));
        }
        if outs.is_empty() || (n.op_type != "Split" && outs.len() != 1) {
            return None;
        }
        let mut inputs = n.inputs.clone();
        inputs[0] = Some(x.x);
        Some(self.new_group(i, &n.op_type, "", inputs, outs))
    }
}

fn gemm_attrs(n: &Node) -> Attrs {
    let mut a = Attrs::default();
    for k in ["alpha", "transA", "transB"] {
        if let Some(v) = n.attrs.get(k) {
            a.set(k, v.clone());
        }
    }
    a
}

/// The nodes replacing a group's target: the integer op, and an integer Clip where a Relu/Clip
/// was not already implied by the output's range.
fn build(g: &mut Graph, grp: &Group) -> Result<Vec<Node>> {
    let target_name = g.nodes[grp.target].name.clone();
    let mut nodes = Vec::new();
    let mut outputs = Vec::new();
    let mut after = Vec::new();
    for (k, out) in grp.outs.iter().enumerate() {
        let Some(q) = out else {
            outputs.push(grp.target_outputs.get(k).copied().flatten());
            continue;
        };
        let Some((_, lo, hi)) = q.clip else {
            outputs.push(Some(q.y));
            continue;
        };
        let (qmin, qmax) = q.p.qmin_qmax();
        let (qlo, qhi) = (q.p.quantize(lo), q.p.quantize(hi));
        if qlo <= qmin && qhi >= qmax {
            outputs.push(Some(q.y));
            continue;
        }
        let name = format!("{}_unclipped", g.value_name(q.y));
        let shape: Option<Vec<Dim>> = g.values[q.y].shape.clone();
        let tmp = g.add_value(&name, Some(q.p.dtype), shape);
        outputs.push(Some(tmp));
        let bound = |v: i64| -> Result<Tensor> {
            match q.p.dtype {
                DType::U8 => Tensor::from_vec(&[], vec![v as u8]),
                _ => Tensor::from_vec(&[], vec![v as i8]),
            }
        };
        let lo_id = add_init(g, &format!("{name}_min"), bound(qlo)?);
        let hi_id = add_init(g, &format!("{name}_max"), bound(qhi)?);
        after.push(Node {
            name: format!("{target_name}_clip"),
            op_type: "Clip".into(),
            domain: String::new(),
            inputs: vec![Some(tmp), Some(lo_id), Some(hi_id)],
            outputs: vec![Some(q.y)],
            attrs: Attrs::default(),
        });
    }
    let mut inputs = grp.inputs.clone();
    if let Some(t) = &grp.table {
        inputs.push(Some(add_init(g, &format!("{target_name}_table"), t.clone())));
    }
    nodes.push(Node {
        name: target_name,
        op_type: grp.op_type.clone(),
        domain: grp.domain.to_string(),
        inputs,
        outputs,
        attrs: grp.attrs.clone(),
    });
    nodes.extend(after);
    Ok(nodes)
}

fn add_init(g: &mut Graph, name: &str, t: Tensor) -> ValueId {
    let id = g.add_value(name, Some(t.dtype()), Some(vec![]));
    g.initializers.insert(id, Arc::new(t));
    id
}

#[cfg(test)]
mod tests {
    use crate::graph::{Attr, Graph, Model, Node, OpsetId, ValueId};
    use crate::runtime::{Session, SessionOptions};
    use crate::tensor::Tensor;
    use std::sync::Arc;

    /// A QDQ graph written by hand.
    struct G(Model);

    impl G {
        fn new() -> G {
            G(Model {
                ir_version: 8,
                opset_imports: vec![OpsetId { domain: String::new(), version: 13 }],
                producer_name: String::new(),
                producer_version: String::new(),
                doc_string: String::new(),
                metadata: vec![],
                graph: Graph::default(),
            })
        }
        fn v(&mut self, name: &str) -> ValueId {
            let g = &mut self.0.graph;
            g.find_value(name).unwrap_or_else(|| g.add_value(name, None, None))
        }
        fn init(&mut self, name: &str, t: Tensor) -> &mut Self {
            let id = self.v(name);
            self.0.graph.initializers.insert(id, Arc::new(t));
            self
        }
        fn node(&mut self, op: &str, ins: &[&str], outs: &[&str], attrs: &[(&str, Attr)]) -> &mut Self {
            let inputs = ins.iter().map(|n| (!n.is_empty()).then(|| self.v(n))).collect();
            let outputs = outs.iter().map(|n| Some(self.v(n))).collect();
            let mut node = Node { name: outs[0].into(), op_type: op.into(), domain: String::new(), inputs, outputs, attrs: Default::default() };
            for (k, a) in attrs {
                node.attrs.set(k, a.clone());
            }
            self.0.graph.nodes.push(node);
            self
        }
        /// `y = QuantizeLinear(x)` (uint8) with its own scale and zero point.
        fn q(&mut self, x: &str, y: &str, scale: f32, zp: u8) -> &mut Self {
            self.q8(x, y, scale, zp as i32, false)
        }
        /// `y = QuantizeLinear(x)` to int8 (`signed`) or uint8.
        fn q8(&mut self, x: &str, y: &str, scale: f32, zp: i32, signed: bool) -> &mut Self {
            let z = if signed { Tensor::scalar(zp as i8) } else { Tensor::scalar(zp as u8) };
            self.init(&format!("{y}.s"), Tensor::scalar(scale)).init(&format!("{y}.z"), z);
            self.node("QuantizeLinear", &[x, &format!("{y}.s"), &format!("{y}.z")], &[y], &[])
        }
        /// `y = DequantizeLinear(x)` with the parameters of the Q (or initializer) named `p`.
        fn dq(&mut self, x: &str, p: &str, y: &str, attrs: &[(&str, Attr)]) -> &mut Self {
            self.node("DequantizeLinear", &[x, &format!("{p}.s"), &format!("{p}.z")], &[y], attrs)
        }
        fn io(&mut self, input: &str, outputs: &[&str]) -> Model {
            let i = self.v(input);
            self.0.graph.inputs = vec![i];
            self.0.graph.outputs = outputs.iter().map(|o| self.v(o)).collect();
            self.0.clone()
        }
    }

    fn input(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::from_vec(shape, (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect::<Vec<f32>>()).unwrap()
    }

    /// Runs `m` fused and literally; checks that output `k` is within `tol[k]` of the literal one
    /// (one step of its scale, or float rounding). Returns the fused graph's op types.
    fn check(m: &Model, x: Tensor, tol: &[f32]) -> Vec<String> {
        let fused = Session::new(m.clone(), &SessionOptions::default()).unwrap();
        let literal = Session::new(m.clone(), &SessionOptions { optimize: true, fuse_qdq: false, fuse_activations: false }).unwrap();
        let feeds = vec![("x".to_string(), x)];
        let (a, b) = (fused.run(feeds.clone()).unwrap(), literal.run(feeds).unwrap());
        for (((name, a), (_, b)), tol) in a.iter().zip(&b).zip(tol) {
            for (u, v) in a.to_f32_vec().iter().zip(b.to_f32_vec()) {
                assert!((u - v).abs() <= *tol, "output {name}: fused {u}, literal {v}");
            }
        }
        fused.model().graph.nodes.iter().map(|n| n.op_type.clone()).collect()
    }

    /// x → Q → DQ → Conv(DQ w per channel, DQ int32 bias) → `act` → Q(y_scale, y_zp) → DQ → y.
    fn conv_graph(act: Option<(&str, f32, f32)>, y_scale: f32, y_zp: u8, bias_scale_factor: f32, extra_output: bool) -> Model {
        let mut g = G::new();
        let (sx, sw) = (0.02f32, [0.01f32, 0.02, 0.005]);
        let w: Vec<i8> = (0..54).map(|i| ((i * 29) % 255) as i8).collect();
        g.init("w.q", Tensor::from_vec(&[3, 2, 3, 3], w).unwrap())
            .init("w.s", Tensor::from_vec(&[3], sw.to_vec()).unwrap())
            .init("w.z", Tensor::from_vec(&[3], vec![0i8; 3]).unwrap())
            .init("b.q", Tensor::from_vec(&[3], vec![40i32, -300, 7]).unwrap())
            .init("b.s", Tensor::from_vec(&[3], sw.iter().map(|s| s * sx * bias_scale_factor).collect()).unwrap())
            .init("b.z", Tensor::from_vec(&[3], vec![0i32; 3]).unwrap());
        g.q("x", "xq", sx, 128).dq("xq", "xq", "xd", &[]);
        g.dq("w.q", "w", "wd", &[("axis", Attr::Int(0))]).dq("b.q", "b", "bd", &[("axis", Attr::Int(0))]);
        g.node("Conv", &["xd", "wd", "bd"], &["c"], &[("pads", Attr::Ints(vec![1, 1, 1, 1]))]);
        let pre = match act {
            None => "c",
            Some(("Relu", ..)) => {
                g.node("Relu", &["c"], &["r"], &[]);
                "r"
            }
            Some((_, lo, hi)) => {
                g.init("lo", Tensor::scalar(lo)).init("hi", Tensor::scalar(hi));
                g.node("Clip", &["c", "lo", "hi"], &["r"], &[]);
                "r"
            }
        };
        g.q(pre, "yq", y_scale, y_zp).dq("yq", "yq", "y", &[]);
        if extra_output {
            g.io("x", &["y", "c"])
        } else {
            g.io("x", &["y"])
        }
    }

    #[test]
    fn elementwise_ops_become_exact_lookup_tables() {
        // Every uint8 input value: x spans [-1.28, 1.27] with scale 0.01 and zero point 128.
        let x = Tensor::from_vec(&[1, 256], (0..256).map(|i| (i as f32 - 128.0) * 0.01).collect::<Vec<f32>>()).unwrap();
        for (op, attrs) in [
            ("HardSwish", vec![]),
            ("Tanh", vec![]),
            ("Erf", vec![]),
            ("HardSigmoid", vec![("alpha", Attr::Float(0.3)), ("beta", Attr::Float(0.4))]),
            ("Exp", vec![]),
            ("Relu", vec![]),
            ("Sigmoid", vec![]),
            ("LeakyRelu", vec![("alpha", Attr::Float(0.1))]),
            ("Softsign", vec![]),
        ] {
            let mut g = G::new();
            g.q("x", "xq", 0.01, 128).dq("xq", "xq", "xd", &[]);
            g.node(op, &["xd"], &["h"], &attrs);
            g.q("h", "yq", 0.007, 100).dq("yq", "yq", "y", &[]);
            // Tolerance 0: the table holds what the float path computes, value for value.
            let ops = check(&g.io("x", &["y"]), x.clone(), &[0.0]);
            assert_eq!(ops, ["QuantizeLinear", "QLinearLookup", "DequantizeLinear"], "{op}");
        }
        // Two readers of the op's output: no table (the float value is still needed).
        let mut g = G::new();
        g.q("x", "xq", 0.01, 128).dq("xq", "xq", "xd", &[]);
        g.node("Tanh", &["xd"], &["h"], &[]);
        g.q("h", "yq", 0.007, 100).dq("yq", "yq", "y", &[]);
        let ops = check(&g.io("x", &["y", "h"]), x, &[0.0, 0.0]);
        assert!(!ops.iter().any(|o| o == "QLinearLookup"), "{ops:?}");
    }

    /// Writes an activation pattern on `xd` (the dequantized x) into `g`, ending in value "m".
    /// `lo` is the smallest value of the 8-bit type the intermediate Q nodes use.
    fn pattern(g: &mut G, name: &str, signed: bool) {
        let lo = if signed { -128 } else { 0 };
        let c = |g: &mut G, n: &str, v: f32| {
            g.init(n, Tensor::scalar(v));
        };
        match name {
            // The quantizers' SiLU: Sigmoid's output quantized, the Mul reading x's DQ.
            "silu_qdq" => {
                g.node("Sigmoid", &["xd"], &["s"], &[]).q8("s", "sq", 1.0 / 256.0, lo, signed).dq("sq", "sq", "sd", &[]);
                g.node("Mul", &["xd", "sd"], &["m"], &[]);
            }
            // The same with a DequantizeLinear of x per reader.
            "silu_two_dq" => {
                g.dq("xq", "xq", "xd2", &[]);
                g.node("Sigmoid", &["xd2"], &["s"], &[]).q8("s", "sq", 1.0 / 255.0, lo + 1, signed).dq("sq", "sq", "sd", &[]);
                g.node("Mul", &["sd", "xd"], &["m"], &[]);
            }
            "silu_float" => {
                g.node("Sigmoid", &["xd"], &["s"], &[]).node("Mul", &["xd", "s"], &["m"], &[]);
            }
            "hardswish" => {
                let attrs = [("alpha", Attr::Float(1.0 / 6.0)), ("beta", Attr::Float(0.5))];
                g.node("HardSigmoid", &["xd"], &["h"], &attrs).node("Mul", &["xd", "h"], &["m"], &[]);
            }
            "gelu_erf" => {
                c(g, "sqrt2", std::f32::consts::SQRT_2);
                c(g, "one", 1.0);
                c(g, "half", 0.5);
                g.node("Div", &["xd", "sqrt2"], &["a"], &[]).node("Erf", &["a"], &["e"], &[]).node("Add", &["e", "one"], &["b"], &[]);
                g.node("Mul", &["xd", "b"], &["p"], &[]).node("Mul", &["p", "half"], &["m"], &[]);
            }
            "gelu_tanh" => {
                c(g, "three", 3.0);
                c(g, "k", 0.044715);
                c(g, "s2pi", (2.0 / std::f32::consts::PI).sqrt());
                c(g, "one", 1.0);
                // 0.5 from a Constant node, as exporters write it.
                g.node("Constant", &[], &["half"], &[("value", Attr::Tensor(Tensor::scalar(0.5f32)))]);
                g.node("Pow", &["xd", "three"], &["x3"], &[]).node("Mul", &["x3", "k"], &["a"], &[]).node("Add", &["xd", "a"], &["b"], &[]);
                g.node("Mul", &["b", "s2pi"], &["c"], &[]).node("Tanh", &["c"], &["t"], &[]).node("Add", &["t", "one"], &["u"], &[]);
                g.node("Mul", &["xd", "u"], &["v"], &[]).node("Mul", &["v", "half"], &["m"], &[]);
            }
            "mish" => {
                g.node("Softplus", &["xd"], &["sp"], &[]).node("Tanh", &["sp"], &["t"], &[]).node("Mul", &["xd", "t"], &["m"], &[]);
            }
            // Two tables in a row are one table.
            "chain" => {
                g.node("Tanh", &["xd"], &["t"], &[]).q8("t", "tq", 1.0 / 128.0, lo + 128, signed).dq("tq", "tq", "td", &[]);
                g.node("Exp", &["td"], &["m"], &[]);
            }
            _ => unreachable!("{name}"),
        }
    }

    #[test]
    fn activation_patterns_become_one_exact_table() {
        for signed in [false, true] {
            let lo = if signed { -128i32 } else { 0 };
            for (sx, zx, sy, zy) in [(0.05f32, 128, 0.03f32, 20), (0.013, 200, 0.011, 5), (0.1, 30, 0.05, 128)] {
                // Every 8-bit value of x, dequantized: the fused table meets all 256 entries.
                let x = Tensor::from_vec(&[1, 2, 128], (0..256).map(|i| (i - zx) as f32 * sx).collect::<Vec<f32>>()).unwrap();
                for name in ["silu_qdq", "silu_two_dq", "silu_float", "hardswish", "gelu_erf", "gelu_tanh", "mish", "chain"] {
                    let mut g = G::new();
                    g.q8("x", "xq", sx, zx + lo, signed).dq("xq", "xq", "xd", &[]);
                    pattern(&mut g, name, signed);
                    g.q8("m", "yq", sy, zy + lo, signed).dq("yq", "yq", "y", &[]);
                    // Tolerance 0: the table is the literal chain of ops, value for value.
                    let ops = check(&g.io("x", &["y"]), x.clone(), &[0.0]);
                    assert_eq!(ops, ["QuantizeLinear", "QLinearLookup", "DequantizeLinear"], "{name} signed {signed} x {sx}/{zx}");
                }
            }
        }
    }

    #[test]
    fn regions_of_two_inputs_or_broadcasting_constants_are_not_tables() {
        let x = Tensor::from_vec(&[2, 128], (0..256).map(|i| (i as f32 - 100.0) * 0.02).collect::<Vec<f32>>()).unwrap();
        // Mul(-x, sigmoid(x)) is a function of x alone: one table.
        let mut g = G::new();
        g.q("x", "xq", 0.02, 100).dq("xq", "xq", "xd", &[]);
        g.node("Sigmoid", &["xd"], &["s"], &[]).q("s", "sq", 1.0 / 256.0, 0).dq("sq", "sq", "sd", &[]);
        g.node("Neg", &["xd"], &["n"], &[]).q("n", "nq", 0.02, 156).dq("nq", "nq", "nd", &[]);
        g.node("Mul", &["nd", "sd"], &["m"], &[]).q("m", "yq", 0.02, 128).dq("yq", "yq", "y", &[]);
        let ops = check(&g.io("x", &["y"]), x.clone(), &[0.0]);
        assert_eq!(ops, ["QuantizeLinear", "QLinearLookup", "DequantizeLinear"]);
        // A Mul of two 8-bit tensors (x quantized twice): QLinearMul.
        let mut g = G::new();
        g.q("x", "xq", 0.02, 100).dq("xq", "xq", "xd", &[]);
        g.q("x", "xq2", 0.03, 90).dq("xq2", "xq2", "xd2", &[]);
        g.node("Mul", &["xd", "xd2"], &["m"], &[]).q("m", "yq", 0.05, 128).dq("yq", "yq", "y", &[]);
        let ops = check(&g.io("x", &["y"]), x.clone(), &[0.05]);
        assert_eq!(ops, ["QuantizeLinear", "QuantizeLinear", "QLinearMul", "DequantizeLinear"]);
        // A per-position constant: not a function of the value alone.
        let mut g = G::new();
        g.q("x", "xq", 0.02, 100).dq("xq", "xq", "xd", &[]);
        g.init("w", Tensor::from_vec(&[128], (0..128).map(|i| i as f32 / 64.0).collect::<Vec<f32>>()).unwrap());
        g.node("Mul", &["xd", "w"], &["m0"], &[]).node("Tanh", &["m0"], &["m"], &[]).q("m", "yq", 0.01, 128).dq("yq", "yq", "y", &[]);
        let ops = check(&g.io("x", &["y"]), x.clone(), &[0.0]);
        assert!(!ops.iter().any(|o| o == "QLinearLookup"), "{ops:?}");
        // A one-element constant of higher rank than x would broadcast x's shape.
        let mut g = G::new();
        g.q("x", "xq", 0.02, 100).dq("xq", "xq", "xd", &[]);
        g.init("c", Tensor::from_vec(&[1, 1, 1], vec![0.5f32]).unwrap());
        g.node("Mul", &["xd", "c"], &["m"], &[]).q("m", "yq", 0.01, 128).dq("yq", "yq", "y", &[]);
        let ops = check(&g.io("x", &["y"]), x, &[0.0]);
        assert!(!ops.iter().any(|o| o == "QLinearLookup"), "{ops:?}");
    }

    #[test]
    fn conv_groups_fuse_with_exact_activations() {
        let x = input(&[1, 2, 5, 5]);
        // Relu before a Q whose zero point is 0: implied by the saturation, dropped.
        let ops = check(&conv_graph(Some(("Relu", 0.0, 0.0)), 0.05, 0, 1.0, false), x.clone(), &[0.05]);
        assert_eq!(ops, ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]);
        // Clip(0, 1) under an output range of [-0.3, 2.25]: applied to the integers.
        let ops = check(&conv_graph(Some(("Clip", 0.0, 1.0)), 0.01, 30, 1.0, false), x.clone(), &[0.01]);
        assert_eq!(ops, ["QuantizeLinear", "QLinearConv", "Clip", "DequantizeLinear"]);
        // Clip(-10, 10) is wider than the output range: dropped.
        let ops = check(&conv_graph(Some(("Clip", -10.0, 10.0)), 0.01, 30, 1.0, false), x.clone(), &[0.01]);
        assert_eq!(ops, ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]);
    }

    #[test]
    fn groups_that_would_change_results_stay_float() {
        let x = input(&[1, 2, 5, 5]);
        // The Conv's output is also a graph output: it must exist in float.
        let ops = check(&conv_graph(None, 0.05, 100, 1.0, true), x.clone(), &[0.0, 0.0]);
        assert!(ops.contains(&"Conv".to_string()) && !ops.contains(&"QLinearConv".to_string()), "{ops:?}");
        // A bias whose scale is not s_x · s_w cannot be added to the accumulator.
        let ops = check(&conv_graph(None, 0.05, 100, 2.0, false), x, &[0.0]);
        assert!(ops.contains(&"Conv".to_string()), "{ops:?}");
    }

    #[test]
    fn concat_split_gemm_and_matmul() {
        // x[2,4] → Q → DQ ─┬→ Split(2, 2) → Q, Q (same params) → DQ, DQ → Concat → Q(other params) → DQ → y
        //                   ├→ Gemm(DQ w, transB) → y2 (float: QGemm without a Q)
        //                   └→ MatMul(DQ w per column) → Q → DQ → y3
        let mut g = G::new();
        g.q("x", "xq", 0.01, 100).dq("xq", "xq", "xd", &[]);
        g.node("Split", &["xd", "halves"], &["s0", "s1"], &[("axis", Attr::Int(1))]);
        g.init("halves", Tensor::from_vec(&[2], vec![2i64, 2]).unwrap());
        g.q("s0", "s0q", 0.01, 100).q("s1", "s1q", 0.01, 100).dq("s0q", "s0q", "s0d", &[]).dq("s1q", "s1q", "s1d", &[]);
        g.node("Concat", &["s1d", "s0d"], &["cat"], &[("axis", Attr::Int(1))]);
        g.q("cat", "catq", 0.02, 90).dq("catq", "catq", "y", &[]);
        g.init("w.q", Tensor::from_vec(&[3, 4], (0..12).map(|i| (i * 11 % 50) as i8 - 20).collect::<Vec<i8>>()).unwrap())
            .init("w.s", Tensor::scalar(0.03f32))
            .init("w.z", Tensor::scalar(0i8));
        g.dq("w.q", "w", "wd", &[]).node("Gemm", &["xd", "wd"], &["y2"], &[("transB", Attr::Int(1))]);
        g.init("m.q", Tensor::from_vec(&[4, 3], (0..12).map(|i| (i * 7 % 40) as i8 - 15).collect::<Vec<i8>>()).unwrap())
            .init("m.s", Tensor::from_vec(&[3], vec![0.01f32, 0.02, 0.04]).unwrap())
            .init("m.z", Tensor::from_vec(&[3], vec![0i8; 3]).unwrap());
        g.dq("m.q", "m", "md", &[("axis", Attr::Int(1))]).node("MatMul", &["xd", "md"], &["mm"], &[]);
        g.q("mm", "mmq", 0.005, 128).dq("mmq", "mmq", "y3", &[]);
        let m = g.io("x", &["y", "y2", "y3"]);
        let mut ops = check(&m, input(&[2, 4]), &[0.02, 1e-5, 0.005]);
        ops.sort();
        ops.dedup();
        assert_eq!(ops, ["DequantizeLinear", "QGemm", "QLinearConcat", "QLinearMatMul", "QuantizeLinear", "Split"]);
    }
}
