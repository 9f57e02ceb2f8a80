//! Test fixtures: the objects of tsb-model.md Appendix A (organization `acme`, tenant
//! `payments`, workspace `checkout-ws`, clusters `eu-1` and `us-1`), written as the JSON form
//! of their YAML so they read like the spec.

use serde_json::{Value, json};

use crate::model::metadata::StripRules;
use crate::model::object::{Converted, KubeObject, Resource, convert};

/// Deserializes a manifest.
pub(crate) fn manifest(value: Value) -> KubeObject {
    serde_json::from_value(value).expect("fixture is a valid KubeObject")
}

/// Converts a fixture that must be valid.
pub(crate) fn resource(object: &KubeObject) -> Resource {
    match convert(object, &StripRules::default()) {
        Converted::Resource { resource, .. } => *resource,
        other => panic!("{} should convert, got {other:?}", object.metadata.name),
    }
}

pub(crate) const WS_FQN: &str = "organizations/acme/tenants/payments/workspaces/checkout-ws";

/// Example 1.
pub(crate) fn tenant() -> KubeObject {
    manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Tenant",
        "metadata": {
            "name": "payments",
            "namespace": "tsb-config",
            "annotations": {"tsb.tetrate.io/organization": "acme"}
        },
        "spec": {
            "displayName": "Payments",
            "description": "Payments line of business",
            "deletionProtectionEnabled": true
        }
    }))
}

/// Example 2.
pub(crate) fn workspace() -> KubeObject {
    manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {
            "name": "checkout-ws",
            "namespace": "tsb-config",
            "annotations": {
                "tsb.tetrate.io/organization": "acme",
                "tsb.tetrate.io/tenant": "payments",
                "team.acme.io/owner": "checkout"
            }
        },
        "spec": {
            "displayName": "Checkout",
            "namespaceSelector": {"names": [
                "eu-1/checkout",
                "us-1/checkout",
                "*/checkout-edge",
                "eu-1/checkout-jobs-*",
                "*/checkout-legacy"
            ]}
        }
    }))
}

fn group_annotations() -> Value {
    json!({
        "tsb.tetrate.io/organization": "acme",
        "tsb.tetrate.io/tenant": "payments",
        "tsb.tetrate.io/workspace": "checkout-ws"
    })
}

/// Example 3.
pub(crate) fn traffic_group() -> KubeObject {
    manifest(json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2",
        "kind": "Group",
        "metadata": {"name": "checkout-traffic", "namespace": "tsb-config", "annotations": group_annotations()},
        "spec": {
            "displayName": "Checkout traffic",
            "namespaceSelector": {"names": ["eu-1/checkout", "us-1/checkout"]},
            "configMode": "BRIDGED"
        }
    }))
}

fn in_group(key: &str, group: &str) -> Value {
    let mut annotations = group_annotations();
    annotations[format!("tsb.tetrate.io/{key}")] = json!(group);
    annotations
}

/// Example 4.
pub(crate) fn traffic_setting() -> KubeObject {
    manifest(json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2",
        "kind": "TrafficSetting",
        "metadata": {"name": "defaults", "namespace": "tsb-config", "annotations": in_group("trafficGroup", "checkout-traffic")},
        "spec": {
            "reachability": {"mode": "CUSTOM", "hosts": ["./*", "shared-db/*"]},
            "resilience": {
                "httpRequestTimeout": "5s",
                "httpRetries": {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"},
                "circuitBreakerSensitivity": "MEDIUM"
            },
            "egress": {"host": "checkout-edge/egress.checkout-edge.svc.cluster.local"}
        }
    }))
}

/// Example 5.
pub(crate) fn service_route() -> KubeObject {
    manifest(json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2",
        "kind": "ServiceRoute",
        "metadata": {"name": "cart", "namespace": "tsb-config", "annotations": in_group("trafficGroup", "checkout-traffic")},
        "spec": {
            "service": "checkout/cart.checkout.svc.cluster.local",
            "portLevelSettings": [{"port": 8080, "trafficType": "HTTP"}],
            "subsets": [
                {"name": "stable", "labels": {"version": "v1"}, "weight": 90},
                {"name": "canary", "labels": {"version": "v2"}, "weight": 10}
            ]
        }
    }))
}

/// The gateway group Example 6 needs (not spelled out in Appendix A).
pub(crate) fn gateway_group() -> KubeObject {
    manifest(json!({
        "apiVersion": "gateway.tsb.tetrate.io/v2",
        "kind": "Group",
        "metadata": {"name": "checkout-gateways", "namespace": "tsb-config", "annotations": group_annotations()},
        "spec": {"namespaceSelector": {"names": ["*/checkout-edge"]}}
    }))
}

/// Example 6.
pub(crate) fn ingress_gateway() -> KubeObject {
    manifest(json!({
        "apiVersion": "gateway.tsb.tetrate.io/v2",
        "kind": "IngressGateway",
        "metadata": {"name": "checkout-ingress", "namespace": "tsb-config", "annotations": in_group("gatewayGroup", "checkout-gateways")},
        "spec": {
            "workloadSelector": {"namespace": "checkout-edge", "labels": {"app": "checkout-gw"}},
            "http": [{
                "name": "checkout",
                "port": 80,
                "hostname": "checkout.acme.example",
                "routing": {"rules": [{"route": {"host": "checkout/cart.checkout.svc.cluster.local", "port": 8080}}]}
            }]
        }
    }))
}

/// Example 7's second traffic group (`DIRECT`, `*/checkout-legacy`).
pub(crate) fn direct_group() -> KubeObject {
    manifest(json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2",
        "kind": "Group",
        "metadata": {"name": "checkout-direct", "namespace": "tsb-config", "annotations": group_annotations()},
        "spec": {"namespaceSelector": {"names": ["*/checkout-legacy"]}, "configMode": "DIRECT"}
    }))
}

/// Example 7, with the Argo CD annotations Tetrate's examples add (§8.9).
pub(crate) fn virtual_service() -> KubeObject {
    let mut annotations = in_group("trafficGroup", "checkout-direct");
    annotations["argocd.argoproj.io/compare-options"] = json!("IgnoreExtraneous");
    annotations["argocd.argoproj.io/sync-options"] = json!("Prune=false");
    manifest(json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {
            "name": "legacy-api",
            "namespace": "checkout-legacy",
            "labels": {"istio.io/rev": "tsb", "app": "legacy-api"},
            "annotations": annotations
        },
        "spec": {
            "hosts": ["legacy-api"],
            "http": [{"route": [{"destination": {"host": "legacy-api", "subset": "v1"}}]}]
        }
    }))
}

/// Example 8.
pub(crate) fn bad_selectors() -> KubeObject {
    manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {
            "name": "bad-selectors",
            "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}
        },
        "spec": {"namespaceSelector": {"names": ["checkout", "eu-*/checkout", "eu-1/*out", "eu-1/a/b"]}}
    }))
}

/// Examples 1–7 plus the gateway group: a valid, complete hierarchy.
pub(crate) fn appendix_objects() -> Vec<KubeObject> {
    vec![
        tenant(),
        workspace(),
        traffic_group(),
        traffic_setting(),
        service_route(),
        gateway_group(),
        ingress_gateway(),
        direct_group(),
        virtual_service(),
    ]
}

/// [`appendix_objects`] converted.
pub(crate) fn appendix_set() -> Vec<Resource> {
    appendix_objects().iter().map(resource).collect()
}
