//! `gateway.tsb.tetrate.io/v2` rate limiting messages (`RateLimiting`, `RateLimitSettings`,
//! `ExternalRateLimitServiceSettings`, `StringMatch`), shared by TrafficSetting's
//! `rateLimiting` and the gateways' servers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::spec::auth::ClientTlsSettings;

/// `RateLimiting`: exactly one of `settings` (TSB's rate limit server), `local` (buckets in
/// each proxy) and `externalService` (the user's own server).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimiting {
    /// Limits evaluated by TSB-managed rate limiting (oneof `ratelimit_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<RateLimitSettings>,
    /// An external rate limit server (oneof `ratelimit_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_service: Option<ExternalRateLimitServiceSettings>,
    /// Token buckets kept by each proxy (newer TSB; oneof `ratelimit_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalRateLimitSettings>,
}

/// `LocalRateLimitSettings` (newer TSB): rules with their own token buckets, per replica.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LocalRateLimitSettings {
    /// The rules, each independent of the others (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<LocalRateLimitRule>,
    /// Distinct values kept for wildcard dimensions (default 20, least recently used dropped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_wildcard_dimensions: Option<u32>,
}

/// `LocalRateLimitSettings.RateLimitRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LocalRateLimitRule {
    /// Conditions that must all match (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<RateLimitDimension>,
    /// The rule's bucket (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_bucket: Option<TokenBucket>,
}

/// `TokenBucket`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TokenBucket {
    /// Capacity, and the tokens it starts with (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Tokens added each interval (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_fill: Option<u32>,
    /// How often tokens are added, e.g. `60s` (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill_interval: Option<String>,
}

/// `RateLimitSettings`: independent rules, each a list of dimensions and a limit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// The rules (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RateLimitRule>,
    /// Fail requests when the rate limit service is unavailable (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<bool>,
    /// Timeout of the rate limit server call (default 20ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `RateLimitSettings.RateLimitRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitRule {
    /// Conditions that must all match for a request to count (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<RateLimitDimension>,
    /// The limit (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<RateLimitValue>,
}

/// `RateLimitSettings.RateLimitDimension`: one of `remoteAddress` and `header`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitDimension {
    /// The client's remote address (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<RemoteAddress>,
    /// A request header, `:path` and `:method` included (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderDimension>,
}

/// `RateLimitDimension.RemoteAddress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RemoteAddress {
    /// A specific address, or `*` for every address on its own (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `RateLimitDimension.Header`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderDimension {
    /// The header name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A value to match; without it every value counts on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<StringMatch>,
    /// Count requests whose header does not match instead (newer TSB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dont_match: Option<bool>,
}

/// `RateLimitSettings.RateLimitValue`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitValue {
    /// Requests allowed per unit (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_unit: Option<u32>,
    /// The unit of time (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<RateLimitUnit>,
}

/// `RateLimitValue.Unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateLimitUnit {
    /// Not set (invalid).
    Unknown,
    /// Per second.
    Second,
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
}

impl RateLimitUnit {
    /// The unit in seconds; `None` for `UNKNOWN`.
    pub fn seconds(self) -> Option<u32> {
        match self {
            Self::Unknown => None,
            Self::Second => Some(1),
            Self::Minute => Some(60),
            Self::Hour => Some(3_600),
            Self::Day => Some(86_400),
        }
    }
}

/// `StringMatch`: exactly one of `exact`, `prefix`, `regex` (case-sensitive).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StringMatch {
    /// Exact match (oneof `match_type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix match (oneof `match_type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// ECMAScript regex match (oneof `match_type`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `ExternalRateLimitServiceSettings`: Envoy's rate limit filter calling the user's server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalRateLimitServiceSettings {
    /// The rate limit domain sent to the server (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Fail requests when the server is unavailable (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<bool>,
    /// Where the server is reached, e.g. `grpc://ratelimit.ext.svc.cluster.local:8081`
    /// (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_server_uri: Option<String>,
    /// Descriptor rules (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ExternalRateLimitRule>,
    /// Timeout of the server call (default 20ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// TLS towards the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// `ExternalRateLimitServiceSettings.RateLimitRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalRateLimitRule {
    /// Descriptor entries, in order (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<ExternalRateLimitDimension>,
}

/// `ExternalRateLimitServiceSettings.RateLimitDimension`: exactly one of its fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalRateLimitDimension {
    /// Emit the source Envoy cluster (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cluster: Option<Empty>,
    /// Emit the destination Envoy cluster (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_cluster: Option<Empty>,
    /// Emit the client's remote address (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<Empty>,
    /// Emit a request header's value (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<RequestHeaders>,
    /// Emit a value when headers match (oneof `dimension_specifier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_value_match: Option<HeaderValueMatch>,
}

/// A message without fields (`SourceCluster`, `DestinationCluster`, `RemoteAddress` of an
/// external rule).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `RateLimitDimension.RequestHeaders`: `(descriptorKey, <header value>)`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RequestHeaders {
    /// The header read (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// The descriptor key (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_key: Option<String>,
}

/// `RateLimitDimension.HeaderValueMatch`: `("header_match", descriptorValue)`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderValueMatch {
    /// Headers that must all match (REQUIRED, at least one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// The descriptor value (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_value: Option<String>,
    /// Emit the entry when the headers do not match instead (newer TSB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dont_match: Option<bool>,
}
