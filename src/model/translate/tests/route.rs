use serde_json::{Value, json};

use super::traffic::workspace_setting;
use super::{WS, find, object, one, run};
use crate::model::object::Resource;
use crate::model::translate::{Generated, Translation};

const TS: &str = "traffic.tsb.tetrate.io/v2";

fn service_route(spec: Value) -> Resource {
    object(TS, "ServiceRoute", "cart", "trafficGroup", "tg", spec)
}

#[test]
fn example_5_canary_route() {
    let t = run(vec![service_route(json!({
        "service": "a/cart.a.svc.cluster.local",
        "portLevelSettings": [{"port": 8080, "trafficType": "HTTP"}],
        "subsets": [
            {"name": "stable", "labels": {"version": "v1"}, "weight": 90},
            {"name": "canary", "labels": {"version": "v2"}, "weight": 10}
        ]
    }))]);
    let vs = one(&t, "VirtualService", "a");
    assert!(vs.name.starts_with("tsb-sr-cart-"));
    let route = |subset: &str, weight: u32| json!({"destination": {"host": "cart.a.svc.cluster.local", "subset": subset, "port": {"number": 8080}}, "weight": weight});
    assert_eq!(
        vs.spec,
        json!({
            "hosts": ["cart.a.svc.cluster.local"],
            "http": [{"name": "default-http-route-8080", "match": [{"port": 8080}], "route": [route("stable", 90), route("canary", 10)]}]
        })
    );
    assert_eq!(
        one(&t, "DestinationRule", "a").spec,
        json!({
            "host": "cart.a.svc.cluster.local",
            "subsets": [
                {"name": "stable", "labels": {"version": "v1"}},
                {"name": "canary", "labels": {"version": "v2"}}
            ]
        })
    );
    // Only in the service's namespace.
    assert_eq!(t.objects.len(), 2);
}

#[test]
fn service_route_takes_timeouts_from_settings_and_splits_evenly() {
    let sts = object(
        TS,
        "ServiceTrafficSetting",
        "cart",
        "trafficGroup",
        "tg",
        json!({"service": "b/cart.b.svc.cluster.local", "settings": {"resilience": {
            "httpRetries": {"attempts": 3, "perTryTimeout": "1s"}}}}),
    );
    let t = run(vec![
        workspace_setting(
            json!({"defaultTrafficSetting": {"resilience": {"httpRequestTimeout": "4s"}}}),
        ),
        sts,
        service_route(json!({
            "service": "b/cart.b.svc.cluster.local",
            "subsets": [{"name": "x"}, {"name": "y"}, {"name": "z"}],
            "stickySession": {"header": "x-user"}
        })),
    ]);
    let vs = one(&t, "VirtualService", "b");
    let http = &vs.spec["http"][0];
    assert_eq!(http["timeout"], "4s");
    assert_eq!(
        http["retries"],
        json!({"attempts": 3, "perTryTimeout": "1s"})
    );
    let weights: Vec<&Value> = http["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["weight"])
        .collect();
    assert_eq!(weights, [&json!(34), &json!(33), &json!(33)]);
    let drs = find(&t, "DestinationRule", "b");
    // The route's subsets and the service setting's policy are separate DestinationRules;
    // this one has no outlier detection, so only the route's exists.
    assert_eq!(drs.len(), 1);
    assert_eq!(
        drs[0].spec["trafficPolicy"],
        json!({"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}})
    );
}

#[test]
fn tcp_ports_route_at_layer_4() {
    let t = run(vec![service_route(json!({
        "service": "a/db.a.svc.cluster.local",
        "portLevelSettings": [{"port": 5432, "trafficType": "TCP"}],
        "subsets": [{"name": "primary", "labels": {"role": "primary"}}]
    }))]);
    assert_eq!(
        one(&t, "VirtualService", "a").spec,
        json!({
            "hosts": ["db.a.svc.cluster.local"],
            "tcp": [{"match": [{"port": 5432}], "route": [
                {"destination": {"host": "db.a.svc.cluster.local", "subset": "primary", "port": {"number": 5432}}}
            ]}]
        })
    );
}

#[test]
fn services_outside_the_group_or_malformed() {
    let t = run(vec![service_route(json!({
        "service": "other/cart.other.svc.cluster.local",
        "subsets": [{"name": "v1"}]
    }))]);
    assert!(t.objects.is_empty());
    let mut resources = super::hierarchy();
    // The MP rejects this at admission (V7); translation still must not panic on it.
    let mut malformed = service_route(json!({"service": "a/x", "subsets": [{"name": "v1"}]}));
    if let crate::model::Spec::ServiceRoute(s) = &mut malformed.spec {
        s.service = Some("no-namespace".into());
    }
    resources.push(malformed);
    let t = super::translate_cluster(&super::c1(), &resources);
    assert_eq!(t.errors.len(), 1);
    assert_eq!(
        t.errors[0].0,
        format!("{WS}/trafficgroups/tg/serviceroutes/cart")
    );
    assert_eq!(t.errors[0].1.field, "spec.service");
}

/// The ServiceRoute's own DestinationRule in namespace `ns` (the group's `*.<ns>` one aside).
fn route_rule<'t>(t: &'t Translation, ns: &str) -> &'t Generated {
    find(t, "DestinationRule", ns)
        .into_iter()
        .find(|g| g.name.starts_with("tsb-sr-"))
        .expect("the route's DestinationRule")
}

#[test]
fn explicit_routes_come_first_and_unmatched_ports_get_defaults() {
    let t = run(vec![
        workspace_setting(
            json!({"defaultTrafficSetting": {"resilience": {"httpRequestTimeout": "4s"}}}),
        ),
        service_route(json!({
            "service": "a/cart.a.svc.cluster.local",
            "portLevelSettings": [
                {"port": 8080, "trafficType": "HTTP"},
                {"port": 9090, "trafficType": "HTTP"},
                {"port": 5432, "trafficType": "TCP"},
                {"port": 6379, "trafficType": "TCP"},
                {"port": 8443, "trafficType": "TLS_PASSTHROUGH"}
            ],
            "subsets": [{"name": "v1", "weight": 70}, {"name": "v2", "weight": 30}],
            "httpRoutes": [{
                "name": "api",
                "match": [{"name": "m", "uri": {"exact": "/api"},
                           "headers": {"x-b": {"regex": "b.*"}, "x-a": {"prefix": "a"}}, "port": 8080}],
                "destination": [{"subset": "v2", "port": 8080},
                                {"subset": "v1", "port": 8080, "destinationHost": "cart-legacy"}]
            }],
            "tcpRoutes": [{"name": "db", "match": [{"name": "m", "port": 5432}],
                           "destination": [{"subset": "v1", "weight": 100, "port": 5432}]}]
        })),
    ]);
    let vs = one(&t, "VirtualService", "a");
    let host = "cart.a.svc.cluster.local";
    let to = |host: &str, subset: &str, port: u32, weight: u32| json!({"destination": {"host": host, "subset": subset, "port": {"number": port}}, "weight": weight});
    let split = |port: u32| json!([to(host, "v1", port, 70), to(host, "v2", port, 30)]);
    assert_eq!(
        vs.spec,
        json!({
            "hosts": [host],
            "http": [
                {
                    "name": "api",
                    "match": [{"name": "m", "uri": {"exact": "/api"}, "port": 8080,
                               "headers": {"x-a": {"prefix": "a"}, "x-b": {"regex": "b.*"}}}],
                    // Neither destination has a weight: split evenly.
                    "route": [to(host, "v2", 8080, 50), to("cart-legacy", "v1", 8080, 50)],
                    "timeout": "4s"
                },
                // 8080 is matched: only 9090 gets a default route.
                {"name": "default-http-route-9090", "match": [{"port": 9090}], "route": split(9090), "timeout": "4s"}
            ],
            "tcp": [
                {"match": [{"port": 5432}], "route": [to(host, "v1", 5432, 100)]},
                {"match": [{"port": 6379}], "route": split(6379)}
            ],
            "tls": [{"match": [{"port": 8443, "sniHosts": [host]}], "route": split(8443)}]
        })
    );
}

#[test]
fn routes_without_ports_only_route_what_they_match() {
    let t = run(vec![service_route(json!({
        "service": "a/cart.a.svc.cluster.local",
        "subsets": [{"name": "v1"}],
        "httpRoutes": [{"name": "all", "destination": [{"subset": "v1", "port": 80}]}]
    }))]);
    assert_eq!(
        one(&t, "VirtualService", "a").spec["http"],
        json!([{"name": "all", "route": [
            {"destination": {"host": "cart.a.svc.cluster.local", "subset": "v1", "port": {"number": 80}}}
        ]}])
    );
}

#[test]
fn sticky_ports_keep_the_circuit_breaking_and_subsets_override_same_type_ports() {
    let t = run(vec![
        workspace_setting(
            json!({"defaultTrafficSetting": {"resilience": {"circuitBreakerSensitivity": "HIGH"}}}),
        ),
        service_route(json!({
            "service": "a/cart.a.svc.cluster.local",
            "stickySession": {"header": "x-user"},
            "portLevelSettings": [
                {"port": 8080, "stickySession": {"cookie": {"name": "s", "path": "/", "ttl": "60s"}}},
                {"port": 5432, "trafficType": "TCP"}
            ],
            "subsets": [
                {"name": "v1", "labels": {"v": "1"}, "portLevelSettings": [
                    {"port": 5432, "trafficType": "TCP", "stickySession": {"useSourceIp": true}},
                    // Conflicts with the top-level type of 8080 (ignored, as in TSB).
                    {"port": 8080, "trafficType": "TCP", "stickySession": {"useSourceIp": true}},
                    // No such top-level port (ignored).
                    {"port": 7000, "trafficType": "TCP", "stickySession": {"useSourceIp": true}}
                ]},
                {"name": "v2", "labels": {"v": "2"}}
            ]
        })),
    ]);
    let outlier = json!({"consecutive5xxErrors": 5});
    assert_eq!(
        route_rule(&t, "a").spec,
        json!({
            "host": "cart.a.svc.cluster.local",
            "subsets": [
                {"name": "v1", "labels": {"v": "1"}, "trafficPolicy": {"portLevelSettings": [
                    {"port": {"number": 5432}, "outlierDetection": outlier,
                     "loadBalancer": {"consistentHash": {"useSourceIp": true}}}
                ]}},
                {"name": "v2", "labels": {"v": "2"}}
            ],
            "trafficPolicy": {
                "outlierDetection": outlier,
                "loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}},
                "portLevelSettings": [{
                    "port": {"number": 8080}, "outlierDetection": outlier,
                    "loadBalancer": {"consistentHash": {"httpCookie": {"name": "s", "path": "/", "ttl": "60s"}}}
                }]
            }
        })
    );
}
