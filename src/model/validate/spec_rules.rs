//! Spec rules that need only the object (V6, V7, R-G1 inline secrets, deprecations).

use std::fmt::Write as _;

use serde_json::Value;

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::kind::Kind;
use crate::model::selector::{NamespaceSelector, SelectorError};
use crate::model::spec::{
    NamespaceSelectorSpec, RouteTarget, SecuritySettingSpec, Spec, WorkloadSelector,
};
use crate::model::validate::rules_traffic::check_traffic_setting;

/// `^[^/]+/[^/]+$`: exactly one `/` with something on both sides.
pub fn is_namespace_slash_name(value: &str) -> bool {
    matches!(value.split_once('/'), Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains('/'))
}

fn check_selector(
    selector: Option<&NamespaceSelectorSpec>,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    let Some(selector) = selector else {
        out.push(Diagnostic::error(
            RuleCode::SelectorGrammar,
            object,
            "spec.namespaceSelector",
            "is required",
            "add namespaceSelector.names with at least one <cluster>/<namespace> entry, e.g. */bookinfo",
        ));
        return;
    };
    match NamespaceSelector::parse(&selector.names) {
        Ok(_) => {}
        Err(SelectorError::Empty) => out.push(Diagnostic::error(
            RuleCode::SelectorGrammar,
            object,
            "spec.namespaceSelector.names",
            "must list at least one entry",
            "add a <cluster>/<namespace> entry, e.g. */bookinfo",
        )),
        Err(SelectorError::Entries(errors)) => {
            for (index, error) in errors {
                out.push(Diagnostic::error(
                    RuleCode::SelectorGrammar,
                    object,
                    format!("spec.namespaceSelector.names[{index}]"),
                    format!(
                        "entry {:?} {} (grammar ^(\\*|[^/*]+)/(\\*|[^/*]+\\*?)$)",
                        error.entry,
                        error.problem.message()
                    ),
                    error.problem.fix(),
                ));
            }
        }
    }
}

pub(super) fn require_service(
    service: Option<&str>,
    pattern: bool,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    match service {
        None | Some("") => out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            "spec.service",
            "is required",
            "set it to <namespace>/<fqdn>, e.g. checkout/cart.checkout.svc.cluster.local",
        )),
        Some(s) if pattern && !is_namespace_slash_name(s) => out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            "spec.service",
            format!("{s:?} does not match ^[^/]+/[^/]+$"),
            "write <namespace>/<fqdn>, e.g. checkout/cart.checkout.svc.cluster.local",
        )),
        Some(_) => {}
    }
}

fn check_security_setting(
    spec: &SecuritySettingSpec,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if spec.authentication.is_some() {
        out.push(Diagnostic::warning(
            RuleCode::DeprecatedField,
            object,
            format!("{path}.authentication"),
            "is deprecated",
            format!("use {path}.authenticationSettings.trafficMode instead"),
        ));
    }
    if let Some(http) = spec
        .authentication_settings
        .as_ref()
        .and_then(|a| a.http.as_ref())
    {
        check_http_authentication(
            http,
            &format!("{path}.authenticationSettings.http"),
            object,
            out,
        );
    }
    super::rules_security::check_security_setting(spec, path, object, out);
}

/// `Authentication` (TSB auth/v2): `jwt` or `rules`, each JWT with an issuer and at most one
/// key source.
fn check_http_authentication(
    http: &crate::model::spec::security::HttpAuthentication,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if http.jwt.is_some() && http.rules.is_some() {
        out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            path.to_string(),
            "sets both jwt and rules; only one of them is allowed",
            "keep jwt for one issuer, or list every issuer under rules.jwt",
        ));
    }
    for (at, jwt) in http.jwt_rules_at(path) {
        if jwt.issuer.as_deref().unwrap_or("").is_empty() {
            out.push(Diagnostic::error(
                RuleCode::RequiredField,
                object,
                format!("{at}.issuer"),
                "is required",
                "set the issuer a token's iss claim must equal, e.g. https://id.example.com",
            ));
        }
        if jwt.jwks.is_some() && jwt.jwks_uri.is_some() {
            out.push(Diagnostic::error(
                RuleCode::RequiredField,
                object,
                at.clone(),
                "sets both jwks and jwksUri; only one of them is allowed",
                "keep jwksUri to fetch the key set, or jwks to give it inline",
            ));
        }
    }
}

fn check_workload_selector(
    selector: Option<&WorkloadSelector>,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    let Some(selector) = selector else {
        out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            path,
            "is required",
            "add workloadSelector with the gateway's namespace and at least one pod label",
        ));
        return;
    };
    if selector.namespace.as_deref().unwrap_or("").is_empty() {
        out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            format!("{path}.namespace"),
            "is required (min length 1)",
            "set the namespace where the gateway workload runs",
        ));
    }
    if selector.labels.is_empty() {
        out.push(Diagnostic::error(
            RuleCode::RequiredField,
            object,
            format!("{path}.labels"),
            "needs at least one label",
            "add the gateway pod labels, e.g. app: my-gateway",
        ));
    }
}

/// V6 and V7 (and deprecation warnings) on a decoded spec.
pub fn check_spec(kind: Kind, spec: &Spec, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    if kind.has_namespace_selector() {
        check_selector(spec.namespace_selector(), object, out);
    }
    match spec {
        Spec::ServiceRoute(s) => super::rules_route::check_service_route(s, object, out),
        Spec::ServiceTrafficSetting(s) => {
            require_service(s.service.as_deref(), false, object, out);
            match &s.settings {
                None => out.push(Diagnostic::error(
                    RuleCode::RequiredField,
                    object,
                    "spec.settings",
                    "is required",
                    "add the traffic settings for the service",
                )),
                Some(settings) => check_traffic_setting(settings, "spec.settings", object, out),
            }
        }
        Spec::ServiceSecuritySetting(s) => {
            require_service(s.service.as_deref(), false, object, out);
            if let Some(settings) = &s.settings {
                check_security_setting(settings, "spec.settings", object, out);
            }
            super::rules_security::check_subsets(&s.subsets, object, out);
            for (i, subset) in s.subsets.iter().enumerate() {
                if let Some(settings) = &subset.settings {
                    check_security_setting(
                        settings,
                        &format!("spec.subsets[{i}].settings"),
                        object,
                        out,
                    );
                }
            }
        }
        Spec::TrafficSetting(s) => check_traffic_setting(s, "spec", object, out),
        Spec::SecuritySetting(s) => check_security_setting(s, "spec", object, out),
        Spec::OrganizationSetting(s) => {
            if let Some(ts) = &s.default_traffic_setting {
                check_traffic_setting(ts, "spec.defaultTrafficSetting", object, out);
            }
            if let Some(ss) = &s.default_security_setting {
                check_security_setting(ss, "spec.defaultSecuritySetting", object, out);
            }
        }
        Spec::TenantSetting(s) => {
            if let Some(ts) = &s.default_traffic_setting {
                check_traffic_setting(ts, "spec.defaultTrafficSetting", object, out);
            }
            if let Some(ss) = &s.default_security_setting {
                check_security_setting(ss, "spec.defaultSecuritySetting", object, out);
            }
        }
        Spec::WorkspaceSetting(s) => {
            if let Some(ts) = &s.default_traffic_setting {
                check_traffic_setting(ts, "spec.defaultTrafficSetting", object, out);
            }
            if let Some(ss) = &s.default_security_setting {
                check_security_setting(ss, "spec.defaultSecuritySetting", object, out);
            }
            for (i, ew) in s.default_east_west_gateway_settings.iter().enumerate() {
                check_workload_selector(
                    ew.workload_selector.as_ref(),
                    &format!("spec.defaultEastWestGatewaySettings[{i}].workloadSelector"),
                    object,
                    out,
                );
            }
        }
        Spec::IngressGateway(_) | Spec::EgressGateway(_) | Spec::Tier1Gateway(_) => {
            check_workload_selector(
                spec.workload_selector(),
                "spec.workloadSelector",
                object,
                out,
            );
            super::rules_gateway::check_gateway(spec, object, out);
        }
        Spec::UnifiedGateway(gateway) => {
            check_workload_selector(
                spec.workload_selector(),
                "spec.workloadSelector",
                object,
                out,
            );
            super::rules_gateway::check_gateway(spec, object, out);
            let targets = gateway.route_targets();
            if let Some((_, first)) = targets.first()
                && let Some((field, _)) = targets.iter().find(|(_, t)| t != first)
            {
                let (style, other) = match first {
                    RouteTarget::Clusters => ("clusters (Tier1 style)", "services"),
                    RouteTarget::Services => ("services (ingress style)", "clusters"),
                };
                out.push(Diagnostic::error(
                    RuleCode::RequiredField,
                    object,
                    field.clone(),
                    format!("routes to {other} while earlier servers route to {style}; a Gateway may not mix them"),
                    "route every server to clusters, or every server to services; split it into two Gateways otherwise",
                ));
            }
        }
        _ => {}
    }
}

/// True for PEM private keys and JWT-shaped tokens (R-G1). Public certificates, JWKS and file
/// paths (e.g. `privateKey: /etc/certs/key.pem`) pass.
fn looks_like_secret(text: &str) -> Option<&'static str> {
    if text.contains("-----BEGIN") && text.contains("PRIVATE KEY-----") {
        return Some("an inline PEM private key");
    }
    let is_b64url = |part: &str| {
        part.len() >= 8
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
    };
    let jwt = text.split_whitespace().any(|word| {
        word.starts_with("eyJ") && word.split('.').count() == 3 && word.split('.').all(is_b64url)
    });
    jwt.then_some("an inline token (JWT)")
}

/// R-G1: secrets are referenced by name, never embedded; scans every string of the spec.
pub fn check_inline_secrets(spec: &Value, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    fn walk(value: &Value, path: &mut String, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
        match value {
            Value::String(text) => {
                if let Some(what) = looks_like_secret(text) {
                    out.push(Diagnostic::error(
                        RuleCode::InlineSecret,
                        object,
                        path.clone(),
                        format!("contains {what}"),
                        "store it in a Kubernetes Secret and reference the Secret by name (e.g. secretName/credentialName)",
                    ));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    let _ = write!(path, "[{i}]");
                    walk(item, path, object, out);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    path.push('.');
                    path.push_str(key);
                    walk(item, path, object, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    walk(spec, &mut String::from("spec"), object, out);
}
