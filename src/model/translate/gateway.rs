//! Gateway kinds → Istio `Gateway`, `VirtualService`, `AuthorizationPolicy` (§7.2), placed in
//! `workloadSelector.namespace` and selecting the gateway pods by `workloadSelector.labels`.
//!
//! Server lists are JSON in the model (large, versioned TSB structures); this reads the
//! documented fields and ignores the rest (see `docs/translation.md`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::spec::{Spec, WorkloadSelector};
use crate::model::translate::{Context, Generated, Output, split_service};

/// Port of the egress gateway's mTLS listener for sidecars (as in TSB).
const EGRESS_PORT: u64 = 15443;

/// What a server listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// HTTP, or HTTPS when the server has TLS.
    Http,
    /// TCP, or TLS-terminated TCP when the server has TLS.
    Tcp,
    /// TLS passed through by SNI.
    Passthrough,
}

/// One server of any gateway kind, with the routes that are translatable.
struct Server<'v> {
    /// Path for diagnostics, e.g. `spec.http[0]`.
    field: String,
    /// Unique within the resource, for generated names, e.g. `http0`.
    part: String,
    value: &'v Value,
    protocol: Protocol,
}

fn servers<'v>(
    field: &str,
    list: &'v [Value],
    protocol: Protocol,
) -> impl Iterator<Item = Server<'v>> {
    list.iter().enumerate().map(move |(i, value)| Server {
        field: format!("spec.{field}[{i}]"),
        part: format!("{}{i}", field.to_ascii_lowercase()),
        value,
        protocol,
    })
}

/// Every gateway kind: one `Gateway` for all servers, one `VirtualService` per server with
/// service routes, and for an EgressGateway the `AuthorizationPolicy` of its `authorization`.
pub(crate) fn gateway(
    spec: &Spec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let selector = spec.workload_selector();
    let (namespace, labels) = placement(selector, out)?;
    if !context.namespaces.contains(namespace) {
        return Ok(Vec::new());
    }
    let list: Vec<Server<'_>> = match spec {
        Spec::IngressGateway(s) => servers("http", &s.http, Protocol::Http)
            .chain(servers("tcp", &s.tcp, Protocol::Tcp))
            .chain(servers(
                "tlsPassthrough",
                &s.tls_passthrough,
                Protocol::Passthrough,
            ))
            .collect(),
        Spec::UnifiedGateway(s) => servers("http", &s.http, Protocol::Http)
            .chain(servers("tcp", &s.tcp, Protocol::Tcp))
            .chain(servers("tls", &s.tls, Protocol::Passthrough))
            .collect(),
        // Tier1 routes go to other clusters' gateways, whose addresses the model does not
        // know yet: only the listeners are generated.
        Spec::Tier1Gateway(s) => servers("externalServers", &s.external_servers, Protocol::Http)
            .chain(servers(
                "tcpExternalServers",
                &s.tcp_external_servers,
                Protocol::Tcp,
            ))
            .chain(servers(
                "passthroughServers",
                &s.passthrough_servers,
                Protocol::Passthrough,
            ))
            .collect(),
        _ => Vec::new(),
    };
    let gateway_name = crate::model::translate::generated_name(out.resource, None);
    let mut gateway_servers = Vec::new();
    let mut objects = Vec::new();
    for server in &list {
        let port = server
            .value
            .get("port")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                out.invalid(
                    &format!("{}.port", server.field),
                    "a server needs a port",
                    "set the port the gateway listens on",
                )
            })?;
        let hostname = server
            .value
            .get("hostname")
            .and_then(Value::as_str)
            .unwrap_or("*");
        let name = server
            .value
            .get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| port.to_string());
        gateway_servers.push(gateway_server(server, port, hostname, &name));
        if let Some(spec) = virtual_service(server, port, hostname, &gateway_name) {
            let part = format!("{name}-{}", server.part);
            objects.push(out.object(Kind::VirtualService, namespace, Some(&part), spec));
        }
    }
    if let Spec::EgressGateway(s) = spec {
        gateway_servers.push(json!({
            "port": {"number": EGRESS_PORT, "name": "https-egress", "protocol": "HTTPS"},
            "hosts": ["*"],
            "tls": {"mode": "ISTIO_MUTUAL"}
        }));
        let policy = egress_authorization(&s.authorization, labels, namespace, context, out);
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, policy));
    }
    if !gateway_servers.is_empty() {
        let spec = json!({"selector": labels, "servers": gateway_servers});
        objects.insert(0, out.object(Kind::IstioGateway, namespace, None, spec));
    }
    Ok(objects)
}

/// `workloadSelector.namespace` and `.labels`, both required (V7).
fn placement<'s>(
    selector: Option<&'s WorkloadSelector>,
    out: &Output<'_>,
) -> Result<(&'s str, &'s std::collections::BTreeMap<String, String>), Diagnostic> {
    let fix = "set spec.workloadSelector.namespace and at least one label of the gateway pods";
    let selector = selector.ok_or_else(|| {
        out.invalid(
            "spec.workloadSelector",
            "a gateway needs a workload selector",
            fix,
        )
    })?;
    let namespace = selector
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            out.invalid(
                "spec.workloadSelector.namespace",
                "the gateway namespace is missing",
                fix,
            )
        })?;
    if selector.labels.is_empty() {
        return Err(out.invalid(
            "spec.workloadSelector.labels",
            "the gateway labels are missing",
            fix,
        ));
    }
    Ok((namespace, &selector.labels))
}

/// Port names must be unique in a Gateway and DNS-label-like.
fn port_name(prefix: &str, name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{cleaned}")
}

/// `tls: {mode, secretName}` → Istio server TLS with `credentialName` (Secrets by reference,
/// G-13); `None` without TLS or with mode `DISABLED`.
fn server_tls(server: &Value) -> Option<Value> {
    let tls = server.get("tls")?;
    let mode = tls.get("mode").and_then(Value::as_str).unwrap_or("SIMPLE");
    if mode == "DISABLED" {
        return None;
    }
    let mut out = json!({"mode": mode});
    if let Some(secret) = tls.get("secretName").and_then(Value::as_str) {
        out["credentialName"] = json!(secret);
    }
    Some(out)
}

fn gateway_server(server: &Server<'_>, port: u64, hostname: &str, name: &str) -> Value {
    let tls = server_tls(server.value);
    let (protocol, tls) = match (server.protocol, tls) {
        (Protocol::Http, Some(tls)) => ("HTTPS", Some(tls)),
        (Protocol::Http, None) => ("HTTP", None),
        (Protocol::Tcp, Some(tls)) => ("TLS", Some(tls)),
        (Protocol::Tcp, None) => ("TCP", None),
        (Protocol::Passthrough, _) => ("TLS", Some(json!({"mode": "PASSTHROUGH"}))),
    };
    let mut out = json!({
        "port": {"number": port, "name": port_name(&protocol.to_ascii_lowercase(), name), "protocol": protocol},
        "hosts": [hostname],
    });
    if let Some(tls) = tls {
        out["tls"] = tls;
    }
    out
}

/// `<ns>/<fqdn>` and port of a route (`route.host`/`route.port` as in IngressGateway, or
/// `route.serviceDestination` as in the unified Gateway); `None` for cluster destinations.
fn destination(route: &Value) -> Option<Value> {
    let target = route.get("serviceDestination").unwrap_or(route);
    let (_, host) = split_service(target.get("host")?.as_str()?)?;
    let mut destination = json!({"host": host});
    if let Some(port) = target.get("port").and_then(Value::as_u64) {
        destination["port"] = json!({"number": port});
    }
    Some(json!({"destination": destination}))
}

/// TSB match conditions that have the same shape in Istio's `HTTPMatchRequest`.
fn http_match(conditions: &Value) -> Option<Value> {
    let matches: Vec<Value> = conditions
        .as_array()?
        .iter()
        .map(|condition| {
            let mut out = Map::new();
            for key in ["uri", "headers", "method", "queryParams"] {
                if let Some(v) = condition.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            Value::Object(out)
        })
        .filter(|m| m.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    (!matches.is_empty()).then_some(Value::Array(matches))
}

/// The server's `VirtualService`, bound to the generated `Gateway`; `None` when it has no
/// service route.
fn virtual_service(server: &Server<'_>, port: u64, hostname: &str, gateway: &str) -> Option<Value> {
    let mut spec = json!({"hosts": [hostname], "gateways": [gateway]});
    match server.protocol {
        Protocol::Http => {
            let rules = server.value.pointer("/routing/rules")?.as_array()?;
            let http: Vec<Value> = rules
                .iter()
                .filter_map(|rule| {
                    let mut route = Map::new();
                    if let Some(m) = rule.get("match").and_then(http_match) {
                        route.insert("match".into(), m);
                    }
                    route.insert("route".into(), json!([destination(rule.get("route")?)?]));
                    Some(Value::Object(route))
                })
                .collect();
            if http.is_empty() {
                return None;
            }
            spec["http"] = Value::Array(http);
        }
        Protocol::Tcp => {
            let to = destination(server.value.get("route")?)?;
            spec["tcp"] = json!([{"match": [{"port": port}], "route": [to]}]);
        }
        Protocol::Passthrough => {
            let to = destination(server.value.get("route")?)?;
            spec["tls"] =
                json!([{"match": [{"port": port, "sniHosts": [hostname]}], "route": [to]}]);
        }
    }
    Some(spec)
}

/// EgressGateway `authorization[] {from, to[]}` → an ALLOW policy on the gateway pods; with no
/// entry it has no rule, so it denies everything, as TSB documents.
fn egress_authorization(
    entries: &[Value],
    labels: &std::collections::BTreeMap<String, String>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Value {
    let rules: Vec<Value> = entries
        .iter()
        .filter_map(|entry| {
            let mut rule =
                json!({"from": egress_sources(entry.get("from"), namespace, context, out)?});
            let hosts: Vec<String> = entry
                .get("to")
                .and_then(Value::as_array)
                .map(|to| {
                    to.iter()
                        .filter_map(Value::as_str)
                        .flat_map(|h| [h.to_string(), format!("{h}:*")])
                        .collect()
                })
                .unwrap_or_default();
            if !hosts.is_empty() {
                rule["to"] = json!([{"operation": {"hosts": hosts}}]);
            }
            Some(rule)
        })
        .collect();
    let mut policy = json!({"selector": {"matchLabels": labels}, "action": "ALLOW"});
    if !rules.is_empty() {
        policy["rules"] = Value::Array(rules);
    }
    policy
}

/// `from: {mode}` or `from: {fqn}` → Istio sources; `None` (entry dropped) when it selects no
/// namespace here, since an empty source would match everybody.
fn egress_sources(
    from: Option<&Value>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<Value> {
    let from = from?;
    let namespaces: BTreeSet<String> = if let Some(fqn) = from.get("fqn").and_then(Value::as_str) {
        context.resolution.namespaces_of(&fqn.parse::<Fqn>().ok()?)
    } else {
        let resource = &out.resource.fqn;
        match from.get("mode").and_then(Value::as_str)? {
            "CLUSTER" => return Some(json!([{"source": {"principals": ["*"]}}])),
            "NAMESPACE" => BTreeSet::from([namespace.to_string()]),
            "GROUP" => context.namespaces.clone(),
            "WORKSPACE" => context
                .resolution
                .namespaces_of(&resource.ancestor(Kind::Workspace)?),
            _ => return None,
        }
    };
    (!namespaces.is_empty()).then(|| json!([{"source": {"namespaces": namespaces}}]))
}
