//! Comparing two sets of configuration (`tsbridge diff`, `tsbridge promote`): objects by key,
//! fields by path. Pure: the CLI loads trees or asks a management plane, this module says what
//! differs.
//!
//! A TSB object is compared as its [`Entry`]: what the management plane stores and translates
//! (apiVersion, target namespace of a direct-mode object, forwarded labels and annotations,
//! decoded spec), never where or how it was written (file, CR namespace, Argo CD tracking
//! metadata). Values an environment owns by design are rewritten first ([`mapping`]).
//!
//! ```
//! use serde_json::json;
//! use tsbridge::model::diff::{Change, diff_maps};
//!
//! let from = [("a", json!({"spec": {"weight": 90}})), ("b", json!({}))].into_iter().collect();
//! let to = [("a", json!({"spec": {"weight": 50}})), ("c", json!({}))].into_iter().collect();
//! let changes = diff_maps(&from, &to);
//! assert_eq!(changes.len(), 3);
//! assert_eq!(changes[0].change, Change::Changed);
//! assert_eq!(changes[0].fields[0].path, "spec.weight");
//! ```

pub mod mapping;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::kind::Kind;
use crate::model::object::Resource;

/// What happened to one object between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only on the TO side.
    Added,
    /// Only on the FROM side.
    Removed,
    /// On both sides, with different contents.
    Changed,
}

impl Change {
    /// `added`, `removed`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }

    /// `+`, `-`, `~`: the marker of a line of text output.
    pub fn marker(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that differs: its path (`spec.subsets[0].weight`,
/// `metadata.labels["app.kubernetes.io/name"]`) and its value on each side (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// Where, from the object's root.
    pub path: String,
    /// The FROM side's value.
    pub from: Option<Value>,
    /// The TO side's value.
    pub to: Option<Value>,
}

/// One object that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange<K> {
    /// Its key (an FQN, or an Istio object's identity).
    pub key: K,
    /// Added, removed or changed.
    pub change: Change,
    /// For [`Change::Changed`]: the fields that differ, in document order; empty otherwise.
    pub fields: Vec<FieldChange>,
}

/// The differences between two keyed sets of documents, in key order: objects only in `to`
/// are added, only in `from` removed, in both but unequal changed (with their fields).
pub fn diff_maps<K: Ord + Clone>(
    from: &BTreeMap<K, Value>,
    to: &BTreeMap<K, Value>,
) -> Vec<ObjectChange<K>> {
    let mut keys: Vec<&K> = from.keys().chain(to.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let (change, fields) = match (from.get(key), to.get(key)) {
                (Some(_), None) => (Change::Removed, Vec::new()),
                (None, Some(_)) => (Change::Added, Vec::new()),
                (Some(a), Some(b)) if a != b => (Change::Changed, field_changes(a, b)),
                _ => return None,
            };
            Some(ObjectChange {
                key: key.clone(),
                change,
                fields,
            })
        })
        .collect()
}

/// The leaves where `from` and `to` differ. Mappings are compared key by key and sequences
/// index by index (extra items are added or removed items); anything else, or a change of
/// type, is one change at that path.
pub fn field_changes(from: &Value, to: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(&mut String::new(), Some(from), Some(to), &mut out);
    out
}

fn walk(path: &mut String, from: Option<&Value>, to: Option<&Value>, out: &mut Vec<FieldChange>) {
    match (from, to) {
        (Some(a), Some(b)) if a == b => {}
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let len = path.len();
                push_key(path, key);
                walk(path, a.get(key), b.get(key), out);
                path.truncate(len);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(path, a.get(i), b.get(i), out);
                path.truncate(len);
            }
        }
        _ => out.push(FieldChange {
            path: if path.is_empty() {
                ".".to_string()
            } else {
                path.clone()
            },
            from: from.cloned(),
            to: to.cloned(),
        }),
    }
}

/// `.key` for identifier-like keys, `["key"]` for the rest (label keys with dots and slashes).
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_string()).to_string());
        path.push(']');
    }
}

/// A TSB object as diff compares it: its kind and the document of what the management plane
/// stores for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The catalogue kind.
    pub kind: Kind,
    /// `{apiVersion, metadata: {namespace?, labels, annotations}, spec}`: the namespace only
    /// for direct-mode objects (a TSB kind's CR namespace has no meaning), labels and
    /// annotations as forwarded (hierarchy and tool metadata stripped), spec as decoded.
    pub document: Value,
}

impl Entry {
    /// The comparable part of a resource.
    pub fn of(resource: &Resource) -> Entry {
        let mut metadata = json!({
            "labels": resource.labels,
            "annotations": resource.annotations,
        });
        if let Some(namespace) = &resource.namespace {
            metadata["namespace"] = json!(namespace);
        }
        Entry {
            kind: resource.kind,
            document: json!({
                "apiVersion": resource.api_version,
                "metadata": metadata,
                "spec": resource.spec.to_value(),
            }),
        }
    }
}

/// The identity of a rendered Istio object in one cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioKey {
    /// The cluster it is applied in.
    pub cluster: String,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl IstioKey {
    /// The key of `object` (a rendered Istio object) in `cluster`.
    pub fn of(cluster: &str, object: &Value) -> IstioKey {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        IstioKey {
            cluster: cluster.to_string(),
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
        }
    }
}

impl fmt::Display for IstioKey {
    /// `Kind.group namespace/name` (the cluster is shown by the caller's grouping).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = self.api_version.split('/').next().unwrap_or_default();
        write!(f, "{}.{group} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Counts of each change, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    /// Objects only on the TO side.
    pub added: usize,
    /// Objects only on the FROM side.
    pub removed: usize,
    /// Objects on both sides that differ.
    pub changed: usize,
}

impl Counts {
    /// Counts `changes`.
    pub fn of<K>(changes: &[ObjectChange<K>]) -> Counts {
        let count = |c: Change| changes.iter().filter(|x| x.change == c).count();
        Counts {
            added: count(Change::Added),
            removed: count(Change::Removed),
            changed: count(Change::Changed),
        }
    }

    /// No difference at all.
    pub fn is_empty(&self) -> bool {
        self.added + self.removed + self.changed == 0
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} added, {} removed, {} changed",
            self.added, self.removed, self.changed
        )
    }
}
