//! The gRPC connection of `tsbridge ctl`: URL, CA, bearer token, optional config file.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::cli::ctl::CtlArgs;
use crate::proto::v1;
use crate::proto::v1::audit_service_client::AuditServiceClient;
use crate::proto::v1::cluster_service_client::ClusterServiceClient;
use crate::proto::v1::config_service_client::ConfigServiceClient;
use crate::proto::v1::ledger_service_client::LedgerServiceClient;
use crate::proto::v1::status_service_client::StatusServiceClient;

/// The optional `--config` file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    token_file: Option<PathBuf>,
    ca: Option<PathBuf>,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Connection {
    server: String,
    token: Option<String>,
    ca: Option<PathBuf>,
}

/// Adds `authorization: Bearer …` to every call.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Bearer {
    /// No token (mTLS callers).
    pub fn none() -> Bearer {
        Bearer(None)
    }

    /// `token` as a bearer credential; an error when it is not valid header text.
    pub fn token(token: &str) -> Result<Bearer, tonic::metadata::errors::InvalidMetadataValue> {
        format!("Bearer {token}").parse().map(|v| Bearer(Some(v)))
    }
}

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// Clients of every service over one channel.
#[derive(Debug, Clone)]
pub struct Client {
    /// Config service.
    pub config: ConfigServiceClient<Authed>,
    /// Status service.
    pub status: StatusServiceClient<Authed>,
    /// Audit service.
    pub audit: AuditServiceClient<Authed>,
    /// Cluster service.
    pub clusters: ClusterServiceClient<Authed>,
    /// Delivery ledger service.
    pub ledger: LedgerServiceClient<Authed>,
}

impl Connection {
    /// Flags first, then the config file.
    pub fn from_args(args: &CtlArgs) -> anyhow::Result<Connection> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--config {}", path.display()))?;
                serde_saphyr::from_str::<ConfigFile>(&text).with_context(|| {
                    format!(
                        "--config {}: expected server, tokenFile, ca",
                        path.display()
                    )
                })?
            }
            None => ConfigFile::default(),
        };
        let Some(server) = args.server.clone().or(file.server) else {
            bail!(
                "no management plane: give --server URL (or TSBRIDGE_SERVER, or server: in --config)"
            );
        };
        let token = match args.token_file.clone().or(file.token_file) {
            Some(path) => Some(read_token(&path)?),
            None => None,
        };
        Ok(Connection {
            server,
            token,
            ca: args.ca.clone().or(file.ca),
        })
    }

    /// Dials the server.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        Client::connect(&self.server, self.token.as_deref(), self.ca.as_deref()).await
    }
}

impl Client {
    /// Dials `server` (https with an optional CA bundle, or plain http), sending `token`.
    pub async fn connect(
        server: &str,
        token: Option<&str>,
        ca: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let mut endpoint = Endpoint::from_shared(server.to_string())
            .with_context(|| format!("--server {server:?} is not a URL"))?
            .connect_timeout(std::time::Duration::from_secs(10));
        if server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = ca {
                let pem = std::fs::read(ca).with_context(|| format!("--ca {}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint.tls_config(tls).context("TLS configuration")?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach the management plane at {server}"))?;
        let bearer = token
            .map(Bearer::token)
            .transpose()
            .context("the token is not valid header text")?
            .unwrap_or_else(Bearer::none);
        Ok(Client::over(channel, bearer))
    }

    /// Dials `server` with the token read from `token_file` (as `ctl --token-file`).
    pub async fn connect_with_token_file(
        server: &str,
        token_file: Option<&Path>,
        ca: Option<&Path>,
    ) -> anyhow::Result<Client> {
        let token = token_file.map(read_token).transpose()?;
        Client::connect(server, token.as_deref(), ca).await
    }

    /// Clients of every service over an established channel.
    pub fn over(channel: Channel, bearer: Bearer) -> Client {
        Client {
            config: ConfigServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            status: StatusServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            audit: AuditServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            clusters: ClusterServiceClient::with_interceptor(channel.clone(), bearer.clone()),
            ledger: LedgerServiceClient::with_interceptor(channel, bearer),
        }
    }
}

fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--token-file {}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        bail!("--token-file {} is empty", path.display());
    }
    Ok(token.to_string())
}

/// A server error as the user reads it: code, message, then one line per diagnostic.
pub fn describe(status: &tonic::Status) -> String {
    let mut text = format!("error ({:?}): {}", status.code(), status.message());
    if let Ok(details) = v1::Diagnostics::decode(status.details()) {
        for d in details.diagnostics {
            text.push_str(&format!(
                "\n  {}[{}] {}: {}: {}; fix: {}",
                d.severity, d.rule, d.object, d.field, d.message, d.fix
            ));
        }
    }
    text
}
