//! The input-abuse catalogue (issue 17 part 4, `docs/abuse.md`): hostile input through the real
//! binaries. Every case checks three things: the error names the object and the field (or the
//! identity and the limit), a denial leaves exactly one audit row, and nothing else moves: the
//! management plane's objects (FQN, etag, revision) and the cluster's objects are as before.
//!
//! * [`objects`]: oversize, deep, long, odd and mistyped objects through the gRPC API and
//!   `ctl apply`, 10,000 objects in one apply, and the PostgreSQL NUL regression.
//! * [`files`]: duplicate keys, bad bytes, deep YAML and a wrong type in every field of every
//!   CRD, through `tsbridge validate` and `ctl apply`.
//! * [`identity`]: a cluster identity trying another cluster's objects, and a flood of pushes.
//! * [`certs`]: expired and rotated server and client certificates, the client CA included.
//! * [`tokens`]: `ctl token list` / `revoke`, on one SQLite replica and two PostgreSQL ones.
//! * [`cluster`]: the same abuse through a real kube-apiserver, the agent's webhook and agent.

mod certs;
mod cluster;
mod files;
mod identity;
mod objects;
mod tokens;

use std::collections::BTreeMap;

use prost::Message;
use serde_json::{Value, json};
use tsbridge::proto::convert::json_to_struct;
use tsbridge::proto::v1;

use crate::support::mp::{Clients, audit_entries};

/// The organization every test MP manages.
pub const ORG: &str = "organizations/acme";

/// What the management plane holds: every object's etag and revision, and the audit ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct MpState {
    /// FQN → (etag, revision).
    pub objects: BTreeMap<String, (String, u64)>,
    /// Audit rows, oldest first.
    pub audit: Vec<v1::AuditEntry>,
}

impl MpState {
    /// Reads it through the API with an admin client.
    pub async fn of(api: &Clients) -> MpState {
        let mut api = api.clone();
        let listed = api
            .config
            .list(v1::ListRequest {
                recursive: true,
                ..Default::default()
            })
            .await
            .expect("list everything")
            .into_inner();
        let objects = listed
            .resources
            .into_iter()
            .map(|r| (r.fqn, (r.etag, r.revision)))
            .collect();
        let mut audit = audit_entries(&api).await;
        audit.reverse();
        MpState { objects, audit }
    }

    /// Asserts that the objects are as in `self` and that the ledger only grew by rows that
    /// `expected` accepts, `count` of them; returns the new rows.
    pub async fn assert_unmoved(
        &self,
        api: &Clients,
        count: usize,
        what: &str,
    ) -> Vec<v1::AuditEntry> {
        let now = MpState::of(api).await;
        assert_eq!(
            now.objects, self.objects,
            "{what}: the management plane's objects moved"
        );
        assert!(
            now.audit.starts_with(&self.audit),
            "{what}: the ledger was rewritten"
        );
        let new = now.audit[self.audit.len()..].to_vec();
        assert_eq!(new.len(), count, "{what}: audit rows added: {new:#?}");
        new
    }
}

/// The diagnostics a refusal carries.
pub fn diagnostics(status: &tonic::Status) -> Vec<v1::Diagnostic> {
    v1::Diagnostics::decode(status.details())
        .map(|d| d.diagnostics)
        .unwrap_or_default()
}

/// An API write of `kind` `name` under `parent` with `spec`.
pub fn resource(
    api_version: &str,
    kind: &str,
    parent: &str,
    name: &str,
    spec: Value,
) -> v1::Resource {
    v1::Resource {
        api_version: api_version.into(),
        kind: kind.into(),
        name: name.into(),
        parent_fqn: parent.into(),
        spec: Some(json_to_struct(&spec)),
        ..Default::default()
    }
}

/// A tenant of `acme`.
pub fn tenant(name: &str) -> v1::Resource {
    resource(
        "tsb.tetrate.io/v2",
        "Tenant",
        ORG,
        name,
        json!({ "displayName": name }),
    )
}

/// A workspace of tenant `tenant` selecting `*/<name>`.
pub fn workspace(tenant: &str, name: &str) -> v1::Resource {
    resource(
        "tsb.tetrate.io/v2",
        "Workspace",
        &format!("{ORG}/tenants/{tenant}"),
        name,
        json!({ "namespaceSelector": { "names": [format!("*/{name}")] } }),
    )
}

/// An apply request of `resource`.
pub fn apply(resource: v1::Resource) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(resource),
        ..Default::default()
    }
}

/// `{"a": {"a": … "leaf" }}` with `depth` objects.
pub fn nested(depth: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = Value::Object([("a".to_string(), value)].into_iter().collect());
    }
    value
}

/// The resident memory of process `pid`, bytes (Linux).
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("VmRSS")
        * 1024
}
