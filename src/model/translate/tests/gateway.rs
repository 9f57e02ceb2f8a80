use serde_json::{Value, json};

use super::{find, object, one, run};
use crate::model::object::Resource;

const GW: &str = "gateway.tsb.tetrate.io/v2";

fn gateway(kind: &str, name: &str, spec: Value) -> Resource {
    object(GW, kind, name, "gatewayGroup", "gg", spec)
}

fn selector(app: &str) -> Value {
    json!({"namespace": "gw", "labels": {"app": app}})
}

#[test]
fn ingress_gateway_with_tls_and_routes() {
    let t = run(vec![gateway(
        "IngressGateway",
        "shop",
        json!({
            "workloadSelector": selector("shop-gw"),
            "http": [{
                "name": "shop",
                "port": 443,
                "hostname": "shop.example.com",
                "tls": {"mode": "SIMPLE", "secretName": "shop-certs"},
                "routing": {"rules": [
                    {"match": [{"uri": {"prefix": "/api"}}], "route": {"host": "a/api.a.svc.cluster.local", "port": 8080}},
                    {"route": {"host": "b/web.b.svc.cluster.local"}}
                ]}
            }]
        }),
    )]);
    let gw = one(&t, "Gateway", "gw");
    assert_eq!(gw.api_version, "networking.istio.io/v1");
    assert!(gw.name.starts_with("tsb-ig-shop-"));
    assert_eq!(
        gw.spec,
        json!({
            "selector": {"app": "shop-gw"},
            "servers": [{
                "port": {"number": 443, "name": "https-shop", "protocol": "HTTPS"},
                "hosts": ["shop.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "shop-certs"}
            }]
        })
    );
    let vs = one(&t, "VirtualService", "gw");
    assert!(
        vs.name.starts_with("tsb-ig-shop-shop-http0-"),
        "{}",
        vs.name
    );
    assert_eq!(
        vs.spec,
        json!({
            "hosts": ["shop.example.com"],
            "gateways": [gw.name],
            "http": [
                {"match": [{"uri": {"prefix": "/api"}}],
                 "route": [{"destination": {"host": "api.a.svc.cluster.local", "port": {"number": 8080}}}]},
                {"route": [{"destination": {"host": "web.b.svc.cluster.local"}}]}
            ]
        })
    );
    assert_eq!(t.objects.len(), 2);
}

#[test]
fn tcp_and_passthrough_servers() {
    let t = run(vec![gateway(
        "IngressGateway",
        "edge",
        json!({
            "workloadSelector": selector("edge"),
            "tcp": [{"name": "db", "port": 5432, "route": {"host": "a/db.a.svc.cluster.local", "port": 5432}}],
            "tlsPassthrough": [{"name": "mq", "port": 8443, "hostname": "mq.example.com",
                                "route": {"host": "b/mq.b.svc.cluster.local", "port": 8443}}]
        }),
    )]);
    let servers = &one(&t, "Gateway", "gw").spec["servers"];
    assert_eq!(
        servers,
        &json!([
            {"port": {"number": 5432, "name": "tcp-db", "protocol": "TCP"}, "hosts": ["*"]},
            {"port": {"number": 8443, "name": "tls-mq", "protocol": "TLS"}, "hosts": ["mq.example.com"],
             "tls": {"mode": "PASSTHROUGH"}}
        ])
    );
    let services = find(&t, "VirtualService", "gw");
    assert_eq!(services.len(), 2);
    let tcp = services
        .iter()
        .find(|v| v.spec.get("tcp").is_some())
        .unwrap();
    assert_eq!(
        tcp.spec["tcp"],
        json!([{"match": [{"port": 5432}], "route": [{"destination": {"host": "db.a.svc.cluster.local", "port": {"number": 5432}}}]}])
    );
    let tls = services
        .iter()
        .find(|v| v.spec.get("tls").is_some())
        .unwrap();
    assert_eq!(
        tls.spec["tls"][0]["match"],
        json!([{"port": 8443, "sniHosts": ["mq.example.com"]}])
    );
}

#[test]
fn unified_gateway_routes_to_services() {
    let t = run(vec![gateway(
        "Gateway",
        "unified",
        json!({
            "workloadSelector": selector("unified"),
            "http": [{"name": "reviews", "port": 8080, "hostname": "reviews.example.com",
                      "routing": {"rules": [{"route": {"serviceDestination": {"host": "a/reviews.a.svc.cluster.local", "port": 9080}}}]}}]
        }),
    )]);
    assert!(
        one(&t, "Gateway", "gw")
            .name
            .starts_with("tsb-gwt-unified-")
    );
    assert_eq!(
        one(&t, "VirtualService", "gw").spec["http"][0]["route"],
        json!([{"destination": {"host": "reviews.a.svc.cluster.local", "port": {"number": 9080}}}])
    );
}

#[test]
fn tier1_gateway_generates_listeners_only() {
    let t = run(vec![gateway(
        "Tier1Gateway",
        "edge",
        json!({
            "workloadSelector": selector("tier1"),
            "externalServers": [{"name": "shop", "hostname": "shop.example.com", "port": 443,
                                 "tls": {"mode": "SIMPLE", "secretName": "t1"}, "clusters": [{"name": "c2"}]}]
        }),
    )]);
    assert_eq!(t.objects.len(), 1);
    assert_eq!(
        one(&t, "Gateway", "gw").spec["servers"][0]["tls"],
        json!({"mode": "SIMPLE", "credentialName": "t1"})
    );
}

#[test]
fn egress_gateway_listener_and_authorization() {
    let t = run(vec![gateway(
        "EgressGateway",
        "out",
        json!({
            "workloadSelector": selector("egress"),
            "authorization": [
                {"from": {"mode": "WORKSPACE"}, "to": ["api.example.com"]},
                {"from": {"fqn": "organizations/acme/tenants/payments/workspaces/gone"}, "to": ["x.example.com"]}
            ]
        }),
    )]);
    assert_eq!(
        one(&t, "Gateway", "gw").spec,
        json!({"selector": {"app": "egress"}, "servers": [{
            "port": {"number": 15443, "name": "https-egress", "protocol": "HTTPS"},
            "hosts": ["*"], "tls": {"mode": "ISTIO_MUTUAL"}
        }]})
    );
    assert_eq!(
        one(&t, "AuthorizationPolicy", "gw").spec,
        json!({
            "selector": {"matchLabels": {"app": "egress"}},
            "action": "ALLOW",
            "rules": [{
                "from": [{"source": {"namespaces": ["a", "b", "gw", "legacy"]}}],
                "to": [{"operation": {"hosts": ["api.example.com", "api.example.com:*"]}}]
            }]
        })
    );
    // No authorization entry: the policy has no rule, so it denies everything.
    let t = run(vec![gateway(
        "EgressGateway",
        "closed",
        json!({"workloadSelector": selector("egress")}),
    )]);
    assert_eq!(
        one(&t, "AuthorizationPolicy", "gw").spec,
        json!({"selector": {"matchLabels": {"app": "egress"}}, "action": "ALLOW"})
    );
}

#[test]
fn gateways_outside_their_group_or_without_selector() {
    let t = run(vec![gateway(
        "IngressGateway",
        "misplaced",
        json!({"workloadSelector": {"namespace": "a", "labels": {"app": "x"}},
               "http": [{"name": "h", "port": 80, "hostname": "h.example.com"}]}),
    )]);
    assert!(t.objects.is_empty());
    let mut resources = super::hierarchy();
    resources.push(gateway(
        "IngressGateway",
        "portless",
        json!({"workloadSelector": selector("x"), "http": [{"name": "h", "hostname": "h.example.com"}]}),
    ));
    let t = super::translate_cluster(&super::c1(), &resources);
    assert_eq!(t.errors.len(), 1);
    assert_eq!(t.errors[0].1.field, "spec.http[0].port");
}
