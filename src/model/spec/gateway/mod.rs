//! Gateway kinds: IngressGateway, EgressGateway, Tier1Gateway and the unified Gateway (§1.2).
//!
//! Every field is typed as the TSB reference defines it: the servers in [`servers`], the
//! gateway common messages in [`common`].

pub mod common;
pub mod servers;

use serde::{Deserialize, Serialize};

use crate::model::spec::common::{ConfigGenerationMetadata, WorkloadSelector};

pub use common::*;
pub use servers::*;

/// `gateway.tsb.tetrate.io/v2` `IngressGateway`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IngressGatewaySpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The gateway workload (REQUIRED, V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// HTTP(S) servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpServer>,
    /// TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<TcpServer>,
    /// TLS passthrough servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_passthrough: Vec<TlsPassthroughServer>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<WasmExtensionAttachment>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<WafSettings>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `gateway.tsb.tetrate.io/v2` `EgressGateway`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EgressGatewaySpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The gateway workload (V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// `{from, to[]}` rules; an empty list denies everything.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization: Vec<EgressAuthorization>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<WasmExtensionAttachment>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `gateway.tsb.tetrate.io/v2` `Tier1Gateway`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tier1GatewaySpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The gateway workload (V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// External HTTP servers routing to clusters.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_servers: Vec<Tier1ExternalServer>,
    /// Internal servers for cross-cluster forwarding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub internal_servers: Vec<Tier1InternalServer>,
    /// TLS passthrough servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passthrough_servers: Vec<Tier1PassthroughServer>,
    /// External TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_external_servers: Vec<Tier1TcpExternalServer>,
    /// Mesh-internal TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_internal_servers: Vec<Tier1TcpInternalServer>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<WasmExtensionAttachment>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<WafSettings>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `gateway.tsb.tetrate.io/v2` `Gateway` (unified gateway).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UnifiedGatewaySpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The gateway workload (V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// HTTP(S) servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<GatewayHttpServer>,
    /// TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<GatewayTcpServer>,
    /// TLS (SNI) servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<GatewayTlsServer>,
    /// Egress authorization (accepted by earlier tsbridge CRDs; not in the TSB reference
    /// page this follows, shaped like EgressGateway's `authorization`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress_authorization: Vec<EgressAuthorization>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<WafSettings>,
    /// Wasm plugin attachments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wasm_plugins: Vec<WasmExtensionAttachment>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// Where a unified-gateway route sends traffic (V7: all servers must agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteTarget {
    /// `route.clusterDestination` (Tier1 style).
    Clusters,
    /// `route.serviceDestination` (ingress style).
    Services,
}

impl RouteTo {
    /// Which kind of destination it names, with the field path suffix.
    fn targets(&self) -> impl Iterator<Item = (&'static str, RouteTarget)> {
        let clusters = self
            .cluster_destination
            .as_ref()
            .map(|_| ("clusterDestination", RouteTarget::Clusters));
        let services = self
            .service_destination
            .as_ref()
            .map(|_| ("serviceDestination", RouteTarget::Services));
        clusters.into_iter().chain(services)
    }
}

impl UnifiedGatewaySpec {
    /// Every route destination with its field path, in document order.
    pub fn route_targets(&self) -> Vec<(String, RouteTarget)> {
        let mut found = Vec::new();
        let mut visit = |path: String, route: Option<&RouteTo>| {
            for (field, target) in route.into_iter().flat_map(RouteTo::targets) {
                found.push((format!("{path}.{field}"), target));
            }
        };
        for (i, server) in self.http.iter().enumerate() {
            let rules = server.routing.iter().flat_map(|r| &r.rules);
            for (j, rule) in rules.enumerate() {
                visit(
                    format!("spec.http[{i}].routing.rules[{j}].route"),
                    rule.route.as_ref(),
                );
            }
        }
        for (i, server) in self.tcp.iter().enumerate() {
            visit(format!("spec.tcp[{i}].route"), server.route.as_ref());
        }
        for (i, server) in self.tls.iter().enumerate() {
            visit(format!("spec.tls[{i}].route"), server.route.as_ref());
        }
        found
    }
}
