//! Weight-only quantization: weights stored in 8 or 4 bits, activations and arithmetic stay float.
//! No calibration data; a pure graph rewrite.
//!
//! **8 bits** (`weightBits: 8`): each constant float32 weight of MatMul, Gemm, Conv and
//! ConvTranspose is stored int8 (or uint8), symmetric (docs/quantization.md §3, §5), per output
//! channel by default (§6: the last axis of a MatMul weight, Gemm's output axis, Conv axis 0,
//! ConvTranspose axis 1), and a DequantizeLinear with that `axis` feeds the unchanged float op.
//! Embedding tables (a constant float32 Gather data of rank ≥ 2) are stored the same way, per
//! column of the last axis, with the DequantizeLinear placed *after* the Gather so only the
//! gathered rows are dequantized at run time; the result is identical, since dequantization is
//! elementwise and the scale does not vary along the gathered axis. Per-channel DequantizeLinear
//! needs opset 13: older models are raised to it, the ops whose definition changed rewritten
//! (`qdq::ensure_opset`, `passes::upgrade_opset`).
//!
//! **4 bits** (`weightBits: 4`): each float32 MatMul / Gemm with a constant 2-D weight becomes
//! onnxruntime's `com.microsoft` MatMulNBits: the `[K, N]` weight split along K into blocks of
//! `blockSize` (default 32), each with its own scale and zero point, 4-bit values packed two per
//! byte (layout in [`crate::ops::nbits`]). Blocks are asymmetric by default (§2 with
//! `[qmin, qmax] = [0, 15]`; onnxruntime's quantizer default too) or symmetric (§10: zero point 8,
//! `s = m / −8` for the block's value `m` of largest magnitude, so `m` is exact and all 16 levels
//! are used; the zero points are left out of the file since 8 is the op's default).
//! Gemm's `alpha` is folded into the scales and `beta · C` becomes an Add. The other weights
//! (Conv, ConvTranspose, embedding tables, and MatMul weights MatMulNBits cannot take) get the
//! 8-bit treatment above, so a 4-bit model is as small as its 8-bit one or smaller.
use super::edit::{base_name, emit_bias, f32_weight, gemm_parts, is_f32_or_unknown, node, tensor_decision, BiasInput, Edit, Log, Outcome};
use super::qdq::{signal_noise, sqnr_db};
use super::report::TensorDecision;
use super::options::{QuantMode, QuantOptions};
use super::params::scale_zero_point;
use super::qdq::ensure_opset;
use super::weights::quantize_weight;
use crate::error::{Error, Result};
use crate::graph::{Attr, Model, Node, ValueId};
use crate::ops::nbits::{dequantize_weight, pack_values, NBitsLayout, ZeroPoints};
use crate::quant_math;
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;

/// The weight-only quantized model; see the module docs. 4-bit blocks are asymmetric (use
/// [`quantize_weight_only_blocks`] to choose). Reads `weight_bits`, `block_size`, `per_channel`,
/// `weight_type`, `reduce_range`, `exclude_nodes` and `exclude_op_types` from `options`.
pub fn quantize_weight_only(model: &Model, options: &QuantOptions) -> Result<Model> {
    quantize_weight_only_blocks(model, options, false)
}

/// [`quantize_weight_only`] with a choice of symmetric or asymmetric 4-bit blocks (ignored for
/// 8-bit weights, which are always symmetric).
pub fn quantize_weight_only_blocks(model: &Model, options: &QuantOptions, symmetric_blocks: bool) -> Result<Model> {
    rewrite(model, options, symmetric_blocks).map(|o| o.model)
}

/// [`quantize_weight_only_blocks`] with every node's decision and each int8 weight's parameters,
/// for the report (4-bit weights are described in their node's decision).
pub fn rewrite(model: &Model, options: &QuantOptions, symmetric_blocks: bool) -> Result<Outcome> {
    let options = QuantOptions { mode: QuantMode::WeightOnly, ..options.clone() };
    options.validate()?;
    // DequantizeLinear exists from opset 10, its per-channel axis from 13: older models are raised
    // when none of their ops changed meaning on the way, else a typed error says what to do.
    let mut raised = model.clone();
    ensure_opset(&mut raised, if options.per_channel { 13 } else { 10 })?;
    let model = &raised;
    let opset = model.opset();
    let mut edit = Edit::new(&model.graph);
    let mut nodes = Vec::with_capacity(model.graph.nodes.len());
    let int4 = options.weight_bits == 4;
    let mut dq = Dequantized { options: &options, per_axis: opset >= 13, cache: HashMap::new() };
    let mut log = Log::default();
    for n in &model.graph.nodes {
        if !n.domain.is_empty() || options.excludes(&n.name, &n.op_type) {
            let why = if n.domain.is_empty() { "excluded by excludeNodes / excludeOpTypes" } else { "not an ONNX-domain op" };
            log.float(n, why);
            nodes.push(n.clone());
            continue;
        }
        if int4 && int4_node(&mut edit, n, &options, symmetric_blocks, &mut nodes, &mut log)? {
            continue;
        }
        if n.op_type == "Gather" {
            if !gather_node(&mut edit, n, &options, opset >= 13, &mut nodes, &mut log)? {
                log.float(n, "not an embedding lookup (the data is not a constant float32 tensor of rank >= 2)");
                nodes.push(n.clone());
            }
            continue;
        }
        // The weight is input 1; its output-channel axis (§6) depends on the op and its rank.
        let axis_of = |rank: usize| -> Result<Option<usize>> {
            Ok(match n.op_type.as_str() {
                "MatMul" => Some(rank - 1),
                "Gemm" if rank == 2 => Some(if n.attrs.int_or("transB", 0)? != 0 { 0 } else { 1 }),
                "Conv" => Some(0),
                "ConvTranspose" => Some(1),
                _ => None,
            })
        };
        let weight = n.input(1).and_then(|w| f32_weight(&edit, w).map(|t| (w, t))).filter(|(_, t)| t.rank() >= 2);
        let replaced = match weight {
            Some((w, t)) => match axis_of(t.rank())? {
                Some(axis) => {
                    let (wf, decision) = dq.get(&mut edit, n, w, &t, axis, &mut nodes, &mut log)?;
                    let how = format!("{} weight → DequantizeLinear → float {}", options.weight_type.name(), n.op_type);
                    log.quantized(n, how, vec![tensor_decision(&edit.graph, n.input(0).unwrap_or(w), "float"), decision]);
                    let mut n2 = n.clone();
                    n2.inputs[1] = Some(wf);
                    nodes.push(n2);
                    true
                }
                None => false,
            },
            None => false,
        };
        if !replaced {
            let why = match n.op_type.as_str() {
                "MatMul" | "Gemm" | "Conv" | "ConvTranspose" => "its weight is not a constant float32 tensor of a supported shape",
                _ => "weight-only mode stores the weights of MatMul, Gemm, Conv, ConvTranspose and Gather (embeddings)",
            };
            log.float(n, why);
            nodes.push(n.clone());
        }
    }
    let model = edit.finish(model, nodes, if int4 { &[("com.microsoft", 1)] } else { &[] })?;
    Ok(Outcome { model, nodes: log.nodes, weights: log.weights })
}

/// Int8 weights behind DequantizeLinear, one per (weight, axis), shared by all readers.
struct Dequantized<'a> {
    options: &'a QuantOptions,
    per_axis: bool,
    cache: HashMap<(ValueId, usize), (ValueId, TensorDecision)>,
}

impl Dequantized<'_> {
    #[allow(clippy::too_many_arguments)]
    fn get(
        &mut self,
        edit: &mut Edit,
        reader: &Node,
        w: ValueId,
        t: &Tensor,
        axis: usize,
        nodes: &mut Vec<Node>,
        log: &mut Log,
    ) -> Result<(ValueId, TensorDecision)> {
        if let Some(v) = self.cache.get(&(w, axis)) {
            return Ok(v.clone());
        }
        let o = self.options;
        let per_channel = o.per_channel && self.per_axis;
        let name = edit.name(w).to_string();
        let qw = quantize_weight(&name, t, per_channel.then_some(axis), o.weight_type, o.reduce_range)?;
        let decision = log.weight(&name, reader, t, &qw);
        let q = edit.initializer(&format!("{name}_quantized"), qw.tensor);
        let s = edit.initializer(&format!("{name}_scale"), qw.params.scale_tensor()?);
        let z = edit.initializer(&format!("{name}_zero_point"), qw.params.zero_point_tensor()?);
        let out = edit.value(&format!("{name}_dequantized"), DType::F32);
        let attrs = if per_channel { vec![("axis", Attr::Int(axis as i64))] } else { vec![] };
        nodes.push(node("DequantizeLinear", "", format!("{name}_DequantizeLinear"), &[Some(q), Some(s), Some(z)], &[out], attrs));
        self.cache.insert((w, axis), (out, decision.clone()));
        Ok((out, decision))
    }
}

/// An embedding lookup `Gather(table, indices)` on a constant float32 table of rank ≥ 2 becomes
/// `DequantizeLinear(Gather(table_q, indices))`, per column of the table's last axis when
/// per-channel (and the Gather is not along that axis), else per tensor. Shared with the dynamic
/// mode, which stores embedding tables the same way. Returns whether the node was replaced.
pub(crate) fn gather_node(
    edit: &mut Edit,
    n: &Node,
    options: &QuantOptions,
    per_axis: bool,
    nodes: &mut Vec<Node>,
    log: &mut Log,
) -> Result<bool> {
    let (Some(data), Some(indices), Some(y)) = (n.input(0), n.input(1), n.output(0)) else { return Ok(false) };
    let Some(t) = f32_weight(edit, data) else { return Ok(false) };
    let rank = t.rank();
    if rank < 2 {
        return Ok(false);
    }
    let gather_axis = crate::ops::normalize_axis(n.attrs.int_or("axis", 0)?, rank)?;
    let per_channel = options.per_channel && per_axis && gather_axis != rank - 1;
    let name = edit.name(data).to_string();
    let qw = quantize_weight(&name, &t, per_channel.then_some(rank - 1), options.weight_type, options.reduce_range)?;
    let base = base_name(&edit.graph, n);
    let decision = log.weight(&name, n, &t, &qw);
    log.quantized(n, format!("{} embedding table gathered, then DequantizeLinear", options.weight_type.name()), vec![decision]);
    let q = edit.initializer(&format!("{name}_quantized"), qw.tensor);
    let s = edit.initializer(&format!("{name}_scale"), qw.params.scale_tensor()?);
    let z = edit.initializer(&format!("{name}_zero_point"), qw.params.zero_point_tensor()?);
    let gathered = edit.value(&format!("{base}_quantized"), options.weight_type.dtype());
    let mut g = n.clone();
    g.inputs = vec![Some(q), Some(indices)];
    g.outputs = vec![Some(gathered)];
    nodes.push(g);
    let attrs = if per_channel { vec![("axis", Attr::Int(-1))] } else { vec![] };
    nodes.push(node("DequantizeLinear", "", format!("{base}_DequantizeLinear"), &[Some(gathered), Some(s), Some(z)], &[y], attrs));
    Ok(true)
}

/// A `[K, N]` float32 weight quantized block-wise along K in 4 bits: what MatMulNBits reads.
#[derive(Debug)]
pub(crate) struct Int4Weight {
    pub layout: NBitsLayout,
    /// uint8 `[N, k_blocks, blob_size]`.
    pub packed: Tensor,
    /// `[N, k_blocks]`.
    pub scales: Vec<f32>,
    /// uint8 `[N, ceil(k_blocks / 2)]`, absent for symmetric blocks (all 8, the op's default).
    pub zero_points: Option<Tensor>,
}

/// Quantizes `w` (`[K, N]`, f32) in blocks of `block_size` along K (docs/quantization.md §10:
/// §1 with `[0, 15]`, §2 for asymmetric blocks, the signed-extreme rule for symmetric ones, §4
/// for all-zero blocks). `name` is used in errors.
pub(crate) fn quantize_int4(name: &str, w: &Tensor, block_size: usize, symmetric: bool) -> Result<Int4Weight> {
    let a = w.array::<f32>()?;
    if a.ndim() != 2 {
        return Err(Error::shape(format!("weight '{name}' must be 2-D for MatMulNBits, has shape {:?}", a.shape())));
    }
    let (k, n) = (a.shape()[0], a.shape()[1]);
    if let Some((i, x)) = a.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(Error::InvalidModel(format!(
            "weight '{name}' contains {x} at flat index {i} (shape [{k}, {n}]): NaN or infinite weights cannot be quantized"
        )));
    }
    let l = NBitsLayout::new(k, n, 4, block_size)?;
    let (kb, (qmin, qmax)) = (l.k_blocks(), (0, l.qmax()));
    let mut packed = Vec::with_capacity(n * kb * l.blob_size());
    let mut scales = Vec::with_capacity(n * kb);
    let mut zero_points = Vec::with_capacity(n * l.zero_point_cols());
    let mut block = vec![0u8; block_size];
    let mut zps = vec![0u8; kb];
    for col in 0..n {
        for (b, zp) in zps.iter_mut().enumerate() {
            let rows = b * block_size..((b + 1) * block_size).min(k);
            let (s, z) = if symmetric {
                // §10: the value of largest magnitude maps exactly to q = 0 (s may be negative).
                let m = rows.clone().map(|r| a[[r, col]]).fold(0f32, |m, x| if x.abs() > m.abs() { x } else { m });
                (if m == 0.0 { 1.0 } else { m / -8.0 }, 8)
            } else {
                let (lo, hi) = rows.clone().fold((0f32, 0f32), |(lo, hi), r| (lo.min(a[[r, col]]), hi.max(a[[r, col]])));
                scale_zero_point(lo, hi, qmin, qmax, false)
            };
            // Padding past K holds the zero point (real 0).
            block.fill(z as u8);
            for (i, r) in rows.enumerate() {
                let q = quant_math::round_to_i64(f64::from(a[[r, col]] / s)) + z as i64;
                block[i] = q.clamp(qmin as i64, qmax as i64) as u8;
            }
            packed.extend(pack_values(&block, 4));
            scales.push(s);
            *zp = z as u8;
        }
        zero_points.extend(pack_values(&zps, 4));
    }
    Ok(Int4Weight {
        layout: l,
        packed: Tensor::from_vec(&[n, kb, l.blob_size()], packed)?,
        scales,
        zero_points: if symmetric { None } else { Some(Tensor::from_vec(&[n, l.zero_point_cols()], zero_points)?) },
    })
}

/// Rewrites a MatMul or Gemm into MatMulNBits; returns whether the node was replaced.
fn int4_node(edit: &mut Edit, n: &Node, options: &QuantOptions, symmetric: bool, nodes: &mut Vec<Node>, log: &mut Log) -> Result<bool> {
    let parts = match n.op_type.as_str() {
        "MatMul" => {
            let (Some(x), Some(w_id), Some(y)) = (n.input(0), n.input(1), n.output(0)) else { return Ok(false) };
            match f32_weight(edit, w_id) {
                Some(w) if w.rank() == 2 && is_f32_or_unknown(&edit.graph, x) => (x, w_id, w, 1.0, None, y),
                _ => return Ok(false),
            }
        }
        "Gemm" => match gemm_parts(edit, n)? {
            Some(g) => (g.x, g.w_source.0, g.w, g.alpha, g.bias, g.y),
            None => return Ok(false),
        },
        _ => return Ok(false),
    };
    let (x, w_id, w, alpha, bias, y) = parts;
    let name = edit.name(w_id).to_string();
    let q = quantize_int4(&name, &w, options.block_size, symmetric)?;
    let l = q.layout;
    let (sig, noise) = {
        let bytes = q.packed.to_le_bytes();
        let zp_bytes = q.zero_points.as_ref().map(|z| z.to_le_bytes());
        let zp = zp_bytes.as_deref().map_or(ZeroPoints::Default, ZeroPoints::Packed);
        signal_noise(&w.to_f32_vec(), &dequantize_weight(&l, &bytes, &q.scales, &zp))
    };
    let sqnr = sqnr_db(sig, noise).map_or("exact".to_string(), |db| format!("{db:.1} dB"));
    let how = format!(
        "MatMulNBits: weight '{name}' [{}, {}] in 4-bit {} blocks of {} (weight SQNR {sqnr})",
        l.k,
        l.n,
        if symmetric { "symmetric" } else { "asymmetric" },
        l.block_size
    );
    let mut inputs = vec![tensor_decision(&edit.graph, x, "float"), TensorDecision { name: name.clone(), role: "weight", params: None }];
    if let Some(BiasInput::Value(c, _)) = &bias {
        inputs.push(tensor_decision(&edit.graph, *c, "bias"));
    }
    log.quantized(n, how, inputs);
    let base = base_name(&edit.graph, n);
    let b = edit.initializer(&format!("{name}_Q4"), q.packed);
    let scales: Vec<f32> = q.scales.iter().map(|&s| s * alpha).collect();
    let s = edit.initializer(&format!("{name}_scales"), Tensor::from_vec(&[l.n, l.k_blocks()], scales)?);
    let zp = q.zero_points.map(|z| edit.initializer(&format!("{name}_zero_points"), z));
    let out = if bias.is_some() { edit.value(&format!("{base}_product"), DType::F32) } else { y };
    let attrs = vec![
        ("K", Attr::Int(l.k as i64)),
        ("N", Attr::Int(l.n as i64)),
        ("bits", Attr::Int(4)),
        ("block_size", Attr::Int(l.block_size as i64)),
    ];
    nodes.push(node("MatMulNBits", "com.microsoft", format!("{base}_MatMulNBits"), &[Some(x), Some(b), Some(s), zp], &[out], attrs));
    if let Some(bias) = bias {
        emit_bias(edit, &base, out, bias, y, nodes);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(k: usize, n: usize) -> Tensor {
        Tensor::from_vec(&[k, n], (0..k * n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect()).unwrap()
    }

    #[test]
    fn int4_blocks_round_trip_within_half_a_step() {
        let (k, n) = (40, 3); // blocks of 16: 16 + 16 + 8 (padded)
        let w = weight(k, n);
        let wv = w.to_f32_vec();
        for symmetric in [false, true] {
            let q = quantize_int4("w", &w, 16, symmetric).unwrap();
            assert_eq!(q.packed.shape(), &[3, 3, 8]);
            assert_eq!(q.zero_points.is_none(), symmetric);
            let bytes: Vec<u8> = q.packed.to_le_bytes();
            let zp_bytes = q.zero_points.as_ref().map(|z| z.to_le_bytes());
            let zp = zp_bytes.as_deref().map_or(ZeroPoints::Default, ZeroPoints::Packed);
            let d = dequantize_weight(&q.layout, &bytes, &q.scales, &zp);
            for r in 0..k {
                for c in 0..n {
                    let s = q.scales[c * 3 + r / 16].abs();
                    let err = (d[r * n + c] - wv[r * n + c]).abs();
                    // Symmetric blocks clip the side opposite the extreme at 7 steps: up to one step.
                    let bound = if symmetric { s } else { s / 2.0 };
                    assert!(err <= bound * 1.0001, "sym {symmetric} ({r}, {c}): {err} > {bound}");
                }
            }
        }
        // Symmetric: the block's extreme is exact (q = 0).
        let w = Tensor::from_vec(&[16, 1], (0..16).map(|i| if i == 5 { 2.0 } else { i as f32 / 16.0 }).collect()).unwrap();
        let q = quantize_int4("w", &w, 16, true).unwrap();
        assert_eq!(q.scales, vec![-0.25]);
        assert_eq!(q.packed.to_le_bytes()[2] & 0xf0, 0); // element 5: high nibble of byte 2
        // All-zero blocks: scale 1, zero exact.
        let q = quantize_int4("w", &Tensor::zeros(DType::F32, &[16, 2]).unwrap(), 16, false).unwrap();
        assert_eq!(q.scales, vec![1.0, 1.0]);
        // NaN weights are an error naming the tensor.
        let bad = Tensor::from_vec(&[16, 1], vec![f32::NAN; 16]).unwrap();
        assert!(quantize_int4("fc.w", &bad, 16, false).unwrap_err().to_string().contains("'fc.w'"));
    }
}
