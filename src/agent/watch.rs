//! Watches of every tsbridge CRD and of the direct-mode Istio kinds (labelled
//! `istio.io/rev: tsb`), merged into one channel for the reconciler.

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::mpsc;

use crate::model::Kind;
use crate::model::metadata::{DIRECT_MODE_REVISION, ISTIO_REV_LABEL};
use crate::runtime::Shutdown;

/// One watched kind.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Catalogue kind.
    pub kind: Kind,
    /// Where it is served.
    pub resource: ApiResource,
}

impl Watched {
    /// Our CRDs carry the status the agent writes; Istio's objects have istiod's status.
    pub fn has_our_status(&self) -> bool {
        !self.kind.is_direct()
    }
}

/// What a watch saw.
#[derive(Debug)]
pub enum WatchEvent {
    /// A (re)list of this kind starts.
    Relist(usize),
    /// An object exists (created, changed, or listed).
    Seen(usize, Box<DynamicObject>),
    /// The (re)list of this kind is complete: objects not seen since `Relist` are gone.
    Listed(usize),
    /// An object was deleted.
    Deleted(usize, Box<DynamicObject>),
    /// The cluster does not serve this kind (its CRD is not installed); the next `Relist`
    /// means it does again.
    NotServed(usize),
}

/// Our CRDs, at their catalogue version.
pub fn ours() -> Vec<Watched> {
    crate::k8s::crds::kinds()
        .into_iter()
        .map(|kind| {
            let api_version = kind.api_version();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
            let gvk = GroupVersionKind::gvk(group, version, kind.name());
            Watched {
                kind,
                resource: ApiResource::from_gvk_with_plural(&gvk, kind.info().plural),
            }
        })
        .collect()
}

/// Our CRDs and every direct-mode Istio kind, each at a fixed version: a kind the cluster does
/// not serve is an empty watch that says so (`WatchEvent::NotServed`) and lists as soon as its
/// CRD is installed. Discovering once at start-up instead lost a group for good when the
/// apiserver was restarting then, and Istio installed after the agent needed a restart.
pub fn all() -> Vec<Watched> {
    let mut watched = ours();
    watched.extend(Kind::all().filter(|k| k.is_direct()).map(|kind| Watched {
        kind,
        resource: direct_resource(kind),
    }));
    watched
}

/// A direct-mode kind at `v1` where Istio has it (the version generated objects are written
/// in), else at the one version it has.
fn direct_resource(kind: Kind) -> ApiResource {
    let versions = kind.info().versions;
    let version = versions
        .iter()
        .find(|v| **v == "v1")
        .or(versions.first())
        .copied()
        .unwrap_or("v1");
    let gvk = GroupVersionKind::gvk(kind.group(), version, kind.name());
    ApiResource::from_gvk_with_plural(&gvk, kind.info().plural)
}

/// Starts one watch per kind; events carry the index into `watched`.
pub fn spawn(
    client: &kube::Client,
    namespace: Option<&str>,
    watched: &[Watched],
    events: mpsc::Sender<WatchEvent>,
    shutdown: &Shutdown,
) {
    for (index, kind) in watched.iter().enumerate() {
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &kind.resource),
            None => Api::all_with(client.clone(), &kind.resource),
        };
        let mut config = watcher::Config::default();
        if kind.kind.is_direct() {
            config = config.labels(&format!("{ISTIO_REV_LABEL}={DIRECT_MODE_REVISION}"));
        }
        let events = events.clone();
        let stop = shutdown.clone();
        let span =
            tracing::info_span!("watch", kind = %kind.resource.kind, group = %kind.resource.group);
        shutdown.spawn(span, async move {
            let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
            let mut failing = false;
            // Told since the last success; kept apart from `failing`, so a kind that first
            // fails for another reason (the apiserver restarting) is still called unserved.
            let mut told_unserved = false;
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => break,
                    next = stream.next() => next,
                };
                let event = match next {
                    None => break,
                    Some(Err(error)) => {
                        // A malformed object or an API error never ends the watch; the
                        // backoff retries and the next list reconciles. A kind whose CRD is
                        // missing fails every retry: say so once, not on every attempt.
                        let unserved = not_served(&error);
                        if unserved && !told_unserved {
                            told_unserved = true;
                            tracing::info!("not served by this cluster (its CRD is not installed); watched from when it is");
                            // A kind the cluster does not serve has no objects: that is a
                            // complete (empty) list, not a pending one. Any other failure
                            // leaves the list pending, and readiness says so.
                            for event in [
                                WatchEvent::Relist(index),
                                WatchEvent::Listed(index),
                                WatchEvent::NotServed(index),
                            ] {
                                if events.send(event).await.is_err() {
                                    return;
                                }
                            }
                        } else if failing || unserved {
                            tracing::debug!(%error, "watch error; retrying");
                        } else {
                            tracing::warn!(%error, "watch error; retrying (repeats are logged at debug)");
                        }
                        failing = true;
                        continue;
                    }
                    Some(Ok(event)) => {
                        failing = false;
                        told_unserved = false;
                        event
                    }
                };
                let event = match event {
                    watcher::Event::Init => WatchEvent::Relist(index),
                    watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                        WatchEvent::Seen(index, Box::new(object))
                    }
                    watcher::Event::InitDone => WatchEvent::Listed(index),
                    watcher::Event::Delete(object) => WatchEvent::Deleted(index, Box::new(object)),
                };
                if events.send(event).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// The list failed because the apiserver does not serve the kind (its CRD is not installed).
fn not_served(error: &watcher::Error) -> bool {
    // The apiserver answers an unserved path with a bare `404 page not found`, not a Status:
    // kube makes a Status of code 404 without the NotFound reason its helper reads.
    matches!(error, watcher::Error::InitialListFailed(error)
        if crate::agent::error::is_not_found(error)
            || matches!(error, kube::Error::Api(status) if status.code == 404))
}

/// What an inventory watch (namespaces, Services) saw.
#[derive(Debug)]
pub enum InventoryEvent<K, V> {
    /// A (re)list starts.
    Relist,
    /// An item exists, with its value.
    Seen(K, V),
    /// The (re)list is complete.
    Listed,
    /// An item was deleted.
    Deleted(K),
}

/// What the namespace watch saw: namespaces and their labels.
pub type NamespaceEvent = InventoryEvent<String, std::collections::BTreeMap<String, String>>;

/// A Service of the cluster, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceKey {
    /// The Service `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> ServiceKey {
        ServiceKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

/// `namespace/name`, as the MP's Service inventory names removals.
impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What the Service watch saw: Services by namespace and name.
pub type ServiceEvent = InventoryEvent<ServiceKey, crate::proto::v1::Service>;

/// Watches the cluster's namespaces (the inventory distribution resolves selectors against).
pub fn spawn_namespaces(
    client: &kube::Client,
    events: mpsc::Sender<NamespaceEvent>,
    shutdown: &Shutdown,
) {
    use k8s_openapi::api::core::v1::Namespace;
    spawn_inventory(
        Api::<Namespace>::all(client.clone()),
        "namespaces",
        |namespace: Namespace| {
            let name = namespace.metadata.name.unwrap_or_default();
            (name, namespace.metadata.labels.unwrap_or_default())
        },
        events,
        shutdown,
    );
}

/// Watches the cluster's Services (what service-scoped settings select workloads by).
pub fn spawn_services(
    client: &kube::Client,
    events: mpsc::Sender<ServiceEvent>,
    shutdown: &Shutdown,
) {
    use k8s_openapi::api::core::v1::Service;
    spawn_inventory(
        Api::<Service>::all(client.clone()),
        "services",
        |service: Service| {
            let reported = reported_service(service);
            (
                ServiceKey::new(&reported.namespace, &reported.name),
                reported,
            )
        },
        events,
        shutdown,
    );
}

/// A Service as the agent reports it: name, namespace, ports and selector.
pub fn reported_service(service: k8s_openapi::api::core::v1::Service) -> crate::proto::v1::Service {
    let spec = service.spec.unwrap_or_default();
    crate::proto::v1::Service {
        name: service.metadata.name.unwrap_or_default(),
        namespace: service.metadata.namespace.unwrap_or_default(),
        ports: spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| crate::proto::v1::ServicePort {
                name: p.name.unwrap_or_default(),
                port: p.port,
                protocol: p.protocol.unwrap_or_else(|| "TCP".into()),
                app_protocol: p.app_protocol.unwrap_or_default(),
            })
            .collect(),
        selector: spec.selector.unwrap_or_default().into_iter().collect(),
    }
}

/// Watches every object of `api` for an inventory: each (re)list as `Relist`, `Seen`…,
/// `Listed`; then changes. A kind the cluster does not serve is an empty, complete list.
fn spawn_inventory<T, K, V>(
    api: Api<T>,
    what: &'static str,
    item: impl Fn(T) -> (K, V) + Send + 'static,
    events: mpsc::Sender<InventoryEvent<K, V>>,
    shutdown: &Shutdown,
) where
    T: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    T::DynamicType: Default,
    K: Send + 'static,
    V: Send + 'static,
{
    let stop = shutdown.clone();
    shutdown.spawn(tracing::info_span!("watch-inventory", %what), async move {
        let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
        let mut unserved_told = false;
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => break,
                next = stream.next() => next,
            };
            let batch = match next {
                None => break,
                Some(Err(error)) if not_served(&error) => {
                    if unserved_told {
                        continue;
                    }
                    unserved_told = true;
                    tracing::info!(%what, "not served by this cluster: an empty list");
                    vec![InventoryEvent::Relist, InventoryEvent::Listed]
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, %what, "inventory watch error; retrying");
                    continue;
                }
                Some(Ok(event)) => vec![match event {
                    watcher::Event::Init => InventoryEvent::Relist,
                    watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                        let (key, value) = item(object);
                        InventoryEvent::Seen(key, value)
                    }
                    watcher::Event::InitDone => InventoryEvent::Listed,
                    watcher::Event::Delete(object) => InventoryEvent::Deleted(item(object).0),
                }],
            };
            for event in batch {
                if events.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
}

/// Watches the Istio objects this cluster's agent generated (by ownership label) and reports
/// every change or delete to the applier, which puts back what drifted.
pub fn spawn_owned(
    client: &kube::Client,
    watched: &[Watched],
    cluster: &str,
    applier: mpsc::Sender<crate::agent::applier::ApplierEvent>,
    shutdown: &Shutdown,
) {
    use crate::agent::applier::ApplierEvent;
    let selector = crate::model::translate::owned_selector(cluster);
    for kind in watched.iter().filter(|w| w.kind.is_direct()) {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &kind.resource);
        let config = watcher::Config::default().labels(&selector);
        let applier = applier.clone();
        let stop = shutdown.clone();
        let resource = kind.resource.clone();
        let span = tracing::info_span!("watch-owned", kind = %resource.kind);
        shutdown.spawn(span, async move {
            let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
            // What the current (re)list has seen: at its end, a wanted object it lacks was
            // deleted while nothing watched (a relist reports no delete events).
            let mut listing: std::collections::BTreeSet<(String, String)> = Default::default();
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => break,
                    next = stream.next() => next,
                };
                let (object, deleted) = match next {
                    None => break,
                    Some(Ok(watcher::Event::Apply(o))) => (o, false),
                    Some(Ok(watcher::Event::Delete(o))) => (o, true),
                    Some(Ok(watcher::Event::Init)) => {
                        listing.clear();
                        continue;
                    }
                    Some(Ok(watcher::Event::InitApply(o))) => {
                        listing.insert((
                            o.metadata.namespace.clone().unwrap_or_default(),
                            o.metadata.name.clone().unwrap_or_default(),
                        ));
                        (o, false)
                    }
                    Some(Ok(watcher::Event::InitDone)) => {
                        let listed = std::mem::take(&mut listing);
                        let event = ApplierEvent::Listed(
                            resource.group.clone(),
                            resource.kind.clone(),
                            listed,
                        );
                        if applier.send(event).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Err(error)) => {
                        tracing::debug!(%error, "owned-object watch error; retrying");
                        continue;
                    }
                };
                let key = (
                    resource.api_version.clone(),
                    resource.kind.clone(),
                    object.metadata.namespace.clone().unwrap_or_default(),
                    object.metadata.name.clone().unwrap_or_default(),
                );
                let live = (!deleted).then(|| Box::new(object));
                if applier.send(ApplierEvent::Drift(key, live)).await.is_err() {
                    break;
                }
            }
        });
    }
}
