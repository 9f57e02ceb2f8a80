//! Why the agent is not doing its job, said where a user looks: `/ready` (503 with one line per
//! reason, naming the fix), one log line when a reason appears or clears (not a warning every
//! round), and `tsbridge_agent_not_ready{reason}`.
//!
//! Pure: the agent's tasks report what they see ([`Source`] by [`Source`]), [`Readiness`] keeps
//! the current [`Condition`]s and says what changed and what `/ready` shows.
//!
//! Which reasons fail readiness (`docs/agent.md`, Readiness): every set-up mistake does, always
//! (Lease namespace or RBAC, CRDs, certificates, registration, grants, a wrong `--server`).
//! The management plane being unreachable or stalled fails it only until the agent has been
//! welcomed once: after that it is an outage, not a mistake, and the chart's webhook shares the
//! agent's readiness, so an MP outage must not stop admission in every cluster. It is still
//! reported (200, `degraded:`), as are Istio CRDs missing (the cluster can then hold no
//! generated object, which a cluster that only sources config may intend).

use std::collections::BTreeMap;

use crate::agent::error::Error;

/// Who reports a condition; each source has at most one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// The initial lists of the watches.
    Watches,
    /// Our CRDs.
    Crds,
    /// Istio's CRDs.
    Istio,
    /// Leader election.
    Lease,
    /// The sync stream to the management plane.
    Upstream,
}

/// One reason the agent is not (fully) doing its job, with what the user should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Watches whose initial list is not complete.
    WatchesPending(Vec<String>),
    /// Our CRDs are not served.
    CrdsMissing(Vec<String>),
    /// No direct-mode Istio kind is served.
    IstioCrdsMissing(Vec<String>),
    /// The Lease's namespace does not exist.
    LeaseNamespaceMissing {
        /// `--lease-namespace`.
        namespace: String,
    },
    /// The agent may not read or write its Lease.
    LeaseForbidden {
        /// `--lease-namespace`.
        namespace: String,
        /// The apiserver's message.
        message: String,
    },
    /// Any other failure of the Lease (an apiserver that does not answer in time, say).
    LeaseFailing(String),
    /// `--server`, `--tls-*`, `--ca` or `--token-file` cannot be used.
    UpstreamConfig(String),
    /// No stream to the management plane could be opened, or it ended.
    ServerUnreachable(String),
    /// The stream stopped moving (heartbeats or PINGs missed).
    Stalled(String),
    /// The management plane does not know this cluster.
    ClusterNotRegistered {
        /// `--cluster`.
        cluster: String,
    },
    /// The management plane knows the cluster but granted it no scope.
    ClusterNotGranted {
        /// `--cluster`.
        cluster: String,
    },
    /// The management plane refused the stream (credentials, identity).
    Refused(String),
    /// A certificate is outside its validity period by this host's clock.
    CertificateNotValid(String),
}

/// Every reason label, for the metric's series.
pub const REASONS: [&str; 14] = [
    "watches_pending",
    "crds_missing",
    "istio_crds_missing",
    "lease_namespace_missing",
    "lease_forbidden",
    "lease_failing",
    "upstream_config",
    "server_unreachable",
    "upstream_stalled",
    "cluster_not_registered",
    "cluster_not_granted",
    "upstream_refused",
    "certificate_not_valid",
    // Not a condition of its own: shutdown started.
    "shutting_down",
];

impl Condition {
    /// The metric label and the first word of its `/ready` line.
    pub fn reason(&self) -> &'static str {
        match self {
            Condition::WatchesPending(_) => "watches_pending",
            Condition::CrdsMissing(_) => "crds_missing",
            Condition::IstioCrdsMissing(_) => "istio_crds_missing",
            Condition::LeaseNamespaceMissing { .. } => "lease_namespace_missing",
            Condition::LeaseForbidden { .. } => "lease_forbidden",
            Condition::LeaseFailing(_) => "lease_failing",
            Condition::UpstreamConfig(_) => "upstream_config",
            Condition::ServerUnreachable(_) => "server_unreachable",
            Condition::Stalled(_) => "upstream_stalled",
            Condition::ClusterNotRegistered { .. } => "cluster_not_registered",
            Condition::ClusterNotGranted { .. } => "cluster_not_granted",
            Condition::Refused(_) => "upstream_refused",
            Condition::CertificateNotValid(_) => "certificate_not_valid",
        }
    }

    /// What happens and how to fix it, in one line.
    pub fn message(&self) -> String {
        match self {
            Condition::WatchesPending(kinds) => format!(
                "waiting for the first list of {} (a list that stays pending is usually RBAC: \
                 the agent needs get, list and watch on them)",
                kinds.join(", ")
            ),
            Condition::CrdsMissing(kinds) => format!(
                "the cluster does not serve {}: install the CRDs (`tsbridge crds | kubectl \
                 apply --server-side -f -`, or the chart with crds.install=true)",
                kinds.join(", ")
            ),
            Condition::IstioCrdsMissing(groups) => format!(
                "the cluster does not serve Istio's {} API: generated Istio objects cannot be \
                 applied here; install Istio (its CRDs): the agent watches them from then on, without a restart",
                groups.join(", ")
            ),
            Condition::LeaseNamespaceMissing { namespace } => format!(
                "the Lease namespace {namespace} does not exist: `kubectl create namespace \
                 {namespace}`, or set --lease-namespace to the agent's namespace"
            ),
            Condition::LeaseForbidden { namespace, message } => format!(
                "the agent may not use its Lease in {namespace} ({message}): grant get, create \
                 and update on leases.coordination.k8s.io in {namespace} (the chart's Role does)"
            ),
            Condition::LeaseFailing(message) => {
                format!("leader election fails: {message}")
            }
            Condition::UpstreamConfig(message) => {
                format!("cannot reach the management plane as configured: {message}")
            }
            Condition::ServerUnreachable(message) => format!(
                "no stream to the management plane: {message}; check --server and that the \
                 management plane runs and is reachable from here"
            ),
            Condition::Stalled(message) => format!("{message}; reconnecting"),
            Condition::ClusterNotRegistered { cluster } => format!(
                "the management plane does not know cluster {cluster}: an admin runs `tsbridge \
                 ctl cluster create {cluster}` (or fix --cluster)"
            ),
            Condition::ClusterNotGranted { cluster } => format!(
                "cluster {cluster} has no grant, so every object it pushes is refused: an admin \
                 runs `tsbridge ctl cluster grant {cluster} organizations/ORG/...` (the agent \
                 learns it on its next connect)"
            ),
            Condition::Refused(message) => {
                format!("the management plane refused the stream: {message}")
            }
            Condition::CertificateNotValid(message) => format!(
                "{message}: check this host's clock (and the management plane's), or renew the \
                 certificate"
            ),
        }
    }

    /// Whether it fails readiness; `welcomed`: the MP has welcomed this agent once.
    pub fn blocks(&self, welcomed: bool) -> bool {
        match self {
            Condition::IstioCrdsMissing(_) => false,
            Condition::ServerUnreachable(_) | Condition::Stalled(_) => !welcomed,
            _ => true,
        }
    }

    /// `reason: message`, as `/ready` and the log show it.
    pub fn line(&self) -> String {
        format!("{}: {}", self.reason(), self.message())
    }
}

/// What a report changed, for the one log line it deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A condition appeared (or replaced another of the same source with another reason).
    Raised(Condition),
    /// The source's condition is the same reason with other details (a shorter list of
    /// pending watches, say): published, not worth a warning.
    Updated(Condition),
    /// The source's condition cleared.
    Cleared(Condition),
}

/// The current conditions (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    conditions: BTreeMap<Source, Condition>,
    welcomed: bool,
}

impl Readiness {
    /// `source` sees `condition` now (`None`: all is well there). Returns what changed; the
    /// same condition again changes nothing.
    pub fn report(&mut self, source: Source, condition: Option<Condition>) -> Option<Change> {
        match condition {
            Some(condition) => {
                let before = self.conditions.insert(source, condition.clone());
                match before {
                    Some(before) if before == condition => None,
                    Some(before) if before.reason() == condition.reason() => {
                        Some(Change::Updated(condition))
                    }
                    _ => Some(Change::Raised(condition)),
                }
            }
            None => self.conditions.remove(&source).map(Change::Cleared),
        }
    }

    /// The management plane welcomed the agent: from now on an outage is not a set-up mistake.
    pub fn welcomed(&mut self) {
        self.welcomed = true;
    }

    /// The lines of the conditions that fail readiness (empty: ready).
    pub fn blocking(&self) -> Vec<String> {
        self.lines(true)
    }

    /// The lines of the conditions that are reported without failing readiness.
    pub fn degraded(&self) -> Vec<String> {
        self.lines(false)
    }

    fn lines(&self, blocking: bool) -> Vec<String> {
        self.conditions
            .values()
            .filter(|c| c.blocks(self.welcomed) == blocking)
            .map(Condition::line)
            .collect()
    }

    /// Whether `reason` holds now.
    pub fn holds(&self, reason: &str) -> bool {
        self.conditions.values().any(|c| c.reason() == reason)
    }
}

// === impl Reporter ===

/// [`Readiness`] published: `/ready` (through [`Shutdown`]), the metric, and one log line per
/// change.
#[derive(Debug)]
pub struct Reporter {
    readiness: Readiness,
    shutdown: crate::runtime::Shutdown,
    metrics: crate::agent::metrics::AgentMetrics,
}

impl Reporter {
    /// Publishes to `shutdown` (what `/ready` shows) and `metrics`.
    pub fn new(
        shutdown: crate::runtime::Shutdown,
        metrics: crate::agent::metrics::AgentMetrics,
    ) -> Reporter {
        Reporter {
            readiness: Readiness::default(),
            shutdown,
            metrics,
        }
    }

    /// See [`Readiness::report`]; logs and publishes what changed.
    pub fn report(&mut self, source: Source, condition: Option<Condition>) {
        let Some(change) = self.readiness.report(source, condition) else {
            return;
        };
        let condition = match &change {
            // Watches listing at start-up are expected: said once, at info.
            Change::Raised(condition @ Condition::WatchesPending(_)) => {
                tracing::info!(reason = condition.reason(), "{}", condition.message());
                condition
            }
            Change::Raised(condition) => {
                let blocks = condition.blocks(self.readiness.welcomed);
                tracing::warn!(
                    reason = condition.reason(),
                    not_ready = blocks,
                    "{}",
                    condition.message()
                );
                condition
            }
            Change::Updated(condition) => {
                tracing::debug!(reason = condition.reason(), "{}", condition.message());
                condition
            }
            Change::Cleared(condition) => {
                tracing::info!(reason = condition.reason(), "resolved");
                condition
            }
        };
        for reason in REASONS {
            if reason == condition.reason() {
                self.metrics.reason(reason, self.readiness.holds(reason));
            }
        }
        self.publish();
    }

    /// See [`Readiness::welcomed`].
    pub fn welcomed(&mut self) {
        if !self.readiness.welcomed {
            self.readiness.welcomed();
            self.publish();
        }
    }

    fn publish(&self) {
        self.shutdown.set_pending(self.readiness.blocking());
        self.shutdown.set_degraded(self.readiness.degraded());
    }
}

/// The condition an ended (or never opened) sync stream leaves, for cluster `cluster`; `None`
/// when it is no mistake (leadership moved, shutdown).
pub fn upstream_condition(cluster: &str, error: &Error) -> Option<Condition> {
    let condition = match error {
        Error::NotLeader | Error::Kube { .. } | Error::Timeout { .. } => return None,
        Error::Address { .. } | Error::File { .. } | Error::Tls { .. } | Error::Token => {
            Condition::UpstreamConfig(error.to_string())
        }
        Error::Certificate(message) => Condition::CertificateNotValid(message.clone()),
        Error::Stalled { .. } => Condition::Stalled(error.to_string()),
        Error::Connect { source, .. } => match certificate_problem(source) {
            Some(problem) => Condition::CertificateNotValid(problem),
            None => Condition::ServerUnreachable(error.to_string()),
        },
        Error::Status { status, .. } => {
            let reason = status
                .metadata()
                .get(crate::proto::REASON_METADATA)
                .and_then(|v| v.to_str().ok());
            if reason == Some(crate::proto::CLUSTER_NOT_REGISTERED) {
                Condition::ClusterNotRegistered {
                    cluster: cluster.to_string(),
                }
            } else if let Some(problem) = certificate_problem(status.as_ref()) {
                Condition::CertificateNotValid(problem)
            } else if matches!(
                status.code(),
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
            ) {
                Condition::Refused(error.to_string())
            } else {
                Condition::ServerUnreachable(error.to_string())
            }
        }
        Error::NoWelcome { .. } | Error::Closed { .. } => {
            Condition::ServerUnreachable(error.to_string())
        }
    };
    Some(condition)
}

/// A TLS handshake that failed on a certificate's validity period, on either side, said so.
fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{AlertDescription, CertificateError};
    let mut next = Some(error);
    while let Some(error) = next {
        // tokio-rustls wraps the TLS error in an io::Error, whose `source` skips it.
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(tls) = inner.or_else(|| error.downcast_ref::<rustls::Error>()) {
            return match tls {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
                ) => Some(format!(
                    "the management plane's certificate is not valid yet ({tls})"
                )),
                rustls::Error::InvalidCertificate(
                    CertificateError::Expired | CertificateError::ExpiredContext { .. },
                ) => Some(format!(
                    "the management plane's certificate has expired ({tls})"
                )),
                rustls::Error::AlertReceived(AlertDescription::CertificateExpired) => {
                    Some(format!(
                        "the management plane refused the client certificate as expired or not yet valid ({tls})"
                    ))
                }
                _ => None,
            };
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests;
