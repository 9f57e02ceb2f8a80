//! ServiceRoute: a VirtualService over the service's subsets and a DestinationRule defining them.

use serde_json::{Map, Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::spec::{ServiceRouteSpec, Subset};
use crate::model::translate::traffic::{effective, http_resilience, traffic_policy};
use crate::model::translate::{Context, Generated, Output};

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
