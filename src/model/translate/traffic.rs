//! Traffic kinds → `Sidecar`, `DestinationRule`, `VirtualService` (§7.2).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::spec::{
    CircuitBreakerSensitivity, ReachabilityMode, ServiceRouteSpec, ServiceTrafficSettingSpec, Spec,
    Subset, TrafficSettingSpec,
};
use crate::model::translate::{Context, Generated, Output, split_service};

/// Port of TSB egress gateways' mTLS listener, used when `egress.port` is not given.
const EGRESS_GATEWAY_PORT: u32 = 15443;

/// The setting in force: the defaults of the settings in `context` (organization, tenant,
/// workspace, then a ServiceTrafficSetting), overlaid with `own`. A field left out (or
/// `UNSET`) is inherited from the level above (§7.2).
pub(crate) fn effective(
    context: &Context<'_>,
    own: Option<&TrafficSettingSpec>,
) -> TrafficSettingSpec {
    let mut merged = TrafficSettingSpec::default();
    for setting in &context.settings {
        let level = match &setting.spec {
            Spec::OrganizationSetting(s) => s.default_traffic_setting.as_ref(),
            Spec::TenantSetting(s) => s.default_traffic_setting.as_ref(),
            Spec::WorkspaceSetting(s) => s.default_traffic_setting.as_ref(),
            // A ServiceRoute's group TrafficSetting (the index gives it only to ServiceRoutes).
            Spec::TrafficSetting(s) => Some(s),
            Spec::ServiceTrafficSetting(s) => s.settings.as_ref(),
            _ => None,
        };
        if let Some(level) = level {
            overlay(&mut merged, level);
        }
    }
    if let Some(own) = own {
        overlay(&mut merged, own);
    }
    merged
}

fn overlay(base: &mut TrafficSettingSpec, over: &TrafficSettingSpec) {
    if let Some(r) = &over.reachability
        && (r.mode.is_some_and(|m| m != ReachabilityMode::Unset) || !r.hosts.is_empty())
    {
        base.reachability = Some(r.clone());
    }
    if let Some(o) = &over.resilience {
        let b = base.resilience.get_or_insert_with(Default::default);
        if o.http_request_timeout.is_some() {
            b.http_request_timeout.clone_from(&o.http_request_timeout);
        }
        if o.http_retries.is_some() {
            b.http_retries.clone_from(&o.http_retries);
        }
        if let Some(c) = o.circuit_breaker_sensitivity
            && c != CircuitBreakerSensitivity::Unset
        {
            b.circuit_breaker_sensitivity = Some(c);
        }
    }
    if over.egress.as_ref().is_some_and(|e| e.host.is_some()) {
        base.egress.clone_from(&over.egress);
    }
}

/// Consecutive 5xx / connection failures before ejection (§7.2, documented values).
fn consecutive_errors(sensitivity: CircuitBreakerSensitivity) -> Option<u32> {
    match sensitivity {
        CircuitBreakerSensitivity::Unset => None,
        CircuitBreakerSensitivity::Low => Some(20),
        CircuitBreakerSensitivity::Medium => Some(10),
        CircuitBreakerSensitivity::High => Some(5),
    }
}

/// `trafficPolicy` of a DestinationRule from resilience (outlier detection), if any.
fn traffic_policy(setting: &TrafficSettingSpec) -> Option<Value> {
    let errors = setting
        .resilience
        .as_ref()
        .and_then(|r| r.circuit_breaker_sensitivity)
        .and_then(consecutive_errors)?;
    // Envoy counts connection failures as 5xx for this detector, matching TSB's wording.
    Some(json!({"outlierDetection": {"consecutive5xxErrors": errors}}))
}

/// Istio `HTTPRoute` fields for timeouts and retries, from resilience.
fn http_resilience(setting: &TrafficSettingSpec, route: &mut Map<String, Value>) {
    let Some(resilience) = &setting.resilience else {
        return;
    };
    if let Some(timeout) = &resilience.http_request_timeout {
        route.insert("timeout".into(), json!(timeout));
    }
    if let Some(retries) = &resilience.http_retries {
        let mut out = Map::new();
        out.insert("attempts".into(), json!(retries.attempts.unwrap_or(0)));
        if let Some(t) = &retries.per_try_timeout {
            out.insert("perTryTimeout".into(), json!(t));
        }
        if let Some(on) = &retries.retry_on {
            out.insert("retryOn".into(), json!(on));
        }
        route.insert("retries".into(), Value::Object(out));
    }
}

/// TrafficSetting: in every namespace of the group, a namespace-wide `Sidecar` (reachability,
/// egress gateway) and a `DestinationRule` for the namespace's services (outlier detection).
pub(crate) fn traffic_setting(
    spec: &TrafficSettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let setting = effective(context, Some(spec));
    let egress = setting
        .egress
        .as_ref()
        .and_then(|e| Some((e.host.as_deref().and_then(split_service)?, e.port)));
    let mode = setting.reachability.as_ref().and_then(|r| r.mode);
    let policy = traffic_policy(&setting);
    let mut objects = Vec::new();
    for namespace in context.namespaces {
        let hosts = match mode {
            None | Some(ReachabilityMode::Unset) if egress.is_none() => None,
            None | Some(ReachabilityMode::Unset) | Some(ReachabilityMode::Cluster) => {
                Some(vec!["*/*".to_string()])
            }
            Some(ReachabilityMode::Namespace) => Some(vec!["./*".to_string()]),
            Some(ReachabilityMode::Group) => Some(all_of(context.namespaces)),
            Some(ReachabilityMode::Workspace) => {
                let workspace = context.resolution.namespaces_of(
                    &out.resource
                        .fqn
                        .ancestor(Kind::Workspace)
                        .unwrap_or_else(|| out.resource.fqn.clone()),
                );
                Some(all_of(if workspace.is_empty() {
                    context.namespaces
                } else {
                    &workspace
                }))
            }
            Some(ReachabilityMode::Custom) => {
                let hosts = &setting
                    .reachability
                    .as_ref()
                    .map(|r| r.hosts.clone())
                    .unwrap_or_default();
                // An empty CUSTOM list would be an invalid Sidecar: keep the namespace itself.
                Some(if hosts.is_empty() {
                    vec!["./*".to_string()]
                } else {
                    hosts.clone()
                })
            }
        };
        if let Some(mut hosts) = hosts {
            let mut sidecar = json!({});
            if let Some(((gw_namespace, gw_host), port)) = egress {
                let entry = format!("{gw_namespace}/{gw_host}");
                if !hosts.contains(&entry) && !hosts.iter().any(|h| h == "*/*") {
                    hosts.push(entry);
                }
                // Unknown destinations go through the egress gateway (ALLOW_ANY is required
                // for `egressProxy`).
                sidecar["outboundTrafficPolicy"] = json!({
                    "mode": "ALLOW_ANY",
                    "egressProxy": {"host": gw_host, "port": {"number": port.unwrap_or(EGRESS_GATEWAY_PORT)}}
                });
            }
            sidecar["egress"] = json!([{"hosts": hosts}]);
            objects.push(out.object(Kind::Sidecar, namespace, None, sidecar));
        }
        if let Some(policy) = &policy {
            let spec = json!({"host": format!("*.{namespace}.svc.cluster.local"), "trafficPolicy": policy});
            objects.push(out.object(Kind::DestinationRule, namespace, None, spec));
        }
    }
    objects
}

fn all_of(namespaces: &BTreeSet<String>) -> Vec<String> {
    namespaces.iter().map(|n| format!("{n}/*")).collect()
}

/// ServiceTrafficSetting: a `DestinationRule` for the service (outlier detection), in the
/// service's namespace when the group has it here.
pub(crate) fn service_traffic_setting(
    spec: &ServiceTrafficSettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    let setting = effective(context, spec.settings.as_ref());
    Ok(traffic_policy(&setting)
        .map(|policy| {
            let spec = json!({"host": host, "trafficPolicy": policy});
            out.object(Kind::DestinationRule, namespace, None, spec)
        })
        .into_iter()
        .collect())
}

/// Subset weights: as written; evenly split (remainder to the first) when none is given.
fn weights(subsets: &[Subset]) -> Vec<Option<u32>> {
    if subsets.len() == 1 && subsets[0].weight.is_none() {
        return vec![None];
    }
    if subsets.iter().all(|s| s.weight.is_none()) {
        let n = subsets.len() as u32;
        return (0..n)
            .map(|i| Some(100 / n + if i == 0 { 100 % n } else { 0 }))
            .collect();
    }
    subsets
        .iter()
        .map(|s| Some(s.weight.unwrap_or(0)))
        .collect()
}

/// ServiceRoute: a `VirtualService` splitting traffic over the subsets (with the timeouts and
/// retries in force for the service) and a `DestinationRule` defining them, in the service's
/// namespace when the group has it here.
pub(crate) fn service_route(
    spec: &ServiceRouteSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    let mut subsets = Vec::new();
    for (i, subset) in spec.subsets.iter().enumerate() {
        let name = subset
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| {
                out.invalid(
                    &format!("spec.subsets[{i}].name"),
                    "a subset needs a name",
                    "name every subset, e.g. v1",
                )
            })?;
        subsets.push(json!({"name": name, "labels": subset.labels}));
    }
    let destinations = |port: Option<u32>| -> Vec<Value> {
        spec.subsets
            .iter()
            .zip(weights(&spec.subsets))
            .map(|(subset, weight)| {
                let mut destination = json!({"host": host, "subset": subset.name});
                if let Some(port) = port {
                    destination["port"] = json!({"number": port});
                }
                let mut entry = json!({"destination": destination});
                if let Some(weight) = weight {
                    entry["weight"] = json!(weight);
                }
                entry
            })
            .collect()
    };
    let setting = effective(context, None);
    let http_route = |port: Option<u32>| {
        let mut route = Map::new();
        if let Some(port) = port {
            route.insert("match".into(), json!([{"port": port}]));
        }
        route.insert("route".into(), Value::Array(destinations(port)));
        http_resilience(&setting, &mut route);
        Value::Object(route)
    };
    let mut http = Vec::new();
    let mut tcp = Vec::new();
    for settings in &spec.port_level_settings {
        let Some(port) = settings.port else { continue };
        match settings
            .traffic_type
            .as_deref()
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            // L4 routing also carries TLS that the sidecar does not terminate.
            Some("TCP" | "TLS" | "HTTPS") => {
                tcp.push(json!({"match": [{"port": port}], "route": destinations(Some(port))}))
            }
            _ => http.push(http_route(Some(port))),
        }
    }
    if http.is_empty() && tcp.is_empty() {
        http.push(http_route(None));
    }
    let mut virtual_service = json!({"hosts": [host]});
    if !http.is_empty() {
        virtual_service["http"] = Value::Array(http);
    }
    if !tcp.is_empty() {
        virtual_service["tcp"] = Value::Array(tcp);
    }
    let mut destination_rule = json!({"host": host, "subsets": subsets});
    // This rule is more specific than the group's `*.<namespace>` one, so Istio applies it
    // alone to the service: it carries the circuit breaking in force too.
    let mut policy = traffic_policy(&setting).unwrap_or_else(|| json!({}));
    if let Some(hash) = spec.sticky_session.as_ref().and_then(consistent_hash) {
        policy["loadBalancer"] = json!({"consistentHash": hash});
    }
    if policy.as_object().is_some_and(|p| !p.is_empty()) {
        destination_rule["trafficPolicy"] = policy;
    }
    Ok(vec![
        out.object(Kind::VirtualService, namespace, None, virtual_service),
        out.object(Kind::DestinationRule, namespace, None, destination_rule),
    ])
}

/// `stickySession` (`header`, `cookie{name, path, ttl}` or `useSourceIp`) → Istio `consistentHash`.
fn consistent_hash(sticky: &Value) -> Option<Value> {
    if let Some(header) = sticky.get("header").and_then(Value::as_str) {
        return Some(json!({"httpHeaderName": header}));
    }
    if let Some(cookie) = sticky.get("cookie").and_then(Value::as_object) {
        let mut out = Map::new();
        for key in ["name", "path", "ttl"] {
            if let Some(v) = cookie.get(key) {
                out.insert(key.into(), v.clone());
            }
        }
        return Some(json!({"httpCookie": out}));
    }
    sticky
        .get("useSourceIp")
        .and_then(Value::as_bool)
        .filter(|b| *b)
        .map(|_| json!({"useSourceIp": true}))
}
