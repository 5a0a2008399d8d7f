//! Bytes -> [`Model`]: decodes the protobuf, converts tensors and attributes, resolves names
//! to value ids, and checks the graph (every read value is provided, no cycles).
use super::proto::{self, attribute_proto::AttributeType, ModelProto};
use super::tensor_proto::{from_proto, ExternalData};
use crate::error::{Error, Result};
use crate::graph::{Attr, Attrs, Dim, Graph, Model, Node, OpsetId, Value, ValueId, OUTER_SCOPE};
use crate::tensor::DType;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;

/// Parses an ONNX model. `external` holds the bytes of external data files by location name.
pub fn load(bytes: &[u8], external: &ExternalData) -> Result<Model> {
    from_model_proto(&decode(bytes)?, external)
}

fn decode(bytes: &[u8]) -> Result<ModelProto> {
    if bytes.is_empty() {
        return Err(Error::model("the file is empty"));
    }
    ModelProto::decode(bytes)
        .map_err(|e| Error::model(format!("not an ONNX model, or a truncated one (protobuf decoding failed: {e})")))
}

/// The external data files a model's tensors name (`location`), each once, in first-use order:
/// initializers and tensor attributes of the graph and of its subgraphs. A loader that can read
/// files next to the model uses it to supply them to [`load`].
pub fn external_locations(bytes: &[u8]) -> Result<Vec<String>> {
    fn tensor(t: &proto::TensorProto, out: &mut Vec<String>) {
        let location = t.external_data.iter().find(|kv| kv.key.as_deref() == Some("location"));
        if let Some(l) = location.and_then(|kv| kv.value.clone()) {
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    fn graph(g: &proto::GraphProto, out: &mut Vec<String>) {
        g.initializer.iter().for_each(|t| tensor(t, out));
        for a in g.node.iter().flat_map(|n| &n.attribute) {
            a.t.iter().chain(&a.tensors).for_each(|t| tensor(t, out));
            a.g.iter().chain(&a.graphs).for_each(|g| graph(g, out));
        }
    }
    let mut out = Vec::new();
    if let Some(g) = &decode(bytes)?.graph {
        graph(g, &mut out);
    }
    Ok(out)
}

pub fn from_model_proto(proto: &ModelProto, external: &ExternalData) -> Result<Model> {
    let graph_proto = proto
        .graph
        .as_ref()
        .ok_or_else(|| Error::model("the file holds no graph (is it an ONNX model?)"))?;
    if proto.ir_version.is_none() && proto.opset_import.is_empty() && graph_proto.node.is_empty() {
        return Err(Error::model("the file has no ir_version, opset or nodes (is it an ONNX model?)"));
    }
    let mut opset_imports: Vec<OpsetId> = proto
        .opset_import
        .iter()
        .map(|o| OpsetId { domain: o.domain.clone().unwrap_or_default(), version: o.version.unwrap_or(0) })
        .collect();
    if opset_imports.is_empty() {
        // IR version 2 models without opset_import mean opset 1.
        opset_imports.push(OpsetId { domain: String::new(), version: 1 });
    }
    let graph = graph_from_proto(graph_proto, external, &[])?;
    Ok(Model {
        ir_version: proto.ir_version.unwrap_or(0),
        opset_imports,
        producer_name: proto.producer_name.clone().unwrap_or_default(),
        producer_version: proto.producer_version.clone().unwrap_or_default(),
        doc_string: proto.doc_string.clone().unwrap_or_default(),
        metadata: proto
            .metadata_props
            .iter()
            .map(|kv| (kv.key.clone().unwrap_or_default(), kv.value.clone().unwrap_or_default()))
            .collect(),
        graph,
    })
}

struct Builder {
    graph: Graph,
    ids: HashMap<String, ValueId>,
}

impl Builder {
    fn id(&mut self, name: &str) -> ValueId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        self.graph.values.push(Value { name: name.to_string(), dtype: None, shape: None });
        let id = self.graph.values.len() - 1;
        self.ids.insert(name.to_string(), id);
        id
    }

    fn declare(&mut self, vi: &proto::ValueInfoProto, what: &str) -> Result<ValueId> {
        let name = vi.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::model(format!("a graph {what} has no name")));
        }
        let id = self.id(&name);
        if let Some(ty) = &vi.r#type {
            let (dtype, shape) = value_type(ty, &name, what)?;
            let v = &mut self.graph.values[id];
            v.dtype = v.dtype.or(dtype);
            if v.shape.is_none() {
                v.shape = shape;
            }
        }
        Ok(id)
    }
}

fn value_type(ty: &proto::TypeProto, name: &str, what: &str) -> Result<(Option<DType>, Option<Vec<Dim>>)> {
    use proto::type_proto::Value as T;
    match &ty.value {
        Some(T::TensorType(t)) => {
            let dtype = match t.elem_type {
                None | Some(0) => None,
                Some(code) => Some(DType::from_onnx_code(code).map_err(|e| {
                    Error::model(format!("graph {what} '{name}': {e}"))
                })?),
            };
            let shape = t.shape.as_ref().map(|s| {
                s.dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                            Dim::Fixed(*v as usize)
                        }
                        Some(proto::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => {
                            Dim::Symbolic(p.clone())
                        }
                        _ => Dim::Unknown,
                    })
                    .collect()
            });
            Ok((dtype, shape))
        }
        None => Ok((None, None)),
        Some(_) => Err(Error::model(format!(
            "graph {what} '{name}' is a sequence, map, optional or sparse value; only tensors are supported"
        ))),
    }
}

/// The names a graph reads from enclosing scopes (ONNX "Graph scoping": a subgraph may use any
/// value visible in the graph around it), each once, in first-use order: inputs of its nodes and
/// the free names of their own subgraphs, less what the graph itself defines (its inputs,
/// initializers and node outputs).
pub(crate) fn free_names(g: &proto::GraphProto) -> Vec<String> {
    let mut defined: std::collections::HashSet<&str> = std::collections::HashSet::new();
    defined.extend(g.initializer.iter().filter_map(|t| t.name.as_deref()));
    defined.extend(g.input.iter().filter_map(|v| v.name.as_deref()));
    defined.extend(g.node.iter().flat_map(|n| n.output.iter().map(|s| s.as_str())));
    let mut out: Vec<String> = Vec::new();
    for n in &g.node {
        let nested: Vec<String> =
            n.attribute.iter().flat_map(|a| a.g.iter().chain(&a.graphs)).flat_map(free_names).collect();
        for s in n.input.iter().cloned().chain(nested) {
            if !s.is_empty() && !defined.contains(s.as_str()) && !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// One graph: the model's, or a body of If / Loop / Scan with its own names. `outer` lists the
/// names a body reads from enclosing scopes ([`free_names`]): they become graph inputs after
/// the declared ones, fed (or bound as constants) by the op that runs the body.
///
/// A node with subgraphs that read such names gets them as extra inputs after its declared
/// ones, named in its [`OUTER_SCOPE`] attribute, so that ordering, liveness, constant folding and
/// the quantizer see the dependency like any other; `save` writes the node back without them.
pub(crate) fn graph_from_proto(g: &proto::GraphProto, external: &ExternalData, outer: &[String]) -> Result<Graph> {
    let mut b = Builder { graph: Graph { name: g.name.clone().unwrap_or_default(), ..Default::default() }, ids: HashMap::new() };
    if !g.sparse_initializer.is_empty() {
        return Err(Error::model("sparse initializers are not supported"));
    }
    for init in &g.initializer {
        let name = init.name.clone().unwrap_or_default();
        if name.is_empty() {
            return Err(Error::model("an initializer has no name"));
        }
        let tensor = from_proto(init, &format!("initializer '{name}'"), external)?;
        let id = b.id(&name);
        let v = &mut b.graph.values[id];
        v.dtype = Some(tensor.dtype());
        v.shape = Some(tensor.shape().iter().map(|&d| Dim::Fixed(d)).collect());
        b.graph.initializers.insert(id, Arc::new(tensor));
    }
    for vi in &g.input {
        let id = b.declare(vi, "input")?;
        if b.graph.initializers.contains_key(&id) {
            b.graph.overridable.push(id);
        } else if !b.graph.inputs.contains(&id) {
            b.graph.inputs.push(id);
        }
    }
    for name in outer {
        let id = b.id(name);
        if !b.graph.inputs.contains(&id) && !b.graph.initializers.contains_key(&id) {
            b.graph.inputs.push(id);
        }
    }
    for vi in &g.output {
        let id = b.declare(vi, "output")?;
        b.graph.outputs.push(id);
    }
    for vi in &g.value_info {
        // value_info is advisory: ignore entries we cannot represent.
        let _ = b.declare(vi, "value_info");
    }
    let mut produced: HashMap<ValueId, String> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        let op_type = n.op_type.clone().unwrap_or_default();
        let name = n.name.clone().unwrap_or_default();
        let label = if name.is_empty() { format!("#{i}") } else { name.clone() };
        if op_type.is_empty() {
            return Err(Error::model(format!("node '{label}' has no op_type")));
        }
        let mut inputs: Vec<Option<ValueId>> = n.input.iter().map(|s| if s.is_empty() { None } else { Some(b.id(s)) }).collect();
        let mut scoped: Vec<String> = Vec::new();
        for s in n.attribute.iter().flat_map(|a| a.g.iter().chain(&a.graphs)).flat_map(free_names) {
            if !scoped.contains(&s) {
                scoped.push(s);
            }
        }
        let mut outputs = Vec::with_capacity(n.output.len());
        for s in &n.output {
            if s.is_empty() {
                outputs.push(None);
                continue;
            }
            let id = b.id(s);
            if b.graph.initializers.contains_key(&id) || b.graph.inputs.contains(&id) {
                return Err(Error::model(format!(
                    "node '{label}' ({op_type}) writes '{s}', which is also a graph input or initializer"
                )));
            }
            if let Some(other) = produced.insert(id, label.clone()) {
                return Err(Error::model(format!(
                    "value '{s}' is written by two nodes, '{other}' and '{label}' ({op_type})"
                )));
            }
            outputs.push(Some(id));
        }
        let mut attrs = Attrs::default();
        for a in &n.attribute {
            let aname = a.name.clone().unwrap_or_default();
            let value = attr_from_proto(a, external)
                .map_err(|e| Error::model(format!("node '{label}' ({op_type}) attribute '{aname}': {e}")))?;
            attrs.0.insert(aname, value);
        }
        if !scoped.is_empty() {
            inputs.extend(scoped.iter().map(|s| Some(b.id(s))));
            attrs.set(OUTER_SCOPE, Attr::Strings(scoped));
        }
        b.graph.nodes.push(Node { name, op_type, domain: n.domain.clone().unwrap_or_default(), inputs, outputs, attrs });
    }
    for &o in &b.graph.outputs {
        if !produced.contains_key(&o) && !b.graph.initializers.contains_key(&o) && !b.graph.inputs.contains(&o) {
            return Err(Error::model(format!(
                "graph output '{}' is not produced by any node",
                b.graph.values[o].name
            )));
        }
    }
    b.graph.sort_topologically()?;
    Ok(b.graph)
}

fn attr_from_proto(a: &proto::AttributeProto, external: &ExternalData) -> Result<Attr> {
    let string = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    let ty = match a.r#type {
        Some(t) if t != 0 => AttributeType::try_from(t).map_err(|_| Error::model(format!("unknown attribute type {t}")))?,
        // Old exporters leave `type` unset: infer it from the field that is filled.
        _ => {
            if a.f.is_some() {
                AttributeType::Float
            } else if a.i.is_some() {
                AttributeType::Int
            } else if a.s.is_some() {
                AttributeType::String
            } else if a.t.is_some() {
                AttributeType::Tensor
            } else if a.g.is_some() {
                AttributeType::Graph
            } else if !a.floats.is_empty() {
                AttributeType::Floats
            } else if !a.ints.is_empty() {
                AttributeType::Ints
            } else if !a.strings.is_empty() {
                AttributeType::Strings
            } else {
                AttributeType::Ints
            }
        }
    };
    Ok(match ty {
        AttributeType::Float => Attr::Float(a.f.unwrap_or(0.0)),
        AttributeType::Int => Attr::Int(a.i.unwrap_or(0)),
        AttributeType::String => Attr::String(string(a.s.as_deref().unwrap_or(&[]))),
        AttributeType::Tensor => match &a.t {
            Some(t) => Attr::Tensor(from_proto(t, "tensor attribute", external)?),
            None => return Err(Error::model("tensor attribute without a tensor")),
        },
        AttributeType::Floats => Attr::Floats(a.floats.clone()),
        AttributeType::Ints => Attr::Ints(a.ints.clone()),
        AttributeType::Strings => Attr::Strings(a.strings.iter().map(|s| string(s)).collect()),
        _ => Attr::Raw(Box::new(a.clone())),
    })
}
