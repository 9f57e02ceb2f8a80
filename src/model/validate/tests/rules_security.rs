//! SecuritySetting and auth message rules (`validate::rules_security`).

use serde_json::{Value, json};

use super::*;

/// A SecuritySetting (the TrafficSetting fixture moved to a security group) with `spec`.
fn security_setting(spec: Value) -> KubeObject {
    let mut ss = fixtures::traffic_setting();
    ss.api_version = "security.tsb.tetrate.io/v2".into();
    ss.kind = "SecuritySetting".into();
    let annotations = &mut ss.metadata.annotations;
    let group = annotations
        .remove("tsb.tetrate.io/trafficGroup")
        .expect("a traffic group annotation");
    annotations.insert("tsb.tetrate.io/securityGroup".into(), group);
    ss.spec = spec;
    ss
}

fn found(spec: Value) -> Vec<(RuleCode, String)> {
    let mut out = errors(&validate_object(&security_setting(spec)));
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

#[test]
fn authorization_rules_service_accounts_and_waf_follow_the_reference() {
    assert_eq!(
        found(json!({
            "authorization": {
                "mode": "RULES",
                "serviceAccounts": ["./*", "ns1/*", "ns1/reader", "*/x", "ns1", "a.b/c"],
                "rules": {"allow": [{"from": {"fqn": WS_FQN}}], "deny": [{"to": {"fqn": ""}}]}
            },
            "waf": {"rules": [""]},
            "extension": [{"config": {"a": 1}}]
        })),
        [
            (
                RuleCode::RequiredField,
                "spec.authorization.rules.allow[0].to.fqn".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authorization.rules.deny[0].from.fqn".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authorization.rules.deny[0].to.fqn".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.serviceAccounts[3]".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.serviceAccounts[4]".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.serviceAccounts[5]".to_string()
            ),
            (RuleCode::RequiredField, "spec.extension[0].fqn".to_string()),
            (RuleCode::SpecSchema, "spec.waf.rules[0]".to_string()),
        ]
    );
    // A security domain is accepted, with a warning that it selects nothing.
    let domain = validate_object(&security_setting(json!({"authorization": {"mode": "RULES",
        "rules": {"deny": [{"from": {"fqn": "organizations/acme/securitydomains/pci"},
                            "to": {"fqn": WS_FQN}}]}}})));
    assert!(errors(&domain).is_empty(), "{domain:?}");
    assert!(domain.iter().any(|d| d.rule == RuleCode::NotEnforced
        && d.field == "spec.authorization.rules.deny[0].from.fqn"));
    let account = validate_object(&security_setting(json!({"authorization": {"mode": "RULES",
        "rules": {"allow": [{"from": {"fqn": "organizations/acme/serviceaccounts/ci"},
                             "to": {"fqn": WS_FQN}}]}}})));
    assert!(account.iter().any(|d| d.rule == RuleCode::NotEnforced
        && d.field == "spec.authorization.rules.allow[0].from.fqn"
        && d.message.contains("API identities")));
}

#[test]
fn http_authorization_is_external_or_local_with_their_shapes() {
    assert_eq!(
        found(json!({"authorization": {"http": {
            "external": {"uri": "grpc://opa:9191", "includeRequestHeaders": ["authorization"],
                         "tls": {"mode": "MUTUAL", "files": {"caCertificates": "/ca"}, "secretName": "s"}},
            "local": {"rules": [{"to": [{"paths": [""], "methods": ["get"]}],
                                 "from": [{"jwt": {"other": {"": "x"}}}]}]}
        }}})),
        [
            (RuleCode::SpecSchema, "spec.authorization.http".to_string()),
            (
                RuleCode::SpecSchema,
                "spec.authorization.http.external.includeRequestHeaders".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.http.external.tls".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authorization.http.external.tls.files.clientCertificate".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authorization.http.external.tls.files.privateKey".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.http.local.rules[0].from[0].jwt.other".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authorization.http.local.rules[0].name".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.http.local.rules[0].to[0].methods[0]".to_string()
            ),
            (
                RuleCode::SpecSchema,
                "spec.authorization.http.local.rules[0].to[0].paths[0]".to_string()
            ),
        ]
    );
    for (uri, ok) in [
        ("grpc://opa.authz.svc.cluster.local:9191", true),
        ("https://policy.example", true),
        ("http://authz:8080/check", true),
        ("grpc://opa", false),
        ("grpc://opa:9191/path", false),
        ("ftp://opa", false),
        ("http://:80", false),
        ("http://opa:0", false),
    ] {
        let spec = json!({"authorization": {"http": {"external": {"uri": uri}}}});
        assert_eq!(found(spec).is_empty(), ok, "{uri}");
    }
}

#[test]
fn external_authorization_names_the_mesh_config_entry_it_needs() {
    let diagnostics = validate_object(&security_setting(json!({"authorization": {"http": {
        "external": {"uri": "https://policy.example/authz", "includeRequestHeaders": ["authorization", "x-user"]}
    }}})));
    let notice = diagnostics
        .iter()
        .find(|d| d.rule == RuleCode::ExtensionProvider)
        .expect("a TSB1107 notice");
    assert_eq!(notice.rule.code(), "TSB1107");
    assert_eq!(notice.severity, Severity::Warning);
    assert_eq!(notice.field, "spec.authorization.http.external.uri");
    assert!(
        notice
            .message
            .contains("\"tsbridge-ext-authz-https-policy-example-443-authz\"")
    );
    assert_eq!(
        notice.fix,
        "add to meshConfig.extensionProviders: {name: tsbridge-ext-authz-https-policy-example-443-authz, \
         envoyExtAuthzHttp: {service: policy.example, port: 443, pathPrefix: /authz, \
         includeRequestHeadersInCheck: [authorization, x-user]}}; the server expects TLS: also \
         originate it with a DestinationRule for host policy.example (trafficPolicy.tls.mode SIMPLE)"
    );
}

#[test]
fn jwt_outputs_need_their_required_fields() {
    assert_eq!(
        found(
            json!({"authenticationSettings": {"http": {"jwt": {"issuer": "https://id.example",
            "outputClaimToHeaders": [{"header": "x-user"}], "fromHeaders": [{"prefix": "Bearer "}]}}}})
        ),
        [
            (
                RuleCode::RequiredField,
                "spec.authenticationSettings.http.jwt.fromHeaders[0].name".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authenticationSettings.http.jwt.outputClaimToHeaders[0].claim".to_string()
            ),
        ]
    );
}

#[test]
fn jwt_authentication_needs_an_issuer_one_key_source_and_one_form() {
    let mut ss = security_setting(json!({"authenticationSettings": {"http": {
        "jwt": {"issuer": "https://id.example", "jwksUri": "https://id.example/jwks", "jwks": "{}"},
        "rules": {"jwt": [{"audiences": ["a"]}]}
    }}}));
    let found: Vec<(RuleCode, String)> = errors(&validate_object(&ss));
    assert_eq!(
        found,
        [
            (
                RuleCode::RequiredField,
                "spec.authenticationSettings.http".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authenticationSettings.http.jwt".to_string()
            ),
            (
                RuleCode::RequiredField,
                "spec.authenticationSettings.http.rules.jwt[0].issuer".to_string()
            ),
        ]
    );
    ss.spec =
        json!({"authenticationSettings": {"http": {"jwt": {"issuer": "https://id.example"}}}});
    assert!(errors(&validate_object(&ss)).is_empty());
}

#[test]
fn a_service_setting_names_the_provider_of_its_custom_policy_and_requires_subset_fields() {
    let mut sss = security_setting(json!({
        "service": "app/details.app.svc.cluster.local",
        "settings": {"authorization": {"http": {"external": {"uri": "grpc://opa:9191"}}}},
        "subsets": [
            {"name": "v1", "settings": {"authorization": {"http": {"external": {"uri": "ftp://x"}}}}},
            {"settings": {}},
            {"name": "v2"}
        ]
    }));
    sss.kind = "ServiceSecuritySetting".into();
    let diagnostics = validate_object(&sss);
    let provider: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.rule == RuleCode::ExtensionProvider)
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(provider, ["spec.settings.authorization.http.external.uri"]);
    let mut found = errors(&diagnostics);
    found.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        found,
        [
            (
                RuleCode::SpecSchema,
                "spec.subsets[0].settings.authorization.http.external.uri".to_string()
            ),
            (RuleCode::RequiredField, "spec.subsets[1].name".to_string()),
            (
                RuleCode::RequiredField,
                "spec.subsets[2].settings".to_string()
            ),
        ]
    );
}
