//! Promotion planning and file editing, without I/O: which objects to add, update and remove
//! in the target tree, what each written object is, and how a file's text changes.
//!
//! Decisions (docs/day-two.md):
//! * An updated object keeps the target's document: only `spec`, the forwarded labels and
//!   annotations (and a direct-mode object's namespace) come from the source; the target's
//!   own metadata (CR namespace, Argo CD or Kustomize labels, sync waves) stays.
//! * A file is edited document by document: documents promote does not touch stay byte for
//!   byte, comments and all; an edited document keeps its leading comments and `---`.
//! * The new text of a document is the source document's own text (rewritten into the target
//!   environment) when that parses to exactly the object to write, so the source's comments
//!   and layout travel with the change; otherwise it is the object serialized.
//! * A new object goes into the file of the same relative path as in the source tree,
//!   appended when that file exists.
//! * Removal of target objects the source lacks happens only with `--prune`; a file left with
//!   no document is deleted.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::cli::diff::tree::{Tree, TreeObject, within};
use crate::cli::validate::input::{RawDocument, split_documents};
use crate::model::diff::{Change, Entry, diff_maps};
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::metadata::{MetadataMap, StripRules};

/// One step of a promotion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step<'a> {
    /// The source has it, the target does not.
    Add(&'a TreeObject),
    /// Both have it and they differ.
    Update {
        /// The source's object (rewritten into the target environment).
        source: &'a TreeObject,
        /// The target's object.
        target: &'a TreeObject,
    },
    /// The target has it, the source does not (only with `--prune`).
    Remove(&'a TreeObject),
}

impl Step<'_> {
    /// The object's FQN.
    pub fn fqn(&self) -> &Fqn {
        match self {
            Step::Add(o) | Step::Remove(o) | Step::Update { target: o, .. } => &o.resource.fqn,
        }
    }
}

/// The steps that make `target` equal to `source` at or below `only`, in FQN order. Objects
/// only in the target are removed only when `prune`.
pub fn plan<'a>(
    source: &'a Tree,
    target: &'a Tree,
    only: Option<&Fqn>,
    prune: bool,
) -> Vec<Step<'a>> {
    let documents = |tree: &Tree| -> BTreeMap<Fqn, Value> {
        tree.objects
            .iter()
            .filter(|(fqn, _)| within(fqn, only))
            .map(|(fqn, o)| (fqn.clone(), Entry::of(&o.resource).document))
            .collect()
    };
    // FROM = target, TO = source: "added" is what the source has over the target.
    diff_maps(&documents(target), &documents(source))
        .into_iter()
        .filter_map(|change| match change.change {
            Change::Added => Some(Step::Add(&source.objects[&change.key])),
            Change::Changed => Some(Step::Update {
                source: &source.objects[&change.key],
                target: &target.objects[&change.key],
            }),
            Change::Removed => prune.then(|| Step::Remove(&target.objects[&change.key])),
        })
        .collect()
}

/// The object to write for an update: `target` with the source's `spec`, the source's
/// forwarded labels and annotations in place of the target's (the target's other metadata
/// stays, in its order) and, for a direct-mode kind, the source's namespace.
pub fn merged(source: &Value, target: &Value, kind: Kind, strip: &StripRules) -> Value {
    let mut out = target.clone();
    let Some(object) = out.as_object_mut() else {
        return source.clone();
    };
    match source.get("spec") {
        Some(spec) => {
            object.insert("spec".to_string(), spec.clone());
        }
        None => {
            object.remove("spec");
        }
    }
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return out;
    };
    for (key, which) in [
        ("labels", MetadataMap::Labels),
        ("annotations", MetadataMap::Annotations),
    ] {
        let strings = |value: Option<&Value>| -> BTreeMap<String, String> {
            value
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let theirs = strings(source.pointer(&format!("/metadata/{key}")));
        let ours = strings(metadata.get(key));
        let forwarded_theirs = strip.forwarded(&theirs, which);
        let forwarded_ours = strip.forwarded(&ours, which);
        let mut map: Map<String, Value> = ours
            .into_iter()
            .filter(|(k, _)| !forwarded_ours.contains_key(k))
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        map.extend(
            forwarded_theirs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v))),
        );
        if map.is_empty() {
            metadata.remove(key);
        } else {
            metadata.insert(key.to_string(), Value::Object(map));
        }
    }
    if kind.is_direct() {
        match source.pointer("/metadata/namespace") {
            Some(namespace) => metadata.insert("namespace".to_string(), namespace.clone()),
            None => metadata.remove("namespace"),
        };
    }
    out
}

// === File text ===

/// A document's leading part (its `---` and comment lines before the first content line) and
/// the rest.
pub fn split_header<'a>(document: &RawDocument<'a>) -> (&'a str, &'a str) {
    let Some(content) = document.content_line else {
        return (document.text, "");
    };
    let skip = usize::try_from(content.saturating_sub(document.first_line)).unwrap_or(0);
    let at: usize = document
        .text
        .split_inclusive('\n')
        .take(skip)
        .map(str::len)
        .sum();
    document.text.split_at(at)
}

/// A header without its `---` line: the comments that go with a document when it moves.
pub fn comments(header: &str) -> String {
    header
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("---"))
        .collect()
}

/// The text for `value`: `candidate` (e.g. the source document's own text) when it parses to
/// exactly `value`, else `value` serialized. Ends with a newline.
pub fn body_text(value: &Value, candidate: Option<&str>) -> String {
    if let Some(text) = candidate
        && serde_saphyr::from_str::<Value>(text).is_ok_and(|parsed| &parsed == value)
    {
        let mut text = text.to_string();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        return text;
    }
    serde_saphyr::to_string(value).expect("a JSON value serializes to YAML")
}

/// What to do to one object of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Write `value` in place of the object (`text`: a candidate body, see [`body_text`]).
    Replace {
        /// The object to write.
        value: Value,
        /// A candidate text for it.
        text: Option<String>,
    },
    /// Remove the object.
    Remove,
}

/// Why a file cannot be edited (it changed since it was read, or is not what it was).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("document {document}{}: {message}", item.map(|i| format!(" item {i}")).unwrap_or_default())]
pub struct EditError {
    /// The document index.
    pub document: usize,
    /// The List item.
    pub item: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Applies `edits` (by document index and List item) to a file's text. Untouched documents
/// and the text between documents stay as they are. `None`: no document is left (delete the
/// file).
pub fn edit_file(
    text: &str,
    edits: &BTreeMap<(usize, Option<usize>), Edit>,
) -> Result<Option<String>, EditError> {
    let base = text.as_ptr() as usize;
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for document in split_documents(text) {
        let start = document.text.as_ptr() as usize - base;
        out.push_str(&text[at..start]);
        at = start + document.text.len();
        let index = document.index;
        let mine: Vec<(Option<usize>, &Edit)> = edits
            .range((index, None)..=(index, Some(usize::MAX)))
            .map(|((_, item), edit)| (*item, edit))
            .collect();
        let (header, _) = split_header(&document);
        match mine.as_slice() {
            [] => out.push_str(document.text),
            [(None, Edit::Remove)] => {}
            [(None, Edit::Replace { value, text })] => {
                out.push_str(header);
                out.push_str(&body_text(value, text.as_deref()));
            }
            items => {
                out.push_str(header);
                out.push_str(&edit_list(&document, items)?);
            }
        }
    }
    out.push_str(&text[at..]);
    let left = split_documents(&out)
        .iter()
        .any(|d| d.content_line.is_some());
    Ok(left.then_some(out))
}

/// Edits items of a `kind: List` document; the document is written again serialized.
fn edit_list(
    document: &RawDocument<'_>,
    edits: &[(Option<usize>, &Edit)],
) -> Result<String, EditError> {
    let error = |item: Option<usize>, message: &str| EditError {
        document: document.index,
        item,
        message: message.to_string(),
    };
    let mut list: Value = serde_saphyr::from_str(document.text)
        .map_err(|e| error(None, &format!("no longer parses: {e}")))?;
    let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) else {
        return Err(error(None, "is not a List with items"));
    };
    // Highest index first, so removals do not shift the items still to edit.
    for (item, edit) in edits.iter().rev() {
        let Some(i) = *item else {
            return Err(error(None, "is a List: edit its items"));
        };
        if i >= items.len() {
            return Err(error(Some(i), "is not in the List"));
        }
        match edit {
            Edit::Remove => {
                items.remove(i);
            }
            Edit::Replace { value, .. } => items[i] = value.clone(),
        }
    }
    Ok(body_text(&list, None))
}

/// `text` with documents appended (each `(value, candidate text)`, as [`body_text`]); an
/// empty `text` starts a new file.
pub fn append_documents(text: &str, documents: &[(Value, Option<String>)]) -> String {
    let mut out = text.to_string();
    let mut has_content = split_documents(text)
        .iter()
        .any(|d| d.content_line.is_some());
    for (value, candidate) in documents {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if has_content {
            out.push_str("---\n");
        }
        out.push_str(&body_text(value, candidate.as_deref()));
        has_content = true;
    }
    out
}

#[cfg(test)]
mod tests;
