//! The catalogue's entries: one [`Message`] per TSB API message, and where each is mounted.
//! Fates follow the translators in `model::translate` (read them before changing one).
//!
//! A message whose fields fare differently depending on where it sits has one constant per
//! place: a `TrafficSetting` is translated as the spec of its own kind, only partly inherited
//! as a `defaultTrafficSetting` (`translate::traffic::overlay`), and only partly read as a
//! ServiceTrafficSetting's `settings`; a `SecuritySetting` likewise
//! (`translate::security::Effective::overlay`).

use super::{Fate, Field, Message, Mount};
use crate::model::Kind;

use Fate::{Model, NotEnforced, Translated};

// Texts shared by several messages.

const DISPLAY: Fate = Model("display only");
const CONTAINER: Fate = Model("container: see its fields");
const DELETION_PROTECTION: Fate =
    Model("V16: the object, and anything above it, cannot be deleted while true");
const PROFILES: Fate = NotEnforced("profiles are not implemented: nothing reads them");
const SECURITY_DOMAIN: Fate = NotEnforced(
    "security domains are not implemented: authorization rules cannot select by security domain",
);
const ANCESTOR_METADATA: Fate = Translated(
    "metadata.labels and metadata.annotations of the Istio objects generated from the BRIDGED \
     config below it (direct-mode objects keep only their own)",
);
const GROUP_SELECTOR: Fate = Model("selects the group's namespaces within its workspace");
const CONFIG_MODE: Fate = Model(
    "BRIDGED: its TSB config is translated; DIRECT: its Istio objects are passed through (V14)",
);
const SETTINGS_METADATA: Fate = NotEnforced(
    "only the object's own spec.configGenerationMetadata and metadata labels and annotations \
     reach generated objects; this nested one is not read",
);
const WASM_EXTENSION: Fate = NotEnforced(
    "Wasm extensions are not translated yet (WasmExtension is a later kind): no WasmPlugin is \
     generated",
);
const WAF: Fate = NotEnforced("WAF rules are not translated yet: requests are not filtered");
const JWT: Fate = NotEnforced(
    "JWT authentication is translated only from a group's own SecuritySetting (a \
     RequestAuthentication in the group's namespaces); set here it is not applied (defaults are \
     not inherited for it, and a service's setting needs the service's workloads, which the \
     agent does not report yet): requests are not authenticated by it",
);
const EXTERNAL_AUTHZ: Fate = NotEnforced(
    "external authorization is not translated yet (an AuthorizationPolicy CUSTOM action needs a \
     mesh extension provider): requests are not checked by it",
);
const KEEP_ALIVE: Fate = NotEnforced(
    "keep-alive is not translated yet (DestinationRule connectionPool tcp.tcpKeepalive)",
);
const RATE_LIMITING: Fate = NotEnforced(
    "rate limiting is not translated yet (needs a rate limit service or an EnvoyFilter): \
     requests are not limited",
);
const UPSTREAM: Fate = NotEnforced("per-upstream traffic settings are not translated yet");
const INBOUND: Fate = NotEnforced(
    "the newer inbound settings are not translated yet; use reachability, resilience and egress",
);
const OUTBOUND: Fate = NotEnforced(
    "the newer outbound settings are not translated yet; use reachability, resilience and egress",
);
const GATEWAY_NAMESPACE: Fate = Translated(
    "metadata.namespace of the generated Istio Gateway, VirtualServices (and, for an \
     EgressGateway, AuthorizationPolicy)",
);
const GATEWAY_LABELS: Fate = Translated(
    "Istio Gateway selector (and, for an EgressGateway, AuthorizationPolicy \
     selector.matchLabels)",
);

const TENANT: Message = Message {
    name: "Tenant",
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
            path: "deletionProtectionEnabled",
            fate: DELETION_PROTECTION,
        },
        Field {
            path: "profiles",
            fate: PROFILES,
        },
        Field {
            path: "securityDomain",
            fate: SECURITY_DOMAIN,
        },
        Field {
            path: "configGenerationMetadata",
            fate: ANCESTOR_METADATA,
        },
    ],
};

const ORGANIZATION_SETTING: Message = Message {
    name: "OrganizationSetting",
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
            path: "defaultTrafficSetting",
            fate: CONTAINER,
        },
        Field {
            path: "defaultSecuritySetting",
            fate: CONTAINER,
        },
        Field {
            path: "failoverSettings",
            fate: NotEnforced(
                "locality failover is not translated yet (needs DestinationRule \
                 localityLbSetting and multicluster wiring)",
            ),
        },
        Field {
            path: "networkSettings",
            fate: NotEnforced(
                "network reachability between clusters is not translated yet (multicluster \
                 wiring)",
            ),
        },
        Field {
            path: "regionalFailover",
            fate: NotEnforced(
                "the deprecated regional failover is not translated (multicluster wiring)",
            ),
        },
    ],
};

const TENANT_SETTING: Message = Message {
    name: "TenantSetting",
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
            path: "defaultTrafficSetting",
            fate: CONTAINER,
        },
        Field {
            path: "defaultSecuritySetting",
            fate: CONTAINER,
        },
    ],
};

const WORKSPACE: Message = Message {
    name: "Workspace",
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
            path: "namespaceSelector",
            fate: Model("selects the workspace's namespaces, exclusively (V11)"),
        },
        Field {
            path: "privileged",
            fate: NotEnforced(
                "gateway routes are not checked against workspaces: every gateway may route to \
                 any service, privileged or not",
            ),
        },
        Field {
            path: "isolationBoundary",
            fate: NotEnforced(
                "isolation boundaries (per-boundary Istio revisions) are not implemented",
            ),
        },
        Field {
            path: "securityDomain",
            fate: SECURITY_DOMAIN,
        },
        Field {
            path: "deletionProtectionEnabled",
            fate: DELETION_PROTECTION,
        },
        Field {
            path: "profiles",
            fate: PROFILES,
        },
        Field {
            path: "configGenerationMetadata",
            fate: ANCESTOR_METADATA,
        },
    ],
};

const WORKSPACE_SETTING: Message = Message {
    name: "WorkspaceSetting",
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
            path: "defaultTrafficSetting",
            fate: CONTAINER,
        },
        Field {
            path: "defaultSecuritySetting",
            fate: CONTAINER,
        },
        Field {
            path: "defaultEastWestGatewaySettings",
            fate: NotEnforced(
                "east-west gateways are not translated yet (multicluster wiring): no service is \
                 exposed to other clusters",
            ),
        },
        Field {
            path: "failoverSettings",
            fate: NotEnforced(
                "failover is not translated yet (needs DestinationRule localityLbSetting and \
                 multicluster wiring)",
            ),
        },
        Field {
            path: "regionalFailover",
            fate: NotEnforced(
                "the deprecated regional failover is not translated (multicluster wiring)",
            ),
        },
        Field {
            path: "hostsReachability",
            fate: NotEnforced(
                "hostsReachability is not translated yet: Sidecars come only from TrafficSetting \
                 reachability",
            ),
        },
    ],
};

/// The traffic and gateway `Group`s (same fields).
const GROUP: Message = Message {
    name: "Group",
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
            path: "namespaceSelector",
            fate: GROUP_SELECTOR,
        },
        Field {
            path: "configMode",
            fate: CONFIG_MODE,
        },
        Field {
            path: "deletionProtectionEnabled",
            fate: DELETION_PROTECTION,
        },
        Field {
            path: "profiles",
            fate: PROFILES,
        },
        Field {
            path: "configGenerationMetadata",
            fate: ANCESTOR_METADATA,
        },
    ],
};

const SECURITY_GROUP: Message = Message {
    name: "security Group",
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
            path: "namespaceSelector",
            fate: GROUP_SELECTOR,
        },
        Field {
            path: "configMode",
            fate: CONFIG_MODE,
        },
        Field {
            path: "deletionProtectionEnabled",
            fate: DELETION_PROTECTION,
        },
        Field {
            path: "profiles",
            fate: PROFILES,
        },
        Field {
            path: "securityDomain",
            fate: SECURITY_DOMAIN,
        },
        Field {
            path: "configGenerationMetadata",
            fate: ANCESTOR_METADATA,
        },
    ],
};

const ISTIO_INTERNAL_GROUP: Message = Message {
    name: "istiointernal Group",
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
            path: "namespaceSelector",
            fate: GROUP_SELECTOR,
        },
        Field {
            path: "deletionProtectionEnabled",
            fate: DELETION_PROTECTION,
        },
        Field {
            path: "configGenerationMetadata",
            fate: NotEnforced(
                "its objects are always direct-mode, and direct-mode objects keep only their own \
                 labels and annotations",
            ),
        },
    ],
};

/// `TrafficSetting` as the spec of its own kind: every namespace of the group.
const TRAFFIC_SETTING: Message = Message {
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
const DEFAULT_TRAFFIC_SETTING: Message = Message {
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
const SERVICE_TRAFFIC_SETTINGS: Message = Message {
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

const SERVICE_ROUTE: Message = Message {
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

const SERVICE_TRAFFIC_SETTING: Message = Message {
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

/// `SecuritySetting` as the spec of its own kind: every namespace of the group.
const SECURITY_SETTING: Message = Message {
    name: "SecuritySetting",
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
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: Translated(
                "PeerAuthentication mtls.mode (REQUIRED: STRICT, OPTIONAL: PERMISSIVE)",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: Translated(
                "RequestAuthentication jwtRules (issuer, audiences, jwksUri or jwks, fromHeaders, \
                 outputPayloadToHeader, outputClaimToHeaders) in every namespace of the group; a \
                 request without a token is not rejected by it, as TSB documents (authorization \
                 decides)",
            ),
        },
        Field {
            path: "authentication",
            fate: Translated(
                "PeerAuthentication mtls.mode (deprecated; authenticationSettings.trafficMode \
                 wins)",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[].from.source (namespaces or principals)",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[].from.source.principals / namespaces (CUSTOM \
                 mode)",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: Translated(
                "ALLOW AuthorizationPolicy rules[] for allow[], DENY AuthorizationPolicy for \
                 deny[] (RULES mode): from/to fqn → the namespaces of that workspace, group, \
                 tenant or organization here (security domains select nothing)",
            ),
        },
        Field {
            path: "authorization.http",
            fate: EXTERNAL_AUTHZ,
        },
        Field {
            path: "propagationStrategy",
            fate: Model(
                "STRICTER: ServiceSecuritySettings below that are looser are reported DIRTY \
                 (V15); in Istio a service setting can only narrow the group's policies anyway",
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
                "metadata.labels and metadata.annotations of the generated PeerAuthentication \
                 and AuthorizationPolicies",
            ),
        },
    ],
};

/// `SecuritySetting` as `defaultSecuritySetting` of the organization, tenant and workspace
/// settings: overlaid under the group's SecuritySetting and ServiceSecuritySettings
/// (`translate::security::effective`).
const DEFAULT_SECURITY_SETTING: Message = Message {
    name: "SecuritySetting (defaultSecuritySetting)",
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
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: Translated(
                "inherited by the SecuritySettings below: their PeerAuthentication mtls.mode (a \
                 group without a SecuritySetting gets none)",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: JWT,
        },
        Field {
            path: "authentication",
            fate: Translated(
                "inherited by the SecuritySettings below: their PeerAuthentication mtls.mode \
                 (deprecated; authenticationSettings.trafficMode wins)",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "inherited by the SecuritySettings (ALLOW AuthorizationPolicy) and \
                 ServiceSecuritySettings (DENY AuthorizationPolicy) below that leave it unset",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "inherited with authorization.mode CUSTOM: AuthorizationPolicy source principals \
                 / namespaces below",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: Translated(
                "inherited with authorization.mode RULES: AuthorizationPolicy rules below (from/to \
                 fqn → namespaces here; security domains select nothing)",
            ),
        },
        Field {
            path: "authorization.http",
            fate: EXTERNAL_AUTHZ,
        },
        Field {
            path: "propagationStrategy",
            fate: Model(
                "STRICTER: lower levels may only tighten trafficMode and authorization.mode; \
                 looser ones are raised in translation and reported DIRTY (V15)",
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
            fate: NotEnforced(
                "defaults do not carry labels or annotations: set them on the tenant, \
                 workspace, group or object instead",
            ),
        },
    ],
};

/// `SecuritySetting` as a ServiceSecuritySetting's `settings`: only authorization is
/// translated (`translate::security::service_security_setting`).
const SERVICE_SECURITY_SETTINGS: Message = Message {
    name: "SecuritySetting (ServiceSecuritySetting settings)",
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
            path: "authenticationSettings",
            fate: CONTAINER,
        },
        Field {
            path: "authenticationSettings.trafficMode",
            fate: NotEnforced(
                "a per-service mTLS mode is not translated yet (needs a PeerAuthentication \
                 selecting the service's pods): the group SecuritySetting's namespace-wide mode \
                 applies",
            ),
        },
        Field {
            path: "authenticationSettings.http",
            fate: JWT,
        },
        Field {
            path: "authentication",
            fate: NotEnforced(
                "a per-service mTLS mode is not translated yet (needs a PeerAuthentication \
                 selecting the service's pods): the group SecuritySetting's namespace-wide mode \
                 applies",
            ),
        },
        Field {
            path: "authorization",
            fate: CONTAINER,
        },
        Field {
            path: "authorization.mode",
            fate: Translated(
                "DENY AuthorizationPolicy for the service's hosts, from every caller the mode \
                 does not allow (notNamespaces / notPrincipals)",
            ),
        },
        Field {
            path: "authorization.serviceAccounts",
            fate: Translated(
                "DENY AuthorizationPolicy notPrincipals / notNamespaces (CUSTOM mode)",
            ),
        },
        Field {
            path: "authorization.rules",
            fate: Translated(
                "DENY AuthorizationPolicy rules (RULES mode): all but the allow[] namespaces, \
                 plus the deny[] namespaces (security domains select nothing)",
            ),
        },
        Field {
            path: "authorization.http",
            fate: EXTERNAL_AUTHZ,
        },
        Field {
            path: "propagationStrategy",
            fate: NotEnforced(
                "nothing inherits from a ServiceSecuritySetting (per-subset settings are not \
                 translated), so the strategy constrains nothing",
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
            fate: SETTINGS_METADATA,
        },
    ],
};

const SERVICE_SECURITY_SETTING: Message = Message {
    name: "ServiceSecuritySetting",
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
                "AuthorizationPolicy namespace <namespace> and rules[].to.operation.hosts (the \
                 FQDN and its short forms)",
            ),
        },
        Field {
            path: "settings",
            fate: CONTAINER,
        },
        Field {
            path: "subsets",
            fate: NotEnforced(
                "per-subset security settings are not translated yet (they need policies \
                 selecting the subset's pods): the service-wide settings apply to every subset",
            ),
        },
        Field {
            path: "configGenerationMetadata",
            fate: Translated(
                "metadata.labels and metadata.annotations of the generated AuthorizationPolicy",
            ),
        },
    ],
};

/// Tier1 servers: only the listener is generated, nothing is forwarded.
/// Egress through a gateway: the Sidecar's `egressProxy` that carries it is ignored by Istio.
const EGRESS_PROXY: Fate = NotEnforced(
    "egress through a gateway is not enforced: the generated Sidecar's \
     outboundTrafficPolicy.egressProxy is ignored by current Istio (istioctl analyze: IST0002), \
     so traffic leaves the mesh directly; only the gateway host is added to the Sidecar's \
     egress hosts",
);

/// Per-server authentication on a gateway: no RequestAuthentication is generated for it.
const GATEWAY_AUTHENTICATION: Fate = NotEnforced(
    "per-server authentication is not translated yet (no RequestAuthentication is generated on \
     the gateway workload); requests through this server are not authenticated by it",
);
/// Per-server authorization on a gateway.
const GATEWAY_AUTHORIZATION: Fate = NotEnforced(
    "per-server authorization is not translated yet (no AuthorizationPolicy is generated on the \
     gateway workload); this server admits every request",
);
/// Rate limits on a gateway server.
const GATEWAY_RATE_LIMITING: Fate =
    NotEnforced("gateway rate limiting is not translated yet (Istio needs an EnvoyFilter for it)");
/// CORS on a gateway route.
const GATEWAY_CORS: Fate =
    NotEnforced("CORS is not translated yet (VirtualService http[].corsPolicy is not generated)");
/// Header and path changes on a gateway route.
const GATEWAY_MODIFY: Fate = NotEnforced(
    "rewrites and header changes are not translated yet (VirtualService http[].rewrite and \
     headers are not generated)",
);
/// Redirects on a gateway route.
const GATEWAY_REDIRECT: Fate = NotEnforced(
    "redirects are not translated yet (VirtualService http[].redirect is not generated); the \
     rule routes instead",
);
/// Fixed responses on a gateway route.
const GATEWAY_DIRECT_RESPONSE: Fate = NotEnforced(
    "direct responses are not translated yet (VirtualService http[].directResponse is not \
     generated)",
);
/// Routes to other clusters from a unified gateway.
const CLUSTER_DESTINATION: Fate = NotEnforced(
    "routes to other clusters are not translated (they need the other clusters' gateway \
     addresses and multicluster wiring); the listener forwards nothing for them",
);

const TIER1_SERVERS: Fate = NotEnforced(
    "routes to other clusters are not translated yet (they need the clusters' gateway \
     addresses): only an Istio Gateway listener (port, hostname, tls) is generated, and it \
     forwards nothing",
);

/// What translation ignores inside an HTTP server of the ingress and unified gateways (their
/// server lists are free-form; each kind's `http` entry says what is translated).
const HTTP_SERVER: Message = Message {
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

const INGRESS_GATEWAY: Message = Message {
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

const EGRESS_GATEWAY: Message = Message {
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

const TIER1_GATEWAY: Message = Message {
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

const UNIFIED_GATEWAY: Message = Message {
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

/// Every message, where it sits in each kind's spec.
pub const MOUNTS: &[Mount] = &[
    Mount {
        kind: Kind::Tenant,
        at: "",
        message: &TENANT,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "",
        message: &ORGANIZATION_SETTING,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "defaultTrafficSetting",
        message: &DEFAULT_TRAFFIC_SETTING,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "defaultSecuritySetting",
        message: &DEFAULT_SECURITY_SETTING,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "",
        message: &TENANT_SETTING,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "defaultTrafficSetting",
        message: &DEFAULT_TRAFFIC_SETTING,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "defaultSecuritySetting",
        message: &DEFAULT_SECURITY_SETTING,
    },
    Mount {
        kind: Kind::Workspace,
        at: "",
        message: &WORKSPACE,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "",
        message: &WORKSPACE_SETTING,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "defaultTrafficSetting",
        message: &DEFAULT_TRAFFIC_SETTING,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "defaultSecuritySetting",
        message: &DEFAULT_SECURITY_SETTING,
    },
    Mount {
        kind: Kind::TrafficGroup,
        at: "",
        message: &GROUP,
    },
    Mount {
        kind: Kind::SecurityGroup,
        at: "",
        message: &SECURITY_GROUP,
    },
    Mount {
        kind: Kind::GatewayGroup,
        at: "",
        message: &GROUP,
    },
    Mount {
        kind: Kind::IstioInternalGroup,
        at: "",
        message: &ISTIO_INTERNAL_GROUP,
    },
    Mount {
        kind: Kind::TrafficSetting,
        at: "",
        message: &TRAFFIC_SETTING,
    },
    Mount {
        kind: Kind::ServiceRoute,
        at: "",
        message: &SERVICE_ROUTE,
    },
    Mount {
        kind: Kind::ServiceTrafficSetting,
        at: "",
        message: &SERVICE_TRAFFIC_SETTING,
    },
    Mount {
        kind: Kind::ServiceTrafficSetting,
        at: "settings",
        message: &SERVICE_TRAFFIC_SETTINGS,
    },
    Mount {
        kind: Kind::SecuritySetting,
        at: "",
        message: &SECURITY_SETTING,
    },
    Mount {
        kind: Kind::ServiceSecuritySetting,
        at: "",
        message: &SERVICE_SECURITY_SETTING,
    },
    Mount {
        kind: Kind::ServiceSecuritySetting,
        at: "settings",
        message: &SERVICE_SECURITY_SETTINGS,
    },
    Mount {
        kind: Kind::IngressGateway,
        at: "",
        message: &INGRESS_GATEWAY,
    },
    Mount {
        kind: Kind::IngressGateway,
        at: "http",
        message: &HTTP_SERVER,
    },
    Mount {
        kind: Kind::EgressGateway,
        at: "",
        message: &EGRESS_GATEWAY,
    },
    Mount {
        kind: Kind::Tier1Gateway,
        at: "",
        message: &TIER1_GATEWAY,
    },
    Mount {
        kind: Kind::UnifiedGateway,
        at: "",
        message: &UNIFIED_GATEWAY,
    },
    Mount {
        kind: Kind::UnifiedGateway,
        at: "http",
        message: &HTTP_SERVER,
    },
];
