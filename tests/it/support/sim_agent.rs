//! A simulated agent: one task with its own sync stream that speaks the real protocol
//! (`proto/tsbridge/v1/sync.proto`) like `src/agent/upstream.rs`, the reconciler and the applier
//! do, but holds no apiserver. It says hello with the revision and checksum it holds, reports a
//! fixed namespace inventory, an empty Service list and an empty object inventory, keeps the
//! desired set each delta describes (key → content hash), and acknowledges every revision after
//! its last chunk, recording when. It reconnects with backoff like the real agent.
//!
//! Used by `tests/it/fanout.rs` and `cargo bench --bench fanout`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tsbridge::proto::v1;
use tsbridge::proto::v1::agent_message::Message as Up;
use tsbridge::proto::v1::agent_sync_service_client::AgentSyncServiceClient;
use tsbridge::proto::v1::server_message::Message as Down;

/// Messages queued towards the MP per stream (hello, three inventories, then one ACK per
/// revision).
const OUTBOX: usize = 64;

/// One generated object, as the delta names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    fn of(key: Option<&v1::ObjectKey>) -> ObjectId {
        let key = key.cloned().unwrap_or_default();
        ObjectId {
            api_version: key.api_version,
            kind: key.kind,
            namespace: key.namespace,
            name: key.name,
        }
    }
}

impl std::fmt::Display for ObjectId {
    /// `Kind/namespace/name`, as the distribution tests name objects.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
    }
}

/// What the agent holds: the desired set of its last acknowledged revision.
#[derive(Debug, Clone, Default)]
pub struct Held {
    /// The last revision acknowledged, and its checksum (sent in the next hello).
    pub revision: u64,
    pub checksum: String,
    /// Key → content hash.
    pub objects: BTreeMap<ObjectId, String>,
    /// Revisions acknowledged, full resyncs among them.
    pub acks: u64,
    pub full_resyncs: u64,
}

/// A revision being received (several chunks).
#[derive(Debug, Default)]
struct Receiving {
    /// With a full revision: the complete set it lists, replacing `Held::objects` at its end.
    full: Option<BTreeMap<ObjectId, String>>,
    /// Some upsert contained the marker.
    marked: bool,
}

/// What one chunk completed: the ACK to send, with what the bench records.
#[derive(Debug, PartialEq)]
struct Completed {
    ack: v1::Ack,
    full: bool,
    marked: bool,
    objects: usize,
}

impl Held {
    /// Applies one delta chunk (the decision part of the agent, without I/O): incremental
    /// chunks change the set as they come, a full revision replaces it at its last chunk.
    /// Returns the acknowledgement after the last chunk.
    fn apply(
        &mut self,
        receiving: &mut Option<Receiving>,
        delta: v1::Delta,
        marker: Option<&str>,
    ) -> Option<Completed> {
        let current = receiving.get_or_insert_with(|| Receiving {
            full: delta.full.then(BTreeMap::new),
            marked: false,
        });
        for object in delta.upserts {
            if marker.is_some_and(|m| object.object_json.contains(m)) {
                current.marked = true;
            }
            let id = ObjectId::of(object.key.as_ref());
            match current.full.as_mut() {
                Some(set) => set.insert(id, object.content_hash),
                None => self.objects.insert(id, object.content_hash),
            };
        }
        for key in &delta.removals {
            let id = ObjectId::of(Some(key));
            match current.full.as_mut() {
                Some(set) => set.remove(&id),
                None => self.objects.remove(&id),
            };
        }
        if !delta.last {
            return None;
        }
        let done = receiving.take().unwrap_or_default();
        let full = done.full.is_some();
        if let Some(set) = done.full {
            self.objects = set;
            self.full_resyncs += 1;
        }
        self.revision = delta.revision;
        self.checksum.clone_from(&delta.checksum);
        self.acks += 1;
        Some(Completed {
            ack: v1::Ack {
                revision: delta.revision,
                errors: Vec::new(),
                checksum: delta.checksum,
                prune_held: None,
            },
            full,
            marked: done.marked,
            objects: self.objects.len(),
        })
    }
}

/// One acknowledged revision, reported to whoever measures.
#[derive(Debug, Clone)]
pub struct Acked {
    /// The agent's index in its fleet.
    pub agent: usize,
    pub revision: u64,
    pub full: bool,
    /// Some upsert of the revision contained the marker current when it arrived.
    pub marked: bool,
    /// Objects held after it.
    pub objects: usize,
    /// When the ACK was sent.
    pub at: Instant,
}

/// What a simulated agent is.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Index in its fleet (reported with each ACK).
    pub index: usize,
    /// The registered cluster it speaks for.
    pub cluster: String,
    /// The namespaces its cluster reports.
    pub namespaces: Vec<String>,
}

/// A running simulated agent; its task ends when dropped.
#[derive(Debug)]
pub struct SimAgent {
    pub cluster: String,
    held: Arc<Mutex<Held>>,
    sessions: Arc<AtomicU64>,
    welcomes: Arc<AtomicU64>,
    last_error: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the task shares with its handle and measurer.
struct Context {
    spec: Spec,
    bearer: tsbridge::cli::ctl::client::Bearer,
    held: Arc<Mutex<Held>>,
    sessions: Arc<AtomicU64>,
    welcomes: Arc<AtomicU64>,
    last_error: Arc<Mutex<String>>,
    marker: watch::Receiver<Option<String>>,
    acked: mpsc::Sender<Acked>,
}

impl SimAgent {
    /// Starts the agent on `channel` (shared by several agents: one HTTP/2 stream each),
    /// authenticated with an unscoped admin `token` (a loopback `--insecure` MP lets it act for
    /// the registered cluster hello names). Each ACK goes to `acked`; an upsert containing the
    /// current `marker` marks its revision.
    pub fn spawn(
        channel: Channel,
        token: &str,
        spec: Spec,
        marker: watch::Receiver<Option<String>>,
        acked: mpsc::Sender<Acked>,
    ) -> SimAgent {
        let held = Arc::new(Mutex::new(Held::default()));
        let sessions = Arc::new(AtomicU64::new(0));
        let welcomes = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(Mutex::new(String::new()));
        let context = Context {
            bearer: tsbridge::cli::ctl::client::Bearer::token(token).expect("token is header text"),
            spec: spec.clone(),
            held: held.clone(),
            sessions: sessions.clone(),
            welcomes: welcomes.clone(),
            last_error: last_error.clone(),
            marker,
            acked,
        };
        let task = tokio::spawn(context.run(channel));
        SimAgent {
            cluster: spec.cluster,
            held,
            sessions,
            welcomes,
            last_error,
            task,
        }
    }

    /// A copy of what it holds now.
    pub fn held(&self) -> Held {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Streams opened so far (1 when it never reconnected).
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Streams the management plane welcomed so far.
    pub fn welcomes(&self) -> u64 {
        self.welcomes.load(Ordering::Relaxed)
    }

    /// Why its last stream ended ("" when none did).
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Context {
    /// Keeps a session open, reconnecting with backoff (250 ms doubling to 5 s) like the agent.
    async fn run(self, channel: Channel) {
        let mut client = AgentSyncServiceClient::with_interceptor(channel, self.bearer.clone())
            .max_decoding_message_size(16 * 1024 * 1024);
        let mut backoff = Duration::from_millis(250);
        loop {
            let ended = self.session(&mut client).await;
            let reason = match ended {
                // Nobody measures any more.
                Ok(()) => return,
                Err(reason) => reason,
            };
            *self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = reason;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn session<S>(&self, client: &mut AgentSyncServiceClient<S>) -> Result<(), String>
    where
        S: tonic::client::GrpcService<tonic::body::Body>,
        S::Error: Into<tonic::codegen::StdError>,
        S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
        <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    {
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let (revision, checksum) = {
            let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            (held.revision, held.checksum.clone())
        };
        let send = |message: Up| {
            let outbox = outbox.clone();
            async move {
                outbox
                    .send(v1::AgentMessage {
                        message: Some(message),
                    })
                    .await
                    .map_err(|_| "the stream's outbox closed".to_string())
            }
        };
        send(Up::Hello(v1::Hello {
            cluster: self.spec.cluster.clone(),
            last_applied_revision: revision,
            checksum,
            agent_version: "sim".into(),
            reports_services: true,
            // Sends no heartbeats: the MP judges its stream by HTTP/2 PINGs, as an older agent's.
            ..Default::default()
        }))
        .await?;
        self.sessions.fetch_add(1, Ordering::Relaxed);
        let mut incoming = client
            .sync(ReceiverStream::new(outgoing))
            .await
            .map_err(|status| format!("sync: {status}"))?
            .into_inner();
        match incoming.message().await {
            Ok(Some(v1::ServerMessage {
                message: Some(Down::Welcome(_)),
            })) => {
                self.welcomes.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => return Err("the management plane did not answer hello".into()),
            Err(status) => return Err(format!("welcome: {status}")),
        }
        // What the reconciler sends once every watch has listed.
        send(Up::Namespaces(v1::NamespaceInventory {
            full: true,
            complete: true,
            upserts: self
                .spec
                .namespaces
                .iter()
                .map(|name| v1::Namespace {
                    name: name.clone(),
                    labels: Default::default(),
                })
                .collect(),
            removed: Vec::new(),
        }))
        .await?;
        send(Up::Services(v1::ServiceInventory {
            full: true,
            complete: true,
            ..Default::default()
        }))
        .await?;
        send(Up::Inventory(v1::InventoryChunk {
            inventory_id: 1,
            items: Vec::new(),
            last: true,
            complete: true,
        }))
        .await?;
        let mut receiving = None;
        loop {
            let delta = match incoming.message().await {
                Ok(Some(v1::ServerMessage {
                    message: Some(Down::Delta(delta)),
                })) => delta,
                // Inventory answers and status updates: nothing to do without GitOps objects.
                Ok(Some(_)) => continue,
                Ok(None) => return Err("the management plane closed the stream".into()),
                Err(status) => return Err(format!("stream: {status}")),
            };
            let marker = self.marker.borrow().clone();
            let completed = self
                .held
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apply(&mut receiving, delta, marker.as_deref());
            let Some(completed) = completed else {
                continue;
            };
            let revision = completed.ack.revision;
            send(Up::Ack(completed.ack)).await?;
            let acked = Acked {
                agent: self.spec.index,
                revision,
                full: completed.full,
                marked: completed.marked,
                objects: completed.objects,
                at: Instant::now(),
            };
            if self.acked.send(acked).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// One agent per name of `clusters` (reporting `namespaces`), spread over `channels` in
/// contiguous blocks, all reporting to `acked` and watching `marker`.
pub fn spawn_fleet(
    channels: &[Channel],
    token: &str,
    clusters: &[String],
    namespaces: &[String],
    marker: &watch::Receiver<Option<String>>,
    acked: &mpsc::Sender<Acked>,
) -> Vec<SimAgent> {
    clusters
        .iter()
        .enumerate()
        .map(|(index, cluster)| {
            let spec = Spec {
                index,
                cluster: cluster.clone(),
                namespaces: namespaces.to_vec(),
            };
            let channel = &channels[index * channels.len() / clusters.len()];
            SimAgent::spawn(channel.clone(), token, spec, marker.clone(), acked.clone())
        })
        .collect()
}

/// `count` HTTP/2 connections to the MP at `url`, for agents to share. The connection window
/// is widened so that the streams sharing one connection are not throttled by it (each real
/// agent has a connection of its own).
pub async fn channels(url: &str, count: usize) -> Vec<Channel> {
    super::assert_loopback(url);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let channel = Endpoint::from_shared(url.to_string())
            .expect("URL")
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .initial_connection_window_size(16 * 1024 * 1024)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        channels.push(channel);
    }
    channels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, hash: &str, json: &str) -> v1::DesiredObject {
        v1::DesiredObject {
            key: Some(v1::ObjectKey {
                api_version: "networking.istio.io/v1".into(),
                kind: "Sidecar".into(),
                namespace: "app".into(),
                name: name.into(),
            }),
            content_hash: hash.into(),
            object_json: json.into(),
            source_fqn: "organizations/acme".into(),
        }
    }

    fn names(held: &Held) -> Vec<String> {
        held.objects.keys().map(|k| k.name.clone()).collect()
    }

    #[test]
    fn a_full_revision_replaces_the_set_at_its_last_chunk_and_is_acked_once() {
        let mut held = Held::default();
        held.objects.insert(
            ObjectId::of(object("stale", "h", "").key.as_ref()),
            "h".into(),
        );
        let mut receiving = None;
        let first = v1::Delta {
            revision: 7,
            full: true,
            upserts: vec![object("a", "1", "{}")],
            ..Default::default()
        };
        assert_eq!(held.apply(&mut receiving, first, None), None);
        assert_eq!(
            names(&held),
            ["stale"],
            "nothing changes before the last chunk"
        );
        let last = v1::Delta {
            revision: 7,
            full: true,
            upserts: vec![object("b", "2", "{\"marker-1\"}")],
            last: true,
            checksum: "c7".into(),
            ..Default::default()
        };
        let done = held
            .apply(&mut receiving, last, Some("marker-1"))
            .expect("acked");
        assert_eq!(done.ack.revision, 7);
        assert_eq!(done.ack.checksum, "c7");
        assert!(done.ack.errors.is_empty() && done.ack.prune_held.is_none());
        assert!(done.full && done.marked);
        assert_eq!(done.objects, 2);
        assert_eq!(names(&held), ["a", "b"]);
        assert_eq!((held.revision, held.checksum.as_str()), (7, "c7"));
        assert!(receiving.is_none());
    }

    #[test]
    fn an_incremental_revision_upserts_and_removes() {
        let mut held = Held::default();
        let mut receiving = None;
        let add = v1::Delta {
            revision: 1,
            upserts: vec![object("a", "1", "{}"), object("b", "1", "{}")],
            last: true,
            ..Default::default()
        };
        let done = held
            .apply(&mut receiving, add, Some("marker-9"))
            .expect("acked");
        assert!(!done.full && !done.marked);
        let change = v1::Delta {
            revision: 2,
            upserts: vec![object("a", "2", "{}")],
            removals: vec![object("b", "", "").key.expect("key")],
            last: true,
            ..Default::default()
        };
        held.apply(&mut receiving, change, None).expect("acked");
        assert_eq!(names(&held), ["a"]);
        assert_eq!(held.objects.values().next().map(String::as_str), Some("2"));
        assert_eq!((held.revision, held.acks, held.full_resyncs), (2, 2, 0));
    }
}
