//! Security kinds: SecuritySetting and ServiceSecuritySetting (§1.2, §4.3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::spec::auth::{
    Authorization, ClaimToHeader, HttpAuthentication, Jwt, JwtHeader, JwtRules,
};
use crate::model::spec::common::ConfigGenerationMetadata;

/// `propagationStrategy` (§4.3).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropagationStrategy {
    /// A lower level replaces a higher one (the default).
    #[default]
    Replace,
    /// The parent is enforced; children may only tighten.
    Stricter,
}

/// Authentication traffic mode, loosest first (declaration order is the §4.3 order, so
/// `Ord` compares strictness).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthenticationMode {
    /// Inherit.
    Unset,
    /// mTLS and plaintext.
    Optional,
    /// mTLS only.
    Required,
}

/// Authorization mode, loosest first (declaration order is the §4.3 order).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthorizationMode {
    /// Inherit.
    Unset,
    /// No authorization.
    Disabled,
    /// Same cluster.
    Cluster,
    /// Same workspace.
    Workspace,
    /// Same namespace.
    Namespace,
    /// Same group.
    Group,
    /// Explicit `rules`.
    Rules,
    /// Explicit `serviceAccounts`.
    Custom,
}

/// `AuthenticationSettings`: workload-to-workload (mTLS) and end-user (JWT) authentication.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthenticationSettings {
    /// Whether mTLS only, or plaintext as well, is accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_mode: Option<AuthenticationMode>,
    /// End-user (JWT) authentication of HTTP requests (`tetrateio.api.tsb.auth.v2.Authentication`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAuthentication>,
}

/// `Rule.From` / `Rule.To`: the resource whose workloads send or receive the request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RuleTarget {
    /// FQN of a tenant, workspace or security group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
}

/// `Rule`: requests from the workloads of one resource to those of another.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthorizationRule {
    /// Source of the request (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<RuleTarget>,
    /// Destination of the request (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<RuleTarget>,
}

/// `AuthorizationRules`: denyAll, then deny, then allow (no allow rule: everything allowed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthorizationRules {
    /// Requests matching one of these are accepted; with none listed, every request is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<AuthorizationRule>,
    /// True: every request is rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_all: Option<bool>,
    /// Requests matching one of these are rejected.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<AuthorizationRule>,
}

/// `AuthorizationSettings`: who may call the workloads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AuthorizationSettings {
    /// Shortcut for the set of allowed callers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthorizationMode>,
    /// `<namespace>/<service-account>` entries (`./*`, `ns/*`, `ns/sa`) for `CUSTOM`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// HTTP request authorization (external server or local JWT rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Authorization>,
    /// Allowed and denied resource pairs for `RULES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<AuthorizationRules>,
}

/// `WAFSettings`: ModSecurity/Coraza SecLang rules.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WafSettings {
    /// Rules, evaluated top to bottom (REQUIRED, at least one, each non-empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

/// `WorkloadMode`: the traffic direction a Wasm extension sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Inbound and outbound (the default).
    ClientAndServer,
    /// Outbound.
    Client,
    /// Inbound.
    Server,
}

/// `PortSelector`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortSelector {
    /// Port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
}

/// `TrafficSelector`: which traffic passes through a Wasm extension.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficSelector {
    /// Direction (default `CLIENT_AND_SERVER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<WorkloadMode>,
    /// Destination ports (none: any port).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSelector>,
}

/// `WasmExtensionAttachment`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WasmExtensionAttachment {
    /// FQN of the extension (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
    /// Configuration passed as-is to the extension (`google.protobuf.Struct`, free-form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Traffic sent through the extension (any selector matching).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<TrafficSelector>,
}

/// `security.tsb.tetrate.io/v2` `SecuritySetting`; also the shape of `defaultSecuritySetting`
/// and of ServiceSecuritySetting `settings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SecuritySettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// mTLS and end-user authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_settings: Option<AuthenticationSettings>,
    /// Deprecated predecessor of `authenticationSettings.trafficMode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthenticationMode>,
    /// Who may call the workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationSettings>,
    /// `REPLACE` (default) or `STRICTER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_strategy: Option<PropagationStrategy>,
    /// Wasm extensions attached to the workloads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<WasmExtensionAttachment>,
    /// WAF rules (alpha in TSB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<WafSettings>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}

impl SecuritySettingSpec {
    /// The effective traffic mode: `authenticationSettings.trafficMode`, else the deprecated
    /// `authentication`.
    pub fn traffic_mode(&self) -> Option<AuthenticationMode> {
        self.authentication_settings
            .as_ref()
            .and_then(|a| a.traffic_mode)
            .or(self.authentication)
    }

    /// The authorization mode, if set.
    pub fn authorization_mode(&self) -> Option<AuthorizationMode> {
        self.authorization.as_ref().and_then(|a| a.mode)
    }

    /// True when the setting says `STRICTER`.
    pub fn is_stricter(&self) -> bool {
        self.propagation_strategy == Some(PropagationStrategy::Stricter)
    }
}

/// `subsets[]` of a ServiceSecuritySetting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SubsetSecuritySetting {
    /// Name of a subset of the service's ServiceRoute (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Settings replacing the service-wide ones for this subset (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SecuritySettingSpec>,
}

/// `security.tsb.tetrate.io/v2` `ServiceSecuritySetting`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceSecuritySettingSpec {
    /// User-friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `<namespace>/<fqdn>` (REQUIRED, V7).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Service-wide settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SecuritySettingSpec>,
    /// Per-subset settings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subsets: Vec<SubsetSecuritySetting>,
    /// Metadata for generated objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_generation_metadata: Option<ConfigGenerationMetadata>,
}
