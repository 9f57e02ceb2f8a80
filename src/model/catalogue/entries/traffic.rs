//! Traffic kinds: TrafficSetting (as a spec, a default and a service's settings), ServiceRoute, ServiceTrafficSetting.

use super::*;

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
                "VirtualService http[].timeout of the group's ServiceRoutes (a service's \
                 ServiceTrafficSetting overrides it); Istio has no timeout for services without \
                 a ServiceRoute",
            ),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "VirtualService http[].retries (attempts, perTryTimeout, retryOn) of the \
                 group's ServiceRoutes (a service's ServiceTrafficSetting overrides it); Istio \
                 has no retries for services without a ServiceRoute",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: EGRESS_PROXY,
        },
        Field {
            path: "rateLimiting",
            fate: RATE_LIMITING,
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: UPSTREAM,
        },
        Field {
            path: "inbound",
            fate: INBOUND,
        },
        Field {
            path: "outbound",
            fate: OUTBOUND,
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
            fate: Translated("inherited by the ServiceRoutes below: VirtualService http[].timeout"),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "inherited by the ServiceRoutes below: VirtualService http[].retries (attempts, \
                 perTryTimeout, retryOn)",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: EGRESS_PROXY,
        },
        Field {
            path: "rateLimiting",
            fate: RATE_LIMITING,
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: UPSTREAM,
        },
        Field {
            path: "inbound",
            fate: INBOUND,
        },
        Field {
            path: "outbound",
            fate: OUTBOUND,
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
/// service, and the timeouts and retries of the same service's ServiceRoute.
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
            fate: NotEnforced(
                "a per-service reachability is not translated yet (needs a Sidecar selecting the \
                 service's pods): only the group's TrafficSetting makes Sidecars",
            ),
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
                 workspace (none without a ServiceRoute)",
            ),
        },
        Field {
            path: "resilience.httpRetries",
            fate: Translated(
                "VirtualService http[].retries (attempts, perTryTimeout, retryOn) of the same \
                 service's ServiceRoute in the workspace (none without a ServiceRoute)",
            ),
        },
        Field {
            path: "resilience.keepAlive",
            fate: KEEP_ALIVE,
        },
        Field {
            path: "egress",
            fate: NotEnforced(
                "a per-service egress gateway is not translated yet (needs a Sidecar selecting \
                 the service's pods): only the group's TrafficSetting makes Sidecars",
            ),
        },
        Field {
            path: "rateLimiting",
            fate: RATE_LIMITING,
        },
        Field {
            path: "upstreamTrafficSettings",
            fate: UPSTREAM,
        },
        Field {
            path: "inbound",
            fate: INBOUND,
        },
        Field {
            path: "outbound",
            fate: OUTBOUND,
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
                 ServiceRoute that takes its timeouts and retries",
            ),
        },
        Field {
            path: "settings",
            fate: CONTAINER,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated DestinationRule",
            ),
        },
    ],
};
