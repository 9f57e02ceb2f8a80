//! `tsbridge promote` end to end: the real binary promotes a copy of the staging fixture into
//! a copy of production, keeps production's values, comments and other documents, removes
//! only with `--prune`, refuses a result that does not validate, and leaves trees that `diff`
//! finds equal.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{copy_tree, repo_path, tsbridge_in};

/// A copy of the environment fixtures in a temporary directory.
fn environments() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("environments");
    copy_tree(&repo_path("tests/fixtures/environments"), &root);
    (dir, root)
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("an exit code")
}

fn promote(root: &Path, extra: &[&str]) -> Output {
    let args = [
        &[
            "promote",
            "--from",
            "staging",
            "--to",
            "production",
            "--mapping",
            "mapping.yaml",
        ][..],
        extra,
    ]
    .concat();
    tsbridge_in(root, &args)
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).expect("read a promoted file")
}

#[test]
fn promotion_writes_what_differs_and_keeps_production_its_own() {
    let (_dir, root) = environments();
    let before = read(&root, "production/checkout/traffic.yaml");
    let out = promote(&root, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.starts_with("promote staging to production: 2 added, 1 changed, 0 removed\n\n"),
        "{summary}"
    );
    assert!(summary.contains("- ServiceRoute organizations/acme/tenants/payments/workspaces/checkout/trafficgroups/checkout-traffic/serviceroutes/cart (checkout/traffic.yaml): spec.subsets[0].weight, spec.subsets[1].weight\n"), "{summary}");
    assert!(summary.contains("- SecuritySetting organizations/acme/tenants/payments/workspaces/checkout/securitygroups/checkout-security/settings/checkout-mtls (checkout/security.yaml)\n"), "{summary}");
    assert!(
        text(&out.stderr).contains("checkout/security.yaml is new; add it to the resources of"),
        "{}",
        text(&out.stderr)
    );

    // Only the weights changed in the edited file: comments, production-only metadata and the
    // production-only document stay byte for byte.
    let after = read(&root, "production/checkout/traffic.yaml");
    assert_eq!(
        after,
        before
            .replace("    weight: 90\n", "    weight: 50\n")
            .replace("    weight: 10\n", "    weight: 50\n")
    );
    // The new file is staging's, in production's names.
    let security = read(&root, "production/checkout/security.yaml");
    assert!(
        security.starts_with("# New in staging: mTLS for checkout."),
        "{security}"
    );
    assert!(
        security.contains("names: [\"prod-east/checkout\", \"prod-west/checkout\"]"),
        "{security}"
    );
    assert!(!security.contains("stg-"), "{security}");
    // Untouched files are untouched.
    assert_eq!(
        read(&root, "production/checkout/gateway.yaml"),
        std::fs::read_to_string(repo_path(
            "tests/fixtures/environments/production/checkout/gateway.yaml"
        ))
        .expect("read")
    );

    // What is left is production's own object; --prune removes it, then the trees are equal.
    let left = tsbridge_in(
        &root,
        &["diff", "--mapping", "mapping.yaml", "staging", "production"],
    );
    assert_eq!(code(&left), 1);
    assert!(
        text(&left.stdout).contains(": 1 added, 0 removed, 0 changed\n+ ServiceTrafficSetting"),
        "{}",
        text(&left.stdout)
    );
    let pruned = promote(&root, &["--prune"]);
    assert_eq!(code(&pruned), 0, "{}", text(&pruned.stderr));
    assert!(
        text(&pruned.stdout)
            .starts_with("promote staging to production: 0 added, 0 changed, 1 removed\n")
    );
    assert!(!read(&root, "production/checkout/traffic.yaml").contains("cart-timeouts"));
    let equal = tsbridge_in(
        &root,
        &["diff", "--mapping", "mapping.yaml", "staging", "production"],
    );
    assert_eq!(code(&equal), 0, "{}", text(&equal.stdout));
    let again = promote(&root, &["--prune"]);
    assert_eq!(code(&again), 0);
    assert!(
        text(&again.stdout).starts_with("nothing to promote"),
        "{}",
        text(&again.stdout)
    );
    let valid = tsbridge_in(&root, &["validate", "production"]);
    assert_eq!(code(&valid), 0, "{}", text(&valid.stdout));
}

#[test]
fn only_and_dry_run_limit_what_is_written() {
    let (_dir, root) = environments();
    let before = read(&root, "production/checkout/traffic.yaml");
    let dry = promote(&root, &["--dry-run"]);
    assert_eq!(code(&dry), 0, "{}", text(&dry.stderr));
    assert!(text(&dry.stderr).contains("dry run: nothing written"));
    assert_eq!(read(&root, "production/checkout/traffic.yaml"), before);
    assert!(!root.join("production/checkout/security.yaml").exists());

    let only = promote(
        &root,
        &[
            "--prune",
            "--only",
            "organizations/acme/tenants/payments/workspaces/checkout/securitygroups",
        ],
    );
    // Not an FQN: securitygroups is a collection, not an object.
    assert_eq!(code(&only), 2, "{}", text(&only.stderr));
    let only = promote(
        &root,
        &[
            "--prune",
            "--only",
            "organizations/acme/tenants/payments/workspaces/checkout/securitygroups/checkout-security",
        ],
    );
    assert_eq!(code(&only), 0, "{}", text(&only.stderr));
    assert!(
        text(&only.stdout)
            .starts_with("promote staging to production: 2 added, 0 changed, 0 removed\n")
    );
    assert_eq!(read(&root, "production/checkout/traffic.yaml"), before);
}

#[test]
fn a_result_that_does_not_validate_is_not_written() {
    let (_dir, root) = environments();
    // A traffic group selecting a namespace its workspace does not own (TSB1010 in production).
    let stray = "---\napiVersion: traffic.tsb.tetrate.io/v2\nkind: Group\nmetadata:\n  name: stray\n  annotations:\n    tsb.tetrate.io/organization: acme\n    tsb.tetrate.io/tenant: payments\n    tsb.tetrate.io/workspace: checkout\nspec:\n  namespaceSelector:\n    names: [\"stg-east/elsewhere\"]\n";
    let file = root.join("staging/checkout/traffic.yaml");
    let mut staging = std::fs::read_to_string(&file).expect("read");
    staging.push_str(stray);
    std::fs::write(&file, staging).expect("write");
    let before = read(&root, "production/checkout/traffic.yaml");
    let out = promote(&root, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("error[TSB1010]"), "{stderr}");
    assert!(stderr.contains("prod-east/elsewhere"), "{stderr}");
    assert!(
        stderr.contains("would not validate; nothing was written"),
        "{stderr}"
    );
    assert_eq!(read(&root, "production/checkout/traffic.yaml"), before);
    assert!(!root.join("production/checkout/security.yaml").exists());
}

#[test]
fn unreadable_input_exits_2() {
    let (_dir, root) = environments();
    let out = tsbridge_in(&root, &["promote", "--from", "staging", "--to", "nowhere"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).starts_with("error: nowhere cannot be read"),
        "{}",
        text(&out.stderr)
    );
}
