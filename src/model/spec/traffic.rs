//! Traffic kinds: TrafficSetting, ServiceRoute, ServiceTrafficSetting (§1.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::spec::common::ConfigGenerationMetadata;
use crate::model::spec::ratelimit::RateLimiting;

/// `reachability.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReachabilityMode {
    /// Inherit.
    Unset,
    /// Own namespace only.
    Namespace,
    /// The traffic group's namespaces.
    Group,
    /// The workspace's namespaces.
    Workspace,
    /// The whole cluster.
    Cluster,
    /// The explicit `hosts` list.
    Custom,
}

/// `reachability`: which services a sidecar can reach.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReachabilitySettings {
    /// The mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ReachabilityMode>,
    /// `<namespace>/<host>` entries (`./*`, `ns1/*`, `ns1/svc`, `*/svc`) for `CUSTOM`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

/// `resilience.circuitBreakerSensitivity`: ejection after 20 / 10 / 5 consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CircuitBreakerSensitivity {
    /// Disabled.
    Unset,
    /// 20 consecutive failures.
    Low,
    /// 10 consecutive failures.
    Medium,
    /// 5 consecutive failures.
    High,
}

/// `resilience.httpRetries`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRetries {
    /// Retry attempts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// Per-try timeout as a duration string (`2s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<String>,
    /// Envoy retry conditions (`5xx,connect-failure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Exponential back-off between attempts (newer TSB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_back_off: Option<RetryBackOff>,
}

/// `HTTPRetry.RetryBackOff` (newer TSB).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RetryBackOff {
    /// Base interval, e.g. `25ms` (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_interval: Option<String>,
    /// Cap of the interval (default 10 times the base).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<String>,
}

/// `KeepAliveSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct KeepAliveSettings {
    /// TCP keep-alive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpKeepAliveSettings>,
}

/// `KeepAliveSettings.TcpKeepAliveSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TcpKeepAliveSettings {
    /// Keep-alive of the downstream (client) connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downstream: Option<TcpKeepAlive>,
    /// Keep-alive of the upstream (backend) connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<TcpKeepAlive>,
}

/// `TcpKeepAliveSettings.TcpKeepAlive`; unset values keep the OS defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TcpKeepAlive {
    /// Unacknowledged probes before the connection is dead (Linux default 9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Seconds idle before the first probe (Linux default 7200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_time: Option<u32>,
    /// Seconds between probes (Linux default 75).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
}

/// `resilience`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ResilienceSettings {
    /// Request timeout as a duration string (`5s`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request_timeout: Option<String>,
    /// Retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_retries: Option<HttpRetries>,
    /// Deprecated for `keepAlive`: SO_KEEPALIVE on upstream sockets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_keepalive: Option<bool>,
    /// TCP keep-alive of upstream and downstream connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAliveSettings>,
    /// Outlier ejection sensitivity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker_sensitivity: Option<CircuitBreakerSensitivity>,
}

/// `egress`: the egress gateway unknown traffic is sent through.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EgressSettings {
    /// `<namespace>/<fqdn>` (pattern `^[^/]+/[^/]+$`, V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Deprecated and ignored by TSB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// `TrafficSetting.Outbound` (newer TSB).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Which services the sidecars can reach.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachability: Option<ReachabilitySettings>,
    /// Egress gateway for traffic to services outside the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<OutboundEgress>,
    /// Per-upstream client settings (free-form until typed, see docs/translation.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_traffic_settings: Vec<Value>,
}

/// `TrafficSetting.Outbound.EgressGateway`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OutboundEgress {
    /// `<namespace>/<fqdn>` of the egress gateway (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `TrafficSetting.Inbound` (newer TSB).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InboundSettings {
    /// Rate limiting of the requests the sidecars receive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimiting>,
    /// Resilience of inbound connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resilience: Option<DownstreamResilienceSettings>,
    /// Failover that TSB makes the clients of these services follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_settings: Option<FailoverSettings>,
}

/// `DownstreamResilienceSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DownstreamResilienceSettings {
    /// Connection pool of inbound connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<DownstreamConnectionPool>,
    /// Connection and stream lifetimes of inbound mesh connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_timeout: Option<MeshTimeout>,
}

/// `DownstreamResilienceSettings.ConnectionPoolSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DownstreamConnectionPool {
    /// TCP settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<DownstreamTcp>,
}

/// `DownstreamResilienceSettings.ConnectionPoolSettings.TCP`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DownstreamTcp {
    /// Keep-alive of client connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<TcpKeepAlive>,
}

/// `DownstreamResilienceSettings.MeshTimeout` (durations as strings).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MeshTimeout {
    /// Age after which a connection is drained and closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<String>,
    /// Longest lifetime of a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stream_duration: Option<String>,
    /// Longest lifetime of a downstream TCP connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_downstream_connection_duration: Option<String>,
    /// Which proxies the timeouts apply to (`ProxyType`; default gateways and sidecars).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_type: Option<String>,
}

/// `FailoverSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FailoverSettings {
    /// Ordered endpoint labels for priority load balancing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Topology preference (`TopologyChoice`; default `CLUSTER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topology_choice: Option<String>,
    /// Explicit region to region failover.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regional_failover: Vec<RegionalFailover>,
    /// Load balancing between clusters from observed metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub automatic_load_balancing: Option<AutomaticLoadBalancing>,
}

/// `FailoverSettings.RegionalFailover`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RegionalFailover {
    /// Originating region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Region to fail over to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// `FailoverSettings.AutomaticLoadBalancing`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AutomaticLoadBalancing {
    /// Whether it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `traffic.tsb.tetrate.io/v2` `TrafficSetting`; also the shape of `defaultTrafficSetting`
/// and of a ServiceTrafficSetting's `settings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficSettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sidecar reachability (deprecated in newer TSB in favour of `outbound`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reachability: Option<ReachabilitySettings>,
    /// Timeouts, retries, circuit breaking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resilience: Option<ResilienceSettings>,
    /// Egress gateway for unknown traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressSettings>,
    /// Rate limiting of requests received by the group's sidecars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimiting>,
    /// Per-upstream settings (newer TSB; free-form until typed, see docs/translation.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_traffic_settings: Vec<Value>,
    /// Inbound traffic: the group's workloads as servers (newer TSB; wins over `rateLimiting`
    /// and `resilience.keepAlive.tcp.downstream` of the same object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound: Option<InboundSettings>,
    /// Outbound traffic: the group's workloads as clients (newer TSB; its `reachability` and
    /// `egress` win over the deprecated ones of the same object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<OutboundSettings>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `traffic.tsb.tetrate.io/v2` `ServiceTrafficSetting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceTrafficSettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `<namespace>/<fqdn>` (REQUIRED; one setting per service, V13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The settings (REQUIRED), shaped like a TrafficSetting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<TrafficSettingSpec>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}
