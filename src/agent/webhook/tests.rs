//! The pure request → response function over the shared CR fixtures.

use serde_json::{Value, json};

use super::review::{Malformed, decode, review};

const EVERY_KIND: &str = include_str!("../../../tests/fixtures/crs/every-kind.yaml");
const DIRECT_MODE: &str = include_str!("../../../tests/fixtures/crs/direct-mode.yaml");

fn fixtures() -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(EVERY_KIND).expect("fixture parses");
    docs.into_iter().filter(Value::is_object).collect()
}

fn fixture(kind: &str) -> Value {
    fixtures()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} fixture"))
}

/// An `AdmissionReview` body as the apiserver sends it.
fn body(operation: &str, object: Option<&Value>, old: Option<&Value>, dry_run: bool) -> Vec<u8> {
    let subject = object.or(old).expect("an object or an old object");
    let api_version = subject["apiVersion"].as_str().expect("apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let kind = subject["kind"].as_str().expect("kind");
    let plural = format!("{}s", kind.to_lowercase());
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": { "group": group, "version": version, "kind": kind },
            "resource": { "group": group, "version": version, "resource": plural },
            "name": subject["metadata"]["name"],
            "namespace": "config",
            "operation": operation,
            "userInfo": { "username": "flux" },
            "object": object,
            "oldObject": old,
            "dryRun": dry_run,
        }
    }))
    .expect("JSON")
}

/// (allowed, denial message, warnings), checked to be the same with and without `dryRun`.
fn verdict(
    operation: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> (bool, String, Vec<String>) {
    let mut seen = Vec::new();
    for dry_run in [false, true] {
        let request = decode(&body(operation, object, old, dry_run)).expect("decodes");
        assert_eq!(request.dry_run, dry_run);
        let verdict = review(request);
        assert_eq!(verdict.operation, operation);
        let response = verdict.response;
        assert_eq!(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        seen.push((
            response.allowed,
            response.result.message.clone(),
            response.warnings.clone().unwrap_or_default(),
        ));
    }
    assert_eq!(seen[0], seen[1], "dryRun changed the verdict (R-B1)");
    seen.remove(0)
}

fn without_annotation(mut object: Value, key: &str) -> Value {
    object["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove(key);
    object
}

#[test]
fn every_fixture_is_allowed_on_create_update_and_delete() {
    for object in fixtures() {
        let name = &object["metadata"]["name"];
        let (allowed, message, warnings) = verdict("CREATE", Some(&object), None);
        assert!(allowed, "{name}: {message}");
        // Only fields translation does not enforce are warned about (TSB1106).
        assert!(
            warnings.iter().all(|w| w.contains("(TSB1106)")),
            "{name}: {warnings:?}"
        );
        let mut edited = object.clone();
        edited["metadata"]["labels"] = json!({ "team": "checkout" });
        assert!(verdict("UPDATE", Some(&edited), Some(&object)).0, "{name}");
        assert!(verdict("DELETE", None, Some(&object)).0, "{name}");
    }
}

#[test]
fn a_missing_hierarchy_annotation_is_denied_naming_object_field_and_fix() {
    let workspace = without_annotation(fixture("Workspace"), "tsb.tetrate.io/tenant");
    let (allowed, message, _) = verdict("CREATE", Some(&workspace), None);
    assert!(!allowed);
    assert!(
        message.starts_with(
            "Workspace/config/bookinfo-ws: metadata.annotations[tsb.tetrate.io/tenant]: "
        ),
        "{message}"
    );
    assert!(message.contains("(TSB1002); fix: "), "{message}");
    assert!(!message.contains('\n'));
    assert!(
        !message.contains("immutable"),
        "reserved for R-C6: {message}"
    );
}

#[test]
fn every_error_is_in_the_one_line_denial() {
    let mut workspace = fixture("Workspace");
    workspace["spec"]["namespaceSelector"]["names"] = json!(["eu-*/checkout", "eu-1/a/b"]);
    workspace["spec"]["description"] =
        json!("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----");
    let (allowed, message, _) = verdict("CREATE", Some(&workspace), None);
    assert!(!allowed);
    assert!(!message.contains('\n'), "{message}");
    for needle in [
        "spec.namespaceSelector.names[0]",
        "spec.namespaceSelector.names[1]",
        "spec.description: contains",
    ] {
        assert!(message.contains(needle), "{needle} missing from {message}");
    }
    assert_eq!(message.matches("; fix: ").count(), 3, "{message}");
}

#[test]
fn a_changed_hierarchy_annotation_is_immutable() {
    let old = fixture("ServiceRoute");
    let mut new = old.clone();
    new["metadata"]["annotations"]["tsb.tetrate.io/workspace"] = json!("other-ws");
    let (allowed, message, _) = verdict("UPDATE", Some(&new), Some(&old));
    assert!(!allowed);
    assert!(
        message.contains("metadata.annotations[tsb.tetrate.io/workspace]: is immutable"),
        "{message}"
    );
    // Removing one is a change too.
    let removed = without_annotation(old.clone(), "tsb.tetrate.io/trafficGroup");
    assert!(!verdict("UPDATE", Some(&removed), Some(&old)).0);
}

#[test]
fn updates_ratchet_when_the_spec_is_unchanged() {
    // Stored before a rule existed: the spec breaks today's rules.
    let mut old = fixture("Workspace");
    old["spec"]["namespaceSelector"]["names"] = json!(["eu-1/a/b"]);
    let mut relabelled = old.clone();
    relabelled["metadata"]["labels"] = json!({ "team": "checkout" });
    assert!(verdict("UPDATE", Some(&relabelled), Some(&old)).0);
    let mut edited = relabelled.clone();
    edited["spec"]["displayName"] = json!("Renamed");
    assert!(!verdict("UPDATE", Some(&edited), Some(&old)).0);
}

#[test]
fn delete_is_denied_only_under_deletion_protection() {
    let mut tenant = fixture("Tenant");
    assert!(verdict("DELETE", None, Some(&tenant)).0);
    tenant["spec"]["deletionProtectionEnabled"] = json!(true);
    let (allowed, message, _) = verdict("DELETE", None, Some(&tenant));
    assert!(!allowed);
    assert!(
        message.starts_with("Tenant/config/payments: spec.deletionProtectionEnabled: "),
        "{message}"
    );
}

fn virtual_service(labels: Value) -> Value {
    let mut object: Value = serde_saphyr::from_str(DIRECT_MODE).expect("fixture parses");
    object["metadata"]["labels"] = labels;
    object
}

#[test]
fn direct_mode_istio_objects_need_the_revision_label() {
    let labelled = virtual_service(json!({ "istio.io/rev": "tsb" }));
    assert!(verdict("CREATE", Some(&labelled), None).0);
    let unlabelled = virtual_service(json!({}));
    let (allowed, message, _) = verdict("CREATE", Some(&unlabelled), None);
    assert!(!allowed);
    assert!(
        message.contains("metadata.labels[istio.io/rev]") && message.contains("(TSB1004)"),
        "{message}"
    );
    // Dropping the label later is denied too, even with the spec unchanged.
    assert!(!verdict("UPDATE", Some(&unlabelled), Some(&labelled)).0);
    // Ordinary Istio config is not ours.
    let mut plain = unlabelled.clone();
    plain["metadata"]["annotations"] = json!({});
    assert!(verdict("CREATE", Some(&plain), None).0);
}

#[test]
fn unknown_kinds_and_sub_resources_are_allowed() {
    let config_map = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "x", "annotations": { "tsb.tetrate.io/organization": "acme" } },
        "data": { "k": "v" }
    });
    assert!(verdict("CREATE", Some(&config_map), None).0);

    let broken = without_annotation(fixture("Workspace"), "tsb.tetrate.io/tenant");
    let mut status_write: Value =
        serde_json::from_slice(&body("UPDATE", Some(&broken), Some(&broken), false)).expect("JSON");
    status_write["request"]["subResource"] = json!("status");
    let request = decode(&serde_json::to_vec(&status_write).expect("JSON")).expect("decodes");
    assert!(review(request).allowed());
}

#[test]
fn warnings_are_returned_and_never_deny() {
    let mut tenant = fixture("Tenant");
    tenant["metadata"]["annotations"]["tsb.tetrate.io/workspace"] = json!("bookinfo-ws");
    let (allowed, _, warnings) = verdict("CREATE", Some(&tenant), None);
    assert!(allowed);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("metadata.annotations[tsb.tetrate.io/workspace]"),
        "{warnings:?}"
    );
}

#[test]
fn malformed_bodies_are_errors() {
    assert!(matches!(decode(b"{not json"), Err(Malformed::Json(_))));
    assert!(matches!(
        decode(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
        Err(Malformed::NoRequest)
    ));
    let error = decode(b"[]").expect_err("an array is no review");
    assert!(error.to_string().starts_with("the body is not"), "{error}");
}

#[test]
fn an_object_past_the_json_parsers_depth_is_denied_by_name() {
    let mut setting = fixture("WorkspaceSetting");
    let mut deep = json!("leaf");
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    setting["spec"]["failoverSettings"] = deep;
    let create = body("CREATE", Some(&setting), None, false);
    let error = decode(&create).expect_err("too deep for serde_json");
    let (kind, verdict) = super::review::too_deep(&create, &error).expect("a verdict");
    assert_eq!(kind, "WorkspaceSetting");
    assert!(!verdict.allowed());
    assert_eq!(verdict.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    let message = &verdict.response.result.message;
    let name = setting["metadata"]["name"].as_str().expect("name");
    assert!(
        message.contains(&format!(
            "WorkspaceSetting/config/{name}: spec: nested deeper"
        )) && message.contains("(TSB1108)"),
        "{message}"
    );
    // Such an object can still be deleted; other malformed bodies stay malformed.
    let delete = body("DELETE", None, Some(&setting), false);
    let error = decode(&delete).expect_err("too deep");
    let (_, verdict) = super::review::too_deep(&delete, &error).expect("a verdict");
    assert!(verdict.allowed());
    let garbage = decode(b"{").expect_err("not JSON");
    assert!(super::review::too_deep(b"{", &garbage).is_none());
}
