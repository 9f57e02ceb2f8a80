//! The read-only web console (`--ui-listen`): server-rendered pages over the same engine and
//! distributor calls as the gRPC API, with the API's bearer tokens, roles and scopes.
//!
//! One module per page (`hierarchy`, `object`, `clusters`, `activity`); each builds its page
//! data in a function of the engine and distributor (unit-tested without HTTP) and renders it
//! with `maud` templates (`layout`). `session` holds the login, the cookie and CSRF checks;
//! `events` the server-sent events that make pages refresh themselves. Nothing here writes
//! config: the only POSTs are login and logout. See `docs/console.md`.

pub mod activity;
pub mod clusters;
pub mod events;
pub mod fixture;
pub mod hierarchy;
pub mod history;
pub mod layout;
pub mod nacks;
pub mod object;
pub mod session;

use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::runtime::Shutdown;
use crate::server::auth::Authenticator;
use crate::server::distribute::Distributor;
use crate::server::engine::Engine;
use crate::server::error::Error;

/// Console flags of `tsbridge server`.
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// Serve the read-only web console on this address (plain HTTP: put it behind TLS, e.g. an
    /// ingress, or reach it through a port-forward); off when unset.
    #[arg(long, env = "TSBRIDGE_UI_LISTEN")]
    pub ui_listen: Option<SocketAddr>,
    /// Mark the console's cookies `Secure` (when browsers reach it over HTTPS).
    #[arg(long, env = "TSBRIDGE_UI_SECURE_COOKIE")]
    pub ui_secure_cookie: bool,
}

/// What every page reads from. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Console {
    /// Stored objects and the audit ledger.
    pub engine: Engine,
    /// Edge states and cluster delivery.
    pub distributor: Distributor,
    /// The API's tokens, roles and scopes.
    pub auth: Authenticator,
    /// NACK reasons this replica received.
    pub nacks: nacks::NackLog,
    /// Cookies get `Secure`.
    pub secure_cookie: bool,
    /// Ends the event streams.
    pub shutdown: Shutdown,
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/hierarchy") }),
        )
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/hierarchy", get(hierarchy::page))
        .route("/object", get(object::page))
        .route("/clusters", get(clusters::page))
        .route("/activity", get(activity::page))
        .route("/events", get(events::stream))
        .route("/console.css", get(css))
        .route("/console.js", get(js))
        .layer(axum::middleware::map_response(harden))
        .with_state(console)
}

/// Serves the console on `addr` until shutdown; returns the bound address.
pub async fn serve(addr: SocketAddr, console: Console) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let shutdown = console.shutdown.clone();
    let stop = shutdown.clone();
    let app = router(console);
    shutdown.spawn(tracing::info_span!("console", %bound), async move {
        // The peer address rate-limits the audit rows of refused logins.
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "console listener failed");
        }
    });
    Ok(bound)
}

/// Security headers on every response: no framing, no inline script, no sniffing, no caching
/// of pages that carry scoped data.
async fn harden(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("console.js"),
    )
}

/// An error page: the API's error mapped to an HTTP status, its message shown (the same text
/// `ctl` would print; internal details stay in the log).
pub(crate) fn error_page(error: Error) -> Response {
    let status = match &error {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::PermissionDenied(_) => StatusCode::FORBIDDEN,
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!(%error, "console page failed");
        "internal error (see the management plane's log)".to_string()
    } else {
        error.to_string()
    };
    (status, layout::error(status, &message)).into_response()
}

#[cfg(test)]
mod tests;
