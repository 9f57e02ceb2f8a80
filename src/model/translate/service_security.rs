//! ServiceSecuritySetting → policies in the service's namespace that select the Service's
//! workloads (its `spec.selector`), and for each subset the workloads of that subset (the
//! Service's selector plus the labels of the ServiceRoute subset of that name).
//!
//! Istio cannot exclude pods from a selector, so the service-wide policies also cover every
//! subset's pods: ALLOW policies add up and a DENY wins, so a subset's authorization only
//! narrows the service's (what it cannot express is reported, by field, as a warning).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::security::{
    Effective, Sources, allow_policy, effective, local_rules, mode_sources, mtls_mode,
    request_authentication, rule_sources, workspace_of,
};
use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::spec::{
    AuthenticationMode, AuthorizationMode, AuthorizationSettings, SecuritySettingSpec,
    ServiceSecuritySettingSpec, Spec,
};
use crate::model::translate::{Context, Generated, Output};

/// The workloads one part of a ServiceSecuritySetting selects (the whole service or a
/// subset), with the settings in force there.
struct Scope<'s> {
    /// Name part of the generated objects: `None` for the service, `subset-<name>`.
    part: Option<String>,
    /// `selector.matchLabels`.
    labels: BTreeMap<String, String>,
    /// What this part sets itself (only that generates objects: the rest is already enforced
    /// by a wider policy covering the same pods).
    own: &'s SecuritySettingSpec,
    /// The settings in force after inheritance.
    setting: Effective,
}

/// What a scope generated, for the checks of its subsets against it.
#[derive(Default)]
struct Enforced {
    /// `mtls.mode` of its own PeerAuthentication.
    mtls: Option<&'static str>,
    /// It has its own RequestAuthentication.
    jwt: bool,
    /// Provider of its own CUSTOM AuthorizationPolicy.
    provider: Option<String>,
    /// The callers its DENY policy lets through (`None`: no DENY policy).
    callers: Option<Sources>,
    /// It has an ALLOW policy.
    allow: bool,
}

impl Scope<'_> {
    fn name(&self, suffix: Option<&str>) -> Option<String> {
        match (&self.part, suffix) {
            (None, suffix) => suffix.map(str::to_string),
            (Some(part), None) => Some(part.clone()),
            (Some(part), Some(suffix)) => Some(format!("{part}-{suffix}")),
        }
    }

    fn object(
        &self,
        kind: Kind,
        suffix: Option<&str>,
        namespace: &str,
        mut spec: Value,
        out: &Output<'_>,
    ) -> Generated {
        spec["selector"] = json!({"matchLabels": self.labels});
        out.object(kind, namespace, self.name(suffix).as_deref(), spec)
    }
}

/// ServiceSecuritySetting: for the service and then for each subset, a `PeerAuthentication`
/// for its own traffic mode, a `RequestAuthentication` for its JWT rules, a CUSTOM
/// `AuthorizationPolicy` for its external authorization server, and for its authorization an
/// ALLOW policy (the callers its mode allows ANDed with its local HTTP rules: ALLOW policies
/// add up, so it lets the service's callers in even beyond the group's namespace-wide policy)
/// with a DENY policy (every other caller). Nothing is generated in a cluster without the
/// Service (never a namespace-wide policy).
pub(crate) fn service_security_setting(
    spec: &ServiceSecuritySettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    let Some((name, labels)) = service_selector(namespace, host, context, out) else {
        return Ok(Vec::new());
    };
    let own = spec.settings.clone().unwrap_or_default();
    let service = Scope {
        part: None,
        labels,
        own: &own,
        setting: effective(context, Some(&own)),
    };
    let mut objects = Vec::new();
    let wide = scope_policies(&service, namespace, context, out, &mut objects);
    for (i, subset) in spec.subsets.iter().enumerate() {
        let (Some(subset_name), Some(settings)) = (subset.name.as_deref(), &subset.settings) else {
            continue; // REQUIRED fields: the L1 rules report them.
        };
        let Some(subset_labels) = subset_labels(namespace, name, subset_name, context) else {
            out.warn(
                &format!("spec.subsets[{i}].name"),
                format!(
                    "no ServiceRoute of {namespace}/{host} has a subset {subset_name:?}: nothing \
                     is generated for it (TSB omits it too)"
                ),
                "name a subset of the service's ServiceRoute, or add the subset there",
            );
            continue;
        };
        // The subset's settings replace the service's field by field; below a STRICTER
        // service setting they may only tighten the traffic and authorization modes.
        let mut setting = service.setting.clone();
        setting.overlay(settings);
        let mut labels = service.labels.clone();
        labels.extend(subset_labels.clone());
        let scope = Scope {
            part: Some(format!("subset-{subset_name}")),
            labels,
            own: settings,
            setting,
        };
        let at = format!("spec.subsets[{i}].settings");
        let mut generated = Vec::new();
        let narrow = scope_policies(&scope, namespace, context, out, &mut generated);
        let keep = conflicts(&wide, &narrow, &scope, &at, subset_name, out);
        objects.extend(generated.into_iter().filter(|g| keep(g)));
    }
    Ok(objects)
}

/// Reports what a subset's policies cannot do on top of the service-wide ones (which cover
/// the subset's pods as well); returns which of the subset's objects to keep (a second
/// PeerAuthentication or a second CUSTOM provider on the same pods is not valid Istio).
fn conflicts(
    wide: &Enforced,
    narrow: &Enforced,
    scope: &Scope<'_>,
    at: &str,
    subset: &str,
    out: &Output<'_>,
) -> impl Fn(&Generated) -> bool {
    let mut drop_peer = false;
    let mut drop_custom = false;
    if let (Some(service), Some(own)) = (wide.mtls, narrow.mtls) {
        drop_peer = true;
        if service != own {
            out.warn(
                &format!("{at}.authenticationSettings.trafficMode"),
                format!(
                    "subset {subset} keeps the service's mTLS mode {service}: Istio applies only \
                     the oldest of two PeerAuthentications selecting the same pods, and a \
                     selector cannot leave the subset's pods out of the service's"
                ),
                "set the traffic mode on the service only, or on every subset instead of the \
                 service",
            );
        }
    }
    if let (Some(service), Some(own)) = (&wide.provider, &narrow.provider) {
        drop_custom = true;
        if service != own {
            out.warn(
                &format!("{at}.authorization.http.external"),
                format!(
                    "subset {subset} stays checked by the service's server ({service}): Istio \
                     allows one CUSTOM provider per workload"
                ),
                "set external authorization on the service only, or on every subset instead \
                 of the service",
            );
        }
    }
    if wide.jwt && narrow.jwt {
        out.warn(
            &format!("{at}.authenticationSettings.http"),
            format!(
                "the service's JWT rules stay in force on subset {subset}: Istio accepts a \
                 token valid under either RequestAuthentication"
            ),
            "set JWT rules on the service only, or on every subset instead of the service",
        );
    }
    if let Some(service) = &wide.callers
        && !narrow
            .callers
            .as_ref()
            .is_some_and(|own| within(own, service))
        && sets_authorization(scope.own)
    {
        out.warn(
            &format!("{at}.authorization"),
            format!(
                "callers the service denies stay denied on subset {subset}: the service's DENY \
                 policy covers the subset's pods too (a DENY wins in Istio), so a subset can \
                 only narrow who may call"
            ),
            "allow those callers on the service as well (and narrow the other subsets)",
        );
    }
    let local = scope
        .own
        .authorization
        .as_ref()
        .and_then(|a| a.http.as_ref())
        .is_some_and(|h| h.local.is_some());
    if wide.allow && local {
        out.warn(
            &format!("{at}.authorization.http.local"),
            format!(
                "requests the service's ALLOW policy admits still reach subset {subset}: ALLOW \
                 policies add up in Istio, so a subset's local rules cannot narrow the \
                 service's"
            ),
            "set local rules on the service only, or on every subset instead of the service",
        );
    }
    move |g: &Generated| {
        let custom = g.kind == Kind::AuthorizationPolicy.name() && g.spec["action"] == "CUSTOM";
        !(drop_peer && g.kind == Kind::PeerAuthentication.name() || drop_custom && custom)
    }
}

/// Whether the setting sets an authorization mode or local HTTP rules itself (what its
/// ALLOW/DENY pair is made of; external authorization is a policy of its own).
fn sets_authorization(own: &SecuritySettingSpec) -> bool {
    own.authorization.as_ref().is_some_and(|a| {
        a.mode.is_some_and(|m| m != AuthorizationMode::Unset)
            || a.http.as_ref().is_some_and(|h| h.local.is_some())
    })
}

/// Whether every caller `narrow` allows is one `wide` allows.
fn within(narrow: &Sources, wide: &Sources) -> bool {
    if wide.principals.contains("*") {
        return true;
    }
    let namespace_of = |principal: &str| {
        principal
            .strip_prefix("*/ns/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(ns, _)| ns.to_string())
    };
    narrow.namespaces.is_subset(&wide.namespaces)
        && narrow.principals.iter().all(|p| {
            wide.principals.contains(p)
                || namespace_of(p).is_some_and(|ns| wide.namespaces.contains(&ns))
        })
}

/// The policies of one scope into `objects`.
fn scope_policies(
    scope: &Scope<'_>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
    objects: &mut Vec<Generated>,
) -> Enforced {
    let mut enforced = Enforced::default();
    let setting = &scope.setting;
    // Only the scope's own mode: the inherited one is already the wider scope's.
    if scope
        .own
        .traffic_mode()
        .is_some_and(|m| m != AuthenticationMode::Unset)
        && let Some(mode) = setting.traffic_mode.and_then(mtls_mode)
    {
        let spec = json!({"mtls": {"mode": mode}});
        objects.push(scope.object(Kind::PeerAuthentication, None, namespace, spec, out));
        enforced.mtls = Some(mode);
    }
    let own_http = scope
        .own
        .authentication_settings
        .as_ref()
        .and_then(|a| a.http.as_ref());
    if let Some(spec) = own_http.and_then(request_authentication) {
        objects.push(scope.object(Kind::RequestAuthentication, None, namespace, spec, out));
        enforced.jwt = true;
    }
    let http = scope
        .own
        .authorization
        .as_ref()
        .and_then(|a| a.http.as_ref());
    if let Some(endpoint) = http
        .and_then(|h| h.external.as_ref())
        .and_then(|backend| backend.endpoint().ok())
    {
        // CUSTOM policies without rules match nothing: one empty rule sends every request.
        let provider = endpoint.provider_name();
        let spec = json!({"action": "CUSTOM", "provider": {"name": provider}, "rules": [{}]});
        objects.push(scope.object(
            Kind::AuthorizationPolicy,
            Some("ext-authz"),
            namespace,
            spec,
            out,
        ));
        enforced.provider = Some(provider);
    }
    // A subset that sets no authorization keeps the service's policies, which cover its pods.
    if scope.part.is_some() && !sets_authorization(scope.own) {
        return enforced;
    }
    // With JWT rules in force a local rule without a subject still needs a token (as for a
    // SecuritySetting: inside the ALLOW policy, never a DENY on notRequestPrincipals).
    let require_token = setting
        .http_authentication
        .as_ref()
        .and_then(request_authentication)
        .is_some();
    let local = setting
        .http_authorization
        .as_ref()
        .and_then(|h| h.local.as_ref())
        .map(|local| local_rules(local, require_token));
    let peers = setting
        .authorization
        .as_ref()
        .and_then(|a| service_authorization(a, namespace, context, out));
    let deny = peers.as_ref().map(|(_, deny, _)| deny.clone());
    enforced.callers = peers.as_ref().map(|(_, _, callers)| callers.clone());
    if let Some(allow) = allow_policy(peers.map(|(allow, _, _)| allow), local.as_deref()) {
        objects.push(scope.object(
            Kind::AuthorizationPolicy,
            Some("allow"),
            namespace,
            allow,
            out,
        ));
        enforced.allow = true;
    }
    if let Some(rules) = deny {
        let spec = json!({"action": "DENY", "rules": rules});
        objects.push(scope.object(Kind::AuthorizationPolicy, None, namespace, spec, out));
    }
    enforced
}

/// The ServiceSecuritySetting's service in this cluster: its name and `spec.selector`, which
/// its policies carry as `selector.matchLabels`. `None`, with a warning naming the service
/// and the cluster, when the cluster has no such Service or it selects no pods: a policy
/// without a selector would cover the whole namespace.
fn service_selector<'c>(
    namespace: &str,
    host: &str,
    context: &Context<'c>,
    out: &Output<'_>,
) -> Option<(&'c str, BTreeMap<String, String>)> {
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
    Some((&service.name, service.selector.clone()))
}

/// The labels of subset `subset` in the first ServiceRoute (in FQN order) of Service `name`
/// in `namespace`, whichever form of the host its `spec.service` uses.
fn subset_labels<'c>(
    namespace: &str,
    name: &str,
    subset: &str,
    context: &Context<'c>,
) -> Option<&'c BTreeMap<String, String>> {
    let hosts = [
        name.to_string(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        format!("{name}.{namespace}.svc.cluster.local"),
    ];
    hosts
        .iter()
        .flat_map(|host| {
            let service = format!("{namespace}/{host}");
            context.service_routes.get(&service).collect::<Vec<_>>()
        })
        .filter_map(|route| match &route.spec {
            Spec::ServiceRoute(spec) => Some(spec),
            _ => None,
        })
        .flat_map(|spec| &spec.subsets)
        .find(|s| s.name.as_deref() == Some(subset))
        .map(|s| &s.labels)
}

/// A service's authorization as (ALLOW peer rules, each a list of ORed `from` sources; DENY
/// rules; the callers the DENY lets through); `None` when the mode sets no policy (DISABLED,
/// UNSET).
fn service_authorization(
    authorization: &AuthorizationSettings,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<(Vec<Vec<Value>>, Vec<Value>, Sources)> {
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
            .map(|namespaces| vec![json!({"source": {"namespaces": namespaces}})])
            .collect();
        return Some((allow, deny, allowed));
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
        vec![sources.allow_from()]
    };
    let deny = vec![json!({"from": [{"source": sources.deny_others()}]})];
    Some((allow, deny, sources))
}
