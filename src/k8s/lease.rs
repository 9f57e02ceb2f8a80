//! Leader election with a `coordination.k8s.io/v1` Lease, the way client-go's leaderelection
//! does it: the holder renews every third of the lease duration; anyone may take a lease whose
//! renew time is older than its duration. Updates use the lease's resourceVersion, so two
//! candidates can never both win the same round.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;

use crate::runtime::Shutdown;

/// One candidate for one lease.
#[derive(Debug, Clone)]
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

impl LeaseLock {
    /// A candidate `identity` for `namespace/name`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> LeaseLock {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX),
            ),
            acquire_time: Some(acquired.unwrap_or_else(now)),
            renew_time: Some(now()),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Runs one call to the apiserver under half the lease duration: a call stuck longer
    /// than that could not keep the lease anyway, and the next round must not wait for it.
    async fn bounded<T>(
        &self,
        what: &'static str,
        call: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, LeaseError> {
        let limit = self.duration / 2;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result.map_err(LeaseError::Kube),
            Err(_) => Err(LeaseError::TimedOut {
                what,
                name: self.name.clone(),
                after: limit,
            }),
        }
    }

    /// One election round: true when this candidate holds the lease afterwards.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        let Some(mut lease) = self.bounded("read", self.api.get_opt(&self.name)).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            let created = self
                .bounded("create", self.api.create(&PostParams::default(), &lease))
                .await;
            return match created {
                Ok(_) => Ok(true),
                // Another candidate created it first.
                Err(LeaseError::Kube(kube::Error::Api(status))) if status.is_already_exists() => {
                    Ok(false)
                }
                Err(error) => Err(error),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let new_spec = if holder == self.identity {
            self.spec(transitions, spec.acquire_time.clone())
        } else {
            let held_for = spec.lease_duration_seconds.map_or(self.duration, |s| {
                Duration::from_secs(u64::try_from(s).unwrap_or(0))
            });
            let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
                let age = jiff::Timestamp::now().duration_since(renewed.0);
                age.as_secs_f64() > held_for.as_secs_f64()
            });
            if !holder.is_empty() && !expired {
                return Ok(false);
            }
            self.spec(transitions + 1, None)
        };
        lease.spec = Some(new_spec);
        let replaced = self
            .bounded(
                "update",
                self.api.replace(&self.name, &PostParams::default(), &lease),
            )
            .await;
        match replaced {
            Ok(_) => Ok(true),
            // Another candidate wrote it since it was read.
            Err(LeaseError::Kube(kube::Error::Api(status))) if status.is_conflict() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Gives the lease up (on shutdown), so another replica takes over at once.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self.bounded("read", self.api.get_opt(&self.name)).await? else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        self.bounded(
            "release",
            self.api.replace(&self.name, &PostParams::default(), &lease),
        )
        .await
        .map(|_| ())
    }

    /// Campaigns until shutdown; the first receiver says whether this replica leads, the
    /// second why its rounds fail (`None` while they succeed). Leadership is given up when a
    /// renewal has not succeeded for a whole lease duration (minus a margin), so two replicas
    /// never both act as leader. A failure is logged when it starts or changes, not every round.
    pub fn run(
        self,
        shutdown: &Shutdown,
    ) -> (watch::Receiver<bool>, watch::Receiver<Option<LeaseProblem>>) {
        let (leading, receiver) = watch::channel(false);
        let (problem, problems) = watch::channel(None);
        let stop = shutdown.clone();
        let span = tracing::info_span!("lease", name = %self.name, identity = %self.identity);
        shutdown.spawn(span, async move {
            let retry = self.duration / 3;
            let mut last_renewed: Option<tokio::time::Instant> = None;
            loop {
                let round = self.try_acquire_or_renew().await;
                let seen = round.as_ref().err().map(LeaseProblem::of);
                problem.send_if_modified(|current| {
                    if *current == seen {
                        return false;
                    }
                    *current = seen.clone();
                    true
                });
                match round {
                    Ok(true) => {
                        last_renewed = Some(tokio::time::Instant::now());
                        if !*leading.borrow() {
                            tracing::info!("acquired the lease; leading");
                        }
                        leading.send_replace(true);
                    }
                    Ok(false) => {
                        if *leading.borrow() {
                            tracing::warn!("lost the lease to another replica");
                        }
                        last_renewed = None;
                        leading.send_replace(false);
                    }
                    Err(error) => {
                        // The first failure (and each new one) is reported through `problem`.
                        tracing::debug!(%error, "lease round failed");
                        let deadline = self.duration.mul_f64(0.8);
                        if last_renewed.is_none_or(|at| at.elapsed() > deadline) {
                            leading.send_replace(false);
                        }
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(retry) => {}
                }
            }
            leading.send_replace(false);
            if let Err(error) = self.release().await {
                tracing::warn!(%error, "releasing the lease failed");
            }
        });
        (receiver, problems)
    }
}

/// Why lease rounds fail, as the agent's readiness reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseProblem {
    /// The namespace does not exist.
    NamespaceMissing,
    /// RBAC denies the calls; the apiserver's message.
    Forbidden(String),
    /// Anything else.
    Failing(String),
}

impl LeaseProblem {
    fn of(error: &LeaseError) -> LeaseProblem {
        match error {
            // The Lease is read first (a missing Lease is no error); only its create answers
            // NotFound, and only for a missing namespace.
            LeaseError::Kube(kube::Error::Api(status)) if status.is_not_found() => {
                LeaseProblem::NamespaceMissing
            }
            LeaseError::Kube(kube::Error::Api(status)) if status.is_forbidden() => {
                LeaseProblem::Forbidden(status.message.clone())
            }
            other => LeaseProblem::Failing(other.to_string()),
        }
    }
}

/// A lease call that failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The apiserver answered with an error.
    #[error(transparent)]
    Kube(#[from] kube::Error),
    /// It did not answer in time.
    #[error("{what} of Lease {name}: timed out after {after:?}")]
    TimedOut {
        /// The call.
        what: &'static str,
        /// The Lease.
        name: String,
        /// The limit.
        after: Duration,
    },
}
