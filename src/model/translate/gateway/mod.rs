//! Gateway kinds → Istio `Gateway`, `VirtualService`, `RequestAuthentication` and
//! `AuthorizationPolicy` (§7.2), placed in `workloadSelector.namespace` and selecting the
//! gateway pods by `workloadSelector.labels`. HTTP routes are built in [`http`], per-server
//! authentication and authorization in [`auth`], the EgressGateway's policy in [`egress`].

mod auth;
mod egress;
mod http;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::spec::auth::{ClientTlsSettings, TlsMode};
use crate::model::spec::gateway::{
    GatewayHttpServer, GatewayTcpServer, GatewayTlsServer, HttpServer, Route, RouteTo,
    ServerTlsMode, ServerTlsSettings, TcpServer, TlsPassthroughServer, UnifiedGatewaySpec,
};
use crate::model::spec::{Spec, WorkloadSelector};
use crate::model::translate::{Context, Generated, Output, generated_name, split_service};

pub(crate) use http::HttpRoute;

/// Port of the egress gateway's mTLS listener for sidecars (as in TSB).
const EGRESS_PORT: u32 = 15443;

/// What a server listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// HTTP, or HTTPS when the server terminates TLS.
    Http,
    /// TCP, or TLS-terminated TCP when the server terminates TLS.
    Tcp,
    /// TLS passed through by SNI.
    Passthrough,
}

/// Where a TCP or passthrough server forwards: a service (`<ns>/<fqdn>`) and port.
#[derive(Debug, Clone, Copy)]
struct Target<'s> {
    host: &'s str,
    port: Option<u32>,
}

/// One server of any gateway kind, as the translation needs it.
struct Server<'s> {
    /// Path for diagnostics, e.g. `spec.http[0]`.
    field: String,
    /// Unique within the resource, for generated names, e.g. `http0`.
    part: String,
    name: Option<&'s str>,
    port: Option<u32>,
    hostname: Option<&'s str>,
    tls: Option<&'s ServerTlsSettings>,
    protocol: Protocol,
    /// HTTP routes (HTTP servers).
    http: Vec<HttpRoute<'s>>,
    /// Destination (TCP and passthrough servers routing to a service).
    target: Option<Target<'s>>,
    /// Per-server end-user authentication and authorization (HTTP servers).
    auth: auth::ServerAuth<'s>,
}

impl<'s> Server<'s> {
    fn new(field: &str, index: usize, protocol: Protocol) -> Server<'s> {
        Server {
            field: format!("spec.{field}[{index}]"),
            part: format!("{}{index}", field.to_ascii_lowercase()),
            name: None,
            port: None,
            hostname: None,
            tls: None,
            protocol,
            http: Vec::new(),
            target: None,
            auth: auth::ServerAuth::default(),
        }
    }

    /// `hostname`, or every host when it is missing (the L1 rule reports it).
    fn host(&self) -> &'s str {
        self.hostname.unwrap_or("*")
    }
}

fn ingress_http(i: usize, s: &HttpServer) -> Server<'_> {
    Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        tls: s.tls.as_ref(),
        http: http::ingress_routes(s.routing.as_ref()),
        auth: auth::ServerAuth::new(s.authentication.as_ref(), s.authorization.as_ref()),
        ..Server::new("http", i, Protocol::Http)
    }
}

/// An IngressGateway route's service.
fn ingress_target(route: Option<&Route>) -> Option<Target<'_>> {
    let route = route?;
    Some(Target {
        host: route.host.as_deref()?,
        port: route.port,
    })
}

fn ingress_tcp(i: usize, s: &TcpServer) -> Server<'_> {
    Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        tls: s.tls.as_ref(),
        target: ingress_target(s.route.as_ref()),
        ..Server::new("tcp", i, Protocol::Tcp)
    }
}

fn ingress_passthrough(i: usize, s: &TlsPassthroughServer) -> Server<'_> {
    Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        target: ingress_target(s.route.as_ref()),
        ..Server::new("tlsPassthrough", i, Protocol::Passthrough)
    }
}

/// A unified-gateway route to a service; cluster destinations are not translated.
fn service_target(route: Option<&RouteTo>) -> Option<Target<'_>> {
    let service = route?.service_destination.as_ref()?;
    Some(Target {
        host: service.host.as_deref()?,
        port: service.port,
    })
}

fn unified_http(i: usize, s: &GatewayHttpServer) -> Option<Server<'_>> {
    // Transit servers forward between clusters over the mesh's 15443 port (multicluster).
    (s.transit != Some(true)).then(|| Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        tls: s.tls.as_ref(),
        http: http::unified_routes(s.routing.as_ref()),
        auth: auth::ServerAuth::new(s.authentication.as_ref(), s.authorization.as_ref()).skipping(
            auth::skipped_paths(
                s.routing
                    .as_ref()
                    .map(|r| r.rules.as_slice())
                    .unwrap_or_default(),
            ),
        ),
        ..Server::new("http", i, Protocol::Http)
    })
}

fn unified_tcp(i: usize, s: &GatewayTcpServer) -> Option<Server<'_>> {
    (s.transit != Some(true)).then(|| Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        tls: s.tls.as_ref(),
        target: service_target(s.route.as_ref()),
        ..Server::new("tcp", i, Protocol::Tcp)
    })
}

fn unified_tls(i: usize, s: &GatewayTlsServer) -> Server<'_> {
    Server {
        name: s.name.as_deref(),
        port: s.port,
        hostname: s.hostname.as_deref(),
        target: service_target(s.route.as_ref()),
        ..Server::new("tls", i, Protocol::Passthrough)
    }
}

/// The servers of a gateway spec that get a listener here.
fn servers(spec: &Spec) -> Vec<Server<'_>> {
    match spec {
        Spec::IngressGateway(s) => {
            let http = s.http.iter().enumerate().map(|(i, s)| ingress_http(i, s));
            let tcp = s.tcp.iter().enumerate().map(|(i, s)| ingress_tcp(i, s));
            let tls =
                (s.tls_passthrough.iter().enumerate()).map(|(i, s)| ingress_passthrough(i, s));
            http.chain(tcp).chain(tls).collect()
        }
        Spec::UnifiedGateway(s) => {
            let http = s
                .http
                .iter()
                .enumerate()
                .filter_map(|(i, s)| unified_http(i, s));
            let tcp = s
                .tcp
                .iter()
                .enumerate()
                .filter_map(|(i, s)| unified_tcp(i, s));
            let tls = s.tls.iter().enumerate().map(|(i, s)| unified_tls(i, s));
            http.chain(tcp).chain(tls).collect()
        }
        // Tier1 routes go to other clusters' gateways, whose addresses the model does not
        // know: only the external listeners, their redirects and policies are generated.
        Spec::Tier1Gateway(s) => {
            let http = s.external_servers.iter().enumerate().map(|(i, s)| Server {
                name: s.name.as_deref(),
                port: s.port,
                hostname: s.hostname.as_deref(),
                tls: s.tls.as_ref(),
                http: s.redirect.iter().map(HttpRoute::redirect).collect(),
                auth: auth::ServerAuth::new(s.authentication.as_ref(), s.authorization.as_ref()),
                ..Server::new("externalServers", i, Protocol::Http)
            });
            let tcp = s
                .tcp_external_servers
                .iter()
                .enumerate()
                .map(|(i, s)| Server {
                    name: s.name.as_deref(),
                    port: s.port,
                    hostname: s.hostname.as_deref(),
                    tls: s.tls.as_ref(),
                    ..Server::new("tcpExternalServers", i, Protocol::Tcp)
                });
            let tls = s
                .passthrough_servers
                .iter()
                .enumerate()
                .map(|(i, s)| Server {
                    name: s.name.as_deref(),
                    port: s.port,
                    hostname: s.hostname.as_deref(),
                    ..Server::new("passthroughServers", i, Protocol::Passthrough)
                });
            http.chain(tcp).chain(tls).collect()
        }
        _ => Vec::new(),
    }
}

/// Every gateway kind: one `Gateway` for all servers, one `VirtualService` per server with
/// service routes, the servers' authentication and authorization policies, and for an
/// EgressGateway the `AuthorizationPolicy` of its `authorization`.
pub(crate) fn gateway(
    spec: &Spec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let (namespace, labels) = placement(spec.workload_selector(), out)?;
    if !context.namespaces.contains(namespace) {
        return Ok(Vec::new());
    }
    let list = servers(spec);
    let gateway_name = generated_name(out.resource, None);
    let mut gateway_servers = Vec::new();
    let mut objects = Vec::new();
    for server in &list {
        let port = server.port.ok_or_else(|| {
            out.invalid(
                &format!("{}.port", server.field),
                "a server needs a port",
                "set the port the gateway listens on",
            )
        })?;
        let name = server
            .name
            .map(str::to_string)
            .unwrap_or_else(|| port.to_string());
        gateway_servers.push(gateway_server(server, port, &name));
        if let Some(spec) = virtual_service(server, port, &gateway_name, context) {
            let part = format!("{name}-{}", server.part);
            objects.push(out.object(Kind::VirtualService, namespace, Some(&part), spec));
        }
    }
    objects.extend(auth::policies(&list, labels, namespace, out));
    if let Spec::UnifiedGateway(s) = spec {
        objects.extend(upstream_tls(s, labels, namespace, context, out));
    }
    if let Spec::EgressGateway(s) = spec {
        gateway_servers.push(json!({
            "port": {"number": EGRESS_PORT, "name": "https-egress", "protocol": "HTTPS"},
            "hosts": ["*"],
            "tls": {"mode": "ISTIO_MUTUAL"}
        }));
        let (policy, allowed) =
            egress::authorization(&s.authorization, labels, namespace, context, out);
        objects.push(out.object(Kind::AuthorizationPolicy, namespace, None, policy));
        objects.extend(egress::forwarding(&allowed, &gateway_name, namespace, out));
    }
    if !gateway_servers.is_empty() {
        let spec = json!({"selector": labels, "servers": gateway_servers});
        objects.insert(0, out.object(Kind::IstioGateway, namespace, None, spec));
    }
    Ok(objects)
}

/// `serviceDestination.tls` → a `DestinationRule` for that host on the gateway pods only
/// (`workloadSelector`, exported nowhere else), with the TLS the gateway originates; it
/// repeats the subsets of the host's ServiceRoute, since for the gateway it takes the place of
/// the ServiceRoute's rule. The first setting written for a host wins.
fn upstream_tls(
    spec: &UnifiedGatewaySpec,
    labels: &BTreeMap<String, String>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let http = spec.http.iter().filter(|s| s.transit != Some(true));
    let rules = http.flat_map(|s| s.routing.iter().flat_map(|r| &r.rules));
    let tcp = spec.tcp.iter().filter(|s| s.transit != Some(true));
    let routes = (rules.filter_map(|r| r.route.as_ref()))
        .chain(tcp.filter_map(|s| s.route.as_ref()))
        .chain(spec.tls.iter().filter_map(|s| s.route.as_ref()));
    let mut by_host: BTreeMap<&str, &ClientTlsSettings> = BTreeMap::new();
    for service in routes.filter_map(|r| r.service_destination.as_ref()) {
        if let (Some(host), Some(tls)) = (service.host.as_deref(), service.tls.as_ref()) {
            by_host.entry(host).or_insert(tls);
        }
    }
    let mut objects = Vec::new();
    for (service, tls) in by_host {
        let Some((service_namespace, host)) = split_service(service) else {
            continue;
        };
        let mut rule = json!({
            "host": host,
            "exportTo": ["."],
            "workloadSelector": {"matchLabels": labels},
            "trafficPolicy": {"tls": client_tls(tls)},
        });
        let subsets: Vec<Value> = http::service_route(service, service_namespace, context)
            .iter()
            .map(|s| json!({"name": s.name, "labels": s.labels}))
            .collect();
        if !subsets.is_empty() {
            rule["subsets"] = Value::Array(subsets);
        }
        let part = format!("tls-{host}");
        objects.push(out.object(Kind::DestinationRule, namespace, Some(&part), rule));
    }
    objects
}

/// Istio TLS settings with `mode`, the Secret (`credentialName`) and the file paths set.
fn tls_material(mode: &str, secret: &Option<String>, files: [(&str, Option<&String>); 3]) -> Value {
    let mut out = json!({"mode": mode});
    if let Some(secret) = secret {
        out["credentialName"] = json!(secret);
    }
    for (key, value) in files {
        if let Some(value) = value {
            out[key] = json!(value);
        }
    }
    out
}

/// TSB `ClientTLSSettings` → Istio `ClientTLSSettings`.
fn client_tls(tls: &ClientTlsSettings) -> Value {
    let mode = match tls.mode {
        None | Some(TlsMode::Disabled) => "DISABLE",
        Some(TlsMode::Simple) => "SIMPLE",
        Some(TlsMode::Mutual) => "MUTUAL",
    };
    let files = tls.files.as_ref();
    let mut out = tls_material(
        mode,
        &tls.secret_name,
        [
            (
                "clientCertificate",
                files.and_then(|f| f.client_certificate.as_ref()),
            ),
            ("privateKey", files.and_then(|f| f.private_key.as_ref())),
            (
                "caCertificates",
                files.and_then(|f| f.ca_certificates.as_ref()),
            ),
        ],
    );
    if !tls.subject_alt_names.is_empty() {
        out["subjectAltNames"] = json!(tls.subject_alt_names);
    }
    out
}

/// `workloadSelector.namespace` and `.labels`, both required (V7).
fn placement<'s>(
    selector: Option<&'s WorkloadSelector>,
    out: &Output<'_>,
) -> Result<(&'s str, &'s BTreeMap<String, String>), Diagnostic> {
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

/// TSB `ServerTLSSettings` → Istio server `tls`; `None` for mode DISABLED, which is also the
/// default when `mode` is left out (the L1 rule warns about certificates set without a mode).
/// Secrets by reference (`credentialName`, G-13) or files on the gateway pods.
fn server_tls(tls: &ServerTlsSettings) -> Option<Value> {
    let mode = match tls.mode? {
        ServerTlsMode::Disabled => return None,
        ServerTlsMode::Simple => "SIMPLE",
        ServerTlsMode::Mutual => "MUTUAL",
    };
    let files = tls.files.as_ref();
    let mut out = tls_material(
        mode,
        &tls.secret_name,
        [
            (
                "serverCertificate",
                files.and_then(|f| f.server_certificate.as_ref()),
            ),
            ("privateKey", files.and_then(|f| f.private_key.as_ref())),
            (
                "caCertificates",
                files.and_then(|f| f.ca_certificates.as_ref()),
            ),
        ],
    );
    if let Some(version) = tls.min_protocol_version {
        out["minProtocolVersion"] = json!(version.istio());
    }
    if let Some(version) = tls.max_protocol_version {
        out["maxProtocolVersion"] = json!(version.istio());
    }
    if !tls.cipher_suites.is_empty() {
        out["cipherSuites"] = json!(tls.cipher_suites);
    }
    if !tls.subject_alt_names.is_empty() {
        out["subjectAltNames"] = json!(tls.subject_alt_names);
    }
    Some(out)
}

fn gateway_server(server: &Server<'_>, port: u32, name: &str) -> Value {
    let tls = server.tls.and_then(server_tls);
    let (protocol, tls) = match (server.protocol, tls) {
        (Protocol::Http, Some(tls)) => ("HTTPS", Some(tls)),
        (Protocol::Http, None) => ("HTTP", None),
        (Protocol::Tcp, Some(tls)) => ("TLS", Some(tls)),
        (Protocol::Tcp, None) => ("TCP", None),
        (Protocol::Passthrough, _) => ("TLS", Some(json!({"mode": "PASSTHROUGH"}))),
    };
    let mut out = json!({
        "port": {"number": port, "name": port_name(&protocol.to_ascii_lowercase(), name), "protocol": protocol},
        "hosts": [server.host()],
    });
    if let Some(tls) = tls {
        out["tls"] = tls;
    }
    out
}

/// The server's `VirtualService`, bound to the generated `Gateway`; `None` when it routes
/// nothing.
fn virtual_service(
    server: &Server<'_>,
    port: u32,
    gateway: &str,
    context: &Context<'_>,
) -> Option<Value> {
    let hostname = server.host();
    let mut spec = json!({"hosts": [hostname], "gateways": [gateway]});
    match server.protocol {
        Protocol::Http => {
            let routes: Vec<Value> = server
                .http
                .iter()
                .filter_map(|route| route.to_istio(context))
                .collect();
            if routes.is_empty() {
                return None;
            }
            spec["http"] = Value::Array(routes);
        }
        Protocol::Tcp => {
            let to = http::destinations(server.target?.host, server.target?.port, context)?;
            spec["tcp"] = json!([{"match": [{"port": port}], "route": to}]);
        }
        Protocol::Passthrough => {
            let to = http::destinations(server.target?.host, server.target?.port, context)?;
            spec["tls"] = json!([{"match": [{"port": port, "sniHosts": [hostname]}], "route": to}]);
        }
    }
    Some(spec)
}
