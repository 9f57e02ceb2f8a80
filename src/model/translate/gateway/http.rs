//! HTTP rules of the ingress and unified gateways → VirtualService `http[]`: match, rewrite,
//! header changes, redirect, CORS, and destinations split over the service's ServiceRoute
//! subsets.

use serde_json::{Map, Value, json};

use crate::model::resolve::target_namespaces;
use crate::model::spec::gateway::{
    CorsPolicy, HeaderOperations, HttpMatchCondition, HttpModifyAction, HttpRouting,
    HttpRoutingConfig, Redirect,
};
use crate::model::spec::{Spec, Subset};
use crate::model::translate::{Context, split_service};

/// One HTTP rule of either gateway kind, with the server's CORS policy.
pub(crate) struct HttpRoute<'s> {
    matches: &'s [HttpMatchCondition],
    modify: Option<&'s HttpModifyAction>,
    /// `<ns>/<fqdn>` and port of a service destination.
    target: Option<(&'s str, Option<u32>)>,
    redirect: Option<&'s Redirect>,
    cors: Option<&'s CorsPolicy>,
}

/// IngressGateway `routing.rules`.
pub(super) fn ingress_routes(routing: Option<&HttpRouting>) -> Vec<HttpRoute<'_>> {
    let Some(routing) = routing else {
        return Vec::new();
    };
    let rules = routing.rules.iter().map(|rule| {
        let target = rule
            .route
            .as_ref()
            .and_then(|r| Some((r.host.as_deref()?, r.port)));
        (
            &rule.match_,
            rule.modify.as_ref(),
            target,
            rule.redirect.as_ref(),
        )
    });
    with_cors(rules, routing.cors_policy.as_ref())
}

/// Unified Gateway `routing.rules`; routes to clusters have no service target.
pub(super) fn unified_routes(routing: Option<&HttpRoutingConfig>) -> Vec<HttpRoute<'_>> {
    let Some(routing) = routing else {
        return Vec::new();
    };
    let rules = routing.rules.iter().map(|rule| {
        let service = rule
            .route
            .as_ref()
            .and_then(|r| r.service_destination.as_ref());
        let target = service.and_then(|s| Some((s.host.as_deref()?, s.port)));
        (
            &rule.match_,
            rule.modify.as_ref(),
            target,
            rule.redirect.as_ref(),
        )
    });
    with_cors(rules, routing.cors_policy.as_ref())
}

/// The rule parts `(match, modify, target, redirect)` with the server's CORS policy.
#[allow(clippy::type_complexity)]
fn with_cors<'s>(
    rules: impl Iterator<
        Item = (
            &'s Vec<HttpMatchCondition>,
            Option<&'s HttpModifyAction>,
            Option<(&'s str, Option<u32>)>,
            Option<&'s Redirect>,
        ),
    >,
    cors: Option<&'s CorsPolicy>,
) -> Vec<HttpRoute<'s>> {
    rules
        .map(|(matches, modify, target, redirect)| HttpRoute {
            matches,
            modify,
            target,
            redirect,
            cors,
        })
        .collect()
}

impl<'s> HttpRoute<'s> {
    /// A rule that only redirects (Tier1 external servers).
    pub(super) fn redirect(redirect: &'s Redirect) -> HttpRoute<'s> {
        HttpRoute {
            matches: &[],
            modify: None,
            target: None,
            redirect: Some(redirect),
            cors: None,
        }
    }

    /// The Istio `HTTPRoute`; `None` when the rule neither redirects nor routes to a service
    /// (a cluster destination, or a rule the L1 rules reject).
    pub(super) fn to_istio(&self, context: &Context<'_>) -> Option<Value> {
        let mut route = Map::new();
        let matches: Vec<Value> = self
            .matches
            .iter()
            .filter(|m| m.uri.is_some() || !m.headers.is_empty())
            .map(|m| json!(m))
            .collect();
        if !matches.is_empty() {
            route.insert("match".into(), Value::Array(matches));
        }
        if let Some(redirect) = self.redirect {
            route.insert("redirect".into(), json!(redirect));
        } else {
            let (host, port) = self.target?;
            route.insert("route".into(), destinations(host, port, context)?);
            if let Some(modify) = self.modify {
                modifications(modify, &mut route);
            }
        }
        if let Some(cors) = self.cors {
            route.insert("corsPolicy".into(), cors_policy(cors));
        }
        Some(Value::Object(route))
    }
}

/// `modify.rewrite` → `rewrite`, `modify.headers` → `headers` (the same shapes in Istio).
fn modifications(modify: &HttpModifyAction, route: &mut Map<String, Value>) {
    if let Some(rewrite) = &modify.rewrite
        && (rewrite.uri.is_some() || rewrite.authority.is_some())
    {
        route.insert("rewrite".into(), json!(rewrite));
    }
    let Some(headers) = &modify.headers else {
        return;
    };
    let mut out = Map::new();
    for (key, operations) in [
        ("request", &headers.request),
        ("response", &headers.response),
    ] {
        if let Some(operations) = operations.as_ref().filter(|o| !o.is_empty()) {
            out.insert(key.into(), json!(HeaderOperations::clone(operations)));
        }
    }
    if !out.is_empty() {
        route.insert("headers".into(), Value::Object(out));
    }
}

/// TSB `CorsPolicy` → Istio `corsPolicy`: origins become exact matches, `*` any origin.
fn cors_policy(cors: &CorsPolicy) -> Value {
    let mut out = Map::new();
    if !cors.allow_origin.is_empty() {
        let origins: Vec<Value> = cors
            .allow_origin
            .iter()
            .map(|o| match o.as_str() {
                "*" => json!({"regex": ".*"}),
                _ => json!({"exact": o}),
            })
            .collect();
        out.insert("allowOrigins".into(), Value::Array(origins));
    }
    for (key, list) in [
        ("allowMethods", &cors.allow_methods),
        ("allowHeaders", &cors.allow_headers),
        ("exposeHeaders", &cors.expose_headers),
    ] {
        if !list.is_empty() {
            out.insert(key.into(), json!(list));
        }
    }
    if let Some(age) = &cors.max_age {
        out.insert("maxAge".into(), json!(age));
    }
    if let Some(credentials) = cors.allow_credentials {
        out.insert("allowCredentials".into(), json!(credentials));
    }
    Value::Object(out)
}

/// The route's destinations for the service `<ns>/<fqdn>`: one, or, when a ServiceRoute of
/// that service translates in this cluster, one per subset with its weight (as TSB does, so
/// gateway traffic honours canaries). `None` when the host is not `<ns>/<fqdn>`.
pub(super) fn destinations(
    service: &str,
    port: Option<u32>,
    context: &Context<'_>,
) -> Option<Value> {
    let (namespace, host) = split_service(service)?;
    let destination = |subset: Option<&str>| {
        let mut destination = json!({"host": host});
        if let Some(subset) = subset {
            destination["subset"] = json!(subset);
        }
        if let Some(port) = port {
            destination["port"] = json!({"number": port});
        }
        destination
    };
    let subsets = service_route_subsets(service, namespace, context);
    if subsets.is_empty() {
        return Some(json!([{"destination": destination(None)}]));
    }
    let entries: Vec<Value> = subsets
        .iter()
        .map(|(name, weight)| {
            let mut entry = json!({"destination": destination(Some(name))});
            if let Some(weight) = weight {
                entry["weight"] = json!(weight);
            }
            entry
        })
        .collect();
    Some(Value::Array(entries))
}

/// The subsets of the first ServiceRoute (in FQN order) of `service` that targets
/// `namespace` in this cluster; none when there is none or it does not translate (a subset
/// without a name).
pub(super) fn service_route<'c>(
    service: &str,
    namespace: &str,
    context: &Context<'c>,
) -> &'c [Subset] {
    let route = context
        .service_routes
        .get(service)
        .find(|r| target_namespaces(context.resolution, r).contains(namespace));
    match route.map(|r| &r.spec) {
        Some(Spec::ServiceRoute(spec))
            if spec
                .subsets
                .iter()
                .all(|s| s.name.as_deref().is_some_and(|n| !n.is_empty())) =>
        {
            &spec.subsets
        }
        _ => &[],
    }
}

/// Named subsets and weights of [`service_route`]. Weights follow the ServiceRoute's own
/// split: as written (a missing one is 0) when any is given, else an even split with the
/// remainder on the first subset, and none for a single subset.
fn service_route_subsets(
    service: &str,
    namespace: &str,
    context: &Context<'_>,
) -> Vec<(String, Option<u32>)> {
    let named: Vec<(&str, Option<u32>)> = service_route(service, namespace, context)
        .iter()
        .filter_map(|s| Some((s.name.as_deref()?, s.weight)))
        .collect();
    if named.is_empty() {
        return Vec::new();
    }
    let count = named.len() as u32;
    let explicit = named.iter().any(|(_, w)| w.is_some());
    named
        .iter()
        .enumerate()
        .map(|(i, (name, weight))| {
            let weight = match (count, explicit) {
                (1, false) => None,
                (_, true) => Some(weight.unwrap_or(0)),
                (_, false) => Some(100 / count + if i == 0 { 100 % count } else { 0 }),
            };
            (name.to_string(), weight)
        })
        .collect()
}
