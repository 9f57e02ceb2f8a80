//! Service-scoped traffic (§7.2): a ServiceTrafficSetting's `DestinationRule`, and what needs
//! the cluster's Service (its ports and workload selector): timeouts and retries of services
//! without a ServiceRoute (`VirtualService`), and a service's own reachability, egress, rate
//! limiting and downstream keep-alive (`Sidecar` and `EnvoyFilter` selecting its workloads).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::model::diagnostic::Diagnostic;
use crate::model::kind::Kind;
use crate::model::resolve::{ClusterService, ServicePort};
use crate::model::spec::{ReachabilityMode, ServiceTrafficSettingSpec, Spec, TrafficSettingSpec};
use crate::model::translate::ratelimit;
use crate::model::translate::traffic::{
    downstream_keep_alive, downstream_keepalive, effective, http_resilience, newer_form,
    rate_limit_patches, sidecar_spec, traffic_policy,
};
use crate::model::translate::{Context, Generated, Output, split_service};

/// `priority` of a service's EnvoyFilter: Istio applies it after its namespace's (priority 0),
/// so its listener socket options are set last and win.
const SERVICE_FILTER_PRIORITY: i32 = 10;

/// What Istio makes of a port's protocol name (`appProtocol`, or the port name's prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// HTTP, HTTP/2, gRPC: VirtualService `http` routes apply.
    Http,
    /// A protocol Istio treats as opaque TCP or TLS.
    Opaque,
    /// Not a protocol name Istio knows: it detects the protocol on the wire.
    Unknown,
}

fn protocol(name: &str) -> Protocol {
    match name.to_ascii_lowercase().as_str() {
        "http" | "http2" | "http_proxy" | "grpc" | "grpc-web" | "kubernetes.io/h2c"
        | "kubernetes.io/ws" => Protocol::Http,
        "tcp" | "udp" | "tls" | "https" | "mongo" | "redis" | "mysql" | "kubernetes.io/wss" => {
            Protocol::Opaque
        }
        _ => Protocol::Unknown,
    }
}

/// Whether HTTP routes can apply to the port, the way Istio selects a port's protocol:
/// `appProtocol` first, then the name's prefix (`http-web`); without either Istio sniffs
/// HTTP. UDP and SCTP ports never carry it.
fn carries_http(port: &ServicePort) -> bool {
    if matches!(port.protocol.to_ascii_uppercase().as_str(), "UDP" | "SCTP") {
        return false;
    }
    let by_app = port
        .app_protocol
        .as_deref()
        .map_or(Protocol::Unknown, protocol);
    if by_app != Protocol::Unknown {
        return by_app == Protocol::Http;
    }
    let prefix = port.name.split('-').next().unwrap_or("");
    protocol(prefix) != Protocol::Opaque
}

/// Whether any port of the Service can carry HTTP (TCP-only services get no timeouts).
fn serves_http(service: &ClusterService) -> bool {
    service.ports.iter().any(carries_http)
}

/// The names of the Services of `namespace` that have a ServiceRoute in the set: it carries
/// their timeouts, and a second VirtualService for one host would conflict (IST0109). Keys are
/// `<namespace>/<fqdn>`, sorted, so only the namespace's range is read.
fn routed_services<'c>(context: &Context<'c>, namespace: &str) -> BTreeSet<&'c str> {
    let prefix = format!("{namespace}/");
    context
        .service_routes
        .services_from(&prefix)
        .take_while(|service| service.starts_with(&prefix))
        .filter_map(|service| split_service(service)?.1.split('.').next())
        .collect()
}

/// Whether timeouts or retries are in force.
fn has_http_resilience(setting: &TrafficSettingSpec) -> bool {
    setting
        .resilience
        .as_ref()
        .is_some_and(|r| r.http_request_timeout.is_some() || r.http_retries.is_some())
}

/// A `VirtualService` for the Service's host with one HTTP route carrying the timeouts and
/// retries in force (Istio has them only on routes).
fn timeout_route(setting: &TrafficSettingSpec, service: &ClusterService) -> Value {
    let host = format!("{}.{}.svc.cluster.local", service.name, service.namespace);
    let mut route = Map::new();
    route.insert("name".into(), json!("default"));
    route.insert("route".into(), json!([{"destination": {"host": host}}]));
    http_resilience(setting, &mut route);
    json!({"hosts": [host], "http": [route]})
}

/// The timeouts and retries of a TrafficSetting in `namespace`: a `VirtualService` for each
/// HTTP Service the cluster has there, except those with a ServiceRoute or a
/// ServiceTrafficSetting of the group (which carry them, the closest setting winning).
pub(super) fn unrouted_services(
    setting: &TrafficSettingSpec,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    if !has_http_resilience(setting) {
        return Vec::new();
    }
    let configured: BTreeSet<&str> = context
        .group_service_settings
        .iter()
        .filter_map(|r| match &r.spec {
            Spec::ServiceTrafficSetting(s) => s.service.as_deref().and_then(split_service),
            _ => None,
        })
        .filter(|(ns, _)| *ns == namespace)
        .filter_map(|(_, host)| host.split('.').next())
        .collect();
    let routed = routed_services(context, namespace);
    context
        .inventory
        .services
        .range((namespace.to_string(), String::new())..)
        .map(|(_, service)| service)
        .take_while(|s| s.namespace == namespace)
        .filter(|s| !configured.contains(s.name.as_str()) && !routed.contains(s.name.as_str()))
        .filter(|s| serves_http(s))
        .map(|s| {
            let spec = timeout_route(setting, s);
            out.object(Kind::VirtualService, namespace, Some(&s.name), spec)
        })
        .collect()
}

/// What a ServiceTrafficSetting asks of its Service's workloads (the parts besides the
/// DestinationRule), as names for warnings.
struct ServiceParts {
    route: bool,
    sidecar: bool,
    rate_limit: Vec<Value>,
    keep_alive: bool,
}

impl ServiceParts {
    fn names(&self) -> String {
        let parts = [
            (self.route, "timeouts and retries"),
            (self.sidecar, "reachability and egress"),
            (!self.rate_limit.is_empty(), "rate limiting"),
            (self.keep_alive, "downstream keep-alive"),
        ];
        let names: Vec<&str> = parts
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect();
        names.join(", ")
    }
}

/// ServiceTrafficSetting, in the service's namespace when the group has it here: a
/// `DestinationRule` for the service (outlier detection, upstream keep-alive); with the
/// cluster's Service, a `VirtualService` with its timeouts and retries when it has no
/// ServiceRoute, and for what it sets itself a `Sidecar` (reachability, egress) and an
/// `EnvoyFilter` (rate limiting, downstream keep-alive) selecting its workloads. A cluster
/// without the Service gets none of these, and a warning naming it.
pub(crate) fn service_traffic_setting(
    spec: &ServiceTrafficSettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Result<Vec<Generated>, Diagnostic> {
    let Some((namespace, host)) = out.targeted_service(spec.service.as_deref(), context)? else {
        return Ok(Vec::new());
    };
    let setting = effective(context, spec.settings.as_ref());
    let mut objects: Vec<Generated> = traffic_policy(&setting)
        .map(|policy| {
            let spec = json!({"host": host, "trafficPolicy": policy});
            out.object(Kind::DestinationRule, namespace, None, spec)
        })
        .into_iter()
        .collect();
    // Only what the service sets itself selects its workloads: what it inherits is already
    // on every sidecar of the namespace.
    let own = spec.settings.as_ref().map(newer_form).unwrap_or_default();
    let name = host.split('.').next().unwrap_or(host);
    let parts = ServiceParts {
        route: has_http_resilience(&setting) && !routed_services(context, namespace).contains(name),
        sidecar: own.reachability.as_ref().is_some_and(|r| {
            r.mode.is_some_and(|m| m != ReachabilityMode::Unset) || !r.hosts.is_empty()
        }) || own.egress.as_ref().is_some_and(|e| e.host.is_some()),
        rate_limit: rate_limit_patches(&own, ratelimit::Context::ServiceInbound),
        keep_alive: downstream_keep_alive(&own).is_some(),
    };
    let wanted = parts.names();
    if wanted.is_empty() {
        return Ok(objects);
    }
    let Some(service) = context.inventory.service(namespace, host) else {
        out.warn(
            "spec.service",
            format!(
                "{namespace}/{host} is not a Service of cluster {}: its {wanted} are not \
                 enforced there",
                context.cluster
            ),
            "create the Service in that cluster (its agent reports it), or correct spec.service",
        );
        return Ok(objects);
    };
    if parts.route && serves_http(service) {
        let spec = timeout_route(&setting, service);
        objects.push(out.object(Kind::VirtualService, namespace, None, spec));
    }
    if !parts.sidecar && parts.rate_limit.is_empty() && !parts.keep_alive {
        return Ok(objects);
    }
    if service.selector.is_empty() {
        out.warn(
            "spec.service",
            format!(
                "Service {namespace}/{} in cluster {} has no spec.selector, so no workload to \
                 select: its reachability, egress, rate limiting and keep-alive are not \
                 enforced there",
                service.name, context.cluster
            ),
            "give the Service a spec.selector naming its pods' labels",
        );
        return Ok(objects);
    }
    let selector = json!({"labels": service.selector});
    if parts.sidecar
        && let Some(mut sidecar) = sidecar_spec(&setting, context, out)
    {
        // A Sidecar with a workload selector replaces the namespace's for those workloads,
        // so it carries the whole setting in force.
        sidecar["workloadSelector"] = selector.clone();
        objects.push(out.object(Kind::Sidecar, namespace, None, sidecar));
    }
    let inherited = effective(context, None);
    if !parts.rate_limit.is_empty()
        && !rate_limit_patches(&inherited, ratelimit::Context::SidecarInbound).is_empty()
    {
        out.warn(
            "spec.settings.inbound.rateLimiting",
            format!(
                "the group's rate limiting also applies to {namespace}/{} in cluster {}: a \
                 request must pass both (Istio cannot take a namespace-wide EnvoyFilter off \
                 some workloads)",
                service.name, context.cluster
            ),
            "rate-limit in the ServiceTrafficSettings of the services only, or accept both limits",
        );
    }
    let mut patches = parts.rate_limit;
    if parts.keep_alive {
        patches.extend(downstream_keep_alive(&setting).map(downstream_keepalive));
    }
    if !patches.is_empty() {
        let spec = json!({
            "workloadSelector": selector,
            "priority": SERVICE_FILTER_PRIORITY,
            "configPatches": patches
        });
        objects.push(out.object(Kind::EnvoyFilter, namespace, None, spec));
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, protocol: &str, app: Option<&str>) -> ServicePort {
        ServicePort {
            name: name.into(),
            port: 80,
            protocol: protocol.into(),
            app_protocol: app.map(Into::into),
        }
    }

    #[test]
    fn ports_carry_http_as_istio_selects_protocols() {
        assert!(carries_http(&port("http", "TCP", None)));
        assert!(carries_http(&port("grpc-api", "TCP", None)));
        assert!(
            carries_http(&port("tcp", "TCP", Some("http"))),
            "appProtocol first"
        );
        assert!(
            !carries_http(&port("http", "TCP", Some("tcp"))),
            "appProtocol first"
        );
        assert!(carries_http(&port("web", "TCP", Some("kubernetes.io/h2c"))));
        assert!(carries_http(&port("", "TCP", None)), "sniffed");
        assert!(carries_http(&port("web", "TCP", None)), "sniffed");
        assert!(!carries_http(&port("tcp-db", "TCP", None)));
        assert!(!carries_http(&port("mysql", "TCP", None)));
        assert!(!carries_http(&port("https", "TCP", None)));
        assert!(!carries_http(&port("http", "UDP", None)));
    }
}
