//! Validation tests, driven by the Appendix A examples.

mod object_rules;
mod rules_security;
mod set_rules;
mod write_index;

use super::*;
use crate::model::diagnostic::{GrpcCode, Severity};
use crate::model::fixtures::{self, WS_FQN, manifest, resource};
use crate::model::fqn::Fqn;
use crate::model::object::{Converted, IgnoreReason, KubeObject};

pub(super) fn errors(diagnostics: &[Diagnostic]) -> Vec<(RuleCode, String)> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.rule, d.field.clone()))
        .collect()
}

pub(super) fn rules(diagnostics: &[Diagnostic], severity: Severity) -> Vec<RuleCode> {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.rule)
        .collect()
}

pub(super) fn annotate(object: &mut KubeObject, key: &str, value: &str) {
    object
        .metadata
        .annotations
        .insert(key.to_string(), value.to_string());
}
