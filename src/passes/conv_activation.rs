//! Runtime-only: a float32 Conv whose output only a Relu or a constant Clip reads becomes one
//! com.microsoft FusedConv with that activation (the clamp runs in the GEMM's epilogue instead of
//! another pass over the output). Exact: the fused clamp is ONNX Clip's rule
//! (`kernels::sgemm::clip`). The session applies it; the quantizer never does (its calibration
//! observes the Conv's own output, and files it writes keep standard ops).
use super::clip_bounds;
use crate::error::Result;
use crate::graph::{normalize_domain, Attr, Model, ValueId};
use crate::tensor::DType;
use std::collections::HashSet;

/// Fuses every such pair; returns how many.
pub fn fuse_conv_activations(model: &mut Model) -> Result<usize> {
    let opset = model.opset();
    let g = &mut model.graph;
    let consumers = g.consumers();
    let outputs: HashSet<ValueId> = g.outputs.iter().copied().collect();
    let mut fused: Vec<(usize, usize, f32, f32)> = Vec::new();
    for (i, n) in g.nodes.iter().enumerate() {
        if n.op_type != "Conv" || !normalize_domain(&n.domain).is_empty() || n.outputs.len() != 1 {
            continue;
        }
        // float32 weights: the clamp then runs in the Conv's own type.
        if n.input(1).and_then(|w| g.constant(w)).is_none_or(|w| w.dtype() != DType::F32) {
            continue;
        }
        let Some(y) = n.output(0) else { continue };
        if outputs.contains(&y) {
            continue;
        }
        let Some([a]) = consumers.get(&y).map(|c| c.as_slice()) else { continue };
        let act = &g.nodes[*a];
        if !normalize_domain(&act.domain).is_empty() || act.input(0) != Some(y) || act.outputs.len() != 1 {
            continue;
        }
        if let Some((lo, hi)) = clip_bounds(g, act, opset) {
            fused.push((i, *a, lo, hi));
        }
    }
    let mut removed = HashSet::new();
    for &(conv, act, lo, hi) in &fused {
        let out = g.nodes[act].outputs.clone();
        let n = &mut g.nodes[conv];
        n.op_type = "FusedConv".into();
        n.domain = "com.microsoft".into();
        n.attrs.set("activation", Attr::String("Clip".into()));
        n.attrs.set("activation_params", Attr::Floats(vec![lo, hi]));
        n.outputs = out;
        removed.insert(act);
    }
    let mut k = 0;
    g.nodes.retain(|_| {
        k += 1;
        !removed.contains(&(k - 1))
    });
    super::remove_dead_nodes(g);
    Ok(fused.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Graph, Node, OpsetId};
    use crate::runtime::{Session, SessionOptions};
    use crate::tensor::Tensor;
    use std::sync::Arc;

    /// x → Conv(3x3, pad 1) → act → y, with `extra` also reading the Conv's output.
    fn model(act: &str, bounds: Option<(f32, f32)>, conv_is_output: bool) -> Model {
        let mut g = Graph::default();
        let x = g.add_value("x", Some(DType::F32), None);
        let w = g.add_value("w", Some(DType::F32), None);
        let c = g.add_value("c", Some(DType::F32), None);
        let y = g.add_value("y", Some(DType::F32), None);
        let wv: Vec<f32> = (0..2 * 2 * 9).map(|i| ((i * 37 % 19) as f32 - 9.0) / 5.0).collect();
        g.initializers.insert(w, Arc::new(Tensor::from_vec(&[2, 2, 3, 3], wv).unwrap()));
        let mut conv = Node { name: "conv".into(), op_type: "Conv".into(), domain: String::new(), inputs: vec![Some(x), Some(w)], outputs: vec![Some(c)], attrs: Default::default() };
        conv.attrs.set("pads", Attr::Ints(vec![1, 1, 1, 1]));
        let mut inputs = vec![Some(c)];
        if let Some((lo, hi)) = bounds {
            let (l, h) = (g.add_value("lo", Some(DType::F32), None), g.add_value("hi", Some(DType::F32), None));
            g.initializers.insert(l, Arc::new(Tensor::scalar(lo)));
            g.initializers.insert(h, Arc::new(Tensor::scalar(hi)));
            inputs.extend([Some(l), Some(h)]);
        }
        let a = Node { name: "act".into(), op_type: act.into(), domain: String::new(), inputs, outputs: vec![Some(y)], attrs: Default::default() };
        g.nodes = vec![conv, a];
        g.inputs = vec![x];
        g.outputs = if conv_is_output { vec![y, c] } else { vec![y] };
        Model { ir_version: 8, opset_imports: vec![OpsetId { domain: String::new(), version: 13 }], producer_name: String::new(), producer_version: String::new(), doc_string: String::new(), metadata: vec![], graph: g }
    }

    #[test]
    fn fused_conv_equals_conv_then_activation_bit_for_bit() {
        // Values around the bounds, NaN and -0.0 among the inputs.
        let mut xv: Vec<f32> = (0..2 * 6 * 6).map(|i| ((i * 53 % 29) as f32 - 14.0) / 3.0).collect();
        xv[7] = f32::NAN;
        xv[20] = -0.0;
        let x = Tensor::from_vec(&[1, 2, 6, 6], xv).unwrap();
        for (act, bounds, conv_is_output, fuses) in
            [("Relu", None, false, true), ("Clip", Some((-1.0, 6.0)), false, true), ("Clip", Some((0.5, 0.75)), false, true), ("Relu", None, true, false), ("Sigmoid", None, false, false)]
        {
            let m = model(act, bounds, conv_is_output);
            let mut fused_model = m.clone();
            assert_eq!(fuse_conv_activations(&mut fused_model).unwrap(), usize::from(fuses), "{act}");
            let opts = SessionOptions { optimize: false, fuse_qdq: false, fuse_activations: false };
            let run = |m: Model| Session::new(m, &opts).unwrap().run(vec![("x".into(), x.clone())]).unwrap();
            let bits = |r: Vec<(String, Tensor)>| r.iter().map(|(_, t)| t.to_f32_vec().iter().map(|v| v.to_bits()).collect::<Vec<_>>()).collect::<Vec<_>>();
            assert_eq!(bits(run(fused_model)), bits(run(m)), "{act} {bounds:?}");
        }
    }
}
