use serde_json::{Value, json};

use super::{annotations, find, object, one, run};
use crate::model::fixtures::{manifest, resource};
use crate::model::object::Resource;
use crate::model::translate::Translation;

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

#[test]
fn keep_alive_sets_the_connection_pool_and_wins_over_the_deprecated_flag() {
    let t = run(vec![traffic_setting(json!({"resilience": {
        "tcpKeepalive": true,
        "keepAlive": {"tcp": {"upstream": {"probes": 3, "idleTime": 30, "interval": 10}}}
    }}))]);
    assert_eq!(
        one(&t, "DestinationRule", "a").spec["trafficPolicy"],
        json!({"connectionPool": {"tcp": {"tcpKeepalive": {"probes": 3, "time": "30s", "interval": "10s"}}}})
    );
    // The deprecated flag alone: SO_KEEPALIVE with the OS's timings.
    let t = run(vec![traffic_setting(
        json!({"resilience": {"tcpKeepalive": true}}),
    )]);
    assert_eq!(
        one(&t, "DestinationRule", "b").spec["trafficPolicy"],
        json!({"connectionPool": {"tcp": {"tcpKeepalive": {}}}})
    );
    // Downstream keep-alive: socket options of the inbound listener, no DestinationRule.
    let t = run(vec![traffic_setting(json!({"resilience": {
        "keepAlive": {"tcp": {"downstream": {"probes": 3, "interval": 7}}}
    }}))]);
    assert!(find(&t, "DestinationRule", "a").is_empty());
    assert_eq!(
        one(&t, "EnvoyFilter", "a").spec,
        json!({"configPatches": [{
            "applyTo": "LISTENER",
            "match": {"context": "SIDECAR_INBOUND", "listener": {"name": "virtualInbound"}},
            "patch": {"operation": "MERGE", "value": {"socket_options": [
                {"level": 1, "name": 9, "int_value": 1, "state": "STATE_LISTENING"},
                {"level": 6, "name": 5, "int_value": 7, "state": "STATE_LISTENING"},
                {"level": 6, "name": 6, "int_value": 3, "state": "STATE_LISTENING"}
            ]}}
        }]})
    );
}

#[test]
fn keep_alive_values_are_inherited_one_by_one() {
    let t = run(vec![
        workspace_setting(json!({"defaultTrafficSetting": {"resilience": {
            "keepAlive": {"tcp": {"upstream": {"probes": 9, "idleTime": 600}}}
        }}})),
        traffic_setting(json!({"resilience": {
            "keepAlive": {"tcp": {"upstream": {"probes": 2}}}
        }})),
    ]);
    assert_eq!(
        one(&t, "DestinationRule", "a").spec["trafficPolicy"]["connectionPool"]["tcp"]["tcpKeepalive"],
        json!({"probes": 2, "time": "600s"})
    );
}

fn patches(filter: &Value) -> (&Value, &Value) {
    let patches = filter["configPatches"].as_array().unwrap();
    assert!(patches.len() >= 2, "{patches:?}");
    assert_eq!(patches[0]["applyTo"], "HTTP_FILTER");
    assert_eq!(patches[0]["match"]["context"], "SIDECAR_INBOUND");
    assert_eq!(patches[1]["applyTo"], "HTTP_ROUTE");
    (
        &patches[0]["patch"]["value"],
        &patches[1]["patch"]["value"]["route"]["rate_limits"],
    )
}

#[test]
fn local_rate_limit_rules_become_descriptors_and_route_actions() {
    let t = run(vec![traffic_setting(
        json!({"rateLimiting": {"settings": {"rules": [
            {"dimensions": [{"remoteAddress": {"value": "10.0.0.1"}}],
             "limit": {"requestsPerUnit": 10, "unit": "MINUTE"}},
            {"dimensions": [{"header": {"name": "x-user", "value": {"prefix": "gold"}}}],
             "limit": {"requestsPerUnit": 5, "unit": "SECOND"}},
            // Every distinct address on its own: not a local bucket, left out.
            {"dimensions": [{"remoteAddress": {"value": "*"}}],
             "limit": {"requestsPerUnit": 1, "unit": "HOUR"}}
        ]}}}),
    )]);
    for ns in ["a", "b"] {
        let filter = one(&t, "EnvoyFilter", ns);
        assert_eq!(filter.api_version, "networking.istio.io/v1alpha3");
        let (http_filter, limits) = patches(&filter.spec);
        assert_eq!(http_filter["name"], "envoy.filters.http.local_ratelimit");
        let config = &http_filter["typed_config"];
        assert_eq!(
            config["descriptors"],
            json!([
                {"entries": [{"key": "remote_address", "value": "10.0.0.1"}],
                 "token_bucket": {"max_tokens": 10, "tokens_per_fill": 10, "fill_interval": "60s"}},
                {"entries": [{"key": "header_match", "value": "rule-1-0"}],
                 "token_bucket": {"max_tokens": 5, "tokens_per_fill": 5, "fill_interval": "1s"}}
            ])
        );
        assert_eq!(
            limits,
            &json!([
                {"actions": [{"remote_address": {}}]},
                {"actions": [{"header_value_match": {"descriptor_value": "rule-1-0",
                    "headers": [{"name": "x-user", "string_match": {"prefix": "gold"}}]}}]}
            ])
        );
    }
    // Only rules that cannot be local: nothing to generate.
    let t = run(vec![traffic_setting(
        json!({"rateLimiting": {"settings": {"rules": [
            {"dimensions": [{"header": {"name": "x-user"}}], "limit": {"requestsPerUnit": 1, "unit": "DAY"}}
        ]}}}),
    )]);
    assert!(find(&t, "EnvoyFilter", "a").is_empty());
}

#[test]
fn external_rate_limit_service_calls_the_server_with_the_rule_actions() {
    let t = run(vec![traffic_setting(
        json!({"rateLimiting": {"externalService": {
            "domain": "shop",
            "failClosed": true,
            "timeout": "0.5s",
            "rateLimitServerUri": "grpc://ratelimit.rl.svc.cluster.local:8081",
            "rules": [{"dimensions": [
                {"sourceCluster": {}},
                {"destinationCluster": {}},
                {"remoteAddress": {}},
                {"requestHeaders": {"headerName": "x-user", "descriptorKey": "user"}},
                {"headerValueMatch": {"headers": {"x-tier": {"exact": "gold"}}, "descriptorValue": "gold"}}
            ]}]
        }}}),
    )]);
    let filter = one(&t, "EnvoyFilter", "a");
    let (http_filter, limits) = patches(&filter.spec);
    assert_eq!(http_filter["name"], "envoy.filters.http.ratelimit");
    assert_eq!(
        http_filter["typed_config"],
        json!({
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit",
            "domain": "shop",
            "failure_mode_deny": true,
            "timeout": "0.5s",
            "rate_limit_service": {
                "grpc_service": {"envoy_grpc": {"cluster_name": "outbound|8081||ratelimit.rl.svc.cluster.local"}},
                "transport_api_version": "V3"
            }
        })
    );
    assert_eq!(
        limits,
        &json!([{"actions": [
            {"source_cluster": {}},
            {"destination_cluster": {}},
            {"remote_address": {}},
            {"request_headers": {"header_name": "x-user", "descriptor_key": "user"}},
            {"header_value_match": {"descriptor_value": "gold",
                "headers": [{"name": "x-tier", "string_match": {"exact": "gold"}}]}}
        ]}])
    );
}

#[test]
fn rate_limiting_is_inherited_whole_and_replaced_whole() {
    let external = json!({"externalService": {
        "domain": "org", "rateLimitServerUri": "rl.rl.svc.cluster.local:8081",
        "rules": [{"dimensions": [{"remoteAddress": {}}]}]
    }});
    let t = run(vec![
        workspace_setting(json!({"defaultTrafficSetting": {"rateLimiting": external}})),
        traffic_setting(json!({"reachability": {"mode": "NAMESPACE"}})),
    ]);
    let (http_filter, _) = patches(&one(&t, "EnvoyFilter", "a").spec);
    assert_eq!(http_filter["name"], "envoy.filters.http.ratelimit");
    let t = run(vec![
        workspace_setting(json!({"defaultTrafficSetting": {"rateLimiting": external}})),
        traffic_setting(json!({"rateLimiting": {"settings": {"rules": [
            {"dimensions": [{"remoteAddress": {"value": "10.0.0.1"}}],
             "limit": {"requestsPerUnit": 1, "unit": "SECOND"}}
        ]}}})),
    ]);
    let (http_filter, _) = patches(&one(&t, "EnvoyFilter", "a").spec);
    assert_eq!(http_filter["name"], "envoy.filters.http.local_ratelimit");
    assert!(http_filter["typed_config"].get("domain").is_none());
}

#[test]
fn service_traffic_setting_keep_alive_and_inherited_sensitivity() {
    let t = run(vec![
        workspace_setting(json!({"defaultTrafficSetting": {
            "resilience": {"circuitBreakerSensitivity": "HIGH"},
            // Needs the sidecars of the service: nothing generated for it here.
            "rateLimiting": {"settings": {"rules": [{
                "dimensions": [{"remoteAddress": {"value": "10.0.0.1"}}],
                "limit": {"requestsPerUnit": 1, "unit": "SECOND"}
            }]}}
        }})),
        object(
            TS,
            "ServiceTrafficSetting",
            "ratings",
            "trafficGroup",
            "tg",
            json!({"service": "b/ratings.b.svc.cluster.local", "settings": {"resilience": {
                "keepAlive": {"tcp": {"upstream": {"idleTime": 45}}}
            }}}),
        ),
    ]);
    assert_eq!(
        one(&t, "DestinationRule", "b").spec,
        json!({"host": "ratings.b.svc.cluster.local", "trafficPolicy": {
            "outlierDetection": {"consecutive5xxErrors": 5},
            "connectionPool": {"tcp": {"tcpKeepalive": {"time": "45s"}}}
        }})
    );
    assert!(find(&t, "EnvoyFilter", "b").is_empty());
}

#[test]
fn local_rate_limit_buckets_and_dont_match() {
    let t = run(vec![traffic_setting(
        json!({"rateLimiting": {"local": {"rules": [
        {"dimensions": [{"header": {"name": "x-tier", "value": {"exact": "gold"}, "dontMatch": true}}],
         "tokenBucket": {"maxTokens": 50, "fillInterval": "10s"}},
        {"dimensions": [{"remoteAddress": {"value": "*"}}],
         "tokenBucket": {"maxTokens": 1, "fillInterval": "1s"}}
    ], "maxWildcardDimensions": 10}}}),
    )]);
    let (http_filter, limits) = patches(&one(&t, "EnvoyFilter", "a").spec);
    assert_eq!(
        http_filter["typed_config"]["descriptors"],
        json!([{"entries": [{"key": "header_match", "value": "rule-0-0"}],
                "token_bucket": {"max_tokens": 50, "tokens_per_fill": 1, "fill_interval": "10s"}}])
    );
    assert_eq!(
        limits,
        &json!([{"actions": [{"header_value_match": {"descriptor_value": "rule-0-0",
            "expect_match": false,
            "headers": [{"name": "x-tier", "string_match": {"exact": "gold"}}]}}]}])
    );
}

#[test]
fn inbound_wins_in_its_object_and_the_closest_level_wins_between_levels() {
    let local = |address: &str| {
        json!({"local": {"rules": [{
            "dimensions": [{"remoteAddress": {"value": address}}],
            "tokenBucket": {"maxTokens": 1, "fillInterval": "1s"}
        }]}})
    };
    let address = |t: &Translation| {
        let (http_filter, _) = patches(&one(t, "EnvoyFilter", "a").spec);
        http_filter["typed_config"]["descriptors"][0]["entries"][0]["value"].clone()
    };
    // Both forms in one object: inbound wins, for rate limiting and downstream keep-alive.
    let t = run(vec![traffic_setting(json!({
        "rateLimiting": local("10.0.0.1"),
        "resilience": {"keepAlive": {"tcp": {"downstream": {"probes": 1}}}},
        "inbound": {
            "rateLimiting": local("10.0.0.2"),
            "resilience": {"connectionPool": {"tcp": {"keepAlive": {"probes": 2}}}}
        }
    }))]);
    assert_eq!(address(&t), "10.0.0.2");
    let listener = &one(&t, "EnvoyFilter", "a").spec["configPatches"][2];
    assert_eq!(listener["applyTo"], "LISTENER");
    assert_eq!(
        listener["patch"]["value"]["socket_options"][1]["int_value"],
        2
    );
    // The group's deprecated form over a workspace default in the newer form: the group wins.
    let t = run(vec![
        workspace_setting(
            json!({"defaultTrafficSetting": {"inbound": {"rateLimiting": local("10.0.0.3")}}}),
        ),
        traffic_setting(json!({"rateLimiting": local("10.0.0.4")})),
    ]);
    assert_eq!(address(&t), "10.0.0.4");
}

#[test]
fn outbound_reachability_and_egress_replace_the_deprecated_ones() {
    let t = run(vec![traffic_setting(json!({
        "reachability": {"mode": "CLUSTER"},
        "outbound": {
            "reachability": {"mode": "NAMESPACE"},
            "egress": {"host": "gw/egress.gw.svc.cluster.local"}
        }
    }))]);
    assert_eq!(
        one(&t, "Sidecar", "a").spec["egress"][0]["hosts"],
        json!(["./*", "gw/egress.gw.svc.cluster.local"])
    );
    // A group's deprecated reachability over a workspace default's outbound one: the group wins.
    let t = run(vec![
        workspace_setting(
            json!({"defaultTrafficSetting": {"outbound": {"reachability": {"mode": "NAMESPACE"}}}}),
        ),
        traffic_setting(json!({"reachability": {"mode": "CLUSTER"}})),
    ]);
    assert_eq!(
        one(&t, "Sidecar", "a").spec["egress"][0]["hosts"],
        json!(["*/*"])
    );
}
