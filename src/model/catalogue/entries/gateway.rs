//! Gateway kinds: IngressGateway, EgressGateway, Tier1Gateway, the unified Gateway and their shared messages.

use super::*;

/// Tier1 servers: only the listener is generated, nothing is forwarded.
/// Egress through a gateway: the Sidecar's `egressProxy` that carries it is ignored by Istio.
pub(super) const EGRESS_PROXY: Fate = NotEnforced(
    "egress through a gateway is not enforced: the generated Sidecar's \
     outboundTrafficPolicy.egressProxy is ignored by current Istio (istioctl analyze: IST0002), \
     so traffic leaves the mesh directly; only the gateway host is added to the Sidecar's \
     egress hosts",
);

/// Per-server authentication on a gateway: no RequestAuthentication is generated for it.
pub(super) const GATEWAY_AUTHENTICATION: Fate = NotEnforced(
    "per-server authentication is not translated yet (no RequestAuthentication is generated on \
     the gateway workload); requests through this server are not authenticated by it",
);
/// Per-server authorization on a gateway.
pub(super) const GATEWAY_AUTHORIZATION: Fate = NotEnforced(
    "per-server authorization is not translated yet (no AuthorizationPolicy is generated on the \
     gateway workload); this server admits every request",
);
/// Rate limits on a gateway server.
pub(super) const GATEWAY_RATE_LIMITING: Fate =
    NotEnforced("gateway rate limiting is not translated yet (Istio needs an EnvoyFilter for it)");
/// CORS on a gateway route.
pub(super) const GATEWAY_CORS: Fate =
    NotEnforced("CORS is not translated yet (VirtualService http[].corsPolicy is not generated)");
/// Header and path changes on a gateway route.
pub(super) const GATEWAY_MODIFY: Fate = NotEnforced(
    "rewrites and header changes are not translated yet (VirtualService http[].rewrite and \
     headers are not generated)",
);
/// Redirects on a gateway route.
pub(super) const GATEWAY_REDIRECT: Fate = NotEnforced(
    "redirects are not translated yet (VirtualService http[].redirect is not generated); the \
     rule routes instead",
);
/// Fixed responses on a gateway route.
pub(super) const GATEWAY_DIRECT_RESPONSE: Fate = NotEnforced(
    "direct responses are not translated yet (VirtualService http[].directResponse is not \
     generated)",
);
/// Routes to other clusters from a unified gateway.
pub(super) const CLUSTER_DESTINATION: Fate = NotEnforced(
    "routes to other clusters are not translated (they need the other clusters' gateway \
     addresses and multicluster wiring); the listener forwards nothing for them",
);

pub(super) const TIER1_SERVERS: Fate = NotEnforced(
    "routes to other clusters are not translated yet (they need the clusters' gateway \
     addresses): only an Istio Gateway listener (port, hostname, tls) is generated, and it \
     forwards nothing",
);

/// What translation ignores inside an HTTP server of the ingress and unified gateways (their
/// server lists are free-form; each kind's `http` entry says what is translated).
pub(super) const HTTP_SERVER: Message = Message {
    name: "HTTPServer",
    fields: &[
        Field {
            path: "[].authentication",
            fate: GATEWAY_AUTHENTICATION,
        },
        Field {
            path: "[].authorization",
            fate: GATEWAY_AUTHORIZATION,
        },
        Field {
            path: "[].rateLimiting",
            fate: GATEWAY_RATE_LIMITING,
        },
        Field {
            path: "[].routing.corsPolicy",
            fate: GATEWAY_CORS,
        },
        Field {
            path: "[].routing.rules[].modify",
            fate: GATEWAY_MODIFY,
        },
        Field {
            path: "[].routing.rules[].redirect",
            fate: GATEWAY_REDIRECT,
        },
        Field {
            path: "[].routing.rules[].directResponse",
            fate: GATEWAY_DIRECT_RESPONSE,
        },
    ],
};

pub(super) const INGRESS_GATEWAY: Message = Message {
    name: "IngressGateway",
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
            path: "workloadSelector",
            fate: CONTAINER,
        },
        Field {
            path: "workloadSelector.namespace",
            fate: GATEWAY_NAMESPACE,
        },
        Field {
            path: "workloadSelector.labels",
            fate: GATEWAY_LABELS,
        },
        Field {
            path: "http",
            fate: Translated(
                "Istio Gateway servers[] (port, hostname, name; HTTPS with tls.mode and \
                 tls.secretName → credentialName) and a VirtualService per server: \
                 routing.rules[].match (uri, headers, method, queryParams) and route (host, \
                 port)",
            ),
        },
        Field {
            path: "tcp",
            fate: Translated(
                "Istio Gateway servers[] (TCP, or TLS with tls) and VirtualService tcp[] to \
                 route (host, port)",
            ),
        },
        Field {
            path: "tlsPassthrough",
            fate: Translated(
                "Istio Gateway servers[] (TLS PASSTHROUGH) and VirtualService tls[] (sniHosts) to \
                 route (host, port)",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated Gateway and \
                 VirtualServices",
            ),
        },
    ],
};

pub(super) const EGRESS_GATEWAY: Message = Message {
    name: "EgressGateway",
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
            path: "workloadSelector",
            fate: CONTAINER,
        },
        Field {
            path: "workloadSelector.namespace",
            fate: GATEWAY_NAMESPACE,
        },
        Field {
            path: "workloadSelector.labels",
            fate: GATEWAY_LABELS,
        },
        Field {
            path: "authorization",
            fate: Translated(
                "ALLOW AuthorizationPolicy on the gateway pods: from.mode / from.fqn → \
                 rules[].from.source, to[] → rules[].to.operation.hosts; no entry denies \
                 everything",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated Gateway and \
                 AuthorizationPolicy",
            ),
        },
    ],
};

pub(super) const TIER1_GATEWAY: Message = Message {
    name: "Tier1Gateway",
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
            path: "workloadSelector",
            fate: CONTAINER,
        },
        Field {
            path: "workloadSelector.namespace",
            fate: GATEWAY_NAMESPACE,
        },
        Field {
            path: "workloadSelector.labels",
            fate: GATEWAY_LABELS,
        },
        Field {
            path: "externalServers",
            fate: TIER1_SERVERS,
        },
        Field {
            path: "tcpExternalServers",
            fate: TIER1_SERVERS,
        },
        Field {
            path: "passthroughServers",
            fate: TIER1_SERVERS,
        },
        Field {
            path: "internalServers",
            fate: NotEnforced(
                "internal (cross-cluster) servers are not translated yet (multicluster wiring)",
            ),
        },
        Field {
            path: "tcpInternalServers",
            fate: NotEnforced(
                "internal (cross-cluster) TCP servers are not translated yet (multicluster \
                 wiring)",
            ),
        },
        Field {
            path: "extension",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated("metadata.labels and metadata.annotations of the generated Gateway"),
        },
    ],
};

pub(super) const UNIFIED_GATEWAY: Message = Message {
    name: "Gateway",
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
            path: "workloadSelector",
            fate: CONTAINER,
        },
        Field {
            path: "workloadSelector.namespace",
            fate: GATEWAY_NAMESPACE,
        },
        Field {
            path: "workloadSelector.labels",
            fate: GATEWAY_LABELS,
        },
        Field {
            path: "http",
            fate: Translated(
                "Istio Gateway servers[] (port, hostname, name; HTTPS with tls.mode and \
                 tls.secretName → credentialName) and a VirtualService per server: \
                 routing.rules[].match (uri, headers, method, queryParams) and \
                 route.serviceDestination (host, port)",
            ),
        },
        Field {
            path: "http[].routing.rules[].route.clusterDestination",
            fate: CLUSTER_DESTINATION,
        },
        Field {
            path: "tcp",
            fate: Translated(
                "Istio Gateway servers[] (TCP, or TLS with tls) and VirtualService tcp[] to \
                 route.serviceDestination (host, port)",
            ),
        },
        Field {
            path: "tcp[].route.clusterDestination",
            fate: CLUSTER_DESTINATION,
        },
        Field {
            path: "tls",
            fate: Translated(
                "Istio Gateway servers[] (TLS PASSTHROUGH) and VirtualService tls[] (sniHosts) to \
                 route.serviceDestination (host, port)",
            ),
        },
        Field {
            path: "tls[].route.clusterDestination",
            fate: CLUSTER_DESTINATION,
        },
        Field {
            path: "egressAuthorization",
            fate: NotEnforced(
                "the unified Gateway's egress authorization is not translated yet: no \
                 AuthorizationPolicy is generated for it",
            ),
        },
        Field {
            path: "waf",
            fate: WAF,
        },
        Field {
            path: "wasmPlugins",
            fate: WASM_EXTENSION,
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated Gateway and \
                 VirtualServices",
            ),
        },
    ],
};
