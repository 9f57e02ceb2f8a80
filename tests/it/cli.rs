//! The `tsbridge` binary's own surface: help, version, exit codes.

use std::process::Command;

fn tsbridge(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .args(args)
        .output()
        .expect("tsbridge runs")
}

#[test]
fn version_prints_the_package_version() {
    let out = tsbridge(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("tsbridge {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_the_tool() {
    let out = tsbridge(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Usage: tsbridge"), "{help}");
    assert!(help.contains("--version"), "{help}");
}

#[test]
fn unknown_flags_are_usage_errors() {
    let out = tsbridge(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

/// `render` as a reviewer runs it: the fixture's Istio objects for one cluster on stdout (exit
/// 0); a file with errors renders nothing and exits 1; a missing file exits 2.
#[test]
fn render_prints_a_clusters_objects_and_exits_like_validate() {
    let fixture = crate::support::repo_path("tests/fixtures/crs/every-kind.yaml");
    let fixture = fixture.to_str().expect("UTF-8");
    let out = tsbridge(&[
        "render",
        "--cluster",
        "east",
        "--namespaces",
        "bookinfo",
        fixture,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("---\n# cluster: east\n"), "{stdout}");
    assert!(stdout.contains("kind: Sidecar") && stdout.contains("tsbridge.io/cluster: east"));
    let again = tsbridge(&[
        "render",
        "--cluster",
        "east",
        "--namespaces",
        "bookinfo",
        fixture,
    ]);
    assert_eq!(again.stdout, out.stdout, "stable output");

    let bad = crate::support::repo_path("tests/fixtures/validate/bad/group-outside-workspace.yaml");
    let out = tsbridge(&["render", "--cluster", "east", bad.to_str().expect("UTF-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing is rendered from a set with errors"
    );
    assert!(!out.stderr.is_empty());

    let out = tsbridge(&["render", "--cluster", "east", "/no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = tsbridge(&["render", fixture]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--cluster or --inventory is required"
    );
}

/// `validate --strict` fails on warnings: a Workspace with `isolationBoundary` (accepted, not
/// enforced) passes plain `validate` with warning TSB1106 and fails with `--strict`.
#[test]
fn validate_strict_fails_on_a_field_that_is_not_enforced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("workspace.yaml");
    let fixture = std::fs::read_to_string(crate::support::repo_path(
        "tests/fixtures/crs/every-kind.yaml",
    ))
    .expect("fixture");
    let workspace = "---\napiVersion: tsb.tetrate.io/v2\nkind: Workspace\nmetadata:\n  name: \
                 bounded-ws\n  annotations:\n    tsb.tetrate.io/organization: acme\n    \
                 tsb.tetrate.io/tenant: payments\nspec:\n  isolationBoundary: global\n  \
                 namespaceSelector:\n    names:\n      - \"ap-south-1/bounded\"\n";
    std::fs::write(&file, format!("{fixture}{workspace}")).expect("write");
    let file = file.to_str().expect("UTF-8");
    let plain = tsbridge(&["validate", file]);
    let text = String::from_utf8_lossy(&plain.stdout);
    assert_eq!(plain.status.code(), Some(0), "{text}");
    assert!(
        text.contains("TSB1106") && text.contains("isolationBoundary"),
        "{text}"
    );
    let strict = tsbridge(&["validate", "--strict", file]);
    assert_eq!(strict.status.code(), Some(1));
}
