//! `tsbridge.v1.AuditService`: query the append-only ledger.

use tonic::{Request, Response, Status};

use crate::proto::v1;
use crate::proto::v1::audit_service_server::AuditService;
use crate::server::auth::Authenticator;
use crate::server::convert::audit_to_proto;
use crate::server::engine::Engine;
use crate::server::error::to_status;
use crate::server::services::{caller, denied};
use crate::store::AuditQuery;

/// The audit service (admins only: the ledger spans every tenant).
#[derive(Debug, Clone)]
pub struct AuditApi {
    /// Store access.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn query(
        &self,
        request: Request<v1::AuditQuery>,
    ) -> Result<Response<v1::AuditResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "audit")
            .await
            .map_err(to_status)?;
        if let Err(error) = actor.require_admin() {
            return Err(to_status(
                denied(&self.engine, &actor, "audit", "", error).await,
            ));
        }
        let v1::AuditQuery {
            fqn_prefix,
            kind,
            actor: who,
            cluster,
            operation,
            since,
            until,
            limit,
            outcome,
            before_id,
            target_cluster,
        } = request.into_inner();
        let query = AuditQuery {
            fqn_prefix,
            // The API filters by prefix; an exact FQN is for histories (`LedgerService.History`).
            fqn: String::new(),
            kind,
            actor: who,
            cluster,
            operation,
            since,
            until,
            limit,
            outcome,
            before_id,
            target_cluster,
        };
        let entries = self
            .engine
            .store()
            .query_audit(&query)
            .await
            .map_err(|e| to_status(e.into()))?;
        let page = if limit == 0 { 1_000 } else { limit };
        let full = entries.len() == usize::try_from(page).unwrap_or(usize::MAX);
        Ok(Response::new(v1::AuditResponse {
            next_before_id: if full {
                entries.last().map_or(0, |e| e.id)
            } else {
                0
            },
            entries: entries.into_iter().map(audit_to_proto).collect(),
        }))
    }
}
