use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::model::metadata::StripRules;
use crate::model::object::{Converted, KubeObject, convert};

fn resource(value: Value) -> Resource {
    let object: KubeObject = serde_json::from_value(value).unwrap();
    match convert(&object, &StripRules::default()) {
        Converted::Resource { resource, .. } => *resource,
        other => panic!("not a resource: {other:?}"),
    }
}

fn route(cr_namespace: &str, weight: u32, tracking: &str) -> Value {
    json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2",
        "kind": "ServiceRoute",
        "metadata": {
            "name": "cart",
            "namespace": cr_namespace,
            "annotations": {
                "tsb.tetrate.io/organization": "acme",
                "tsb.tetrate.io/tenant": "payments",
                "tsb.tetrate.io/workspace": "checkout",
                "tsb.tetrate.io/trafficGroup": "traffic",
                "argocd.argoproj.io/tracking-id": tracking,
            },
            "labels": {"team": "checkout"},
        },
        "spec": {
            "service": "checkout/cart.checkout.svc.cluster.local",
            "subsets": [
                {"name": "stable", "labels": {"version": "v1"}, "weight": weight},
                {"name": "canary", "labels": {"version": "v2"}, "weight": 100 - weight},
            ],
        },
    })
}

#[test]
fn entries_ignore_where_and_how_an_object_was_written() {
    let a = Entry::of(&resource(route("config-staging", 90, "stg:cart")));
    let b = Entry::of(&resource(route("config-prod", 90, "prod:cart")));
    assert_eq!(a, b);
    let c = Entry::of(&resource(route("config-prod", 50, "prod:cart")));
    assert_ne!(a, c);
}

#[test]
fn fields_are_reported_by_path() {
    let a = Entry::of(&resource(route("x", 90, "t")));
    let mut changed = route("x", 50, "t");
    changed["metadata"]["labels"]["app.kubernetes.io/part-of"] = json!("mesh");
    let b = Entry::of(&resource(changed));
    let fields = field_changes(&a.document, &b.document);
    let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "metadata.labels[\"app.kubernetes.io/part-of\"]",
            "spec.subsets[0].weight",
            "spec.subsets[1].weight",
        ]
    );
    assert_eq!(fields[0].from, None);
    assert_eq!(fields[0].to, Some(json!("mesh")));
    assert_eq!(fields[1].from, Some(json!(90)));
    assert_eq!(fields[1].to, Some(json!(50)));
}

#[test]
fn sequences_of_different_length_add_and_remove_items() {
    let fields = field_changes(&json!({"a": [1, 2]}), &json!({"a": [1, 3, 4]}));
    assert_eq!(
        fields,
        [
            FieldChange {
                path: "a[1]".into(),
                from: Some(json!(2)),
                to: Some(json!(3)),
            },
            FieldChange {
                path: "a[2]".into(),
                from: None,
                to: Some(json!(4)),
            },
        ]
    );
    let whole = field_changes(&json!(1), &json!("1"));
    assert_eq!(whole[0].path, ".");
}

#[test]
fn maps_diff_into_added_removed_and_changed_in_key_order() {
    let from: BTreeMap<&str, Value> = [("b", json!(1)), ("c", json!(1)), ("d", json!({}))].into();
    let to: BTreeMap<&str, Value> = [("a", json!(1)), ("c", json!(2)), ("d", json!({}))].into();
    let changes = diff_maps(&from, &to);
    let summary: Vec<(&str, Change)> = changes.iter().map(|c| (c.key, c.change)).collect();
    assert_eq!(
        summary,
        [
            ("a", Change::Added),
            ("b", Change::Removed),
            ("c", Change::Changed),
        ]
    );
    assert_eq!(
        Counts::of(&changes),
        Counts {
            added: 1,
            removed: 1,
            changed: 1
        }
    );
    assert!(Counts::of(&diff_maps(&from, &from)).is_empty());
}

#[test]
fn istio_keys_name_the_object() {
    let key = IstioKey::of(
        "east",
        &json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"namespace": "checkout", "name": "cart"}}),
    );
    assert_eq!(
        key.to_string(),
        "VirtualService.networking.istio.io checkout/cart"
    );
    assert_eq!(key.cluster, "east");
}
