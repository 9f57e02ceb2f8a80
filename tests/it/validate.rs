//! `tsbridge validate` end to end: the real binary on the YAML fixtures of
//! `tests/fixtures/validate/` (`good/` is a valid multi-tenant set, each `bad/` file breaks one
//! rule), its three output formats and its exit codes.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::repo_root;

const GOOD: &str = "tests/fixtures/validate/good";
const BAD: &str = "tests/fixtures/validate/bad";

/// Runs `tsbridge validate ARGS` from the repository root, so paths stay relative.
fn validate(args: &[&str]) -> Output {
    validate_with_env(args, &[])
}

fn validate_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tsbridge"));
    command
        .arg("validate")
        .args(args)
        .current_dir(repo_root())
        .env_remove("TSBRIDGE_OUTPUT")
        .env_remove("TSBRIDGE_VERBOSE");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("tsbridge runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|err| panic!("stdout is JSON ({err}):\n{}", stdout(out)))
}

/// Each broken variant: the file under `bad/`, the rule code it must produce, the object the
/// finding must name, and the exit code (0 where the finding is only a warning).
const BAD_CASES: &[(&str, &str, &str, i32)] = &[
    (
        "malformed-selector.yaml",
        "error[TSB1006]",
        "Workspace/tsb-config/bad-selectors",
        1,
    ),
    (
        "group-outside-workspace.yaml",
        "error[TSB1010]",
        "Group.traffic.tsb.tetrate.io/tsb-config/stray-traffic",
        1,
    ),
    (
        "overlapping-workspaces.yaml",
        "error[TSB1011]",
        "Workspace/tsb-config/checkout-v2-ws",
        1,
    ),
    (
        "missing-parent.yaml",
        "error[TSB1009]",
        "TrafficSetting/tsb-config/orphan",
        1,
    ),
    (
        "duplicate-service-traffic-setting.yaml",
        "error[TSB1013]",
        "ServiceTrafficSetting/tsb-config/payments-api-timeouts",
        1,
    ),
    (
        "bridged-in-direct-group.yaml",
        "error[TSB1014]",
        "TrafficSetting/tsb-config/legacy-defaults",
        1,
    ),
    (
        "direct-in-bridged-group.yaml",
        "error[TSB1014]",
        "DestinationRule/checkout/cart",
        1,
    ),
    (
        "direct-namespace-outside-group.yaml",
        "error[TSB1012]",
        "VirtualService/checkout/cart-direct",
        1,
    ),
    (
        "missing-hierarchy-annotation.yaml",
        "error[TSB1002]",
        "ServiceRoute/tsb-config/checkout-web",
        1,
    ),
    (
        "inline-secret.yaml",
        "error[TSB1102]",
        "IngressGateway/tsb-config/checkout-ingress-inline-key",
        1,
    ),
    (
        "stricter-widening.yaml",
        "warning[TSB1015]",
        "SecuritySetting/tsb-config/checkout-permissive",
        0,
    ),
    (
        "unknown-spec-field.yaml",
        "error[TSB1008]",
        "Group.istiointernal.tsb.tetrate.io/tsb-config/checkout-internal",
        1,
    ),
    (
        "direct-missing-label.yaml",
        "error[TSB1004]",
        "VirtualService/checkout-legacy/legacy-admin",
        1,
    ),
    (
        "two-group-annotations.yaml",
        "error[TSB1003]",
        "AuthorizationPolicy/checkout-legacy/legacy-deny",
        1,
    ),
    (
        "fqn-conflict.yaml",
        "error[TSB1104]",
        "Tenant/team-payments/payments",
        1,
    ),
    (
        "bad-annotation-value.yaml",
        "error[TSB1005]",
        "WorkspaceSetting/tsb-config/checkout-extra",
        1,
    ),
    (
        "service-route-without-subsets.yaml",
        "error[TSB1007]",
        "ServiceRoute/tsb-config/search",
        1,
    ),
    (
        "label-not-a-string.yaml",
        "error[TSB1008]",
        "TrafficSetting/tsb-config/numbered",
        1,
    ),
];

#[test]
fn the_good_set_passes() {
    let out = validate(&[GOOD]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    // Its only warnings name fields translation does not enforce (TSB1106).
    let (summary, findings) = text.trim_end().rsplit_once('\n').unwrap_or(("", &text));
    assert_eq!(
        findings,
        "36 objects checked, 0 errors, 2 warnings, 4 skipped (not configuration)"
    );
    assert!(
        summary.lines().all(|l| l.contains(": warning[TSB1106] ")),
        "{summary}"
    );
}

#[test]
fn verbose_lists_what_was_skipped_and_why() {
    let out = validate(&["--verbose", GOOD]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for expected in [
        "tests/fixtures/validate/good/kustomization.yaml:0: info[TSB1001] Kustomization/(unnamed): kind: not a kind tsbridge knows",
        "tests/fixtures/validate/good/organization.yaml:1: info[TSB1001] Namespace/tsb-config:",
        "tests/fixtures/validate/good/organization.yaml:2: info[TSB1001] IngressGateway/checkout-edge/checkout-gw: kind: install.tetrate.io",
        "tests/fixtures/validate/good/retail/storefront-ws.yaml:12: info[TSB1001] DestinationRule/storefront-web/web: kind: Istio object without",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn each_bad_file_reports_its_rule_on_its_object_with_a_fix() {
    for (file, code, object, exit) in BAD_CASES {
        let path = format!("{BAD}/{file}");
        let out = validate(&[GOOD, &path]);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(*exit),
            "{file}:\n{text}{}",
            stderr(&out)
        );
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("{path}:")) && line.contains(code))
            .unwrap_or_else(|| panic!("{file}: no {code} line for the file in:\n{text}"));
        assert!(
            line.contains(&format!("{code} {object}: ")),
            "{file}: the finding must name {object}: {line}"
        );
        assert!(line.contains("; fix: "), "{file}: no fix in {line}");
        let summary = text.lines().last().unwrap_or_default();
        assert!(summary.contains("objects checked"), "{file}: {summary}");
    }
}

#[test]
fn every_bad_fixture_has_an_expectation() {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(BAD))
        .expect("bad fixtures exist")
        .map(|entry| {
            entry
                .expect("entry reads")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = BAD_CASES.iter().map(|c| c.0.to_string()).collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn symmetric_conflicts_name_both_files() {
    let out = validate(&[GOOD, &format!("{BAD}/overlapping-workspaces.yaml")]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "tests/fixtures/validate/good/payments/checkout-ws.yaml:0: error[TSB1011] Workspace/tsb-config/checkout-ws: spec.namespaceSelector.names[0]:"
        ),
        "{text}"
    );
}

#[test]
fn json_output_has_the_documented_fields() {
    let out = validate(&["-o", "json", GOOD, &format!("{BAD}/missing-parent.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["tool"]["name"], "tsbridge");
    let summary = &report["summary"];
    assert_eq!(summary["errors"], 1);
    assert_eq!(summary["warnings"], 2, "the good set's TSB1106 warnings");
    assert_eq!(summary["checked"], 37);
    assert_eq!(summary["skipped"], 4);
    assert_eq!(summary["files"], 8);
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    // Skipped objects are listed as info in JSON.
    assert_eq!(
        diagnostics
            .iter()
            .filter(|d| d["severity"] == "info")
            .count(),
        4
    );
    let error = diagnostics
        .iter()
        .find(|d| d["severity"] == "error")
        .expect("one error");
    assert_eq!(
        error["file"],
        "tests/fixtures/validate/bad/missing-parent.yaml"
    );
    assert_eq!(error["document"], 0);
    assert_eq!(error["item"], Value::Null);
    assert_eq!(error["line"], 2);
    assert_eq!(error["code"], "TSB1009");
    assert_eq!(error["rule"], "V9");
    assert_eq!(error["ruleName"], "ParentExists");
    assert_eq!(error["object"]["kind"], "TrafficSetting");
    assert_eq!(error["object"]["name"], "orphan");
    assert_eq!(error["object"]["namespace"], "tsb-config");
    assert_eq!(error["object"]["apiGroup"], "traffic.tsb.tetrate.io");
    assert_eq!(
        error["object"]["fqn"],
        "organizations/acme/tenants/payments/workspaces/checkout-ws/trafficgroups/no-such-group/settings/orphan"
    );
    assert_eq!(
        error["field"],
        "metadata.annotations[tsb.tetrate.io/trafficGroup]"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert!(error["fix"].as_str().unwrap().contains("no-such-group"));
}

#[test]
fn json_counts_files_documents_and_list_items() {
    let out = validate(&["-o", "json", GOOD]);
    assert_eq!(out.status.code(), Some(0));
    let summary = &json(&out)["summary"];
    assert_eq!(summary["files"], 7);
    // 37 documents; the List document in retail/list.yaml holds 4 items.
    assert_eq!(summary["documents"], 37);
    assert_eq!(summary["objects"], 40);
    assert_eq!(summary["checked"], 36);
    assert_eq!(summary["errors"], 0);
}

#[test]
fn list_items_are_located_by_item_and_line() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: tsb.tetrate.io/v2\n  kind: Tenant\n  metadata:\n    name: ok\n    annotations: {tsb.tetrate.io/organization: acme}\n- apiVersion: tsb.tetrate.io/v2\n  kind: Tenant\n  metadata:\n    name: Not_OK\n    annotations: {tsb.tetrate.io/organization: acme}\n";
    let out = validate_stdin(&["-o", "json", "-"], list.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let error = &report["diagnostics"][0];
    assert_eq!(error["file"], "<stdin>");
    assert_eq!(
        (&error["document"], &error["item"], &error["line"]),
        (&Value::from(0), &Value::from(1), &Value::from(9))
    );
    assert_eq!(error["code"], "TSB1005");
}

#[test]
fn sarif_output_is_sarif_2_1_0() {
    let path = format!("{BAD}/malformed-selector.yaml");
    let out = validate(&["--output", "sarif", GOOD, &path]);
    assert_eq!(out.status.code(), Some(1));
    let sarif = json(&out);
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &sarif["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "tsbridge");
    let rules = driver["rules"].as_array().expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "TSB1006"));
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
    }
    let results = run["results"].as_array().expect("results");
    // The good set's TSB1106 advisories are warnings beside the errors.
    let (advisories, results): (Vec<&Value>, Vec<&Value>) =
        results.iter().partition(|r| r["ruleId"] == "TSB1106");
    assert!(advisories.iter().all(|r| r["level"] == "warning"));
    assert_eq!(results.len(), 4, "one per bad entry; info is not listed");
    for result in results {
        assert_eq!(result["ruleId"], "TSB1006");
        assert_eq!(result["level"], "error");
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], "TSB1006");
        let text = result["message"]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Workspace/tsb-config/bad-selectors: spec.namespaceSelector.names[")
        );
        assert!(text.contains("; fix: "), "{text}");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], path);
        assert_eq!(location["region"]["startLine"], 2);
    }
    // Warnings are SARIF warnings.
    let out = validate(&[
        "-o",
        "sarif",
        GOOD,
        &format!("{BAD}/stricter-widening.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let sarif = json(&out);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "TSB1015"));
    assert!(
        results
            .iter()
            .all(|r| r["level"] == "warning"
                && (r["ruleId"] == "TSB1015" || r["ruleId"] == "TSB1106")),
        "{results:?}"
    );
}

#[test]
fn the_output_format_can_come_from_the_environment() {
    let out = validate_with_env(&[GOOD], &[("TSBRIDGE_OUTPUT", "json")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["summary"]["errors"], 0);
    let out = validate_with_env(&[GOOD], &[("TSBRIDGE_VERBOSE", "true")]);
    assert!(stdout(&out).contains("info[TSB1001]"));
}

#[test]
fn a_missing_path_exits_2() {
    let out = validate(&[GOOD, "tests/fixtures/validate/no-such-dir"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("error: tests/fixtures/validate/no-such-dir: "),
        "{err}"
    );
    assert!(
        stdout(&out).is_empty(),
        "no report when the input is incomplete"
    );
}

#[test]
fn broken_yaml_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broken.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: [Namespace\nmetadata: {name: bad}\n",
    )
    .expect("write fixture");
    let out = validate(&[file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}: YAML parse error in document 1",
            file.display()
        )),
        "{err}"
    );
    // The parser's location is a line of the file, not of the document.
    assert!(err.contains(&format!("{}:7:", file.display())), "{err}");
}

#[test]
fn a_directory_without_yaml_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("README.md"), "# not yaml\n").expect("write");
    let out = validate(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no *.yaml or *.yml files found"));
}

#[test]
fn usage_errors_exit_2() {
    let out = validate(&[]);
    assert_eq!(out.status.code(), Some(2));
    let out = validate(&["-o", "yaml", GOOD]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("yaml"));
}

/// Runs `tsbridge validate ARGS` with `input` on standard input.
fn validate_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsbridge"))
        .arg("validate")
        .args(args)
        .current_dir(repo_root())
        .env_remove("TSBRIDGE_OUTPUT")
        .env_remove("TSBRIDGE_VERBOSE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tsbridge runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("tsbridge exits")
}

#[test]
fn standard_input_is_read_for_dash() {
    let manifest = std::fs::read(repo_root().join(BAD).join("missing-parent.yaml")).unwrap();
    let out = validate_stdin(&["-"], &manifest);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("<stdin>:0: error[TSB1009] TrafficSetting/tsb-config/orphan:"),
        "{}",
        stdout(&out)
    );
}
