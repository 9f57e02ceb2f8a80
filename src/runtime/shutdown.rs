//! Graceful shutdown: readiness off first, then cancel, then a bounded wait for tasks.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Shared by every task of a process: the cancellation token, the task tracker and readiness.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    ready: Arc<AtomicBool>,
    /// Why the process is not ready, one line each (e.g. watches whose initial list is not
    /// complete).
    pending: Arc<Mutex<Vec<String>>>,
    /// What is wrong without failing readiness, one line each (`/ready` shows it).
    degraded: Arc<Mutex<Vec<String>>>,
}

impl Shutdown {
    /// A fresh, not-ready handle.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Cancelled when shutdown starts; long-lived streams select on it and end.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Resolves when shutdown starts.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.token.is_cancelled() && self.pending().is_empty()
    }

    /// What readiness still waits for, by name.
    pub fn pending(&self) -> Vec<String> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces what readiness waits for; empty once start-up work is complete.
    pub fn set_pending(&self, pending: Vec<String>) {
        *self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pending;
    }

    /// What is wrong without failing readiness.
    pub fn degraded(&self) -> Vec<String> {
        self.degraded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces what `/ready` reports without failing.
    pub fn set_degraded(&self, degraded: Vec<String>) {
        *self
            .degraded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = degraded;
    }

    /// Marks the process ready (after start-up work is done).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Spawns a task inside `span`, tracked so shutdown waits for it.
    pub fn spawn<F>(&self, span: tracing::Span, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task.instrument(span))
    }

    /// Starts shutdown: readiness off, token cancelled.
    pub fn begin(&self) {
        self.ready.store(false, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Waits for every tracked task, at most `grace`; false when the grace ran out.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok()
    }

    /// Resolves on the first SIGINT or SIGTERM and starts shutdown.
    pub async fn on_signal(&self) {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
            _ = self.token.cancelled() => return,
        }
        tracing::info!("shutdown signal received");
        self.begin();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn begin_turns_readiness_off_and_drains_tasks() {
        let shutdown = Shutdown::new();
        shutdown.set_ready(true);
        assert!(shutdown.is_ready());
        let watcher = shutdown.clone();
        shutdown.spawn(tracing::info_span!("test"), async move {
            watcher.cancelled().await;
        });
        shutdown.begin();
        assert!(!shutdown.is_ready());
        assert!(shutdown.drain(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn drain_reports_a_task_that_does_not_end() {
        let shutdown = Shutdown::new();
        shutdown.spawn(tracing::info_span!("stuck"), std::future::pending::<()>());
        shutdown.begin();
        assert!(!shutdown.drain(Duration::from_millis(50)).await);
    }
}
