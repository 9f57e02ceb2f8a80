//! `-o table|yaml|json` rendering of `ctl` results.

use serde_json::{Value, json};

use crate::proto::convert::struct_to_json;
use crate::proto::v1;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// YAML documents.
    Yaml,
    /// JSON.
    Json,
}

fn resource_json(r: &v1::Resource) -> Value {
    let origin = match r.origin.as_ref().and_then(|o| o.source.as_ref()) {
        Some(v1::origin::Source::Gitops(g)) => json!({
            "cluster": g.cluster, "namespace": g.namespace, "name": g.name,
            "generation": g.generation, "provenance": g.provenance,
        }),
        Some(v1::origin::Source::ApiUser(user)) => json!({ "apiUser": user }),
        None => Value::Null,
    };
    json!({
        "fqn": r.fqn,
        "apiVersion": r.api_version,
        "kind": r.kind,
        "name": r.name,
        "parent": r.parent_fqn,
        "namespace": if r.namespace.is_empty() { Value::Null } else { json!(r.namespace) },
        "labels": r.labels,
        "annotations": r.annotations,
        "spec": r.spec.as_ref().map(struct_to_json).unwrap_or(Value::Null),
        "etag": r.etag,
        "revision": r.revision,
        "origin": origin,
    })
}

pub(super) fn print_value(format: Format, value: &Value) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Format::Yaml | Format::Table => print!("{}", serde_saphyr::to_string(value)?),
    }
    Ok(())
}

pub(super) fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.len());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    rows.into_iter().for_each(line);
}

/// One object (YAML for `table`, which has no single-object form).
pub fn print_one(format: Format, resource: &v1::Resource) -> anyhow::Result<()> {
    print_value(format, &resource_json(resource))
}

/// Objects.
pub fn print_list(format: Format, resources: &[v1::Resource]) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            table(
                &["KIND", "NAME", "FQN", "REVISION"],
                resources
                    .iter()
                    .map(|r| {
                        vec![
                            r.kind.clone(),
                            r.name.clone(),
                            r.fqn.clone(),
                            r.revision.to_string(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        _ => print_value(
            format,
            &Value::Array(resources.iter().map(resource_json).collect()),
        ),
    }
}

/// A status.
pub fn print_status(format: Format, status: &v1::ResourceStatus) -> anyhow::Result<()> {
    let value = json!({
        "fqn": status.fqn, "status": status.status, "lastEvent": status.last_event,
        "message": status.message, "etag": status.etag, "revision": status.revision,
        "clusters": status.clusters.iter().map(|c| json!({
            "cluster": c.cluster, "state": c.state, "message": c.message, "revision": c.revision,
        })).collect::<Vec<_>>(),
        "warnings": status.warnings.iter().map(|w| json!({
            "rule": w.rule, "field": w.field, "message": w.message, "fix": w.fix,
        })).collect::<Vec<_>>(),
        "translationWarnings": status.translation_warnings.iter().map(|w| json!({
            "rule": w.rule, "field": w.field, "message": w.message, "fix": w.fix,
        })).collect::<Vec<_>>(),
    });
    match format {
        Format::Table => {
            table(
                &["FQN", "STATUS", "LAST EVENT", "MESSAGE"],
                vec![vec![
                    status.fqn.clone(),
                    status.status.clone(),
                    status.last_event.clone(),
                    status.message.clone(),
                ]],
            );
            // Like kubectl's admission warnings: one line each, after the table: the fields
            // that are not enforced, then what translation left out in some cluster.
            for w in status.warnings.iter().chain(&status.translation_warnings) {
                eprintln!(
                    "Warning: {}: {} {} ({}); fix: {}",
                    w.object, w.field, w.message, w.rule, w.fix
                );
            }
            Ok(())
        }
        _ => print_value(format, &value),
    }
}

/// Audit entries.
pub fn print_audit(format: Format, entries: &[v1::AuditEntry]) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            table(
                &["TIME", "ACTOR", "OPERATION", "OUTCOME", "FQN", "REVISION", "MESSAGE"],
                entries
                    .iter()
                    .map(|e| {
                        let outcome = if e.forced { format!("{} (forced)", e.outcome) } else { e.outcome.clone() };
                        vec![
                            e.time.clone(),
                            e.actor.clone(),
                            e.operation.clone(),
                            outcome,
                            e.fqn.clone(),
                            e.revision.to_string(),
                            e.message.clone(),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        _ => print_value(
            format,
            &Value::Array(
                entries
                    .iter()
                    .map(|e| {
                        json!({
                            "id": e.id, "time": e.time, "actor": e.actor, "operation": e.operation,
                            "fqn": e.fqn, "kind": e.kind, "beforeHash": e.before_hash,
                            "afterHash": e.after_hash, "revision": e.revision, "outcome": e.outcome,
                            "message": e.message, "forced": e.forced, "dryRun": e.dry_run,
                            "origin": serde_json::from_str::<Value>(&e.origin_json).unwrap_or(Value::Null),
                        })
                    })
                    .collect(),
            ),
        ),
    }
}

/// Clusters.
pub fn print_clusters(format: Format, clusters: &[v1::Cluster]) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            table(
                &["NAME", "GRANTS", "NAMESPACES", "REPLICA", "CONNECTED", "ACKED", "BEHIND", "HELD"],
                clusters
                    .iter()
                    .map(|c| {
                        let mut row = vec![c.name.clone(), c.grants.join(","), c.namespaces.len().to_string()];
                        row.extend(match &c.delivery {
                            Some(d) => vec![
                                d.replica.clone(),
                                d.connected.to_string(),
                                d.acked_revision.to_string(),
                                d.behind.to_string(),
                                d.held_prune.to_string(),
                            ],
                            None => vec!["-".into(), "never".into(), "-".into(), "-".into(), "-".into()],
                        });
                        row
                    })
                    .collect(),
            );
            Ok(())
        }
        _ => print_value(
            format,
            &Value::Array(
                clusters
                    .iter()
                    .map(|c| json!({"name": c.name, "grants": c.grants,
                        "namespaces": c.namespaces.iter().map(|n| json!({"name": n.name, "labels": n.labels})).collect::<Vec<_>>(),
                        "delivery": c.delivery.as_ref().map(|d| json!({"replica": d.replica, "connected": d.connected,
                            "ackedRevision": d.acked_revision, "behind": d.behind, "heldPrune": d.held_prune}))}))
                    .collect(),
            ),
        ),
    }
}

/// API tokens: names and bindings, never secrets (the server has none to give).
pub fn print_tokens(format: Format, tokens: &[v1::Token]) -> anyhow::Result<()> {
    let or_dash = |text: &str| {
        if text.is_empty() {
            "-".to_string()
        } else {
            text.to_string()
        }
    };
    match format {
        Format::Table => {
            table(
                &["NAME", "SUBJECT", "ROLE", "SCOPE", "CREATED", "REVOKED"],
                tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.subject.clone(),
                            t.role.clone(),
                            t.scope.clone(),
                            or_dash(&t.created),
                            or_dash(&t.revoked),
                        ]
                    })
                    .collect(),
            );
            Ok(())
        }
        _ => print_value(
            format,
            &Value::Array(
                tokens
                    .iter()
                    .map(|t| {
                        json!({
                            "name": t.name, "subject": t.subject, "role": t.role,
                            "scope": t.scope, "created": t.created,
                            "revoked": if t.revoked.is_empty() { Value::Null } else { json!(t.revoked) },
                        })
                    })
                    .collect(),
            ),
        ),
    }
}
