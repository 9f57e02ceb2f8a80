//! Hostile objects through the management plane's gRPC API and `tsbridge ctl apply`: at and
//! over the size limit, deep, long, odd Unicode and NUL characters, bad metadata, wrong types in
//! the envelope, and 10,000 objects in one apply.

use std::fmt::Write as _;

use serde_json::{Value, json};
use tsbridge::proto::v1;

use super::{MpState, ORG, apply, diagnostics, nested, resource, tenant, workspace};
use crate::store::TestDb;
use crate::support::mp::{Clients, Mp};

/// One refused write: what is sent and what the refusal must say.
struct Refused {
    what: &'static str,
    request: v1::ApplyRequest,
    code: tonic::Code,
    /// The rule code of the first diagnostic.
    rule: &'static str,
    /// The diagnostic's field (a prefix is enough for deep paths).
    field: String,
    /// Words the message must hold.
    says: &'static str,
}

/// `{"displayName": name, "description": "x…"}` whose compact JSON is exactly `bytes` long.
fn tenant_spec_of_size(name: &str, bytes: usize) -> Value {
    let base = serde_json::to_string(&json!({ "displayName": name, "description": "" }))
        .expect("JSON")
        .len();
    json!({ "displayName": name, "description": "x".repeat(bytes - base) })
}

/// `[[[…"leaf"…]]]` with `depth` arrays (two protobuf levels each, where objects take three:
/// arrays reach past the limit below the gRPC decoder's own recursion limit).
fn nested_arrays(depth: usize) -> Value {
    let mut value = json!("leaf");
    for _ in 0..depth {
        value = Value::Array(vec![value]);
    }
    value
}

fn workspace_setting(spec: Value) -> v1::Resource {
    resource(
        "tsb.tetrate.io/v2",
        "WorkspaceSetting",
        &format!("{ORG}/tenants/base/workspaces/ws"),
        "settings",
        spec,
    )
}

fn with_metadata(
    mut resource: v1::Resource,
    labels: &[(&str, &str)],
    annotations: &[(&str, String)],
) -> v1::Resource {
    resource.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resource.annotations = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    resource
}

fn refused_cases() -> Vec<Refused> {
    let max = 512 * 1024;
    let long_name = "n".repeat(254);
    vec![
        Refused {
            what: "a spec one byte over the 512 KiB limit",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "big",
                tenant_spec_of_size("big", max + 1),
            )),
            code: tonic::Code::ResourceExhausted,
            rule: "TSB1108",
            field: "spec".into(),
            says: "524289 bytes as JSON, over the 524288-byte object limit",
        },
        Refused {
            what: "nesting one level over the limit",
            request: apply(workspace_setting(
                json!({ "failoverSettings": nested_arrays(32) }),
            )),
            code: tonic::Code::ResourceExhausted,
            rule: "TSB1108",
            field: format!("spec.failoverSettings{}", "[0]".repeat(31)),
            says: "nested deeper than the limit of 32 levels",
        },
        Refused {
            what: "a 254-character name",
            request: apply(tenant(&long_name)),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "name".into(),
            says: "is not a DNS-1123 subdomain",
        },
        Refused {
            what: "a name in odd Unicode",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "te\u{301}nant\u{200d}",
                json!({ "displayName": "odd" }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "name".into(),
            says: "is not a DNS-1123 subdomain",
        },
        Refused {
            what: "a NUL character in a name",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "nul\u{0}name",
                json!({ "displayName": "nul" }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "name".into(),
            says: "is not a DNS-1123 subdomain",
        },
        Refused {
            what: "a NUL character in a spec string",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "nul",
                json!({ "description": "before\u{0}after" }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1008",
            field: "spec.description".into(),
            says: "NUL character (U+0000)",
        },
        Refused {
            what: "a label key with a space",
            request: apply(with_metadata(tenant("labels"), &[("bad key", "v")], &[])),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "metadata.labels[bad key]".into(),
            says: "is not a Kubernetes qualified name",
        },
        Refused {
            what: "a 64-character label value",
            request: apply(with_metadata(
                tenant("labels"),
                &[("team", &"v".repeat(64))],
                &[],
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "metadata.labels[team]".into(),
            says: "is not a Kubernetes label value",
        },
        Refused {
            what: "annotations over Kubernetes' 256 KiB",
            request: apply(with_metadata(
                tenant("annotations"),
                &[],
                &[("example.com/blob", "a".repeat(256 * 1024))],
            )),
            code: tonic::Code::ResourceExhausted,
            rule: "TSB1108",
            field: "metadata.annotations".into(),
            says: "over Kubernetes' limit of 262144 bytes",
        },
        Refused {
            what: "a label for generated objects that Kubernetes would refuse",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "generated",
                json!({ "configGenerationMetadata": { "labels": { "tier": "front end" } } }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1005",
            field: "spec.configGenerationMetadata.labels[tier]".into(),
            says: "is not a Kubernetes label value",
        },
        Refused {
            what: "a number where a string belongs",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenant",
                ORG,
                "typed",
                json!({ "displayName": 5 }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1008",
            field: "spec.displayName".into(),
            says: "invalid type",
        },
        Refused {
            what: "a list where an object belongs",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Workspace",
                &format!("{ORG}/tenants/base"),
                "typed",
                json!({ "namespaceSelector": ["*/x"] }),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1008",
            field: "spec.namespaceSelector".into(),
            says: "invalid type",
        },
        Refused {
            what: "a kind that does not exist",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Tenantz",
                ORG,
                "x",
                json!({}),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1001",
            field: "kind".into(),
            says: "is not a kind the management plane accepts",
        },
        Refused {
            what: "a parent that is not an FQN",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Workspace",
                "organizations/acme/tenants",
                "x",
                json!({}),
            )),
            code: tonic::Code::NotFound,
            rule: "TSB1009",
            field: "parent".into(),
            says: "organizations/acme/tenants",
        },
        Refused {
            what: "a kind under the wrong parent",
            request: apply(resource(
                "tsb.tetrate.io/v2",
                "Workspace",
                ORG,
                "x",
                json!({}),
            )),
            code: tonic::Code::InvalidArgument,
            rule: "TSB1002",
            field: "parent".into(),
            says: "Workspace",
        },
    ]
}

/// Every refusal names object and field, leaves one audit row, and changes nothing; objects at
/// the limits, and odd but valid text, are stored exactly.
#[tokio::test]
async fn hostile_objects_are_refused_by_field_and_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    for request in [apply(tenant("base")), apply(workspace("base", "ws"))] {
        api.config.apply(request).await.expect("baseline");
    }

    for case in refused_cases() {
        let before = MpState::of(&api).await;
        let status = api
            .config
            .apply(case.request.clone())
            .await
            .expect_err(case.what);
        assert_eq!(status.code(), case.code, "{}: {status:?}", case.what);
        assert!(
            status.message().contains(case.says),
            "{}: {}",
            case.what,
            status.message()
        );
        let found = diagnostics(&status);
        let first = found
            .first()
            .unwrap_or_else(|| panic!("{}: no diagnostic", case.what));
        assert_eq!(first.rule, case.rule, "{}: {first:?}", case.what);
        assert!(
            first.field.starts_with(&case.field),
            "{}: field {:?}, expected {:?}",
            case.what,
            first.field,
            case.field
        );
        let sent = case.request.resource.as_ref().expect("resource");
        assert!(
            first.object.starts_with(&sent.kind),
            "{}: the diagnostic names the object: {first:?}",
            case.what
        );
        if sent.name.chars().all(|c| c.is_ascii_alphanumeric()) {
            assert!(
                first.object.contains(&sent.name),
                "{}: {first:?}",
                case.what
            );
        }
        let rows = before.assert_unmoved(&api, 1, case.what).await;
        assert_eq!(rows[0].outcome, "rejected", "{}", case.what);
        assert_eq!(rows[0].actor, "user:admin");
        assert_eq!(rows[0].operation, "apply");
        assert!(
            rows[0].message.contains(case.says),
            "{}: audited as {:?}",
            case.what,
            rows[0].message
        );
    }

    // Far past any limit the gRPC decoder itself refuses, before the server sees a request.
    let before = MpState::of(&api).await;
    let status = api
        .config
        .apply(apply(workspace_setting(
            json!({ "failoverSettings": nested(200) }),
        )))
        .await
        .expect_err("beyond the decoder's recursion limit");
    assert!(status.message().contains("recursion limit"), "{status:?}");
    before
        .assert_unmoved(&api, 0, "a message the decoder refuses")
        .await;

    // At the limits: stored, and read back exactly.
    let max = 512 * 1024;
    let at_limits = [
        resource(
            "tsb.tetrate.io/v2",
            "Tenant",
            ORG,
            "big",
            tenant_spec_of_size("big", max),
        ),
        workspace_setting(json!({ "failoverSettings": nested_arrays(31) })),
        tenant(&"n".repeat(253)),
        with_metadata(
            tenant("annotations"),
            &[("team", &"v".repeat(63))],
            &[("example.com/blob", "a".repeat(256 * 1024 - 16))],
        ),
        resource(
            "tsb.tetrate.io/v2",
            "Tenant",
            ORG,
            "unicode",
            json!({
                "displayName": "\u{202e}gnitset\u{202c} 👩\u{200d}👩\u{200d}👧 e\u{301}",
                "description": "\u{feff}zero\u{200b}width, \u{7} bell, tab\tand \u{10ffff}",
            }),
        ),
    ];
    for resource in at_limits {
        let written = api
            .config
            .apply(apply(resource.clone()))
            .await
            .unwrap_or_else(|e| panic!("{} at the limit: {e:?}", resource.name))
            .into_inner()
            .resource
            .expect("stored");
        let read = api
            .config
            .get(v1::GetRequest {
                fqn: written.fqn.clone(),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(read.spec, resource.spec, "{} round-trips", resource.name);
        assert_eq!(read.annotations, resource.annotations);
        assert_eq!(read.labels, resource.labels);
    }
}

/// `ctl apply` of 10,000 objects from one file: a single bad object refuses the whole file
/// before anything is sent; without it, every object is stored once with one audit row each.
#[tokio::test]
async fn ten_thousand_objects_in_one_apply() {
    const TENANTS: usize = 10;
    const PER_TENANT: usize = 999;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let api = mp.clients(&mp.token).await;

    let mut yaml = String::new();
    for t in 0..TENANTS {
        let _ = write!(
            yaml,
            "---\napiVersion: tsb.tetrate.io/v2\nkind: Tenant\nmetadata:\n  name: t{t}\n  \
             annotations:\n    tsb.tetrate.io/organization: acme\nspec:\n  displayName: T{t}\n"
        );
        for w in 0..PER_TENANT {
            let _ = write!(
                yaml,
                "---\napiVersion: tsb.tetrate.io/v2\nkind: Workspace\nmetadata:\n  name: w{w}\n  \
                 annotations:\n    tsb.tetrate.io/organization: acme\n    \
                 tsb.tetrate.io/tenant: t{t}\nspec:\n  namespaceSelector:\n    names: \
                 [\"*/ns-{t}-{w}\"]\n"
            );
        }
    }
    let total = TENANTS * (PER_TENANT + 1);
    assert_eq!(total, 10_000);

    // One bad object at the end: nothing is sent.
    let bad = dir.path().join("with-one-bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "{yaml}---\napiVersion: tsb.tetrate.io/v2\nkind: Tenant\nmetadata:\n  name: bad\n  \
             annotations:\n    tsb.tetrate.io/organization: acme\nspec:\n  displayName: 7\n"
        ),
    )
    .expect("write");
    let before = MpState::of(&api).await;
    let out = mp.ctl(&["apply", "-f", bad.to_str().expect("UTF-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("with-one-bad.yaml: Tenant") && stderr.contains("/bad: spec.displayName: "),
        "{stderr}"
    );
    before
        .assert_unmoved(&api, 0, "an apply with one bad object")
        .await;

    let good = dir.path().join("ten-thousand.yaml");
    std::fs::write(&good, &yaml).expect("write");
    let started = std::time::Instant::now();
    let out = mp.ctl(&["apply", "-f", good.to_str().expect("UTF-8")]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("ctl apply of {total} objects took {took:?}");
    let after = MpState::of(&api).await;
    assert_eq!(after.objects.len(), total);
    let revisions: std::collections::BTreeSet<u64> =
        after.objects.values().map(|(_, r)| *r).collect();
    assert_eq!(revisions.len(), total, "one revision per object");
    let applied: Vec<&v1::AuditEntry> = after
        .audit
        .iter()
        .filter(|e| e.operation == "apply" && e.outcome == "ok")
        .collect();
    assert_eq!(applied.len(), total, "one audit row per object");
    assert!(after.audit.iter().all(|e| e.outcome == "ok"));

    // The same file again changes nothing: no revision, no audit row.
    let out = mp.ctl(&["apply", "-f", good.to_str().expect("UTF-8")]);
    assert!(out.status.success());
    after
        .assert_unmoved(&api, 0, "re-applying 10,000 objects")
        .await;
}

/// PostgreSQL refuses U+0000 in `jsonb`; before L1 refused it, a NUL in one apply failed the
/// whole group commit it shared with other writers, and each of them got `UNAVAILABLE`.
#[tokio::test]
async fn a_nul_character_never_fails_other_writers_on_postgres() {
    let db = TestDb::postgres().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = Mp::start(db.url(), dir.path(), &[]).await;
    let api = mp.clients(&mp.token).await;
    for round in 0..5 {
        let mut writers = Vec::new();
        for i in 0..8 {
            let mut api: Clients = api.clone();
            let request = if i == 3 {
                apply(resource(
                    "tsb.tetrate.io/v2",
                    "Tenant",
                    ORG,
                    &format!("nul-{round}"),
                    json!({ "description": "a\u{0}b" }),
                ))
            } else {
                apply(tenant(&format!("t-{round}-{i}")))
            };
            writers.push(tokio::spawn(async move { api.config.apply(request).await }));
        }
        for (i, writer) in writers.into_iter().enumerate() {
            let outcome = writer.await.expect("writer");
            if i == 3 {
                let status = outcome.expect_err("NUL refused");
                assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
                assert_eq!(diagnostics(&status)[0].field, "spec.description");
            } else {
                outcome.unwrap_or_else(|e| panic!("writer {i} of round {round}: {e:?}"));
            }
        }
    }
    let state = MpState::of(&api).await;
    assert_eq!(state.objects.len(), 5 * 7);
    let refused = state
        .audit
        .iter()
        .filter(|e| e.outcome == "rejected")
        .count();
    assert_eq!(refused, 5);
}
