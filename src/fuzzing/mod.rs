//! Fuzz entry points: one `pub fn <target>(data: &[u8])` per coverage-guided fuzz target
//! (`tests/fuzz/`, docs/fuzzing.md). Each feeds arbitrary bytes through the real parsing,
//! conversion and validation code that faces the outside, and asserts cheap invariants
//! (parse → print → parse round trips, agreement between the paths a value can take), so a
//! broken invariant is a crash the fuzzer keeps. `tests/it/fuzz_corpus.rs` replays the
//! committed corpus through the same functions in CI.
//!
//! Depends on: `model`, `k8s`, `proto`, `server::convert`, `agent::webhook`, `cli::validate`
//! (pure parts only). Never: I/O, the store, tokio.

mod objects;
mod wire;

pub use objects::{admission_review, cr_json, validate_yaml};
pub use wire::{seeds as wire_seeds, wire};

use crate::model::{Fqn, Kind, NamespaceSelector, SelectorEntry};

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every fuzz target by name, as `tests/fuzz/` builds them and the corpus folders are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("cr_json", cr_json),
    ("validate_yaml", validate_yaml),
    ("admission_review", admission_review),
    ("wire", wire),
    ("selector", selector),
    ("fqn", fqn),
];

/// FQN parsing: a parsed FQN prints back to its input, every prefix parses, and a child built
/// with [`Fqn::child`] (a name taken from the input) parses back to itself.
pub fn fqn(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (text, name) = text.split_once('\n').unwrap_or((text, "x"));
    let Ok(parsed) = text.parse::<Fqn>() else {
        return;
    };
    assert_eq!(parsed.to_string(), text, "an FQN prints as it was written");
    let mut prefix = parsed.parent();
    while let Some(p) = prefix {
        assert!(p.is_ancestor_of(&parsed) && p.covers(&parsed));
        assert_eq!(p.to_string().parse::<Fqn>().as_ref(), Ok(&p));
        prefix = p.parent();
    }
    for kind in Kind::all() {
        if let Some(ancestor) = parsed.ancestor(kind) {
            assert_eq!(ancestor.kind(), Some(kind));
            assert!(ancestor.covers(&parsed));
        }
        if let Ok(child) = parsed.child(kind, name) {
            assert_eq!(child.kind(), Some(kind));
            assert_eq!(child.parent().as_ref(), Some(&parsed));
            assert_eq!(
                child.to_string().parse::<Fqn>().as_ref(),
                Ok(&child),
                "a child FQN parses back to itself"
            );
        }
    }
    let _ = parsed.hierarchy_annotations();
}

/// The `namespaceSelector` grammar: one entry per line. Entries print back to themselves,
/// each entry matches a namespace built from its own pattern, and two entries that match one
/// (cluster, namespace) pair overlap, both ways.
pub fn selector(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The properties below are checked pairwise; 64 entries meet every shape and keep one
    // execution far below AFL's 1 s hang limit (3,000 lines took 0.6 s, all in this harness).
    let names: Vec<&str> = text.split('\n').take(64).collect();
    let parsed = NamespaceSelector::parse(&names);
    let entries: Vec<SelectorEntry> = names.iter().filter_map(|n| n.parse().ok()).collect();
    assert_eq!(parsed.is_ok(), entries.len() == names.len());
    for entry in &entries {
        let printed = entry.to_string();
        assert_eq!(printed.parse::<SelectorEntry>().as_ref(), Ok(entry));
        let (cluster, namespace) = witness(entry);
        assert!(
            entry.matches(&cluster, &namespace),
            "{entry} matches its witness"
        );
    }
    for a in &entries {
        for b in &entries {
            assert_eq!(a.overlaps(b), b.overlaps(a), "overlap is symmetric");
            let (cluster, namespace) = witness(b);
            if a.matches(&cluster, &namespace) {
                assert!(
                    a.overlaps(b),
                    "{a} and {b} both match {cluster}/{namespace}"
                );
            }
        }
    }
    if let Ok(selector) = parsed {
        let (half, rest) = names.split_at(names.len() / 2);
        let (Ok(group), Ok(workspace)) = (
            NamespaceSelector::parse(half),
            NamespaceSelector::parse(rest),
        ) else {
            return;
        };
        let inventory: Vec<String> = entries.iter().map(|e| witness(e).1).collect();
        for entry in selector.entries() {
            let (cluster, _) = witness(entry);
            let owned = crate::model::selector::effective_workspace_namespaces(
                &workspace, &cluster, &inventory,
            );
            let grouped = crate::model::selector::effective_group_namespaces(
                &group, &workspace, &cluster, &inventory,
            );
            assert!(
                grouped.iter().all(|n| owned.contains(n)),
                "a group stays in its workspace"
            );
        }
        for (i, j) in group.overlapping_pairs(&workspace) {
            assert!(group.entries()[i].overlaps(&workspace.entries()[j]));
        }
        for i in group.entries_outside(&workspace) {
            let entry = &group.entries()[i];
            let alone = NamespaceSelector::parse(&[entry.to_string()]).expect("an entry reparses");
            let (_, namespace) = witness(entry);
            assert!(!alone.may_contain_namespace(&workspace, &namespace));
        }
    }
}

/// A concrete (cluster, namespace) pair the entry matches.
fn witness(entry: &SelectorEntry) -> (String, String) {
    use crate::model::selector::{ClusterPattern, NamespacePattern};
    let cluster = match &entry.cluster {
        ClusterPattern::Any => "any-cluster".to_string(),
        ClusterPattern::Exact(c) => c.clone(),
    };
    let namespace = match &entry.namespace {
        NamespacePattern::Any => "any-namespace".to_string(),
        NamespacePattern::Exact(n) | NamespacePattern::Prefix(n) => n.clone(),
    };
    (cluster, namespace)
}
