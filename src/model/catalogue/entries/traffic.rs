//! Traffic kinds: TrafficSetting (as a spec, a default and a service's settings), ServiceRoute, ServiceTrafficSetting.

use super::*;

/// A ServiceTrafficSetting's own reachability or egress: a Sidecar selecting the Service's
/// workloads.
const SERVICE_SIDECAR: Fate = Translated(
    "Sidecar with workloadSelector.labels = the Service's spec.selector (in each cluster that \
     reports the Service), egress[].hosts and outboundTrafficPolicy of the setting in force \
     (the group's overlaid by the service's): it replaces the namespace's Sidecar for those \
     workloads",
);

/// A ServiceTrafficSetting's own downstream keep-alive.
const SERVICE_DOWNSTREAM_KEEP_ALIVE: Fate = Translated(
    "EnvoyFilter with workloadSelector.labels = the Service's spec.selector and priority 10 \
     (applied after the namespace's): LISTENER virtualInbound socket_options of the keep-alive \
     in force, value by value",
);

/// A ServiceTrafficSetting's own rate limiting.
const SERVICE_RATE_LIMITING: Fate = Model(
    "container: see RateLimiting (TrafficSetting rateLimiting); an EnvoyFilter with \
     workloadSelector.labels = the Service's spec.selector, in addition to the group's (a \
     request must pass both: a warning says so)",
);

const DEPRECATED_DOWNSTREAM_KEEP_ALIVE: Fate = Translated(
    "as inbound.resilience.connectionPool.tcp.keepAlive, which wins when the same object sets \
     both",
);

const DOWNSTREAM_KEEP_ALIVE: Fate = Translated(
    "EnvoyFilter (every namespace of the group) LISTENER virtualInbound socket_options: \
     SO_KEEPALIVE, TCP_KEEPIDLE = idleTime, TCP_KEEPINTVL = interval, TCP_KEEPCNT = probes \
     (Linux hands them on to the accepted client connections)",
);

const RETRY_BACK_OFF: Fate = NotEnforced(
    "Istio's retry policy has no base and maximum back-off intervals: Envoy's default back-off \
     (25ms base, 250ms cap) applies",
);

const MESH_TIMEOUT: Fate = NotEnforced(
    "mesh timeouts (connection and stream durations of inbound connections) are not translated \
     yet: they need HTTP connection manager options on the sidecars' and gateways' listeners",
);

const FAILOVER: Fate = NotEnforced(
    "failover settings are multicluster wiring (failover priority, regional failover, automatic \
     load balancing across clusters), not translated yet",
);

/// `TrafficSetting.Inbound` of a TrafficSetting or a `defaultTrafficSetting` (mounted at
/// `inbound`); a ServiceTrafficSetting's are in its own message.
pub(super) const INBOUND: Message = Message {
    name: "TrafficSetting.Inbound",
    fields: &[
        Field {
            path: "rateLimiting",
            fate: Model(
                "container: see RateLimiting (TrafficSetting rateLimiting); wins over \
                 rateLimiting of the same object",
            ),
        },
        Field {
            path: "resilience",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.connectionPool.tcp.keepAlive",
            fate: DOWNSTREAM_KEEP_ALIVE,
        },
        Field {
            path: "resilience.meshTimeout",
            fate: MESH_TIMEOUT,
        },
        Field {
            path: "failoverSettings",
            fate: FAILOVER,
        },
    ],
};

/// `TrafficSetting.Outbound` of a TrafficSetting or a `defaultTrafficSetting` (mounted at
/// `outbound`).
pub(super) const OUTBOUND: Message = Message {
    name: "TrafficSetting.Outbound",
    fields: &[
        Field {
            path: "reachability",
            fate: Translated(
                "as reachability (Sidecar egress[].hosts), which it replaces when the same object \
                 sets both",
            ),
        },
        Field {
            path: "egress",
            fate: EGRESS_PROXY,
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: NEWER_MESSAGE,
        },
    ],
};

/// `upstreamTrafficSettings`, `outbound.upstreamTrafficSettings`.
const NEWER_MESSAGE: Fate = NotEnforced(
    "per-upstream client settings (load balancing, connection pools, outlier detection, \
     authentication per host) are typed but not translated: they would be a DestinationRule per \
     upstream host in the clients' namespaces, which Istio prefers to the host's own \
     DestinationRule for those clients without merging them (its ServiceRoute subsets and \
     ServiceTrafficSetting policy would be lost, breaking subset routing), and their timeouts \
     and retries a second VirtualService for hosts that have one (an Istio conflict, IST0109): \
     use resilience, or a ServiceTrafficSetting of the upstream service, instead",
);

/// TSB's `RateLimiting` in a TrafficSetting or a `defaultTrafficSetting` (mounted at
/// `rateLimiting`): an EnvoyFilter on the group's sidecars (`translate::ratelimit`).
pub(super) const RATE_LIMITING: Message = Message {
    name: "RateLimiting (TrafficSetting rateLimiting)",
    fields: &[
        Field {
            path: "settings",
            fate: Translated(
                "EnvoyFilter (SIDECAR_INBOUND, every namespace of the group, or a ServiceTrafficSetting's \
                 Service's workloads) with \
                 envoy.filters.http.local_ratelimit: one token bucket per rule, counted by each \
                 sidecar on its own (TSB's rate limit server counts across replicas)",
            ),
        },
        Field {
            path: "settings.rules[].dimensions[].remoteAddress",
            fate: Translated(
                "route rate_limits actions remote_address and descriptor entry \
                 remote_address=<value>; the value * (every address on its own) cannot be a \
                 local bucket: that rule is not enforced (L1 warns)",
            ),
        },
        Field {
            path: "settings.rules[].dimensions[].header",
            fate: Translated(
                "route rate_limits actions header_value_match (exact, prefix, safe_regex; \
                 dontMatch: expect_match false) and its descriptor entry; without a value (every \
                 value on its own) the rule is not enforced (L1 warns)",
            ),
        },
        Field {
            path: "settings.rules[].limit",
            fate: Translated(
                "descriptor token_bucket: max_tokens and tokens_per_fill = requestsPerUnit, \
                 fill_interval = the unit",
            ),
        },
        Field {
            path: "settings.failClosed",
            fate: NotEnforced(
                "local rate limiting calls no server, so there is no failure to fail closed on",
            ),
        },
        Field {
            path: "settings.timeout",
            fate: NotEnforced(
                "local rate limiting calls no server, so there is no call to time out",
            ),
        },
        Field {
            path: "local",
            fate: Translated(
                "EnvoyFilter (SIDECAR_INBOUND, every namespace of the group, or a ServiceTrafficSetting's \
                 Service's workloads) with \
                 envoy.filters.http.local_ratelimit: one token bucket per rule and replica",
            ),
        },
        Field {
            path: "local.rules[].dimensions",
            fate: Translated(
                "route rate_limits actions and descriptor entries as for settings (dontMatch: \
                 header_value_match expect_match false); a wildcard dimension (value * or a \
                 header without a value) is not enforced (L1 warns)",
            ),
        },
        Field {
            path: "local.rules[].tokenBucket",
            fate: Translated(
                "descriptor token_bucket max_tokens, tokens_per_fill (default 1), fill_interval",
            ),
        },
        Field {
            path: "local.maxWildcardDimensions",
            fate: NotEnforced(
                "wildcard dimensions are not translated (each distinct value would need its own \
                 bucket), so there is no cache to size",
            ),
        },
        Field {
            path: "externalService",
            fate: Translated(
                "EnvoyFilter (SIDECAR_INBOUND, every namespace of the group, or a ServiceTrafficSetting's \
                 Service's workloads) with \
                 envoy.filters.http.ratelimit calling the server",
            ),
        },
        Field {
            path: "externalService.domain",
            fate: Translated("envoy.filters.http.ratelimit domain"),
        },
        Field {
            path: "externalService.failClosed",
            fate: Translated("envoy.filters.http.ratelimit failure_mode_deny"),
        },
        Field {
            path: "externalService.timeout",
            fate: Translated("envoy.filters.http.ratelimit timeout"),
        },
        Field {
            path: "externalService.rateLimitServerUri",
            fate: Translated(
                "rate_limit_service.grpc_service.envoy_grpc.cluster_name outbound|<port>||<host> \
                 (Istio's cluster: the server must be a service the sidecars can reach)",
            ),
        },
        Field {
            path: "externalService.rules",
            fate: Translated(
                "route rate_limits[].actions: source_cluster, destination_cluster, \
                 remote_address, request_headers, header_value_match (dontMatch: expect_match \
                 false)",
            ),
        },
        Field {
            path: "externalService.tls",
            fate: NotEnforced(
                "TLS towards the rate limit server is not translated yet (it needs a \
                 DestinationRule for the server's host): a server in the mesh gets Istio's \
                 mTLS, one outside it a plain-text connection",
            ),
        },
    ],
};

/// `TrafficSetting` as the spec of its own kind: every namespace of the group.
pub(super) const TRAFFIC_SETTING: Message = Message {
    name: "TrafficSetting",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "reachability",
            fate: Translated("Sidecar egress[].hosts (namespace-wide Sidecar)"),
        },
        Field {
            path: "reachability.mode",
            fate: Translated(
                "Sidecar egress[].hosts: ./*, the group's or workspace's <ns>/*, or */*",
            ),
        },
        Field {
            path: "reachability.hosts",
            fate: Translated("Sidecar egress[].hosts (CUSTOM mode)"),
        },
        Field {
            path: "resilience",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.circuitBreakerSensitivity",
            fate: Translated(
                "DestinationRule *.<ns>.svc.cluster.local trafficPolicy.outlierDetection.\
                 consecutive5xxErrors (20/10/5), and the same in the DestinationRule of each of \
                 the group's ServiceRoutes",
            ),
        },
        Field {
            path: "resilience.httpRequestTimeout",
            fate: Translated(
                "VirtualService http[].timeout of the group's ServiceRoutes, and of a \
                 VirtualService <name>.<ns>.svc.cluster.local per Service the cluster reports in \
                 the group's namespaces without a ServiceRoute, when a port can carry HTTP (a \
                 service's ServiceTrafficSetting overrides it)",
            ),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "VirtualService http[].retries (attempts, perTryTimeout, retryOn) of the \
                 group's ServiceRoutes, and of a VirtualService <name>.<ns>.svc.cluster.local per \
                 Service the cluster reports in the group's namespaces without a ServiceRoute, \
                 when a port can carry HTTP (a service's ServiceTrafficSetting overrides it)",
            ),
        },
        Field {
            path: "resilience.httpRetries.retryBackOff",
            fate: RETRY_BACK_OFF,
        },
        Field {
            path: "resilience.tcpKeepalive",
            fate: Translated(
                "DestinationRule trafficPolicy.connectionPool.tcp.tcpKeepalive {} (SO_KEEPALIVE \
                 with the OS's timings) when keepAlive.tcp.upstream is not set (it wins)",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.keepAlive.tcp.upstream",
            fate: Translated(
                "DestinationRule *.<ns>.svc.cluster.local trafficPolicy.connectionPool.tcp.\
                 tcpKeepalive (probes, time = idleTime seconds, interval seconds), and the same in \
                 the DestinationRule of each of the group's ServiceRoutes",
            ),
        },
        Field {
            path: "resilience.keepAlive.tcp.downstream",
            fate: DEPRECATED_DOWNSTREAM_KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: EGRESS_PROXY,
        },
        Field {
            path: "rateLimiting",
            fate: Model(
                "container: see RateLimiting (TrafficSetting rateLimiting); deprecated for \
                 inbound.rateLimiting, which wins when the same object sets both",
            ),
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: NEWER_MESSAGE,
        },
        Field {
            path: "inbound",
            fate: Model("container: see TrafficSetting.Inbound"),
        },
        Field {
            path: "outbound",
            fate: Model("container: see TrafficSetting.Outbound"),
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated Sidecar and \
                 DestinationRule",
            ),
        },
    ],
};

/// `TrafficSetting` as `defaultTrafficSetting` of the organization, tenant and workspace
/// settings: overlaid under the group's TrafficSetting, the ServiceTrafficSetting and the
/// ServiceRoute, field by field (`translate::traffic::effective`).
pub(super) const DEFAULT_TRAFFIC_SETTING: Message = Message {
    name: "TrafficSetting (defaultTrafficSetting)",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "reachability",
            fate: Translated(
                "inherited by the TrafficSettings below that leave it unset: their Sidecar \
                 egress[].hosts (a group without a TrafficSetting gets no Sidecar)",
            ),
        },
        Field {
            path: "resilience",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.circuitBreakerSensitivity",
            fate: Translated(
                "inherited by the TrafficSettings and ServiceTrafficSettings below: their \
                 DestinationRule trafficPolicy.outlierDetection",
            ),
        },
        Field {
            path: "resilience.httpRequestTimeout",
            fate: Translated(
                "inherited by the TrafficSettings, ServiceTrafficSettings and ServiceRoutes \
                 below: VirtualService http[].timeout",
            ),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "inherited by the TrafficSettings, ServiceTrafficSettings and ServiceRoutes \
                 below: VirtualService http[].retries (attempts, perTryTimeout, retryOn)",
            ),
        },
        Field {
            path: "resilience.httpRetries.retryBackOff",
            fate: RETRY_BACK_OFF,
        },
        Field {
            path: "resilience.tcpKeepalive",
            fate: Translated(
                "inherited by the settings below: DestinationRule trafficPolicy.connectionPool.\
                 tcp.tcpKeepalive {} when no keepAlive.tcp.upstream is in force",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.keepAlive.tcp.upstream",
            fate: Translated(
                "inherited value by value by the TrafficSettings, ServiceTrafficSettings and \
                 ServiceRoutes below: their DestinationRule trafficPolicy.connectionPool.tcp.\
                 tcpKeepalive",
            ),
        },
        Field {
            path: "resilience.keepAlive.tcp.downstream",
            fate: DEPRECATED_DOWNSTREAM_KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: EGRESS_PROXY,
        },
        Field {
            path: "rateLimiting",
            fate: Model(
                "container: see RateLimiting (TrafficSetting rateLimiting); deprecated for \
                 inbound.rateLimiting, which wins when the same object sets both",
            ),
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: NEWER_MESSAGE,
        },
        Field {
            path: "inbound",
            fate: Model("container: see TrafficSetting.Inbound"),
        },
        Field {
            path: "outbound",
            fate: Model("container: see TrafficSetting.Outbound"),
        },
        Field {
            path: "configGenerationMetadata",
            fate: NotEnforced(
                "defaults do not carry labels or annotations: set them on the tenant, \
                 workspace, group or object instead",
            ),
        },
    ],
};

/// `TrafficSetting` as a ServiceTrafficSetting's `settings`: outlier detection for the
/// service, the timeouts and retries of the same service's ServiceRoute (or its own
/// VirtualService), and a Sidecar and an EnvoyFilter selecting the Service's workloads.
pub(super) const SERVICE_TRAFFIC_SETTINGS: Message = Message {
    name: "TrafficSetting (ServiceTrafficSetting settings)",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "reachability",
            fate: SERVICE_SIDECAR,
        },
        Field {
            path: "resilience",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.circuitBreakerSensitivity",
            fate: Translated(
                "DestinationRule <fqdn> trafficPolicy.outlierDetection.consecutive5xxErrors \
                 (20/10/5)",
            ),
        },
        Field {
            path: "resilience.httpRequestTimeout",
            fate: Translated(
                "VirtualService http[].timeout of the same service's ServiceRoute in the \
                 workspace; without one, of a VirtualService <name>.<ns>.svc.cluster.local with \
                 one route, when the cluster reports the Service with a port that can carry \
                 HTTP (none for TCP-only services)",
            ),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "VirtualService http[].retries (attempts, perTryTimeout, retryOn) of the same \
                 service's ServiceRoute in the workspace; without one, of a VirtualService \
                 <name>.<ns>.svc.cluster.local with one route, when the cluster reports the \
                 Service with a port that can carry HTTP (none for TCP-only services)",
            ),
        },
        Field {
            path: "resilience.httpRetries.retryBackOff",
            fate: RETRY_BACK_OFF,
        },
        Field {
            path: "resilience.tcpKeepalive",
            fate: Translated(
                "DestinationRule <fqdn> trafficPolicy.connectionPool.tcp.tcpKeepalive {} when \
                 keepAlive.tcp.upstream is not set (it wins)",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: CONTAINER,
        },
        Field {
            path: "resilience.keepAlive.tcp.upstream",
            fate: Translated(
                "DestinationRule <fqdn> trafficPolicy.connectionPool.tcp.tcpKeepalive (probes, \
                 time = idleTime seconds, interval seconds)",
            ),
        },
        Field {
            path: "resilience.keepAlive.tcp.downstream",
            fate: DEPRECATED_DOWNSTREAM_KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: SERVICE_SIDECAR,
        },
        Field {
            path: "rateLimiting",
            fate: SERVICE_RATE_LIMITING,
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: NEWER_MESSAGE,
        },
        Field {
            path: "inbound",
            fate: CONTAINER,
        },
        Field {
            path: "inbound.rateLimiting",
            fate: SERVICE_RATE_LIMITING,
        },
        Field {
            path: "inbound.resilience",
            fate: CONTAINER,
        },
        Field {
            path: "inbound.resilience.connectionPool.tcp.keepAlive",
            fate: SERVICE_DOWNSTREAM_KEEP_ALIVE,
        },
        Field {
            path: "inbound.resilience.meshTimeout",
            fate: MESH_TIMEOUT,
        },
        Field {
            path: "inbound.failoverSettings",
            fate: FAILOVER,
        },
        Field {
            path: "outbound",
            fate: CONTAINER,
        },
        Field {
            path: "outbound.reachability",
            fate: SERVICE_SIDECAR,
        },
        Field {
            path: "outbound.egress",
            fate: SERVICE_SIDECAR,
        },
        Field {
            path: "outbound.upstreamTrafficSettings",
            fate: NEWER_MESSAGE,
        },
        Field {
            path: "configGenerationMetadata",
            fate: SETTINGS_METADATA,
        },
    ],
};

pub(super) const SERVICE_ROUTE: Message = Message {
    name: "ServiceRoute",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "service",
            fate: Translated(
                "VirtualService hosts, route[].destination.host and DestinationRule host \
                 (<fqdn>), in namespace <namespace>",
            ),
        },
        Field {
            path: "subsets",
            fate: Translated("DestinationRule subsets[] and VirtualService route[] destinations"),
        },
        Field {
            path: "subsets[].name",
            fate: Translated(
                "DestinationRule subsets[].name and VirtualService route[].destination.subset",
            ),
        },
        Field {
            path: "subsets[].labels",
            fate: Translated("DestinationRule subsets[].labels"),
        },
        Field {
            path: "subsets[].weight",
            fate: Translated(
                "VirtualService route[].weight of the default routes (split evenly when no \
                 subset has one)",
            ),
        },
        Field {
            path: "subsets[].portLevelSettings",
            fate: Translated(
                "DestinationRule subsets[].trafficPolicy.portLevelSettings[] (for ports of the \
                 top-level portLevelSettings with the same trafficType; others are ignored, as \
                 in TSB)",
            ),
        },
        Field {
            path: "subsets[].portLevelSettings[].port",
            fate: Translated("DestinationRule subsets[].trafficPolicy.portLevelSettings[].port"),
        },
        Field {
            path: "subsets[].portLevelSettings[].trafficType",
            fate: Model("selects the top-level port the setting modifies (must be the same type)"),
        },
        Field {
            path: "subsets[].portLevelSettings[].stickySession",
            fate: Translated(
                "DestinationRule subsets[].trafficPolicy.portLevelSettings[].loadBalancer.\
                 consistentHash",
            ),
        },
        Field {
            path: "stickySession",
            fate: Translated("DestinationRule trafficPolicy.loadBalancer.consistentHash"),
        },
        Field {
            path: "stickySession.header",
            fate: Translated("DestinationRule consistentHash.httpHeaderName"),
        },
        Field {
            path: "stickySession.cookie",
            fate: Translated("DestinationRule consistentHash.httpCookie (name, path, ttl)"),
        },
        Field {
            path: "stickySession.useSourceIp",
            fate: Translated("DestinationRule consistentHash.useSourceIp"),
        },
        Field {
            path: "portLevelSettings",
            fate: Translated(
                "one default VirtualService route per port that no match of httpRoutes or \
                 tcpRoutes uses",
            ),
        },
        Field {
            path: "portLevelSettings[].port",
            fate: Translated(
                "VirtualService http[]/tcp[]/tls[] match[].port and route[].destination.port.\
                 number of the port's default route; DestinationRule trafficPolicy.\
                 portLevelSettings[].port",
            ),
        },
        Field {
            path: "portLevelSettings[].trafficType",
            fate: Translated(
                "VirtualService http[] (HTTP), tcp[] (TCP) or tls[] with match[].sniHosts \
                 [<fqdn>] (TLS_PASSTHROUGH) default route",
            ),
        },
        Field {
            path: "portLevelSettings[].stickySession",
            fate: Translated(
                "DestinationRule trafficPolicy.portLevelSettings[].loadBalancer.consistentHash",
            ),
        },
        Field {
            path: "httpRoutes",
            fate: Translated("VirtualService http[], in order, before the default routes"),
        },
        Field {
            path: "httpRoutes[].name",
            fate: Translated("VirtualService http[].name"),
        },
        Field {
            path: "httpRoutes[].match",
            fate: Translated("VirtualService http[].match[]"),
        },
        Field {
            path: "httpRoutes[].match[].name",
            fate: Translated("VirtualService http[].match[].name"),
        },
        Field {
            path: "httpRoutes[].match[].uri",
            fate: Translated("VirtualService http[].match[].uri (exact, prefix, regex)"),
        },
        Field {
            path: "httpRoutes[].match[].headers",
            fate: Translated("VirtualService http[].match[].headers (exact, prefix, regex)"),
        },
        Field {
            path: "httpRoutes[].match[].port",
            fate: Translated("VirtualService http[].match[].port"),
        },
        Field {
            path: "httpRoutes[].destination",
            fate: Translated("VirtualService http[].route[]"),
        },
        Field {
            path: "httpRoutes[].destination[].subset",
            fate: Translated("VirtualService http[].route[].destination.subset"),
        },
        Field {
            path: "httpRoutes[].destination[].weight",
            fate: Translated(
                "VirtualService http[].route[].weight (split evenly when no destination has one)",
            ),
        },
        Field {
            path: "httpRoutes[].destination[].port",
            fate: Translated("VirtualService http[].route[].destination.port.number"),
        },
        Field {
            path: "httpRoutes[].destination[].destinationHost",
            fate: Translated(
                "VirtualService http[].route[].destination.host (default: the service; a short \
                 name resolves in the service's namespace)",
            ),
        },
        Field {
            path: "tcpRoutes",
            fate: Translated("VirtualService tcp[], in order, before the default routes"),
        },
        Field {
            path: "tcpRoutes[].name",
            fate: Model("identifies the route in TSB: Istio's tcp[] routes have no name"),
        },
        Field {
            path: "tcpRoutes[].match",
            fate: Translated("VirtualService tcp[].match[]"),
        },
        Field {
            path: "tcpRoutes[].match[].name",
            fate: Model("identifies the match in TSB: Istio's L4 match attributes have no name"),
        },
        Field {
            path: "tcpRoutes[].match[].port",
            fate: Translated("VirtualService tcp[].match[].port"),
        },
        Field {
            path: "tcpRoutes[].destination",
            fate: Translated("VirtualService tcp[].route[]"),
        },
        Field {
            path: "tcpRoutes[].destination[].subset",
            fate: Translated("VirtualService tcp[].route[].destination.subset"),
        },
        Field {
            path: "tcpRoutes[].destination[].weight",
            fate: Translated(
                "VirtualService tcp[].route[].weight (split evenly when no destination has one)",
            ),
        },
        Field {
            path: "tcpRoutes[].destination[].port",
            fate: Translated("VirtualService tcp[].route[].destination.port.number"),
        },
        Field {
            path: "tcpRoutes[].destination[].destinationHost",
            fate: Translated(
                "VirtualService tcp[].route[].destination.host (default: the service; a short \
                 name resolves in the service's namespace)",
            ),
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated VirtualService and \
                 DestinationRule",
            ),
        },
    ],
};

pub(super) const SERVICE_TRAFFIC_SETTING: Message = Message {
    name: "ServiceTrafficSetting",
    fields: &[
        Field {
            path: "displayName",
            fate: DISPLAY,
        },
        Field {
            path: "description",
            fate: DISPLAY,
        },
        Field {
            path: "service",
            fate: Translated(
                "DestinationRule host (<fqdn>) in namespace <namespace>; also picks the \
                 ServiceRoute that takes its timeouts and retries, and the cluster's Service \
                 whose ports and spec.selector the VirtualService, Sidecar and EnvoyFilter use",
            ),
        },
        Field {
            path: "settings",
            fate: CONTAINER,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated DestinationRule, \
                 VirtualService, Sidecar and EnvoyFilter",
            ),
        },
    ],
};
