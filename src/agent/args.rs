//! `tsbridge agent` flags.

use std::path::PathBuf;
use std::time::Duration;

use crate::runtime::{AdminArgs, KeepaliveArgs, LogArgs};

/// A flag value clap cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// Not a duration.
    #[error(transparent)]
    Duration(#[from] crate::runtime::keepalive::DurationError),
    /// An empty `--server` (say a trailing comma in `TSBRIDGE_SERVER`).
    #[error("an empty management-plane address")]
    EmptyServer,
}

/// Parses `10m`, `30s`, `500ms`, `1h` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, FlagError> {
    Ok(crate::runtime::keepalive::parse_duration(text)?)
}

/// One `--server` address, trimmed (a list in the environment may have spaces after commas).
fn parse_server(text: &str) -> Result<String, FlagError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FlagError::EmptyServer);
    }
    Ok(text.to_string())
}

/// Runs the agent of one cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// This cluster's name, as registered in the management plane.
    #[arg(long, env = "TSBRIDGE_CLUSTER")]
    pub cluster: String,
    /// Management-plane URL (https://host:port, or http:// on loopback with --insecure). Give it
    /// several times (or a comma-separated list) to name each replica: the agent is on one at a
    /// time and moves to the next when its stream cannot be opened or ends.
    #[arg(long, env = "TSBRIDGE_SERVER", required = true, num_args = 1.., value_delimiter = ',', value_parser = parse_server)]
    pub server: Vec<String>,
    /// Kubeconfig of the cluster; in-cluster configuration when absent.
    #[arg(long, env = "TSBRIDGE_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Client certificate for mTLS to the management plane (URI SAN spiffe://…/cluster/NAME).
    #[arg(long, env = "TSBRIDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, env = "TSBRIDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA bundle that signed the management plane's certificate.
    #[arg(long, env = "TSBRIDGE_CA")]
    pub ca: Option<PathBuf>,
    /// Plaintext to a loopback management plane (development and tests only).
    #[arg(long, env = "TSBRIDGE_INSECURE", conflicts_with_all = ["tls_cert", "tls_key", "ca"])]
    pub insecure: bool,
    /// Admin token acting for this cluster on a loopback --insecure management plane.
    #[arg(long, env = "TSBRIDGE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "TSBRIDGE_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Full inventory re-sent this often (0 = off).
    #[arg(long, env = "TSBRIDGE_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// A delete waits this long before it reaches the management plane; a re-create within it
    /// is one update.
    #[arg(long, env = "TSBRIDGE_DELETE_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub delete_grace: Duration,
    /// Hold the prune of a full resync from the management plane that would delete more than
    /// this share (0–1) of the generated objects this cluster holds, until an admin confirms it
    /// (`tsbridge ctl cluster confirm-deletions`); 0 turns the guard off.
    #[arg(long, env = "TSBRIDGE_PRUNE_GUARD_SHARE", default_value_t = 0.5)]
    pub prune_guard_share: f64,
    /// Prunes of fewer objects than this always proceed.
    #[arg(long, env = "TSBRIDGE_PRUNE_GUARD_MIN", default_value_t = 5)]
    pub prune_guard_min: usize,
    /// Namespace of the leader-election Lease.
    #[arg(
        long,
        env = "TSBRIDGE_LEASE_NAMESPACE",
        default_value = "tsbridge-system"
    )]
    pub lease_namespace: String,
    /// Name of the Lease (default: tsbridge-agent-CLUSTER).
    #[arg(long, env = "TSBRIDGE_LEASE_NAME")]
    pub lease_name: Option<String>,
    /// How long a leader holds the Lease without renewing it.
    #[arg(long, env = "TSBRIDGE_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// This replica's identity in the Lease (default: hostname and a random suffix).
    #[arg(long, env = "TSBRIDGE_IDENTITY")]
    pub identity: Option<String>,
    #[command(flatten)]
    pub webhook: crate::agent::webhook::WebhookArgs,
    #[command(flatten)]
    pub keepalive: KeepaliveArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert!(
            parse_duration("5w")
                .unwrap_err()
                .to_string()
                .contains("ms, s, m, h, d")
        );
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        agent: Args,
    }

    fn servers(args: &[&str]) -> Vec<String> {
        use clap::Parser;
        let mut argv = vec!["agent", "--cluster", "eu"];
        argv.extend(args);
        Cli::try_parse_from(argv).expect("parses").agent.server
    }

    #[test]
    fn server_takes_one_address_several_flags_or_a_comma_list() {
        assert_eq!(
            servers(&["--server", "https://mp:9443"]),
            ["https://mp:9443"]
        );
        assert_eq!(
            servers(&["--server", "https://a:9443", "--server", "https://b:9443"]),
            ["https://a:9443", "https://b:9443"]
        );
        assert_eq!(
            servers(&["--server", "https://a:9443, https://b:9443"]),
            ["https://a:9443", "https://b:9443"]
        );
    }
}
