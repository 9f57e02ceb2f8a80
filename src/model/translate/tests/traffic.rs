use serde_json::{Value, json};

use super::{annotations, find, object, one, run};
use crate::model::fixtures::{manifest, resource};
use crate::model::object::Resource;

const TS: &str = "traffic.tsb.tetrate.io/v2";

pub(super) fn traffic_setting(spec: Value) -> Resource {
    object(TS, "TrafficSetting", "defaults", "trafficGroup", "tg", spec)
}

pub(super) fn workspace_setting(spec: Value) -> Resource {
    resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2", "kind": "WorkspaceSetting",
        "metadata": {"name": "default", "annotations": annotations(None)},
        "spec": spec
    })))
}

#[test]
fn example_4_sidecar_and_destination_rule_per_namespace() {
    let t = run(vec![traffic_setting(json!({
        "reachability": {"mode": "CUSTOM", "hosts": ["./*", "shared-db/*"]},
        "resilience": {
            "httpRequestTimeout": "5s",
            "httpRetries": {"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure"},
            "circuitBreakerSensitivity": "MEDIUM"
        },
        "egress": {"host": "gw/egress.gw.svc.cluster.local"}
    }))]);
    for ns in ["a", "b"] {
        let sidecar = one(&t, "Sidecar", ns);
        assert_eq!(sidecar.api_version, "networking.istio.io/v1");
        assert!(sidecar.name.starts_with("tsb-ts-defaults-"));
        assert_eq!(
            sidecar.spec,
            json!({
                "egress": [{"hosts": ["./*", "shared-db/*", "gw/egress.gw.svc.cluster.local"]}],
                "outboundTrafficPolicy": {
                    "mode": "ALLOW_ANY",
                    "egressProxy": {"host": "egress.gw.svc.cluster.local", "port": {"number": 15443}}
                }
            })
        );
        assert_eq!(
            one(&t, "DestinationRule", ns).spec,
            json!({
                "host": format!("*.{ns}.svc.cluster.local"),
                "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 10}}
            })
        );
    }
    // Same name in every namespace; nothing outside the group.
    assert_eq!(one(&t, "Sidecar", "a").name, one(&t, "Sidecar", "b").name);
    assert!(find(&t, "Sidecar", "gw").is_empty() && find(&t, "Sidecar", "other").is_empty());
}

#[test]
fn reachability_modes_map_to_egress_hosts() {
    let table = [
        ("NAMESPACE", json!(["./*"])),
        ("GROUP", json!(["a/*", "b/*"])),
        ("WORKSPACE", json!(["a/*", "b/*", "gw/*", "legacy/*"])),
        ("CLUSTER", json!(["*/*"])),
    ];
    for (mode, hosts) in table {
        let t = run(vec![traffic_setting(
            json!({"reachability": {"mode": mode}}),
        )]);
        assert_eq!(
            one(&t, "Sidecar", "a").spec,
            json!({"egress": [{"hosts": hosts}]}),
            "{mode}"
        );
        assert!(find(&t, "DestinationRule", "a").is_empty(), "{mode}");
    }
    // UNSET without defaults or egress: Istio's default (everything reachable) already holds.
    let t = run(vec![traffic_setting(
        json!({"reachability": {"mode": "UNSET"}}),
    )]);
    assert!(t.objects.is_empty());
}

#[test]
fn sensitivities_and_inherited_defaults() {
    for (sensitivity, errors) in [("LOW", 20), ("MEDIUM", 10), ("HIGH", 5)] {
        let t = run(vec![traffic_setting(
            json!({"resilience": {"circuitBreakerSensitivity": sensitivity}}),
        )]);
        let dr = one(&t, "DestinationRule", "b");
        assert_eq!(
            dr.spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
            errors
        );
    }
    // The workspace default fills what the group's setting leaves out; the group's wins where
    // both say something.
    let t = run(vec![
        workspace_setting(json!({"defaultTrafficSetting": {
            "reachability": {"mode": "CLUSTER"},
            "resilience": {"circuitBreakerSensitivity": "HIGH"}
        }})),
        traffic_setting(json!({"reachability": {"mode": "NAMESPACE"}})),
    ]);
    assert_eq!(
        one(&t, "Sidecar", "a").spec["egress"][0]["hosts"],
        json!(["./*"])
    );
    assert_eq!(
        one(&t, "DestinationRule", "a").spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
        5
    );
    // The WorkspaceSetting itself generates nothing.
    assert_eq!(t.sources.len(), 1);
}

#[test]
fn service_traffic_setting_destination_rule() {
    let t = run(vec![object(
        TS,
        "ServiceTrafficSetting",
        "ratings",
        "trafficGroup",
        "tg",
        json!({"service": "b/ratings.b.svc.cluster.local",
               "settings": {"resilience": {"circuitBreakerSensitivity": "LOW"}}}),
    )]);
    let dr = one(&t, "DestinationRule", "b");
    assert!(dr.name.starts_with("tsb-svcts-ratings-"));
    assert_eq!(
        dr.spec,
        json!({"host": "ratings.b.svc.cluster.local",
               "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 20}}})
    );
}
