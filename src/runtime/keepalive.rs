//! Stall detection on long-lived streams: a link that stops moving without an error (packets
//! held, no RST) must end within a stated bound, on both sides, so the agent reconnects.
//!
//! Two layers, both set by `--keepalive-interval` (I, default 10 s) and `--keepalive-timeout`
//! (T, default 20 s), on the agent and on the management plane:
//!
//! * **HTTP/2 PING** (hyper): after I without reading a byte, a side pings and closes the
//!   connection when no answer comes within T. It catches a dead TCP path (a black hole) even
//!   in the middle of a large message, and never fires on a slow link whose bytes still move.
//! * **Heartbeat messages** on the sync stream: each side sends one every I (from a task of its
//!   own, so a busy reader never starves it), and a side that waits I + T for the next message
//!   declares the stream stalled. PINGs are hop by hop: an L7 proxy between agent and management
//!   plane answers them itself while the stream behind it may be stuck; this layer sees through
//!   it. Only time spent *waiting* counts: a side busy with the previous message is not idle.
//!
//! Either layer ends a stalled stream at most I + T (30 s by default) after the last byte or
//! message arrived. A whole message must arrive within I + T, so a link slower than the largest
//! message (a delta of 100 objects, typically 100–200 KiB) per I + T — under about 5–10 KiB/s
//! — counts as stalled at the message layer.
//!
//! [`Liveness`] is the pure decision; the sync stream's two ends drive it.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::DropGuard;

use crate::runtime::Shutdown;

/// A flag value that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number with a unit.
    #[error("{0:?} is not a duration like 10m, 30s or 500ms")]
    NotADuration(String),
    /// A number with a unit we do not know.
    #[error("unit {unit:?} of {text:?} is not one of ms, s, m, h, d")]
    Unit {
        /// The unit.
        unit: String,
        /// The whole value.
        text: String,
    },
}

/// Parses `10m`, `30s`, `500ms`, `1h`, `30d` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| DurationError::NotADuration(text.to_string()))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "m" => Ok(Duration::from_secs(value * 60)),
        "h" => Ok(Duration::from_secs(value * 3600)),
        "d" => Ok(Duration::from_secs(value * 86_400)),
        other => Err(DurationError::Unit {
            unit: other.to_string(),
            text: text.to_string(),
        }),
    }
}

/// A keepalive duration: at least 1 ms (hyper and the heartbeat ticker need a period).
fn parse_period(text: &str) -> Result<Duration, DurationError> {
    let period = parse_duration(text)?;
    if period.is_zero() {
        return Err(DurationError::NotADuration(format!(
            "{text} (keepalives cannot be turned off)"
        )));
    }
    Ok(period)
}

/// `--keepalive-interval` and `--keepalive-timeout`, the same on the agent and the server.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct KeepaliveArgs {
    /// Send an HTTP/2 PING after this long without reading, and a heartbeat message on the sync
    /// stream this often.
    #[arg(long, env = "TSBRIDGE_KEEPALIVE_INTERVAL", default_value = "10s", value_parser = parse_period)]
    pub keepalive_interval: Duration,
    /// Close a connection whose PING is not answered within this, and a sync stream that sent
    /// no message for the peer's interval plus this: a stall is noticed within
    /// interval + timeout (30 s by default).
    #[arg(long, env = "TSBRIDGE_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = parse_period)]
    pub keepalive_timeout: Duration,
}

impl Default for KeepaliveArgs {
    fn default() -> KeepaliveArgs {
        KeepaliveArgs {
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl KeepaliveArgs {
    /// The interval in milliseconds, as the sync stream's hello and welcome announce it.
    pub fn interval_ms(&self) -> u32 {
        u32::try_from(self.keepalive_interval.as_millis()).unwrap_or(u32::MAX)
    }
}

/// Whether a stream still moves: the time a reader has waited for the next message, against
/// what the peer's heartbeats allow. Pure; the caller supplies the clock.
#[derive(Debug, Clone)]
pub struct Liveness {
    /// The peer's heartbeat interval (`None`: it sends none).
    peer_interval: Option<Duration>,
    timeout: Duration,
    waiting_since: Instant,
}

impl Liveness {
    /// A stream opened at `now` whose peer sends heartbeats every `peer_interval_ms` (0: none),
    /// judged with `args`' timeout.
    pub fn new(args: &KeepaliveArgs, peer_interval_ms: u32, now: Instant) -> Liveness {
        Liveness {
            peer_interval: (peer_interval_ms > 0)
                .then(|| Duration::from_millis(u64::from(peer_interval_ms))),
            timeout: args.keepalive_timeout,
            waiting_since: now,
        }
    }

    /// The reader starts waiting for the next message at `now` (after handling one, however
    /// long that took: time spent busy is not silence of the peer).
    pub fn waiting(&mut self, now: Instant) {
        self.waiting_since = now;
    }

    /// Since when the reader has waited.
    pub fn waiting_since(&self) -> Instant {
        self.waiting_since
    }

    /// When the stream counts as stalled if nothing arrives before; `None` without a bound.
    pub fn deadline(&self) -> Option<Instant> {
        self.peer_interval
            .map(|interval| self.waiting_since + interval + self.timeout)
    }

    /// How long the peer has been silent, when that is past what it is allowed.
    pub fn stalled(&self, now: Instant) -> Option<Duration> {
        let silent = now.saturating_duration_since(self.waiting_since);
        self.deadline()
            .filter(|deadline| now >= *deadline)
            .map(|_| silent)
    }

    /// Whether a stream that ended with an error at `now` had stopped moving first: the peer
    /// had missed a heartbeat (silent past its interval and an eighth of the timeout). That is
    /// how an HTTP/2 PING that went unanswered looks from here (hyper reports it to the stream
    /// as a broken pipe, without its cause; it comes at least a timeout after the last byte,
    /// since a PING is only sent after an interval of silence or answered late), while a reset
    /// link ends a stream whose heartbeats were on time. It assumes the timeout is not much
    /// shorter than the peer's interval, as the defaults have it (10 s, 20 s).
    pub fn ended_silent(&self, now: Instant) -> bool {
        let silent = now.saturating_duration_since(self.waiting_since);
        self.peer_interval
            .is_some_and(|interval| silent >= interval + self.timeout / 8)
    }
}

/// Resolves at `deadline`, never when there is none: a `select!` arm for [`Liveness`].
pub async fn expires(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends `beat()` into `outbox` every `interval` until the returned guard drops, the outbox
/// closes or shutdown. A full outbox skips the beat: messages are waiting, and they prove the
/// stream moves as well.
#[must_use = "the heartbeats stop when the guard drops"]
pub fn spawn_heartbeats<T: Send + 'static>(
    outbox: mpsc::Sender<T>,
    interval: Duration,
    beat: fn() -> T,
    span: tracing::Span,
    shutdown: &Shutdown,
) -> DropGuard {
    let stop = shutdown.token().child_token();
    let guard = stop.clone().drop_guard();
    shutdown.spawn(span, async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the stream has just opened with a message of its own.
        tick.tick().await;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = outbox.closed() => return,
                _ = tick.tick() => {}
            }
            if let Err(mpsc::error::TrySendError::Closed(_)) = outbox.try_send(beat()) {
                return;
            }
        }
    });
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_keepalives_cannot_be_zero() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(
            parse_duration("5w")
                .unwrap_err()
                .to_string()
                .contains("ms, s, m, h, d")
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_period("0s").is_err());
        assert_eq!(parse_period("1s"), Ok(Duration::from_secs(1)));
    }

    fn liveness(peer_interval_ms: u32, now: Instant) -> Liveness {
        Liveness::new(&KeepaliveArgs::default(), peer_interval_ms, now)
    }

    #[test]
    fn the_default_bound_is_thirty_seconds_and_an_old_peer_has_none() {
        let start = Instant::now();
        assert_eq!(KeepaliveArgs::default().interval_ms(), 10_000);
        assert_eq!(
            liveness(10_000, start).deadline(),
            Some(start + Duration::from_secs(30))
        );
        // The peer's interval counts, not ours: it is the peer that must send.
        assert_eq!(
            liveness(2_000, start).deadline(),
            Some(start + Duration::from_secs(22))
        );
        assert_eq!(liveness(0, start).deadline(), None);
    }

    #[test]
    fn silence_past_the_bound_is_a_stall_and_busy_time_is_not_silence() {
        let start = Instant::now();
        let mut liveness = liveness(10_000, start);
        assert_eq!(liveness.stalled(start + Duration::from_secs(29)), None);
        assert_eq!(
            liveness.stalled(start + Duration::from_secs(31)),
            Some(Duration::from_secs(31))
        );
        // A message arrived at 5 s and took 60 s to handle: the wait starts again at 65 s.
        liveness.waiting(start + Duration::from_secs(65));
        assert_eq!(liveness.stalled(start + Duration::from_secs(90)), None);
        assert!(liveness.stalled(start + Duration::from_secs(95)).is_some());
    }

    #[test]
    fn without_heartbeats_nothing_stalls_and_no_end_counts_as_one() {
        let start = Instant::now();
        let liveness = liveness(0, start);
        assert_eq!(liveness.stalled(start + Duration::from_secs(3600)), None);
        assert!(!liveness.ended_silent(start + Duration::from_secs(3600)));
    }

    #[test]
    fn an_error_after_missed_heartbeats_is_a_stall_and_a_reset_between_them_is_not() {
        let start = Instant::now();
        let liveness = liveness(10_000, start);
        // A PING unanswered: the connection dies between timeout and interval + timeout after
        // the last byte.
        assert!(liveness.ended_silent(start + Duration::from_secs(30)));
        assert!(liveness.ended_silent(start + Duration::from_secs(20)));
        // An RST while heartbeats were on time (one is due every 10 s), or a little late.
        assert!(!liveness.ended_silent(start + Duration::from_secs(3)));
        assert!(!liveness.ended_silent(start + Duration::from_secs(12)));
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeats_tick_skip_a_full_outbox_and_end_with_it() {
        let shutdown = Shutdown::new();
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let guard = spawn_heartbeats(
            tx,
            Duration::from_secs(10),
            || 7,
            tracing::info_span!("test"),
            &shutdown,
        );
        tokio::time::sleep(Duration::from_secs(35)).await;
        // Three ticks, one slot: the first beat waits, the others were skipped.
        assert_eq!(rx.recv().await, Some(7));
        assert!(rx.try_recv().is_err());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(rx.recv().await, Some(7));
        // The session ends: no more beats, and the task is gone.
        drop(guard);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(rx.try_recv().is_err());
        shutdown.begin();
        assert!(shutdown.drain(Duration::from_secs(1)).await);
    }
}
