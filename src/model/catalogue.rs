//! The fate of every spec field: translated into Istio (to which kind and field), acting in
//! tsbridge itself (hierarchy, selection, validation), or accepted but not enforced (with the
//! reason). Nothing is silent: an object that sets a field that is not enforced gets a warning
//! naming the field and the reason ([`not_enforced`]), wherever its L1 warnings go (`validate`,
//! admission warnings, the MP's answer, the CR's `status.analysis`). A test walks every CRD's
//! schema (`k8s::fields`) and fails on a field without a fate; `docs/translation.md` shows the
//! table [`markdown`] generates, with a drift test.

use serde_json::Value;

use crate::model::Kind;
use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};

mod entries;

pub use entries::MOUNTS;

/// What translation does with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Enforced: the Istio objects and fields it becomes (words for the table).
    Translated(&'static str),
    /// Acts in tsbridge itself, not in Istio: hierarchy, selection, validation, metadata.
    Model(&'static str),
    /// Accepted but not enforced: why. Setting it gives a warning.
    NotEnforced(&'static str),
}

/// One field of a message: `path` relative to the message, as `a.b[].c` (`[]` steps into list
/// items, `{}` into map values). An entry covers its whole subtree, except where a longer path
/// has an entry of its own.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The path.
    pub path: &'static str,
    /// Its fate.
    pub fate: Fate,
}

/// A message with its fields; mounted at one or more places of kinds' specs ([`MOUNTS`]).
#[derive(Debug)]
pub struct Message {
    /// The TSB API message name (e.g. `TrafficSetting`).
    pub name: &'static str,
    /// Its fields.
    pub fields: &'static [Field],
}

/// Where a message sits: in `kind`'s spec at `at` (`""`: the spec itself).
#[derive(Debug)]
pub struct Mount {
    /// The kind.
    pub kind: Kind,
    /// The path of the message in the spec.
    pub at: &'static str,
    /// The message.
    pub message: &'static Message,
}

/// The entry that decides `path` of `kind`'s spec: the longest entry path equal to it or an
/// ancestor of it, over every mount that contains it. `None`: the field has no fate (a bug the
/// catalogue test reports).
pub fn fate_of(kind: Kind, path: &str) -> Option<(String, Fate)> {
    let mut best: Option<(String, Fate)> = None;
    for mount in MOUNTS.iter().filter(|m| m.kind == kind) {
        let Some(relative) = relative_to(mount.at, path) else {
            continue;
        };
        for field in mount.message.fields {
            if covers(field.path, relative) {
                let full = join(mount.at, field.path);
                if best.as_ref().is_none_or(|(p, _)| full.len() > p.len()) {
                    best = Some((full, field.fate));
                }
            }
        }
    }
    best
}

/// `path` relative to `mount`, when it lies inside it.
fn relative_to<'a>(mount: &str, path: &'a str) -> Option<&'a str> {
    if mount.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(mount)?;
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix('.')
        .or_else(|| rest.starts_with('[').then_some(rest))
        .or_else(|| rest.starts_with('{').then_some(rest))
}

/// Whether the entry `entry` decides `path` (equal, or an ancestor of it).
pub(crate) fn covers(entry: &str, path: &str) -> bool {
    if entry.is_empty() {
        return true;
    }
    match path.strip_prefix(entry) {
        Some("") => true,
        Some(rest) => rest.starts_with('.') || rest.starts_with('[') || rest.starts_with('{'),
        None => false,
    }
}

/// The spec path of a message's field `path` mounted at `at`.
pub(crate) fn join(at: &str, path: &str) -> String {
    match (at.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (_, true) => at.to_string(),
        _ if path.starts_with('[') || path.starts_with('{') => format!("{at}{path}"),
        _ => format!("{at}.{path}"),
    }
}

/// Every not-enforced field of `kind` (full paths, with the reason).
pub fn not_enforced_fields(kind: Kind) -> Vec<(String, &'static str)> {
    let mut fields = Vec::new();
    for mount in MOUNTS.iter().filter(|m| m.kind == kind) {
        for field in mount.message.fields {
            if let Fate::NotEnforced(reason) = field.fate {
                fields.push((join(mount.at, field.path), reason));
            }
        }
    }
    fields.sort();
    fields.dedup();
    fields
}

/// Whether `value` at `path` (`a.b[].c`) holds something set: not null, not `false`, `0`, an
/// empty string, list or map, anywhere the path reaches through lists and maps.
pub fn is_set(value: &Value, path: &str) -> bool {
    fn set(value: &Value) -> bool {
        match value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => a.iter().any(set),
            Value::Object(o) => o.values().any(set),
        }
    }
    fn walk(value: &Value, rest: &str) -> bool {
        if rest.is_empty() {
            return set(value);
        }
        if let Some(rest) = rest.strip_prefix("[]") {
            return value
                .as_array()
                .is_some_and(|items| items.iter().any(|item| walk(item, rest)));
        }
        if let Some(rest) = rest.strip_prefix("{}") {
            return value
                .as_object()
                .is_some_and(|map| map.values().any(|item| walk(item, rest)));
        }
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        let end = rest.find(['.', '[', '{']).unwrap_or(rest.len());
        let (key, rest) = rest.split_at(end);
        value.get(key).is_some_and(|child| walk(child, rest))
    }
    walk(value, path)
}

/// A warning for every field `spec` sets that translation does not enforce (L1, advisory).
pub fn not_enforced(kind: Kind, spec: &Value, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    for (path, reason) in not_enforced_fields(kind) {
        if is_set(spec, &path) {
            out.push(Diagnostic::warning(
                RuleCode::NotEnforced,
                object,
                format!("spec.{path}"),
                format!("is accepted but not enforced in Istio: {reason}"),
                "remove it, or enforce it another way; docs/translation.md lists every field's fate",
            ));
        }
    }
}

/// The catalogue as a Markdown table per kind (the body of `docs/translation.md`'s section).
pub fn markdown() -> String {
    let mut out = String::new();
    let mut kinds: Vec<Kind> = MOUNTS.iter().map(|m| m.kind).collect();
    kinds.dedup();
    for kind in kinds {
        out.push_str(&format!(
            "\n### {} (`{}`)\n\n| field | fate | where or why |\n|---|---|---|\n",
            kind.name(),
            kind.api_version()
        ));
        let mut rows: Vec<(String, Fate)> = Vec::new();
        for mount in MOUNTS.iter().filter(|m| m.kind == kind) {
            for field in mount.message.fields {
                rows.push((join(mount.at, field.path), field.fate));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        for (path, fate) in rows {
            let (word, text) = match fate {
                Fate::Translated(text) => ("translated", text),
                Fate::Model(text) => ("tsbridge", text),
                Fate::NotEnforced(text) => ("**not enforced**", text),
            };
            let path = if path.is_empty() { "(spec)" } else { &path };
            out.push_str(&format!(
                "| `{path}` | {word} | {} |\n",
                text.replace('|', "\\|")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
