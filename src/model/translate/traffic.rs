//! Traffic kinds → `Sidecar`, `DestinationRule`, `VirtualService` (§7.2).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::model::kind::Kind;
use crate::model::spec::{
    CircuitBreakerSensitivity, EgressSettings, InboundSettings, KeepAliveSettings,
    ReachabilityMode, Spec, TcpKeepAlive, TrafficSettingSpec,
};
use crate::model::translate::{Context, Generated, Output, split_service};
use crate::model::translate::{ratelimit, service_traffic};

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
            overlay(&mut merged, &newer_form(level));
        }
    }
    if let Some(own) = own {
        overlay(&mut merged, &newer_form(own));
    }
    merged
}

/// One level's setting in one form: the deprecated inbound fields moved to `inbound` where the
/// same object does not set the newer field, and `outbound.reachability` / `outbound.egress`
/// put in place of the deprecated ones (the newer form wins inside an object; between levels
/// the closest wins whatever form it uses).
pub(super) fn newer_form(setting: &TrafficSettingSpec) -> TrafficSettingSpec {
    let mut out = setting.clone();
    // Outbound goes the other way: the Sidecar is built from `reachability` and `egress`, so
    // `outbound`'s replace them (and the overlay keeps treating them as before).
    if let Some(outbound) = out.outbound.as_mut() {
        if let Some(reachability) = outbound.reachability.take() {
            out.reachability = Some(reachability);
        }
        if let Some(egress) = outbound.egress.take() {
            out.egress = Some(EgressSettings {
                host: egress.host,
                port: None,
            });
        }
    }
    let rate_limiting = out.rate_limiting.take();
    let downstream = out
        .resilience
        .as_mut()
        .and_then(|r| r.keep_alive.as_mut())
        .and_then(|k| k.tcp.as_mut())
        .and_then(|t| t.downstream.take());
    if rate_limiting.is_none() && downstream.is_none() {
        return out;
    }
    let inbound = out.inbound.get_or_insert_with(Default::default);
    if inbound.rate_limiting.is_none() {
        inbound.rate_limiting = rate_limiting;
    }
    let keep_alive = &mut inbound
        .resilience
        .get_or_insert_with(Default::default)
        .connection_pool
        .get_or_insert_with(Default::default)
        .tcp
        .get_or_insert_with(Default::default)
        .keep_alive;
    if keep_alive.is_none() {
        *keep_alive = downstream;
    }
    out
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
        if o.tcp_keepalive.is_some() {
            b.tcp_keepalive = o.tcp_keepalive;
        }
        if let Some(keep_alive) = &o.keep_alive {
            overlay_keep_alive(
                b.keep_alive.get_or_insert_with(Default::default),
                keep_alive,
            );
        }
    }
    if over.egress.as_ref().is_some_and(|e| e.host.is_some()) {
        base.egress.clone_from(&over.egress);
    }
    if let Some(over) = &over.inbound {
        overlay_inbound(base.inbound.get_or_insert_with(Default::default), over);
    }
    if !over.upstream_traffic_settings.is_empty() {
        base.upstream_traffic_settings
            .clone_from(&over.upstream_traffic_settings);
    }
    if let Some(over) = &over.outbound
        && !over.upstream_traffic_settings.is_empty()
    {
        base.outbound
            .get_or_insert_with(Default::default)
            .upstream_traffic_settings
            .clone_from(&over.upstream_traffic_settings);
    }
}

/// `inbound`: rate limiting whole (a oneof of different mechanisms), keep-alive and mesh
/// timeouts value by value, failover whole.
fn overlay_inbound(base: &mut InboundSettings, over: &InboundSettings) {
    if over
        .rate_limiting
        .as_ref()
        .is_some_and(|r| r.settings.is_some() || r.external_service.is_some() || r.local.is_some())
    {
        base.rate_limiting.clone_from(&over.rate_limiting);
    }
    if over.failover_settings.is_some() {
        base.failover_settings.clone_from(&over.failover_settings);
    }
    let Some(over) = &over.resilience else {
        return;
    };
    let b = base.resilience.get_or_insert_with(Default::default);
    if let Some(keep_alive) = over
        .connection_pool
        .as_ref()
        .and_then(|p| p.tcp.as_ref())
        .and_then(|t| t.keep_alive.as_ref())
    {
        let tcp = b
            .connection_pool
            .get_or_insert_with(Default::default)
            .tcp
            .get_or_insert_with(Default::default);
        overlay_tcp_keep_alive(&mut tcp.keep_alive, keep_alive);
    }
    if let Some(o) = &over.mesh_timeout {
        let t = b.mesh_timeout.get_or_insert_with(Default::default);
        for (b, o) in [
            (&mut t.max_connection_duration, &o.max_connection_duration),
            (&mut t.max_stream_duration, &o.max_stream_duration),
            (
                &mut t.max_downstream_connection_duration,
                &o.max_downstream_connection_duration,
            ),
            (&mut t.proxy_type, &o.proxy_type),
        ] {
            if o.is_some() {
                b.clone_from(o);
            }
        }
    }
}

/// Keep-alive values, each inherited on its own (a level may set only `probes`).
fn overlay_keep_alive(base: &mut KeepAliveSettings, over: &KeepAliveSettings) {
    let Some(over) = &over.tcp else {
        return;
    };
    let base = base.tcp.get_or_insert_with(Default::default);
    for (b, o) in [
        (&mut base.downstream, &over.downstream),
        (&mut base.upstream, &over.upstream),
    ] {
        if let Some(o) = o {
            overlay_tcp_keep_alive(b, o);
        }
    }
}

fn overlay_tcp_keep_alive(base: &mut Option<TcpKeepAlive>, over: &TcpKeepAlive) {
    let b = base.get_or_insert_with(Default::default);
    b.probes = over.probes.or(b.probes);
    b.idle_time = over.idle_time.or(b.idle_time);
    b.interval = over.interval.or(b.interval);
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

/// `trafficPolicy` of a DestinationRule from resilience (outlier detection, upstream TCP
/// keep-alive), if any.
pub(super) fn traffic_policy(setting: &TrafficSettingSpec) -> Option<Value> {
    let resilience = setting.resilience.as_ref()?;
    let mut policy = Map::new();
    if let Some(errors) = resilience
        .circuit_breaker_sensitivity
        .and_then(consecutive_errors)
    {
        // Envoy counts connection failures as 5xx for this detector, matching TSB's wording.
        policy.insert(
            "outlierDetection".into(),
            json!({"consecutive5xxErrors": errors}),
        );
    }
    let upstream = resilience
        .keep_alive
        .as_ref()
        .and_then(|k| k.tcp.as_ref())
        .and_then(|t| t.upstream.as_ref());
    // `keepAlive` supersedes the deprecated `tcpKeepalive` flag; the flag alone turns
    // SO_KEEPALIVE on with the OS's timings (an empty `tcpKeepalive`).
    let keepalive = match upstream {
        Some(upstream) => Some(tcp_keepalive(upstream)),
        None => (resilience.tcp_keepalive == Some(true)).then(|| json!({})),
    };
    if let Some(keepalive) = keepalive {
        policy.insert(
            "connectionPool".into(),
            json!({"tcp": {"tcpKeepalive": keepalive}}),
        );
    }
    (!policy.is_empty()).then_some(Value::Object(policy))
}

/// Linux socket option numbers for keep-alive (Envoy takes raw `setsockopt` arguments).
const SOL_SOCKET: u32 = 1;
const SO_KEEPALIVE: u32 = 9;
const IPPROTO_TCP: u32 = 6;
const TCP_KEEPIDLE: u32 = 4;
const TCP_KEEPINTVL: u32 = 5;
const TCP_KEEPCNT: u32 = 6;

/// Downstream keep-alive (`inbound.resilience.connectionPool.tcp.keepAlive`, or the
/// deprecated `resilience.keepAlive.tcp.downstream`) → socket options on the sidecars' inbound listener (Istio has
/// no API for them); Linux hands them on to every connection the listener accepts.
pub(super) fn downstream_keepalive(downstream: &TcpKeepAlive) -> Value {
    let option = |level: u32, name: u32, value: u32| json!({"level": level, "name": name, "int_value": value, "state": "STATE_LISTENING"});
    let mut options = vec![option(SOL_SOCKET, SO_KEEPALIVE, 1)];
    for (name, value) in [
        (TCP_KEEPIDLE, downstream.idle_time),
        (TCP_KEEPINTVL, downstream.interval),
        (TCP_KEEPCNT, downstream.probes),
    ] {
        if let Some(value) = value {
            options.push(option(IPPROTO_TCP, name, value));
        }
    }
    json!({
        "applyTo": "LISTENER",
        "match": {"context": "SIDECAR_INBOUND", "listener": {"name": "virtualInbound"}},
        "patch": {"operation": "MERGE", "value": {"socket_options": options}}
    })
}

/// Istio `ConnectionPoolSettings.TCPSettings.TcpKeepalive`: TSB gives seconds, Istio durations.
fn tcp_keepalive(keep_alive: &TcpKeepAlive) -> Value {
    let mut out = Map::new();
    if let Some(probes) = keep_alive.probes {
        out.insert("probes".into(), json!(probes));
    }
    if let Some(idle) = keep_alive.idle_time {
        out.insert("time".into(), json!(format!("{idle}s")));
    }
    if let Some(interval) = keep_alive.interval {
        out.insert("interval".into(), json!(format!("{interval}s")));
    }
    Value::Object(out)
}

/// Istio `HTTPRoute` fields for timeouts and retries, from resilience.
pub(super) fn http_resilience(setting: &TrafficSettingSpec, route: &mut Map<String, Value>) {
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
/// egress gateway), a `DestinationRule` for the namespace's services (outlier detection,
/// upstream keep-alive), an `EnvoyFilter` for the sidecars' inbound side (rate limiting,
/// downstream keep-alive), and a `VirtualService` with the timeouts and retries for each HTTP
/// Service of the cluster there that has neither a ServiceRoute nor a ServiceTrafficSetting
/// of the group (those carry them).
pub(crate) fn traffic_setting(
    spec: &TrafficSettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Vec<Generated> {
    let setting = effective(context, Some(spec));
    let policy = traffic_policy(&setting);
    // `effective` has moved the deprecated inbound fields under `inbound`.
    let mut patches = rate_limit_patches(&setting, ratelimit::Context::SidecarInbound);
    patches.extend(downstream_keep_alive(&setting).map(downstream_keepalive));
    let mut objects = Vec::new();
    for namespace in context.namespaces {
        if let Some(sidecar) = sidecar_spec(&setting, context, out) {
            objects.push(out.object(Kind::Sidecar, namespace, None, sidecar));
        }
        if let Some(policy) = &policy {
            let spec = json!({"host": format!("*.{namespace}.svc.cluster.local"), "trafficPolicy": policy});
            objects.push(out.object(Kind::DestinationRule, namespace, None, spec));
        }
        if !patches.is_empty() {
            let spec = json!({"configPatches": patches});
            objects.push(out.object(Kind::EnvoyFilter, namespace, None, spec));
        }
        objects.extend(service_traffic::unrouted_services(
            &setting, namespace, context, out,
        ));
    }
    objects
}

/// The rate limit `configPatches` of the inbound rate limiting in force (newer form).
pub(super) fn rate_limit_patches(
    setting: &TrafficSettingSpec,
    context: ratelimit::Context,
) -> Vec<Value> {
    setting
        .inbound
        .as_ref()
        .and_then(|i| i.rate_limiting.as_ref())
        .map(|r| ratelimit::config_patches(r, context))
        .unwrap_or_default()
}

/// The downstream keep-alive in force (newer form).
pub(super) fn downstream_keep_alive(setting: &TrafficSettingSpec) -> Option<&TcpKeepAlive> {
    setting
        .inbound
        .as_ref()
        .and_then(|i| i.resilience.as_ref())
        .and_then(|r| r.connection_pool.as_ref())
        .and_then(|p| p.tcp.as_ref())
        .and_then(|t| t.keep_alive.as_ref())
}

/// The `Sidecar` spec (egress hosts, egress gateway) of the reachability and egress in force,
/// or `None` when neither asks for one (Istio's default already reaches everything).
pub(super) fn sidecar_spec(
    setting: &TrafficSettingSpec,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<Value> {
    let egress = setting
        .egress
        .as_ref()
        .and_then(|e| Some((e.host.as_deref().and_then(split_service)?, e.port)));
    let mode = setting.reachability.as_ref().and_then(|r| r.mode);
    let mut hosts = match mode {
        None | Some(ReachabilityMode::Unset) if egress.is_none() => return None,
        None | Some(ReachabilityMode::Unset) | Some(ReachabilityMode::Cluster) => {
            vec!["*/*".to_string()]
        }
        Some(ReachabilityMode::Namespace) => vec!["./*".to_string()],
        Some(ReachabilityMode::Group) => all_of(context.namespaces),
        Some(ReachabilityMode::Workspace) => {
            let workspace = context.resolution.namespaces_of(
                &out.resource
                    .fqn
                    .ancestor(Kind::Workspace)
                    .unwrap_or_else(|| out.resource.fqn.clone()),
            );
            all_of(if workspace.is_empty() {
                context.namespaces
            } else {
                &workspace
            })
        }
        Some(ReachabilityMode::Custom) => {
            let hosts = setting
                .reachability
                .as_ref()
                .map(|r| r.hosts.clone())
                .unwrap_or_default();
            // An empty CUSTOM list would be an invalid Sidecar: keep the namespace itself.
            if hosts.is_empty() {
                vec!["./*".to_string()]
            } else {
                hosts
            }
        }
    };
    let mut sidecar = json!({});
    if let Some(((gw_namespace, gw_host), port)) = egress {
        let entry = format!("{gw_namespace}/{gw_host}");
        if !hosts.contains(&entry) && !hosts.iter().any(|h| h == "*/*") {
            hosts.push(entry);
        }
        // Unknown destinations go through the egress gateway (ALLOW_ANY is required for
        // `egressProxy`).
        sidecar["outboundTrafficPolicy"] = json!({
            "mode": "ALLOW_ANY",
            "egressProxy": {"host": gw_host, "port": {"number": port.unwrap_or(EGRESS_GATEWAY_PORT)}}
        });
    }
    sidecar["egress"] = json!([{"hosts": hosts}]);
    Some(sidecar)
}

fn all_of(namespaces: &BTreeSet<String>) -> Vec<String> {
    namespaces.iter().map(|n| format!("{n}/*")).collect()
}
