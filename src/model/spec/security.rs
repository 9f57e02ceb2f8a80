//! Security kinds: SecuritySetting and ServiceSecuritySetting (§1.2, §4.3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::spec::auth::{
    Authorization, ClaimToHeader, HttpAuthentication, Jwt, JwtHeader, JwtRules,
};
use crate::model::spec::common::{ConfigGenerationMetadata, Extra};

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

/// `authenticationSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthenticationSettings {
    /// mTLS mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic_mode: Option<AuthenticationMode>,
    /// End-user (JWT) authentication of HTTP requests (`tetrateio.api.tsb.auth.v2.Authentication`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpAuthentication>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `from` / `to` of an authorization rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleTarget {
    /// FQN of a workspace, group or security domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// One `rules.allow[]` / `rules.deny[]` entry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationRule {
    /// Source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<RuleTarget>,
    /// Destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<RuleTarget>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `authorization.rules`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationRules {
    /// Allowed pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<AuthorizationRule>,
    /// Denied pairs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<AuthorizationRule>,
    /// Fields tsbridge does not type (e.g. `denyAll`).
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// `authorization`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationSettings {
    /// Mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<AuthorizationMode>,
    /// `<namespace>/<service-account>` entries for `CUSTOM`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<String>,
    /// Rules for `RULES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<AuthorizationRules>,
    /// HTTP request authorization (external server or local JWT rules).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Authorization>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
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
    /// Wasm extensions (not typed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Value>,
    /// WAF rules (not typed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waf: Option<Value>,
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
#[serde(rename_all = "camelCase", default)]
pub struct SubsetSecuritySetting {
    /// Subset name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Settings replacing the service-wide ones for this subset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<SecuritySettingSpec>,
    /// Fields tsbridge does not type.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
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
