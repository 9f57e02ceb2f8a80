//! Management-plane errors and their one mapping to gRPC statuses.

use prost::Message;

use crate::model::{Diagnostic, GrpcCode};
use crate::proto::v1;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object violates a rule (L1 or L2); each diagnostic names object, field and fix.
    #[error("{}", summary(.0))]
    Rejected(Vec<Diagnostic>),
    /// The object could not even be read (bad kind, parent, name or spec).
    #[error("{}", summary(.0))]
    Invalid(Vec<Diagnostic>),
    /// A malformed request field.
    #[error("{0}")]
    BadRequest(String),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Optimistic concurrency: the object changed since the client read it.
    #[error(
        "{fqn}: etag {expected} is stale (current: {actual:?}); get the object again and retry"
    )]
    StaleEtag {
        /// The object.
        fqn: String,
        /// What the client sent.
        expected: String,
        /// What is stored ("" when the object does not exist).
        actual: String,
    },
    /// The object came from GitOps and is read-only through the API.
    #[error(
        "{fqn} is managed by GitOps ({origin}); change it in Git, or pass force to override \
         (the forced write is audited and shows as drift)"
    )]
    GitOpsOwned {
        /// The object.
        fqn: String,
        /// Its origin, as JSON.
        origin: String,
    },
    /// No or bad credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A cluster identity the store does not know; the agent's readiness names the fix.
    #[error("cluster {0} is not registered; an admin can run `tsbridge ctl cluster create {0}`")]
    NotRegistered(String),
    /// A named limit was hit.
    #[error("{0}")]
    LimitExceeded(String),
    /// Another GitOps object already owns this FQN (two CRs map to one MP object).
    #[error("{0}")]
    Conflict(String),
    /// An identity sent more requests than `--rate-limit-per-identity` allows.
    #[error(
        "rate limit: identity {identity:?} exceeded {limit} requests/s \
         (--rate-limit-per-identity); retry after {}ms",
        retry_after.as_millis().max(1)
    )]
    RateLimited {
        /// `user:<subject>` or `cluster:<name>`.
        identity: String,
        /// The sustained rate allowed.
        limit: u32,
        /// When the next request would be admitted.
        retry_after: std::time::Duration,
    },
    /// One failure of a group commit, reported to each of its writes.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
    /// Writes kept racing other replicas.
    #[error("the store is busy with concurrent writes; retry")]
    Busy,
    /// The store's revision is behind what this replica has read from it: the database lost
    /// commits it had acknowledged. Writing on would reuse revisions the distribution has sent.
    #[error(
        "the store is at revision {store}, behind this replica's {replica}: the database lost \
         commits it had acknowledged (synchronous_commit=off, or a failover to a lagging \
         standby); restart the management plane replicas so they reload from it"
    )]
    StoreBehind {
        /// The store's revision.
        store: i64,
        /// This replica's.
        replica: i64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A bug; details go to the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

fn summary(diagnostics: &[Diagnostic]) -> String {
    match diagnostics {
        [] => "rejected".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

/// The wire form of a diagnostic.
pub fn diagnostic_to_proto(d: &Diagnostic) -> v1::Diagnostic {
    v1::Diagnostic {
        rule: d.rule.code().to_string(),
        severity: format!("{:?}", d.severity).to_lowercase(),
        object: d.object.to_string(),
        field: d.field.clone(),
        message: d.message.clone(),
        fix: d.fix.clone(),
    }
}

/// The one `Error` → `tonic::Status` mapping of every service.
pub fn to_status(error: Error) -> tonic::Status {
    status_of(&error)
}

fn status_of(error: &Error) -> tonic::Status {
    use tonic::Code;
    let code = match error {
        Error::Shared(inner) => return status_of(inner),
        Error::Rejected(diagnostics) | Error::Invalid(diagnostics) => diagnostics
            .iter()
            .find_map(Diagnostic::grpc_code)
            .map_or(Code::InvalidArgument, |code| match code {
                GrpcCode::InvalidArgument => Code::InvalidArgument,
                GrpcCode::NotFound => Code::NotFound,
                GrpcCode::AlreadyExists => Code::AlreadyExists,
                GrpcCode::PermissionDenied => Code::PermissionDenied,
                GrpcCode::ResourceExhausted => Code::ResourceExhausted,
                GrpcCode::FailedPrecondition => Code::FailedPrecondition,
            }),
        Error::BadRequest(_) => Code::InvalidArgument,
        Error::NotFound(_) => Code::NotFound,
        Error::StaleEtag { .. } | Error::GitOpsOwned { .. } => Code::FailedPrecondition,
        Error::Unauthenticated(_) => Code::Unauthenticated,
        Error::PermissionDenied(_) | Error::NotRegistered(_) => Code::PermissionDenied,
        Error::LimitExceeded(_) | Error::RateLimited { .. } => Code::ResourceExhausted,
        Error::Conflict(_) => Code::AlreadyExists,
        Error::Busy => Code::Aborted,
        Error::StoreBehind { .. } => Code::Unavailable,
        Error::Store(crate::store::Error::AlreadyExists { .. }) => Code::AlreadyExists,
        Error::Store(crate::store::Error::NotFound { .. }) => Code::NotFound,
        Error::Store(crate::store::Error::Database(_)) => Code::Unavailable,
        Error::Store(_) | Error::Internal(_) => Code::Internal,
    };
    let message = match (error, code) {
        (Error::Store(crate::store::Error::Database(_)), _) => {
            tracing::warn!(%error, "database unavailable");
            "the management plane's database is unavailable; retry".to_string()
        }
        (_, Code::Internal) => {
            tracing::error!(%error, "internal error");
            "internal error; see the management plane's log".to_string()
        }
        _ => error.to_string(),
    };
    match error {
        Error::Rejected(diagnostics) | Error::Invalid(diagnostics) => {
            let details = v1::Diagnostics {
                diagnostics: diagnostics.iter().map(diagnostic_to_proto).collect(),
            };
            tonic::Status::with_details(code, message, details.encode_to_vec().into())
        }
        Error::NotRegistered(_) => {
            let mut status = tonic::Status::new(code, message);
            status.metadata_mut().insert(
                crate::proto::REASON_METADATA,
                tonic::metadata::MetadataValue::from_static(crate::proto::CLUSTER_NOT_REGISTERED),
            );
            status
        }
        _ => tonic::Status::new(code, message),
    }
}
