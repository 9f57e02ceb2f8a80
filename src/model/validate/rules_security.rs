//! L1 rules of the SecuritySetting message (its own kind, the `defaultSecuritySetting` of the
//! organization, tenant and workspace settings, a ServiceSecuritySetting's `settings`) and of
//! the TSB auth messages it holds (`tetrateio.api.tsb.auth.v2`): REQUIRED fields, oneofs,
//! patterns and value sets as the reference states them, plus the TSB1107 notice naming the
//! Istio extension provider an external authorization server needs.

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::fqn::{Collection, Fqn, FqnNode};
use crate::model::spec::SecuritySettingSpec;
use crate::model::spec::auth::{
    Authorization, AuthzEndpoint, AuthzProtocol, ClientTlsSettings, ExternalAuthzBackend,
    HttpAuthentication, LocalAuthz, TlsMode,
};
use crate::model::spec::security::AuthorizationRule;
use crate::model::spec::security::SubsetSecuritySetting;

/// `HttpOperation.methods` values the reference accepts.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Every rule below on a SecuritySetting at `path` (`spec`, `spec.defaultSecuritySetting`…).
pub(super) fn check_security_setting(
    spec: &SecuritySettingSpec,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if let Some(http) = spec
        .authentication_settings
        .as_ref()
        .and_then(|a| a.http.as_ref())
    {
        check_jwt_outputs(
            http,
            &format!("{path}.authenticationSettings.http"),
            object,
            out,
        );
    }
    if let Some(authorization) = &spec.authorization {
        let at = format!("{path}.authorization");
        for (i, account) in authorization.service_accounts.iter().enumerate() {
            if !is_service_account(account) {
                out.push(Diagnostic::error(
                    RuleCode::SpecSchema,
                    object,
                    format!("{at}.serviceAccounts[{i}]"),
                    format!("{account:?} is not ./*, <namespace>/* or <namespace>/<account>"),
                    "write e.g. ./* (this namespace), ns1/* or ns1/reader",
                ));
            }
        }
        if let Some(rules) = &authorization.rules {
            check_rules(&rules.allow, &format!("{at}.rules.allow"), object, out);
            check_rules(&rules.deny, &format!("{at}.rules.deny"), object, out);
        }
        if let Some(http) = &authorization.http {
            check_authorization(http, &format!("{at}.http"), object, out);
        }
    }
    if let Some(waf) = &spec.waf {
        if waf.rules.is_empty() {
            out.push(Diagnostic::error(
                RuleCode::RequiredField,
                object,
                format!("{path}.waf.rules"),
                "needs at least one rule",
                "list SecLang directives, e.g. [\"Include @recommended-conf\"]",
            ));
        }
        for (i, rule) in waf.rules.iter().enumerate() {
            if rule.is_empty() {
                out.push(Diagnostic::error(
                    RuleCode::SpecSchema,
                    object,
                    format!("{path}.waf.rules[{i}]"),
                    "is empty",
                    "write a SecLang directive or remove the entry",
                ));
            }
        }
    }
    for (i, extension) in spec.extension.iter().enumerate() {
        if extension.fqn.as_deref().is_none_or(str::is_empty) {
            out.push(required(
                object,
                format!("{path}.extension[{i}].fqn"),
                "name the WasmExtension, e.g. organizations/acme/extensions/hello-world",
            ));
        }
    }
}

/// `subsets[]` of a ServiceSecuritySetting: name and settings are REQUIRED (the settings
/// themselves are checked as any SecuritySetting).
pub(super) fn check_subsets(
    subsets: &[SubsetSecuritySetting],
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    for (i, subset) in subsets.iter().enumerate() {
        let at = format!("spec.subsets[{i}]");
        if subset.name.as_deref().is_none_or(str::is_empty) {
            out.push(required(
                object,
                format!("{at}.name"),
                "name a subset of the service's ServiceRoute, e.g. v1",
            ));
        }
        if subset.settings.is_none() {
            out.push(required(
                object,
                format!("{at}.settings"),
                "give the subset's settings, e.g. {authorization: {mode: NAMESPACE}}",
            ));
        }
    }
}

/// A REQUIRED field that is missing or empty at `at`.
fn required(object: &ObjectRef, at: impl Into<String>, fix: &str) -> Diagnostic {
    Diagnostic::error(RuleCode::RequiredField, object, at, "is required", fix)
}

/// `serviceAccounts` items: `^\./\*$|^[^.*]+/[*]{1}$|^[^.*]+/[^*]+$`.
fn is_service_account(entry: &str) -> bool {
    if entry == "./*" {
        return true;
    }
    let Some((namespace, account)) = entry.split_once('/') else {
        return false;
    };
    let namespace_ok = !namespace.is_empty() && !namespace.contains(['.', '*']);
    namespace_ok && (account == "*" || (!account.is_empty() && !account.contains('*')))
}

/// `Rule`: `from` and `to` REQUIRED, each with an FQN; a security domain is not enforced.
fn check_rules(
    rules: &[AuthorizationRule],
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    for (i, rule) in rules.iter().enumerate() {
        for (side, target) in [("from", &rule.from), ("to", &rule.to)] {
            let at = format!("{path}[{i}].{side}");
            match target.as_ref().and_then(|t| t.fqn.as_deref()) {
                None | Some("") => out.push(required(
                    object,
                    format!("{at}.fqn"),
                    "name a tenant, workspace or security group, e.g. \
                     organizations/acme/tenants/shop/workspaces/shop-ws",
                )),
                Some(fqn) => {
                    if let Some(why) = selects_no_workload(fqn) {
                        out.push(Diagnostic::warning(
                            RuleCode::NotEnforced,
                            object,
                            format!("{at}.fqn"),
                            format!("is accepted but not enforced in Istio: {why}"),
                            "name a tenant, workspace or security group instead",
                        ));
                    }
                }
            }
        }
    }
}

/// Why a rule naming `fqn` selects no workload (`None`: it does, or it does not parse, which
/// analysis reports as TSB1204).
fn selects_no_workload(fqn: &str) -> Option<&'static str> {
    let FqnNode::Leaf(collection) = fqn.parse::<Fqn>().ok()?.node() else {
        return None;
    };
    Some(match collection {
        Collection::SecurityDomains => {
            "security domains are not implemented, so the rule selects no workload"
        }
        Collection::ServiceAccounts | Collection::Users => {
            "TSB users and service accounts are API identities, not workload identities, so \
             the rule selects no workload (name workloads' Kubernetes service accounts with \
             mode CUSTOM and serviceAccounts)"
        }
        _ => "the rule selects no workload: rules target tenants, workspaces and security groups",
    })
}

/// `Authentication.JWT` outputs and token locations: their REQUIRED fields.
fn check_jwt_outputs(
    http: &HttpAuthentication,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    for (at, jwt) in http.jwt_rules_at(path) {
        for (i, claim) in jwt.output_claim_to_headers.iter().enumerate() {
            for (field, value) in [("header", &claim.header), ("claim", &claim.claim)] {
                if value.as_deref().is_none_or(str::is_empty) {
                    out.push(required(
                        object,
                        format!("{at}.outputClaimToHeaders[{i}].{field}"),
                        "set both, e.g. {header: x-user, claim: sub}",
                    ));
                }
            }
        }
        for (i, header) in jwt.from_headers.iter().enumerate() {
            if header.name.as_deref().is_none_or(str::is_empty) {
                out.push(required(object, format!("{at}.fromHeaders[{i}].name"), "name the header the token comes in, e.g. {name: x-jwt-assertion, prefix: \"Bearer \"}"));
            }
        }
    }
}

/// `Authorization` (oneof `external`, `local`) at `path`; shared by every message holding one.
pub(crate) fn check_authorization(
    http: &Authorization,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if http.external.is_some() && http.local.is_some() {
        out.push(Diagnostic::error(
            RuleCode::SpecSchema,
            object,
            path,
            "sets both external and local; only one of them is allowed",
            "keep external to ask an authorization server, or local to decide on JWT claims",
        ));
    }
    if let Some(external) = &http.external {
        check_external(external, &format!("{path}.external"), object, out);
    }
    if let Some(local) = &http.local {
        check_local(local, &format!("{path}.local"), object, out);
    }
}

fn check_external(
    external: &ExternalAuthzBackend,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if external.uri.as_deref().is_none_or(str::is_empty) {
        out.push(required(
            object,
            format!("{path}.uri"),
            "give the server's address, e.g. grpc://opa.authz.svc.cluster.local:9191",
        ));
    } else {
        match external.endpoint() {
            Err(what) => out.push(Diagnostic::error(
                RuleCode::SpecSchema,
                object,
                format!("{path}.uri"),
                what,
                "write grpc://<host>:<port>, http://<host>[:<port>][/<path>] or \
                 https://<host>[:<port>][/<path>]",
            )),
            Ok(endpoint) => {
                if endpoint.protocol == AuthzProtocol::Grpc
                    && !external.include_request_headers.is_empty()
                {
                    out.push(Diagnostic::error(
                        RuleCode::SpecSchema,
                        object,
                        format!("{path}.includeRequestHeaders"),
                        "is only for an HTTP server; a gRPC server receives every header",
                        "remove includeRequestHeaders, or use an http:// or https:// uri",
                    ));
                }
                out.push(extension_provider(&endpoint, external, path, object));
            }
        }
    }
    if let Some(tls) = &external.tls {
        check_client_tls(tls, &format!("{path}.tls"), object, out);
    }
}

/// TSB1107: the provider a CUSTOM AuthorizationPolicy names, and the `meshConfig` entry that
/// declares it (tsbridge does not write Istio's mesh config).
fn extension_provider(
    endpoint: &AuthzEndpoint,
    external: &ExternalAuthzBackend,
    path: &str,
    object: &ObjectRef,
) -> Diagnostic {
    let name = endpoint.provider_name();
    let mut fields = vec![
        format!("service: {}", endpoint.host),
        format!("port: {}", endpoint.port),
    ];
    let kind = match endpoint.protocol {
        AuthzProtocol::Grpc => "envoyExtAuthzGrpc",
        AuthzProtocol::Http => {
            if !endpoint.path.is_empty() {
                fields.push(format!("pathPrefix: {}", endpoint.path));
            }
            if !external.include_request_headers.is_empty() {
                fields.push(format!(
                    "includeRequestHeadersInCheck: [{}]",
                    external.include_request_headers.join(", ")
                ));
            }
            "envoyExtAuthzHttp"
        }
    };
    let tls = if endpoint.tls {
        format!(
            "; the server expects TLS: also originate it with a DestinationRule for host {} \
             (trafficPolicy.tls.mode SIMPLE)",
            endpoint.host
        )
    } else {
        String::new()
    };
    Diagnostic::warning(
        RuleCode::ExtensionProvider,
        object,
        format!("{path}.uri"),
        format!(
            "is checked through Istio extension provider {name:?} (a CUSTOM AuthorizationPolicy), \
             which tsbridge does not declare: until Istio's meshConfig.extensionProviders has it, \
             the server is not asked"
        ),
        format!(
            "add to meshConfig.extensionProviders: {{name: {name}, {kind}: {{{}}}}}{tls}",
            fields.join(", ")
        ),
    )
}

/// `LocalAuthzRule`: name REQUIRED (min length 1), paths non-empty, methods from the set,
/// claim names non-empty.
fn check_local(local: &LocalAuthz, path: &str, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    for (i, rule) in local.rules.iter().enumerate() {
        let at = format!("{path}.rules[{i}]");
        if rule.name.as_deref().is_none_or(str::is_empty) {
            out.push(required(
                object,
                format!("{at}.name"),
                "name the binding, e.g. readers",
            ));
        }
        for (j, operation) in rule.to.iter().enumerate() {
            for (k, p) in operation.paths.iter().enumerate() {
                if p.is_empty() {
                    out.push(Diagnostic::error(
                        RuleCode::SpecSchema,
                        object,
                        format!("{at}.to[{j}].paths[{k}]"),
                        "is empty",
                        "write a request path, e.g. /accounts",
                    ));
                }
            }
            for (k, method) in operation.methods.iter().enumerate() {
                if !METHODS.contains(&method.as_str()) {
                    out.push(Diagnostic::error(
                        RuleCode::SpecSchema,
                        object,
                        format!("{at}.to[{j}].methods[{k}]"),
                        format!("{method:?} is not one of {}", METHODS.join(", ")),
                        "write the method in capitals, e.g. GET",
                    ));
                }
            }
        }
        for (j, subject) in rule.from.iter().enumerate() {
            let claims = subject.jwt.iter().flat_map(|jwt| jwt.other.keys());
            if claims.into_iter().any(|claim| claim.is_empty()) {
                out.push(Diagnostic::error(
                    RuleCode::SpecSchema,
                    object,
                    format!("{at}.from[{j}].jwt.other"),
                    "has an empty claim name",
                    "name the claim, e.g. {group: admins}",
                ));
            }
        }
    }
}

/// `ClientTLSSettings`: `files` or `secretName`; with files, the CA for SIMPLE and MUTUAL, the
/// client certificate and key for MUTUAL only.
pub(crate) fn check_client_tls(
    tls: &ClientTlsSettings,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    if tls.files.is_some() && tls.secret_name.is_some() {
        out.push(Diagnostic::error(
            RuleCode::SpecSchema,
            object,
            path,
            "sets both files and secretName; only one of them is allowed",
            "keep files for paths on the workload, or secretName for a Kubernetes Secret",
        ));
    }
    let Some(files) = &tls.files else {
        return;
    };
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    match tls.mode {
        None | Some(TlsMode::Disabled) => out.push(Diagnostic::warning(
            RuleCode::SpecSchema,
            object,
            format!("{path}.files"),
            "is not read: mode is DISABLED (the default)",
            "set mode SIMPLE or MUTUAL, or remove files",
        )),
        Some(mode) => {
            if !set(&files.ca_certificates) {
                out.push(Diagnostic::error(
                    RuleCode::RequiredField,
                    object,
                    format!("{path}.files.caCertificates"),
                    "is required with SIMPLE and MUTUAL",
                    "give the CA bundle file, e.g. /etc/ssl/certs/ca-certificates.crt",
                ));
            }
            for (field, value) in [
                ("clientCertificate", &files.client_certificate),
                ("privateKey", &files.private_key),
            ] {
                let at = format!("{path}.files.{field}");
                match (mode, set(value)) {
                    (TlsMode::Mutual, false) => out.push(Diagnostic::error(
                        RuleCode::RequiredField,
                        object,
                        at,
                        "is required with MUTUAL",
                        "give the file of the client certificate and of its key",
                    )),
                    (TlsMode::Simple, true) => out.push(Diagnostic::error(
                        RuleCode::SpecSchema,
                        object,
                        at,
                        "must not be set with SIMPLE (one-way TLS)",
                        "remove it, or use mode MUTUAL",
                    )),
                    _ => {}
                }
            }
        }
    }
}
