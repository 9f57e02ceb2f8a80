//! The MP's incremental [`WriteIndex`] judges a write exactly as [`validate_write`] does over
//! the same resources, however the index got there (inserts, pending writes, removals).

use serde_json::json;

use super::set_rules::{security_hierarchy, service_setting, without, workspace_named};
use super::*;

/// Diagnostics in a canonical order: the two indexes list resources in different orders.
fn canonical(diagnostics: Vec<Diagnostic>) -> Vec<String> {
    let mut out: Vec<String> = diagnostics.iter().map(|d| format!("{d:?}")).collect();
    out.sort();
    out
}

fn index_of(resources: &[Resource]) -> WriteIndex {
    let mut index = WriteIndex::new();
    for resource in resources {
        index.insert(resource.clone());
    }
    index
}

/// Every member of `set` (and each of `extra`, not in the set) as a write against the rest,
/// with all of `set` stored, and with half of it stored and half pending.
fn assert_equivalent(set: &[Resource], extra: &[Resource]) -> usize {
    let orgs = Organizations::AnyNamed;
    let stored = index_of(set);
    let (first, rest) = set.split_at(set.len() / 2);
    let half = index_of(first);
    let rest: Vec<&Resource> = rest.iter().collect();
    let mut findings = 0;
    for candidate in set.iter().chain(extra) {
        let expected = canonical(validate_write(set, candidate, &orgs));
        findings += expected.len();
        let label = candidate.fqn.to_string();
        assert_eq!(
            canonical(stored.validate(&[], candidate, &orgs)),
            expected,
            "{label}"
        );
        assert_eq!(
            canonical(half.validate(&rest, candidate, &orgs)),
            expected,
            "{label} with pending writes"
        );
    }
    findings
}

fn overlapping_workspaces() -> Vec<Resource> {
    let selectors: [&[&str]; 8] = [
        &["eu-1/shop", "*/shop-jobs-*"],
        &["*/sh*"],
        &["us-1/*"],
        &["eu-1/shopping", "eu-2/shop"],
        &["*/billing", "eu-1/bill*"],
        &["*/x"],
        &["*/x"],
        &["*/*"],
    ];
    selectors
        .iter()
        .enumerate()
        .map(|(i, names)| workspace_named(&format!("ws-{i}"), "payments", names))
        .collect()
}

#[test]
fn the_appendix_set_and_every_rule_agree() {
    let mut set = fixtures::appendix_set();
    set.extend(overlapping_workspaces());
    set.push(service_setting(
        "cart-a",
        "checkout/cart.checkout.svc.cluster.local",
    ));
    let extra = [
        service_setting("cart-b", "checkout/cart.checkout.svc.cluster.local"),
        workspace_named("fresh", "payments", &["*/shop-jobs-1", "*/zed"]),
    ];
    let findings = assert_equivalent(&set, &extra);
    assert!(findings > 20, "the sets exercise the rules: {findings}");

    // Missing parents (V9), children of a removed workspace.
    let orphans = without(&fixtures::appendix_set(), WS_FQN);
    assert!(assert_equivalent(&orphans, &[]) > 0);

    // STRICTER supersession (V15) through settings at three levels.
    let stricter = security_hierarchy(
        json!({"propagationStrategy": "STRICTER", "authorization": {"mode": "GROUP"}}),
        json!({}),
        json!({"authorization": {"mode": "NAMESPACE"}}),
    );
    assert!(assert_equivalent(&stricter, &[]) > 0);
}

#[test]
fn removals_and_replacements_keep_the_index_exact() {
    let orgs = Organizations::AnyNamed;
    let mut set = fixtures::appendix_set();
    set.extend(overlapping_workspaces());
    let mut index = index_of(&set);
    assert_eq!(index.len(), set.len());

    // Drop every other workspace of the table.
    let dropped: Vec<Resource> = set
        .iter()
        .filter(|r| r.name.starts_with("ws-") && r.name.ends_with(['0', '2', '4', '6']))
        .cloned()
        .collect();
    for resource in &dropped {
        assert_eq!(index.remove(&resource.fqn).as_ref(), Some(resource));
    }
    set.retain(|r| !dropped.contains(r));
    // Make one selector disjoint: its stems must leave the index.
    let disjoint = workspace_named("ws-7", "payments", &["eu-9/only-here"]);
    let replaced = index.insert(disjoint.clone()).expect("ws-7 was stored");
    assert_ne!(replaced, disjoint);
    for r in &mut set {
        if r.fqn == disjoint.fqn {
            *r = disjoint.clone();
        }
    }
    for candidate in set.iter().chain(&dropped) {
        assert_eq!(
            canonical(index.validate(&[], candidate, &orgs)),
            canonical(validate_write(&set, candidate, &orgs)),
            "{}",
            candidate.fqn
        );
    }

    for resource in set.clone() {
        index.remove(&resource.fqn);
    }
    assert!(index.is_empty());
    // Nothing left to overlap with.
    let lone = workspace_named("lone", "payments", &["*/*"]);
    let diagnostics = index.validate(&[], &lone, &orgs);
    assert!(
        diagnostics
            .iter()
            .all(|d| d.rule != RuleCode::WorkspaceOverlap),
        "{diagnostics:#?}"
    );
}

#[test]
fn a_pending_write_is_seen_by_later_writes_of_its_group() {
    let orgs = Organizations::AnyNamed;
    let index = index_of(&fixtures::appendix_set());
    let first = workspace_named("first", "payments", &["*/shared"]);
    let second = workspace_named("second", "payments", &["eu-1/shared"]);
    assert!(
        rules(&index.validate(&[], &second, &orgs), Severity::Error).is_empty(),
        "alone it is fine"
    );
    assert_eq!(
        rules(&index.validate(&[&first], &second, &orgs), Severity::Error),
        [RuleCode::WorkspaceOverlap]
    );
    // A later pending write of the same FQN replaces the earlier one.
    let moved = workspace_named("first", "payments", &["*/elsewhere"]);
    assert!(
        rules(
            &index.validate(&[&first, &moved], &second, &orgs),
            Severity::Error
        )
        .is_empty()
    );
}
