//! Security kinds → `PeerAuthentication`, `AuthorizationPolicy` (§7.2).
//!
//! Authorization modes become namespace lists because an Istio peer identity carries its
//! namespace (`*/ns/<ns>/sa/<sa>`) but not its workspace, group or cluster.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::spec::{
    AuthenticationMode, AuthorizationMode, AuthorizationRule, AuthorizationSettings,
    SecuritySettingSpec, ServiceSecuritySettingSpec, Spec,
};
use crate::model::translate::{Context, Generated, Output};

/// The setting in force after the defaults above (§4.3): a lower level replaces what it sets,
/// except below a `STRICTER` level, where it may only tighten.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Effective {
    pub traffic_mode: Option<AuthenticationMode>,
    pub authorization: Option<AuthorizationSettings>,
    stricter: bool,
}

impl Effective {
    fn overlay(&mut self, over: &SecuritySettingSpec) {
        if let Some(mode) = over
            .traffic_mode()
            .filter(|m| *m != AuthenticationMode::Unset)
        {
            let floor = self.traffic_mode.filter(|_| self.stricter);
            self.traffic_mode = Some(floor.map_or(mode, |f| f.max(mode)));
        }
        if let Some(authorization) = &over.authorization
            && let Some(mode) = authorization
                .mode
                .filter(|m| *m != AuthorizationMode::Unset)
        {
            let floor = self.authorization.as_ref().and_then(|a| a.mode);
            let looser = self.stricter && floor.is_some_and(|f| mode < f);
            if !looser {
                self.authorization = Some(authorization.clone());
            }
        }
        self.stricter |= over.is_stricter();
    }
}

pub(crate) fn effective(context: &Context<'_>, own: Option<&SecuritySettingSpec>) -> Effective {
    let mut merged = Effective::default();
    for setting in &context.settings {
        let level = match &setting.spec {
            Spec::OrganizationSetting(s) => s.default_security_setting.as_ref(),
            Spec::TenantSetting(s) => s.default_security_setting.as_ref(),
            Spec::WorkspaceSetting(s) => s.default_security_setting.as_ref(),
            _ => None,
        };
        if let Some(level) = level {
            merged.overlay(level);
        }
    }
    if let Some(own) = own {
        merged.overlay(own);
    }
    merged
}

/// Who is allowed, as Istio `source` blocks (ORed).
#[derive(Debug, Clone, Default, PartialEq)]
struct Sources {
    namespaces: BTreeSet<String>,
    principals: BTreeSet<String>,
}

impl Sources {
    fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.principals.is_empty()
    }

    /// `from` entries of an ALLOW rule: each block matches on its own.
    fn allow_from(&self) -> Vec<Value> {
        let mut from = Vec::new();
        if !self.namespaces.is_empty() {
            from.push(json!({"source": {"namespaces": self.namespaces}}));
        }
        if !self.principals.is_empty() {
            from.push(json!({"source": {"principals": self.principals}}));
        }
        from
    }

    /// The one `source` of a DENY rule matching everybody else: the negations are ANDed.
    fn deny_others(&self) -> Value {
        let mut source = json!({});
        if !self.namespaces.is_empty() {
            source["notNamespaces"] = json!(self.namespaces);
        }
        if !self.principals.is_empty() {
            source["notPrincipals"] = json!(self.principals);
        }
        source
    }
}

/// `<namespace>/<service-account>` entries of CUSTOM mode as Istio sources.
fn service_accounts(entries: &[String]) -> Sources {
    let mut sources = Sources::default();
    for entry in entries {
        match entry.split_once('/') {
            Some(("*", "*")) => sources.principals.insert("*".to_string()),
            Some((ns, "*")) => sources.namespaces.insert(ns.to_string()),
            Some(("*", sa)) => sources.principals.insert(format!("*/sa/{sa}")),
            Some((ns, sa)) => sources.principals.insert(format!("*/ns/{ns}/sa/{sa}")),
            None => false,
        };
    }
    sources
}

/// Namespaces in this cluster of the workspace or group an authorization rule names (`None`
/// when the FQN is missing or does not parse: the rule is then dropped, never widened).
fn rule_namespaces(
    target: Option<&crate::model::spec::RuleTarget>,
    context: &Context<'_>,
) -> Option<BTreeSet<String>> {
    let fqn: Fqn = target?.fqn.as_deref()?.parse().ok()?;
    Some(context.resolution.namespaces_of(&fqn))
}

/// True when a rule's `to` (absent = every destination) covers `namespace`.
fn rule_applies(rule: &AuthorizationRule, namespace: &str, context: &Context<'_>) -> bool {
    match &rule.to {
        None => true,
        Some(_) => {
            rule_namespaces(rule.to.as_ref(), context).is_some_and(|n| n.contains(namespace))
        }
    }
}

/// Sources of the rules in `rules` that apply to `namespace`; a rule whose `from` selects no
/// namespace here is left out (an empty Istio source would match everybody).
fn rule_sources(
    rules: &[AuthorizationRule],
    namespace: &str,
    context: &Context<'_>,
) -> Vec<BTreeSet<String>> {
    rules
        .iter()
        .filter(|rule| rule_applies(rule, namespace, context))
        .filter_map(|rule| rule_namespaces(rule.from.as_ref(), context))
        .filter(|namespaces| !namespaces.is_empty())
        .collect()
}

/// Who a mode allows to call workloads in `namespace`; `None` for DISABLED/UNSET (no policy)
/// and for RULES, which is handled rule by rule.
fn mode_sources(
    authorization: &AuthorizationSettings,
    namespace: &str,
    group_namespaces: &BTreeSet<String>,
    context: &Context<'_>,
    workspace: &Fqn,
) -> Option<Sources> {
    let namespaces = match authorization.mode? {
        AuthorizationMode::Unset | AuthorizationMode::Disabled | AuthorizationMode::Rules => {
            return None;
        }
        AuthorizationMode::Namespace => BTreeSet::from([namespace.to_string()]),
        AuthorizationMode::Group => group_namespaces.clone(),
        AuthorizationMode::Workspace => {
            let mut namespaces = context.resolution.namespaces_of(workspace);
            namespaces.insert(namespace.to_string());
            namespaces
        }
        // Any authenticated (mTLS) peer: Istio identities do not carry the cluster.
        AuthorizationMode::Cluster => {
            return Some(Sources {
                principals: BTreeSet::from(["*".to_string()]),
                ..Sources::default()
            });
        }
        AuthorizationMode::Custom => {
            return Some(service_accounts(&authorization.service_accounts));
        }
    };
    Some(Sources {
        namespaces,
        ..Sources::default()
    })
}

fn workspace_of(out: &Output<'_>) -> Fqn {
    out.resource
        .fqn
        .ancestor(Kind::Workspace)
        .unwrap_or_else(|| out.resource.fqn.clone())
}

/// SecuritySetting: in every namespace of the group, a `PeerAuthentication` for the traffic
/// mode and an ALLOW `AuthorizationPolicy` for the authorization mode (plus a DENY policy for
/// `rules.deny`).
pub(crate) fn security_setting(
    spec: &SecuritySettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let setting = effective(context, Some(spec));
    let mtls = setting.traffic_mode.and_then(|mode| match mode {
        AuthenticationMode::Unset => None,
        AuthenticationMode::Optional => Some("PERMISSIVE"),
        AuthenticationMode::Required => Some("STRICT"),
    });
    let workspace = workspace_of(out);
    let jwt_rules = request_authentication(spec);
    let mut objects = Vec::new();
    for namespace in context.namespaces {
        if let Some(mode) = mtls {
            let spec = json!({"mtls": {"mode": mode}});
            objects.push(out.object(Kind::PeerAuthentication, namespace, None, spec));
        }
        if let Some(spec) = &jwt_rules {
            objects.push(out.object(Kind::RequestAuthentication, namespace, None, spec.clone()));
        }
        let Some(authorization) = &setting.authorization else {
            continue;
        };
        if authorization.mode == Some(AuthorizationMode::Rules) {
            let rules = authorization.rules.clone().unwrap_or_default();
            let allow: Vec<Value> = rule_sources(&rules.allow, namespace, context)
                .into_iter()
                .map(|namespaces| json!({"from": [{"source": {"namespaces": namespaces}}]}))
                .collect();
            // ALLOW with no rule allows nothing: only what the rules list gets through.
            let mut policy = json!({"action": "ALLOW"});
            if !allow.is_empty() {
                policy["rules"] = Value::Array(allow);
            }
            objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, policy));
            let deny = rule_sources(&rules.deny, namespace, context);
            if !deny.is_empty() {
                let rules: Vec<Value> = deny
                    .into_iter()
                    .map(|namespaces| json!({"from": [{"source": {"namespaces": namespaces}}]}))
                    .collect();
                let policy = json!({"action": "DENY", "rules": rules});
                objects.push(out.object(
                    Kind::AuthorizationPolicy,
                    namespace,
                    Some("deny"),
                    policy,
                ));
            }
            continue;
        }
        if let Some(sources) = mode_sources(
            authorization,
            namespace,
            context.namespaces,
            context,
            &workspace,
        ) {
            let mut policy = json!({"action": "ALLOW"});
            if !sources.is_empty() {
                policy["rules"] = json!([{"from": sources.allow_from()}]);
            }
            objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, policy));
        }
    }
    objects
}

/// `authenticationSettings.http` → a namespace-wide `RequestAuthentication` whose `jwtRules`
/// are TSB's JWT rules field by field. As TSB documents, a request without a token is not
/// rejected by these rules (authorization decides that); one with a token that fails them is.
fn request_authentication(spec: &SecuritySettingSpec) -> Option<Value> {
    let http = spec.authentication_settings.as_ref()?.http.as_ref()?;
    let rules: Vec<Value> = http
        .jwt_rules()
        .into_iter()
        .map(|jwt| {
            let mut rule = json!({"issuer": jwt.issuer});
            if !jwt.audiences.is_empty() {
                rule["audiences"] = json!(jwt.audiences);
            }
            if let Some(uri) = &jwt.jwks_uri {
                rule["jwksUri"] = json!(uri);
            }
            if let Some(jwks) = &jwt.jwks {
                rule["jwks"] = json!(jwks);
            }
            if let Some(header) = &jwt.output_payload_to_header {
                rule["outputPayloadToHeader"] = json!(header);
            }
            if !jwt.output_claim_to_headers.is_empty() {
                rule["outputClaimToHeaders"] = json!(
                    jwt.output_claim_to_headers
                        .iter()
                        .map(|c| json!({"header": c.header, "claim": c.claim}))
                        .collect::<Vec<_>>()
                );
            }
            if !jwt.from_headers.is_empty() {
                rule["fromHeaders"] = json!(
                    jwt.from_headers
                        .iter()
                        .map(|h| {
                            let mut header = json!({"name": h.name});
                            if let Some(prefix) = &h.prefix {
                                header["prefix"] = json!(prefix);
                            }
                            header
                        })
                        .collect::<Vec<_>>()
                );
            }
            rule
        })
        .collect();
    (!rules.is_empty()).then(|| json!({"jwtRules": rules}))
}

/// The ServiceSecuritySetting's service in this cluster, as the workload selector its
/// policies carry (`selector.matchLabels` = the Service's `spec.selector`). `None`, with a
/// warning naming the service and the cluster, when the cluster has no such Service or it
/// selects no pods: a policy without a selector would cover the whole namespace.
fn service_selector(
    namespace: &str,
    host: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<Value> {
    let Some(service) = context.inventory.service(namespace, host) else {
        out.warn(
            "spec.service",
            format!(
                "{namespace}/{host} is not a Service of cluster {}: nothing is enforced for it there",
                context.cluster
            ),
            "create the Service in that cluster (its agent reports it), or correct spec.service",
        );
        return None;
    };
    if service.selector.is_empty() {
        out.warn(
            "spec.service",
            format!(
                "Service {namespace}/{} in cluster {} has no spec.selector, so no workload to \
                 select: nothing is enforced for it there",
                service.name, context.cluster
            ),
            "give the Service a spec.selector naming its pods' labels",
        );
        return None;
    }
    Some(json!({"matchLabels": service.selector}))
}

/// ServiceSecuritySetting: policies in the service's namespace that select the Service's
/// workloads (its `spec.selector`): a `PeerAuthentication` for its own traffic mode, a
/// `RequestAuthentication` for its JWT rules, and for its authorization mode an ALLOW policy
/// (what the service allows, even beyond the group's namespace-wide policy: ALLOW policies
/// add up) with a DENY policy (everybody else, which the group's policy may allow). Nothing
/// is generated in a cluster without the Service (never a namespace-wide policy).
pub(crate) fn service_security_setting(
    spec: &ServiceSecuritySettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    let Some(selector) = service_selector(namespace, host, context, out) else {
        return Ok(Vec::new());
    };
    let own = spec.settings.clone().unwrap_or_default();
    let setting = effective(context, Some(&own));
    let mut objects = Vec::new();
    // Only the service's own mode: the inherited one is already the namespace's.
    if own
        .traffic_mode()
        .is_some_and(|m| m != AuthenticationMode::Unset)
        && let Some(mode) = setting.traffic_mode.and_then(mtls_mode)
    {
        let spec = json!({"selector": selector, "mtls": {"mode": mode}});
        objects.push(out.object(Kind::PeerAuthentication, namespace, None, spec));
    }
    if let Some(mut spec) = request_authentication(&own) {
        spec["selector"] = selector.clone();
        objects.push(out.object(Kind::RequestAuthentication, namespace, None, spec));
    }
    if let Some(authorization) = &setting.authorization
        && let Some((allowed, denied)) =
            service_authorization(authorization, namespace, context, out)
    {
        let mut allow = json!({"selector": selector, "action": "ALLOW"});
        if !allowed.is_empty() {
            allow["rules"] = Value::Array(allowed);
        }
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, Some("allow"), allow));
        let deny = json!({"selector": selector, "action": "DENY", "rules": denied});
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, deny));
    }
    Ok(objects)
}

/// The Istio `mtls.mode` of a traffic mode.
fn mtls_mode(mode: AuthenticationMode) -> Option<&'static str> {
    match mode {
        AuthenticationMode::Unset => None,
        AuthenticationMode::Optional => Some("PERMISSIVE"),
        AuthenticationMode::Required => Some("STRICT"),
    }
}

/// A service's authorization as (ALLOW rules, DENY rules); `None` when the mode sets no
/// policy (DISABLED, UNSET).
fn service_authorization(
    authorization: &AuthorizationSettings,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<(Vec<Value>, Vec<Value>)> {
    if authorization.mode == Some(AuthorizationMode::Rules) {
        let listed = authorization.rules.clone().unwrap_or_default();
        let allow_sets = rule_sources(&listed.allow, namespace, context);
        let allowed = Sources {
            namespaces: allow_sets.iter().flatten().cloned().collect(),
            ..Sources::default()
        };
        let mut deny = vec![json!({"from": [{"source": allowed.deny_others()}]})];
        for namespaces in rule_sources(&listed.deny, namespace, context) {
            deny.push(json!({"from": [{"source": {"namespaces": namespaces}}]}));
        }
        let allow = allow_sets
            .into_iter()
            .map(|namespaces| json!({"from": [{"source": {"namespaces": namespaces}}]}))
            .collect();
        return Some((allow, deny));
    }
    let sources = mode_sources(
        authorization,
        namespace,
        context.namespaces,
        context,
        &workspace_of(out),
    )?;
    let allow = if sources.is_empty() {
        Vec::new()
    } else {
        vec![json!({"from": sources.allow_from()})]
    };
    let deny = vec![json!({"from": [{"source": sources.deny_others()}]})];
    Some((allow, deny))
}
