//! `tsbridge.v1.StatusService`: the management plane's status of objects and subtrees.
//!
//! Every stored object is ACCEPTED until distribution reports per-cluster edge states; parents
//! aggregate their children (tsb-model.md §5.6).

use tonic::{Request, Response, Status};

use crate::model::Fqn;
use crate::model::status::{MpStatus, aggregate_status};
use crate::proto::v1;
use crate::proto::v1::status_service_server::StatusService;
use crate::server::auth::Authenticator;
use crate::server::distribute::Distributor;
use crate::server::engine::Engine;
use crate::server::error::{Error, to_status};
use crate::server::services::caller;
use crate::store::Record;

/// The status service.
#[derive(Debug, Clone)]
pub struct StatusApi {
    /// Per-cluster edge states.
    pub distributor: Distributor,
    /// Index of stored objects.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
}

fn status_name(status: MpStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{status:?}").to_uppercase())
}

/// An object's status given every record below it.
fn parse_status(text: &str) -> MpStatus {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .unwrap_or(MpStatus::Accepted)
}

/// One object's status: its own from the clusters' edge states (ACCEPTED until a cluster
/// reports), aggregated with its descendants' for parents (tsb-model.md §5.6).
fn status_of(
    distributor: &Distributor,
    record: &Record,
    descendants: &[&Record],
) -> v1::ResourceStatus {
    let own_state = distributor.object_state(&record.fqn);
    let own = parse_status(&own_state.status);
    let children = descendants
        .iter()
        .map(|d| parse_status(&distributor.object_state(&d.fqn).status));
    let status = aggregate_status(own, children);
    let clusters: Vec<v1::EdgeStatus> = distributor
        .edges(&record.fqn)
        .into_iter()
        .map(|(cluster, edge)| v1::EdgeStatus {
            cluster,
            state: serde_json::to_value(edge)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            message: String::new(),
            revision: 0,
        })
        .collect();
    let message = if clusters.is_empty() {
        "stored and validated; no cluster has reported it yet".to_string()
    } else {
        format!(
            "applied in {} of {} clusters",
            own_state.clusters_applied, own_state.clusters_targeted
        )
    };
    v1::ResourceStatus {
        fqn: record.fqn.clone(),
        status: status_name(status),
        last_event: own_state.last_event,
        message,
        etag: record.etag.clone(),
        revision: u64::try_from(record.revision).unwrap_or_default(),
        clusters,
        translation_warnings: own_state.translation_warnings,
    }
}

impl StatusApi {
    async fn statuses(&self, prefix: &str) -> Result<Vec<v1::ResourceStatus>, Error> {
        let (_, records) = self.engine.list("", None, true).await?;
        let below = format!("{prefix}/");
        let selected: Vec<&Record> = records
            .iter()
            .filter(|r| r.fqn == prefix || r.fqn.starts_with(&below))
            .collect();
        Ok(selected
            .iter()
            .map(|record| {
                let own_below = format!("{}/", record.fqn);
                let descendants: Vec<&Record> = records
                    .iter()
                    .filter(|r| r.fqn.starts_with(&own_below))
                    .collect();
                status_of(&self.distributor, record, &descendants)
            })
            .collect())
    }
}

#[tonic::async_trait]
impl StatusService for StatusApi {
    async fn get_status(
        &self,
        request: Request<v1::GetStatusRequest>,
    ) -> Result<Response<v1::ResourceStatus>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "status")
            .await
            .map_err(to_status)?;
        let fqn = request.into_inner().fqn;
        let parsed: Fqn = fqn.parse().map_err(|e: crate::model::FqnError| {
            to_status(Error::BadRequest(format!("fqn {fqn:?}: {e}")))
        })?;
        actor.authorize_read(&parsed).map_err(to_status)?;
        self.statuses(&fqn)
            .await
            .map_err(to_status)?
            .into_iter()
            .find(|s| s.fqn == fqn)
            .map(Response::new)
            .ok_or_else(|| to_status(Error::NotFound(fqn)))
    }

    async fn search_status(
        &self,
        request: Request<v1::SearchStatusRequest>,
    ) -> Result<Response<v1::SearchStatusResponse>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "status")
            .await
            .map_err(to_status)?;
        let prefix = request.into_inner().fqn_prefix;
        let statuses = self
            .statuses(&prefix)
            .await
            .map_err(to_status)?
            .into_iter()
            .filter(|s| {
                s.fqn
                    .parse::<Fqn>()
                    .is_ok_and(|fqn| actor.authorize_read(&fqn).is_ok())
            })
            .collect();
        Ok(Response::new(v1::SearchStatusResponse { statuses }))
    }
}
