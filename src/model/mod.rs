//! Depends on: nothing (std, serde, serde_json, thiserror). Never: kube, k8s-openapi, tonic, prost, sqlx, tokio I/O, any other crate module.
//!
//! The pure TSB configuration model (tsb-model.md): the kind catalogue, FQNs, hierarchy
//! annotations, `namespaceSelector` semantics, typed specs, the object → resource conversion,
//! the three validation layers, diagnostics, the status model, per-cluster resolution and
//! translation to Istio. No I/O and no clock: every function is deterministic in its inputs,
//! so the webhook, the MP and `tsbridge validate` reach the same verdicts.
//!
//! ```
//! use tsbridge::model::{Fqn, Kind, NamespaceSelector};
//!
//! let fqn: Fqn = "organizations/acme/tenants/payments/workspaces/checkout-ws".parse().unwrap();
//! assert_eq!(fqn.kind(), Some(Kind::Workspace));
//! let selector = NamespaceSelector::parse(&["eu-1/checkout-jobs-*"]).unwrap();
//! assert!(selector.matches("eu-1", "checkout-jobs-nightly"));
//! ```

pub mod catalogue;
pub mod diagnostic;
pub mod diff;
pub mod fqn;
pub mod guard;
pub mod kind;
pub mod metadata;
pub mod object;
pub mod resolve;
pub mod selector;
pub mod spec;
pub mod status;
pub mod translate;
pub mod validate;

#[cfg(test)]
mod fixtures;

pub use diagnostic::{Diagnostic, GrpcCode, ObjectRef, RuleCode, Severity};
pub use fqn::{Collection, Fqn, FqnError};
pub use kind::{Kind, KindInfo};
pub use object::{Classification, Converted, KubeObject, Resource, classify, convert};
pub use selector::{NamespaceSelector, SelectorEntry, SelectorError};
pub use spec::Spec;

/// The model's error type, for callers that want one `Result` over model operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An FQN did not parse.
    #[error(transparent)]
    Fqn(#[from] FqnError),
    /// A selector did not parse.
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// A kind lookup failed.
    #[error(transparent)]
    KindLookup(#[from] kind::KindLookupError),
    /// Validation found errors; the first one is shown, all are kept.
    #[error("{}", .0.iter().find(|d| d.is_error()).map(ToString::to_string).unwrap_or_else(|| "invalid".to_string()))]
    Invalid(Vec<Diagnostic>),
}

impl Error {
    /// The label for the counter of this error (style guide §3.2).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Fqn(_) => "fqn",
            Error::Selector(_) => "selector",
            Error::KindLookup(_) => "kind",
            Error::Invalid(_) => "invalid",
        }
    }
}

/// `Result` with the model's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
