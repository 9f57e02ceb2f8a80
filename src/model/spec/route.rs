//! ServiceRoute (§1.2): subsets, ports and routes of one service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::spec::common::{ConfigGenerationMetadata, Extra};

/// `subsets[]` of a ServiceRoute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Subset {
    /// Subset name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Endpoint labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Traffic weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Fields tsbridge does not type (e.g. subset `portLevelSettings`).
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `portLevelSettings[]` of a ServiceRoute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct PortLevelSetting {
    /// Port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// Protocol, e.g. `HTTP` (kept as a string: TSB documents no closed list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_type: Option<String>,
    /// Fields tsbridge does not type (e.g. `stickySession`).
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
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
    /// Port/protocol combinations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_level_settings: Vec<PortLevelSetting>,
    /// HTTP routes (not typed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_routes: Vec<Value>,
    /// TCP routes (not typed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tcp_routes: Vec<Value>,
    /// Sticky sessions (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky_session: Option<Value>,
    /// Argo Rollouts integration (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argo_rollout: Option<Value>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}
