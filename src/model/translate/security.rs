//! Security kinds → `PeerAuthentication`, `AuthorizationPolicy` (§7.2).
//!
//! Authorization modes become namespace lists because an Istio peer identity carries its
//! namespace (`*/ns/<ns>/sa/<sa>`) but not its workspace, group or cluster.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::spec::auth::{Authorization, HttpAuthentication, Jwt, LocalAuthz};
use crate::model::spec::{
    AuthenticationMode, AuthorizationMode, AuthorizationRule, AuthorizationSettings,
    SecuritySettingSpec, Spec,
};
use crate::model::translate::{Context, Generated, Output};

/// The setting in force after the defaults above (§4.3): a lower level replaces what it sets,
/// except below a `STRICTER` level, where it may only tighten `trafficMode` and
/// `authorization.mode`. `authenticationSettings.http` and `authorization.http` always use
/// REPLACE (the reference: "Authentication settings http will use replace propagation
/// strategy"; the stricter comparison it defines covers modes, service accounts and rules
/// only): the lowest level that sets one wins, whatever the modes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Effective {
    pub traffic_mode: Option<AuthenticationMode>,
    pub authorization: Option<AuthorizationSettings>,
    /// `authenticationSettings.http` (JWT rules).
    pub http_authentication: Option<HttpAuthentication>,
    /// `authorization.http` (external server or local rules).
    pub http_authorization: Option<Authorization>,
    stricter: bool,
}

impl Effective {
    pub(super) fn overlay(&mut self, over: &SecuritySettingSpec) {
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
        if let Some(http) = over
            .authentication_settings
            .as_ref()
            .and_then(|a| a.http.as_ref())
        {
            self.http_authentication = Some(http.clone());
        }
        if let Some(http) = over.authorization.as_ref().and_then(|a| a.http.as_ref()) {
            self.http_authorization = Some(http.clone());
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
pub(super) struct Sources {
    pub(super) namespaces: BTreeSet<String>,
    pub(super) principals: BTreeSet<String>,
}

impl Sources {
    pub(super) fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.principals.is_empty()
    }

    /// `from` entries of an ALLOW rule: each block matches on its own.
    pub(super) fn allow_from(&self) -> Vec<Value> {
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
    pub(super) fn deny_others(&self) -> Value {
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

/// `<namespace>/<service-account>` entries of CUSTOM mode as Istio sources; `.` is the
/// namespace of the workloads the policy protects.
fn service_accounts(entries: &[String], namespace: &str) -> Sources {
    let mut sources = Sources::default();
    for entry in entries {
        let entry = match entry.strip_prefix("./") {
            Some(rest) => format!("{namespace}/{rest}"),
            None => entry.clone(),
        };
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
pub(super) fn rule_sources(
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
pub(super) fn mode_sources(
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
            return Some(service_accounts(&authorization.service_accounts, namespace));
        }
    };
    Some(Sources {
        namespaces,
        ..Sources::default()
    })
}

pub(super) fn workspace_of(out: &Output<'_>) -> Fqn {
    out.resource
        .fqn
        .ancestor(Kind::Workspace)
        .unwrap_or_else(|| out.resource.fqn.clone())
}

/// SecuritySetting, in every namespace of the group: a `PeerAuthentication` for the traffic
/// mode, a `RequestAuthentication` for the JWT rules, a CUSTOM `AuthorizationPolicy` for an
/// external authorization server, an ALLOW policy for the authorization mode ANDed with the
/// local HTTP rules, and DENY policies for `rules.denyAll`/`rules.deny` and for requests
/// without a token where JWT rules meet local authorization rules.
pub(crate) fn security_setting(
    spec: &SecuritySettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let setting = effective(context, Some(spec));
    let mtls = setting.traffic_mode.and_then(mtls_mode);
    let workspace = workspace_of(out);
    let jwt_rules = setting
        .http_authentication
        .as_ref()
        .and_then(request_authentication);
    let external = setting
        .http_authorization
        .as_ref()
        .and_then(|http| http.external.as_ref())
        .and_then(|backend| backend.endpoint().ok());
    // TSB: a request without a token passes the JWT rules; with local rules on its claims
    // it must carry one. A rule naming no subject then asks for any principal
    // (`requestPrincipals: ["*"]`) inside the ALLOW policy: a DENY on `notRequestPrincipals`
    // would also deny every TCP connection in the namespace (Istio: IST0133).
    let require_token = jwt_rules.is_some();
    let local = setting
        .http_authorization
        .as_ref()
        .and_then(|http| http.local.as_ref())
        .map(|local| local_rules(local, require_token));
    let mut objects = Vec::new();
    for namespace in context.namespaces {
        if let Some(mode) = mtls {
            let spec = json!({"mtls": {"mode": mode}});
            objects.push(out.object(Kind::PeerAuthentication, namespace, None, spec));
        }
        if let Some(spec) = &jwt_rules {
            objects.push(out.object(Kind::RequestAuthentication, namespace, None, spec.clone()));
        }
        if let Some(endpoint) = &external {
            // CUSTOM policies without rules match nothing: one empty rule sends every request.
            let spec = json!({
                "action": "CUSTOM",
                "provider": {"name": endpoint.provider_name()},
                "rules": [{}],
            });
            objects.push(out.object(
                Kind::AuthorizationPolicy,
                namespace,
                Some("ext-authz"),
                spec,
            ));
        }
        let authorization = setting.authorization.as_ref();
        let peers = authorization
            .and_then(|a| peer_rules(a, namespace, context.namespaces, context, &workspace));
        if let Some(policy) = allow_policy(peers, local.as_deref()) {
            objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, policy));
        }
        if let Some(policy) = authorization.and_then(|a| deny_policy(a, namespace, context)) {
            objects.push(out.object(Kind::AuthorizationPolicy, namespace, Some("deny"), policy));
        }
    }
    objects
}

/// The peers the authorization mode allows into `namespace`, as Istio rules (each a list of
/// ORed `from` sources); `None` when the mode restricts nothing (UNSET, DISABLED) or when
/// `rules.denyAll` leaves it to the DENY policy.
fn peer_rules(
    authorization: &AuthorizationSettings,
    namespace: &str,
    group_namespaces: &BTreeSet<String>,
    context: &Context<'_>,
    workspace: &Fqn,
) -> Option<Vec<Vec<Value>>> {
    if authorization.mode == Some(AuthorizationMode::Rules) {
        let rules = authorization.rules.clone().unwrap_or_default();
        // denyAll: the DENY policy rejects everything; an ALLOW policy would add nothing.
        if rules.deny_all == Some(true) {
            return None;
        }
        // The reference: with no allow rule every authenticated request is accepted.
        if rules.allow.is_empty() {
            return Some(vec![vec![json!({"source": {"principals": ["*"]}})]]);
        }
        // Allow rules none of which reaches here leave an ALLOW policy that allows nothing.
        return Some(
            rule_sources(&rules.allow, namespace, context)
                .into_iter()
                .map(|namespaces| vec![json!({"source": {"namespaces": namespaces}})])
                .collect(),
        );
    }
    let sources = mode_sources(
        authorization,
        namespace,
        group_namespaces,
        context,
        workspace,
    )?;
    if sources.is_empty() {
        return Some(Vec::new());
    }
    Some(vec![sources.allow_from()])
}

/// `rules.denyAll` (every request) and `rules.deny` of RULES mode as one DENY policy.
fn deny_policy(
    authorization: &AuthorizationSettings,
    namespace: &str,
    context: &Context<'_>,
) -> Option<Value> {
    if authorization.mode != Some(AuthorizationMode::Rules) {
        return None;
    }
    let rules = authorization.rules.as_ref()?;
    if rules.deny_all == Some(true) {
        // A rule with no condition matches every request.
        return Some(json!({"action": "DENY", "rules": [{}]}));
    }
    let deny: Vec<Value> = rule_sources(&rules.deny, namespace, context)
        .into_iter()
        .map(|namespaces| json!({"from": [{"source": {"namespaces": namespaces}}]}))
        .collect();
    (!deny.is_empty()).then(|| json!({"action": "DENY", "rules": deny}))
}

/// One Istio rule of a local HTTP authorization rule: one subject (its claims ANDed), the
/// operations it may perform.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LocalRule {
    /// `requestPrincipals` of the subject's `iss`/`sub` (`None`: no subject).
    source: Option<Value>,
    /// `to[].operation` (empty: any operation).
    to: Vec<Value>,
    /// `request.auth.claims[...]` conditions of the subject's other claims.
    when: Vec<Value>,
}

/// `authorization.http.local` as Istio rules: a rule per subject (subjects are ORed, a
/// subject's claims ANDed, and Istio's `when` belongs to a rule, not to a source). With
/// `require_token`, a rule without a JWT subject still needs a token.
pub(super) fn local_rules(local: &LocalAuthz, require_token: bool) -> Vec<LocalRule> {
    let anyone = require_token.then(|| json!({"requestPrincipals": ["*"]}));
    let mut out = Vec::new();
    for rule in &local.rules {
        let to: Vec<Value> = rule
            .to
            .iter()
            .filter(|op| !op.paths.is_empty() || !op.methods.is_empty())
            .map(|op| {
                let mut operation = json!({});
                if !op.paths.is_empty() {
                    operation["paths"] = json!(op.paths);
                }
                if !op.methods.is_empty() {
                    operation["methods"] = json!(op.methods);
                }
                json!({"operation": operation})
            })
            .collect();
        if rule.from.is_empty() {
            out.push(LocalRule {
                source: anyone.clone(),
                to: to.clone(),
                when: Vec::new(),
            });
        }
        for subject in &rule.from {
            let Some(claims) = &subject.jwt else {
                out.push(LocalRule {
                    source: anyone.clone(),
                    to: to.clone(),
                    when: Vec::new(),
                });
                continue;
            };
            let principal = format!(
                "{}/{}",
                claims.iss.as_deref().unwrap_or("*"),
                claims.sub.as_deref().unwrap_or("*")
            );
            // `*/*` is any token: Istio spells that `*`.
            let principal = if principal == "*/*" {
                "*".to_string()
            } else {
                principal
            };
            let when = claims
                .other
                .iter()
                .map(|(claim, value)| {
                    json!({"key": format!("request.auth.claims[{claim}]"), "values": [value]})
                })
                .collect();
            out.push(LocalRule {
                source: Some(json!({"requestPrincipals": [principal]})),
                to: to.clone(),
                when,
            });
        }
    }
    out
}

/// The ALLOW policy of a namespace: the peers the mode allows AND the local HTTP rules (two
/// ALLOW policies would OR in Istio, so each peer rule is crossed with each local rule, the
/// local subject's principals merged into every peer source). `None`: nothing restricted.
pub(super) fn allow_policy(
    peers: Option<Vec<Vec<Value>>>,
    local: Option<&[LocalRule]>,
) -> Option<Value> {
    let rules: Vec<Value> = match (peers, local) {
        (None, None) => return None,
        (Some(peers), None) => peers
            .into_iter()
            .map(|from| json!({"from": from}))
            .collect(),
        (None, Some(local)) => local.iter().map(|rule| istio_rule(None, rule)).collect(),
        (Some(peers), Some(local)) => peers
            .iter()
            .flat_map(|from| local.iter().map(move |rule| istio_rule(Some(from), rule)))
            .collect(),
    };
    // ALLOW with no rule allows nothing: only what the rules list gets through.
    let mut policy = json!({"action": "ALLOW"});
    if !rules.is_empty() {
        policy["rules"] = Value::Array(rules);
    }
    Some(policy)
}

/// An Istio rule of a local rule, within the peer sources `peers` when the mode sets some.
fn istio_rule(peers: Option<&Vec<Value>>, rule: &LocalRule) -> Value {
    let from: Vec<Value> = match (peers, &rule.source) {
        (None, None) => Vec::new(),
        (None, Some(source)) => vec![json!({"source": source})],
        (Some(peers), None) => peers.clone(),
        (Some(peers), Some(source)) => peers
            .iter()
            .map(|peer| {
                let mut merged = peer["source"].clone();
                if let (Some(merged), Some(own)) = (merged.as_object_mut(), source.as_object()) {
                    merged.extend(own.clone());
                }
                json!({"source": merged})
            })
            .collect(),
    };
    let mut out = json!({});
    if !from.is_empty() {
        out["from"] = json!(from);
    }
    if !rule.to.is_empty() {
        out["to"] = json!(rule.to);
    }
    if !rule.when.is_empty() {
        out["when"] = json!(rule.when);
    }
    out
}

/// `authenticationSettings.http` → a namespace-wide `RequestAuthentication` whose `jwtRules`
/// are TSB's JWT rules field by field. As TSB documents, a request without a token is not
/// rejected by these rules (authorization decides that); one with a token that fails them is.
pub(super) fn request_authentication(http: &HttpAuthentication) -> Option<Value> {
    let rules: Vec<Value> = http.jwt_rules().into_iter().map(jwt_rule).collect();
    (!rules.is_empty()).then(|| json!({"jwtRules": rules}))
}

/// One TSB JWT as an Istio `jwtRules` entry.
pub(crate) fn jwt_rule(jwt: &Jwt) -> Value {
    let mut rule = json!({"issuer": jwt.issuer});
    if !jwt.audiences.is_empty() {
        rule["audiences"] = json!(jwt.audiences);
    }
    // The reference: with both set, jwksUri is ignored.
    if let Some(jwks) = &jwt.jwks {
        rule["jwks"] = json!(jwks);
    } else if let Some(uri) = &jwt.jwks_uri {
        rule["jwksUri"] = json!(uri);
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
}

/// The Istio `mtls.mode` of a traffic mode.
pub(super) fn mtls_mode(mode: AuthenticationMode) -> Option<&'static str> {
    match mode {
        AuthenticationMode::Unset => None,
        AuthenticationMode::Optional => Some("PERMISSIVE"),
        AuthenticationMode::Required => Some("STRICT"),
    }
}
