//! The gateway common messages (`tetrateio.api.tsb.gateway.v2`, "Gateway Common Configuration
//! Messages"): server TLS, HTTP matching and modification, redirects, CORS, cluster
//! destinations and rate limiting, typed field by field as the reference defines them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::spec::auth::ClientTlsSettings;

/// `ServerTLSSettings`: how a gateway server terminates TLS.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServerTlsSettings {
    /// DISABLED, SIMPLE (one-way) or MUTUAL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<ServerTlsMode>,
    /// Kubernetes Secret with the key, certificate and CA certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Files on the gateway workload (only one of `secretName` and `files`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<ServerTlsFileSource>,
    /// Lowest TLS version accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_protocol_version: Option<TlsProtocol>,
    /// Highest TLS version accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_protocol_version: Option<TlsProtocol>,
    /// Cipher suites offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cipher_suites: Vec<String>,
    /// SANs accepted in client certificates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// `ServerTLSSettings.TLSMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServerTlsMode {
    /// No TLS: plain text.
    Disabled,
    /// The gateway presents a certificate.
    Simple,
    /// Clients present certificates too.
    Mutual,
}

/// `ServerTLSSettings.FileSource`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServerTlsFileSource {
    /// Path of the server certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_certificate: Option<String>,
    /// Path of its private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Path of the CA certificates verifying clients (MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// `TLSProtocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum TlsProtocol {
    /// Envoy's default.
    #[serde(rename = "TLS_AUTO")]
    TlsAuto,
    /// TLS 1.0.
    #[serde(rename = "TLSV1_0")]
    Tlsv1_0,
    /// TLS 1.1.
    #[serde(rename = "TLSV1_1")]
    Tlsv1_1,
    /// TLS 1.2.
    #[serde(rename = "TLSV1_2")]
    Tlsv1_2,
    /// TLS 1.3.
    #[serde(rename = "TLSV1_3")]
    Tlsv1_3,
}

impl TlsProtocol {
    /// The same version as Istio spells it.
    pub fn istio(self) -> &'static str {
        match self {
            TlsProtocol::TlsAuto => "TLS_AUTO",
            TlsProtocol::Tlsv1_0 => "TLSV1_0",
            TlsProtocol::Tlsv1_1 => "TLSV1_1",
            TlsProtocol::Tlsv1_2 => "TLSV1_2",
            TlsProtocol::Tlsv1_3 => "TLSV1_3",
        }
    }
}

/// `StringMatch`: one of `exact`, `prefix` and `regex` (case-sensitive).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StringMatch {
    /// Exact match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// ECMAScript regex match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl StringMatch {
    /// How many of the oneof's members are set (valid: exactly one).
    pub fn set_count(&self) -> usize {
        [&self.exact, &self.prefix, &self.regex]
            .iter()
            .filter(|v| v.is_some())
            .count()
    }
}

/// `HttpMatchCondition`: all of its fields must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpMatchCondition {
    /// URI to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<StringMatch>,
    /// Headers to match (lowercase, hyphenated keys).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

/// `HttpModifyAction`: rewrites and header changes before forwarding.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpModifyAction {
    /// Rewrite the host, the URI or both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<HttpRewrite>,
    /// Header changes on the request and the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// `HTTPRewrite`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpRewrite {
    /// New path, or new prefix when the URI matched by prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// New Authority/Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
}

/// `Headers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Headers {
    /// Changes before forwarding the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes before returning the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// `Headers.HeaderOperations`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderOperations {
    /// Overwrite these headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Append to these headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Remove these headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

impl HeaderOperations {
    /// True when no operation is set.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// `Redirect`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Redirect {
    /// New path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// New authority/host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Status code, 3XX (default 301).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_code: Option<u32>,
    /// New port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u32>,
    /// New scheme: `http` or `https`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

/// `CorsPolicy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CorsPolicy {
    /// Origins allowed (`*`: all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Methods allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers browsers may read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a preflight result may be cached (duration, e.g. `24h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Whether credentials may be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
}

/// `ClusterDestination`: a cluster (by name or labels) that receives forwarded traffic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClusterDestination {
    /// Cluster name (only one of `name` and `labels`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cluster labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network of the clusters (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Traffic weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// `RateLimiting`: internal settings or an external server (only one of them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimiting {
    /// Limits enforced by Envoy and TSB's rate limit server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub settings: Option<RateLimitSettings>,
    /// The user's own rate limit server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_service: Option<ExternalRateLimitServiceSettings>,
}

/// `RateLimitSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Independent rules (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RateLimitRule>,
    /// Refuse requests when the rate limit server is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<bool>,
    /// Rate limit server RPC timeout (default 20ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// `RateLimitSettings.RateLimitRule`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitRule {
    /// Conditions, all of which must match (REQUIRED, at least one).
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
    /// The client's remote address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<RemoteAddressDimension>,
    /// A request header (`:path` and `:method` included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderDimension>,
}

/// `RateLimitDimension.RemoteAddress`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RemoteAddressDimension {
    /// An address, or `*` for every address (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `RateLimitDimension.Header`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderDimension {
    /// Header name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Value to match; absent: every distinct value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<StringMatch>,
}

/// `RateLimitSettings.RateLimitValue`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RateLimitValue {
    /// Requests allowed per unit (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_unit: Option<u32>,
    /// The unit (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<RateLimitUnit>,
}

/// `RateLimitValue.Unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateLimitUnit {
    /// Not set.
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

/// `ExternalRateLimitServiceSettings`: Envoy's rate limit filter calling the user's server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalRateLimitServiceSettings {
    /// Rate limit domain (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Refuse requests when the server is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<bool>,
    /// Address of the server (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_server_uri: Option<String>,
    /// Descriptor rules (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<ExternalRateLimitRule>,
    /// RPC timeout (default 20ms).
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

/// `ExternalRateLimitServiceSettings.RateLimitDimension`: one descriptor source.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalRateLimitDimension {
    /// The source Envoy cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_cluster: Option<EmptyDimension>,
    /// The destination Envoy cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_cluster: Option<EmptyDimension>,
    /// The client's remote address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address: Option<EmptyDimension>,
    /// A request header's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<RequestHeadersDimension>,
    /// Whether request headers match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_value_match: Option<HeaderValueMatchDimension>,
}

/// The field-less dimensions (`SourceCluster`, `DestinationCluster`, `RemoteAddress`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmptyDimension {}

/// `RateLimitDimension.RequestHeaders`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RequestHeadersDimension {
    /// Header read (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_name: Option<String>,
    /// Descriptor key (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_key: Option<String>,
}

/// `RateLimitDimension.HeaderValueMatch`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HeaderValueMatchDimension {
    /// Headers that must match (REQUIRED, at least one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
    /// Descriptor value (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor_value: Option<String>,
}

/// `tetrateio.api.tsb.types.v2.WasmExtensionAttachment`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WasmExtensionAttachment {
    /// FQN of the extension (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
    /// Configuration passed as-is to the extension (free-form `Struct`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Traffic passed to the extension (any of them).
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<TrafficSelector>,
}

/// `tetrateio.api.tsb.types.v2.TrafficSelector`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficSelector {
    /// CLIENT, SERVER or CLIENT_AND_SERVER.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<WorkloadMode>,
    /// Destination ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSelector>,
}

/// `tetrateio.api.tsb.types.v2.WorkloadMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkloadMode {
    /// Outbound traffic.
    Client,
    /// Inbound traffic.
    Server,
    /// Both.
    ClientAndServer,
}

/// `tetrateio.api.tsb.types.v2.PortSelector`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PortSelector {
    /// Port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
}

/// `tetrateio.api.tsb.security.v2.WAFSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WafSettings {
    /// Seclang rules, evaluated top to bottom (REQUIRED, at least one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}
