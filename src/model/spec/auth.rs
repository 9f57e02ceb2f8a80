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

    /// Every JWT rule with its spec path, the message being at `path` (`<path>.jwt`,
    /// `<path>.rules.jwt[i]`), for diagnostics.
    pub fn jwt_rules_at(&self, path: &str) -> Vec<(String, &Jwt)> {
        self.jwt
            .iter()
            .map(|jwt| (format!("{path}.jwt"), jwt))
            .chain(
                self.rules
                    .iter()
                    .flat_map(|r| r.jwt.iter().enumerate())
                    .map(|(i, jwt)| (format!("{path}.rules.jwt[{i}]"), jwt)),
            )
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

/// The protocol an external authorization server speaks, from its uri's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzProtocol {
    /// `http://` or `https://`: Envoy's HTTP ext_authz (Istio `envoyExtAuthzHttp`).
    Http,
    /// `grpc://`: Envoy's gRPC ext_authz (Istio `envoyExtAuthzGrpc`).
    Grpc,
}

/// An external authorization server's address, parsed from `ExternalAuthzBackend.uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzEndpoint {
    /// Protocol.
    pub protocol: AuthzProtocol,
    /// `https://`: the server expects TLS.
    pub tls: bool,
    /// Host name (a Kubernetes service FQDN in the mesh, or an external host).
    pub host: String,
    /// Port (explicit, else 80 for `http://` and 443 for `https://`).
    pub port: u16,
    /// Path prefix for an HTTP server (`""` when none).
    pub path: String,
}

impl AuthzEndpoint {
    /// The Istio extension provider name tsbridge refers to this server by: `tsbridge-ext-authz-`
    /// then the scheme, host, port and path, lowercased, every other character than `a-z`,
    /// `0-9` turned into `-`. Derived from the address alone, so every setting that names the
    /// same server shares one provider and the name is stable across renders.
    pub fn provider_name(&self) -> String {
        let scheme = match (self.protocol, self.tls) {
            (AuthzProtocol::Grpc, _) => "grpc",
            (AuthzProtocol::Http, false) => "http",
            (AuthzProtocol::Http, true) => "https",
        };
        let raw = format!("{scheme}-{}-{}{}", self.host, self.port, self.path);
        let mut slug = String::from("tsbridge-ext-authz-");
        for c in raw.to_ascii_lowercase().chars() {
            let c = if c.is_ascii_alphanumeric() { c } else { '-' };
            if !(c == '-' && slug.ends_with('-')) {
                slug.push(c);
            }
        }
        slug.trim_end_matches('-').to_string()
    }
}

impl ExternalAuthzBackend {
    /// `uri` as `grpc://host:port`, `http://host[:port][/path]` or `https://host[:port][/path]`;
    /// `Err` says what is wrong with it.
    pub fn endpoint(&self) -> Result<AuthzEndpoint, String> {
        let uri = self.uri.as_deref().unwrap_or("");
        let (protocol, tls, rest) = if let Some(rest) = uri.strip_prefix("grpc://") {
            (AuthzProtocol::Grpc, false, rest)
        } else if let Some(rest) = uri.strip_prefix("http://") {
            (AuthzProtocol::Http, false, rest)
        } else if let Some(rest) = uri.strip_prefix("https://") {
            (AuthzProtocol::Http, true, rest)
        } else {
            return Err(format!(
                "{uri:?} does not start with grpc://, http:// or https://"
            ));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if protocol == AuthzProtocol::Grpc && !path.trim_end_matches('/').is_empty() {
            return Err(format!("{uri:?}: a gRPC server address has no path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{uri:?}: port {port:?} is not 1-65535"))?;
                (host, port)
            }
            None => match (protocol, tls) {
                (AuthzProtocol::Grpc, _) => {
                    return Err(format!("{uri:?}: a gRPC server address needs a port"));
                }
                (AuthzProtocol::Http, false) => (authority, 80),
                (AuthzProtocol::Http, true) => (authority, 443),
            },
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !valid_host {
            return Err(format!("{uri:?}: {host:?} is not a host name"));
        }
        Ok(AuthzEndpoint {
            protocol,
            tls,
            host: host.to_string(),
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }
}
