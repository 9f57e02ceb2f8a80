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
