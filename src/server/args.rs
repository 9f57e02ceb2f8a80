//! `tsbridge server` flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::runtime::{AdminArgs, KeepaliveArgs, LogArgs};
use crate::store::StoreArgs;

/// Flags of `tsbridge server`; each is also an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// gRPC listen address.
    #[arg(long, env = "TSBRIDGE_LISTEN", default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub keepalive: KeepaliveArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub guard: crate::server::guard::GuardArgs,
    /// An organization this management plane manages (repeatable, or comma-separated).
    #[arg(
        long = "organization",
        env = "TSBRIDGE_ORGANIZATION",
        value_delimiter = ',',
        required = true
    )]
    pub organizations: Vec<String>,
    /// Serving certificate (PEM), reloaded when the file changes.
    #[arg(long, env = "TSBRIDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long, env = "TSBRIDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle that signs agents' client certificates (mTLS); without it only tokens work.
    #[arg(long, env = "TSBRIDGE_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// Serve plaintext gRPC; refused unless --listen is a loopback address.
    #[arg(long, env = "TSBRIDGE_INSECURE", conflicts_with_all = ["tls_cert", "tls_key", "client_ca"])]
    pub insecure: bool,
    /// The admin token: read from this file, or generated and written here (mode 0600).
    #[arg(
        long,
        env = "TSBRIDGE_BOOTSTRAP_TOKEN_FILE",
        default_value = "tsbridge-admin.token"
    )]
    pub bootstrap_token_file: PathBuf,
    /// Trust domain of agents' SPIFFE IDs (`spiffe://<domain>/cluster/<name>`).
    #[arg(long, env = "TSBRIDGE_TRUST_DOMAIN", default_value = "tsbridge.local")]
    pub trust_domain: String,
    /// Requests per second each identity (token subject or cluster) may send; 0 = no limit.
    #[arg(long, env = "TSBRIDGE_RATE_LIMIT_PER_IDENTITY", default_value_t = 5000)]
    pub rate_limit_per_identity: u32,
    /// Requests an identity may send at once above its rate; 0 = one second's worth.
    #[arg(long, env = "TSBRIDGE_RATE_LIMIT_BURST", default_value_t = 0)]
    pub rate_limit_burst: u32,
    /// Most objects one cluster may originate through its own writes; 0 = no limit.
    #[arg(
        long,
        env = "TSBRIDGE_MAX_OBJECTS_PER_CLUSTER",
        default_value_t = 10_000
    )]
    pub max_objects_per_cluster: usize,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    #[command(flatten)]
    pub ui: crate::server::ui::UiArgs,
}

/// The delivery ledger's flags (docs/ledger.md).
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerArgs {
    /// Record what became of each change in each cluster (`ctl history`, `ctl report`).
    #[arg(long = "ledger", env = "TSBRIDGE_LEDGER", default_value_t = true, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Ledger rows acknowledged longer ago are deleted (`30d`, `720h`, …).
    #[arg(long, env = "TSBRIDGE_LEDGER_MAX_AGE", default_value = "30d", value_parser = crate::runtime::keepalive::parse_duration)]
    pub ledger_max_age: std::time::Duration,
    /// The newest rows kept beyond that.
    #[arg(long, env = "TSBRIDGE_LEDGER_MAX_ROWS", default_value_t = 10_000_000)]
    pub ledger_max_rows: u64,
}

impl LedgerArgs {
    /// The distributor's settings.
    pub fn settings(&self) -> crate::server::distribute::LedgerSettings {
        crate::server::distribute::LedgerSettings {
            enabled: self.enabled,
            max_age: self.ledger_max_age,
            max_rows: self.ledger_max_rows,
        }
    }
}
