//! Targets for Kubernetes-shaped input: CR JSON, `tsbridge validate` YAML, AdmissionReviews.

use kube::core::DynamicObject;
use kube::core::admission::AdmissionReview;

use crate::agent::webhook::review;
use crate::cli::validate::{Loaded, OutputFormat, check, parse_str, render};
use crate::k8s::convert::{from_dynamic, to_kube_object, to_object};
use crate::model::metadata::StripRules;
use crate::model::{Converted, Resource, convert};
use crate::proto::convert::resource_to_proto;
use crate::server::convert::proto_to_envelope;

/// CR JSON → model: an object as the apiserver hands it to the agent, through the agent's
/// conversion and the L1 rules. The webhook's path (fields moved) must reach the agent's verdict
/// (serde round trip); a resource the agent accepts must pass the MP's re-check of its push
/// unchanged; and written back as a CR it must convert to the same resource.
pub fn cr_json(data: &[u8]) {
    let Ok(object) = serde_json::from_slice::<DynamicObject>(data) else {
        return;
    };
    let Ok(agent_view) = to_kube_object(&object) else {
        return;
    };
    let strip = StripRules::default();
    let converted = convert(&agent_view, &strip);
    let webhook_view = from_dynamic(object);
    assert_eq!(
        convert(&webhook_view, &strip),
        converted,
        "the webhook and the agent reach one verdict"
    );
    let Converted::Resource { resource, .. } = converted else {
        return;
    };
    let envelope = proto_to_envelope(&resource_to_proto(&resource));
    let checked = Resource::from_envelope(&envelope, &strip)
        .unwrap_or_else(|d| panic!("the MP refuses a resource the agent accepted: {d:?}"));
    assert_eq!(
        checked,
        Resource {
            origin: None,
            ..(*resource).clone()
        },
        "a pushed resource arrives unchanged"
    );
    let written = from_dynamic(to_object(&resource, "config"));
    let Converted::Resource {
        resource: again, ..
    } = convert(&written, &strip)
    else {
        panic!("{} written back as a CR does not convert", resource.fqn);
    };
    assert_eq!(
        (&again.fqn, &again.spec, &again.labels, &again.annotations),
        (
            &resource.fqn,
            &resource.spec,
            &resource.labels,
            &resource.annotations
        ),
        "a resource written back as a CR converts to itself"
    );
}

/// `tsbridge validate` on one file: YAML documents → objects → L1, L2 and L3 → every output
/// format. The JSON and SARIF reports must be JSON.
pub fn validate_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((objects, documents)) = parse_str("fuzz.yaml", text) else {
        return;
    };
    let loaded = Loaded {
        objects: Vec::new(),
        files: 1,
        documents,
    };
    let report = check(objects);
    let _ = render(OutputFormat::Text, &loaded, &report, true);
    for format in [OutputFormat::Json, OutputFormat::Sarif] {
        let out = render(format, &loaded, &report, true);
        // Checks the whole syntax without building a tree (half the target's time otherwise).
        if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(&out) {
            panic!("{format:?} report is not JSON: {error}");
        }
    }
}

/// An AdmissionReview body through the webhook's decision code, and the response the way the
/// handler encodes it; the apiserver must be able to read it back, with the request's uid.
pub fn admission_review(data: &[u8]) {
    let Ok(request) = review::decode(data) else {
        return;
    };
    let uid = request.uid.clone();
    let verdict = review::review(request);
    assert_eq!(verdict.response.uid, uid);
    let allowed = verdict.allowed();
    let body = serde_json::to_vec(&verdict.response.into_review()).expect("a response encodes");
    let back: serde_json::Value = serde_json::from_slice(&body).expect("a response is JSON");
    assert_eq!(back["response"]["uid"].as_str(), Some(uid.as_str()));
    assert_eq!(back["response"]["allowed"].as_bool(), Some(allowed));
    let _: AdmissionReview<DynamicObject> =
        serde_json::from_slice(&body).expect("the apiserver reads the response");
}
