//! Shape inference for concrete input shapes: runs the graph once on zero-filled inputs of those
//! shapes and records every value's dtype and shape. Exact by construction (it is the engine's
//! own computation), at the cost of one run.
use crate::error::{Error, Result};
use crate::graph::{Dim, Model};
use crate::ops::Registry;
use crate::ops::Plan;
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

pub fn infer_shapes(model: &mut Model, input_shapes: &HashMap<String, Vec<usize>>) -> Result<()> {
    let g = &model.graph;
    let mut feeds = Vec::new();
    for &id in &g.inputs {
        let v = g.value(id);
        let shape = input_shapes.get(&v.name).cloned().or_else(|| {
            v.shape.as_ref().and_then(|d| d.iter().map(|x| if let Dim::Fixed(n) = x { Some(*n) } else { None }).collect())
        });
        let shape = shape.ok_or_else(|| Error::InvalidFeed {
            name: v.name.clone(),
            detail: "shape inference needs a concrete shape for this input".into(),
        })?;
        feeds.push((id, Arc::new(Tensor::zeros(v.dtype.unwrap_or(DType::F32), &shape)?)));
    }
    let plan = Plan::new(g, Registry::standard(), &|d| model.opset_of(d))?;
    let mut seen: Vec<(usize, DType, Vec<usize>)> = Vec::new();
    let mut record = |id: usize, t: &Tensor| {
        seen.push((id, t.dtype(), t.shape().to_vec()));
        Ok(())
    };
    plan.run(feeds, Some(&mut record))?;
    for (id, dtype, shape) in seen {
        let v = &mut model.graph.values[id];
        v.dtype = Some(dtype);
        v.shape = Some(shape.into_iter().map(Dim::Fixed).collect());
    }
    Ok(())
}
