//! Folds an inference-mode BatchNormalization into the Conv or Gemm before it:
//! `W' = W * s`, `B' = (B - mean) * s + beta` with `s = gamma / sqrt(var + eps)` per output channel.
use crate::error::Result;
use crate::graph::{Graph, Model, Node, ValueId};
use crate::tensor::Tensor;
use ndarray::{ArrayD, Axis, IxDyn};
use std::sync::Arc;

pub fn fold_batchnorm(model: &mut Model) -> Result<usize> {
    let mut folded = 0;
    loop {
        let g = &model.graph;
        let consumers = g.consumers();
        let producers = g.producers();
        let candidate = g.nodes.iter().enumerate().find_map(|(bi, bn)| {
            if bn.op_type != "BatchNormalization" || !bn.domain.is_empty() || bn.outputs.iter().skip(1).any(|o| o.is_some()) {
                return None;
            }
            let x = bn.input(0)?;
            let pi = *producers.get(&x)?;
            let prev = &g.nodes[pi];
            let only_reader = consumers.get(&x).is_some_and(|c| c.len() == 1) && !g.outputs.contains(&x);
            let kind = match prev.op_type.as_str() {
                "Conv" if prev.domain.is_empty() => Kind::Conv,
                "Gemm" if prev.domain.is_empty() => Kind::Gemm,
                _ => return None,
            };
            only_reader.then_some((pi, bi, kind))
        });
        let Some((pi, bi, kind)) = candidate else { break };
        if !try_fold(&mut model.graph, pi, bi, kind)? {
            break;
        }
        folded += 1;
    }
    Ok(folded)
}

#[derive(Clone, Copy)]
enum Kind {
    Conv,
    Gemm,
}

fn constant_f32(g: &Graph, id: Option<ValueId>) -> Option<ArrayD<f32>> {
    let id = id?;
    if g.overridable.contains(&id) {
        return None;
    }
    g.initializers.get(&id)?.array::<f32>().ok().cloned()
}

fn try_fold(g: &mut Graph, pi: usize, bi: usize, kind: Kind) -> Result<bool> {
    let bn: &Node = &g.nodes[bi];
    let prev: &Node = &g.nodes[pi];
    let eps = bn.attrs.float_or("epsilon", 1e-5)?;
    let (Some(gamma), Some(beta), Some(mean), Some(var)) = (
        constant_f32(g, bn.input(1)),
        constant_f32(g, bn.input(2)),
        constant_f32(g, bn.input(3)),
        constant_f32(g, bn.input(4)),
    ) else {
        return Ok(false);
    };
    let Some(w) = constant_f32(g, prev.input(1)) else { return Ok(false) };
    let (out_axis, channels) = match kind {
        Kind::Conv => (0, w.shape()[0]),
        Kind::Gemm => {
            let trans_b = prev.attrs.int_or("transB", 0)? != 0;
            if w.ndim() != 2 || prev.attrs.float_or("alpha", 1.0)? != 1.0 || prev.attrs.float_or("beta", 1.0)? != 1.0 {
                return Ok(false);
            }
            if trans_b {
                (0, w.shape()[0])
            } else {
                (1, w.shape()[1])
            }
        }
    };
    if [&gamma, &beta, &mean, &var].iter().any(|a| a.len() != channels) {
        return Ok(false);
    }
    let bias = match prev.input(2) {
        Some(_) => match constant_f32(g, prev.input(2)) {
            Some(b) if b.len() == channels => b.into_raw_vec_and_offset().0,
            _ => return Ok(false),
        },
        None => vec![0.0; channels],
    };
    let scale: Vec<f32> = (0..channels).map(|c| gamma[[c]] / (var[[c]] + eps).sqrt()).collect();
    let mut new_w = w.clone();
    for (c, mut lane) in new_w.axis_iter_mut(Axis(out_axis)).enumerate() {
        lane.mapv_inplace(|v| v * scale[c]);
    }
    let new_b: Vec<f32> = (0..channels).map(|c| (bias[c] - mean[[c]]) * scale[c] + beta[[c]]).collect();
    let (prev_name, bn_out) = (prev.label(), bn.output(0));
    let w_id = g.add_value(&format!("{prev_name}_W_bnfolded"), Some(crate::tensor::DType::F32), None);
    let b_id = g.add_value(&format!("{prev_name}_B_bnfolded"), Some(crate::tensor::DType::F32), None);
    g.initializers.insert(w_id, Arc::new(Tensor::F32(new_w)));
    g.initializers.insert(b_id, Arc::new(Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[channels]), new_b).map_err(|e| crate::Error::shape(e.to_string()))?)));
    let prev = &mut g.nodes[pi];
    prev.inputs.resize(3, None);
    prev.inputs[1] = Some(w_id);
    prev.inputs[2] = Some(b_id);
    prev.outputs[0] = bn_out;
    g.nodes.remove(bi);
    crate::passes::remove_dead_nodes(g);
    Ok(true)
}
