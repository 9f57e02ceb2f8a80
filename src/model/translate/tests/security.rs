use serde_json::{Value, json};

use super::{WS, find, object, one, run};
use crate::model::Kind;
use crate::model::fixtures::{manifest, resource};
use crate::model::object::Resource;
use crate::model::resolve::ClusterNamespaces;
use crate::model::translate::translate_cluster;
use std::collections::BTreeSet;

const SS: &str = "security.tsb.tetrate.io/v2";

fn security_setting(spec: Value) -> Resource {
    object(
        SS,
        "SecuritySetting",
        "default",
        "securityGroup",
        "sg",
        spec,
    )
}

fn authorization(spec: Value) -> Value {
    let t = run(vec![security_setting(json!({"authorization": spec}))]);
    assert!(find(&t, "PeerAuthentication", "a").is_empty());
    let policies = find(&t, "AuthorizationPolicy", "a");
    match policies.as_slice() {
        [] => Value::Null,
        [one] => one.spec.clone(),
        many => {
            let mut specs: Vec<Value> = many.iter().map(|p| p.spec.clone()).collect();
            specs.sort_by_key(|s| s["action"].to_string());
            Value::Array(specs)
        }
    }
}

#[test]
fn traffic_modes_map_to_peer_authentication() {
    for (mode, expected) in [
        ("REQUIRED", Some("STRICT")),
        ("OPTIONAL", Some("PERMISSIVE")),
        ("UNSET", None),
    ] {
        let t = run(vec![security_setting(
            json!({"authenticationSettings": {"trafficMode": mode}}),
        )]);
        let found = find(&t, "PeerAuthentication", "b");
        match expected {
            Some(expected) => {
                assert_eq!(found.len(), 1, "{mode}");
                assert_eq!(found[0].spec, json!({"mtls": {"mode": expected}}));
                assert_eq!(found[0].api_version, "security.istio.io/v1");
            }
            None => assert!(found.is_empty(), "{mode}"),
        }
    }
    // The deprecated field counts when the new one is unset.
    let t = run(vec![security_setting(
        json!({"authentication": "REQUIRED"}),
    )]);
    assert_eq!(
        one(&t, "PeerAuthentication", "a").spec["mtls"]["mode"],
        "STRICT"
    );
}

#[test]
fn authorization_modes_map_to_allow_policies() {
    let from =
        |source: Value| json!({"action": "ALLOW", "rules": [{"from": [{"source": source}]}]});
    assert_eq!(
        authorization(json!({"mode": "NAMESPACE"})),
        from(json!({"namespaces": ["a"]}))
    );
    assert_eq!(
        authorization(json!({"mode": "GROUP"})),
        from(json!({"namespaces": ["a", "b"]}))
    );
    assert_eq!(
        authorization(json!({"mode": "WORKSPACE"})),
        from(json!({"namespaces": ["a", "b", "gw", "legacy"]}))
    );
    assert_eq!(
        authorization(json!({"mode": "CLUSTER"})),
        from(json!({"principals": ["*"]}))
    );
    assert_eq!(
        authorization(
            json!({"mode": "CUSTOM", "serviceAccounts": ["a/reader", "b/*", "*/auditor"]})
        ),
        json!({"action": "ALLOW", "rules": [{"from": [
            {"source": {"namespaces": ["b"]}},
            {"source": {"principals": ["*/ns/a/sa/reader", "*/sa/auditor"]}}
        ]}]})
    );
    assert_eq!(authorization(json!({"mode": "DISABLED"})), Value::Null);
}

#[test]
fn rules_mode_allows_only_listed_sources() {
    let sg = format!("{WS}/securitygroups/sg");
    let spec = authorization(json!({
        "mode": "RULES",
        "rules": {
            "allow": [
                {"from": {"fqn": WS}, "to": {"fqn": sg}},
                // Names nothing in this cluster: dropped, never widened to "everybody".
                {"from": {"fqn": "organizations/acme/tenants/payments/workspaces/gone"}},
                // Not aimed at this group's namespaces.
                {"from": {"fqn": WS}, "to": {"fqn": format!("{WS}/gatewaygroups/gg")}}
            ],
            "deny": [{"from": {"fqn": format!("{WS}/trafficgroups/direct")}}]
        }
    }));
    assert_eq!(
        spec,
        json!([
            {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": ["a", "b", "gw", "legacy"]}}]}]},
            {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["legacy"]}}]}]}
        ])
    );
    // No applicable allow rule: an ALLOW policy without rules, which allows nothing.
    assert_eq!(
        authorization(json!({"mode": "RULES"})),
        json!({"action": "ALLOW"})
    );
}

#[test]
fn stricter_defaults_cannot_be_loosened() {
    let tenant_setting = resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2", "kind": "TenantSetting",
        "metadata": {"name": "default", "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}},
        "spec": {"defaultSecuritySetting": {
            "propagationStrategy": "STRICTER",
            "authenticationSettings": {"trafficMode": "REQUIRED"},
            "authorization": {"mode": "GROUP"}
        }}
    })));
    let t = run(vec![
        tenant_setting.clone(),
        security_setting(json!({
            "authenticationSettings": {"trafficMode": "OPTIONAL"},
            "authorization": {"mode": "CLUSTER"}
        })),
    ]);
    assert_eq!(
        one(&t, "PeerAuthentication", "a").spec["mtls"]["mode"],
        "STRICT"
    );
    assert_eq!(
        one(&t, "AuthorizationPolicy", "a").spec["rules"][0]["from"][0]["source"],
        json!({"namespaces": ["a", "b"]})
    );
    // Without STRICTER the group's setting replaces the default.
    let mut replace = tenant_setting;
    if let crate::model::Spec::TenantSetting(s) = &mut replace.spec {
        s.default_security_setting
            .as_mut()
            .unwrap()
            .propagation_strategy = None;
    }
    let t = run(vec![
        replace,
        security_setting(json!({"authenticationSettings": {"trafficMode": "OPTIONAL"}})),
    ]);
    assert_eq!(
        one(&t, "PeerAuthentication", "a").spec["mtls"]["mode"],
        "PERMISSIVE"
    );
    // The inherited authorization still applies when the group's setting leaves it out.
    assert_eq!(
        one(&t, "AuthorizationPolicy", "a").spec["rules"][0]["from"][0]["source"]["namespaces"],
        json!(["a", "b"])
    );
}

/// `authenticationSettings.http` → a RequestAuthentication per namespace of the group, its
/// jwtRules TSB's JWT rules field by field; `jwt` and `rules.jwt` alike.
#[test]
fn jwt_authentication_becomes_a_request_authentication_in_every_namespace_of_the_group() {
    let mut resources = super::every_kind();
    let setting = resources
        .iter_mut()
        .find(|r| r.kind == Kind::SecuritySetting)
        .expect("a SecuritySetting");
    let crate::model::spec::Spec::SecuritySetting(spec) = &mut setting.spec else {
        panic!("a SecuritySetting spec")
    };
    let http: crate::model::spec::security::HttpAuthentication =
        serde_json::from_value(json!({"rules": {"jwt": [
            {"issuer": "https://id.example", "audiences": ["shop"], "jwksUri": "https://id.example/jwks",
             "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}]},
            {"issuer": "svc@example", "jwks": "{\"keys\":[]}",
             "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}], "outputPayloadToHeader": "x-payload"}
        ]}}))
        .expect("typed");
    spec.authentication_settings
        .get_or_insert_with(Default::default)
        .http = Some(http);
    let cluster = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: BTreeSet::from(["bookinfo".to_string()]),
        ..Default::default()
    };
    let t = translate_cluster(&cluster, &resources);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    let ra = one(&t, "RequestAuthentication", "bookinfo");
    assert_eq!(ra.api_version, "security.istio.io/v1");
    assert_eq!(
        ra.spec,
        json!({"jwtRules": [
            {"issuer": "https://id.example", "audiences": ["shop"], "jwksUri": "https://id.example/jwks",
             "outputClaimToHeaders": [{"header": "x-user", "claim": "sub"}]},
            {"issuer": "svc@example", "jwks": "{\"keys\":[]}",
             "fromHeaders": [{"name": "x-jwt", "prefix": "Bearer "}], "outputPayloadToHeader": "x-payload"}
        ]})
    );
    assert!(
        ra.spec.get("selector").is_none(),
        "namespace-wide, as the group's other policies"
    );
}
