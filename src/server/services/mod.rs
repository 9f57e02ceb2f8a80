//! One gRPC service per file; each maps errors through `server::error::to_status`.

pub mod audit;
pub mod cluster;
pub mod config;
pub mod ledger;
pub mod status;
pub mod sync;

use crate::server::auth::{Actor, Authenticator};
use crate::server::engine::Engine;
use crate::server::error::Error;

/// Authenticates and rate-limits a request; a failure is audited (who tried what) before it
/// is returned, a rate-limit refusal once per episode of refusals, failed authentications up
/// to the rate per peer address.
pub(crate) async fn caller<T>(
    auth: &Authenticator,
    engine: &Engine,
    request: &tonic::Request<T>,
    operation: &str,
) -> Result<Actor, Error> {
    match auth.authenticate(request).await {
        Ok(actor) => match auth.admit(&actor) {
            Ok(()) => Ok(actor),
            Err(refusal) if refusal.first => {
                Err(denied(engine, &actor, operation, "", refusal.error).await)
            }
            Err(refusal) => Err(refusal.error),
        },
        Err(error) => {
            unauthenticated(auth, engine, request.remote_addr(), operation, &error).await?;
            Err(error)
        }
    }
}

/// Audits a failed authentication (API call or console login) as `anonymous`, `rejected`,
/// with the reason; up to the rate limit per peer address (`None`: unknown), so a client
/// hammering with a bad or revoked token cannot flood the ledger.
pub(crate) async fn unauthenticated(
    auth: &Authenticator,
    engine: &Engine,
    peer: Option<std::net::SocketAddr>,
    operation: &str,
    error: &Error,
) -> Result<(), Error> {
    if !auth.audit_failure(peer) {
        return Ok(());
    }
    let mut entry = engine.audit_entry(
        &Actor::User {
            subject: "anonymous".into(),
            role: crate::server::auth::Role::Viewer,
            scope: None,
        },
        operation,
        "",
        "",
    );
    entry.outcome = "rejected".into();
    entry.message = error.to_string();
    engine.store().append_audit(entry).await?;
    Ok(())
}

/// Audits a refusal of an authenticated caller (permission, rate limit) and returns it.
pub(crate) async fn denied(
    engine: &Engine,
    actor: &Actor,
    operation: &str,
    fqn: &str,
    error: Error,
) -> Error {
    let mut entry = engine.audit_entry(actor, operation, fqn, "");
    entry.outcome = "rejected".into();
    entry.message = error.to_string();
    if let Err(store_error) = engine.store().append_audit(entry).await {
        return store_error.into();
    }
    error
}
