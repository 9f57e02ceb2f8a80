//! The CI pipeline examples of `docs/ci/` run: every `run:` (GitHub Actions) and `script:`
//! (GitLab CI) line is taken from the YAML and run with bash, in a workspace laid out as the
//! examples expect (`envs/` from `tests/fixtures/environments`, the base branch in `base/`),
//! with the built binary first on PATH as `tsbridge`. Lines that call the platform or fetch
//! tsbridge (git, gh, curl, apt-get) are the platform's and are not run; the files they would
//! upload or post, and those the `uses:` actions and `artifacts:` name, are checked.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{copy_tree, repo_path};

/// Words that mark a line as the platform's: it calls GitHub or GitLab, or installs tsbridge.
const PLATFORM: &[&str] = &["git", "gh", "curl", "apt-get"];

/// The GitHub actions that upload or post a file, and the input naming it.
const UPLOADS: &[(&str, &str)] = &[
    ("github/codeql-action/upload-sarif@", "sarif_file"),
    ("marocchino/sticky-pull-request-comment@", "path"),
];

/// One job run: its name, the matrix value it runs with, and its shell lines (in order).
#[derive(Debug)]
struct JobRun {
    job: String,
    environment: Option<String>,
    /// Each step's lines (a GitLab job is one step).
    steps: Vec<Vec<String>>,
    /// Files the platform would upload or post: `uses:` inputs and `artifacts:` paths.
    uploads: Vec<String>,
}

fn load(file: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(file)).expect("read the example");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file} is YAML: {e}"))
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// A job's runs: once per matrix value, or once without one.
fn matrix(values: Vec<String>) -> Vec<Option<String>> {
    if values.is_empty() {
        vec![None]
    } else {
        values.into_iter().map(Some).collect()
    }
}

/// The job runs of a GitHub Actions workflow: each job once per `matrix.environment` value.
fn github_runs(workflow: &Value) -> Vec<JobRun> {
    let jobs = workflow["jobs"].as_object().expect("jobs");
    let mut runs = Vec::new();
    for (name, job) in jobs {
        let environments = matrix(strings(job.pointer("/strategy/matrix/environment")));
        for environment in environments {
            let substitute = |text: &str| match &environment {
                Some(env) => text.replace("${{ matrix.environment }}", env),
                None => text.to_string(),
            };
            let mut steps = Vec::new();
            let mut uploads = Vec::new();
            for step in job["steps"].as_array().expect("steps") {
                if let Some(run) = step["run"].as_str() {
                    steps.push(run.lines().map(substitute).collect());
                }
                let uses = step["uses"].as_str().unwrap_or_default();
                for (action, input) in UPLOADS {
                    if uses.starts_with(action)
                        && let Some(file) = step
                            .pointer(&format!("/with/{input}"))
                            .and_then(Value::as_str)
                    {
                        uploads.push(substitute(file));
                    }
                }
            }
            runs.push(JobRun {
                job: name.clone(),
                environment,
                steps,
                uploads,
            });
        }
    }
    runs
}

/// The job runs of a GitLab CI file: each job once per `parallel.matrix` ENVIRONMENT value.
fn gitlab_runs(pipeline: &Value) -> Vec<JobRun> {
    const RESERVED: &[&str] = &["stages", "variables", "default", "workflow", "include"];
    let mut runs = Vec::new();
    for (name, job) in pipeline.as_object().expect("a mapping") {
        if RESERVED.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        let environments = matrix(strings(job.pointer("/parallel/matrix/0/ENVIRONMENT")));
        for environment in environments {
            let substitute = |text: &str| match &environment {
                Some(env) => text.replace("$ENVIRONMENT", env),
                None => text.to_string(),
            };
            runs.push(JobRun {
                job: name.clone(),
                environment: environment.clone(),
                steps: vec![
                    strings(job.get("script"))
                        .iter()
                        .map(|l| substitute(l))
                        .collect(),
                ],
                uploads: strings(job.pointer("/artifacts/paths"))
                    .iter()
                    .map(|p| substitute(p))
                    .collect(),
            });
        }
    }
    runs
}

fn is_platform(line: &str) -> bool {
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ';' || c == '|' || c == '&')
        .any(|word| PLATFORM.contains(&word))
}

/// A workspace as the examples expect it, the PR's production changed (weights 90/10 to 80/20)
/// against `base/`; and a directory with `tsbridge` for PATH.
fn workspace() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("repo");
    copy_tree(
        &repo_path("tests/fixtures/environments"),
        &root.join("envs"),
    );
    copy_tree(
        &repo_path("tests/fixtures/environments"),
        &root.join("base/envs"),
    );
    let route = root.join("envs/production/checkout/traffic.yaml");
    let text = std::fs::read_to_string(&route).expect("read");
    let changed = text
        .replace("    weight: 90\n", "    weight: 80\n")
        .replace("    weight: 10\n", "    weight: 20\n");
    assert_ne!(
        text, changed,
        "the fixture has the weights the test changes"
    );
    std::fs::write(&route, changed).expect("write");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tsbridge"), bin.join("tsbridge"))
        .expect("link tsbridge");
    (dir, root, bin)
}

/// Runs a job's steps (platform lines left out) in a fresh workspace; returns the workspace.
fn run_job(example: &str, run: &JobRun) -> (tempfile::TempDir, PathBuf) {
    let (dir, root, bin) = workspace();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for step in &run.steps {
        let kept: Vec<&String> = step.iter().filter(|l| !is_platform(l)).collect();
        if kept.is_empty() {
            continue;
        }
        let script = kept
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for marker in ["${{", "$CI_", "${CI_", "$GITHUB_"] {
            assert!(
                !script.contains(marker),
                "{example} {}: a line tsbridge runs uses the platform's {marker}…: {script}",
                run.job
            );
        }
        let mut command = std::process::Command::new("bash");
        command
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
            .current_dir(&root)
            .env("PATH", &path);
        for (key, _) in std::env::vars() {
            if key.starts_with("TSBRIDGE_") {
                command.env_remove(key);
            }
        }
        let out = command.output().expect("bash runs");
        assert!(
            out.status.success(),
            "{example} job {} ({:?}) failed ({:?}):\n{script}\nstdout:\n{}\nstderr:\n{}",
            run.job,
            run.environment,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += kept.iter().filter(|l| l.contains("tsbridge ")).count();
    }
    assert!(ran > 0, "{example} job {} runs no tsbridge line", run.job);
    for upload in &run.uploads {
        assert!(
            root.join(upload).is_file(),
            "{example} job {}: {upload} is uploaded but was not produced",
            run.job
        );
    }
    (dir, root)
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// What each job must have produced.
fn check_outputs(example: &str, run: &JobRun, root: &Path) {
    match run.job.as_str() {
        "validate" => {
            let environment = run.environment.as_deref().expect("a matrix value");
            let sarif = run
                .uploads
                .iter()
                .find(|u| u.ends_with(".sarif"))
                .unwrap_or_else(|| panic!("{example}: validate uploads SARIF"));
            let sarif: Value = serde_json::from_str(&read(root, sarif)).expect("SARIF is JSON");
            assert_eq!(sarif["version"], "2.1.0");
            assert_eq!(sarif["runs"][0]["tool"]["driver"]["name"], "tsbridge");
            assert_eq!(
                sarif["runs"][0]["results"],
                serde_json::json!([]),
                "{example}: envs/{environment} is valid"
            );
        }
        "diff" => {
            let comment = read(root, "diff.md");
            assert!(comment.starts_with("<!-- tsbridge-diff -->\n### tsbridge diff: `base/envs/staging` → `envs/staging`\n\nNo differences.\n"), "{comment}");
            assert!(
                comment.contains("### tsbridge diff: `base/envs/production` → `envs/production`"),
                "{comment}"
            );
            assert!(comment.contains("| changed | ServiceRoute | `organizations/acme/tenants/payments/workspaces/checkout/trafficgroups/checkout-traffic/serviceroutes/cart` |"), "{comment}");
            assert!(
                comment.contains("- spec.subsets[0].weight: 90\n+ spec.subsets[0].weight: 80\n"),
                "{comment}"
            );
            assert!(
                comment.contains(
                    "| prod-east | changed | `VirtualService.networking.istio.io checkout/"
                ),
                "{comment}"
            );
        }
        "promote" => {
            let summary = read(root, "promotion.txt");
            assert!(
                summary
                    .starts_with("promote staging to production: 2 added, 1 changed, 0 removed\n"),
                "{summary}"
            );
            let security = read(root, "envs/production/checkout/security.yaml");
            assert!(security.contains("prod-east/checkout"), "{security}");
        }
        other => panic!("{example}: job {other} has no check; add one"),
    }
}

fn run_example(example: &str, runs: Vec<JobRun>) {
    let jobs: Vec<&str> = runs.iter().map(|r| r.job.as_str()).collect();
    for job in ["validate", "diff", "promote"] {
        assert!(jobs.contains(&job), "{example} has a {job} job");
    }
    for run in &runs {
        let (_dir, root) = run_job(example, run);
        check_outputs(example, run, &root);
    }
}

#[test]
fn the_github_actions_example_runs() {
    let file = "docs/ci/github-actions.yml";
    let runs = github_runs(&load(file));
    assert_eq!(runs.iter().filter(|r| r.job == "validate").count(), 2);
    run_example(file, runs);
}

#[test]
fn the_gitlab_ci_example_runs() {
    let file = "docs/ci/gitlab-ci.yml";
    let runs = gitlab_runs(&load(file));
    assert_eq!(runs.iter().filter(|r| r.job == "validate").count(), 2);
    run_example(file, runs);
}

#[test]
fn platform_lines_are_recognised() {
    assert!(is_platform("git push origin HEAD"));
    assert!(is_platform(
        "test -n \"$(git status --porcelain)\" || exit 0"
    ));
    assert!(is_platform(
        "curl -fsSL \"$TSBRIDGE_URL\" -o /usr/local/bin/tsbridge"
    ));
    assert!(!is_platform(
        "tsbridge diff -o markdown a b > diff.md || test $? -eq 1"
    ));
    assert!(!is_platform(
        "cat diff-staging.md diff-production.md > diff.md"
    ));
}
