//! The agent's errors: reaching the management plane, and writing to the cluster.

use std::path::PathBuf;
use std::time::Duration;

/// `Result` with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to the management plane or the cluster's API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `--server` address tonic cannot use.
    #[error("--server {server}: {source}")]
    Address {
        /// The address.
        server: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A file named by a flag (certificate, key, CA, token) could not be read.
    #[error("{flag} {}: {source}", path.display())]
    File {
        /// The flag naming it.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings do not fit the address.
    #[error("TLS to {server}: {source}")]
    Tls {
        /// The address.
        server: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A certificate named by a flag is outside its validity period by this host's clock.
    #[error("{0}")]
    Certificate(String),
    /// The token is not a valid header value.
    #[error("--token-file: the token is not a valid HTTP header value")]
    Token,
    /// No connection to the address.
    #[error("connecting to {server}: {source}")]
    Connect {
        /// The address.
        server: String,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// The management plane answered with a gRPC error.
    #[error("{server} answered {:?}: {}", status.code(), status.message())]
    Status {
        /// The address.
        server: String,
        /// Its answer.
        status: Box<tonic::Status>,
    },
    /// The management plane answered hello with something else than a welcome, or not in time.
    #[error("{server} did not answer hello")]
    NoWelcome {
        /// The address.
        server: String,
    },
    /// The management plane closed the stream.
    #[error("{server} closed the stream")]
    Closed {
        /// The address.
        server: String,
    },
    /// The stream stopped moving: no message (not even a heartbeat) within the bound.
    #[error(
        "{server}: the sync stream stalled (nothing received for {silent:?}; \
         --keepalive-interval and --keepalive-timeout set the bound){}",
        cause.as_ref().map(|c| format!(": {}", c.message())).unwrap_or_default()
    )]
    Stalled {
        /// The address.
        server: String,
        /// How long nothing came.
        silent: Duration,
        /// The error that ended the silent stream (an unanswered PING), if one did.
        cause: Option<Box<tonic::Status>>,
    },
    /// This replica lost the Lease: only the leader talks to the management plane.
    #[error("no longer the leader")]
    NotLeader,
    /// A write to the cluster's API failed.
    #[error("{what}: {source}")]
    Kube {
        /// The object and the write, e.g. `status of Tenant ns/a`.
        what: String,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A write to the cluster's API did not answer in time.
    #[error("{what}: timed out after {after:?}")]
    Timeout {
        /// The object and the write.
        what: String,
        /// How long it was given.
        after: Duration,
    },
}

impl Error {
    /// The stream ended because it stopped moving: heartbeats that did not come, or an HTTP/2
    /// PING that was not answered after them.
    pub fn is_stall(&self) -> bool {
        matches!(self, Error::Stalled { .. })
    }

    /// A gRPC error of the management plane at `server`.
    pub fn status(server: &str, status: tonic::Status) -> Error {
        Error::Status {
            server: server.to_string(),
            status: Box::new(status),
        }
    }
}

/// How long any write to the cluster's API (a status patch, an Event, an apply) may take before
/// it counts as failed and is retried: a stuck apiserver connection must not stall a writer.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one write to the cluster's API under [`WRITE_TIMEOUT`]; `what` names the object.
pub async fn kube_write<T>(
    what: impl FnOnce() -> String,
    write: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(Error::Kube {
            what: what(),
            source,
        }),
        Err(_) => Err(Error::Timeout {
            what: what(),
            after: WRITE_TIMEOUT,
        }),
    }
}

/// The API said the object does not exist (kube's own reading of reason and code).
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.is_not_found())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_that_hangs_times_out_and_names_the_object() {
        let error = kube_write(
            || "status of Tenant ns/a".to_string(),
            std::future::pending::<Result<(), kube::Error>>(),
        )
        .await
        .expect_err("it never answers");
        assert!(matches!(error, Error::Timeout { .. }));
        assert_eq!(
            error.to_string(),
            format!("status of Tenant ns/a: timed out after {WRITE_TIMEOUT:?}")
        );
    }

    #[test]
    fn not_found_is_judged_by_reason_or_code() {
        let gone = kube::Error::Api(
            kube::core::Status::failure("tenants \"a\" not found", "NotFound")
                .with_code(404)
                .boxed(),
        );
        assert!(is_not_found(&gone));
        let conflict = kube::Error::Api(
            kube::core::Status::failure("conflict", "Conflict")
                .with_code(409)
                .boxed(),
        );
        assert!(!is_not_found(&conflict));
    }
}
