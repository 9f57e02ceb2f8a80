//! The pure part of the webhook: an `AdmissionReview` body in, a verdict out (L1 only,
//! architecture.md §4; gitops-contract.md R-B1, R-B2, R-B6, R-B7, R-C6, G-8).
//!
//! Nothing here does I/O or reads the clock, and nothing reads `dryRun`: the verdict for a
//! dry-run is the verdict for the real request.

use kube::core::DynamicObject;
use kube::core::admission::{self, AdmissionRequest, AdmissionResponse, AdmissionReview};

use crate::k8s::convert::from_dynamic;
use crate::model::diagnostic::{Diagnostic, Severity};
use crate::model::object::KubeObject;
use crate::model::validate::{self, Operation};

/// Why a body is not an `AdmissionReview` request (answered with HTTP 400).
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    /// The body does not decode.
    #[error("the body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    /// An `AdmissionReview` without `request`.
    #[error("the AdmissionReview carries no request")]
    NoRequest,
}

/// Decodes a request body.
pub fn decode(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, Malformed> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)?;
    review.try_into().map_err(|_| Malformed::NoRequest)
}

/// The verdict on a review whose object is nested deeper than the JSON parser goes (128
/// levels, far past the model's limit): without this, the apiserver would only report that the
/// webhook call failed. Reads just the request's identity (ignoring the object takes no
/// recursion) and denies a CREATE or UPDATE naming the object and the limit; a DELETE is
/// allowed, so such an object, let in while the webhook was away, can still be removed.
/// Returns the kind (a metric label) and the verdict; `None` when `error` is another failure or
/// the body does not even name its request.
pub fn too_deep(body: &[u8], error: &Malformed) -> Option<(String, Verdict)> {
    #[derive(serde::Deserialize)]
    struct Shallow {
        request: Option<ShallowRequest>,
    }
    #[derive(serde::Deserialize)]
    struct ShallowRequest {
        uid: String,
        kind: kube::core::GroupVersionKind,
        #[serde(default)]
        name: String,
        namespace: Option<String>,
        operation: String,
    }
    let Malformed::Json(json) = error else {
        return None;
    };
    if !json.to_string().starts_with("recursion limit exceeded") {
        return None;
    }
    let request = serde_json::from_slice::<Shallow>(body).ok()?.request?;
    let mut response = AdmissionResponse::invalid("");
    response.uid = request.uid;
    let operation = match request.operation.as_str() {
        "CREATE" => "CREATE",
        "UPDATE" => "UPDATE",
        "DELETE" => "DELETE",
        _ => "CONNECT",
    };
    if !matches!(operation, "CREATE" | "UPDATE") {
        response.allowed = true;
        response.result = Default::default();
        return Some((
            request.kind.kind,
            Verdict {
                response,
                operation,
            },
        ));
    }
    let kind = request.kind.kind.clone();
    let object = crate::model::diagnostic::ObjectRef {
        group: request.kind.group,
        kind: request.kind.kind,
        name: request.name,
        namespace: request.namespace,
        fqn: None,
    };
    let diagnostic = Diagnostic::error(
        crate::model::diagnostic::RuleCode::ObjectLimit,
        &object,
        "spec",
        format!(
            "nested deeper than the JSON parser's 128 levels, far over the limit of {} levels",
            validate::limits::MAX_DEPTH
        ),
        "flatten the structure",
    );
    let response = response.deny(diagnostic.to_string());
    Some((
        kind,
        Verdict {
            response,
            operation,
        },
    ))
}

/// The verdict on one request, with what the metrics need.
#[derive(Debug)]
pub struct Verdict {
    /// The response to send back (wrapped in an `AdmissionReview`).
    pub response: AdmissionResponse,
    /// The operation as the apiserver names it (`CREATE`, …), a metric label.
    pub operation: &'static str,
}

impl Verdict {
    /// True when the request is allowed.
    pub fn allowed(&self) -> bool {
        self.response.allowed
    }
}

/// The webhook's verdict: L1 rules through [`validate::admission`]. Error diagnostics deny with
/// one line per the model's display (object, field, problem, code, fix), joined by `"; "`;
/// warnings become admission warnings. Kinds tsbridge does not know, sub-resources and
/// `CONNECT` are allowed.
pub fn review(mut request: AdmissionRequest<DynamicObject>) -> Verdict {
    let operation = match request.operation {
        admission::Operation::Create => Some(Operation::Create),
        admission::Operation::Update => Some(Operation::Update),
        admission::Operation::Delete => Some(Operation::Delete),
        admission::Operation::Connect => None,
    };
    let label = match operation {
        Some(Operation::Create) => "CREATE",
        Some(Operation::Update) => "UPDATE",
        Some(Operation::Delete) => "DELETE",
        None => "CONNECT",
    };
    let response = AdmissionResponse::from(&request);
    // Status writes (the agent's own among them) are never judged.
    let (Some(operation), None) = (operation, request.sub_resource.as_ref()) else {
        return Verdict {
            response,
            operation: label,
        };
    };
    let object = request.object.take().map(|o| model_object(o, &request));
    let old_object = request.old_object.take().map(|o| model_object(o, &request));
    let diagnostics = validate::admission(operation, object.as_ref(), old_object.as_ref());
    Verdict {
        response: respond(response, &diagnostics),
        operation: label,
    }
}

/// The object in model terms; `apiVersion`/`kind` come from the request when the embedded
/// object lacks them.
fn model_object(object: DynamicObject, request: &AdmissionRequest<DynamicObject>) -> KubeObject {
    let mut object = from_dynamic(object);
    if object.kind.is_empty() {
        let gvk = &request.kind;
        object.kind.clone_from(&gvk.kind);
        object.api_version = if gvk.group.is_empty() {
            gvk.version.clone()
        } else {
            format!("{}/{}", gvk.group, gvk.version)
        };
    }
    if object.metadata.namespace.is_none() {
        object.metadata.namespace.clone_from(&request.namespace);
    }
    object
}

fn respond(response: AdmissionResponse, diagnostics: &[Diagnostic]) -> AdmissionResponse {
    let mut denial = String::new();
    let mut warnings = Vec::new();
    for diagnostic in diagnostics {
        match diagnostic.severity {
            Severity::Error => {
                if !denial.is_empty() {
                    denial.push_str("; ");
                }
                denial.push_str(&diagnostic.to_string());
            }
            Severity::Warning => warnings.push(diagnostic.to_string()),
            Severity::Info => {}
        }
    }
    let mut response = if denial.is_empty() {
        response
    } else {
        response.deny(denial)
    };
    if !warnings.is_empty() {
        response.warnings = Some(warnings);
    }
    response
}
