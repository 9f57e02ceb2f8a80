//! The per-cluster agent: watches, upstream sync, status, webhook, applier.
//!
//! Depends on: `model`, `proto`, `k8s`, `runtime`; kube, tonic (client).
//! Never: `store`, sqlx, `server`.

pub mod applier;
pub mod args;
pub mod depth;
pub mod error;
pub mod metrics;
pub mod readiness;
pub mod reconciler;
pub mod status;
pub mod upstream;
pub mod watch;
pub mod webhook;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

pub use args::Args;
pub use error::Error;

use crate::agent::readiness::{Condition, Source};
use crate::runtime::Shutdown;

/// How long shutdown waits for tasks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Reconciler clock.
const TICK: Duration = Duration::from_millis(200);
/// Events queued towards the reconciler from each source (watches, the MP stream). Senders
/// wait when it is full rather than drop: a lost watch event (a delete) or MP answer would not
/// come again until the next re-list or stream, and waiting only slows the watch that is ahead.
const EVENT_QUEUE: usize = 4096;

/// Start-up failures, each naming the flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Flags that do not fit together.
    #[error("{0}")]
    Flags(String),
    /// The kubeconfig file.
    #[error("--kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No kubeconfig and no in-cluster configuration.
    #[error("no --kubeconfig and not in a cluster: {0}")]
    InCluster(#[source] kube::config::InClusterError),
    /// A client for the cluster's API.
    #[error("a client for the cluster's API: {0}")]
    Client(#[source] kube::Error),
    /// Logging.
    #[error(transparent)]
    Log(#[from] crate::runtime::log::Error),
    /// The admission webhook.
    #[error("webhook: {0}")]
    Webhook(#[from] webhook::Error),
    /// The admin listener.
    #[error("--admin-listen {addr}: {source}")]
    Admin {
        /// Address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Tasks did not end within the grace period.
    #[error("shutdown did not finish within {0:?}")]
    Unclean(Duration),
}

async fn kube_client(args: &Args) -> Result<kube::Client, RunError> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kubeconfig = |source| RunError::Kubeconfig {
                path: path.clone(),
                source,
            };
            let file = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig)?;
            kube::Config::from_custom_kubeconfig(file, &Default::default())
                .await
                .map_err(kubeconfig)?
        }
        None => kube::Config::incluster().map_err(RunError::InCluster)?,
    };
    depth::client(config).map_err(RunError::Client)
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "agent".into());
    let suffix: u32 = rand::random();
    format!("{host}-{suffix:08x}")
}

/// Refuses a `--server` address the agent would talk plaintext to off loopback.
fn check_server(server: &str, insecure: bool) -> Result<(), RunError> {
    if insecure {
        let loopback = server
            .strip_prefix("http://")
            .and_then(|rest| rest.split(['/', ':']).next())
            .is_some_and(|host| host == "127.0.0.1" || host == "localhost" || host == "[::1]");
        if !loopback {
            return Err(RunError::Flags(format!(
                "--insecure talks plaintext and is refused for {server}; use http://127.0.0.1:PORT or \
                 give --tls-cert, --tls-key and --ca with an https:// URL"
            )));
        }
    } else if !server.starts_with("https://") {
        return Err(RunError::Flags(format!(
            "--server {server} must be https:// (or http:// on loopback with --insecure)"
        )));
    }
    Ok(())
}

/// What the sync stream's events say about readiness.
fn observe_mp(reporter: &mut readiness::Reporter, cluster: &str, event: &upstream::MpEvent) {
    match event {
        upstream::MpEvent::Connected(_, welcome) => {
            reporter.welcomed();
            let ungranted = welcome
                .grants
                .is_empty()
                .then(|| Condition::ClusterNotGranted {
                    cluster: cluster.to_string(),
                });
            reporter.report(Source::Upstream, ungranted);
        }
        upstream::MpEvent::Disconnected(error) => {
            reporter.report(
                Source::Upstream,
                readiness::upstream_condition(cluster, error),
            );
        }
        _ => {}
    }
}

fn lease_condition(problem: crate::k8s::lease::LeaseProblem, namespace: &str) -> Condition {
    use crate::k8s::lease::LeaseProblem;
    match problem {
        LeaseProblem::NamespaceMissing => Condition::LeaseNamespaceMissing {
            namespace: namespace.to_string(),
        },
        LeaseProblem::Forbidden(message) => Condition::LeaseForbidden {
            namespace: namespace.to_string(),
            message,
        },
        LeaseProblem::Failing(message) => Condition::LeaseFailing(message),
    }
}

/// Runs the agent until SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), RunError> {
    args.log.init()?;
    for server in &args.server {
        check_server(server, args.insecure)?;
    }
    let client = kube_client(&args).await?;
    let shutdown = Shutdown::new();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = metrics::AgentMetrics::register(&mut registry);
    let webhook_metrics = webhook::WebhookMetrics::register(&mut registry);
    let registry = Arc::new(Mutex::new(registry));
    let admin = crate::runtime::admin::serve(args.admin.admin_listen, shutdown.clone(), registry)
        .await
        .map_err(|source| RunError::Admin {
            addr: args.admin.admin_listen,
            source,
        })?;

    // Every replica serves the webhook, leader or not (its verdicts need no state).
    if args.webhook.enabled() {
        let bound = webhook::serve(&args.webhook, webhook_metrics, shutdown.clone()).await?;
        tracing::info!(%bound, "admission webhook serving");
    }

    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let lease_namespace = args.lease_namespace.clone();
    let lease_name = args
        .lease_name
        .clone()
        .unwrap_or_else(|| format!("tsbridge-agent-{}", args.cluster));
    let (mut leading, mut lease_problems) = crate::k8s::lease::LeaseLock::new(
        client.clone(),
        &args.lease_namespace,
        &lease_name,
        &identity,
        args.lease_duration,
    )
    .run(&shutdown);

    let watched = watch::all();
    let mut reporter = readiness::Reporter::new(shutdown.clone(), metrics.clone());
    let (watch_tx, mut watch_rx) = mpsc::channel(EVENT_QUEUE);
    watch::spawn(
        &client,
        args.watch_namespace.as_deref(),
        &watched,
        watch_tx,
        &shutdown,
    );
    let (namespace_tx, mut namespace_rx) = mpsc::channel(EVENT_QUEUE);
    watch::spawn_namespaces(&client, namespace_tx, &shutdown);
    let (service_tx, mut service_rx) = mpsc::channel(EVENT_QUEUE);
    watch::spawn_services(&client, service_tx, &shutdown);
    let position = applier::Position::default();
    let istio_kinds = watched
        .iter()
        .filter(|w| w.kind.is_direct())
        .map(|w| w.resource.clone())
        .collect();
    let applier = applier::spawn(
        client.clone(),
        args.cluster.clone(),
        istio_kinds,
        position.clone(),
        metrics.clone(),
        applier::PruneGuard {
            share: args.prune_guard_share,
            min: args.prune_guard_min,
        },
        &shutdown,
    );
    watch::spawn_owned(&client, &watched, &args.cluster, applier.clone(), &shutdown);
    let (mp_tx, mut mp_rx) = mpsc::channel(EVENT_QUEUE);
    upstream::spawn(
        upstream::Connection {
            servers: args.server.clone(),
            cluster: args.cluster.clone(),
            identity: args.tls_cert.clone().zip(args.tls_key.clone()),
            ca: args.ca.clone(),
            token_file: args.token_file.clone(),
            position,
            applier,
            metrics: metrics.clone(),
            keepalive: args.keepalive,
        },
        leading.clone(),
        mp_tx,
        &shutdown,
    );
    let (status_writes, mut failed_rx) =
        status::spawn(client.clone(), identity.clone(), metrics.clone(), &shutdown);
    let mut reconciler = reconciler::Reconciler::new(
        reconciler::Settings {
            cluster: args.cluster.clone(),
            server: args.server.join(", "),
            delete_grace: args.delete_grace,
            resync_interval: args.resync_interval,
        },
        watched,
        status_writes,
        metrics,
    );
    tracing::info!(cluster = %args.cluster, %identity, %admin, "agent running");
    // Ready once every watch has listed and no set-up mistake shows (`readiness`).
    let pending = reconciler.pending_lists();
    reporter.report(
        Source::Watches,
        (!pending.is_empty()).then(|| Condition::WatchesPending(pending.clone())),
    );
    shutdown.set_ready(true);

    let stop = shutdown.clone();
    let cluster = args.cluster.clone();
    let main_loop = async move {
        let mut pending = pending;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(event) = watch_rx.recv() => {
                    reconciler.on_watch(event);
                    // Drain a burst before acting on it.
                    while let Ok(event) = watch_rx.try_recv() {
                        reconciler.on_watch(event);
                    }
                }
                Some(event) = namespace_rx.recv() => reconciler.on_namespace(event),
                Some(event) = service_rx.recv() => reconciler.on_service(event),
                Some(event) = mp_rx.recv() => {
                    observe_mp(&mut reporter, &cluster, &event);
                    reconciler.on_mp(event);
                    while let Ok(event) = mp_rx.try_recv() {
                        observe_mp(&mut reporter, &cluster, &event);
                        reconciler.on_mp(event);
                    }
                }
                Ok(()) = lease_problems.changed() => {
                    let problem = lease_problems.borrow_and_update().clone();
                    reporter.report(Source::Lease, problem.map(|p| lease_condition(p, &lease_namespace)));
                }
                Ok(()) = leading.changed() => {
                    let now_leading = *leading.borrow_and_update();
                    reconciler.on_leading(now_leading);
                }
                Some(failed) = failed_rx.recv() => reconciler.on_write_failed(&failed),
                _ = tick.tick() => {
                    reconciler.on_tick();
                    ticks += 1;
                    if ticks.is_multiple_of(10) {
                        reconciler.update_gauges();
                    }
                }
            }
            reconciler.flush();
            let now_pending = reconciler.pending_lists();
            if now_pending != pending {
                if now_pending.is_empty() {
                    tracing::info!("every watch has listed; inventories may go up");
                }
                reporter.report(
                    Source::Watches,
                    (!now_pending.is_empty())
                        .then(|| Condition::WatchesPending(now_pending.clone())),
                );
                pending = now_pending;
            }
            let missing = reconciler.crds_missing();
            reporter.report(
                Source::Crds,
                (!missing.is_empty()).then_some(Condition::CrdsMissing(missing)),
            );
            let missing = reconciler.istio_missing();
            reporter.report(
                Source::Istio,
                (!missing.is_empty()).then_some(Condition::IstioCrdsMissing(missing)),
            );
        }
    };
    tokio::select! {
        () = main_loop => {}
        () = shutdown.on_signal() => {}
    }
    shutdown.begin();
    if shutdown.drain(SHUTDOWN_GRACE).await {
        Ok(())
    } else {
        Err(RunError::Unclean(SHUTDOWN_GRACE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_address_must_be_tls_or_plaintext_on_loopback() {
        assert!(check_server("https://mp-0.example:9443", false).is_ok());
        assert!(check_server("http://127.0.0.1:9443", true).is_ok());
        let plaintext = check_server("http://mp-1.example:9443", false).expect_err("refused");
        assert!(
            plaintext.to_string().contains("must be https://"),
            "{plaintext}"
        );
        let remote = check_server("http://mp-1.example:9443", true).expect_err("refused");
        assert!(
            remote.to_string().contains("refused for http://mp-1"),
            "{remote}"
        );
    }
}
