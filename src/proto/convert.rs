//! protobuf well-known types ⇄ JSON: specs travel as `google.protobuf.Struct`.

use prost_types::value::Kind as ProtoKind;
use prost_types::{ListValue, Struct, Value as ProtoValue};
use serde_json::Value;

/// JSON → protobuf `Value`.
pub fn json_to_proto(value: &Value) -> ProtoValue {
    let kind = match value {
        Value::Null => ProtoKind::NullValue(0),
        Value::Bool(b) => ProtoKind::BoolValue(*b),
        Value::Number(n) => ProtoKind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => ProtoKind::StringValue(s.clone()),
        Value::Array(items) => ProtoKind::ListValue(ListValue {
            values: items.iter().map(json_to_proto).collect(),
        }),
        Value::Object(map) => ProtoKind::StructValue(json_object_to_struct(map)),
    };
    ProtoValue { kind: Some(kind) }
}

fn json_object_to_struct(map: &serde_json::Map<String, Value>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), json_to_proto(v)))
            .collect(),
    }
}

/// JSON object → protobuf `Struct` (anything else becomes an empty struct).
pub fn json_to_struct(value: &Value) -> Struct {
    match value {
        Value::Object(map) => json_object_to_struct(map),
        _ => Struct::default(),
    }
}

/// protobuf `Value` → JSON; whole numbers come back as integers (protobuf has only doubles).
pub fn proto_to_json(value: &ProtoValue) -> Value {
    match &value.kind {
        None | Some(ProtoKind::NullValue(_)) => Value::Null,
        Some(ProtoKind::BoolValue(b)) => Value::Bool(*b),
        Some(ProtoKind::NumberValue(n)) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
        Some(ProtoKind::StringValue(s)) => Value::String(s.clone()),
        Some(ProtoKind::ListValue(list)) => {
            Value::Array(list.values.iter().map(proto_to_json).collect())
        }
        Some(ProtoKind::StructValue(s)) => struct_to_json(s),
    }
}

/// protobuf `Struct` → JSON object.
pub fn struct_to_json(value: &Struct) -> Value {
    Value::Object(
        value
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), proto_to_json(v)))
            .collect(),
    )
}

/// A model resource as the wire envelope (etag and revision are the store's to assign).
pub fn resource_to_proto(resource: &crate::model::Resource) -> crate::proto::v1::Resource {
    use crate::proto::v1;
    let origin = resource.origin.as_ref().map(|origin| v1::Origin {
        source: Some(v1::origin::Source::Gitops(v1::GitOpsOrigin {
            cluster: origin.cluster.clone().unwrap_or_default(),
            namespace: origin.namespace.clone().unwrap_or_default(),
            name: origin.name.clone(),
            uid: origin.uid.clone().unwrap_or_default(),
            generation: origin.generation.unwrap_or_default(),
            provenance: origin.provenance.clone().unwrap_or_default(),
            observed_at: None,
            deletion_policy: origin.deletion_policy.clone().unwrap_or_default(),
        })),
    });
    v1::Resource {
        fqn: resource.fqn.to_string(),
        api_version: resource.api_version.clone(),
        kind: resource.kind.name().to_string(),
        name: resource.name.clone(),
        parent_fqn: resource
            .parent
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        spec: Some(json_to_struct(&resource.spec.to_value())),
        labels: resource.labels.clone().into_iter().collect(),
        annotations: resource.annotations.clone().into_iter().collect(),
        etag: String::new(),
        revision: 0,
        origin,
        namespace: resource.namespace.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_survives_the_protobuf_struct() {
        let spec = serde_json::json!({
            "service": "bookinfo/reviews",
            "subsets": [{"name": "v1", "weight": 90, "labels": {"version": "v1"}}],
            "ratio": 0.5, "enabled": true, "nothing": null
        });
        assert_eq!(struct_to_json(&json_to_struct(&spec)), spec);
    }
}
