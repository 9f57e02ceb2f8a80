//! Gateway kinds: IngressGateway, EgressGateway, Tier1Gateway and the unified Gateway (§1.2).
//!
//! Server lists are large, versioned TSB structures; they are carried as JSON values and
//! inspected only where a rule needs them (V7 mix check, L3 references).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::spec::common::{ConfigGenerationMetadata, WorkloadSelector};

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
    pub http: Vec<Value>,
    /// TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<Value>,
    /// TLS passthrough servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_passthrough: Vec<Value>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Value>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<Value>,
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
    pub authorization: Vec<Value>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Value>,
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
    pub external_servers: Vec<Value>,
    /// Internal servers for cross-cluster forwarding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub internal_servers: Vec<Value>,
    /// TLS passthrough servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passthrough_servers: Vec<Value>,
    /// External TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_external_servers: Vec<Value>,
    /// Mesh-internal TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_internal_servers: Vec<Value>,
    /// Wasm extensions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Value>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<Value>,
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
    pub http: Vec<Value>,
    /// TCP servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp: Vec<Value>,
    /// TLS (SNI) servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls: Vec<Value>,
    /// Egress authorization.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub egress_authorization: Vec<Value>,
    /// WAF rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<Value>,
    /// Wasm plugin attachments.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wasm_plugins: Vec<Value>,
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

impl UnifiedGatewaySpec {
    /// Every route destination with its field path, in document order.
    pub fn route_targets(&self) -> Vec<(String, RouteTarget)> {
        let mut found = Vec::new();
        let mut visit = |path: String, route: Option<&Value>| {
            let Some(route) = route else { return };
            if route.get("clusterDestination").is_some() {
                found.push((format!("{path}.clusterDestination"), RouteTarget::Clusters));
            }
            if route.get("serviceDestination").is_some() {
                found.push((format!("{path}.serviceDestination"), RouteTarget::Services));
            }
        };
        for (i, server) in self.http.iter().enumerate() {
            let rules = server
                .pointer("/routing/rules")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for (j, rule) in rules.iter().enumerate() {
                visit(
                    format!("spec.http[{i}].routing.rules[{j}].route"),
                    rule.get("route"),
                );
            }
        }
        for (field, servers) in [("tcp", &self.tcp), ("tls", &self.tls)] {
            for (i, server) in servers.iter().enumerate() {
                visit(format!("spec.{field}[{i}].route"), server.get("route"));
            }
        }
        found
    }
}
