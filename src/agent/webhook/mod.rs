//! The validating admission webhook (issue 5 item 4; gitops-contract.md §2 B, G-6..G-8, G-11).
//!
//! HTTPS on `--webhook-listen`, `POST /validate`, `AdmissionReview` v1 in and out. The verdict
//! comes from the model's L1 rules alone ([`review::review`]): no I/O besides answering, the
//! same answer for dry-runs, nothing read from the cluster or the management plane. The serving
//! certificate is re-read when its files change, so rotation never needs a restart.

mod metrics;
pub mod review;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

use crate::runtime::shutdown::Shutdown;
use crate::runtime::tls::{self, ReloadingCert};

pub use metrics::{RequestLabels, WebhookMetrics};

/// An `AdmissionReview` carries the object and the old object (each up to etcd's 1.5 MiB).
const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// How long open connections get to finish in-flight requests once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

/// `--webhook-listen`, `--webhook-cert`, `--webhook-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct WebhookArgs {
    /// Address of the validating admission webhook's HTTPS listener.
    #[arg(long, env = "TSBRIDGE_WEBHOOK_LISTEN", default_value = "0.0.0.0:9443")]
    pub webhook_listen: SocketAddr,
    /// PEM certificate chain the webhook serves; re-read when the file changes.
    #[arg(long, env = "TSBRIDGE_WEBHOOK_CERT", requires = "webhook_key")]
    pub webhook_cert: Option<PathBuf>,
    /// PEM private key of `--webhook-cert`; re-read when the file changes.
    #[arg(long, env = "TSBRIDGE_WEBHOOK_KEY", requires = "webhook_cert")]
    pub webhook_key: Option<PathBuf>,
}

impl WebhookArgs {
    /// True when a certificate and key are configured (without them no webhook is served).
    pub fn enabled(&self) -> bool {
        self.webhook_cert.is_some() && self.webhook_key.is_some()
    }
}

/// Why the webhook could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--webhook-cert` / `--webhook-key` are not set.
    #[error("the webhook needs --webhook-cert and --webhook-key")]
    NotConfigured,
    /// The certificate or key is unusable.
    #[error("webhook TLS: {0}")]
    Tls(#[from] tls::Error),
    /// The listen address could not be bound.
    #[error("binding the webhook listener {addr}: {source}")]
    Bind {
        /// `--webhook-listen`.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// The label for a counter of this error (style guide §3.2).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NotConfigured => "not_configured",
            Error::Tls(_) => "tls",
            Error::Bind { .. } => "bind",
        }
    }
}

/// Loads the key pair, binds `--webhook-listen` and serves until shutdown; returns the bound
/// address (port 0 picks a free port). The certificate files are polled for changes.
pub async fn serve(
    args: &WebhookArgs,
    metrics: WebhookMetrics,
    shutdown: Shutdown,
) -> Result<SocketAddr, Error> {
    let WebhookArgs {
        webhook_listen,
        webhook_cert,
        webhook_key,
    } = args;
    let (Some(cert_path), Some(key_path)) = (webhook_cert, webhook_key) else {
        return Err(Error::NotConfigured);
    };
    let cert = ReloadingCert::load(cert_path, key_path)?;
    let mut config = tls::server_config(Arc::clone(&cert), None)?;
    // The apiserver may speak either; hyper's auto builder serves both.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let listener = tokio::net::TcpListener::bind(webhook_listen)
        .await
        .map_err(|source| Error::Bind {
            addr: *webhook_listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind {
        addr: *webhook_listen,
        source,
    })?;
    cert.watch(&shutdown);
    let config = Arc::new(arc_swap::ArcSwap::from_pointee(config));
    let incoming = tls::incoming(listener, config, shutdown.clone());
    let app = router(metrics);
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("webhook", %bound), async move {
        tracing::info!("serving admission reviews");
        let mut incoming = std::pin::pin!(incoming);
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => break,
                next = incoming.next() => match next {
                    Some(Ok(stream)) => stream,
                    Some(Err(error)) => {
                        tracing::debug!(%error, "TLS stream failed");
                        continue;
                    }
                    None => break,
                },
            };
            let peer = stream.get_ref().0.peer_addr().ok();
            let connection = serve_connection(stream, app.clone(), stop.clone());
            stop.spawn(tracing::debug_span!("webhook-conn", ?peer), connection);
        }
    });
    Ok(bound)
}

/// The HTTP routes, without TLS (the pure handler behind the listener).
pub fn router(metrics: WebhookMetrics) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Arc::new(metrics))
}

async fn serve_connection<S>(stream: S, app: Router, stop: Shutdown)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    let mut connection = std::pin::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(DRAIN, connection.as_mut()).await {
                Ok(served) => served,
                Err(_) => return,
            }
        }
    };
    if let Err(error) = served {
        tracing::debug!(%error, "connection ended");
    }
}

async fn validate(State(metrics): State<Arc<WebhookMetrics>>, body: Bytes) -> Response {
    let started = Instant::now();
    let (kind, verdict) = match review::decode(&body) {
        Ok(request) => (request.kind.kind.clone(), review::review(request)),
        Err(error) => match review::too_deep(&body, &error) {
            Some(judged) => judged,
            None => {
                metrics.record_malformed();
                tracing::debug!(%error, "malformed admission request");
                return (StatusCode::BAD_REQUEST, error.to_string()).into_response();
            }
        },
    };
    let allowed = verdict.allowed();
    let labels = RequestLabels {
        kind,
        operation: verdict.operation,
    };
    if !allowed {
        tracing::debug!(kind = %labels.kind, operation = labels.operation, "denied");
    }
    let body = match serde_json::to_vec(&verdict.response.into_review()) {
        Ok(body) => body,
        Err(error) => {
            // Unreachable for the types involved; never panic on a request path.
            tracing::warn!(%error, "encoding the admission response failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    metrics.record(&labels, allowed, started.elapsed().as_secs_f64());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
