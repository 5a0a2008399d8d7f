//! [`Model`] -> bytes: the inverse of `load`, with all tensors written as `raw_data`.
use super::proto::{self, attribute_proto::AttributeType};
use super::tensor_proto::to_proto;
use crate::graph::{Attr, Dim, Graph, Model, ValueId, OUTER_SCOPE};
use prost::Message;

pub fn save(model: &Model) -> Vec<u8> {
    to_model_proto(model).encode_to_vec()
}

pub fn to_model_proto(model: &Model) -> proto::ModelProto {
    proto::ModelProto {
        ir_version: Some(model.ir_version),
        opset_import: model
            .opset_imports
            .iter()
            .map(|o| proto::OperatorSetIdProto { domain: Some(o.domain.clone()), version: Some(o.version) })
            .collect(),
        producer_name: Some(model.producer_name.clone()),
        producer_version: Some(model.producer_version.clone()),
        doc_string: (!model.doc_string.is_empty()).then(|| model.doc_string.clone()),
        metadata_props: model
            .metadata
            .iter()
            .map(|(k, v)| proto::StringStringEntryProto { key: Some(k.clone()), value: Some(v.clone()) })
            .collect(),
        graph: Some(graph_to_proto(&model.graph)),
        ..Default::default()
    }
}

fn value_info(g: &Graph, id: ValueId) -> proto::ValueInfoProto {
    use proto::tensor_shape_proto::{dimension::Value as D, Dimension};
    let v = g.value(id);
    let shape = v.shape.as_ref().map(|dims| proto::TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dimension {
                value: match d {
                    Dim::Fixed(n) => Some(D::DimValue(*n as i64)),
                    Dim::Symbolic(s) => Some(D::DimParam(s.clone())),
                    Dim::Unknown => None,
                },
                denotation: None,
            })
            .collect(),
    });
    proto::ValueInfoProto {
        name: Some(v.name.clone()),
        r#type: Some(proto::TypeProto {
            value: Some(proto::type_proto::Value::TensorType(proto::type_proto::Tensor {
                elem_type: Some(v.dtype.map(|d| d.onnx_code()).unwrap_or(0)),
                shape,
            })),
            denotation: None,
        }),
        ..Default::default()
    }
}

fn graph_to_proto(g: &Graph) -> proto::GraphProto {
    let name = |id: &Option<ValueId>| id.map(|i| g.value_name(i).to_string()).unwrap_or_default();
    let nodes = g
        .nodes
        .iter()
        .map(|n| {
            let declared = n.declared_inputs();
            let mut attribute: Vec<proto::AttributeProto> =
                n.attrs.0.iter().filter(|(k, _)| k.as_str() != OUTER_SCOPE).map(|(k, a)| attr_to_proto(k, a)).collect();
            // The outer-scope values the subgraphs read are extra inputs here; a pass may have
            // rebound one to another value (a QDQ pair's output, say): the bodies read that name.
            if let Some(Attr::Strings(scoped)) = n.attrs.get(OUTER_SCOPE) {
                for (read, bound) in scoped.iter().zip(&n.inputs[declared..]) {
                    let now = name(bound);
                    if !now.is_empty() && &now != read {
                        for a in attribute.iter_mut() {
                            a.g.iter_mut().chain(a.graphs.iter_mut()).for_each(|g| rename_free(g, read, &now));
                        }
                    }
                }
            }
            proto::NodeProto {
                name: Some(n.name.clone()),
                op_type: Some(n.op_type.clone()),
                domain: (!n.domain.is_empty()).then(|| n.domain.clone()),
                input: n.inputs[..declared].iter().map(name).collect(),
                output: n.outputs.iter().map(name).collect(),
                attribute,
                ..Default::default()
            }
        })
        .collect();
    let mut inputs: Vec<_> = g.inputs.iter().map(|&i| value_info(g, i)).collect();
    inputs.extend(g.overridable.iter().map(|&i| value_info(g, i)));
    let produced_or_io: std::collections::HashSet<ValueId> =
        g.inputs.iter().chain(g.outputs.iter()).chain(g.initializers.keys()).copied().collect();
    let value_infos = g
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().flatten().copied())
        .filter(|id| !produced_or_io.contains(id) && g.value(*id).dtype.is_some())
        .map(|id| value_info(g, id))
        .collect();
    proto::GraphProto {
        name: Some(g.name.clone()),
        node: nodes,
        initializer: g.initializers.iter().map(|(&id, t)| to_proto(t, g.value_name(id))).collect(),
        input: inputs,
        output: g.outputs.iter().map(|&o| value_info(g, o)).collect(),
        value_info: value_infos,
        ..Default::default()
    }
}

/// Renames the reads of the outer-scope value `from` to `to` in a subgraph and its own subgraphs,
/// down to where a graph defines `from` itself (shadowing it).
fn rename_free(g: &mut proto::GraphProto, from: &str, to: &str) {
    let defines = g.initializer.iter().any(|t| t.name.as_deref() == Some(from))
        || g.input.iter().any(|v| v.name.as_deref() == Some(from))
        || g.node.iter().any(|n| n.output.iter().any(|o| o == from));
    if defines {
        return;
    }
    for n in &mut g.node {
        for i in n.input.iter_mut().filter(|i| i.as_str() == from) {
            *i = to.to_string();
        }
        for a in &mut n.attribute {
            a.g.iter_mut().chain(a.graphs.iter_mut()).for_each(|sub| rename_free(sub, from, to));
        }
    }
}

fn attr_to_proto(name: &str, a: &Attr) -> proto::AttributeProto {
    let mut p = proto::AttributeProto { name: Some(name.to_string()), ..Default::default() };
    let ty = match a {
        Attr::Float(v) => {
            p.f = Some(*v);
            AttributeType::Float
        }
        Attr::Int(v) => {
            p.i = Some(*v);
            AttributeType::Int
        }
        Attr::String(v) => {
            p.s = Some(v.as_bytes().to_vec());
            AttributeType::String
        }
        Attr::Tensor(t) => {
            p.t = Some(to_proto(t, ""));
            AttributeType::Tensor
        }
        Attr::Floats(v) => {
            p.floats = v.clone();
            AttributeType::Floats
        }
        Attr::Ints(v) => {
            p.ints = v.clone();
            AttributeType::Ints
        }
        Attr::Strings(v) => {
            p.strings = v.iter().map(|s| s.as_bytes().to_vec()).collect();
            AttributeType::Strings
        }
        Attr::Raw(raw) => {
            let mut raw = (**raw).clone();
            raw.name = Some(name.to_string());
            return raw;
        }
    };
    p.r#type = Some(ty as i32);
    p
}
