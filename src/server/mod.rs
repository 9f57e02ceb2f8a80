//! The management plane: gRPC API, agent sync service, distribution.
//!
//! Depends on: `model`, `proto`, `store`, `runtime`; tonic.
//! Never: kube, `k8s`, `agent`, `runtime::lease`.

pub mod args;
pub mod auth;
pub mod convert;
pub mod distribute;
pub mod engine;
pub mod error;
pub mod guard;
pub mod limits;
pub mod metrics;
pub mod services;
pub mod ui;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::transport::Server;

pub use args::Args;

use crate::model::validate::Organizations;
use crate::proto::v1::agent_sync_service_server::AgentSyncServiceServer;
use crate::proto::v1::audit_service_server::AuditServiceServer;
use crate::proto::v1::cluster_service_server::ClusterServiceServer;
use crate::proto::v1::config_service_server::ConfigServiceServer;
use crate::proto::v1::ledger_service_server::LedgerServiceServer;
use crate::proto::v1::status_service_server::StatusServiceServer;
use crate::runtime::Shutdown;
use crate::server::auth::{Authenticator, new_token, token_hash};
use crate::server::engine::{Engine, Limits};
use crate::server::error::Error;
use crate::server::limits::RateLimiter;
use crate::store::{Store, TokenRecord};

/// How long shutdown waits for streams and tasks to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Start-up failures, each naming the flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Flags that do not fit together.
    #[error("{0}")]
    Flags(String),
    /// Store, engine or token set-up.
    #[error(transparent)]
    Engine(#[from] Error),
    /// Store connection.
    #[error("--store: {0}")]
    Store(#[from] crate::store::Error),
    /// TLS material.
    #[error(transparent)]
    Tls(#[from] crate::runtime::tls::Error),
    /// Logging.
    #[error(transparent)]
    Log(#[from] crate::runtime::log::Error),
    /// A listener or file.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Tasks did not end within the grace period.
    #[error("shutdown did not finish within {0:?}")]
    Unclean(Duration),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Runs the management plane until SIGINT/SIGTERM.
pub async fn run(args: Args) -> Result<(), RunError> {
    let Args {
        listen,
        admin,
        log,
        keepalive,
        store,
        guard,
        organizations,
        tls_cert,
        tls_key,
        client_ca,
        insecure,
        bootstrap_token_file,
        trust_domain,
        rate_limit_per_identity,
        rate_limit_burst,
        max_objects_per_cluster,
        ledger,
        ui,
    } = args;
    log.init()?;
    if insecure && !listen.ip().is_loopback() {
        return Err(RunError::Flags(format!(
            "--insecure serves plaintext and is refused on {listen}; listen on 127.0.0.1 or give \
             --tls-cert and --tls-key"
        )));
    }
    if !insecure && tls_cert.is_none() {
        return Err(RunError::Flags(
            "give --tls-cert and --tls-key (and --client-ca for agents' mTLS), or --insecure on a \
             loopback address"
                .into(),
        ));
    }

    let store = Store::connect(&store.url).await?;
    let organizations: BTreeSet<String> = organizations.into_iter().collect();
    let limits = Limits {
        max_objects_per_cluster,
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let limiter = RateLimiter::new(rate_limit_per_identity, rate_limit_burst).map(Arc::new);
    // The engine hands these to the distributor and the sync service (`Engine::metrics`).
    let metrics = metrics::Metrics::register(&mut registry, limiter.as_deref());
    let engine = Engine::load_with(
        store.clone(),
        Organizations::Known(organizations),
        limits,
        metrics,
    )
    .await?;
    bootstrap_token(&store, &bootstrap_token_file).await?;

    let shutdown = Shutdown::new();
    let registry = Arc::new(Mutex::new(registry));
    let admin_addr = crate::runtime::admin::serve(admin.admin_listen, shutdown.clone(), registry)
        .await
        .map_err(io(format!("--admin-listen {}", admin.admin_listen)))?;

    let auth = Authenticator::new(store.clone(), trust_domain).with_rate_limit(limiter);
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| RunError::Flags(format!("reflection descriptor: {e}")))?;
    let config = services::config::ConfigApi {
        engine: engine.clone(),
        auth: auth.clone(),
        shutdown: shutdown.clone(),
    };
    let distributor = distribute::Distributor::new(engine.clone()).with_ledger(ledger.settings());
    distributor.run(&shutdown);
    let status = services::status::StatusApi {
        distributor: distributor.clone(),
        engine: engine.clone(),
        auth: auth.clone(),
    };
    let audit = services::audit::AuditApi {
        engine: engine.clone(),
        auth: auth.clone(),
    };
    let ledger_api = services::ledger::LedgerApi {
        engine: engine.clone(),
        auth: auth.clone(),
    };
    let guard = guard::DeletionGuard::new(&guard, store.clone());
    let nacks = ui::nacks::NackLog::default();
    let sync = services::sync::SyncApi {
        distributor: distributor.clone(),
        engine: engine.clone(),
        auth: auth.clone(),
        shutdown: shutdown.clone(),
        guard: guard.clone(),
        keepalive,
        nacks: nacks.clone(),
    };
    let console = match ui.ui_listen {
        None => None,
        Some(addr) => {
            let console = ui::Console {
                engine: engine.clone(),
                distributor: distributor.clone(),
                auth: auth.clone(),
                nacks,
                secure_cookie: ui.ui_secure_cookie,
                shutdown: shutdown.clone(),
            };
            Some(
                ui::serve(addr, console)
                    .await
                    .map_err(io(format!("--ui-listen {addr}")))?,
            )
        }
    };
    let clusters = services::cluster::ClusterApi {
        engine: engine.clone(),
        auth,
        guard,
        distributor: distributor.clone(),
    };
    health
        .set_serving::<ConfigServiceServer<services::config::ConfigApi>>()
        .await;
    // A black-holed connection (no RST) ends within interval + timeout of its last byte; the
    // sync stream's heartbeats cover proxies that answer PINGs themselves (runtime::keepalive).
    let router = Server::builder()
        .http2_keepalive_interval(Some(keepalive.keepalive_interval))
        .http2_keepalive_timeout(Some(keepalive.keepalive_timeout))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(ConfigServiceServer::new(config))
        .add_service(StatusServiceServer::new(status))
        .add_service(AuditServiceServer::new(audit))
        .add_service(LedgerServiceServer::new(ledger_api))
        .add_service(ClusterServiceServer::new(clusters))
        .add_service(AgentSyncServiceServer::new(sync));

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(io(format!("--listen {listen}")))?;
    let bound: SocketAddr = listener.local_addr().map_err(io("--listen"))?;
    tracing::info!(grpc = %bound, admin = %admin_addr, console = ?console, tls = !insecure, "management plane serving");
    shutdown.set_ready(true);

    let tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => {
            // The serving certificate and the client-CA bundle are both re-read on change.
            let reloading = crate::runtime::tls::ReloadingCert::load(&cert, &key)?;
            let config =
                crate::runtime::tls::ReloadingServerConfig::load(reloading, client_ca.as_deref())?;
            config.watch(&shutdown);
            Some(config.shared())
        }
        _ => None,
    };
    let signals = shutdown.clone();
    let stop = shutdown.clone();
    let serving = async move {
        match tls {
            None => {
                // Small request/response messages: without TCP_NODELAY, Nagle and delayed ACKs
                // add ~40 ms to every call.
                let incoming = tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    |accepted| accepted.and_then(|tcp| tcp.set_nodelay(true).map(|()| tcp)),
                );
                router
                    .serve_with_incoming_shutdown(incoming, stop.cancelled())
                    .await
            }
            Some(config) => {
                let incoming = crate::runtime::tls::incoming(listener, config, stop.clone());
                router
                    .serve_with_incoming_shutdown(incoming, stop.cancelled())
                    .await
            }
        }
    };
    let served = tokio::select! {
        served = serving => served,
        () = signals.on_signal() => Ok(()),
    };
    shutdown.begin();
    health
        .set_not_serving::<ConfigServiceServer<services::config::ConfigApi>>()
        .await;
    served?;
    if shutdown.drain(SHUTDOWN_GRACE).await {
        tracing::info!("management plane stopped");
        Ok(())
    } else {
        Err(RunError::Unclean(SHUTDOWN_GRACE))
    }
}

/// Reads the admin token from `path`, or generates one there (mode 0600), and makes sure the
/// store knows its hash.
async fn bootstrap_token(store: &Store, path: &Path) -> Result<(), RunError> {
    let secret = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
        Ok(_) => {
            return Err(RunError::Flags(format!(
                "--bootstrap-token-file {} is empty; delete it to have a token generated",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = new_token();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io(format!("--bootstrap-token-file {}", path.display())))?;
            writeln!(file, "{secret}").map_err(io(format!("writing {}", path.display())))?;
            tracing::info!(path = %path.display(), "generated the admin token");
            secret
        }
        Err(e) => return Err(io(format!("--bootstrap-token-file {}", path.display()))(e)),
    };
    let hash = token_hash(&secret);
    let token = TokenRecord {
        name: crate::server::auth::default_token_name("admin", &hash),
        hash,
        subject: "admin".into(),
        role: "admin".into(),
        scope: "*".into(),
        created: crate::server::engine::now(),
        revoked: None,
    };
    match store.create_token(token).await {
        Ok(()) | Err(crate::store::Error::AlreadyExists { .. }) => Ok(()),
        Err(other) => Err(other.into()),
    }
}
