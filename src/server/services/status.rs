//! `tsbridge.v1.StatusService`: the management plane's status of objects and subtrees.
//!
//! Every stored object is ACCEPTED until distribution reports per-cluster edge states; parents
//! aggregate their children (tsb-model.md §5.6).

use std::collections::BTreeMap;
use std::ops::Bound;

use tonic::{Request, Response, Status};

use crate::model::catalogue;
use crate::model::diagnostic::ObjectRef;
use crate::model::status::{Aggregate, EdgeState, aggregate};
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

/// One object's status: its own from the clusters' edge states (ACCEPTED until a cluster
/// reports); a parent's from its subtree's (tsb-model.md §5.6, `docs/status.md`).
/// `subtree` is the record itself and its descendants in FQN order, each with its edges.
fn status_of(
    distributor: &Distributor,
    record: &Record,
    subtree: &[(&str, &BTreeMap<String, EdgeState>)],
) -> v1::ResourceStatus {
    let own_state = distributor.object_state(&record.fqn);
    let own_edges = subtree.first().map(|(_, e)| *e);
    let parent = if subtree.len() > 1 {
        aggregate(subtree.iter().copied())
    } else {
        None
    };
    let (status, last_event, message, edges) = match parent {
        Some(parent) => (
            parent.status.as_str().to_string(),
            parent.last_event.as_str().to_string(),
            parent.message,
            parent.edges,
        ),
        None => {
            let edges = own_edges.cloned().unwrap_or_default();
            let message = if edges.is_empty() {
                "stored and validated; no cluster has reported it yet".to_string()
            } else {
                format!(
                    "applied in {} of {} clusters",
                    own_state.clusters_applied, own_state.clusters_targeted
                )
            };
            (own_state.status, own_state.last_event, message, edges)
        }
    };
    let clusters: Vec<v1::EdgeStatus> = edges
        .into_iter()
        .map(|(cluster, edge)| v1::EdgeStatus {
            cluster,
            state: edge.as_str().to_string(),
            message: String::new(),
            revision: 0,
        })
        .collect();
    v1::ResourceStatus {
        warnings: not_enforced(record),
        fqn: record.fqn.clone(),
        status,
        last_event,
        message,
        etag: record.etag.clone(),
        revision: u64::try_from(record.revision).unwrap_or_default(),
        clusters,
        translation_warnings: own_state.translation_warnings,
    }
}

/// A parent's `ObjectState` for its CR (`docs/status.md`): `own` (what
/// `Distributor::object_state` computes from the parent's own edges; its warnings and
/// `provisional` stay) with the status, event and counts of its subtree's aggregate, when
/// something below it targets a cluster. The distributor calls it with
/// `model::status::aggregate` over the parent's and its descendants' edges.
pub fn parent_object_state(own: v1::ObjectState, subtree: Option<&Aggregate>) -> v1::ObjectState {
    match subtree {
        None => own,
        Some(parent) => v1::ObjectState {
            status: parent.status.as_str().into(),
            last_event: parent.last_event.as_str().into(),
            clusters_applied: parent.clusters.applied,
            clusters_targeted: parent.clusters.targeted,
            ..own
        },
    }
}

/// `fqn` and its descendants with their edges, in FQN order: everything from `fqn` to just
/// before `fqn0` ('0' follows '/'), but not a sibling such as `fqn-x`.
fn subtree<'a>(edges: &'a Edges<'a>, fqn: &str) -> Vec<(&'a str, &'a BTreeMap<String, EdgeState>)> {
    let end = format!("{fqn}0");
    edges
        .range::<str, _>((Bound::Included(fqn), Bound::Excluded(end.as_str())))
        .filter(|(f, _)| **f == fqn || f.as_bytes().get(fqn.len()) == Some(&b'/'))
        .map(|(f, e)| (*f, e))
        .collect()
}

/// Each record's per-cluster edge states, by FQN.
type Edges<'a> = BTreeMap<&'a str, BTreeMap<String, EdgeState>>;

/// The fields of `record` that are accepted but not enforced (the catalogue's TSB1106), so
/// `ctl status` names them as `validate`, admission and the CR status do.
pub(crate) fn not_enforced(record: &Record) -> Vec<v1::Diagnostic> {
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
        let (_, records) = self.engine.list(prefix, None, true).await?;
        let own = self.engine.get(prefix).await.ok();
        // Each record's edges once, in FQN order: a subtree is a range of this map.
        let edges: Edges<'_> = own
            .iter()
            .chain(&records)
            .map(|r| (r.fqn.as_str(), self.distributor.edges(&r.fqn)))
            .collect();
        Ok(own
            .iter()
            .chain(&records)
            .map(|record| status_of(&self.distributor, record, &subtree(&edges, &record.fqn)))
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
    fn a_parents_object_state_carries_its_subtrees_counts() {
        let own = v1::ObjectState {
            status: "ACCEPTED".into(),
            last_event: "XCP_ACCEPTED".into(),
            provisional: true,
            ..Default::default()
        };
        assert_eq!(parent_object_state(own.clone(), None), own);
        let both: BTreeMap<String, EdgeState> =
            [("a", EdgeState::Applied), ("b", EdgeState::Applied)]
                .into_iter()
                .map(|(c, s)| (c.to_string(), s))
                .collect();
        let subtree = aggregate([("organizations/acme/tenants/t/workspaces/ws/x", &both)]);
        let state = parent_object_state(own, subtree.as_ref());
        assert_eq!(
            (state.status.as_str(), state.last_event.as_str()),
            ("READY", "XCP_APPLIED")
        );
        assert_eq!((state.clusters_applied, state.clusters_targeted), (2, 2));
        assert!(state.provisional);
    }

    #[test]
    fn a_subtree_is_the_object_and_its_descendants_not_its_siblings() {
        let names = [
            "organizations/acme/tenants/t/workspaces/ws",
            "organizations/acme/tenants/t/workspaces/ws-x",
            "organizations/acme/tenants/t/workspaces/ws-x/trafficgroups/tg",
            "organizations/acme/tenants/t/workspaces/ws/trafficgroups/tg",
            "organizations/acme/tenants/t/workspaces/ws/trafficgroups/tg/settings/ts",
            "organizations/acme/tenants/t/workspaces/ws0",
            "organizations/acme/tenants/t/workspaces/w",
        ];
        let edges: Edges<'_> = names.iter().map(|n| (*n, BTreeMap::new())).collect();
        let found: Vec<&str> = subtree(&edges, names[0]).iter().map(|(f, _)| *f).collect();
        assert_eq!(found, [names[0], names[3], names[4]]);
        let leaf: Vec<&str> = subtree(&edges, names[4]).iter().map(|(f, _)| *f).collect();
        assert_eq!(leaf, [names[4]]);
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
