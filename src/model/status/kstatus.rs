//! The V-KS oracle (gitops-contract.md §2.0): what kstatus (`sigs.k8s.io/cli-utils`
//! `status.Compute`), and so Flux's `wait` and health checks, make of a CR. Only kstatus's
//! generic rules: its kind-specific rules never apply to tsbridge's kinds.
//!
//! `tests/kstatus` holds a Go program that runs the real `status.Compute`, and
//! `tests/it/kstatus.rs` checks that both agree on `tests/fixtures/kstatus`.

use std::fmt;

use serde_json::Value;

/// kstatus's verdict (`res.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KStatus {
    /// Work is pending: Flux keeps waiting until its timeout.
    InProgress,
    /// `Stalled=True`: Flux aborts its wait at once.
    Failed,
    /// Reconciled: Flux's wait passes.
    Current,
    /// `metadata.deletionTimestamp` is set.
    Terminating,
}

impl KStatus {
    /// The name kstatus prints.
    pub fn as_str(self) -> &'static str {
        match self {
            KStatus::InProgress => "InProgress",
            KStatus::Failed => "Failed",
            KStatus::Current => "Current",
            KStatus::Terminating => "Terminating",
        }
    }
}

impl fmt::Display for KStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The contract's five steps, in order:
/// 1. `metadata.deletionTimestamp` set (non-empty) → `Terminating`;
/// 2. `metadata.generation` and `status.observedGeneration` both present and different →
///    `InProgress` (skipped when either is absent);
/// 3. in `status.conditions` order, the first `Reconciling=True` → `InProgress`, the first
///    `Stalled=True` → `Failed`;
/// 4. the first `Ready` condition with status `True` → `Current`, `False` or `Unknown` →
///    `InProgress` (kstatus skips a `Ready` with any other status);
/// 5. otherwise `Current`.
///
/// Fields of the wrong type count as absent (kstatus itself returns an error for them).
///
/// ```
/// use serde_json::json;
/// use tsbridge::model::status::kstatus::{KStatus, kstatus};
///
/// // The CRDs' status default (R-A2): not observed yet, so Flux keeps waiting.
/// let fresh = json!({"metadata": {"generation": 1}, "status": {"observedGeneration": -1}});
/// assert_eq!(kstatus(&fresh), KStatus::InProgress);
/// let ready = json!({
///     "metadata": {"generation": 1},
///     "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}]}
/// });
/// assert_eq!(kstatus(&ready), KStatus::Current);
/// ```
pub fn kstatus(object: &Value) -> KStatus {
    let deletion = object.pointer("/metadata/deletionTimestamp");
    if deletion
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return KStatus::Terminating;
    }
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let observed = object
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if let (Some(generation), Some(observed)) = (generation, observed)
        && generation != observed
    {
        return KStatus::InProgress;
    }
    let conditions = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for condition in conditions {
        match (field(condition, "type"), field(condition, "status")) {
            (Some("Reconciling"), Some("True")) => return KStatus::InProgress,
            (Some("Stalled"), Some("True")) => return KStatus::Failed,
            _ => {}
        }
    }
    for condition in conditions {
        if field(condition, "type") != Some("Ready") {
            continue;
        }
        match field(condition, "status") {
            Some("True") => return KStatus::Current,
            Some("False" | "Unknown") => return KStatus::InProgress,
            _ => {}
        }
    }
    KStatus::Current
}

fn field<'a>(condition: &'a Value, name: &str) -> Option<&'a str> {
    condition.get(name).and_then(Value::as_str)
}
