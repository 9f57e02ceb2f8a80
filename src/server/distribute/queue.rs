//! Messages on their way to one agent.
//!
//! The distributor decides under a lock and cannot wait for a slow agent; dropping a delta
//! instead would leave that agent behind until it reconnects. So each stream has a queue in
//! front of its bounded outbox, drained in order by a task that ends with the stream. The queue
//! holds deltas whose objects' JSON is shared with every other cluster receiving the same
//! object (an initial sync of 1,000 clusters queues 1,000 references, not 1,000 copies); each
//! message becomes a gRPC message only when the outbox has room for it.
//!
//! The queue is bounded by [`LIMIT`] messages. An agent that falls that far behind gets its
//! stream ended with `RESOURCE_EXHAUSTED` instead: it reconnects and resumes from the revision it
//! acknowledged, with the deltas that are still needed, and the replica's memory stays bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{Notify, mpsc};
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

/// Messages a stream's queue holds at most: 4,096 chunks of up to 100 objects, far more than a
/// full resync of any cluster needs.
pub(super) const LIMIT: usize = 4096;

/// What [`Queue::send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Queued {
    /// Queued (or dropped because the stream has ended or already overflowed).
    Yes,
    /// The queue was full: this message and everything after it are dropped, and the stream
    /// ends. Returned once per stream, for the overflow metric.
    Overflowed,
}

/// The queue of one stream; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Queue {
    sender: mpsc::UnboundedSender<Outgoing>,
    /// Messages queued and not yet in the outbox (the queue-depth metric).
    depth: Arc<AtomicUsize>,
    limit: usize,
    overflowed: Arc<AtomicBool>,
    overflow: Arc<Notify>,
}

impl Queue {
    /// Starts the task that forwards into `outbox`; it ends when the stream or the queue
    /// closes, or at shutdown.
    pub fn forwarding_to(outbox: Outbox, cluster: &str) -> Queue {
        Queue::with_limit(outbox, cluster, LIMIT)
    }

    fn with_limit(outbox: Outbox, cluster: &str, limit: usize) -> Queue {
        let (sender, mut queued) = mpsc::unbounded_channel::<Outgoing>();
        let depth = Arc::new(AtomicUsize::new(0));
        let left = depth.clone();
        let overflow = Arc::new(Notify::new());
        let overflowing = overflow.clone();
        let forward = async move {
            loop {
                let message = tokio::select! {
                    () = outbox.closed() => break,
                    () = overflowing.notified() => {
                        // Freed now, not when the agent has read its way to the end.
                        drop(queued);
                        let status = Status::resource_exhausted(format!(
                            "this agent is more than {limit} messages behind; reconnect and \
                             resume from the last acknowledged revision"
                        ));
                        let _ = outbox.send(Err(status)).await;
                        break;
                    }
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
        Queue {
            sender,
            depth,
            limit,
            overflowed: Arc::new(AtomicBool::new(false)),
            overflow,
        }
    }

    pub fn send(&self, message: Outgoing) -> Queued {
        if self.overflowed.load(Ordering::Relaxed) {
            return Queued::Yes;
        }
        if self.depth.load(Ordering::Relaxed) >= self.limit {
            self.overflowed.store(true, Ordering::Relaxed);
            // `notify_one` keeps the permit if the forwarder is busy sending.
            self.overflow.notify_one();
            return Queued::Overflowed;
        }
        // Counted before it is queued: the forwarder may take it (and count it out) at once,
        // and counting after would let the depth wrap below zero and read as an overflow.
        self.depth.fetch_add(1, Ordering::Relaxed);
        // Fails only when the stream has ended; the agent resyncs when it reconnects.
        if self.sender.send(message).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
        }
        Queued::Yes
    }

    /// Messages waiting for room in the stream.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Whether the stream is still open.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed() && !self.overflowed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(text: &str) -> Outgoing {
        Outgoing::Message(Down::Status(v1::StatusUpdate {
            fqn: text.into(),
            ..Default::default()
        }))
    }

    #[tokio::test]
    async fn a_queue_over_its_limit_ends_the_stream_after_what_it_held() {
        let (outbox, mut stream) = mpsc::channel(1);
        let queue = Queue::with_limit(outbox, "eu", 3);
        // Nobody reads the stream: the forwarder puts one message into the outbox, holds the
        // next, and the rest wait in the queue until it is full.
        let mut sent = 0;
        while queue.send(status(&sent.to_string())) == Queued::Yes {
            sent += 1;
            assert!(sent < 10, "the queue never reached its limit");
            tokio::task::yield_now().await;
        }
        assert_eq!(queue.send(status("after")), Queued::Yes, "reported once");
        assert!(!queue.is_open());
        let mut received = Vec::new();
        while let Some(item) = stream.recv().await {
            received.push(item);
        }
        let last = received.pop().expect("the stream ends with a status");
        let status = last.expect_err("the last item is the overflow");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("reconnect"), "{status:?}");
        assert!(
            received.iter().all(Result::is_ok),
            "what was forwarded before the overflow arrives first"
        );
    }
}
