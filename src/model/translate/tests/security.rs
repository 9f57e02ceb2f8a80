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
            json!({"mode": "CUSTOM", "serviceAccounts": ["a/reader", "b/*", "c/auditor"]})
        ),
        json!({"action": "ALLOW", "rules": [{"from": [
            {"source": {"namespaces": ["b"]}},
            {"source": {"principals": ["*/ns/a/sa/reader", "*/ns/c/sa/auditor"]}}
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
                {"from": {"fqn": "organizations/acme/tenants/payments/workspaces/gone"}, "to": {"fqn": sg}},
                // Not aimed at this group's namespaces.
                {"from": {"fqn": WS}, "to": {"fqn": format!("{WS}/gatewaygroups/gg")}}
            ],
            "deny": [{"from": {"fqn": format!("{WS}/trafficgroups/direct")}, "to": {"fqn": WS}}]
        }
    }));
    assert_eq!(
        spec,
        json!([
            {"action": "ALLOW", "rules": [{"from": [{"source": {"namespaces": ["a", "b", "gw", "legacy"]}}]}]},
            {"action": "DENY", "rules": [{"from": [{"source": {"namespaces": ["legacy"]}}]}]}
        ])
    );
    // Allow rules none of which reaches here: an ALLOW policy without rules, allowing nothing.
    assert_eq!(
        authorization(json!({"mode": "RULES", "rules": {"allow": [
            {"from": {"fqn": WS}, "to": {"fqn": format!("{WS}/gatewaygroups/gg")}}
        ]}})),
        json!({"action": "ALLOW"})
    );
    // No allow rule at all: the reference accepts every authenticated request.
    assert_eq!(
        authorization(json!({"mode": "RULES"})),
        json!({"action": "ALLOW", "rules": [{"from": [{"source": {"principals": ["*"]}}]}]})
    );
    // denyAll: one DENY rule without conditions, which matches every request.
    assert_eq!(
        authorization(json!({"mode": "RULES", "rules": {"denyAll": true}})),
        json!({"action": "DENY", "rules": [{}]})
    );
}

#[test]
fn custom_mode_reads_dot_as_the_protected_namespace() {
    assert_eq!(
        authorization(json!({"mode": "CUSTOM", "serviceAccounts": ["./*", "c/*"]})),
        json!({"action": "ALLOW", "rules": [{"from": [
            {"source": {"namespaces": ["a", "c"]}}
        ]}]})
    );
}

fn policies(t: &crate::model::translate::Translation, namespace: &str) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = find(t, "AuthorizationPolicy", namespace)
        .into_iter()
        .map(|p| (p.name.clone(), p.spec.clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn external_authorization_becomes_a_custom_policy_naming_a_provider_from_the_uri() {
    let t = run(vec![security_setting(
        json!({"authorization": {"http": {"external": {
            "uri": "grpc://opa.authz.svc.cluster.local:9191"
        }}}}),
    )]);
    for namespace in ["a", "b"] {
        let found = policies(&t, namespace);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].0.contains("-ext-authz-"), "{}", found[0].0);
        assert_eq!(
            found[0].1,
            json!({"action": "CUSTOM", "rules": [{}], "provider": {
                "name": "tsbridge-ext-authz-grpc-opa-authz-svc-cluster-local-9191"
            }})
        );
    }
}

#[test]
fn local_authorization_is_anded_with_the_mode_and_requires_a_token_with_jwt_rules() {
    let t = run(vec![security_setting(json!({
        "authenticationSettings": {"http": {"jwt": {"issuer": "https://id.example"}}},
        "authorization": {"mode": "NAMESPACE", "http": {"local": {"rules": [{
            "name": "readers",
            "from": [
                {"jwt": {"iss": "https://id.example", "sub": "alice"}},
                {"jwt": {"other": {"group": "admins"}}}
            ],
            "to": [{"paths": ["/books"], "methods": ["GET"]}]
        }]}}}
    }))]);
    let found = policies(&t, "a");
    let spec = |part: &str| {
        found
            .iter()
            .find(|(name, _)| name.contains(part))
            .map(|(_, spec)| spec.clone())
            .unwrap_or_else(|| panic!("{part} in {found:?}"))
    };
    let to = json!([{"operation": {"paths": ["/books"], "methods": ["GET"]}}]);
    assert_eq!(
        spec("tsb-ss-default-"),
        json!({"action": "ALLOW", "rules": [
            {"from": [{"source": {"namespaces": ["a"], "requestPrincipals": ["https://id.example/alice"]}}],
             "to": to},
            {"from": [{"source": {"namespaces": ["a"], "requestPrincipals": ["*"]}}],
             "to": to,
             "when": [{"key": "request.auth.claims[group]", "values": ["admins"]}]}
        ]})
    );
    // Only the ALLOW policy: a DENY on `notRequestPrincipals` would also deny TCP (IST0133).
    assert_eq!(found.len(), 1, "{found:?}");

    // A rule naming no subject still needs a token when JWT rules are set.
    let t = run(vec![security_setting(json!({
        "authenticationSettings": {"http": {"jwt": {"issuer": "https://id.example"}}},
        "authorization": {"http": {"local": {"rules": [{
            "name": "anyone-reads", "to": [{"methods": ["GET"]}]
        }]}}}
    }))]);
    assert_eq!(
        policies(&t, "a"),
        vec![(
            policies(&t, "a")[0].0.clone(),
            json!({"action": "ALLOW", "rules": [{
                "from": [{"source": {"requestPrincipals": ["*"]}}],
                "to": [{"operation": {"methods": ["GET"]}}]
            }]})
        )]
    );
}

#[test]
fn http_settings_are_inherited_from_defaults_and_replaced_by_the_group() {
    let tenant_setting = |spec: Value| {
        resource(&manifest(json!({
            "apiVersion": "tsb.tetrate.io/v2", "kind": "TenantSetting",
            "metadata": {"name": "default", "annotations": {
                "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}},
            "spec": {"defaultSecuritySetting": spec}
        })))
    };
    let defaults = json!({
        "authenticationSettings": {"http": {"jwt": {"issuer": "https://tenant.example"}}},
        "authorization": {"http": {"external": {"uri": "http://authz.shared:8080/check"}}}
    });
    // The group sets only a mode: both http blocks come from the tenant.
    let t = run(vec![
        tenant_setting(defaults.clone()),
        security_setting(json!({"authorization": {"mode": "GROUP"}})),
    ]);
    assert_eq!(
        one(&t, "RequestAuthentication", "a").spec["jwtRules"][0]["issuer"],
        "https://tenant.example"
    );
    let found = policies(&t, "a");
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found.iter().any(
            |(_, s)| s["provider"]["name"] == "tsbridge-ext-authz-http-authz-shared-8080-check"
        )
    );
    // The group's own blocks replace them.
    let t = run(vec![
        tenant_setting(defaults),
        security_setting(json!({
            "authenticationSettings": {"http": {"jwt": {"issuer": "https://group.example"}}},
            "authorization": {"http": {"external": {"uri": "https://opa.example"}}}
        })),
    ]);
    assert_eq!(
        one(&t, "RequestAuthentication", "a").spec["jwtRules"][0]["issuer"],
        "https://group.example"
    );
    assert_eq!(
        one(&t, "AuthorizationPolicy", "a").spec["provider"]["name"],
        "tsbridge-ext-authz-https-opa-example-443"
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
