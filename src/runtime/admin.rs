//! The admin listener: `/live`, `/ready` and `/metrics` (Prometheus text format).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::runtime::shutdown::Shutdown;

/// `--admin-listen`.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Address of the admin HTTP listener (`/live`, `/ready`, `/metrics`).
    #[arg(long, env = "TSBRIDGE_ADMIN_LISTEN", default_value = "0.0.0.0:9090")]
    pub admin_listen: SocketAddr,
}

#[derive(Clone)]
struct AdminState {
    shutdown: Shutdown,
    registry: Arc<Mutex<Registry>>,
}

/// Binds the admin listener and serves it until shutdown; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    shutdown: Shutdown,
    registry: Arc<Mutex<Registry>>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/live", get(|| async { "ok" }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(AdminState {
            shutdown: shutdown.clone(),
            registry,
        });
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("admin", %bound), async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "admin listener failed");
        }
    });
    Ok(bound)
}

/// `ready` or `not ready`, then one line per reason (`- reason: what and the fix`), then what
/// is wrong without failing readiness under `degraded:`.
async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    let ready = state.shutdown.is_ready();
    let mut body = String::from(if ready { "ready\n" } else { "not ready\n" });
    let mut section = |title: Option<&str>, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        if let Some(title) = title {
            body.push_str(title);
            body.push('\n');
        }
        for line in lines {
            body.push_str("- ");
            body.push_str(&line);
            body.push('\n');
        }
    };
    if state.shutdown.token().is_cancelled() {
        section(None, vec!["shutting_down: the process is stopping".into()]);
    }
    section(None, state.shutdown.pending());
    section(Some("degraded:"), state.shutdown.degraded());
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    let encoded = {
        let registry = state
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        prometheus_client::encoding::text::encode(&mut body, &registry)
    };
    match encoded {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "metrics encoding failed".to_string(),
        ),
    }
}
