use std::collections::HashMap;

use super::*;

#[test]
fn etags_are_quoted_and_change_with_every_input() {
    let base = etag("organizations/acme", 7, "h1");
    assert_eq!(base.len(), 18);
    assert!(base.starts_with('"') && base.ends_with('"'));
    assert_eq!(base, etag("organizations/acme", 7, "h1"));
    assert_ne!(base, etag("organizations/acme", 8, "h1"));
    assert_ne!(base, etag("organizations/acme", 7, "h2"));
    assert_ne!(base, etag("organizations/acmf", 7, "h1"));
}

#[test]
fn redacts_credentials_in_bad_urls() {
    assert_eq!(
        redact_url("postgress://admin:s3cret@db:5432/tsb"),
        "postgress://…@db:5432/tsb"
    );
    assert_eq!(redact_url("mysql://db/tsb"), "mysql://db/tsb");
    assert_eq!(redact_url("tsbridge.db"), "tsbridge.db");
}

#[test]
fn prefixes_lose_trailing_slashes_and_empty_means_all() {
    assert_eq!(
        normalize_prefix(Some("organizations/a/")),
        Some("organizations/a")
    );
    assert_eq!(
        normalize_prefix(Some("organizations/a")),
        Some("organizations/a")
    );
    assert_eq!(normalize_prefix(Some("")), None);
    assert_eq!(normalize_prefix(Some("/")), None);
    assert_eq!(normalize_prefix(None), None);
}

#[test]
fn limits_default_to_a_thousand() {
    assert_eq!(limit_or_default(0), 1_000);
    assert_eq!(limit_or_default(5), 5);
}

#[test]
fn audit_rows_take_their_objects_revision_or_the_last() {
    let mut audit = vec![
        AuditEntry {
            fqn: "a".into(),
            ..AuditEntry::default()
        },
        AuditEntry {
            fqn: "b".into(),
            ..AuditEntry::default()
        },
        AuditEntry {
            fqn: String::new(),
            ..AuditEntry::default()
        },
    ];
    assign_audit_revisions(&mut audit, &HashMap::new(), 9);
    assert!(audit.iter().all(|e| e.revision == 0), "no change: kept");
    let changed = HashMap::from([("a".to_string(), 3), ("b".to_string(), 4)]);
    assign_audit_revisions(&mut audit, &changed, 5);
    let revisions: Vec<i64> = audit.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, [3, 4, 5]);
}

#[test]
fn bounds_parse_or_fail_with_the_text() {
    assert_eq!(bound("").expect("empty is none"), None);
    assert_eq!(
        bound("1970-01-01T00:00:01Z").expect("valid"),
        Some(1_000_000)
    );
    match bound("last tuesday") {
        Err(Error::BadTime(text)) => assert_eq!(text, "last tuesday"),
        other => panic!("expected BadTime, got {other:?}"),
    }
}
