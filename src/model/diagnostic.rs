//! Diagnostics: one finding of one rule on one object (tsb-model.md §4; gitops-contract.md
//! R-A6, R-B6, R-B7).
//!
//! The same value feeds the webhook denial, the MP's gRPC error, the CR's `Stalled` reason and
//! `status.analysis[]`, and `tsbridge validate` output, so all of them say the same thing.

use std::fmt;

use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::status::Reason;

/// The rules of §4.2 (V1–V20) plus tsbridge's own object-local and analysis rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleCode {
    /// V1: kind recognition (later kinds and non-config objects are ignored).
    KindRecognition,
    /// V2: required hierarchy annotations present and non-empty.
    HierarchyAnnotations,
    /// V3: direct mode: exactly one group annotation, allowed for the kind.
    DirectModeGroup,
    /// V4: direct mode: label `istio.io/rev: tsb`.
    DirectModeLabel,
    /// V5: DNS-1123 name rule for names and annotation values.
    NameRule,
    /// V6: `namespaceSelector` grammar.
    SelectorGrammar,
    /// V7: required fields, patterns and combinations.
    RequiredField,
    /// V8: unknown or mistyped spec fields.
    SpecSchema,
    /// V9: parent exists.
    ParentExists,
    /// V10: group selector within its workspace.
    SelectorOutsideWorkspace,
    /// V11: workspace exclusivity.
    WorkspaceOverlap,
    /// V12: direct-mode object's namespace belongs to its group.
    NamespaceNotInGroup,
    /// V13: one ServiceTrafficSetting per service.
    DuplicateServiceSetting,
    /// V14: config mode mismatch.
    ConfigModeMismatch,
    /// V15: superseded under `STRICTER` propagation (accepted, status `DIRTY`).
    StricterSupersession,
    /// V16: deletion protection.
    DeletionProtected,
    /// V17: recursive delete (accepted; listed for completeness).
    RecursiveDelete,
    /// V18: write outside the cluster's grant.
    GrantScope,
    /// V19: Role creation through GitOps.
    RoleCreation,
    /// V20: update with a stale etag.
    StaleEtag,
    /// §2.2 rule 3: hierarchy (or unknown `tsb.tetrate.io/`) annotation ignored.
    IgnoredAnnotation,
    /// gitops-contract.md R-G1: inline private key or token in a spec.
    InlineSecret,
    /// gitops-contract.md R-C6: hierarchy annotations are immutable after create.
    HierarchyImmutable,
    /// §2.3: two objects map to one FQN.
    FqnConflict,
    /// A deprecated field is used (advisory, R-B7).
    DeprecatedField,
    /// L3: `spec.service` names a namespace its group cannot select (§10 question 5).
    ServiceOutsideGroup,
    /// L3: a gateway's `workloadSelector.namespace` lies outside its gateway group.
    GatewayOutsideGroup,
    /// L3: a DIRECT gateway-group VirtualService binds to a Gateway outside its group (§1.2).
    GatewayBinding,
    /// L3: an FQN reference in a spec does not parse.
    InvalidReference,
    /// A field is accepted but translation does not enforce it (`model::catalogue`).
    NotEnforced,
    /// Translation refers to an Istio mesh extension provider (external authorization) that
    /// Istio's `meshConfig.extensionProviders` must declare; tsbridge does not manage it.
    ExtensionProvider,
    /// An object over a limit of `docs/limits.md`: spec size, nesting depth, annotation size.
    ObjectLimit,
}

/// gRPC status codes the MP uses for rule violations (§4.5), named without depending on tonic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrpcCode {
    /// `INVALID_ARGUMENT` (3)
    InvalidArgument,
    /// `NOT_FOUND` (5)
    NotFound,
    /// `ALREADY_EXISTS` (6)
    AlreadyExists,
    /// `PERMISSION_DENIED` (7)
    PermissionDenied,
    /// `RESOURCE_EXHAUSTED` (8)
    ResourceExhausted,
    /// `FAILED_PRECONDITION` (9)
    FailedPrecondition,
}

impl GrpcCode {
    /// The canonical upper-case name.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::InvalidArgument => "INVALID_ARGUMENT",
            GrpcCode::NotFound => "NOT_FOUND",
            GrpcCode::AlreadyExists => "ALREADY_EXISTS",
            GrpcCode::PermissionDenied => "PERMISSION_DENIED",
            GrpcCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcCode::FailedPrecondition => "FAILED_PRECONDITION",
        }
    }

    /// The numeric code (what the gRPC library builds a code from).
    pub fn number(self) -> i32 {
        match self {
            GrpcCode::InvalidArgument => 3,
            GrpcCode::NotFound => 5,
            GrpcCode::AlreadyExists => 6,
            GrpcCode::PermissionDenied => 7,
            GrpcCode::ResourceExhausted => 8,
            GrpcCode::FailedPrecondition => 9,
        }
    }

    /// Parses the canonical name.
    pub fn from_name(name: &str) -> Option<GrpcCode> {
        [
            GrpcCode::InvalidArgument,
            GrpcCode::NotFound,
            GrpcCode::AlreadyExists,
            GrpcCode::PermissionDenied,
            GrpcCode::ResourceExhausted,
            GrpcCode::FailedPrecondition,
        ]
        .into_iter()
        .find(|code| code.name() == name)
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl RuleCode {
    /// Every rule.
    pub const ALL: [RuleCode; 32] = [
        RuleCode::KindRecognition,
        RuleCode::HierarchyAnnotations,
        RuleCode::DirectModeGroup,
        RuleCode::DirectModeLabel,
        RuleCode::NameRule,
        RuleCode::SelectorGrammar,
        RuleCode::RequiredField,
        RuleCode::SpecSchema,
        RuleCode::ParentExists,
        RuleCode::SelectorOutsideWorkspace,
        RuleCode::WorkspaceOverlap,
        RuleCode::NamespaceNotInGroup,
        RuleCode::DuplicateServiceSetting,
        RuleCode::ConfigModeMismatch,
        RuleCode::StricterSupersession,
        RuleCode::DeletionProtected,
        RuleCode::RecursiveDelete,
        RuleCode::GrantScope,
        RuleCode::RoleCreation,
        RuleCode::StaleEtag,
        RuleCode::IgnoredAnnotation,
        RuleCode::InlineSecret,
        RuleCode::HierarchyImmutable,
        RuleCode::FqnConflict,
        RuleCode::DeprecatedField,
        RuleCode::ServiceOutsideGroup,
        RuleCode::GatewayOutsideGroup,
        RuleCode::GatewayBinding,
        RuleCode::InvalidReference,
        RuleCode::NotEnforced,
        RuleCode::ExtensionProvider,
        RuleCode::ObjectLimit,
    ];

    /// The §4.2 rule number (`V6`), if the rule is one of V1–V20.
    pub fn rule_id(self) -> Option<&'static str> {
        const IDS: [&str; 20] = [
            "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V8", "V9", "V10", "V11", "V12", "V13",
            "V14", "V15", "V16", "V17", "V18", "V19", "V20",
        ];
        let index = RuleCode::ALL.iter().position(|r| *r == self)?;
        IDS.get(index).copied()
    }

    /// The stable code shown to users (R-B6): `TSB10nn` for Vnn, `TSB11nn` for other
    /// object-local rules, `TSB12nn` for analysis findings. Once released, never renumbered.
    pub fn code(self) -> &'static str {
        match self {
            RuleCode::KindRecognition => "TSB1001",
            RuleCode::HierarchyAnnotations => "TSB1002",
            RuleCode::DirectModeGroup => "TSB1003",
            RuleCode::DirectModeLabel => "TSB1004",
            RuleCode::NameRule => "TSB1005",
            RuleCode::SelectorGrammar => "TSB1006",
            RuleCode::RequiredField => "TSB1007",
            RuleCode::SpecSchema => "TSB1008",
            RuleCode::ParentExists => "TSB1009",
            RuleCode::SelectorOutsideWorkspace => "TSB1010",
            RuleCode::WorkspaceOverlap => "TSB1011",
            RuleCode::NamespaceNotInGroup => "TSB1012",
            RuleCode::DuplicateServiceSetting => "TSB1013",
            RuleCode::ConfigModeMismatch => "TSB1014",
            RuleCode::StricterSupersession => "TSB1015",
            RuleCode::DeletionProtected => "TSB1016",
            RuleCode::RecursiveDelete => "TSB1017",
            RuleCode::GrantScope => "TSB1018",
            RuleCode::RoleCreation => "TSB1019",
            RuleCode::StaleEtag => "TSB1020",
            RuleCode::IgnoredAnnotation => "TSB1101",
            RuleCode::InlineSecret => "TSB1102",
            RuleCode::HierarchyImmutable => "TSB1103",
            RuleCode::FqnConflict => "TSB1104",
            RuleCode::DeprecatedField => "TSB1105",
            RuleCode::ServiceOutsideGroup => "TSB1201",
            RuleCode::GatewayOutsideGroup => "TSB1202",
            RuleCode::GatewayBinding => "TSB1203",
            RuleCode::InvalidReference => "TSB1204",
            RuleCode::NotEnforced => "TSB1106",
            RuleCode::ExtensionProvider => "TSB1107",
            RuleCode::ObjectLimit => "TSB1108",
        }
    }

    /// The gRPC code the MP answers with when this rule rejects a write (§4.5); `None` for
    /// rules that never reject (V1, V15, V17 and advisory findings).
    pub fn grpc_code(self) -> Option<GrpcCode> {
        use RuleCode::*;
        match self {
            HierarchyAnnotations | DirectModeGroup | DirectModeLabel | NameRule
            | SelectorGrammar | RequiredField | SpecSchema | InlineSecret | HierarchyImmutable => {
                Some(GrpcCode::InvalidArgument)
            }
            ParentExists => Some(GrpcCode::NotFound),
            SelectorOutsideWorkspace
            | WorkspaceOverlap
            | NamespaceNotInGroup
            | ConfigModeMismatch
            | DeletionProtected
            | StaleEtag => Some(GrpcCode::FailedPrecondition),
            DuplicateServiceSetting | FqnConflict => Some(GrpcCode::AlreadyExists),
            GrantScope | RoleCreation => Some(GrpcCode::PermissionDenied),
            ObjectLimit => Some(GrpcCode::ResourceExhausted),
            KindRecognition | StricterSupersession | RecursiveDelete | IgnoredAnnotation
            | DeprecatedField | ServiceOutsideGroup | GatewayOutsideGroup | GatewayBinding
            | InvalidReference | NotEnforced | ExtensionProvider => None,
        }
    }

    /// The CR condition reason when this rule rejects a push (§4.5, gitops-contract.md R-A3);
    /// `None` where the agent never shows one (stale etags are retried, advisories only go to
    /// `status.analysis[]`).
    pub fn condition_reason(self) -> Option<Reason> {
        use RuleCode::*;
        match self {
            HierarchyAnnotations | DirectModeGroup | DirectModeLabel | NameRule
            | SelectorGrammar | RequiredField | SpecSchema | InlineSecret | HierarchyImmutable
            | ObjectLimit => Some(Reason::Invalid),
            ParentExists => Some(Reason::DependencyNotReady),
            SelectorOutsideWorkspace => Some(Reason::SelectorOutsideWorkspace),
            WorkspaceOverlap => Some(Reason::WorkspaceOverlap),
            NamespaceNotInGroup => Some(Reason::NamespaceNotInGroup),
            DuplicateServiceSetting => Some(Reason::DuplicateServiceSetting),
            ConfigModeMismatch => Some(Reason::ConfigModeMismatch),
            DeletionProtected => Some(Reason::DeletionProtected),
            GrantScope | RoleCreation => Some(Reason::PermissionDenied),
            FqnConflict => Some(Reason::Conflict),
            KindRecognition | StricterSupersession | RecursiveDelete | StaleEtag
            | IgnoredAnnotation | DeprecatedField | ServiceOutsideGroup | GatewayOutsideGroup
            | GatewayBinding | InvalidReference | NotEnforced | ExtensionProvider => None,
        }
    }

    /// Looks a rule up by its stable code.
    pub fn from_code(code: &str) -> Option<RuleCode> {
        RuleCode::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for RuleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Informational (e.g. a kind that is ignored for now).
    Info,
    /// Advisory; never blocks (admission warnings, `status.analysis[]`, `DIRTY`).
    Warning,
    /// Blocks admission or the MP write.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "Info",
            Severity::Warning => "Warning",
            Severity::Error => "Error",
        })
    }
}

/// The object a diagnostic is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// API group (empty for the core group).
    pub group: String,
    /// `kind` as written.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when known (CRs; not API writes).
    pub namespace: Option<String>,
    /// The FQN, when it could be derived.
    pub fqn: Option<Fqn>,
}

impl ObjectRef {
    /// A reference to an object of a catalogue kind.
    pub fn new(kind: Kind, name: &str, namespace: Option<&str>) -> ObjectRef {
        ObjectRef {
            group: kind.group().to_string(),
            kind: kind.name().to_string(),
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            fqn: None,
        }
    }

    /// The same reference with its FQN.
    pub fn with_fqn(mut self, fqn: Fqn) -> ObjectRef {
        self.fqn = Some(fqn);
        self
    }
}

impl fmt::Display for ObjectRef {
    /// `Kind[.group]/[namespace/]name`, Flux style; the group is added only where the kind
    /// name alone is ambiguous (`Group`, `Gateway`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ambiguous = matches!(self.kind.as_str(), "Group" | "Gateway");
        if ambiguous && !self.group.is_empty() {
            write!(f, "{}.{}/", self.kind, self.group)?;
        } else {
            write!(f, "{}/", self.kind)?;
        }
        if let Some(namespace) = &self.namespace {
            write!(f, "{namespace}/")?;
        }
        f.write_str(&self.name)
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Diagnostic {
    /// Which rule.
    pub rule: RuleCode,
    /// Error, warning or info.
    pub severity: Severity,
    /// Which object.
    pub object: ObjectRef,
    /// JSON-path-ish field, e.g. `spec.namespaceSelector.names[2]` or
    /// `metadata.annotations[tsb.tetrate.io/workspace]`.
    pub field: String,
    /// What is wrong (one line).
    pub message: String,
    /// How to fix it (one line).
    pub fix: String,
}

/// Collapses whitespace runs (newlines included) so every rendering stays on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Diagnostic {
    /// An error.
    pub fn error(
        rule: RuleCode,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            rule,
            severity: Severity::Error,
            object: object.clone(),
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A warning.
    pub fn warning(
        rule: RuleCode,
        object: &ObjectRef,
        field: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(rule, object, field, message, fix)
        }
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The gRPC code an MP rejection carries; `None` for warnings and info.
    pub fn grpc_code(&self) -> Option<GrpcCode> {
        self.is_error().then(|| self.rule.grpc_code()).flatten()
    }

    /// The admission denial / condition message without the object (R-B6):
    /// `<field>: <problem> (<CODE>); fix: <hint>`.
    pub fn admission_message(&self) -> String {
        one_line(&format!(
            "{}: {} ({}); fix: {}",
            self.field,
            self.message,
            self.rule.code(),
            self.fix
        ))
    }
}

/// ```
/// use tsbridge::model::{Diagnostic, Kind, ObjectRef, RuleCode};
///
/// let object = ObjectRef::new(Kind::Workspace, "bad-selectors", Some("tsb-config"));
/// let d = Diagnostic::error(
///     RuleCode::SelectorGrammar,
///     &object,
///     "spec.namespaceSelector.names[0]",
///     "entry \"checkout\" has no cluster part",
///     "write <cluster>/<namespace>",
/// );
/// assert_eq!(
///     d.to_string(),
///     "Workspace/tsb-config/bad-selectors: spec.namespaceSelector.names[0]: \
///      entry \"checkout\" has no cluster part (TSB1006); fix: write <cluster>/<namespace>"
/// );
/// assert_eq!(d.grpc_code().unwrap().name(), "INVALID_ARGUMENT");
/// ```
impl fmt::Display for Diagnostic {
    /// One line naming object, field, problem and fix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.object, self.admission_message())
    }
}

/// True if any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, rule) in RuleCode::ALL.iter().enumerate() {
            assert_eq!(RuleCode::from_code(rule.code()), Some(*rule));
            assert!(!RuleCode::ALL[i + 1..].contains(rule));
            let code = rule.code();
            assert!(code.starts_with("TSB") && code.len() == 7, "{code}");
        }
        assert_eq!(RuleCode::SelectorGrammar.rule_id(), Some("V6"));
        assert_eq!(RuleCode::StaleEtag.rule_id(), Some("V20"));
        assert_eq!(RuleCode::InlineSecret.rule_id(), None);
    }

    #[test]
    fn grpc_codes_follow_section_4_5() {
        use RuleCode::*;
        let table = [
            (SelectorGrammar, Some(GrpcCode::InvalidArgument)),
            (SpecSchema, Some(GrpcCode::InvalidArgument)),
            (NameRule, Some(GrpcCode::InvalidArgument)),
            (ParentExists, Some(GrpcCode::NotFound)),
            (SelectorOutsideWorkspace, Some(GrpcCode::FailedPrecondition)),
            (WorkspaceOverlap, Some(GrpcCode::FailedPrecondition)),
            (NamespaceNotInGroup, Some(GrpcCode::FailedPrecondition)),
            (DuplicateServiceSetting, Some(GrpcCode::AlreadyExists)),
            (FqnConflict, Some(GrpcCode::AlreadyExists)),
            (ConfigModeMismatch, Some(GrpcCode::FailedPrecondition)),
            (DeletionProtected, Some(GrpcCode::FailedPrecondition)),
            (GrantScope, Some(GrpcCode::PermissionDenied)),
            (RoleCreation, Some(GrpcCode::PermissionDenied)),
            (StaleEtag, Some(GrpcCode::FailedPrecondition)),
            (StricterSupersession, None),
        ];
        for (rule, code) in table {
            assert_eq!(rule.grpc_code(), code, "{rule:?}");
        }
        assert_eq!(GrpcCode::FailedPrecondition.name(), "FAILED_PRECONDITION");
        assert_eq!(GrpcCode::from_name("NOT_FOUND"), Some(GrpcCode::NotFound));
        assert_eq!(GrpcCode::AlreadyExists.number(), 6);
    }

    #[test]
    fn every_rejecting_rule_has_a_reason_except_stale_etag() {
        for rule in RuleCode::ALL {
            if rule.grpc_code().is_some() && rule != RuleCode::StaleEtag {
                assert!(rule.condition_reason().is_some(), "{rule:?}");
            }
        }
        assert_eq!(
            RuleCode::ParentExists.condition_reason(),
            Some(Reason::DependencyNotReady)
        );
    }

    #[test]
    fn display_is_one_line_with_object_field_problem_and_fix() {
        let object = ObjectRef::new(Kind::TrafficGroup, "tg", Some("tsb-config"));
        let d = Diagnostic::error(
            RuleCode::SelectorGrammar,
            &object,
            "spec.namespaceSelector.names[0]",
            "entry \"checkout\"\nhas no cluster part",
            "write <cluster>/<namespace>",
        );
        let text = d.to_string();
        assert_eq!(
            text,
            "Group.traffic.tsb.tetrate.io/tsb-config/tg: spec.namespaceSelector.names[0]: \
             entry \"checkout\" has no cluster part (TSB1006); fix: write <cluster>/<namespace>"
        );
        assert!(!text.contains('\n'));
        assert_eq!(d.grpc_code(), Some(GrpcCode::InvalidArgument));
        let w = Diagnostic::warning(RuleCode::SelectorGrammar, &object, "f", "m", "x");
        assert_eq!(w.grpc_code(), None);
        let ws = ObjectRef::new(Kind::Workspace, "w", None);
        assert_eq!(ws.to_string(), "Workspace/w");
    }
}
