//! Gateway kinds: IngressGateway, EgressGateway, Tier1Gateway, the unified Gateway and their shared messages.
//! Fates follow `translate::gateway` (servers, TLS, routes), `translate::gateway::http` (HTTP
//! rules) and `translate::gateway::auth` (per-server authentication and authorization).

use super::*;

const fn f(path: &'static str, fate: Fate) -> Field {
    Field { path, fate }
}

/// Egress through a gateway: the Sidecar's `egressProxy` that carries it is ignored by Istio.
pub(super) const EGRESS_PROXY: Fate = NotEnforced(
    "egress through a gateway is not enforced: the generated Sidecar's \
     outboundTrafficPolicy.egressProxy is ignored by current Istio (istioctl analyze: IST0002), \
     so traffic leaves the mesh directly; only the gateway host is added to the Sidecar's \
     egress hosts",
);

const SERVER_NAME: Fate = Translated(
    "Istio Gateway servers[].port.name (<protocol>-<name>) and the generated VirtualService's \
     name",
);
const SERVER_PORT: Fate = Translated("Istio Gateway servers[].port.number");
const SERVER_HOSTNAME: Fate = Translated(
    "Istio Gateway servers[].hosts and the server's VirtualService hosts (and sniHosts for TLS \
     passthrough); the hosts of its AuthorizationPolicy rules",
);
const RATE_LIMITING: Fate = NotEnforced(
    "gateway rate limiting is not translated: TSB counts `settings` limits in its own rate limit \
     server (one count for all gateway replicas, per unique remote address or header value) and \
     sends `externalService` descriptors to the user's server, both through Envoy's global rate \
     limit filter wired by EnvoyFilters tsbridge does not generate; Envoy's local rate limit \
     would count per replica and cannot keep a bucket per unique value, so it is not used as a \
     stand-in. Requests through this server are not limited",
);
const CLUSTER_DESTINATION: Fate = NotEnforced(
    "routes to other clusters are not translated (they need the other clusters' gateway \
     addresses and multicluster wiring): the rule forwards nothing",
);
const TIER1_CLUSTERS: Fate = NotEnforced(
    "routes to other clusters are not translated (they need the clusters' gateway addresses and \
     multicluster wiring): the listener is generated but forwards nothing",
);
const TRANSIT: Fate = NotEnforced(
    "transit (mesh-internal, cross-cluster) servers are not translated (multicluster \
     forwarding over port 15443): no listener or route is generated for a server with transit: \
     true",
);
const INTERNAL_SERVERS: Fate = NotEnforced(
    "internal (cross-cluster) servers are not translated (multicluster forwarding over port \
     15443): nothing is generated for them",
);
const JWT_AUTHENTICATION: Fate = Translated(
    "RequestAuthentication on the gateway workload (selector.matchLabels = \
     workloadSelector.labels), one per server: jwtRules (issuer, audiences, jwksUri, jwks, \
     outputPayloadToHeader, outputClaimToHeaders, fromHeaders); Istio applies it to every host \
     of the workload",
);
const LOCAL_AUTHZ: Fate = Translated(
    "one ALLOW AuthorizationPolicy on the gateway workload: per rule and subject, \
     from.source.requestPrincipals (<iss>/<sub>), when request.auth.claims[<claim>] for other \
     claims, to.operation hosts (the server's hostname), paths and methods; a last rule allows \
     the hosts of servers without local rules (to.operation.notHosts)",
);
const EXTERNAL_AUTHZ_URI: Fate = Translated(
    "CUSTOM AuthorizationPolicy on the gateway workload for the server's hostname, \
     provider.name = tsbridge-ext-authz-<scheme>-<host>-<port>[-<path>] (as a SecuritySetting's); \
     declare that provider in meshConfig.extensionProviders (warning TSB1107 gives the entry)",
);
const EXTERNAL_AUTHZ_PROVIDER: Fate = NotEnforced(
    "set in the mesh's extensionProviders entry the CUSTOM policy names (headersToUpstream / \
     includeRequestHeadersInCheck, TLS), which the user declares in meshConfig: tsbridge does \
     not write mesh config",
);
const DISABLE_EXTERNAL_AUTHZ: Fate = Translated(
    "notPaths of the server's CUSTOM AuthorizationPolicy (exact /x, prefix /x*) for a rule whose \
     matches are all uri exact or prefix matches that no earlier checked rule can also match; \
     any other such rule (headers, regex, no match, or overlapping an earlier rule) stays \
     checked, since a policy cannot select a VirtualService route",
);
const ROUTE_TLS: Fate = Translated(
    "DestinationRule for the host in the gateway namespace, on the gateway pods only \
     (workloadSelector, exportTo .): trafficPolicy.tls mode (DISABLED → DISABLE, SIMPLE, \
     MUTUAL), secretName → credentialName, files → clientCertificate, privateKey, \
     caCertificates, subjectAltNames; with the subsets of the host's ServiceRoute; the first \
     setting written for a host wins",
);
const MATCH: Fate =
    Translated("VirtualService http[].match[] uri and headers (exact, prefix, regex)");
const REWRITE: Fate = Translated("VirtualService http[].rewrite (uri, authority)");
const HEADERS: Fate =
    Translated("VirtualService http[].headers.request / .response (set, add, remove)");
const REDIRECT: Fate = Translated(
    "VirtualService http[].redirect (uri, authority, port, scheme, redirectCode) instead of a \
     route",
);
const CORS: Fate = Translated(
    "VirtualService http[].corsPolicy on every route of the server: allowOrigins (exact; * as \
     regex .*), allowMethods, allowHeaders, exposeHeaders, maxAge, allowCredentials",
);
const SERVICE_HOST: Fate = Translated(
    "VirtualService route[].destination.host (the FQDN); when a ServiceRoute of that service \
     translates in the cluster, one destination per subset with its weight",
);
const SERVICE_PORT: Fate = Translated("VirtualService route[].destination.port.number");

/// `ServerTLSSettings`, wherever a server has one.
pub(super) const SERVER_TLS: Message = Message {
    name: "ServerTLSSettings",
    fields: &[
        f(
            "mode",
            Translated(
                "Istio Gateway servers[].tls.mode (SIMPLE, MUTUAL) with protocol HTTPS or TLS; \
                 DISABLED, the default, gives a plain HTTP or TCP server",
            ),
        ),
        f(
            "secretName",
            Translated("Istio Gateway servers[].tls.credentialName"),
        ),
        f(
            "files",
            Translated(
                "Istio Gateway servers[].tls.serverCertificate, privateKey and caCertificates",
            ),
        ),
        f(
            "minProtocolVersion",
            Translated("Istio Gateway servers[].tls.minProtocolVersion"),
        ),
        f(
            "maxProtocolVersion",
            Translated("Istio Gateway servers[].tls.maxProtocolVersion"),
        ),
        f(
            "cipherSuites",
            Translated("Istio Gateway servers[].tls.cipherSuites"),
        ),
        f(
            "subjectAltNames",
            Translated("Istio Gateway servers[].tls.subjectAltNames"),
        ),
    ],
};

/// What an HTTP server of the ingress and unified gateways has in common.
pub(super) const HTTP_SERVER: Message = Message {
    name: "HttpServer",
    fields: &[
        f("[].name", SERVER_NAME),
        f("[].port", SERVER_PORT),
        f("[].hostname", SERVER_HOSTNAME),
        f("[].tls", CONTAINER),
        f("[].authentication", JWT_AUTHENTICATION),
        f("[].authorization", CONTAINER),
        f("[].authorization.local", LOCAL_AUTHZ),
        f("[].authorization.external", CONTAINER),
        f("[].authorization.external.uri", EXTERNAL_AUTHZ_URI),
        f(
            "[].authorization.external.includeRequestHeaders",
            EXTERNAL_AUTHZ_PROVIDER,
        ),
        f("[].authorization.external.tls", EXTERNAL_AUTHZ_PROVIDER),
        f("[].rateLimiting", RATE_LIMITING),
        f("[].routing", CONTAINER),
        f("[].routing.corsPolicy", CORS),
        f("[].routing.rules", CONTAINER),
        f("[].routing.rules[].match", MATCH),
        f("[].routing.rules[].modify", CONTAINER),
        f("[].routing.rules[].modify.rewrite", REWRITE),
        f("[].routing.rules[].modify.headers", HEADERS),
        f("[].routing.rules[].redirect", REDIRECT),
        f("[].routing.rules[].route", CONTAINER),
    ],
};

const WORKLOAD_SELECTOR: [Field; 3] = [
    f("workloadSelector", CONTAINER),
    f("workloadSelector.namespace", GATEWAY_NAMESPACE),
    f("workloadSelector.labels", GATEWAY_LABELS),
];

pub(super) const INGRESS_GATEWAY: Message = Message {
    name: "IngressGateway",
    fields: &[
        f("displayName", DISPLAY),
        f("description", DISPLAY),
        WORKLOAD_SELECTOR[0],
        WORKLOAD_SELECTOR[1],
        WORKLOAD_SELECTOR[2],
        f("http", CONTAINER),
        f("http[].routing.rules[].route.host", SERVICE_HOST),
        f("http[].routing.rules[].route.port", SERVICE_PORT),
        f("tcp", CONTAINER),
        f("tcp[].name", SERVER_NAME),
        f("tcp[].port", SERVER_PORT),
        f("tcp[].hostname", SERVER_HOSTNAME),
        f(
            "tcp[].route",
            Translated(
                "VirtualService tcp[] (match port) to route.host and route.port, split over the service's ServiceRoute subsets",
            ),
        ),
        f("tlsPassthrough", CONTAINER),
        f("tlsPassthrough[].name", SERVER_NAME),
        f("tlsPassthrough[].port", SERVER_PORT),
        f("tlsPassthrough[].hostname", SERVER_HOSTNAME),
        f(
            "tlsPassthrough[].route",
            Translated(
                "Istio Gateway servers[] TLS PASSTHROUGH and VirtualService tls[] (port, sniHosts) to route.host and route.port, split over the service's ServiceRoute subsets",
            ),
        ),
        f("extension", WASM_EXTENSION),
        f("waf", WAF),
        f(
            "configGenerationMetadata",
            Translated(
                "metadata.labels and metadata.annotations of the generated Gateway, \
                 VirtualServices and policies",
            ),
        ),
    ],
};

pub(super) const EGRESS_GATEWAY: Message = Message {
    name: "EgressGateway",
    fields: &[
        f("displayName", DISPLAY),
        f("description", DISPLAY),
        WORKLOAD_SELECTOR[0],
        WORKLOAD_SELECTOR[1],
        WORKLOAD_SELECTOR[2],
        f(
            "authorization",
            Translated(
                "ALLOW AuthorizationPolicy on the gateway pods, one rule per entry; no entry \
                 denies everything",
            ),
        ),
        f(
            "authorization[].to",
            Translated(
                "rules[].to.operation.hosts (host and host:*); and per host without a \
                 wildcard, in the gateway namespace (exportTo .): ServiceEntry \
                 (MESH_EXTERNAL, DNS, 443 HTTPS), VirtualService bound to the gateway routing \
                 to it, DestinationRule originating TLS (SIMPLE, sni, system CAs); a wildcard host is \
                 authorized but not forwarded (the gateway cannot resolve it)",
            ),
        ),
        f(
            "authorization[].from",
            Translated(
                "rules[].from.source: mode CLUSTER → principals *, NAMESPACE / GROUP / \
                 WORKSPACE → namespaces, CUSTOM → principals of serviceAccounts; absent: any \
                 caller; other modes drop the entry",
            ),
        ),
        f(
            "authorization[].from.rules",
            NotEnforced(
                "an egress rule's from.rules is not read: use mode and serviceAccounts; the \
                 entry is dropped unless its mode selects callers",
            ),
        ),
        f(
            "authorization[].from.http",
            NotEnforced("an egress rule's from.http is not read: it authorizes nothing here"),
        ),
        f("extension", WASM_EXTENSION),
        f(
            "configGenerationMetadata",
            Translated(
                "metadata.labels and metadata.annotations of the generated Gateway and \
                 AuthorizationPolicy",
            ),
        ),
    ],
};

pub(super) const TIER1_GATEWAY: Message = Message {
    name: "Tier1Gateway",
    fields: &[
        f("displayName", DISPLAY),
        f("description", DISPLAY),
        WORKLOAD_SELECTOR[0],
        WORKLOAD_SELECTOR[1],
        WORKLOAD_SELECTOR[2],
        f("externalServers", CONTAINER),
        f("externalServers[].name", SERVER_NAME),
        f("externalServers[].port", SERVER_PORT),
        f("externalServers[].hostname", SERVER_HOSTNAME),
        f("externalServers[].clusters", TIER1_CLUSTERS),
        f("externalServers[].redirect", REDIRECT),
        f("externalServers[].authentication", JWT_AUTHENTICATION),
        f("externalServers[].authorization", CONTAINER),
        f("externalServers[].authorization.local", LOCAL_AUTHZ),
        f("externalServers[].authorization.external", CONTAINER),
        f(
            "externalServers[].authorization.external.uri",
            EXTERNAL_AUTHZ_URI,
        ),
        f(
            "externalServers[].authorization.external.includeRequestHeaders",
            EXTERNAL_AUTHZ_PROVIDER,
        ),
        f(
            "externalServers[].authorization.external.tls",
            EXTERNAL_AUTHZ_PROVIDER,
        ),
        f("externalServers[].rateLimiting", RATE_LIMITING),
        f("tcpExternalServers", CONTAINER),
        f("tcpExternalServers[].name", SERVER_NAME),
        f("tcpExternalServers[].port", SERVER_PORT),
        f("tcpExternalServers[].hostname", SERVER_HOSTNAME),
        f("tcpExternalServers[].clusters", TIER1_CLUSTERS),
        f("passthroughServers", CONTAINER),
        f("passthroughServers[].name", SERVER_NAME),
        f("passthroughServers[].port", SERVER_PORT),
        f("passthroughServers[].hostname", SERVER_HOSTNAME),
        f("passthroughServers[].clusters", TIER1_CLUSTERS),
        f("internalServers", INTERNAL_SERVERS),
        f("tcpInternalServers", INTERNAL_SERVERS),
        f("extension", WASM_EXTENSION),
        f("waf", WAF),
        f(
            "configGenerationMetadata",
            Translated(
                "metadata.labels and metadata.annotations of the generated Gateway, \
                 VirtualServices and policies",
            ),
        ),
    ],
};

pub(super) const UNIFIED_GATEWAY: Message = Message {
    name: "Gateway",
    fields: &[
        f("displayName", DISPLAY),
        f("description", DISPLAY),
        WORKLOAD_SELECTOR[0],
        WORKLOAD_SELECTOR[1],
        WORKLOAD_SELECTOR[2],
        f("http", CONTAINER),
        f("http[].transit", TRANSIT),
        f("http[].routing.rules[].route.serviceDestination", CONTAINER),
        f(
            "http[].routing.rules[].route.serviceDestination.host",
            SERVICE_HOST,
        ),
        f(
            "http[].routing.rules[].route.serviceDestination.port",
            SERVICE_PORT,
        ),
        f(
            "http[].routing.rules[].route.serviceDestination.tls",
            ROUTE_TLS,
        ),
        f(
            "http[].routing.rules[].route.clusterDestination",
            CLUSTER_DESTINATION,
        ),
        f(
            "http[].routing.rules[].disableExternalAuthorization",
            DISABLE_EXTERNAL_AUTHZ,
        ),
        f("tcp", CONTAINER),
        f("tcp[].name", SERVER_NAME),
        f("tcp[].port", SERVER_PORT),
        f("tcp[].hostname", SERVER_HOSTNAME),
        f("tcp[].transit", TRANSIT),
        f("tcp[].route", CONTAINER),
        f(
            "tcp[].route.serviceDestination",
            Translated(
                "VirtualService tcp[] (match port) to serviceDestination host and port, split over the service's ServiceRoute subsets",
            ),
        ),
        f("tcp[].route.serviceDestination.tls", ROUTE_TLS),
        f("tcp[].route.clusterDestination", CLUSTER_DESTINATION),
        f("tls", CONTAINER),
        f("tls[].name", SERVER_NAME),
        f("tls[].port", SERVER_PORT),
        f("tls[].hostname", SERVER_HOSTNAME),
        f("tls[].route", CONTAINER),
        f(
            "tls[].route.serviceDestination",
            Translated(
                "Istio Gateway servers[] TLS PASSTHROUGH and VirtualService tls[] (port, sniHosts) to serviceDestination host and port, split over the service's ServiceRoute subsets",
            ),
        ),
        f("tls[].route.serviceDestination.tls", ROUTE_TLS),
        f("tls[].route.clusterDestination", CLUSTER_DESTINATION),
        f(
            "egressAuthorization",
            NotEnforced(
                "the unified Gateway's egress authorization (not on the TSB reference page \
                 this follows) is not translated: no AuthorizationPolicy is generated for it",
            ),
        ),
        f("waf", WAF),
        f("wasmPlugins", WASM_EXTENSION),
        f(
            "configGenerationMetadata",
            Translated(
                "metadata.labels and metadata.annotations of the generated Gateway, \
                 VirtualServices and policies",
            ),
        ),
    ],
};
