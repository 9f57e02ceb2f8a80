//! `render`'s core on the fixtures: ownership labels, stable order, the origin's pass-through
//! objects, the size limit's sibling (translation errors), YAML that reads back, inventories.

use serde_json::json;

use super::*;

fn resources(objects: &[Value]) -> Vec<Resource> {
    objects
        .iter()
        .map(|o| {
            match crate::k8s::convert::to_resource(o, &StripRules::default()).expect("converts") {
                Converted::Resource { resource, .. } => *resource,
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

fn fixture() -> Vec<Resource> {
    let text = include_str!("../../../tests/fixtures/crs/every-kind.yaml");
    let (objects, _) = crate::cli::validate::parse_str("every-kind.yaml", text).expect("parses");
    resources(&objects.into_iter().map(|o| o.value).collect::<Vec<_>>())
}

fn cluster(name: &str, namespaces: &[&str]) -> ClusterNamespaces {
    ClusterNamespaces {
        cluster: name.into(),
        namespaces: namespaces.iter().map(ToString::to_string).collect(),
        ..Default::default()
    }
}

#[test]
fn every_object_carries_the_agents_ownership_labels_in_a_stable_order() {
    let resources = fixture();
    let clusters = [
        cluster("east", &["bookinfo"]),
        cluster("west", &["bookinfo", "other"]),
    ];
    let output = render_clusters(&resources, &clusters, None);
    assert!(output.errors.is_empty(), "{:?}", output.errors);
    assert!(output.objects.len() > 4, "{:?}", output.objects);
    for rendered in &output.objects {
        let labels = &rendered.object["metadata"]["labels"];
        assert_eq!(labels["tsbridge.io/managed-by"], "tsbridge", "{rendered:?}");
        assert_eq!(labels["tsbridge.io/cluster"], json!(rendered.cluster));
        assert_eq!(rendered.object["metadata"]["namespace"], "bookinfo");
    }
    let kinds: BTreeSet<&str> = output
        .objects
        .iter()
        .filter_map(|r| r.object["kind"].as_str())
        .collect();
    for kind in [
        "Sidecar",
        "PeerAuthentication",
        "VirtualService",
        "DestinationRule",
    ] {
        assert!(kinds.contains(kind), "no {kind}: {kinds:?}");
    }
    // Cluster by cluster, in the order given; the same input gives the same output.
    let first_west = output
        .objects
        .iter()
        .position(|r| r.cluster == "west")
        .expect("west");
    assert!(
        output.objects[first_west..]
            .iter()
            .all(|r| r.cluster == "west")
    );
    let mut reversed = resources.clone();
    reversed.reverse();
    assert_eq!(render_clusters(&reversed, &clusters, None), output);
    // A cluster without the selected namespace gets nothing.
    let none = render_clusters(&resources, &[cluster("south", &["default"])], None);
    assert!(
        none.objects.is_empty() && none.errors.is_empty(),
        "{none:?}"
    );
}

#[test]
fn a_direct_mode_object_is_not_rendered_in_its_own_namespace_of_its_origin() {
    let annotations = json!({"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "t",
                             "tsb.tetrate.io/workspace": "ws"});
    let mut group_annotations = annotations.clone();
    group_annotations["tsb.tetrate.io/workspace"] = json!("ws");
    let mut vs_annotations = annotations.clone();
    vs_annotations["tsb.tetrate.io/trafficGroup"] = json!("direct");
    let objects = [
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
               "metadata": {"name": "t", "annotations": {"tsb.tetrate.io/organization": "acme"}}, "spec": {}}),
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": "ws", "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "t"}},
               "spec": {"namespaceSelector": {"names": ["*/legacy"]}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "direct", "annotations": group_annotations},
               "spec": {"configMode": "DIRECT", "namespaceSelector": {"names": ["*/legacy"]}}}),
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "api", "namespace": "legacy", "labels": {"istio.io/rev": "tsb"},
                            "annotations": vs_annotations},
               "spec": {"hosts": ["api"], "http": [{"route": [{"destination": {"host": "api"}}]}]}}),
    ];
    let resources = resources(&objects);
    let clusters = [cluster("east", &["legacy"]), cluster("west", &["legacy"])];
    let output = render_clusters(&resources, &clusters, Some("east"));
    let virtual_services: Vec<&str> = output
        .objects
        .iter()
        .filter(|r| r.object["kind"] == "VirtualService")
        .map(|r| r.cluster.as_str())
        .collect();
    assert_eq!(virtual_services, ["west"], "the origin holds the CR itself");
    let everywhere = render_clusters(&resources, &clusters, None);
    assert_eq!(
        everywhere
            .objects
            .iter()
            .filter(|r| r.object["kind"] == "VirtualService")
            .count(),
        2
    );
}

#[test]
fn yaml_output_names_each_cluster_and_reads_back_as_the_objects() {
    let output = render_clusters(&fixture(), &[cluster("east", &["bookinfo"])], None);
    let text = format(&output, RenderFormat::Yaml).expect("YAML");
    assert!(text.starts_with("---\n# cluster: east\n"), "{text}");
    let back: Vec<Value> = serde_saphyr::from_multiple(&text).expect("reads back");
    let objects: Vec<Value> = output.objects.iter().map(|r| r.object.clone()).collect();
    assert_eq!(back, objects);
    let json: Vec<Value> =
        serde_json::from_str(&format(&output, RenderFormat::Json).expect("JSON")).expect("JSON");
    assert_eq!(json, objects);
}

#[test]
fn an_inventory_file_names_every_cluster_and_a_bad_one_says_how_to_write_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = dir.path().join("clusters.yaml");
    std::fs::write(&good, "east: [bookinfo, istio-system]\nwest: [bookinfo]\n").expect("write");
    let args = |inventory: &std::path::Path| RenderArgs {
        paths: vec![],
        cluster: None,
        namespaces: vec![],
        inventory: Some(inventory.to_path_buf()),
        origin: None,
        output: RenderFormat::Yaml,
    };
    let parsed = clusters(&args(&good)).expect("parses");
    assert_eq!(
        parsed,
        [
            cluster("east", &["bookinfo", "istio-system"]),
            cluster("west", &["bookinfo"])
        ]
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "- east\n- west\n").expect("write");
    let message = clusters(&args(&bad)).expect_err("a list is not an inventory");
    assert!(
        message.contains("east: [bookinfo, istio-system]"),
        "{message}"
    );
}

#[test]
fn an_inventory_lists_namespaces_or_namespaces_and_services() {
    let clusters = parse_inventory(
        "old: [app, client]\n\
         new:\n\
         \x20 namespaces: [client]\n\
         \x20 services:\n\
         \x20   - name: details\n\
         \x20     namespace: app\n\
         \x20     ports: [{name: http, port: 9080, protocol: TCP, appProtocol: http}]\n\
         \x20     selector: {app: details}\n",
    )
    .expect("parses");
    let [new, old] = clusters.as_slice() else {
        panic!("{clusters:?}")
    };
    assert_eq!(old.cluster, "old");
    assert!(old.services.is_empty());
    assert_eq!(old.namespaces.len(), 2);
    assert_eq!(new.cluster, "new");
    assert_eq!(
        new.namespaces.iter().collect::<Vec<_>>(),
        ["app", "client"],
        "a Service's namespace is the cluster's"
    );
    let details = new
        .service("app", "details.app.svc.cluster.local")
        .expect("details");
    assert_eq!(details.selector["app"], "details");
    assert_eq!(details.ports[0].port, 9080);
    assert_eq!(details.ports[0].app_protocol.as_deref(), Some("http"));
    assert!(
        parse_inventory("east: {namespaces: [a], servics: []}").is_err(),
        "a typo is an error, not an empty list"
    );
}
