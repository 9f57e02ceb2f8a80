//! V-CEL (gitops-contract.md §2.0, R-A9): the optional Flux `healthCheckExprs` documented in
//! `docs/gitops.md`, evaluated the way kustomize-controller does, give the V-KS verdict on every
//! golden state S0–S8 in every API group. Flux's rules: the object's top-level fields are the
//! variables; `status.observedGeneration != metadata.generation` is InProgress before any
//! expression; then `inProgress`, `failed`, `current` in that order; none true is InProgress.
//! [fluxcd/pkg `runtime/cel/status_evaluator.go`]

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::{Context, Env, Program, Value as Cel};
use serde_json::Value;
use tsbridge::model::kind::Kind;
use tsbridge::model::status::kstatus::kstatus;

use crate::support::health::{EXPECTED_KSTATUS, as_kind, state_fixtures};
use crate::support::repo_path;

const DOC: &str = "docs/gitops.md";

/// One `healthCheckExprs` entry, compiled.
struct HealthCheckExpr {
    api_version: String,
    in_progress: Program,
    failed: Program,
    current: Program,
}

impl HealthCheckExpr {
    fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or(self.api_version.as_str(), |(group, _)| group)
    }

    /// kustomize-controller's verdict on `object`.
    fn evaluate(&self, object: &Value) -> String {
        let generation = object.pointer("/metadata/generation");
        let observed = object.pointer("/status/observedGeneration");
        if observed.is_some() && observed != generation {
            return "InProgress".into();
        }
        let env = Arc::new(Env::stdlib());
        let mut context = Context::with_env(env);
        for (field, value) in object.as_object().expect("an object") {
            context.add_variable_from_value(
                field.as_str(),
                cel::to_value(value).expect("JSON converts to CEL"),
            );
        }
        let holds = |program: &Program, which: &str| match program.execute(&context) {
            Ok(Cel::Bool(b)) => b,
            other => panic!("{which} of {}: {other:?}", self.api_version),
        };
        if holds(&self.in_progress, "inProgress") {
            "InProgress"
        } else if holds(&self.failed, "failed") {
            "Failed"
        } else if holds(&self.current, "current") {
            "Current"
        } else {
            "InProgress"
        }
        .into()
    }
}

/// The `healthCheckExprs` of the documented Kustomization (the YAML block of `docs/gitops.md`
/// that has them).
fn documented_exprs() -> Vec<HealthCheckExpr> {
    let doc = std::fs::read_to_string(repo_path(DOC)).expect("docs/gitops.md reads");
    let blocks: Vec<&str> = doc
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .filter(|block| block.contains("healthCheckExprs:"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "{DOC}: one YAML block with healthCheckExprs"
    );
    let kustomization: Value = serde_saphyr::from_str(blocks[0]).expect("the block parses");
    assert_eq!(kustomization["kind"], "Kustomization");
    let compile = |entry: &Value, field: &str| {
        let source = entry[field]
            .as_str()
            .unwrap_or_else(|| panic!("{DOC}: an entry lacks {field}"));
        Program::compile(source).unwrap_or_else(|e| panic!("{DOC}: {field}: {e:?}"))
    };
    kustomization["spec"]["healthCheckExprs"]
        .as_array()
        .expect("spec.healthCheckExprs is a list")
        .iter()
        .map(|entry| HealthCheckExpr {
            api_version: entry["apiVersion"].as_str().expect("apiVersion").into(),
            in_progress: compile(entry, "inProgress"),
            failed: compile(entry, "failed"),
            current: compile(entry, "current"),
        })
        .collect()
}

#[test]
fn documented_health_check_exprs_agree_with_kstatus_on_every_state_and_group() {
    let exprs = documented_exprs();
    let ours: BTreeSet<&str> = Kind::all()
        .map(Kind::group)
        .filter(|group| group.ends_with("tsb.tetrate.io"))
        .collect();
    let documented: BTreeSet<&str> = exprs.iter().map(HealthCheckExpr::group).collect();
    assert_eq!(documented, ours, "one entry per API group");
    assert_eq!(exprs.len(), ours.len(), "no group twice");
    let fixtures = state_fixtures();
    for kind in Kind::all().filter(|kind| ours.contains(kind.group())) {
        let expr = exprs
            .iter()
            .find(|e| e.group() == kind.group())
            .expect("checked above");
        for fixture in &fixtures {
            let object = as_kind(&fixture.object, &kind.api_version(), kind.name());
            let verdict = expr.evaluate(&object);
            assert_eq!(
                verdict,
                kstatus(&object).as_str(),
                "{} as {}",
                fixture.path.display(),
                kind.qualified_name()
            );
            assert_eq!(verdict, fixture.annotation(EXPECTED_KSTATUS));
        }
    }
}
