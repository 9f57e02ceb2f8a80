//! Service-scoped traffic: timeouts and retries of services without a ServiceRoute, and a
//! ServiceTrafficSetting's objects selecting the Service's workloads, from the cluster's
//! service inventory; nothing (and a warning) where the cluster lacks the Service.

use serde_json::{Value, json};

use super::service_security::service;
use super::traffic::traffic_setting;
use super::{c1, find, hierarchy, object, one};
use crate::model::object::Resource;
use crate::model::resolve::{ClusterNamespaces, ServicePort};
use crate::model::translate::{Translation, translate_cluster};

const TS: &str = "traffic.tsb.tetrate.io/v2";

fn service_setting(name: &str, settings: Value) -> Resource {
    let service = format!("a/{name}.a.svc.cluster.local");
    object(
        TS,
        "ServiceTrafficSetting",
        name,
        "trafficGroup",
        "tg",
        json!({"service": service, "settings": settings}),
    )
}

fn service_route(name: &str) -> Resource {
    object(
        TS,
        "ServiceRoute",
        name,
        "trafficGroup",
        "tg",
        json!({"service": format!("a/{name}.a.svc.cluster.local"),
               "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
    )
}

fn translate_in(cluster: &ClusterNamespaces, extra: Vec<Resource>) -> Translation {
    let mut resources = hierarchy();
    resources.extend(extra);
    let t = translate_cluster(cluster, &resources);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    t
}

/// The VirtualServices of `namespace` by host, each host once (two would be IST0109).
fn virtual_services(t: &Translation, namespace: &str) -> Vec<(String, Value)> {
    let mut found: Vec<(String, Value)> = find(t, "VirtualService", namespace)
        .into_iter()
        .map(|v| {
            (
                v.spec["hosts"][0].as_str().unwrap().to_string(),
                v.spec.clone(),
            )
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hosts: Vec<&String> = found.iter().map(|(h, _)| h).collect();
    hosts.dedup();
    assert_eq!(hosts.len(), found.len(), "one VirtualService per host");
    found
}

fn timeouts() -> Resource {
    traffic_setting(json!({"resilience": {
        "httpRequestTimeout": "2s",
        "httpRetries": {"attempts": 3, "perTryTimeout": "1s"}
    }}))
}

#[test]
fn timeouts_reach_http_services_without_a_service_route() {
    let mut mysql = service("a", "mysql");
    mysql.ports = vec![ServicePort {
        name: "tcp-mysql".into(),
        port: 3306,
        protocol: "TCP".into(),
        app_protocol: None,
    }];
    let cluster = c1().with_services([
        service("a", "details"),
        service("a", "ratings"),
        service("a", "reviews"),
        mysql,
        service("b", "web"),
        service("other", "outside"),
    ]);
    let t = translate_in(
        &cluster,
        vec![
            timeouts(),
            service_route("reviews"),
            service_setting(
                "ratings",
                json!({"resilience": {"httpRequestTimeout": "8s"}}),
            ),
        ],
    );
    let a = virtual_services(&t, "a");
    let hosts: Vec<&str> = a.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        hosts,
        [
            "details.a.svc.cluster.local",
            "ratings.a.svc.cluster.local",
            "reviews.a.svc.cluster.local"
        ],
        "no VirtualService for the TCP-only mysql"
    );
    assert_eq!(
        a[0].1,
        json!({"hosts": ["details.a.svc.cluster.local"], "http": [{
            "name": "default",
            "route": [{"destination": {"host": "details.a.svc.cluster.local"}}],
            "timeout": "2s",
            "retries": {"attempts": 3, "perTryTimeout": "1s"}
        }]})
    );
    // The ServiceTrafficSetting's own timeout wins, the group's retries stay.
    assert_eq!(a[1].1["http"][0]["timeout"], "8s");
    assert_eq!(a[1].1["http"][0]["retries"]["attempts"], 3);
    let ratings = find(&t, "VirtualService", "a")
        .into_iter()
        .find(|v| v.spec["hosts"][0] == "ratings.a.svc.cluster.local")
        .unwrap();
    assert!(ratings.name.starts_with("tsb-svcts-ratings-"));
    // The ServiceRoute's VirtualService carries the reviews timeouts.
    assert!(
        find(&t, "VirtualService", "a")
            .iter()
            .any(|v| v.name.starts_with("tsb-sr-reviews-") && v.spec["http"][0]["timeout"] == "2s")
    );
    assert_eq!(
        virtual_services(&t, "b").len(),
        1,
        "every namespace of the group"
    );
    assert!(
        find(&t, "VirtualService", "other").is_empty(),
        "only the group's"
    );
    // Without the timeouts in force, none.
    let t = translate_in(
        &cluster,
        vec![traffic_setting(
            json!({"reachability": {"mode": "NAMESPACE"}}),
        )],
    );
    assert!(find(&t, "VirtualService", "a").is_empty());
}

#[test]
fn a_service_setting_selects_its_service_workloads() {
    let cluster = c1().with_services([service("a", "details")]);
    let t = translate_in(
        &cluster,
        vec![
            traffic_setting(json!({"reachability": {"mode": "NAMESPACE"},
                "resilience": {"circuitBreakerSensitivity": "HIGH"}})),
            service_setting(
                "details",
                json!({
                    "outbound": {"egress": {"host": "gw/egress.gw.svc.cluster.local"}},
                    "inbound": {"resilience": {"connectionPool": {"tcp": {"keepAlive": {"idleTime": 60}}}}}
                }),
            ),
        ],
    );
    let sidecars = find(&t, "Sidecar", "a");
    let sidecar = sidecars
        .iter()
        .find(|s| s.name.starts_with("tsb-svcts-details-"))
        .expect("the service's Sidecar");
    assert_eq!(
        sidecar.spec["workloadSelector"],
        json!({"labels": {"app": "details"}})
    );
    // The group's reachability, with the service's egress gateway.
    assert_eq!(
        sidecar.spec["egress"],
        json!([{"hosts": ["./*", "gw/egress.gw.svc.cluster.local"]}])
    );
    let filter = one(&t, "EnvoyFilter", "a");
    assert_eq!(
        filter.spec["workloadSelector"],
        json!({"labels": {"app": "details"}})
    );
    assert_eq!(filter.spec["priority"], 10);
    assert_eq!(filter.spec["configPatches"][0]["applyTo"], "LISTENER");
    // The service's DestinationRule keeps the group's circuit breaking (it shadows the group's).
    let rules = find(&t, "DestinationRule", "a");
    let rule = rules
        .iter()
        .find(|r| r.spec["host"] == "details.a.svc.cluster.local")
        .expect("the service's DestinationRule");
    assert_eq!(
        rule.spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
        5
    );
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn a_service_the_cluster_lacks_gets_nothing_selected_and_a_warning() {
    let settings = json!({
        "reachability": {"mode": "GROUP"},
        "resilience": {"httpRequestTimeout": "3s", "circuitBreakerSensitivity": "LOW"}
    });
    let t = translate_in(&c1(), vec![service_setting("details", settings.clone())]);
    assert!(find(&t, "Sidecar", "a").is_empty());
    assert!(find(&t, "VirtualService", "a").is_empty());
    assert_eq!(
        find(&t, "DestinationRule", "a").len(),
        1,
        "a host needs no workload"
    );
    let [(fqn, warning)] = &t.warnings[..] else {
        panic!("one warning: {:?}", t.warnings)
    };
    assert!(fqn.ends_with("trafficgroups/tg/servicesettings/details"));
    assert!(
        warning.message.contains("a/details.a.svc.cluster.local")
            && warning.message.contains("cluster c1")
            && warning.message.contains("timeouts and retries")
            && warning.message.contains("reachability"),
        "{}",
        warning.message
    );
    // A Service without a selector: its timeouts still apply, nothing selects workloads.
    let mut headless = service("a", "details");
    headless.selector.clear();
    let t = translate_in(
        &c1().with_services([headless]),
        vec![service_setting("details", settings)],
    );
    assert_eq!(find(&t, "VirtualService", "a").len(), 1);
    assert!(find(&t, "Sidecar", "a").is_empty());
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
}

#[test]
fn a_service_rate_limit_next_to_the_group_one_is_named() {
    let rate_limit = |value: &str| {
        json!({"inbound": {"rateLimiting": {"local": {"rules": [{
            "dimensions": [{"header": {"name": "x-tier", "value": {"exact": value}}}],
            "tokenBucket": {"maxTokens": 5, "fillInterval": "1s"}
        }]}}}})
    };
    let t = translate_in(
        &c1().with_services([service("a", "details")]),
        vec![
            traffic_setting(rate_limit("gold")),
            service_setting("details", rate_limit("free")),
        ],
    );
    let filters = find(&t, "EnvoyFilter", "a");
    assert_eq!(filters.len(), 2, "the namespace's and the service's");
    let service_filter = filters
        .iter()
        .find(|f| f.spec.get("workloadSelector").is_some())
        .unwrap();
    let descriptor = &service_filter.spec["configPatches"][0]["patch"]["value"]["typed_config"]["descriptors"]
        [0];
    assert_eq!(descriptor["entries"][0]["value"], "service-rule-0-0");
    let [(_, warning)] = &t.warnings[..] else {
        panic!("one warning: {:?}", t.warnings)
    };
    assert!(
        warning.message.contains("must pass both"),
        "{}",
        warning.message
    );
}

#[test]
fn translating_some_objects_gives_them_what_the_whole_translation_does() {
    use crate::model::kind::Kind;
    use crate::model::resolve::resolve;
    use crate::model::translate::{Generated, translate_only};
    // ratings has no ServiceRoute: only it gets the TrafficSetting's timeout VirtualService.
    let cluster = c1().with_services([
        service("a", "details"),
        service("a", "ratings"),
        service("a", "reviews"),
    ]);
    let mut resources = hierarchy();
    resources.extend([
        timeouts(),
        service_route("reviews"),
        service_route("details"),
    ]);
    let whole = translate_cluster(&cluster, &resources);
    let resolution = resolve(&cluster, &resources);
    let of = |t: &Translation, fqn: &str| -> Vec<Generated> {
        let keys = t.sources.get(fqn).into_iter().flatten();
        keys.map(|k| t.objects[k].clone()).collect()
    };
    // ServiceRoutes alone (the other routes are not indexed for them), and the TrafficSetting,
    // which reads them: a routed service gets no timeout VirtualService of its own.
    for kind in [Kind::ServiceRoute, Kind::TrafficSetting] {
        let only: Vec<&Resource> = resources.iter().filter(|r| r.kind == kind).collect();
        let some = translate_only(&cluster, &resolution, &resources, &only);
        for resource in only {
            let fqn = resource.fqn.to_string();
            assert!(!of(&whole, &fqn).is_empty(), "{fqn} generates something");
            assert_eq!(of(&some, &fqn), of(&whole, &fqn), "{fqn}");
        }
    }
}
