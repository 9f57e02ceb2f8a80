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
            "tcp": [{"name": "db", "port": 5432, "hostname": "db.example.com", "route": {"host": "a/db.a.svc.cluster.local", "port": 5432}}],
            "tlsPassthrough": [{"name": "mq", "port": 8443, "hostname": "mq.example.com",
                                "route": {"host": "b/mq.b.svc.cluster.local", "port": 8443}}]
        }),
    )]);
    let servers = &one(&t, "Gateway", "gw").spec["servers"];
    assert_eq!(
        servers,
        &json!([
            {"port": {"number": 5432, "name": "tcp-db", "protocol": "TCP"}, "hosts": ["db.example.com"]},
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
                {"from": {"mode": "CUSTOM", "serviceAccounts": ["a/client", "b/*"]}, "to": ["x.example.com"]},
                {"from": {"mode": "DISABLED"}, "to": ["dropped.example.com"]}
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
            }, {
                "from": [{"source": {"principals": ["*/ns/a/sa/client"]}}, {"source": {"namespaces": ["b"]}}],
                "to": [{"operation": {"hosts": ["x.example.com", "x.example.com:*"]}}]
            }]
        })
    );
    // Each allowed host gets a ServiceEntry, a VirtualService and a DestinationRule.
    let entries = find(&t, "ServiceEntry", "gw");
    let hosts: Vec<&Value> = entries.iter().map(|e| &e.spec["hosts"][0]).collect();
    assert_eq!(hosts, [&json!("api.example.com"), &json!("x.example.com")]);
    assert_eq!(find(&t, "DestinationRule", "gw").len(), 2);
    assert_eq!(
        find(&t, "DestinationRule", "gw")[0].spec["trafficPolicy"],
        json!({"tls": {"mode": "SIMPLE", "sni": "api.example.com",
                       "caCertificates": "/etc/ssl/certs/ca-certificates.crt"}})
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
fn gateways_outside_their_group_translate_nothing() {
    let t = run(vec![gateway(
        "IngressGateway",
        "misplaced",
        json!({"workloadSelector": {"namespace": "a", "labels": {"app": "x"}},
               "http": [{"name": "h", "port": 80, "hostname": "h.example.com",
                         "routing": {"rules": [{"route": {"host": "a/h.a.svc.cluster.local"}}]}}]}),
    )]);
    assert!(t.objects.is_empty());
}

/// An HTTP server with one rule, in the unified Gateway's shape.
fn unified_http(rule: Value, extra: Value) -> Value {
    let mut server = json!({"name": "web", "port": 80, "hostname": "web.example.com",
                            "routing": {"rules": [rule]}});
    if let (Some(server), Some(extra)) = (server.as_object_mut(), extra.as_object()) {
        server.extend(extra.clone());
    }
    json!({"workloadSelector": selector("web"), "http": [server]})
}

#[test]
fn http_rules_carry_rewrites_headers_redirects_and_cors() {
    let rule = json!({
        "match": [{"uri": {"prefix": "/v1"}, "headers": {"x-canary": {"exact": "yes"}}}],
        "modify": {
            "rewrite": {"uri": "/", "authority": "internal.example.com"},
            "headers": {"request": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]},
                        "response": {"remove": ["server"]}}
        },
        "route": {"serviceDestination": {"host": "a/web.a.svc.cluster.local", "port": 8080}}
    });
    let cors = json!({"routing": {"rules": [rule], "corsPolicy": {
        "allowOrigin": ["*", "https://shop.example.com"], "allowMethods": ["GET"],
        "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"], "maxAge": "24h", "allowCredentials": true
    }}});
    let t = run(vec![gateway(
        "Gateway",
        "web",
        unified_http(json!({}), cors),
    )]);
    let http = &one(&t, "VirtualService", "gw").spec["http"];
    assert_eq!(
        http,
        &json!([{
            "match": [{"uri": {"prefix": "/v1"}, "headers": {"x-canary": {"exact": "yes"}}}],
            "route": [{"destination": {"host": "web.a.svc.cluster.local", "port": {"number": 8080}}}],
            "rewrite": {"uri": "/", "authority": "internal.example.com"},
            "headers": {"request": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c"]},
                        "response": {"remove": ["server"]}},
            "corsPolicy": {"allowOrigins": [{"regex": ".*"}, {"exact": "https://shop.example.com"}],
                           "allowMethods": ["GET"], "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"],
                           "maxAge": "24h", "allowCredentials": true}
        }])
    );
    let redirect = json!({"redirect": {"scheme": "https", "port": 443, "redirectCode": 302, "authority": "web.example.com", "uri": "/"}});
    let t = run(vec![gateway(
        "Gateway",
        "web",
        unified_http(redirect, json!({})),
    )]);
    assert_eq!(
        one(&t, "VirtualService", "gw").spec["http"],
        json!([{"redirect": {"scheme": "https", "port": 443, "redirectCode": 302, "authority": "web.example.com", "uri": "/"}}])
    );
}

#[test]
fn server_tls_modes() {
    let tls = |tls: Value| {
        let spec = unified_http(
            json!({"route": {"serviceDestination": {"host": "a/web.a.svc.cluster.local"}}}),
            json!({"tls": tls}),
        );
        let t = run(vec![gateway("Gateway", "web", spec)]);
        one(&t, "Gateway", "gw").spec["servers"][0].clone()
    };
    let mutual = tls(
        json!({"mode": "MUTUAL", "secretName": "web-certs", "subjectAltNames": ["client.example.com"],
                            "minProtocolVersion": "TLSV1_2", "maxProtocolVersion": "TLSV1_3",
                            "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256"]}),
    );
    assert_eq!(mutual["port"]["protocol"], "HTTPS");
    assert_eq!(
        mutual["tls"],
        json!({"mode": "MUTUAL", "credentialName": "web-certs", "subjectAltNames": ["client.example.com"],
               "minProtocolVersion": "TLSV1_2", "maxProtocolVersion": "TLSV1_3",
               "cipherSuites": ["ECDHE-RSA-AES128-GCM-SHA256"]})
    );
    let files = tls(
        json!({"mode": "SIMPLE", "files": {"serverCertificate": "/c.pem", "privateKey": "/k.pem"}}),
    );
    assert_eq!(
        files["tls"],
        json!({"mode": "SIMPLE", "serverCertificate": "/c.pem", "privateKey": "/k.pem"})
    );
    let disabled = tls(json!({"mode": "DISABLED"}));
    assert_eq!(disabled["port"]["protocol"], "HTTP");
    assert!(disabled.get("tls").is_none());
}

/// A ServiceRoute of `a/reviews` splitting `v1_weight` to v1 and the rest to v2.
fn reviews_route(v1_weight: u32) -> Resource {
    object(
        "traffic.tsb.tetrate.io/v2",
        "ServiceRoute",
        "reviews",
        "trafficGroup",
        "tg",
        json!({"service": "a/reviews.a.svc.cluster.local", "subsets": [
            {"name": "v1", "labels": {"version": "v1"}, "weight": v1_weight},
            {"name": "v2", "labels": {"version": "v2"}, "weight": 100 - v1_weight}
        ]}),
    )
}

#[test]
fn gateway_routes_split_over_the_service_route_subsets() {
    let route = reviews_route(80);
    let gw = gateway(
        "IngressGateway",
        "shop",
        json!({"workloadSelector": selector("shop"),
               "http": [{"name": "reviews", "port": 80, "hostname": "reviews.example.com",
                         "routing": {"rules": [{"route": {"host": "a/reviews.a.svc.cluster.local", "port": 9080}}]}}],
               "tcp": [{"name": "db", "port": 5432, "hostname": "db.example.com",
                        "route": {"host": "b/db.b.svc.cluster.local"}}]}),
    );
    let t = run(vec![route, gw]);
    let services = find(&t, "VirtualService", "gw");
    let http = services
        .iter()
        .find(|v| v.spec.get("http").is_some())
        .unwrap();
    assert_eq!(
        http.spec["http"][0]["route"],
        json!([
            {"destination": {"host": "reviews.a.svc.cluster.local", "subset": "v1", "port": {"number": 9080}}, "weight": 80},
            {"destination": {"host": "reviews.a.svc.cluster.local", "subset": "v2", "port": {"number": 9080}}, "weight": 20}
        ])
    );
    // No ServiceRoute for this service: one destination.
    let tcp = services
        .iter()
        .find(|v| v.spec.get("tcp").is_some())
        .unwrap();
    assert_eq!(
        tcp.spec["tcp"][0]["route"],
        json!([{"destination": {"host": "db.b.svc.cluster.local"}}])
    );
}

#[test]
fn server_authentication_and_authorization_become_gateway_policies() {
    let spec = json!({
        "workloadSelector": selector("shop"),
        "http": [
            {"name": "api", "port": 443, "hostname": "api.example.com",
             "tls": {"mode": "SIMPLE", "secretName": "api"},
             "authentication": {"jwt": {"issuer": "https://id.example.com", "jwksUri": "https://id.example.com/jwks"}},
             "authorization": {"local": {"rules": [{"name": "admins",
                 "from": [{"jwt": {"iss": "https://id.example.com", "sub": "alice", "other": {"group": "admin"}}}],
                 "to": [{"paths": ["/admin/*"], "methods": ["POST"]}]}]}},
             "routing": {"rules": [{"route": {"host": "a/api.a.svc.cluster.local"}}]}},
            {"name": "ext", "port": 8443, "hostname": "ext.example.com",
             "tls": {"mode": "SIMPLE", "secretName": "ext"},
             "authorization": {"external": {"uri": "grpc://authz.auth.svc.cluster.local:9000"}},
             "routing": {"rules": [{"route": {"host": "a/ext.a.svc.cluster.local"}}]}}
        ]
    });
    let t = run(vec![gateway("IngressGateway", "shop", spec)]);
    let ra = one(&t, "RequestAuthentication", "gw");
    assert_eq!(
        ra.spec,
        json!({"selector": {"matchLabels": {"app": "shop"}},
               "jwtRules": [{"issuer": "https://id.example.com", "jwksUri": "https://id.example.com/jwks"}]})
    );
    let policies = find(&t, "AuthorizationPolicy", "gw");
    let allow = policies
        .iter()
        .find(|p| p.spec["action"] == "ALLOW")
        .unwrap();
    assert_eq!(
        allow.spec["rules"],
        json!([
            {"from": [{"source": {"requestPrincipals": ["https://id.example.com/alice"]}}],
             "to": [{"operation": {"hosts": ["api.example.com", "api.example.com:*"], "paths": ["/admin/*"], "methods": ["POST"]}}],
             "when": [{"key": "request.auth.claims[group]", "values": ["admin"]}]},
            {"to": [{"operation": {"notHosts": ["api.example.com", "api.example.com:*"]}}]}
        ])
    );
    let custom = policies
        .iter()
        .find(|p| p.spec["action"] == "CUSTOM")
        .unwrap();
    assert_eq!(
        custom.spec,
        json!({"selector": {"matchLabels": {"app": "shop"}}, "action": "CUSTOM",
               "provider": {"name": "tsbridge-ext-authz-grpc-authz-auth-svc-cluster-local-9000"},
               "rules": [{"to": [{"operation": {"hosts": ["ext.example.com", "ext.example.com:*"]}}]}]})
    );
}

#[test]
fn a_service_route_subset_change_reaches_every_gateway_by_kind() {
    use crate::model::kind::Kind;
    use crate::model::translate::service_route_split_changed as changed;
    use crate::model::translate::{influenced_roots, stale_readers};
    let (before, after) = (reviews_route(80), reviews_route(50));
    // Created, re-weighted, deleted: what reads ServiceRoutes translates again...
    assert!(changed(None, Some(&after)));
    assert!(changed(Some(&before), Some(&after)));
    assert!(changed(Some(&before), None));
    assert!(!changed(Some(&before), Some(&before)));
    let readers = stale_readers(Some(&before), Some(&after));
    for kind in [
        Kind::IngressGateway,
        Kind::UnifiedGateway,
        Kind::ServiceSecuritySetting,
    ] {
        assert!(readers.contains(&kind), "{kind:?}");
    }
    assert!(!readers.contains(&Kind::ServiceRoute));
    // ...found by kind, not as the organization's subtree (every ServiceRoute in it).
    assert!(influenced_roots(Some(&before), Some(&after)).is_empty());
}

#[test]
fn a_service_destination_tls_becomes_a_destination_rule_on_the_gateway_pods() {
    let rule = json!({"route": {"serviceDestination": {
        "host": "a/reviews.a.svc.cluster.local", "port": 9443,
        "tls": {"mode": "SIMPLE", "secretName": "reviews-ca", "subjectAltNames": ["reviews"]}
    }}});
    let t = run(vec![
        reviews_route(70),
        gateway("Gateway", "web", unified_http(rule, json!({}))),
    ]);
    let rules = find(&t, "DestinationRule", "gw");
    assert_eq!(rules.len(), 1);
    assert_eq!(
        rules[0].spec,
        json!({
            "host": "reviews.a.svc.cluster.local",
            "exportTo": ["."],
            "workloadSelector": {"matchLabels": {"app": "web"}},
            "trafficPolicy": {"tls": {"mode": "SIMPLE", "credentialName": "reviews-ca", "subjectAltNames": ["reviews"]}},
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]
        })
    );
}

#[test]
fn routes_without_external_authorization_become_not_paths_where_exact() {
    let route = json!({"serviceDestination": {"host": "a/web.a.svc.cluster.local"}});
    let spec = json!({
        "workloadSelector": selector("web"),
        "http": [{"name": "web", "port": 80, "hostname": "web.example.com",
                  "authorization": {"external": {"uri": "grpc://authz:9000"}},
                  "routing": {"rules": [
                      {"match": [{"uri": {"prefix": "/admin"}}], "route": route},
                      // Skipped: nothing earlier can match these paths.
                      {"match": [{"uri": {"prefix": "/public"}}, {"uri": {"exact": "/health"}}],
                       "route": route, "disableExternalAuthorization": true},
                      // Kept: /admin/open is routed by the checked /admin rule first.
                      {"match": [{"uri": {"exact": "/admin/open"}}], "route": route,
                       "disableExternalAuthorization": true},
                      // Kept: a header match cannot be a path.
                      {"match": [{"headers": {"x-open": {"exact": "1"}}}], "route": route,
                       "disableExternalAuthorization": true}
                  ]}}]
    });
    let t = run(vec![gateway("Gateway", "web", spec)]);
    assert_eq!(
        one(&t, "AuthorizationPolicy", "gw").spec["rules"],
        json!([{"to": [{"operation": {"hosts": ["web.example.com", "web.example.com:*"],
                                      "notPaths": ["/public*", "/health"]}}]}])
    );
}
