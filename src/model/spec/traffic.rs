//! Traffic kinds: TrafficSetting, ServiceRoute, ServiceTrafficSetting (§1.2).

use serde::{Deserialize, Serialize};

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

/// `UpstreamTrafficSetting`: settings of the clients of some hosts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamTrafficSetting {
    /// Hosts from the service registry or ServiceEntries; wildcards allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// The settings for their clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<ClientTrafficSettings>,
}

/// `ClientTrafficSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClientTrafficSettings {
    /// mTLS towards hosts without a sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<UpstreamAuthentication>,
    /// Load balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Resilience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resilience: Option<UpstreamResilience>,
}

/// `AuthenticationSettings` of an upstream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamAuthentication {
    /// `AuthenticationMode` (`REQUIRED`: mesh mTLS to hosts without a sidecar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_mode: Option<String>,
}

/// `LoadBalancerSettings`: `simple` or `consistentHash`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoadBalancerSettings {
    /// A standard algorithm (`ROUND_ROBIN`, `LEAST_CONN`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple: Option<String>,
    /// Consistent hashing (soft session affinity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHash>,
}

/// `ConsistentHashLB`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConsistentHash {
    /// Hash on a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    /// Hash on a cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_cookie: Option<HashCookie>,
    /// Hash on the source IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
    /// Hash on a query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_query_parameter_name: Option<String>,
    /// Ring hash options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_hash: Option<RingHash>,
    /// Maglev options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<Maglev>,
}

/// `ConsistentHashLB.HTTPCookie`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HashCookie {
    /// Cookie name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cookie path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Cookie lifetime (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// `ConsistentHashLB.RingHash`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RingHash {
    /// Minimum virtual nodes (default 1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

/// `ConsistentHashLB.MagLev`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Maglev {
    /// Table size (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
}

/// `ClientTrafficSettings` resilience (`UpstreamResilienceSettings`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamResilience {
    /// Outlier ejection sensitivity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker_sensitivity: Option<CircuitBreakerSensitivity>,
    /// Connection pool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<UpstreamConnectionPool>,
    /// Custom outlier detection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
}

/// `ConnectionPoolSettings` of an upstream.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamConnectionPool {
    /// HTTP settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<UpstreamHttp>,
    /// TCP settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<UpstreamTcp>,
}

/// `ConnectionPoolSettings.HTTP`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamHttp {
    /// Active requests (0: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Requests per connection (1 disables keep-alive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    /// Request timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    /// Retry policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<HttpRetries>,
}

/// `ConnectionPoolSettings.TCP`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpstreamTcp {
    /// Connect timeout (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    /// Keep-alive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<TcpKeepAlive>,
    /// Connections (0: unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
}

/// `OutlierDetection`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OutlierDetection {
    /// Base ejection time (default 30s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<String>,
    /// Consecutive 5xx before ejection.
    #[serde(rename = "consecutive5xx", skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx: Option<u32>,
    /// Consecutive gateway failures before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_gateway_failure: Option<u32>,
    /// Consecutive local-origin failures before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive_local_origin_failure: Option<u32>,
    /// Percent ejected on consecutive 5xx.
    #[serde(
        rename = "enforcingConsecutive5xx",
        skip_serializing_if = "Option::is_none"
    )]
    pub enforcing_consecutive_5xx: Option<u32>,
    /// Percent ejected on gateway failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcing_consecutive_gateway_failure: Option<u32>,
    /// Percent ejected on local-origin failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcing_consecutive_local_origin_failure: Option<u32>,
    /// Analysis sweep interval (default 10s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Maximum ejected percent (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<u32>,
    /// Maximum ejection time (default 300s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_time: Option<String>,
    /// Tell local-origin failures from external errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_external_local_origin_errors: Option<bool>,
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
    /// Per-upstream client settings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_traffic_settings: Vec<UpstreamTrafficSetting>,
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
    /// Per-upstream client settings (newer TSB; deprecated for `outbound`'s).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstream_traffic_settings: Vec<UpstreamTrafficSetting>,
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
