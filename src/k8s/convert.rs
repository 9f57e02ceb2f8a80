//! Kubernetes objects ⇄ model resources.
//!
//! Into the model: any object the apiserver returns (typed CR, `DynamicObject`, Istio object)
//! becomes the model's [`KubeObject`], and [`crate::model::convert`] turns that into a
//! [`Resource`]: annotations → FQN, non-hierarchy metadata → config-generation metadata, CD-tool
//! bookkeeping stripped, `install.tetrate.io` ignored. Out of the model: a [`Resource`] becomes
//! the CR that would produce it, so a resource read from the management plane can be shown or
//! written as a Kubernetes object.

use std::collections::BTreeMap;

use kube::api::{ApiResource, DynamicObject, ObjectMeta};
use kube::core::GroupVersionKind;
use serde::Serialize;

use crate::model::metadata::{DIRECT_MODE_REVISION, ISTIO_REV_LABEL, StripRules};
use crate::model::object::{Converted, KubeObject, Resource};

/// Why an object could not be read into the model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not serialize to the shape of a Kubernetes object.
    #[error("{kind}/{name} is not a Kubernetes object: {source}")]
    Shape {
        /// Kind, as far as it is known.
        kind: String,
        /// Name, as far as it is known.
        name: String,
        /// serde's complaint.
        source: serde_json::Error,
    },
}

/// Any serializable Kubernetes object as the model's input type.
pub fn to_kube_object<K: Serialize>(object: &K) -> Result<KubeObject, Error> {
    let value = serde_json::to_value(object).map_err(|source| Error::Shape {
        kind: String::new(),
        name: String::new(),
        source,
    })?;
    let describe = |field: &str| {
        value
            .pointer(field)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    let (kind, name) = (describe("/kind"), describe("/metadata/name"));
    serde_json::from_value(value).map_err(|source| Error::Shape { kind, name, source })
}

/// A `DynamicObject` (e.g. from an `AdmissionReview`) as the model's input type. Moves the
/// fields instead of a serde round trip: the webhook does this on every request.
pub fn from_dynamic(object: DynamicObject) -> KubeObject {
    let DynamicObject {
        types,
        metadata,
        mut data,
    } = object;
    let (api_version, kind) = types.map(|t| (t.api_version, t.kind)).unwrap_or_default();
    let spec = data
        .as_object_mut()
        .and_then(|fields| fields.remove("spec"))
        .unwrap_or_default();
    KubeObject {
        api_version,
        kind,
        metadata: crate::model::object::ObjectMeta {
            name: metadata.name.unwrap_or_default(),
            namespace: metadata.namespace,
            labels: metadata.labels.unwrap_or_default(),
            annotations: metadata.annotations.unwrap_or_default(),
            generation: metadata.generation,
            uid: metadata.uid,
        },
        spec,
    }
}

/// Converts a Kubernetes object into a model resource, running the object-local rules.
pub fn to_resource<K: Serialize>(object: &K, strip: &StripRules) -> Result<Converted, Error> {
    Ok(crate::model::convert(&to_kube_object(object)?, strip))
}

/// The CR (or direct-mode Istio object) that produces `resource`: the hierarchy annotations of
/// its parent, its forwarded labels and annotations, and its spec. `namespace` is where a TSB
/// kind's CR is written (it has no meaning in the hierarchy); a direct-mode object keeps its own.
pub fn to_object(resource: &Resource, namespace: &str) -> DynamicObject {
    let (group, version) = resource
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", resource.api_version.as_str()));
    let gvk = GroupVersionKind::gvk(group, version, resource.kind.name());
    let mut annotations: BTreeMap<String, String> = resource.annotations.clone();
    if let Some(parent) = &resource.parent {
        for (key, value) in parent.hierarchy_annotations() {
            annotations.insert(key.annotation().to_string(), value);
        }
    }
    let mut labels = resource.labels.clone();
    if resource.kind.is_direct() {
        // The direct-mode marker is not forwarded metadata, but the object needs it (L1).
        labels.insert(
            ISTIO_REV_LABEL.to_string(),
            DIRECT_MODE_REVISION.to_string(),
        );
    }
    let namespace = resource.namespace.as_deref().unwrap_or(namespace);
    let mut object = DynamicObject::new(&resource.name, &ApiResource::from_gvk(&gvk));
    object.metadata = ObjectMeta {
        name: Some(resource.name.clone()),
        namespace: Some(namespace.to_string()),
        labels: (!labels.is_empty()).then_some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..Default::default()
    };
    object.data = serde_json::json!({ "spec": resource.spec.to_value() });
    object
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::k8s::crd;
    use crate::model::spec::{NamespaceSelectorSpec, WorkspaceSpec};

    fn converted_resource(converted: Converted) -> Resource {
        match converted {
            Converted::Resource { resource, .. } => *resource,
            other => panic!("expected a resource, got {other:?}"),
        }
    }

    #[test]
    fn a_typed_cr_converts_with_bookkeeping_stripped() {
        let spec = WorkspaceSpec {
            namespace_selector: Some(NamespaceSelectorSpec {
                names: vec!["*/bookinfo".into()],
            }),
            ..Default::default()
        };
        let mut workspace = crd::Workspace::new("bookinfo-ws", spec.into());
        workspace.metadata.namespace = Some("config".into());
        workspace.metadata.annotations = Some(BTreeMap::from([
            ("tsb.tetrate.io/organization".into(), "acme".into()),
            ("tsb.tetrate.io/tenant".into(), "payments".into()),
            (
                "kubectl.kubernetes.io/last-applied-configuration".into(),
                "{}".into(),
            ),
            ("argocd.argoproj.io/tracking-id".into(), "app:x".into()),
            ("team".into(), "checkout".into()),
        ]));
        workspace.metadata.labels = Some(BTreeMap::from([
            ("app.kubernetes.io/instance".into(), "mesh".into()),
            ("cost-center".into(), "42".into()),
        ]));
        let resource =
            converted_resource(to_resource(&workspace, &StripRules::default()).expect("converts"));
        assert_eq!(
            resource.fqn.to_string(),
            "organizations/acme/tenants/payments/workspaces/bookinfo-ws"
        );
        assert_eq!(
            resource.annotations,
            BTreeMap::from([("team".to_string(), "checkout".to_string())])
        );
        assert_eq!(
            resource.labels,
            BTreeMap::from([("cost-center".to_string(), "42".to_string())])
        );
    }

    #[test]
    fn cr_to_model_to_cr_round_trips() {
        let original = json!({
            "apiVersion": "traffic.tsb.tetrate.io/v2",
            "kind": "ServiceRoute",
            "metadata": {
                "name": "reviews",
                "namespace": "config",
                "annotations": {
                    "tsb.tetrate.io/organization": "acme",
                    "tsb.tetrate.io/tenant": "payments",
                    "tsb.tetrate.io/workspace": "bookinfo-ws",
                    "tsb.tetrate.io/trafficGroup": "bookinfo-tg",
                    "owner": "team-reviews"
                },
                "labels": { "tier": "backend" }
            },
            "spec": {
                "service": "bookinfo/reviews.bookinfo.svc.cluster.local",
                "subsets": [
                    { "name": "v1", "labels": { "version": "v1" }, "weight": 90 },
                    { "name": "v2", "labels": { "version": "v2" }, "weight": 10 }
                ]
            }
        });
        let resource =
            converted_resource(to_resource(&original, &StripRules::default()).expect("converts"));
        let back = to_object(&resource, "config");
        let back = serde_json::to_value(&back).expect("serializes");
        assert_eq!(back, original);
    }

    #[test]
    fn direct_mode_objects_keep_their_namespace() {
        let original = json!({
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "VirtualService",
            "metadata": {
                "name": "reviews",
                "namespace": "bookinfo",
                "labels": { "istio.io/rev": "tsb" },
                "annotations": {
                    "tsb.tetrate.io/organization": "acme",
                    "tsb.tetrate.io/tenant": "payments",
                    "tsb.tetrate.io/workspace": "bookinfo-ws",
                    "tsb.tetrate.io/trafficGroup": "direct-tg"
                }
            },
            "spec": { "hosts": ["reviews"], "http": [{ "route": [{ "destination": { "host": "reviews" } }] }] }
        });
        let resource =
            converted_resource(to_resource(&original, &StripRules::default()).expect("converts"));
        let back = serde_json::to_value(to_object(&resource, "elsewhere")).expect("serializes");
        assert_eq!(back, original);
    }

    #[test]
    fn a_dynamic_object_moves_into_the_same_kube_object_as_serde_gives() {
        let original = json!({
            "apiVersion": "tsb.tetrate.io/v2",
            "kind": "Workspace",
            "metadata": {
                "name": "ws", "namespace": "config", "generation": 3, "uid": "u-1",
                "labels": { "a": "b" },
                "annotations": { "tsb.tetrate.io/organization": "acme" },
                "managedFields": []
            },
            "spec": { "namespaceSelector": { "names": ["*/x"] } },
            "status": { "observedGeneration": -1 }
        });
        let dynamic: DynamicObject = serde_json::from_value(original.clone()).expect("object");
        let moved = from_dynamic(dynamic);
        assert_eq!(moved, to_kube_object(&original).expect("converts"));
        let empty: DynamicObject =
            serde_json::from_value(json!({ "metadata": {} })).expect("object");
        assert_eq!(from_dynamic(empty).spec, serde_json::Value::Null);
    }

    #[test]
    fn a_non_object_is_a_shape_error_naming_it() {
        let broken = json!({ "kind": "Workspace", "metadata": { "name": "x", "labels": 7 } });
        let err = to_kube_object(&broken).expect_err("labels must be a map");
        assert!(err.to_string().starts_with("Workspace/x"), "{err}");
    }
}
