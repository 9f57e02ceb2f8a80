//! The servers of the gateway kinds: IngressGateway's (`HttpServer`, `TCPServer`,
//! `TLSPassthroughServer`), the unified Gateway's (`HTTP`, `TCP`, `TLS`), Tier1Gateway's, and
//! EgressGateway's `EgressAuthorization`.

use serde::{Deserialize, Serialize};

use crate::model::spec::auth::{Authorization, ClientTlsSettings, HttpAuthentication};
use crate::model::spec::gateway::common::{
    ClusterDestination, CorsPolicy, HttpMatchCondition, HttpModifyAction, RateLimiting, Redirect,
    ServerTlsSettings,
};
use crate::model::spec::security::AuthorizationSettings;

/// IngressGateway `HttpServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpServer {
    /// Server name, unique in the gateway (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname clients use (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// TLS termination; absent: plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// End-user (JWT) authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<HttpAuthentication>,
    /// Request authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Routing rules (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<HttpRouting>,
    /// Rate limits of this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimiting>,
}

/// IngressGateway `HttpRouting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRouting {
    /// CORS for every route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Routes (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRule>,
}

/// IngressGateway `HttpRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRule {
    /// Conditions, OR-ed.
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<HttpMatchCondition>,
    /// Rewrites and header changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify: Option<HttpModifyAction>,
    /// Forward to a service (only one of `route` and `redirect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// Redirect the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
}

/// IngressGateway `Route`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Route {
    /// `<namespace>/<fqdn>` of the destination (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Destination port (omit only for a single-port service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
}

/// IngressGateway `TCPServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TcpServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname; the SNI when TLS is set (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// TLS termination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
}

/// IngressGateway `TLSPassthroughServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsPassthroughServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// SNI hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Destination (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
}

/// Unified Gateway `HTTP` server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GatewayHttpServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (≤ 65535, not 15443; not with `transit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname clients use (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// TLS termination (not with `transit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// End-user (JWT) authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<HttpAuthentication>,
    /// Request authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Routing rules (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<HttpRoutingConfig>,
    /// Rate limits of this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimiting>,
    /// Exposed inside the mesh for cross-cluster forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit: Option<bool>,
}

/// Unified Gateway `HttpRoutingConfig`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRoutingConfig {
    /// CORS for every route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_policy: Option<CorsPolicy>,
    /// Routes (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<HttpRouteRule>,
}

/// Unified Gateway `HttpRouteRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRouteRule {
    /// Conditions, OR-ed.
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<HttpMatchCondition>,
    /// Rewrites and header changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify: Option<HttpModifyAction>,
    /// Forward (only one of `route` and `redirect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTo>,
    /// Redirect the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    /// Skip the server's external authorization on this route.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_external_authorization: Option<bool>,
}

/// Unified Gateway `RouteTo`: clusters or a service (only one of them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RouteTo {
    /// Other clusters' gateways (Tier1 style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_destination: Option<RouteToClusters>,
    /// A service (ingress style).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_destination: Option<RouteToService>,
}

/// Unified Gateway `RouteToClusters`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RouteToClusters {
    /// Clusters whose gateways expose the hostname.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
}

/// Unified Gateway `RouteToService`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RouteToService {
    /// `<namespace>/<fqdn>` (REQUIRED, pattern `^[^/]+/[^/]+$`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Destination port (≤ 65535, not 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// TLS from the gateway to an external service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// Unified Gateway `TCP` server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GatewayTcpServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (≤ 65535, not 15443; not with `transit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname; the SNI when TLS is set (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// TLS termination (not with `transit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Destination (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTo>,
    /// Exposed inside the mesh for cross-cluster forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit: Option<bool>,
}

/// Unified Gateway `TLS` (passthrough) server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GatewayTlsServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, ≤ 65535, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// SNI hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Destination (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteTo>,
}

/// `Tier1ExternalServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1ExternalServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// TLS termination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Clusters forwarded to (not with `redirect`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
    /// HTTP redirect (not with `clusters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<Redirect>,
    /// End-user (JWT) authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<HttpAuthentication>,
    /// Request authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Rate limits of this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limiting: Option<RateLimiting>,
}

/// `Tier1InternalServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1InternalServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Hostname sidecars use (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Clusters forwarded to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
    /// End-user (JWT) authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<HttpAuthentication>,
    /// Request authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
}

/// `Tier1PassthroughServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1PassthroughServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// SNI hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Clusters forwarded to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
}

/// `Tier1TCPExternalServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1TcpExternalServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port (REQUIRED, not 0 or 15443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Clusters forwarded to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
    /// TLS termination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
}

/// `Tier1TCPInternalServer`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1TcpInternalServer {
    /// Server name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Service hostname (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Clusters forwarded to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<ClusterDestination>,
}

/// EgressGateway `EgressAuthorization`: who may reach which external hosts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EgressAuthorization {
    /// The callers (absent: everybody).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<AuthorizationSettings>,
    /// External hosts they may reach; `*` for any (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}
