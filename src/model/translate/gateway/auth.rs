//! Per-server `authentication` and `authorization` of HTTP gateway servers → policies on the
//! gateway workload (selector = `workloadSelector.labels`):
//!
//! - `authentication` → a `RequestAuthentication` per server with its JWT rules;
//! - `authorization.local` → one ALLOW `AuthorizationPolicy` for the gateway: a rule per
//!   (rule, subject) limited to the server's host, plus one rule letting through the hosts of
//!   the servers without local rules (ALLOW policies on a workload deny what none allows);
//! - `authorization.external` → a CUSTOM `AuthorizationPolicy` per server, limited to its
//!   host, naming the provider `AuthzEndpoint::provider_name` derives from the uri. The user declares
//!   that provider in `meshConfig.extensionProviders` (uri, headers, TLS are set there).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::model::kind::Kind;
use crate::model::spec::auth::{
    Authorization, HttpAuthentication, HttpOperation, LocalAuthzRule, Subject,
};
use crate::model::spec::gateway::{HttpMatchCondition, HttpRouteRule};
use crate::model::translate::security::jwt_rule;
use crate::model::translate::{Generated, Output};

use super::Server;

/// A server's authentication and authorization, as written.
#[derive(Default)]
pub(super) struct ServerAuth<'s> {
    authentication: Option<&'s HttpAuthentication>,
    authorization: Option<&'s Authorization>,
    /// Paths (Istio form) the external authorization skips ([`skipped_paths`]).
    skipped: Vec<String>,
}

impl<'s> ServerAuth<'s> {
    pub(super) fn new(
        authentication: Option<&'s HttpAuthentication>,
        authorization: Option<&'s Authorization>,
    ) -> ServerAuth<'s> {
        ServerAuth {
            authentication,
            authorization,
            skipped: Vec::new(),
        }
    }

    /// With the paths the external authorization skips.
    pub(super) fn skipping(mut self, skipped: Vec<String>) -> ServerAuth<'s> {
        self.skipped = skipped;
        self
    }
}

/// A uri condition as an exact path or a prefix; `None` for anything else (regex, headers).
fn uri_pattern(condition: &HttpMatchCondition) -> Option<(bool, &str)> {
    let uri = condition
        .uri
        .as_ref()
        .filter(|_| condition.headers.is_empty())?;
    match (&uri.exact, &uri.prefix, &uri.regex) {
        (Some(exact), None, None) => Some((false, exact)),
        (None, Some(prefix), None) => Some((true, prefix)),
        _ => None,
    }
}

/// Whether two uri patterns (`(is_prefix, text)`) can match one path.
fn overlap((a_prefix, a): (bool, &str), (b_prefix, b): (bool, &str)) -> bool {
    match (a_prefix, b_prefix) {
        (false, false) => a == b,
        (false, true) => a.starts_with(b),
        (true, false) => b.starts_with(a),
        (true, true) => a.starts_with(b) || b.starts_with(a),
    }
}

/// `disableExternalAuthorization` → the paths of those rules, as CUSTOM policy `notPaths`
/// (exact `/x`, prefix `/x*`). Only where that is exact: a rule whose conditions are all
/// uri exact or prefix matches, none of which an earlier checked rule could also match (the
/// first matching rule routes a request); any other rule stays checked, the stricter choice.
pub(super) fn skipped_paths(rules: &[HttpRouteRule]) -> Vec<String> {
    let mut earlier: Vec<Option<(bool, &str)>> = Vec::new();
    let mut skipped = Vec::new();
    for rule in rules {
        let patterns: Vec<Option<(bool, &str)>> = if rule.match_.is_empty() {
            vec![None]
        } else {
            rule.match_.iter().map(uri_pattern).collect()
        };
        let skip = rule.disable_external_authorization == Some(true)
            && patterns.iter().all(|p| {
                p.is_some_and(|p| earlier.iter().all(|e| e.is_some_and(|e| !overlap(p, e))))
            });
        if skip {
            skipped.extend(patterns.into_iter().flatten().map(|(prefix, path)| {
                if prefix {
                    format!("{path}*")
                } else {
                    path.to_string()
                }
            }));
        } else {
            earlier.extend(patterns);
        }
    }
    skipped
}

/// The host forms a request to a server may carry (with and without a port).
fn hosts(server: &Server<'_>) -> Vec<String> {
    let host = server.host();
    vec![host.to_string(), format!("{host}:*")]
}

/// The policies of every server's authentication and authorization.
pub(super) fn policies(
    servers: &[Server<'_>],
    labels: &BTreeMap<String, String>,
    namespace: &str,
    out: &Output<'_>,
) -> Vec<Generated> {
    let selector = json!({"matchLabels": labels});
    let mut objects = Vec::new();
    for server in servers {
        let Some(authentication) = server.auth.authentication else {
            continue;
        };
        let rules: Vec<Value> = authentication
            .jwt_rules()
            .into_iter()
            .map(jwt_rule)
            .collect();
        if rules.is_empty() {
            continue;
        }
        let spec = json!({"selector": selector, "jwtRules": rules});
        let part = format!("{}-authn", server.part);
        objects.push(out.object(Kind::RequestAuthentication, namespace, Some(&part), spec));
    }
    let local: Vec<(&Server<'_>, &[LocalAuthzRule])> = servers
        .iter()
        .filter_map(|s| Some((s, s.auth.authorization?.local.as_ref()?.rules.as_slice())))
        .collect();
    if !local.is_empty() {
        let mut rules: Vec<Value> = local
            .iter()
            .flat_map(|(server, rules)| {
                let hosts = hosts(server);
                rules.iter().flat_map(move |rule| local_rule(rule, &hosts))
            })
            .collect();
        let guarded: Vec<String> = local.iter().flat_map(|(s, _)| hosts(s)).collect();
        // Servers without local rules stay open; their hosts are not among the guarded ones.
        rules.push(json!({"to": [{"operation": {"notHosts": guarded}}]}));
        let spec = json!({"selector": selector, "action": "ALLOW", "rules": rules});
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, Some("authz"), spec));
    }
    for server in servers {
        let Some(external) = server.auth.authorization.and_then(|a| a.external.as_ref()) else {
            continue;
        };
        // The same provider name as a SecuritySetting's (L1 refuses a uri without one).
        let Ok(endpoint) = external.endpoint() else {
            continue;
        };
        let mut operation = json!({"hosts": hosts(server)});
        if !server.auth.skipped.is_empty() {
            operation["notPaths"] = json!(server.auth.skipped);
        }
        let spec = json!({
            "selector": selector,
            "action": "CUSTOM",
            "provider": {"name": endpoint.provider_name()},
            "rules": [{"to": [{"operation": operation}]}],
        });
        let part = format!("{}-ext-authz", server.part);
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, Some(&part), spec));
    }
    objects
}

/// One Istio rule per subject of a local rule (a subject's claims are a rule-level `when`),
/// or one without `from` when it lists no subject.
fn local_rule(rule: &LocalAuthzRule, hosts: &[String]) -> Vec<Value> {
    let to: Vec<Value> = if rule.to.is_empty() {
        vec![json!({"operation": {"hosts": hosts}})]
    } else {
        rule.to.iter().map(|op| operation(op, hosts)).collect()
    };
    if rule.from.is_empty() {
        return vec![json!({"to": to})];
    }
    rule.from
        .iter()
        .map(|subject| {
            let mut out = json!({"to": to});
            // An empty subject matches every request.
            if let Some((principal, conditions)) = subject_parts(subject) {
                out["from"] = json!([{"source": {"requestPrincipals": [principal]}}]);
                if !conditions.is_empty() {
                    out["when"] = Value::Array(conditions);
                }
            }
            out
        })
        .collect()
}

fn operation(op: &HttpOperation, hosts: &[String]) -> Value {
    let mut operation = json!({"hosts": hosts});
    if !op.paths.is_empty() {
        operation["paths"] = json!(op.paths);
    }
    if !op.methods.is_empty() {
        operation["methods"] = json!(op.methods);
    }
    json!({"operation": operation})
}

/// `iss`/`sub` → a request principal `<iss>/<sub>` (`*` for a missing one: any valid token),
/// other claims → `request.auth.claims[...]` conditions.
fn subject_parts(subject: &Subject) -> Option<(String, Vec<Value>)> {
    let jwt = subject.jwt.as_ref()?;
    let principal = match (jwt.iss.as_deref(), jwt.sub.as_deref()) {
        (None, None) => "*".to_string(),
        (iss, sub) => format!("{}/{}", iss.unwrap_or("*"), sub.unwrap_or("*")),
    };
    let conditions = jwt
        .other
        .iter()
        .map(|(claim, value)| json!({"key": format!("request.auth.claims[{claim}]"), "values": [value]}))
        .collect();
    Some((principal, conditions))
}
