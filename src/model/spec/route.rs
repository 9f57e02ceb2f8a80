//! ServiceRoute (§1.2): subsets, ports and routes of one service, typed as the TSB reference
//! `tetrateio.api.tsb.traffic.v2.ServiceRoute` defines them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::spec::common::ConfigGenerationMetadata;

/// `ServiceRoute.TrafficType`: the kind of route generated for a port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TrafficType {
    /// An HTTP route (the protobuf default).
    #[default]
    Http,
    /// A TCP route.
    Tcp,
    /// A TLS route: TLS passes through to the server, routed on SNI.
    TlsPassthrough,
}

impl TrafficType {
    /// The name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficType::Http => "HTTP",
            TrafficType::Tcp => "TCP",
            TrafficType::TlsPassthrough => "TLS_PASSTHROUGH",
        }
    }
}

/// `tetrateio.api.tsb.gateway.v2.StringMatch`: exactly one of `exact`, `prefix`, `regex`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StringMatch {
    /// Exact string match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix-based match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// RE2 regular expression match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `StickySession.HTTPCookie`: the cookie to hash on (generated when absent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpCookie {
    /// Name of the cookie (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path to set for the cookie (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Lifetime of the cookie, a duration such as `60s` (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// `ServiceRoute.StickySession`: the hash key, exactly one of `header`, `cookie`, `useSourceIp`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StickySession {
    /// Hash on this HTTP header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Hash on this HTTP cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<HttpCookie>,
    /// Hash on the source IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
}

/// `ServiceRoute.PortLevelTrafficSettings`: one port of the service, its protocol and sticky
/// session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortLevelSetting {
    /// Port number (REQUIRED, 1–65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Type of route generated for the port (`HTTP` when omitted, the protobuf default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<TrafficType>,
    /// Sticky session for this port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_session: Option<StickySession>,
}

impl PortLevelSetting {
    /// The traffic type, `HTTP` when omitted (protobuf enum default).
    pub fn traffic_type(&self) -> TrafficType {
        self.traffic_type.unwrap_or_default()
    }
}

/// `ServiceRoute.Subset`: one version of the service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Subset {
    /// Subset name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Endpoint labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Percentage of traffic to this subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Port settings of this subset, overriding the top-level ones where they do not conflict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortLevelSetting>,
}

/// `ServiceDestination`: where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceDestination {
    /// Subset of the destination service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// Share of the route's traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Destination port (REQUIRED, 1–65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Destination host, an FQDN or a short Kubernetes service name (default: the service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_host: Option<String>,
}

/// `HTTPMatchCondition`: what an HTTP route matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpMatchCondition {
    /// Name of the match condition (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Request URI to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Request headers to match, by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Port to match (REQUIRED, 1–65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// `HTTPRoute`: HTTP traffic matched on uri, headers and port, sent to its own destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRoute {
    /// Name of the route (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Match conditions (any of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<HttpMatchCondition>,
    /// Destinations of the matched traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination: Vec<ServiceDestination>,
}

/// `TCPMatchCondition`: what a TCP route matches.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TcpMatchCondition {
    /// Name of the match condition (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port to match (REQUIRED, 1–65535).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// `TCPRoute`: TCP traffic matched on port, sent to its own destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TcpRoute {
    /// Name of the route (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Match conditions (any of them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub r#match: Vec<TcpMatchCondition>,
    /// Destinations of the matched traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destination: Vec<ServiceDestination>,
}

/// `traffic.tsb.tetrate.io/v2` `ServiceRoute`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceRouteSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `<namespace>/<fqdn>` (REQUIRED, pattern `^[^/]+/[^/]+$`, V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Versions and weights (REQUIRED, at least one, V7).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<Subset>,
    /// Sticky session for every port of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_session: Option<StickySession>,
    /// Port/protocol combinations of the service, applied to all subsets.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortLevelSetting>,
    /// HTTP routes matched on uri, headers and port.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_routes: Vec<HttpRoute>,
    /// TCP routes matched on port.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_routes: Vec<TcpRoute>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}
