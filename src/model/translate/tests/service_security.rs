//! ServiceSecuritySetting: policies selecting the Service's workloads, from the cluster's
//! service inventory; nothing (and a warning) where the cluster lacks the Service.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{c1, find, hierarchy, object, one};
use crate::model::object::Resource;
use crate::model::resolve::{ClusterNamespaces, ClusterService, ServicePort};
use crate::model::translate::{Translation, translate_cluster};

/// A Service `name` in `namespace` selecting `app: <name>`, with one HTTP port.
pub(crate) fn service(namespace: &str, name: &str) -> ClusterService {
    ClusterService {
        name: name.into(),
        namespace: namespace.into(),
        ports: vec![ServicePort {
            name: "http".into(),
            port: 9080,
            protocol: "TCP".into(),
            app_protocol: None,
        }],
        selector: BTreeMap::from([("app".to_string(), name.to_string())]),
    }
}

fn setting(namespace: &str, settings: Value) -> Resource {
    let service = format!("{namespace}/details.{namespace}.svc.cluster.local");
    object(
        "security.tsb.tetrate.io/v2",
        "ServiceSecuritySetting",
        "details",
        "securityGroup",
        "sg",
        json!({"service": service, "settings": settings}),
    )
}

fn translate_in(cluster: &ClusterNamespaces, extra: Resource) -> Translation {
    let mut resources = hierarchy();
    resources.push(extra);
    let t = translate_cluster(cluster, &resources);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    t
}

fn with_details() -> ClusterNamespaces {
    c1().with_services([service("a", "details"), service("b", "details")])
}

#[test]
fn authorization_selects_the_service_workloads_instead_of_hosts() {
    let t = translate_in(
        &with_details(),
        setting("a", json!({"authorization": {"mode": "NAMESPACE"}})),
    );
    let policies = find(&t, "AuthorizationPolicy", "a");
    assert_eq!(policies.len(), 2, "{policies:#?}");
    let selector = json!({"matchLabels": {"app": "details"}});
    let deny = policies
        .iter()
        .find(|p| p.spec["action"] == "DENY")
        .expect("a DENY policy");
    assert!(deny.name.starts_with("tsb-sss-details-"));
    assert_eq!(
        deny.spec,
        json!({"selector": selector, "action": "DENY",
               "rules": [{"from": [{"source": {"notNamespaces": ["a"]}}]}]})
    );
    let allow = policies
        .iter()
        .find(|p| p.spec["action"] == "ALLOW")
        .expect("an ALLOW policy");
    assert_eq!(
        allow.spec,
        json!({"selector": selector, "action": "ALLOW",
               "rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]})
    );
    assert!(
        t.objects.values().all(|o| o.spec["selector"] == selector),
        "never namespace-wide"
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
    // CLUSTER denies unauthenticated callers only.
    let t = translate_in(
        &with_details(),
        setting("b", json!({"authorization": {"mode": "CLUSTER"}})),
    );
    let deny = find(&t, "AuthorizationPolicy", "b")
        .into_iter()
        .find(|p| p.spec["action"] == "DENY")
        .expect("a DENY policy");
    assert_eq!(
        deny.spec["rules"][0]["from"],
        json!([{"source": {"notPrincipals": ["*"]}}])
    );
}

#[test]
fn traffic_mode_and_jwt_select_the_service_workloads() {
    let t = translate_in(
        &with_details(),
        setting(
            "a",
            json!({"authenticationSettings": {
                "trafficMode": "REQUIRED",
                "http": {"jwt": {"issuer": "https://id.example", "jwksUri": "https://id.example/jwks"}}
            }}),
        ),
    );
    let selector = json!({"matchLabels": {"app": "details"}});
    assert_eq!(
        one(&t, "PeerAuthentication", "a").spec,
        json!({"selector": selector, "mtls": {"mode": "STRICT"}})
    );
    assert_eq!(
        one(&t, "RequestAuthentication", "a").spec,
        json!({"selector": selector, "jwtRules": [
            {"issuer": "https://id.example", "jwksUri": "https://id.example/jwks"}
        ]})
    );
    assert!(find(&t, "AuthorizationPolicy", "a").is_empty());
}

#[test]
fn a_service_the_cluster_lacks_generates_nothing_and_says_so() {
    for cluster in [c1(), c1().with_services([service("b", "details")])] {
        let t = translate_in(
            &cluster,
            setting(
                "a",
                json!({"authenticationSettings": {"trafficMode": "REQUIRED"},
                       "authorization": {"mode": "NAMESPACE"}}),
            ),
        );
        assert!(t.objects.is_empty(), "{:#?}", t.objects);
        assert_eq!(t.warnings.len(), 1);
        let (fqn, warning) = &t.warnings[0];
        assert!(
            fqn.ends_with("securitygroups/sg/servicesettings/details"),
            "{fqn}"
        );
        assert_eq!(warning.rule.code(), "TSB1106");
        assert!(
            warning
                .message
                .contains("a/details.a.svc.cluster.local is not a Service of cluster c1"),
            "{}",
            warning.message
        );
    }
}

#[test]
fn a_service_without_selector_generates_nothing_and_says_so() {
    let mut headless = service("a", "details");
    headless.selector.clear();
    let t = translate_in(
        &c1().with_services([headless]),
        setting("a", json!({"authorization": {"mode": "NAMESPACE"}})),
    );
    assert!(t.objects.is_empty(), "{:#?}", t.objects);
    assert!(
        t.warnings[0].1.message.contains("has no spec.selector"),
        "{:?}",
        t.warnings
    );
}

#[test]
fn services_are_found_by_every_host_form() {
    let cluster = c1().with_services([service("a", "details")]);
    for host in [
        "details",
        "details.a",
        "details.a.svc",
        "details.a.svc.cluster.local",
    ] {
        assert!(cluster.service("a", host).is_some(), "{host}");
    }
    for (namespace, host) in [
        ("a", "details.b.svc.cluster.local"),
        ("b", "details.b.svc.cluster.local"),
        ("a", "details.a.svc.example.com"),
        ("a", "reviews.a.svc.cluster.local"),
        ("a", ".a"),
    ] {
        assert!(
            cluster.service(namespace, host).is_none(),
            "{namespace}/{host}"
        );
    }
}

/// A ServiceSecuritySetting for `a/details` with service-wide `settings` and `subsets`, and
/// the details ServiceRoute with subsets v1 and v2 (`version` labels).
fn with_subsets(settings: Value, subsets: Value) -> Translation {
    let sss = object(
        "security.tsb.tetrate.io/v2",
        "ServiceSecuritySetting",
        "details",
        "securityGroup",
        "sg",
        json!({"service": "a/details.a.svc.cluster.local", "settings": settings,
               "subsets": subsets}),
    );
    let route = object(
        "traffic.tsb.tetrate.io/v2",
        "ServiceRoute",
        "details",
        "trafficGroup",
        "tg",
        json!({"service": "a/details.a.svc.cluster.local", "subsets": [
            {"name": "v1", "labels": {"version": "v1"}, "weight": 50},
            {"name": "v2", "labels": {"version": "v2"}, "weight": 50}]}),
    );
    let mut resources = hierarchy();
    resources.extend([sss, route]);
    let t = translate_cluster(&with_details(), &resources);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    t
}

/// The policies of `kind` in `a` selecting exactly `labels`.
fn selecting<'t>(t: &'t Translation, kind: &str, labels: Value) -> Vec<&'t Value> {
    find(t, kind, "a")
        .into_iter()
        .filter(|o| o.spec["selector"]["matchLabels"] == labels)
        .map(|o| &o.spec)
        .collect()
}

/// The rules of the one ALLOW policy selecting exactly `labels`.
fn allow_rules(t: &Translation, labels: Value) -> Value {
    let allow: Vec<&Value> = selecting(t, "AuthorizationPolicy", labels)
        .into_iter()
        .filter(|p| p["action"] == "ALLOW")
        .collect();
    assert_eq!(allow.len(), 1, "{allow:#?}");
    allow[0]["rules"].clone()
}

fn warning_fields(t: &Translation) -> Vec<&str> {
    t.warnings.iter().map(|(_, d)| d.field.as_str()).collect()
}

#[test]
fn a_subset_narrows_the_service_with_the_labels_of_its_serviceroute_subset() {
    let t = with_subsets(
        json!({"authorization": {"mode": "GROUP"}}),
        json!([{"name": "v1", "settings": {"authorization": {"mode": "NAMESPACE"}}},
               {"name": "v3", "settings": {"authorization": {"mode": "NAMESPACE"}}}]),
    );
    let v1 = selecting(
        &t,
        "AuthorizationPolicy",
        json!({"app": "details", "version": "v1"}),
    );
    assert_eq!(v1.len(), 2, "{v1:#?}");
    assert!(v1.contains(&&json!({
        "selector": {"matchLabels": {"app": "details", "version": "v1"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"namespaces": ["a"]}}]}]})));
    assert!(v1.contains(&&json!({
        "selector": {"matchLabels": {"app": "details", "version": "v1"}}, "action": "DENY",
        "rules": [{"from": [{"source": {"notNamespaces": ["a"]}}]}]})));
    // The service-wide pair stays, and v3 (not in the ServiceRoute) gets nothing but a warning.
    assert_eq!(
        selecting(&t, "AuthorizationPolicy", json!({"app": "details"})).len(),
        2
    );
    assert_eq!(find(&t, "AuthorizationPolicy", "a").len(), 4);
    assert_eq!(warning_fields(&t), ["spec.subsets[1].name"]);
    assert!(t.warnings[0].1.message.contains("\"v3\""));
}

#[test]
fn what_a_subset_cannot_express_over_the_service_is_reported() {
    let t = with_subsets(
        json!({"authenticationSettings": {"trafficMode": "REQUIRED"},
               "authorization": {"mode": "NAMESPACE",
                   "http": {"external": {"uri": "grpc://opa.a.svc.cluster.local:9191"}}}}),
        json!([{"name": "v1", "settings": {
            "authenticationSettings": {"trafficMode": "OPTIONAL"},
            "authorization": {"mode": "GROUP",
                "http": {"external": {"uri": "grpc://other.a.svc.cluster.local:9191"}}}}}]),
    );
    let v1 = json!({"app": "details", "version": "v1"});
    // Two PeerAuthentications or two CUSTOM providers on the same pods are not valid Istio.
    assert!(selecting(&t, "PeerAuthentication", v1.clone()).is_empty());
    let custom: Vec<&Value> = selecting(&t, "AuthorizationPolicy", v1)
        .into_iter()
        .filter(|p| p["action"] == "CUSTOM")
        .collect();
    assert!(custom.is_empty(), "{custom:#?}");
    let service = selecting(&t, "AuthorizationPolicy", json!({"app": "details"}));
    assert!(service.contains(&&json!({
        "selector": {"matchLabels": {"app": "details"}}, "action": "CUSTOM",
        "provider": {"name": "tsbridge-ext-authz-grpc-opa-a-svc-cluster-local-9191"},
        "rules": [{}]})));
    let mut fields = warning_fields(&t);
    fields.sort();
    assert_eq!(
        fields,
        [
            "spec.subsets[0].settings.authenticationSettings.trafficMode",
            "spec.subsets[0].settings.authorization",
            "spec.subsets[0].settings.authorization.http.external",
        ]
    );
}

#[test]
fn below_a_stricter_service_a_subset_may_only_tighten() {
    let t = with_subsets(
        json!({"propagationStrategy": "STRICTER", "authorization": {"mode": "NAMESPACE"}}),
        json!([{"name": "v1", "settings": {"authorization": {"mode": "CLUSTER"}}}]),
    );
    // CLUSTER is looser than NAMESPACE: the subset keeps the service's mode.
    assert_eq!(
        allow_rules(&t, json!({"app": "details", "version": "v1"})),
        json!([{"from": [{"source": {"namespaces": ["a"]}}]}])
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn local_rules_join_the_service_allow_policy_and_ask_for_a_token_under_jwt_rules() {
    let t = with_subsets(
        json!({
            "authenticationSettings": {"http": {"jwt": {"issuer": "https://id.example",
                "jwksUri": "https://id.example/jwks"}}},
            "authorization": {"mode": "NAMESPACE", "http": {"local": {"rules": [
                {"name": "read", "to": [{"methods": ["GET"]}]}]}}}
        }),
        json!([]),
    );
    assert_eq!(
        allow_rules(&t, json!({"app": "details"})),
        json!([{"from": [{"source": {"namespaces": ["a"], "requestPrincipals": ["*"]}}],
                "to": [{"operation": {"methods": ["GET"]}}]}])
    );
    assert!(
        find(&t, "AuthorizationPolicy", "a")
            .iter()
            .all(|p| p.spec["selector"]["matchLabels"] == json!({"app": "details"})),
        "no namespace-wide DENY on notRequestPrincipals"
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn a_serviceroute_subset_change_retranslates_the_service_settings() {
    use crate::model::translate::{service_route_split_changed, stale_readers};
    let route = |labels: Value| {
        object(
            "traffic.tsb.tetrate.io/v2",
            "ServiceRoute",
            "details",
            "trafficGroup",
            "tg",
            json!({"service": "a/details.a.svc.cluster.local",
                   "subsets": [{"name": "v1", "labels": labels}]}),
        )
    };
    let before = route(json!({"version": "v1"}));
    let after = route(json!({"version": "v1-canary"}));
    assert!(service_route_split_changed(Some(&before), Some(&after)));
    let readers = stale_readers(Some(&before), Some(&after));
    assert!(readers.contains(&setting("a", json!({})).kind));
}

#[test]
fn subset_jwt_rules_and_local_rules_that_the_service_would_widen_are_reported() {
    let jwt =
        json!({"jwt": {"issuer": "https://id.example", "jwksUri": "https://id.example/jwks"}});
    let t = with_subsets(
        json!({"authenticationSettings": {"http": jwt},
               "authorization": {"mode": "NAMESPACE"}}),
        json!([{"name": "v2", "settings": {
            "authenticationSettings": {"http": jwt},
            "authorization": {"http": {"local": {"rules": [
                {"name": "read", "to": [{"methods": ["GET"]}]}]}}}}}]),
    );
    let v2 = json!({"app": "details", "version": "v2"});
    assert_eq!(selecting(&t, "RequestAuthentication", v2.clone()).len(), 1);
    // The subset keeps the service's mode, ANDed with its own local rules.
    assert_eq!(
        allow_rules(&t, v2),
        json!([{"from": [{"source": {"namespaces": ["a"], "requestPrincipals": ["*"]}}],
                "to": [{"operation": {"methods": ["GET"]}}]}])
    );
    let mut fields = warning_fields(&t);
    fields.sort();
    assert_eq!(
        fields,
        [
            "spec.subsets[0].settings.authenticationSettings.http",
            "spec.subsets[0].settings.authorization.http.local",
        ]
    );
}
