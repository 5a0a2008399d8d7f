//! Opset upgrade: brings a model's default-domain ops from opset 7..12 up to a target opset
//! (13 at most), rewriting every op whose definition changed on the way so that the graph means
//! exactly what it meant (the ONNX operator changelog; onnx's own `version_converter` adapters
//! for the Resize details). The quantizer calls it when its export needs a newer opset (13 for
//! per-channel DequantizeLinear), so the user never has to convert a model first.
//!
//! | op | changed at | rewrite |
//! |---|---|---|
//! | BatchNormalization | 9 | `spatial` attribute dropped (only `spatial=1`, the default, can be) |
//! | Upsample | 9, 10 (deprecated) | `scales` attribute to input (9); Resize (10), with `asymmetric` coordinates and `floor` nearest rounding (11+) |
//! | Resize | 11 | `(X, scales)` to `(X, roi, scales)`, `asymmetric`, nearest rounds `floor` (Resize-10's rule) |
//! | Slice | 10 | `starts`/`ends`/`axes` attributes to inputs |
//! | TopK | 10 | `k` attribute to input |
//! | Clip | 11 | `min`/`max` attributes to inputs (absent stays absent: the same bounds) |
//! | Pad | 11 | `pads`/`value` attributes to inputs |
//! | Scatter | 11 (deprecated) | ScatterElements (same semantics) |
//! | Dropout | 12 | `ratio` attribute to input (inference is the identity either way; a mask that is read is refused: onnxruntime fills it with false before 12, true from 12) |
//! | Softmax, LogSoftmax, Hardmax | 13 | before 13 the input is coerced to 2-D at `axis`: unless `axis` is the last one, `Flatten(axis) → op(axis=1) → Reshape(Shape(x))` |
//! | Squeeze, Unsqueeze, ReduceSum | 13 | `axes` attribute to input |
//! | Split | 13 | `split` attribute to input |
//!
//! Every other op of opsets 7..13 only gained types or optional attributes whose defaults keep
//! the old meaning. Upsample and Resize-10 round a nearest-neighbour coordinate down when
//! upsampling and up when downsampling: the rewrite picks `floor` or `ceil` from the constant
//! scales (all at least 1, or all at most 1), and `floor` when the scales are computed at run
//! time (Upsample is an upsampling). Nodes with subgraphs (If, Loop, Scan) are refused: their
//! bodies would need the same conversion.
use crate::error::{Error, Result};
use crate::graph::{normalize_domain, Attr, Dim, Graph, Model, Node, OpsetId, ValueId};
use crate::tensor::{DType, Tensor};
use half::f16;
use std::collections::HashSet;
use std::sync::Arc;

/// Oldest default-domain opset this pass converts from.
pub const UPGRADE_FROM: i64 = 7;
/// Newest opset it converts to.
pub const UPGRADE_TO: i64 = 13;

/// Raises the default-domain opset of `model` to `target`, rewriting the ops whose definition
/// changed (see the module docs). Returns the number of nodes rewritten. A model already at
/// `target` or later is left alone.
///
/// Errors ([`Error::InvalidModel`], naming the node): an opset older than 7, a target above 13,
/// a node with a subgraph, and the few forms no later opset can express (BatchNormalization with
/// `spatial=0`, a Dropout before 12 whose mask is read, Upsample scales on both sides of 1).
pub fn upgrade_opset(model: &mut Model, target: i64) -> Result<usize> {
    let have = model.opset();
    if have >= target {
        return Ok(0);
    }
    if target > UPGRADE_TO {
        return Err(Error::model(format!("opset upgrade to {target} is not supported (at most {UPGRADE_TO})")));
    }
    if have < UPGRADE_FROM {
        return Err(Error::model(format!(
            "the model imports default-domain opset {have}; webptq converts models from opset {UPGRADE_FROM} on"
        )));
    }
    let nodes = std::mem::take(&mut model.graph.nodes);
    let read: HashSet<ValueId> =
        nodes.iter().flat_map(|n| n.inputs.iter().flatten().copied()).chain(model.graph.outputs.iter().copied()).collect();
    let mut up = Upgrade { g: &mut model.graph, have, target, read, out: Vec::with_capacity(nodes.len()), rewritten: 0 };
    for node in nodes {
        if !normalize_domain(&node.domain).is_empty() {
            up.out.push(node);
            continue;
        }
        up.node(node)?;
    }
    let rewritten = up.rewritten;
    model.graph.nodes = up.out;
    match model.opset_imports.iter_mut().find(|o| normalize_domain(&o.domain).is_empty()) {
        Some(o) => o.version = target,
        None => model.opset_imports.push(OpsetId { domain: String::new(), version: target }),
    }
    // The IR version each opset needs (onnx/helper.py VERSION_TABLE).
    let ir = match target {
        ..=8 => 3,
        9 => 4,
        10 => 5,
        11 => 6,
        _ => 7,
    };
    model.ir_version = model.ir_version.max(ir);
    Ok(rewritten)
}

struct Upgrade<'a> {
    g: &'a mut Graph,
    have: i64,
    target: i64,
    /// Values some node or a graph output reads.
    read: HashSet<ValueId>,
    out: Vec<Node>,
    rewritten: usize,
}

/// Upsample and Resize-10's nearest rounding, for Resize-11+.
fn nearest_mode(scales: Option<&[f32]>, n: &Node) -> Result<&'static str> {
    let Some(s) = scales else { return Ok("floor") };
    if s.iter().all(|&x| x >= 1.0) {
        Ok("floor")
    } else if s.iter().all(|&x| x <= 1.0) {
        Ok("ceil")
    } else {
        Err(Error::model(format!(
            "node '{}' ({}): nearest scales {s:?} both up- and downsample, which no Resize-11+ rounding mode reproduces",
            n.label(),
            n.op_type
        )))
    }
}

impl Upgrade<'_> {
    /// Whether the step to `version` is crossed.
    fn crosses(&self, version: i64) -> bool {
        self.have < version && self.target >= version
    }

    fn bad(&self, n: &Node, why: &str) -> Error {
        Error::model(format!("opset upgrade {} → {}: node '{}' ({}): {why}", self.have, self.target, n.label(), n.op_type))
    }

    fn init(&mut self, name: &str, t: Tensor) -> ValueId {
        let shape = t.shape().iter().map(|&d| Dim::Fixed(d)).collect();
        let id = self.g.add_value(name, Some(t.dtype()), Some(shape));
        self.g.initializers.insert(id, Arc::new(t));
        id
    }

    fn ints(&mut self, n: &Node, what: &str, v: &[i64]) -> Result<ValueId> {
        let t = Tensor::from_vec(&[v.len()], v.to_vec())?;
        Ok(self.init(&format!("{}_{what}", n.label()), t))
    }

    /// A scalar of the element type of `like` (float32 when the graph does not say).
    fn scalar_like(&mut self, n: &Node, what: &str, like: Option<ValueId>, v: f32) -> Result<ValueId> {
        let dtype = like.and_then(|id| self.g.initializers.get(&id).map(|t| t.dtype()).or(self.g.value(id).dtype));
        let t = match dtype.unwrap_or(DType::F32) {
            DType::F32 => Tensor::scalar(v),
            DType::F64 => Tensor::scalar(v as f64),
            DType::F16 => Tensor::scalar(f16::from_f32(v)),
            other => return Err(self.bad(n, &format!("a {other} input has no float bound"))),
        };
        Ok(self.init(&format!("{}_{what}", n.label()), t))
    }

    /// The constant float values behind `v`: an initializer or a Constant node already seen.
    fn const_floats(&self, v: ValueId) -> Option<Vec<f32>> {
        if let Some(t) = self.g.constant(v) {
            return Some(t.to_f32_vec());
        }
        self.out
            .iter()
            .find(|p| p.op_type == "Constant" && p.outputs.first() == Some(&Some(v)))
            .and_then(|p| p.attrs.tensor("value").ok().flatten().map(|t| t.to_f32_vec()))
    }

    fn value(&mut self, n: &Node, what: &str, dtype: Option<DType>) -> ValueId {
        self.g.add_value(&format!("{}_{what}", n.label()), dtype, None)
    }

    /// `attr` (a list of ints) moved to input `index` (inputs in between stay absent).
    fn ints_to_input(&mut self, n: &mut Node, attr: &str, index: usize) -> Result<bool> {
        let Some(v) = n.attrs.ints(attr)?.map(|v| v.to_vec()) else { return Ok(false) };
        n.attrs.0.remove(attr);
        let id = self.ints(n, attr, &v)?;
        set_input(n, index, Some(id));
        Ok(true)
    }

    fn node(&mut self, mut n: Node) -> Result<()> {
        if n.attrs.0.values().any(|a| matches!(a, Attr::Raw(p) if p.g.is_some() || !p.graphs.is_empty())) {
            return Err(self.bad(&n, "nodes with subgraphs are not converted"));
        }
        let before = n.clone();
        match n.op_type.as_str() {
            "BatchNormalization" if self.crosses(9) => {
                if n.attrs.int_or("spatial", 1)? != 1 {
                    return Err(self.bad(&n, "spatial=0 has no equivalent from opset 9"));
                }
                n.attrs.0.remove("spatial");
            }
            "Upsample" if self.crosses(9) || self.crosses(10) => return self.upsample(n),
            "Resize" if self.crosses(11) => {
                let scales = n.input(1);
                let consts = scales.and_then(|s| self.const_floats(s));
                self.to_resize11(&mut n, scales, consts)?;
            }
            "Slice" if self.crosses(10) => {
                let starts = n.attrs.ints("starts")?.map(|v| v.to_vec());
                let ends = n.attrs.ints("ends")?.map(|v| v.to_vec());
                let (Some(starts), Some(ends)) = (starts, ends) else {
                    return Err(self.bad(&n, "needs the 'starts' and 'ends' attributes"));
                };
                n.attrs.0.remove("starts");
                n.attrs.0.remove("ends");
                let s = self.ints(&n, "starts", &starts)?;
                let e = self.ints(&n, "ends", &ends)?;
                set_input(&mut n, 1, Some(s));
                set_input(&mut n, 2, Some(e));
                self.ints_to_input(&mut n, "axes", 3)?;
            }
            "TopK" if self.crosses(10) => {
                let Some(k) = n.attrs.int("k")? else { return Err(self.bad(&n, "needs the 'k' attribute")) };
                n.attrs.0.remove("k");
                let id = self.ints(&n, "k", &[k])?;
                set_input(&mut n, 1, Some(id));
            }
            "Clip" if self.crosses(11) => {
                let x = n.input(0);
                for (attr, index) in [("min", 1), ("max", 2)] {
                    if let Some(b) = n.attrs.float(attr)? {
                        n.attrs.0.remove(attr);
                        let id = self.scalar_like(&n, attr, x, b)?;
                        set_input(&mut n, index, Some(id));
                    }
                }
            }
            "Pad" if self.crosses(11) => {
                let Some(pads) = n.attrs.ints("pads")?.map(|v| v.to_vec()) else {
                    return Err(self.bad(&n, "needs the 'pads' attribute"));
                };
                n.attrs.0.remove("pads");
                let p = self.ints(&n, "pads", &pads)?;
                set_input(&mut n, 1, Some(p));
                if let Some(value) = n.attrs.float("value")? {
                    n.attrs.0.remove("value");
                    if n.attrs.string_or("mode", "constant")? == "constant" && value != 0.0 {
                        let x = n.input(0);
                        let id = self.scalar_like(&n, "value", x, value)?;
                        set_input(&mut n, 2, Some(id));
                    }
                }
            }
            "Scatter" if self.crosses(11) => n.op_type = "ScatterElements".into(),
            "Dropout" if self.crosses(12) => {
                if n.output(1).is_some_and(|m| self.read.contains(&m)) {
                    return Err(self.bad(
                        &n,
                        "its mask is read, and an inference mask changed meaning at opset 12 (onnxruntime writes false before, true from 12)",
                    ));
                }
                n.attrs.0.remove("is_test");
                if let Some(r) = n.attrs.float("ratio")? {
                    n.attrs.0.remove("ratio");
                    let id = self.init(&format!("{}_ratio", n.label()), Tensor::scalar(r));
                    set_input(&mut n, 1, Some(id));
                }
            }
            "Softmax" | "LogSoftmax" | "Hardmax" if self.crosses(13) => return self.softmax(n),
            "Squeeze" | "Unsqueeze" | "ReduceSum" if self.crosses(13) => {
                self.ints_to_input(&mut n, "axes", 1)?;
            }
            "Split" if self.crosses(13) => {
                self.ints_to_input(&mut n, "split", 1)?;
            }
            _ => {}
        }
        if n != before {
            self.rewritten += 1;
        }
        self.out.push(n);
        Ok(())
    }

    /// Upsample: scales to an input (opset 9), then Resize (10 or 11+).
    fn upsample(&mut self, mut n: Node) -> Result<()> {
        let (scales, consts) = if self.have < 9 {
            let Some(s) = n.attrs.floats("scales")?.map(|v| v.to_vec()) else {
                return Err(self.bad(&n, "needs the 'scales' attribute before opset 9"));
            };
            n.attrs.0.remove("scales");
            let t = Tensor::from_vec(&[s.len()], s.clone())?;
            let id = self.init(&format!("{}_scales", n.label()), t);
            (Some(id), Some(s))
        } else {
            let s = n.input(1);
            (s, s.and_then(|s| self.const_floats(s)))
        };
        n.inputs.truncate(1);
        set_input(&mut n, 1, scales);
        if self.target >= 10 {
            n.op_type = "Resize".into();
            // Upsample-7 spells linear "linear" or "bilinear".
            if n.attrs.string("mode")? == Some("bilinear") {
                n.attrs.set("mode", Attr::String("linear".into()));
            }
            if self.target >= 11 {
                self.to_resize11(&mut n, scales, consts)?;
            }
        }
        self.rewritten += 1;
        self.out.push(n);
        Ok(())
    }

    /// Resize-10 `(X, scales)` to the Resize-11 form with the same coordinates and rounding.
    fn to_resize11(&mut self, n: &mut Node, scales: Option<ValueId>, consts: Option<Vec<f32>>) -> Result<()> {
        let roi = self.init(&format!("{}_roi", n.label()), Tensor::from_vec::<f32>(&[0], vec![])?);
        n.inputs = vec![n.input(0), Some(roi), scales];
        n.attrs.set("coordinate_transformation_mode", Attr::String("asymmetric".into()));
        if n.attrs.string_or("mode", "nearest")? == "nearest" {
            let mode = nearest_mode(consts.as_deref(), n)?;
            n.attrs.set("nearest_mode", Attr::String(mode.into()));
        }
        Ok(())
    }

    /// Softmax-family before 13: the input coerced to 2-D at `axis`. The same op at 13 on the
    /// last axis, directly when `axis` is the last, else around a Flatten and a Reshape back.
    fn softmax(&mut self, mut n: Node) -> Result<()> {
        let axis = n.attrs.int_or("axis", 1)?;
        let Some(x) = n.input(0) else { return Err(self.bad(&n, "has no input")) };
        let rank = self.g.value(x).shape.as_ref().map(|s| s.len() as i64);
        self.rewritten += 1;
        if let Some(r) = rank {
            if axis == r - 1 || axis == -1 {
                n.attrs.set("axis", Attr::Int(-1));
                self.out.push(n);
                return Ok(());
            }
        }
        let dtype = self.g.value(x).dtype;
        let y = n.output(0);
        let flat = self.value(&n, "flat", dtype);
        let soft = self.value(&n, "2d", dtype);
        let shape = self.value(&n, "shape", Some(DType::I64));
        let mut attrs = crate::graph::Attrs::default();
        attrs.set("axis", Attr::Int(axis));
        let label = n.label();
        let mk = |op: &str, suffix: &str, inputs: Vec<Option<ValueId>>, outputs: Vec<Option<ValueId>>, attrs| Node {
            name: format!("{label}_{suffix}"),
            op_type: op.into(),
            domain: String::new(),
            inputs,
            outputs,
            attrs,
        };
        self.out.push(mk("Shape", "shape", vec![Some(x)], vec![Some(shape)], Default::default()));
        self.out.push(mk("Flatten", "flatten", vec![Some(x)], vec![Some(flat)], attrs));
        n.inputs[0] = Some(flat);
        n.outputs[0] = Some(soft);
        n.attrs.set("axis", Attr::Int(1));
        self.out.push(n);
        self.out.push(mk("Reshape", "reshape", vec![Some(soft), Some(shape)], vec![y], Default::default()));
        Ok(())
    }
}

fn set_input(n: &mut Node, index: usize, v: Option<ValueId>) {
    if n.inputs.len() <= index {
        n.inputs.resize(index + 1, None);
    }
    n.inputs[index] = v;
}
