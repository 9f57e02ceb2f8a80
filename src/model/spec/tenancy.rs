//! Tenancy kinds: Tenant, the settings objects, Workspace and the four Group kinds (§1.2).
//!
//! Top-level specs deny unknown fields: tsbridge's CRDs are generated from these types, so a
//! field they do not declare is unknown to the apiserver too (V8), and `tsbridge validate`
//! must agree with it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::spec::common::{
    ConfigGenerationMetadata, ConfigMode, Extra, NamespaceSelectorSpec, WorkloadSelector,
};
use crate::model::spec::security::SecuritySettingSpec;
use crate::model::spec::traffic::TrafficSettingSpec;

/// `tsb.tetrate.io/v2` `Tenant`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TenantSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Profile FQNs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Security domain FQN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Metadata for generated objects (gRPC style; metadata labels/annotations are the GitOps way).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `tsb.tetrate.io/v2` `OrganizationSetting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct OrganizationSettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Organization-wide traffic defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_traffic_setting: Option<TrafficSettingSpec>,
    /// Organization-wide security defaults (may be `STRICTER`, §4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_security_setting: Option<SecuritySettingSpec>,
    /// Failover settings (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_settings: Option<Value>,
    /// Network reachability (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_settings: Option<Value>,
    /// Deprecated locality settings (not typed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regional_failover: Vec<Value>,
}

/// `tsb.tetrate.io/v2` `TenantSetting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TenantSettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Tenant-wide traffic defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_traffic_setting: Option<TrafficSettingSpec>,
    /// Tenant-wide security defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_security_setting: Option<SecuritySettingSpec>,
}

/// `tsb.tetrate.io/v2` `Workspace`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WorkspaceSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces the workspace owns exclusively (REQUIRED, V6, V11).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelectorSpec>,
    /// Its gateways may route to other workspaces (a BoolValue, plain bool in JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Istio isolation boundary; "global" when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_boundary: Option<String>,
    /// Security domain FQN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Profile FQNs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// One `defaultEastWestGatewaySettings[]` entry of a WorkspaceSetting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct EastWestGatewaySettings {
    /// The east-west gateway workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<WorkloadSelector>,
    /// Services to expose; all of the workspace when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exposed_services: Vec<ExposedService>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `exposedServices[]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ExposedService {
    /// Service label match.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub service_labels: std::collections::BTreeMap<String, String>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `tsb.tetrate.io/v2` `WorkspaceSetting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WorkspaceSettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Workspace-wide traffic defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_traffic_setting: Option<TrafficSettingSpec>,
    /// Workspace-wide security defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_security_setting: Option<SecuritySettingSpec>,
    /// East-west gateways for failover.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub default_east_west_gateway_settings: Vec<EastWestGatewaySettings>,
    /// `failoverPriority[]`, `topologyChoice`, `regionalFailover` (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_settings: Option<Value>,
    /// Deprecated locality settings (not typed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub regional_failover: Vec<Value>,
    /// Hostnames this workspace can reach (not typed; an explicit empty list means "none").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts_reachability: Option<Value>,
}

/// `traffic.tsb.tetrate.io/v2` `Group`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficGroupSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces, within the workspace (REQUIRED, V6, V10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelectorSpec>,
    /// `BRIDGED` (default) or `DIRECT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_mode: Option<ConfigMode>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Profile FQNs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `security.tsb.tetrate.io/v2` `Group`: the traffic group's fields plus `securityDomain`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SecurityGroupSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces, within the workspace (REQUIRED, V6, V10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelectorSpec>,
    /// `BRIDGED` (default) or `DIRECT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_mode: Option<ConfigMode>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Profile FQNs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Security domain FQN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_domain: Option<String>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `gateway.tsb.tetrate.io/v2` `Group`: same fields as the traffic group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GatewayGroupSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces, within the workspace (REQUIRED, V6, V10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelectorSpec>,
    /// `BRIDGED` (default) or `DIRECT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_mode: Option<ConfigMode>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Profile FQNs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

/// `istiointernal.tsb.tetrate.io/v2` `Group`: always direct, so it has **no** `configMode`
/// (the V8 example) and no `profiles`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct IstioInternalGroupSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Namespaces, within the workspace (REQUIRED, V6, V10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelectorSpec>,
    /// Blocks deletion while true (V16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}
