//! Wire ⇄ store ⇄ model conversions of the server.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::object::EnvelopeInput;
use crate::proto::convert::{json_to_struct, struct_to_json};
use crate::proto::v1;
use crate::store::{AuditEntry, Record};

/// A stored record on the wire.
pub fn record_to_proto(record: &Record) -> v1::Resource {
    let origin = if let Some(cluster) = record.origin.get("cluster").and_then(Value::as_str) {
        let text = |key: &str| {
            record
                .origin
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(v1::origin::Source::Gitops(v1::GitOpsOrigin {
            cluster: cluster.to_string(),
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
            generation: record
                .origin
                .get("generation")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            provenance: text("provenance"),
            observed_at: None,
            deletion_policy: text("deletionPolicy"),
        }))
    } else {
        record
            .origin
            .get("apiUser")
            .and_then(Value::as_str)
            .map(|user| v1::origin::Source::ApiUser(user.to_string()))
    };
    v1::Resource {
        fqn: record.fqn.clone(),
        api_version: record.api_version.clone(),
        kind: record
            .kind
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string(),
        name: record.name.clone(),
        parent_fqn: record.parent_fqn.clone().unwrap_or_default(),
        spec: Some(json_to_struct(&record.spec)),
        labels: record.labels.clone().into_iter().collect(),
        annotations: record.annotations.clone().into_iter().collect(),
        etag: record.etag.clone(),
        revision: u64::try_from(record.revision).unwrap_or_default(),
        origin: origin.map(|source| v1::Origin {
            source: Some(source),
        }),
        namespace: record.namespace.clone().unwrap_or_default(),
    }
}

/// An API write as the model's envelope.
pub fn proto_to_envelope(resource: &v1::Resource) -> EnvelopeInput {
    EnvelopeInput {
        api_version: resource.api_version.clone(),
        kind: resource.kind.clone(),
        parent: resource.parent_fqn.clone(),
        name: resource.name.clone(),
        namespace: (!resource.namespace.is_empty()).then(|| resource.namespace.clone()),
        spec: resource
            .spec
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_else(|| Value::Object(Default::default())),
        labels: resource
            .labels
            .clone()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        annotations: resource
            .annotations
            .clone()
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
    }
}

/// An audit row on the wire.
pub fn audit_to_proto(entry: AuditEntry) -> v1::AuditEntry {
    v1::AuditEntry {
        id: entry.id,
        time: entry.time,
        actor: entry.actor,
        origin_json: if entry.origin.is_null() {
            String::new()
        } else {
            entry.origin.to_string()
        },
        operation: entry.operation,
        fqn: entry.fqn,
        kind: entry.kind,
        before_hash: entry.before_hash,
        after_hash: entry.after_hash,
        revision: entry.revision,
        outcome: entry.outcome,
        message: entry.message,
        forced: entry.forced,
        dry_run: entry.dry_run,
    }
}
