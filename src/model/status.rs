//! Status model: MP statuses, events and edge states (tsb-model.md §5.1–§5.6), and the
//! kstatus-compatible CR status the agent writes back (§5.9, gitops-contract.md R-A1–R-A7).
//!
//! Everything here is a pure function of its inputs; "now" is a parameter, never read from a
//! clock, so the agent can compare desired and live status and skip no-op writes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::diagnostic::{Diagnostic, GrpcCode, RuleCode, Severity, one_line};
use crate::model::kind::Kind;

mod aggregate;
pub mod kstatus;

pub use aggregate::{Aggregate, aggregate, merge_edge};

// === MP status ===

/// `ResourceStatus.status` (§5.1). Numbers are TSB's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MpStatus {
    /// 0: something is wrong with the status itself.
    Invalid,
    /// 1: validated and persisted.
    Accepted,
    /// 2: usable; for config kinds, applied in every target cluster.
    Ready,
    /// 3: failed.
    Failed,
    /// 4: a dependency has not reached its desired state (e.g. superseded under STRICTER).
    Dirty,
    /// 5: aggregating parent whose children disagree.
    Partial,
}

impl MpStatus {
    /// The wire name (`READY`, …), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MpStatus::Invalid => "INVALID",
            MpStatus::Accepted => "ACCEPTED",
            MpStatus::Ready => "READY",
            MpStatus::Failed => "FAILED",
            MpStatus::Dirty => "DIRTY",
            MpStatus::Partial => "PARTIAL",
        }
    }

    /// TSB's enum number.
    pub fn number(self) -> i32 {
        match self {
            MpStatus::Invalid => 0,
            MpStatus::Accepted => 1,
            MpStatus::Ready => 2,
            MpStatus::Failed => 3,
            MpStatus::Dirty => 4,
            MpStatus::Partial => 5,
        }
    }

    /// Badness for "worst child": INVALID > FAILED > DIRTY > PARTIAL > ACCEPTED > READY (§5.6).
    pub fn badness(self) -> u8 {
        match self {
            MpStatus::Ready => 0,
            MpStatus::Accepted => 1,
            MpStatus::Partial => 2,
            MpStatus::Dirty => 3,
            MpStatus::Failed => 4,
            MpStatus::Invalid => 5,
        }
    }
}

/// `EventType` (§5.2). Numbers are TSB's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    /// 0
    Invalid,
    /// 1: validated and stored.
    TsbAccepted,
    /// 2: entered the distribution pipeline.
    MpcAccepted,
    /// 3: translated; targets computed.
    XcpAccepted,
    /// 4: translation failed or produced invalid objects.
    XcpRejected,
    /// 5: internal failure before translation.
    MpcFailed,
    /// 6: every edge UNKNOWN.
    XcpUnknown,
    /// 7: some APPLIED, the rest UNKNOWN (or IGNORED).
    XcpPartiallyApplied,
    /// 8: every edge APPLIED.
    XcpApplied,
    /// 9: some edge ERRORED.
    XcpErrored,
    /// 10: every edge IGNORED.
    XcpIgnored,
    /// 11: superseded / dependency not at its desired status.
    MpcDirty,
}

impl EventType {
    /// The wire name (`XCP_APPLIED`, …), as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Invalid => "INVALID",
            EventType::TsbAccepted => "TSB_ACCEPTED",
            EventType::MpcAccepted => "MPC_ACCEPTED",
            EventType::XcpAccepted => "XCP_ACCEPTED",
            EventType::XcpRejected => "XCP_REJECTED",
            EventType::MpcFailed => "MPC_FAILED",
            EventType::XcpUnknown => "XCP_UNKNOWN",
            EventType::XcpPartiallyApplied => "XCP_PARTIALLY_APPLIED",
            EventType::XcpApplied => "XCP_APPLIED",
            EventType::XcpErrored => "XCP_ERRORED",
            EventType::XcpIgnored => "XCP_IGNORED",
            EventType::MpcDirty => "MPC_DIRTY",
        }
    }

    /// TSB's enum number.
    pub fn number(self) -> i32 {
        self as i32
    }
}

/// `EdgeConfigStatus` (§5.3): one cluster's state for one (object, etag).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EdgeState {
    /// Not reported yet (also after a newer etag reset the pair).
    #[default]
    Unknown,
    /// Applied.
    Applied,
    /// Failed to apply.
    Errored,
    /// Ignored by the edge.
    Ignored,
}

impl EdgeState {
    /// The serialized name (`APPLIED`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeState::Unknown => "UNKNOWN",
            EdgeState::Applied => "APPLIED",
            EdgeState::Errored => "ERRORED",
            EdgeState::Ignored => "IGNORED",
        }
    }

    /// The state [`EdgeState::as_str`] names; `None` for any other text.
    pub fn from_name(name: &str) -> Option<EdgeState> {
        [
            EdgeState::Unknown,
            EdgeState::Applied,
            EdgeState::Errored,
            EdgeState::Ignored,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }
}

/// §5.4: the event that summarizes the edges; `None` when there is no target cluster.
///
/// ```
/// use tsbridge::model::status::{EdgeState, EventType, edge_event};
///
/// let states = [EdgeState::Applied, EdgeState::Unknown];
/// assert_eq!(edge_event(states), Some(EventType::XcpPartiallyApplied));
/// assert_eq!(edge_event([]), None);
/// ```
pub fn edge_event<I: IntoIterator<Item = EdgeState>>(states: I) -> Option<EventType> {
    let states: Vec<EdgeState> = states.into_iter().collect();
    if states.is_empty() {
        return None;
    }
    let all = |s: EdgeState| states.iter().all(|x| *x == s);
    let any = |s: EdgeState| states.contains(&s);
    Some(if any(EdgeState::Errored) {
        EventType::XcpErrored
    } else if all(EdgeState::Ignored) {
        EventType::XcpIgnored
    } else if all(EdgeState::Applied) {
        EventType::XcpApplied
    } else if all(EdgeState::Unknown) {
        EventType::XcpUnknown
    } else if any(EdgeState::Applied) {
        // The rest are UNKNOWN or IGNORED (ERRORED was handled first).
        EventType::XcpPartiallyApplied
    } else {
        // Only IGNORED and UNKNOWN.
        EventType::XcpUnknown
    })
}

/// `TypeInfo` flags (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TypeInfo {
    /// Goes through the event stages before READY.
    pub generates_config: bool,
    /// Aggregates children's status (§5.6).
    pub aggregates_status: bool,
    /// READY as soon as XCP accepted, without waiting for edges.
    pub last_event_xcp_accepted: bool,
}

impl TypeInfo {
    /// A kind that generates config and waits for its edges.
    pub const CONFIG: TypeInfo = TypeInfo {
        generates_config: true,
        aggregates_status: false,
        last_event_xcp_accepted: false,
    };

    /// The flags tsbridge uses for a kind.
    pub fn of(kind: Kind) -> TypeInfo {
        TypeInfo {
            generates_config: kind.generates_config(),
            aggregates_status: kind.aggregates_status(),
            last_event_xcp_accepted: false,
        }
    }
}

/// §5.5: the status implied by the latest event.
pub fn status_for_event(event: EventType, info: TypeInfo) -> MpStatus {
    let status = match event {
        EventType::TsbAccepted
        | EventType::MpcAccepted
        | EventType::XcpUnknown
        | EventType::XcpPartiallyApplied => MpStatus::Accepted,
        EventType::XcpAccepted if info.last_event_xcp_accepted => MpStatus::Ready,
        EventType::XcpAccepted => MpStatus::Accepted,
        EventType::XcpApplied => MpStatus::Ready,
        EventType::XcpRejected
        | EventType::MpcFailed
        | EventType::XcpErrored
        | EventType::XcpIgnored => MpStatus::Failed,
        EventType::MpcDirty => MpStatus::Dirty,
        EventType::Invalid => MpStatus::Invalid,
    };
    // Kinds without config are READY once stored; failures still show.
    if !info.generates_config && status == MpStatus::Accepted {
        MpStatus::Ready
    } else {
        status
    }
}

/// Where an object is in the MP pipeline (§5.2, tsbridge meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PipelineStage {
    /// Validated and stored.
    Stored,
    /// In the distribution pipeline.
    Distributing,
    /// Translated; per-cluster targets computed; edges report from here on.
    Translated,
    /// Translation failed or produced invalid objects.
    TranslationFailed,
    /// Internal failure before translation.
    InternalFailure,
}

/// An object's MP status with its latest event and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceStatus {
    /// The status.
    pub status: MpStatus,
    /// The latest event.
    pub last_event: EventType,
    /// Root cause or summary.
    pub message: String,
}

/// Message of an object that no cluster currently selects (§5.4).
pub const NO_CLUSTER_SELECTED: &str = "no cluster currently selected";

/// An object's own status from its stage, its edges and whether a STRICTER ancestor
/// supersedes it. Precedence: failures, then ERRORED edges, then DIRTY, then the edge event.
pub fn resource_status(
    info: TypeInfo,
    stage: PipelineStage,
    edges: &BTreeMap<String, EdgeState>,
    superseded: bool,
    failure: &str,
) -> ResourceStatus {
    let done = |event: EventType, message: String| ResourceStatus {
        status: status_for_event(event, info),
        last_event: event,
        message,
    };
    match stage {
        PipelineStage::InternalFailure => return done(EventType::MpcFailed, failure.to_string()),
        PipelineStage::TranslationFailed => {
            return done(EventType::XcpRejected, failure.to_string());
        }
        PipelineStage::Stored => return done(EventType::TsbAccepted, String::new()),
        PipelineStage::Distributing => return done(EventType::MpcAccepted, String::new()),
        PipelineStage::Translated => {}
    }
    let event = edge_event(edges.values().copied());
    if event == Some(EventType::XcpErrored) {
        let failed: Vec<&str> = edges
            .iter()
            .filter(|(_, s)| **s == EdgeState::Errored)
            .map(|(c, _)| c.as_str())
            .collect();
        return done(
            EventType::XcpErrored,
            format!("errored in cluster(s) {}", failed.join(", ")),
        );
    }
    if superseded {
        return done(
            EventType::MpcDirty,
            "superseded by a STRICTER ancestor security setting".to_string(),
        );
    }
    match event {
        None => done(EventType::XcpAccepted, NO_CLUSTER_SELECTED.to_string()),
        Some(EventType::XcpIgnored) => done(
            EventType::XcpIgnored,
            "every target cluster ignored the object".to_string(),
        ),
        Some(event) => {
            let counts = ClusterCounts::of(edges);
            done(event, counts.message())
        }
    }
}

/// §5.6 `childrenStatus`: READY if every child is READY, else the worst child status.
pub fn children_status<I: IntoIterator<Item = MpStatus>>(children: I) -> Option<MpStatus> {
    children.into_iter().max_by_key(|s| s.badness())
}

/// §5.6 (tsbridge rule): a parent with no children shows its own status; one with children
/// takes theirs: the status they all share, the worst when one is `DIRTY`, `FAILED` or
/// `INVALID` (a failure is never hidden behind `PARTIAL`), and `PARTIAL` while they disagree
/// otherwise (some `READY`, some still `ACCEPTED`). Its own status does not count: a
/// Workspace, Group or Tenant produces nothing of its own (`docs/status.md`).
pub fn aggregate_status<I: IntoIterator<Item = MpStatus>>(own: MpStatus, children: I) -> MpStatus {
    let mut children = children.into_iter();
    let Some(first) = children.next() else {
        return own;
    };
    let (mut worst, mut agree) = (first, true);
    for child in children {
        agree &= child == first;
        if child.badness() > worst.badness() {
            worst = child;
        }
    }
    if agree {
        first
    } else if worst.badness() >= MpStatus::Dirty.badness() {
        worst
    } else {
        MpStatus::Partial
    }
}

/// `status.tsb.clusters`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct ClusterCounts {
    /// Target clusters that applied the current etag.
    pub applied: u32,
    /// Target clusters.
    pub targeted: u32,
}

impl ClusterCounts {
    /// Counts from per-cluster edge states.
    pub fn of(edges: &BTreeMap<String, EdgeState>) -> ClusterCounts {
        ClusterCounts {
            applied: edges.values().filter(|s| **s == EdgeState::Applied).count() as u32,
            targeted: edges.len() as u32,
        }
    }

    /// "applied in N of M clusters" (R-A6's one allowed counter message).
    pub fn message(self) -> String {
        format!("applied in {} of {} clusters", self.applied, self.targeted)
    }
}

// === CR status ===

/// Condition types (R-A3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ConditionType {
    /// The summary.
    Ready,
    /// Work in flight or waiting (transient).
    Reconciling,
    /// Terminal error; needs a change in Git.
    Stalled,
    /// Optional propagation to clusters; kstatus ignores it.
    Propagated,
}

/// Condition status strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ConditionStatus {
    /// `"True"`
    True,
    /// `"False"`
    False,
    /// `"Unknown"` (never written by the agent, R-A3 (d)).
    Unknown,
}

/// The one reason enum (gitops-contract.md R-A3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Reason {
    /// `Ready=True`.
    Accepted,
    /// Transient: push in flight, awaiting ack, retried conflicts, unclassified errors.
    Pushing,
    /// Transient: MP unreachable or deadline exceeded.
    ManagementPlaneUnavailable,
    /// Transient: parent missing.
    DependencyNotReady,
    /// Transient: throttled.
    RateLimited,
    /// Transient: mass-deletion guard (MP status only, never on a CR).
    DeletionHeld,
    /// Terminal.
    Invalid,
    /// Terminal.
    SelectorOutsideWorkspace,
    /// Terminal.
    WorkspaceOverlap,
    /// Terminal.
    NamespaceNotInGroup,
    /// Terminal.
    DuplicateServiceSetting,
    /// Terminal.
    ConfigModeMismatch,
    /// Terminal.
    DeletionProtected,
    /// Terminal ("not granted").
    PermissionDenied,
    /// Terminal: two CRs map to one FQN.
    Conflict,
    /// `Propagated=True`.
    Applied,
    /// `Propagated=False`: not applied everywhere yet.
    Pending,
    /// `Propagated=False`: a cluster errored or translation failed.
    Errored,
}

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 18] = [
        Reason::Accepted,
        Reason::Pushing,
        Reason::ManagementPlaneUnavailable,
        Reason::DependencyNotReady,
        Reason::RateLimited,
        Reason::DeletionHeld,
        Reason::Invalid,
        Reason::SelectorOutsideWorkspace,
        Reason::WorkspaceOverlap,
        Reason::NamespaceNotInGroup,
        Reason::DuplicateServiceSetting,
        Reason::ConfigModeMismatch,
        Reason::DeletionProtected,
        Reason::PermissionDenied,
        Reason::Conflict,
        Reason::Applied,
        Reason::Pending,
        Reason::Errored,
    ];

    /// Reasons of `Reconciling=True`.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Reason::Pushing
                | Reason::ManagementPlaneUnavailable
                | Reason::DependencyNotReady
                | Reason::RateLimited
                | Reason::DeletionHeld
        )
    }

    /// Reasons of `Stalled=True`.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Reason::Invalid
                | Reason::SelectorOutsideWorkspace
                | Reason::WorkspaceOverlap
                | Reason::NamespaceNotInGroup
                | Reason::DuplicateServiceSetting
                | Reason::ConfigModeMismatch
                | Reason::DeletionProtected
                | Reason::PermissionDenied
                | Reason::Conflict
        )
    }

    /// The CamelCase string.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Accepted => "Accepted",
            Reason::Pushing => "Pushing",
            Reason::ManagementPlaneUnavailable => "ManagementPlaneUnavailable",
            Reason::DependencyNotReady => "DependencyNotReady",
            Reason::RateLimited => "RateLimited",
            Reason::DeletionHeld => "DeletionHeld",
            Reason::Invalid => "Invalid",
            Reason::SelectorOutsideWorkspace => "SelectorOutsideWorkspace",
            Reason::WorkspaceOverlap => "WorkspaceOverlap",
            Reason::NamespaceNotInGroup => "NamespaceNotInGroup",
            Reason::DuplicateServiceSetting => "DuplicateServiceSetting",
            Reason::ConfigModeMismatch => "ConfigModeMismatch",
            Reason::DeletionProtected => "DeletionProtected",
            Reason::PermissionDenied => "PermissionDenied",
            Reason::Conflict => "Conflict",
            Reason::Applied => "Applied",
            Reason::Pending => "Pending",
            Reason::Errored => "Errored",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// Status.
    pub status: ConditionStatus,
    /// Reason.
    pub reason: Reason,
    /// One line, at most 256 characters (R-A6).
    pub message: String,
    /// RFC 3339; moves only when `status` flips (R-A7).
    pub last_transition_time: String,
    /// The generation this condition describes (R-A4).
    pub observed_generation: i64,
}

/// Level of an `analysis[]` entry (R-B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum FindingLevel {
    /// Error.
    Error,
    /// Warning.
    Warning,
    /// Info.
    Info,
}

/// One `status.analysis[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable code, e.g. `TSB1101`.
    pub code: String,
    /// Level.
    pub level: FindingLevel,
    /// One line.
    pub message: String,
    /// Field path, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

impl From<&Diagnostic> for Finding {
    fn from(d: &Diagnostic) -> Finding {
        Finding {
            code: d.rule.code().to_string(),
            level: match d.severity {
                Severity::Error => FindingLevel::Error,
                Severity::Warning => FindingLevel::Warning,
                Severity::Info => FindingLevel::Info,
            },
            message: condition_message(&format!("{}; fix: {}", d.message, d.fix)),
            field_path: (!d.field.is_empty()).then(|| d.field.clone()),
        }
    }
}

/// `status.tsb`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsbStatus {
    /// The object's FQN.
    pub fqn: String,
    /// MP etag after the last accepted write.
    pub etag: String,
    /// MP status.
    pub status: MpStatus,
    /// Latest MP event.
    pub last_event: EventType,
    /// Applied / targeted clusters.
    pub clusters: ClusterCounts,
}

/// The whole CR status the agent owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrStatus {
    /// Generation whose content the MP last processed; -1 before the agent saw the CR.
    pub observed_generation: i64,
    /// Ready / Reconciling / Stalled / Propagated.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// MP view, once the MP has answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsb: Option<TsbStatus>,
    /// Advisory findings.
    #[serde(default)]
    pub analysis: Vec<Finding>,
}

/// What the agent knows about the current generation's push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushState {
    /// The MP accepted (stored and validated) the current generation.
    Accepted(TsbStatus),
    /// Not accepted (yet): a transient reason gives `Reconciling=True`, a terminal reason gives
    /// `Stalled=True`. Any other reason is treated as `Pushing`.
    NotAccepted {
        /// Why.
        reason: Reason,
        /// One line naming field, rule and fix where there is one.
        message: String,
    },
}

impl PushState {
    /// Classifies a failed push by its gRPC code name and, when the MP sent one, the rule
    /// (gitops-contract.md R-A5). Unknown errors are transient (`Pushing`).
    pub fn from_push_error(code: &str, rule: Option<RuleCode>, message: &str) -> PushState {
        let reason = match (code, rule) {
            ("UNAVAILABLE" | "DEADLINE_EXCEEDED", _) => Reason::ManagementPlaneUnavailable,
            // An object over a limit stays over it: terminal, unlike a rate or quota refusal.
            ("RESOURCE_EXHAUSTED", Some(RuleCode::ObjectLimit)) => Reason::Invalid,
            ("RESOURCE_EXHAUSTED", _) => Reason::RateLimited,
            ("ABORTED", _) => Reason::Pushing,
            (_, Some(RuleCode::StaleEtag)) => Reason::Pushing,
            ("NOT_FOUND", _) => Reason::DependencyNotReady,
            (_, Some(rule))
                if rule.grpc_code().map(GrpcCode::name) == Some(code)
                    && rule.condition_reason().is_some() =>
            {
                rule.condition_reason().unwrap_or(Reason::Pushing)
            }
            ("INVALID_ARGUMENT", _) => Reason::Invalid,
            ("ALREADY_EXISTS", _) => Reason::Conflict,
            ("PERMISSION_DENIED", _) => Reason::PermissionDenied,
            _ => Reason::Pushing,
        };
        PushState::NotAccepted {
            reason,
            message: message.to_string(),
        }
    }
}

/// One line, at most 256 characters (R-A6).
pub fn condition_message(text: &str) -> String {
    const LIMIT: usize = 256;
    let line = one_line(text);
    if line.chars().count() <= LIMIT {
        return line;
    }
    let mut cut: String = line.chars().take(LIMIT - 1).collect();
    cut.push('…');
    cut
}

fn condition(
    type_: ConditionType,
    status: ConditionStatus,
    reason: Reason,
    message: &str,
    generation: i64,
    previous: Option<&CrStatus>,
    now: &str,
) -> Condition {
    let kept = previous
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone());
    Condition {
        type_,
        status,
        reason,
        message: condition_message(message),
        last_transition_time: kept.unwrap_or_else(|| now.to_string()),
        observed_generation: generation,
    }
}

/// The desired CR status for `generation` (R-A3 invariants hold by construction):
/// `Ready=True` ⇒ no Reconciling/Stalled; `Ready=False` ⇒ exactly one of them, whose reason and
/// message Ready copies; never `Unknown`; `Propagated` only when clusters are targeted.
/// `lastTransitionTime` is kept from `previous` when a condition's status did not flip.
pub fn desired_status(
    state: &PushState,
    generation: i64,
    previous: Option<&CrStatus>,
    findings: &[Finding],
    now: &str,
) -> CrStatus {
    let mut conditions = Vec::new();
    let mut analysis: Vec<Finding> = findings.to_vec();
    let tsb = match state {
        PushState::Accepted(tsb) => {
            let ready_message = if tsb.clusters.targeted == 0 {
                format!("accepted by the management plane; {NO_CLUSTER_SELECTED}")
            } else {
                tsb.clusters.message()
            };
            conditions.push(condition(
                ConditionType::Ready,
                ConditionStatus::True,
                Reason::Accepted,
                &ready_message,
                generation,
                previous,
                now,
            ));
            if tsb.clusters.targeted > 0 {
                let errored = tsb.status == MpStatus::Failed
                    || tsb.last_event == EventType::XcpErrored
                    || tsb.last_event == EventType::XcpRejected;
                let (status, reason) = if errored {
                    (ConditionStatus::False, Reason::Errored)
                } else if tsb.clusters.applied >= tsb.clusters.targeted {
                    (ConditionStatus::True, Reason::Applied)
                } else {
                    (ConditionStatus::False, Reason::Pending)
                };
                conditions.push(condition(
                    ConditionType::Propagated,
                    status,
                    reason,
                    &tsb.clusters.message(),
                    generation,
                    previous,
                    now,
                ));
            }
            if tsb.status == MpStatus::Dirty {
                analysis.push(Finding {
                    code: RuleCode::StricterSupersession.code().to_string(),
                    level: FindingLevel::Warning,
                    message: "superseded by a STRICTER ancestor security setting; the stricter \
                              value is enforced"
                        .to_string(),
                    field_path: None,
                });
            }
            Some(tsb.clone())
        }
        PushState::NotAccepted { reason, message } => {
            let (type_, reason) = if reason.is_terminal() {
                (ConditionType::Stalled, *reason)
            } else if reason.is_transient() {
                (ConditionType::Reconciling, *reason)
            } else {
                (ConditionType::Reconciling, Reason::Pushing)
            };
            conditions.push(condition(
                ConditionType::Ready,
                ConditionStatus::False,
                reason,
                message,
                generation,
                previous,
                now,
            ));
            conditions.push(condition(
                type_,
                ConditionStatus::True,
                reason,
                message,
                generation,
                previous,
                now,
            ));
            // The last accepted MP view stays until a newer answer replaces it.
            previous.and_then(|p| p.tsb.clone())
        }
    };
    CrStatus {
        observed_generation: generation,
        conditions,
        tsb,
        analysis,
    }
}

#[cfg(test)]
mod tests;
