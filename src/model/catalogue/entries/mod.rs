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

mod gateway;
mod security;
mod traffic;

use gateway::*;
use security::*;
use traffic::*;

// Texts shared by several messages.

pub(super) const DISPLAY: Fate = Model("display only");
pub(super) const CONTAINER: Fate = Model("container: see its fields");
pub(super) const DELETION_PROTECTION: Fate =
    Model("V16: the object, and anything above it, cannot be deleted while true");
pub(super) const PROFILES: Fate = NotEnforced("profiles are not implemented: nothing reads them");
pub(super) const SECURITY_DOMAIN: Fate = NotEnforced(
    "security domains are not implemented: authorization rules cannot select by security domain",
);
pub(super) const ANCESTOR_METADATA: Fate = Translated(
    "metadata.labels and metadata.annotations of the Istio objects generated from the BRIDGED \
     config below it (direct-mode objects keep only their own)",
);
pub(super) const GROUP_SELECTOR: Fate =
    Model("selects the group's namespaces within its workspace");
pub(super) const CONFIG_MODE: Fate = Model(
    "BRIDGED: its TSB config is translated; DIRECT: its Istio objects are passed through (V14)",
);
pub(super) const SETTINGS_METADATA: Fate = NotEnforced(
    "only the object's own spec.configGenerationMetadata and metadata labels and annotations \
     reach generated objects; this nested one is not read",
);
pub(super) const WASM_EXTENSION: Fate = NotEnforced(
    "Wasm extensions are not translated yet (WasmExtension is a later kind): no WasmPlugin is \
     generated",
);
pub(super) const WAF: Fate =
    NotEnforced("WAF rules are not translated yet: requests are not filtered");
pub(super) const GATEWAY_NAMESPACE: Fate = Translated(
    "metadata.namespace of the generated Istio Gateway, VirtualServices (and, for an \
     EgressGateway, AuthorizationPolicy)",
);
pub(super) const GATEWAY_LABELS: Fate = Translated(
    "Istio Gateway selector (and, for an EgressGateway, AuthorizationPolicy \
     selector.matchLabels)",
);

pub(super) const TENANT: Message = Message {
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

pub(super) const ORGANIZATION_SETTING: Message = Message {
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

pub(super) const TENANT_SETTING: Message = Message {
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

pub(super) const WORKSPACE: Message = Message {
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

pub(super) const WORKSPACE_SETTING: Message = Message {
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
pub(super) const GROUP: Message = Message {
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

pub(super) const SECURITY_GROUP: Message = Message {
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

pub(super) const ISTIO_INTERNAL_GROUP: Message = Message {
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
        at: "defaultTrafficSetting.rateLimiting",
        message: &RATE_LIMITING,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "defaultTrafficSetting.inbound",
        message: &INBOUND,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "defaultTrafficSetting.outbound",
        message: &OUTBOUND,
    },
    Mount {
        kind: Kind::OrganizationSetting,
        at: "defaultTrafficSetting.inbound.rateLimiting",
        message: &RATE_LIMITING,
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
        at: "defaultTrafficSetting.rateLimiting",
        message: &RATE_LIMITING,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "defaultTrafficSetting.inbound",
        message: &INBOUND,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "defaultTrafficSetting.outbound",
        message: &OUTBOUND,
    },
    Mount {
        kind: Kind::TenantSetting,
        at: "defaultTrafficSetting.inbound.rateLimiting",
        message: &RATE_LIMITING,
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
        at: "defaultTrafficSetting.rateLimiting",
        message: &RATE_LIMITING,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "defaultTrafficSetting.inbound",
        message: &INBOUND,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "defaultTrafficSetting.outbound",
        message: &OUTBOUND,
    },
    Mount {
        kind: Kind::WorkspaceSetting,
        at: "defaultTrafficSetting.inbound.rateLimiting",
        message: &RATE_LIMITING,
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
        kind: Kind::TrafficSetting,
        at: "rateLimiting",
        message: &RATE_LIMITING,
    },
    Mount {
        kind: Kind::TrafficSetting,
        at: "inbound",
        message: &INBOUND,
    },
    Mount {
        kind: Kind::TrafficSetting,
        at: "outbound",
        message: &OUTBOUND,
    },
    Mount {
        kind: Kind::TrafficSetting,
        at: "inbound.rateLimiting",
        message: &RATE_LIMITING,
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
        kind: Kind::ServiceTrafficSetting,
        at: "settings.rateLimiting",
        message: &RATE_LIMITING,
    },
    Mount {
        kind: Kind::ServiceTrafficSetting,
        at: "settings.inbound.rateLimiting",
        message: &RATE_LIMITING,
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
        kind: Kind::ServiceSecuritySetting,
        at: "subsets[].settings",
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
        kind: Kind::IngressGateway,
        at: "http[].tls",
        message: &SERVER_TLS,
    },
    Mount {
        kind: Kind::IngressGateway,
        at: "tcp[].tls",
        message: &SERVER_TLS,
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
        kind: Kind::Tier1Gateway,
        at: "externalServers[].tls",
        message: &SERVER_TLS,
    },
    Mount {
        kind: Kind::Tier1Gateway,
        at: "tcpExternalServers[].tls",
        message: &SERVER_TLS,
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
    Mount {
        kind: Kind::UnifiedGateway,
        at: "http[].tls",
        message: &SERVER_TLS,
    },
    Mount {
        kind: Kind::UnifiedGateway,
        at: "tcp[].tls",
        message: &SERVER_TLS,
    },
];
