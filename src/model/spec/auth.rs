//! The auth messages of TSB (`tetrateio.api.tsb.auth.v2`): end-user authentication (JWT) and
//! HTTP request authorization (an external server, or local rules on JWT claims), shared by
//! SecuritySetting, ServiceSecuritySetting and the gateways' servers. Typed field by field as
//! the reference defines them; unknown fields are refused (V8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `Authentication`: one JWT, or rules listing several (only one of them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpAuthentication {
    /// Authenticate a request from the JWT attached to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Jwt>,
    /// Several JWT rules: a token present must satisfy one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<JwtRules>,
}

impl HttpAuthentication {
    /// Every JWT rule, from either form.
    pub fn jwt_rules(&self) -> Vec<&Jwt> {
        self.jwt
            .iter()
            .chain(self.rules.iter().flat_map(|r| &r.jwt))
            .collect()
    }
}

/// `Authentication.Rules`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct JwtRules {
    /// The rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<Jwt>,
}

/// `Authentication.JWT`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Jwt {
    /// The token's `iss` (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Accepted `aud` values (empty: the service name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// URL of the issuer's key set (only one of `jwksUri` and `jwks`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The key set inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Header the verified payload is forwarded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_payload_to_header: Option<String>,
    /// Claims copied to headers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// Where the token is taken from (default: `Authorization: Bearer`, then `access_token`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
}

/// `JWT.ClaimToHeader`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClaimToHeader {
    /// Header to create (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Claim to copy (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// `JWT.JWTHeader`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct JwtHeader {
    /// Header name (REQUIRED).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Prefix stripped before decoding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `Authorization`: an external authorization server, or local rules (oneof `authz`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Authorization {
    /// Ask the server at `uri` for every request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAuthzBackend>,
    /// Decide in Envoy from the JWT claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalAuthz>,
}

/// `Authorization.ExternalAuthzBackend`: an HTTP or gRPC authorization server.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ExternalAuthzBackend {
    /// `grpc://`, `http://` or `https://` address of the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Request headers sent to an HTTP server (not for gRPC).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub include_request_headers: Vec<String>,
    /// TLS towards the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSettings>,
}

/// `Authorization.LocalAuthz`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LocalAuthz {
    /// The bindings; a request must match one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<LocalAuthzRule>,
}

/// `LocalAuthzRule`: who (`from`) may do what (`to`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LocalAuthzRule {
    /// Friendly name (REQUIRED, min length 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Subjects allowed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<Subject>,
    /// HTTP operations they may perform.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<HttpOperation>,
}

/// `LocalAuthzRule.HttpOperation`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpOperation {
    /// Request paths (each min length 1).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    /// Methods, each one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

/// `Subject`: fields are ANDed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Subject {
    /// JWT claims the request's token must carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtClaims>,
}

/// `Subject.JWTClaims`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct JwtClaims {
    /// `iss` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `sub` claim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Other claims (keys min length 1).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, String>,
}

/// `ClientTLSSettings`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ClientTlsSettings {
    /// DISABLED, SIMPLE or MUTUAL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<TlsMode>,
    /// Keys and certificates from files (only one of `files` and `secretName`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<TlsFileSource>,
    /// Keys and certificates from a Kubernetes Secret (gateway workloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Names accepted as the server's identity.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// `TLSFileSource`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TlsFileSource {
    /// Client certificate (MUTUAL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Its private key (MUTUAL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// CA bundle verifying the server (SIMPLE and MUTUAL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_certificates: Option<String>,
}

/// `TLSMode` of a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TlsMode {
    /// Plain text.
    Disabled,
    /// Only the server is authenticated.
    Simple,
    /// Both peers present certificates.
    Mutual,
}
