//! `tsbridge.v1.ConfigService`: apply, get, list, delete, watch.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status};

use crate::model::Fqn;
use crate::proto::v1;
use crate::proto::v1::config_service_server::ConfigService;
use crate::runtime::Shutdown;
use crate::server::auth::Authenticator;
use crate::server::convert::{proto_to_envelope, record_to_proto};
use crate::server::engine::{ApplyInput, Engine};
use crate::server::error::{Error, diagnostic_to_proto, to_status};
use crate::server::services::{caller, denied};

/// The config service.
#[derive(Debug, Clone)]
pub struct ConfigApi {
    /// Write path and index.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
    /// Ends watch streams.
    pub shutdown: Shutdown,
}

fn parse_fqn(text: &str) -> Result<Fqn, Error> {
    text.parse()
        .map_err(|e: crate::model::FqnError| Error::BadRequest(format!("fqn {text:?}: {e}")))
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<v1::WatchEvent, Status>> + Send>>;

#[tonic::async_trait]
impl ConfigService for ConfigApi {
    async fn apply(
        &self,
        request: Request<v1::ApplyRequest>,
    ) -> Result<Response<v1::ApplyResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "apply")
            .await
            .map_err(to_status)?;
        let v1::ApplyRequest {
            resource,
            dry_run,
            expected_etag,
            force,
        } = request.into_inner();
        let resource =
            resource.ok_or_else(|| to_status(Error::BadRequest("resource is required".into())))?;
        let envelope = proto_to_envelope(&resource);
        let input = ApplyInput {
            envelope,
            dry_run,
            expected_etag,
            force,
            origin: None,
        };
        match self.engine.apply(&actor, input).await {
            Ok(applied) => Ok(Response::new(v1::ApplyResponse {
                resource: Some(record_to_proto(&applied.record)),
                created: applied.created,
                warnings: applied.warnings.iter().map(diagnostic_to_proto).collect(),
            })),
            // Refusals are audited by the engine.
            Err(error) => Err(to_status(error)),
        }
    }

    async fn get(
        &self,
        request: Request<v1::GetRequest>,
    ) -> Result<Response<v1::Resource>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "get")
            .await
            .map_err(to_status)?;
        let fqn = request.into_inner().fqn;
        let parsed = parse_fqn(&fqn).map_err(to_status)?;
        if let Err(error) = actor.authorize_read(&parsed) {
            return Err(to_status(
                denied(&self.engine, &actor, "get", &fqn, error).await,
            ));
        }
        let record = self.engine.get(&fqn).await.map_err(to_status)?;
        Ok(Response::new(record_to_proto(&record)))
    }

    async fn list(
        &self,
        request: Request<v1::ListRequest>,
    ) -> Result<Response<v1::ListResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "list")
            .await
            .map_err(to_status)?;
        let v1::ListRequest {
            parent_fqn,
            kind,
            recursive,
        } = request.into_inner();
        if !parent_fqn.is_empty() {
            let parent = parse_fqn(&parent_fqn).map_err(to_status)?;
            if let Err(error) = actor.authorize_read(&parent) {
                return Err(to_status(
                    denied(&self.engine, &actor, "list", &parent_fqn, error).await,
                ));
            }
        }
        let kind = if kind.is_empty() {
            None
        } else {
            Some(
                crate::model::Kind::resolve(&kind)
                    .map_err(|e| to_status(Error::BadRequest(format!("kind {kind:?}: {e}"))))?,
            )
        };
        let (revision, records) = self
            .engine
            .list(&parent_fqn, kind, recursive)
            .await
            .map_err(to_status)?;
        let resources = records
            .iter()
            .filter(|r| {
                r.fqn
                    .parse::<Fqn>()
                    .is_ok_and(|fqn| actor.authorize_read(&fqn).is_ok())
            })
            .map(record_to_proto)
            .collect();
        Ok(Response::new(v1::ListResponse {
            resources,
            revision: u64::try_from(revision).unwrap_or_default(),
        }))
    }

    async fn delete(
        &self,
        request: Request<v1::DeleteRequest>,
    ) -> Result<Response<v1::DeleteResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "delete")
            .await
            .map_err(to_status)?;
        let v1::DeleteRequest {
            fqn,
            force,
            dry_run,
            expected_etag,
        } = request.into_inner();
        match self
            .engine
            .delete(&actor, &fqn, force, dry_run, &expected_etag)
            .await
        {
            Ok(deleted) => Ok(Response::new(v1::DeleteResponse {
                deleted: deleted.fqns,
                revision: u64::try_from(deleted.revision).unwrap_or_default(),
            })),
            Err(error) => Err(to_status(error)),
        }
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<v1::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "watch")
            .await
            .map_err(to_status)?;
        let v1::WatchRequest {
            fqn_prefix,
            from_revision,
        } = request.into_inner();
        if !fqn_prefix.is_empty() {
            let prefix = parse_fqn(&fqn_prefix).map_err(to_status)?;
            actor.authorize_read(&prefix).map_err(to_status)?;
        }
        let store = self.engine.store().clone();
        let shutdown = self.shutdown.clone();
        let mut revisions = store.subscribe();
        let mut after = i64::try_from(from_revision).unwrap_or(i64::MAX);
        let below = format!("{fqn_prefix}/");
        let stream = async_stream::try_stream! {
            loop {
                let changes = store
                    .changes_since(after, 500)
                    .await
                    .map_err(|e| to_status(e.into()))?;
                let caught_up = changes.len() < 500;
                for change in changes {
                    after = change.revision;
                    let visible = fqn_prefix.is_empty()
                        || change.fqn == fqn_prefix
                        || change.fqn.starts_with(&below);
                    let readable = change
                        .fqn
                        .parse::<Fqn>()
                        .is_ok_and(|fqn| actor.authorize_read(&fqn).is_ok());
                    if !(visible && readable) {
                        continue;
                    }
                    let (event_type, resource) = match &change.record {
                        Some(record) => (v1::watch_event::Type::Upsert, Some(record_to_proto(record))),
                        None => (v1::watch_event::Type::Delete, None),
                    };
                    yield v1::WatchEvent {
                        r#type: event_type as i32,
                        fqn: change.fqn.clone(),
                        revision: u64::try_from(change.revision).unwrap_or_default(),
                        resource,
                    };
                }
                if caught_up {
                    // Streams end on shutdown, or serve_with_incoming_shutdown never returns.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        changed = revisions.changed() => if changed.is_err() { break },
                    }
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }
}
