//! `compare` and the outputs on the environment fixtures (`tests/fixtures/environments`).

use std::collections::BTreeSet;
use std::path::Path;

use super::output::{DiffFormat, MARKDOWN_MARKER, Report, render};
use super::*;
use crate::model::diff::Change;

const ENVS: &str = "tests/fixtures/environments";

fn mapping() -> MappingFile {
    let text = std::fs::read_to_string(Path::new(ENVS).join("mapping.yaml")).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

fn resources(env: &str, rewrite: &Rewrite) -> Vec<Resource> {
    tree::load_tree(&Path::new(ENVS).join(env), rewrite)
        .unwrap()
        .resources()
}

fn summary(changes: &[ObjectChange<Fqn>]) -> Vec<(Change, String)> {
    changes
        .iter()
        .map(|c| (c.change, c.key.name().to_string()))
        .collect()
}

#[test]
fn the_mapping_leaves_only_what_is_not_environment_specific() {
    let rewrite = mapping().rewrite("staging", "production").unwrap();
    let staging = resources("staging", &rewrite);
    let production = resources("production", &Rewrite::default());
    let (objects, istio) = compare(&staging, &production, None, None);
    assert_eq!(
        summary(&objects),
        [
            (Change::Changed, "cart".to_string()),
            (Change::Added, "cart-timeouts".to_string()),
            (Change::Removed, "checkout-security".to_string()),
            (Change::Removed, "checkout-mtls".to_string()),
        ]
    );
    let cart = &objects[0];
    let paths: Vec<&str> = cart.fields.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["spec.subsets[0].weight", "spec.subsets[1].weight"]);
    assert!(istio.is_none());
}

#[test]
fn without_the_mapping_cluster_names_and_hosts_differ_too() {
    let staging = resources("staging", &Rewrite::default());
    let production = resources("production", &Rewrite::default());
    let (objects, _) = compare(&staging, &production, None, None);
    let changed: Vec<String> = objects
        .iter()
        .filter(|c| c.change == Change::Changed)
        .map(|c| c.key.name().to_string())
        .collect();
    assert_eq!(
        changed,
        ["checkout", "checkout-traffic", "cart", "checkout-ingress"]
    );
}

#[test]
fn only_narrows_both_sides_and_equal_sides_report_nothing() {
    let rewrite = mapping().rewrite("staging", "production").unwrap();
    let staging = resources("staging", &rewrite);
    let production = resources("production", &Rewrite::default());
    let gateways: Fqn =
        "organizations/acme/tenants/payments/workspaces/checkout/gatewaygroups/checkout-gateways"
            .parse()
            .unwrap();
    let (objects, _) = compare(&staging, &production, Some(&gateways), None);
    assert!(objects.is_empty(), "{objects:?}");
    let (same, _) = compare(&production, &production, None, None);
    assert!(same.is_empty());
}

#[test]
fn the_inventory_shows_the_istio_objects_each_cluster_would_change() {
    let rewrite = mapping().rewrite("staging", "production").unwrap();
    let staging = resources("staging", &rewrite);
    let production = resources("production", &Rewrite::default());
    let clusters = read_inventory(&Path::new(ENVS).join("production-inventory.yaml")).unwrap();
    let (_, istio) = compare(&staging, &production, None, Some(&clusters));
    let istio = istio.unwrap();
    let names: BTreeSet<&str> = istio.iter().map(|c| c.key.cluster.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["prod-east", "prod-west"]));
    assert!(
        istio
            .iter()
            .any(|c| c.change == Change::Changed && c.key.kind == "VirtualService"),
        "{istio:?}"
    );
    // Nothing changes in a cluster the inventory does not name.
    let (_, none) = compare(&staging, &staging, None, Some(&clusters));
    assert!(none.unwrap().is_empty());
}

#[test]
fn outputs_name_every_change() {
    let rewrite = mapping().rewrite("staging", "production").unwrap();
    let staging = resources("staging", &rewrite);
    let production = resources("production", &Rewrite::default());
    let (objects, istio) = compare(&staging, &production, None, None);
    let report = Report {
        from: "staging".into(),
        to: "production".into(),
        mapped: true,
        objects,
        istio,
    };
    let text = render(DiffFormat::Text, &report);
    assert!(text.starts_with("TSB objects (staging → production, environment-specific values mapped): 1 added, 2 removed, 1 changed\n"), "{text}");
    assert!(
        text.contains("    spec.subsets[0].weight: 50 → 90\n"),
        "{text}"
    );
    let markdown = render(DiffFormat::Markdown, &report);
    assert!(markdown.starts_with(MARKDOWN_MARKER));
    assert!(markdown.contains("| changed | ServiceRoute | `organizations/acme/tenants/payments/workspaces/checkout/trafficgroups/checkout-traffic/serviceroutes/cart` |"), "{markdown}");
    assert!(markdown.contains("- spec.subsets[0].weight: 50\n+ spec.subsets[0].weight: 90\n"));
    let json: Value = serde_json::from_str(&render(DiffFormat::Json, &report)).unwrap();
    assert_eq!(json["equal"], false);
    assert_eq!(json["summary"]["removed"], 2);
    assert_eq!(json["objects"][0]["fields"][0]["from"], 50);
    let equal = Report {
        objects: Vec::new(),
        ..report
    };
    assert!(render(DiffFormat::Markdown, &equal).contains("No differences."));
}

#[test]
fn sides_parse() {
    assert_eq!("mp:".parse::<Side>(), Ok(Side::Mp));
    assert_eq!(
        "envs/prod".parse::<Side>(),
        Ok(Side::Tree("envs/prod".into()))
    );
    assert!("mp:organizations/acme".parse::<Side>().is_err());
}
