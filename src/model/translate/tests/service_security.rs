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
