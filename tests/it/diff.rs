//! `tsbridge diff` end to end: the real binary on the environment fixtures
//! (`tests/fixtures/environments`: staging, production, their mapping and production's
//! inventory), its outputs and exit codes, and the `mp:` side against a real management plane.

use std::process::Output;

use serde_json::Value;

use crate::support::mp::Mp;
use crate::support::{repo_path, tsbridge_in};

fn envs() -> std::path::PathBuf {
    repo_path("tests/fixtures/environments")
}

fn diff(args: &[&str]) -> Output {
    tsbridge_in(&envs(), &[&["diff"][..], args].concat())
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

#[test]
fn equal_trees_exit_0_and_different_trees_exit_1() {
    let same = diff(&["production", "production"]);
    assert_eq!(code(&same), 0, "{}", text(&same.stderr));
    assert_eq!(
        text(&same.stdout),
        "TSB objects (production → production): 0 added, 0 removed, 0 changed\n"
    );
    let different = diff(&["--mapping", "mapping.yaml", "staging", "production"]);
    assert_eq!(code(&different), 1, "{}", text(&different.stderr));
    let out = text(&different.stdout);
    assert!(
        out.contains(
            "~ ServiceRoute organizations/acme/tenants/payments/workspaces/checkout/trafficgroups/checkout-traffic/serviceroutes/cart\n    spec.subsets[0].weight: 50 → 90\n"
        ),
        "{out}"
    );
    // Cluster names and hosts are the environments' own: mapped away, not reported.
    assert!(!out.contains("namespaceSelector"), "{out}");
    assert!(!out.contains("hostname"), "{out}");
    let unmapped = text(&diff(&["staging", "production"]).stdout);
    assert!(
        unmapped.contains(
            "spec.namespaceSelector.names[0]: \"stg-east/checkout\" → \"prod-east/checkout\""
        ),
        "{unmapped}"
    );
    assert!(
        unmapped.contains(
            "spec.http[0].hostname: \"checkout.staging.acme.example\" → \"checkout.acme.example\""
        ),
        "{unmapped}"
    );
}

#[test]
fn json_and_markdown_carry_the_same_changes_and_the_istio_objects() {
    let args = [
        "--mapping",
        "mapping.yaml",
        "--inventory",
        "production-inventory.yaml",
        "staging",
        "production",
    ];
    let json = diff(&[&["-o", "json"][..], &args].concat());
    assert_eq!(code(&json), 1, "{}", text(&json.stderr));
    let json: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(json["equal"], false);
    assert_eq!(json["mapped"], true);
    assert_eq!(
        json["summary"],
        serde_json::json!({"added": 1, "removed": 2, "changed": 1})
    );
    let istio = &json["istio"]["objects"];
    let weights = istio
        .as_array()
        .expect("Istio objects")
        .iter()
        .find(|o| {
            o["cluster"] == "prod-east"
                && o["kind"] == "VirtualService"
                && o["namespace"] == "checkout"
        })
        .expect("the cart VirtualService of prod-east changes");
    assert_eq!(weights["fields"][1]["path"], "spec.http[0].route[0].weight");
    let markdown = diff(&[&["-o", "markdown"][..], &args].concat());
    let markdown = text(&markdown.stdout);
    assert!(
        markdown.starts_with("<!-- tsbridge-diff -->\n### tsbridge diff: `staging` → `production`"),
        "{markdown}"
    );
    assert!(
        markdown
            .contains("| prod-west | removed | `PeerAuthentication.security.istio.io checkout/"),
        "{markdown}"
    );
}

#[test]
fn errors_exit_2_and_say_what_is_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["staging", "nowhere"], "nowhere"),
        (
            &["--mapping", "nowhere.yaml", "staging", "production"],
            "--mapping nowhere.yaml",
        ),
        (
            &[
                "--mapping",
                "mapping.yaml",
                "--to-env",
                "prod",
                "staging",
                "production",
            ],
            "environment \"prod\" is not in the mapping (it has: production, staging)",
        ),
        (&["production", "mp:"], "an mp: side needs --server URL"),
        (
            &["--server", "http://127.0.0.1:1", "production", "mp:"],
            "cannot reach the management plane at http://127.0.0.1:1",
        ),
    ];
    for (args, message) in cases {
        let out = diff(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn an_invalid_object_is_an_error_not_a_difference() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: tsb.tetrate.io/v2\nkind: Workspace\nmetadata:\n  name: w\n  annotations:\n    tsb.tetrate.io/organization: acme\nspec: {}\n",
    )
    .expect("write");
    let out = tsbridge_in(
        dir.path(),
        &[
            "diff",
            ".",
            &envs().join("production").display().to_string(),
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("./bad.yaml:0"),
        "{}",
        text(&out.stderr)
    );
}

/// The `mp:` side: what a real management plane holds, listed with the admin token.
#[tokio::test]
async fn the_management_plane_side_compares_with_a_tree() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let production = envs().join("production");
    let applied = mp.ctl(&["apply", "-f", production.to_str().expect("UTF-8")]);
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let token = mp.token_file.to_str().expect("UTF-8").to_string();
    let with_mp =
        |args: &[&str]| diff(&[&["--server", &mp.url, "--token-file", &token][..], args].concat());

    let same = with_mp(&["production", "mp:"]);
    assert_eq!(
        code(&same),
        0,
        "{}{}",
        text(&same.stdout),
        text(&same.stderr)
    );
    let reverse = with_mp(&["mp:", "production"]);
    assert_eq!(code(&reverse), 0, "{}", text(&reverse.stdout));

    let pending = with_mp(&[
        "--mapping",
        "mapping.yaml",
        "--to-env",
        "production",
        "staging",
        "mp:",
    ]);
    assert_eq!(code(&pending), 1, "{}", text(&pending.stderr));
    let out = text(&pending.stdout);
    assert!(out.starts_with(&format!("TSB objects (staging → mp:{}, environment-specific values mapped): 1 added, 2 removed, 1 changed", mp.url)), "{out}");
    assert!(
        out.contains("    spec.subsets[1].weight: 50 → 10\n"),
        "{out}"
    );

    // --only narrows both sides; the MP's extra objects elsewhere do not count.
    let gateways = with_mp(&[
        "--mapping",
        "mapping.yaml",
        "--to-env",
        "production",
        "--only",
        "organizations/acme/tenants/payments/workspaces/checkout/gatewaygroups/checkout-gateways",
        "staging",
        "mp:",
    ]);
    assert_eq!(code(&gateways), 0, "{}", text(&gateways.stdout));

    // A mapping with an mp: side must name that side's environment.
    let unnamed = with_mp(&["--mapping", "mapping.yaml", "staging", "mp:"]);
    assert_eq!(code(&unnamed), 2);
    assert!(text(&unnamed.stderr).contains("--mapping needs --to-env NAME for the to side"));

    // A bad token is an error, not a difference.
    let bad = dir.path().join("bad.token");
    std::fs::write(&bad, "not-a-token").expect("write");
    let refused = diff(&[
        "--server",
        &mp.url,
        "--token-file",
        bad.to_str().expect("UTF-8"),
        "production",
        "mp:",
    ]);
    assert_eq!(code(&refused), 2);
    assert!(
        text(&refused.stderr).contains("Unauthenticated"),
        "{}",
        text(&refused.stderr)
    );
}
