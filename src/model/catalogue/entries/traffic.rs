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
                "VirtualService hosts and DestinationRule host (<fqdn>), in namespace <namespace>",
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
            fate: Translated("VirtualService route[].weight (split evenly when no subset has one)"),
        },
        Field {
            path: "portLevelSettings",
            fate: Translated("one VirtualService route per port"),
        },
        Field {
            path: "portLevelSettings[].port",
            fate: Translated(
                "VirtualService http[]/tcp[] match[].port and route[].destination.port.number",
            ),
        },
        Field {
            path: "portLevelSettings[].trafficType",
            fate: Translated(
                "VirtualService tcp[] route for TCP, TLS and HTTPS, http[] route otherwise",
            ),
        },
        Field {
            path: "httpRoutes",
            fate: NotEnforced(
                "custom HTTP routes are not translated yet: the VirtualService splits all traffic \
                 by the subset weights instead",
            ),
        },
        Field {
            path: "tcpRoutes",
            fate: NotEnforced(
                "custom TCP routes are not translated yet: the VirtualService splits all traffic \
                 by the subset weights instead",
            ),
        },
        Field {
            path: "stickySession",
            fate: Translated(
                "DestinationRule trafficPolicy.loadBalancer.consistentHash (header, cookie or \
                 useSourceIp)",
            ),
        },
        Field {
            path: "argoRollout",
            fate: NotEnforced("the Argo Rollouts integration is not translated yet"),
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
