//! ServiceRoute: a VirtualService over the service's subsets and a DestinationRule defining them.
//!
//! TSB's semantics (reference page of `ServiceRoute`): explicit `httpRoutes`/`tcpRoutes` come
//! first, each with its own matches and destinations; a port of `portLevelSettings` that no
//! match uses gets a default route splitting by the subset weights; without ports or routes,
//! one HTTP route splits all traffic. Sticky sessions become consistent hashing on the
//! DestinationRule: top-level for every port, per port, and per subset and port.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::spec::{
    HttpRoute, PortLevelSetting, ServiceDestination, ServiceRouteSpec, StickySession, TcpRoute,
    TrafficSettingSpec, TrafficType,
};
use crate::model::translate::traffic::{effective, http_resilience, traffic_policy};
use crate::model::translate::{Context, Generated, Output};

/// Weights: as written; evenly split (remainder to the first) when none is given; none at
/// all for a single destination without one (Istio sends it everything).
fn weights(given: &[Option<u32>]) -> Vec<Option<u32>> {
    if given.len() == 1 && given[0].is_none() {
        return vec![None];
    }
    if given.iter().all(Option::is_none) {
        let n = given.len() as u32;
        return (0..n)
            .map(|i| Some(100 / n + if i == 0 { 100 % n } else { 0 }))
            .collect();
    }
    given.iter().map(|w| Some(w.unwrap_or(0))).collect()
}

/// One Istio `route[]` entry.
fn destination(host: &str, subset: Option<&str>, port: Option<u32>, weight: Option<u32>) -> Value {
    let mut destination = json!({"host": host});
    if let Some(subset) = subset {
        destination["subset"] = json!(subset);
    }
    if let Some(port) = port {
        destination["port"] = json!({"number": port});
    }
    let mut entry = json!({"destination": destination});
    if let Some(weight) = weight {
        entry["weight"] = json!(weight);
    }
    entry
}

/// The VirtualService of one ServiceRoute.
struct Routes<'a> {
    spec: &'a ServiceRouteSpec,
    host: &'a str,
    setting: &'a TrafficSettingSpec,
}

impl Routes<'_> {
    /// The subsets split by their weights (default routes).
    fn subset_split(&self, port: Option<u32>) -> Value {
        let given: Vec<Option<u32>> = self.spec.subsets.iter().map(|s| s.weight).collect();
        self.spec
            .subsets
            .iter()
            .zip(weights(&given))
            .map(|(subset, weight)| destination(self.host, subset.name.as_deref(), port, weight))
            .collect()
    }

    /// A route's own destinations; `destinationHost` as written (Istio reads a short name in
    /// the VirtualService's namespace, which is the service's).
    fn route_split(&self, destinations: &[ServiceDestination]) -> Value {
        let given: Vec<Option<u32>> = destinations.iter().map(|d| d.weight).collect();
        destinations
            .iter()
            .zip(weights(&given))
            .map(|(d, weight)| {
                let host = d
                    .destination_host
                    .as_deref()
                    .filter(|h| !h.is_empty())
                    .unwrap_or(self.host);
                destination(host, d.subset.as_deref(), d.port, weight)
            })
            .collect()
    }

    fn http(&self, name: Option<&str>, matches: Option<Value>, route: Value) -> Value {
        let mut out = Map::new();
        if let Some(name) = name {
            out.insert("name".into(), json!(name));
        }
        if let Some(matches) = matches {
            out.insert("match".into(), matches);
        }
        out.insert("route".into(), route);
        http_resilience(self.setting, &mut out);
        Value::Object(out)
    }

    fn explicit_http(&self, route: &HttpRoute) -> Value {
        let matches: Vec<Value> = route
            .r#match
            .iter()
            .map(|m| {
                let mut out = Map::new();
                if let Some(name) = &m.name {
                    out.insert("name".into(), json!(name));
                }
                if let Some(uri) = &m.uri {
                    out.insert("uri".into(), json!(uri));
                }
                if !m.headers.is_empty() {
                    out.insert("headers".into(), json!(m.headers));
                }
                if let Some(port) = m.port {
                    out.insert("port".into(), json!(port));
                }
                Value::Object(out)
            })
            .collect();
        self.http(
            route.name.as_deref(),
            (!matches.is_empty()).then_some(Value::Array(matches)),
            self.route_split(&route.destination),
        )
    }

    /// Istio's L4 routes have no names: TSB's route and match names stay in TSB.
    fn explicit_tcp(&self, route: &TcpRoute) -> Value {
        let mut out = json!({"route": self.route_split(&route.destination)});
        let matches: Vec<Value> = route
            .r#match
            .iter()
            .filter_map(|m| m.port)
            .map(|port| json!({"port": port}))
            .collect();
        if !matches.is_empty() {
            out["match"] = Value::Array(matches);
        }
        out
    }

    /// Ports that some match condition of `httpRoutes` or `tcpRoutes` uses.
    fn matched_ports(&self) -> BTreeSet<u32> {
        let http = self
            .spec
            .http_routes
            .iter()
            .flat_map(|r| r.r#match.iter().filter_map(|m| m.port));
        let tcp = self
            .spec
            .tcp_routes
            .iter()
            .flat_map(|r| r.r#match.iter().filter_map(|m| m.port));
        http.chain(tcp).collect()
    }

    fn virtual_service(&self) -> Value {
        let mut http: Vec<Value> = self
            .spec
            .http_routes
            .iter()
            .map(|r| self.explicit_http(r))
            .collect();
        let mut tcp: Vec<Value> = self
            .spec
            .tcp_routes
            .iter()
            .map(|r| self.explicit_tcp(r))
            .collect();
        let mut tls = Vec::new();
        let matched = self.matched_ports();
        let mut seen = BTreeSet::new();
        for setting in &self.spec.port_level_settings {
            let Some(port) = setting.port else { continue };
            if matched.contains(&port) || !seen.insert(port) {
                continue;
            }
            let route = self.subset_split(Some(port));
            match setting.traffic_type() {
                TrafficType::Http => http.push(self.http(
                    Some(&format!("default-http-route-{port}")),
                    Some(json!([{"port": port}])),
                    route,
                )),
                TrafficType::Tcp => tcp.push(json!({"match": [{"port": port}], "route": route})),
                // Passed-through TLS is routed on SNI: the service's own name.
                TrafficType::TlsPassthrough => tls.push(json!({
                    "match": [{"port": port, "sniHosts": [self.host]}],
                    "route": route,
                })),
            }
        }
        let no_routes = self.spec.http_routes.is_empty() && self.spec.tcp_routes.is_empty();
        if no_routes && seen.is_empty() {
            http.push(self.http(None, None, self.subset_split(None)));
        }
        let mut virtual_service = json!({"hosts": [self.host]});
        for (key, routes) in [("http", http), ("tcp", tcp), ("tls", tls)] {
            if !routes.is_empty() {
                virtual_service[key] = Value::Array(routes);
            }
        }
        virtual_service
    }
}

/// `stickySession` (`header`, `cookie{name, path, ttl}` or `useSourceIp`) → Istio `consistentHash`.
fn consistent_hash(sticky: &StickySession) -> Option<Value> {
    if let Some(header) = &sticky.header {
        return Some(json!({"httpHeaderName": header}));
    }
    if let Some(cookie) = &sticky.cookie {
        return Some(json!({"httpCookie": cookie}));
    }
    (sticky.use_source_ip == Some(true)).then(|| json!({"useSourceIp": true}))
}

/// Istio `portLevelSettings[]` for the ports with a sticky session. Port-level policies do not
/// inherit the DestinationRule's, so each carries the service's circuit breaking too.
fn port_policies<'a>(
    settings: impl Iterator<Item = &'a PortLevelSetting>,
    base: &Map<String, Value>,
) -> Vec<Value> {
    settings
        .filter_map(|setting| {
            let port = setting.port?;
            let hash = setting.sticky_session.as_ref().and_then(consistent_hash)?;
            let mut policy: Map<String, Value> = base
                .iter()
                .filter(|(k, _)| matches!(k.as_str(), "connectionPool" | "outlierDetection"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            policy.insert("port".into(), json!({"number": port}));
            policy.insert("loadBalancer".into(), json!({"consistentHash": hash}));
            Some(Value::Object(policy))
        })
        .collect()
}

/// The DestinationRule: subsets (with their own sticky ports), the service's circuit
/// breaking and the sticky sessions.
fn destination_rule(spec: &ServiceRouteSpec, host: &str, setting: &TrafficSettingSpec) -> Value {
    // This rule is more specific than the group's `*.<namespace>` one, so Istio applies it
    // alone to the service: it carries the circuit breaking in force too.
    let base = match traffic_policy(setting) {
        Some(Value::Object(policy)) => policy,
        _ => Map::new(),
    };
    let mut policy = base.clone();
    if let Some(hash) = spec.sticky_session.as_ref().and_then(consistent_hash) {
        policy.insert("loadBalancer".into(), json!({"consistentHash": hash}));
    }
    let ports = port_policies(spec.port_level_settings.iter(), &base);
    if !ports.is_empty() {
        policy.insert("portLevelSettings".into(), Value::Array(ports));
    }
    let top = |port: Option<u32>| {
        spec.port_level_settings
            .iter()
            .find(|s| s.port.is_some() && s.port == port)
            .map(PortLevelSetting::traffic_type)
    };
    let subsets: Vec<Value> = spec
        .subsets
        .iter()
        .map(|subset| {
            let mut out = json!({"name": subset.name, "labels": subset.labels});
            // Only settings for a top-level port of the same type modify its routes.
            let own = subset
                .port_level_settings
                .iter()
                .filter(|s| top(s.port) == Some(s.traffic_type()));
            let ports = port_policies(own, &base);
            if !ports.is_empty() {
                out["trafficPolicy"] = json!({"portLevelSettings": ports});
            }
            out
        })
        .collect();
    let mut destination_rule = json!({"host": host, "subsets": subsets});
    if !policy.is_empty() {
        destination_rule["trafficPolicy"] = Value::Object(policy);
    }
    destination_rule
}

/// ServiceRoute: a `VirtualService` with the explicit and default routes (with the timeouts
/// and retries in force for the service) and a `DestinationRule` defining the subsets, in the
/// service's namespace when the group has it here.
pub(crate) fn service_route(
    spec: &ServiceRouteSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    for (i, subset) in spec.subsets.iter().enumerate() {
        if subset.name.as_deref().unwrap_or("").is_empty() {
            return Err(out.invalid(
                &format!("spec.subsets[{i}].name"),
                "a subset needs a name",
                "name every subset, e.g. v1",
            ));
        }
    }
    let setting = effective(context, None);
    let routes = Routes {
        spec,
        host,
        setting: &setting,
    };
    Ok(vec![
        out.object(
            Kind::VirtualService,
            namespace,
            None,
            routes.virtual_service(),
        ),
        out.object(
            Kind::DestinationRule,
            namespace,
            None,
            destination_rule(spec, host, &setting),
        ),
    ])
}
