//! `tsbridge.v1.StatusService`: the management plane's status of objects and subtrees.
//!
//! Every stored object is ACCEPTED until distribution reports per-cluster edge states; parents
//! aggregate their children (tsb-model.md §5.6).

use tonic::{Request, Response, Status};

use crate::model::catalogue;
use crate::model::diagnostic::ObjectRef;
use crate::model::status::{MpStatus, aggregate_status};
use crate::model::{Fqn, Kind};
use crate::proto::v1;
use crate::proto::v1::status_service_server::StatusService;
use crate::server::auth::Authenticator;
use crate::server::distribute::Distributor;
use crate::server::engine::Engine;
use crate::server::engine::kind_name;
use crate::server::error::{Error, diagnostic_to_proto, to_status};
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
        warnings: not_enforced(record),
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

/// The fields of `record` that are accepted but not enforced (the catalogue's TSB1106), so
/// `ctl status` names them as `validate`, admission and the CR status do.
fn not_enforced(record: &Record) -> Vec<v1::Diagnostic> {
    let Some(kind) = Kind::from_api_version(&record.api_version, kind_name(&record.kind)) else {
        return Vec::new();
    };
    let mut object = ObjectRef::new(kind, &record.name, record.namespace.as_deref());
    if let Ok(fqn) = record.fqn.parse::<Fqn>() {
        object = object.with_fqn(fqn);
    }
    let mut found = Vec::new();
    catalogue::not_enforced(kind, &record.spec, &object, &mut found);
    found.iter().map(diagnostic_to_proto).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(spec: serde_json::Value) -> Record {
        Record {
            fqn: "organizations/acme/tenants/shop".into(),
            kind: "Tenant.tsb.tetrate.io".into(),
            api_version: "tsb.tetrate.io/v2".into(),
            name: "shop".into(),
            parent_fqn: Some("organizations/acme".into()),
            namespace: None,
            spec,
            labels: Default::default(),
            annotations: Default::default(),
            origin: serde_json::Value::Null,
            content_hash: String::new(),
            etag: String::new(),
            revision: 1,
        }
    }

    #[test]
    fn the_status_names_each_field_that_is_not_enforced() {
        let warnings = not_enforced(&tenant(serde_json::json!({
            "displayName": "Shop", "securityDomain": "organizations/acme/securitydomains/x"
        })));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].rule, "TSB1106");
        assert_eq!(warnings[0].severity, "warning");
        assert_eq!(warnings[0].field, "spec.securityDomain");
        assert!(
            warnings[0].message.contains("security domains"),
            "{warnings:?}"
        );
        assert!(warnings[0].object.contains("shop"), "{warnings:?}");
        assert!(not_enforced(&tenant(serde_json::json!({"displayName": "Shop"}))).is_empty());
    }
}
