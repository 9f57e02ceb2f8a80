//! Messages on their way to one agent.
//!
//! The distributor decides under a lock and cannot wait for a slow agent; dropping a delta
//! instead would leave that agent behind until it reconnects. So each stream has a queue in
//! front of its bounded outbox, drained in order by a task that ends with the stream. The queue
//! holds deltas whose objects' JSON is shared with every other cluster receiving the same
//! object (an initial sync of 1,000 clusters queues 1,000 references, not 1,000 copies); each
//! message becomes a gRPC message only when the outbox has room for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tonic::Status;

use crate::proto::v1;
use crate::proto::v1::server_message::Message as Down;
use crate::server::distribute::link::{Source, TargetRef};

/// Sends to one agent's stream.
pub type Outbox = mpsc::Sender<Result<v1::ServerMessage, Status>>;

/// One object of a delta.
#[derive(Debug, Clone)]
pub(super) struct Upsert {
    pub target: TargetRef,
    pub hash: u64,
    pub json: Arc<str>,
    pub source: Source,
}

impl Upsert {
    fn to_proto(&self) -> v1::DesiredObject {
        v1::DesiredObject {
            key: Some(self.target.proto_key()),
            content_hash: format!("{:016x}", self.hash),
            object_json: self.json.to_string(),
            source_fqn: self.source.to_string(),
        }
    }
}

/// One chunk of a revision.
#[derive(Debug, Clone, Default)]
pub(super) struct Chunk {
    pub revision: u64,
    pub full: bool,
    pub confirm_prune: bool,
    pub upserts: Vec<Upsert>,
    pub removals: Vec<TargetRef>,
    pub last: bool,
    pub checksum: String,
}

/// What waits in a queue.
#[derive(Debug)]
pub(super) enum Outgoing {
    Delta(Chunk),
    Message(Down),
}

impl Outgoing {
    fn into_proto(self) -> v1::ServerMessage {
        let message = match self {
            Outgoing::Message(message) => message,
            Outgoing::Delta(chunk) => Down::Delta(v1::Delta {
                revision: chunk.revision,
                full: chunk.full,
                confirm_prune: chunk.confirm_prune,
                upserts: chunk.upserts.iter().map(Upsert::to_proto).collect(),
                removals: chunk.removals.iter().map(|t| t.proto_key()).collect(),
                last: chunk.last,
                checksum: chunk.checksum,
            }),
        };
        v1::ServerMessage {
            message: Some(message),
        }
    }
}

/// The queue of one stream; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Outgoing>,
    /// Messages queued and not yet in the outbox (the queue-depth metric).
    depth: Arc<AtomicUsize>,
}

impl Queue {
    /// Starts the task that forwards into `outbox`; it ends when the stream or the queue
    /// closes, or at shutdown.
    pub fn forwarding_to(outbox: Outbox, cluster: &str) -> Queue {
        let (sender, mut queued) = mpsc::unbounded_channel::<Outgoing>();
        let depth = Arc::new(AtomicUsize::new(0));
        let left = depth.clone();
        let forward = async move {
            loop {
                let message = tokio::select! {
                    () = outbox.closed() => break,
                    message = queued.recv() => message,
                };
                let Some(message) = message else { break };
                left.fetch_sub(1, Ordering::Relaxed);
                if outbox.send(Ok(message.into_proto())).await.is_err() {
                    break;
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            forward,
            tracing::info_span!("distribute-forward", %cluster),
        ));
        Queue { sender, depth }
    }

    pub fn send(&self, message: Outgoing) {
        // Fails only when the stream has ended; the agent resyncs when it reconnects.
        if self.sender.send(message).is_ok() {
            self.depth.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Messages waiting for room in the stream.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Whether the stream is still open.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}
