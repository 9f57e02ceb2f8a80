//! Per-identity request rate limits (architecture.md §8): one token bucket per caller
//! (`user:<subject>` or `cluster:<name>`), refilled at `--rate-limit-per-identity` tokens per
//! second up to `--rate-limit-burst`.
//!
//! API calls that find the bucket empty are refused ([`RateLimiter::admit`]). The messages of an
//! agent's sync stream draw on the same bucket but wait instead ([`RateLimiter::pace`]): the
//! stream stops reading, HTTP/2 flow control holds the agent back, and nothing is lost or
//! retried. A cluster flooding its stream therefore gets exactly its rate, with the server's
//! memory bounded by the stream's window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use crate::server::error::Error;

/// Buckets kept before full (idle) ones are dropped.
const MAX_BUCKETS: usize = 10_000;

/// The rate limiter of the gRPC API.
#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second.
    rate: u32,
    /// Bucket size.
    burst: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
    /// Refused requests, for `/metrics`.
    refused: Counter,
    /// Stream messages held back, for `/metrics`.
    paced: Counter,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// An episode of refusals (or of pacing) is going on: its next refusals are not audited
    /// again. It ends once the bucket has filled up, so a caller hovering at the rate does not
    /// start a new episode (and an audit row) with every other request.
    limited: bool,
}

impl Bucket {
    /// Ends the episode when the token just taken came from a full bucket: the caller was quiet
    /// long enough for it to refill.
    fn settle(&mut self, burst: u32) {
        if self.tokens + 1.0 >= f64::from(burst) {
            self.limited = false;
        }
    }
}

/// A stream message held back by [`RateLimiter::pace`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pacing {
    /// How long to wait before handling it.
    pub wait: Duration,
    /// True for the first message held back after one that was not: worth an audit row.
    pub first: bool,
}

/// A refused request.
#[derive(Debug)]
pub struct Refusal {
    /// The error for the caller, naming the limit and the identity.
    pub error: Error,
    /// True for the first refusal after an admitted request: the one worth an audit row (a
    /// client hammering the API would otherwise write a row per refused request).
    pub first: bool,
}

impl RateLimiter {
    /// `rate` requests per second per identity, bursts of `burst` (0 = one second's worth);
    /// `None` when `rate` is 0 (no limit).
    pub fn new(rate: u32, burst: u32) -> Option<RateLimiter> {
        (rate > 0).then(|| RateLimiter {
            rate,
            burst: if burst == 0 { rate } else { burst },
            buckets: Mutex::new(HashMap::new()),
            refused: Counter::default(),
            paced: Counter::default(),
        })
    }

    /// The limit, requests per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Stream messages held back so far (registered as a metric by the server).
    pub fn paced(&self) -> &Counter {
        &self.paced
    }

    /// Takes a token for `identity` now, even from an empty bucket; `Some` says how long the
    /// caller must wait before going on (the bucket is then in debt, so every caller of the
    /// identity together stays at the rate).
    pub fn pace(&self, identity: &str) -> Option<Pacing> {
        self.pace_at(identity, Instant::now())
    }

    fn pace_at(&self, identity: &str, now: Instant) -> Option<Pacing> {
        let rate = f64::from(self.rate);
        let mut buckets = self.lock();
        let bucket = self.refilled(&mut buckets, identity, now);
        bucket.tokens -= 1.0;
        if bucket.tokens >= 0.0 {
            bucket.settle(self.burst);
            return None;
        }
        let first = !bucket.limited;
        bucket.limited = true;
        self.paced.inc();
        Some(Pacing {
            wait: Duration::from_secs_f64(-bucket.tokens / rate),
            first,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `identity`'s bucket, refilled up to `now`.
    fn refilled<'a>(
        &self,
        buckets: &'a mut HashMap<String, Bucket>,
        identity: &str,
        now: Instant,
    ) -> &'a mut Bucket {
        let (rate, burst) = (f64::from(self.rate), f64::from(self.burst));
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(identity) {
            // A full bucket is the same as none.
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(identity.to_string()).or_insert(Bucket {
            tokens: burst,
            at: now,
            limited: false,
        });
        bucket.tokens =
            (bucket.tokens + rate * now.duration_since(bucket.at).as_secs_f64()).min(burst);
        bucket.at = now;
        bucket
    }

    /// Requests refused so far (registered as a metric by the server).
    pub fn refused(&self) -> &Counter {
        &self.refused
    }

    /// Takes a token for `identity` now.
    pub fn admit(&self, identity: &str) -> Result<(), Refusal> {
        self.admit_at(identity, Instant::now())
    }

    fn admit_at(&self, identity: &str, now: Instant) -> Result<(), Refusal> {
        let rate = f64::from(self.rate);
        let mut buckets = self.lock();
        let bucket = self.refilled(&mut buckets, identity, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.settle(self.burst);
            return Ok(());
        }
        let first = !bucket.limited;
        bucket.limited = true;
        self.refused.inc();
        let retry_after = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        Err(Refusal {
            error: Error::RateLimited {
                identity: identity.to_string(),
                limit: self.rate,
                retry_after,
            },
            first,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_per_identity() {
        let limiter = RateLimiter::new(10, 3).expect("on");
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.admit_at("user:a", start).is_ok());
        }
        let refused = limiter.admit_at("user:a", start).expect_err("burst spent");
        assert!(refused.first);
        assert_eq!(
            refused.error.to_string(),
            "rate limit: identity \"user:a\" exceeded 10 requests/s \
             (--rate-limit-per-identity); retry after 100ms"
        );
        let again = limiter.admit_at("user:a", start).expect_err("still empty");
        assert!(!again.first, "one audit row per episode");
        assert_eq!(limiter.refused().get(), 2);
        // Another identity has its own bucket.
        assert!(limiter.admit_at("cluster:east", start).is_ok());
        // 100 ms later one token is back, and only one.
        let later = start + Duration::from_millis(100);
        assert!(limiter.admit_at("user:a", later).is_ok());
        assert!(limiter.admit_at("user:a", later).is_err());
        // Refill stops at the burst.
        let idle = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.admit_at("user:a", idle).is_ok());
        }
        assert!(limiter.admit_at("user:a", idle).is_err());
    }

    #[test]
    fn pacing_waits_instead_of_refusing_and_keeps_the_rate() {
        let limiter = RateLimiter::new(10, 2).expect("on");
        let start = Instant::now();
        assert_eq!(limiter.pace_at("cluster:east", start), None);
        assert_eq!(limiter.pace_at("cluster:east", start), None);
        let first = limiter.pace_at("cluster:east", start).expect("empty");
        assert!(first.first);
        assert_eq!(first.wait, Duration::from_millis(100));
        // A second stream of the same identity waits behind the first.
        let second = limiter.pace_at("cluster:east", start).expect("in debt");
        assert!(!second.first);
        assert_eq!(second.wait, Duration::from_millis(200));
        // The debt also refuses the identity's API calls until it is paid.
        let later = start + Duration::from_millis(200);
        assert!(limiter.admit_at("cluster:east", later).is_err());
        assert_eq!(
            limiter.pace_at("cluster:east", start + Duration::from_millis(300)),
            None
        );
        assert_eq!(limiter.paced().get(), 2);
        assert_eq!(limiter.pace_at("cluster:west", start), None);
        // Hovering at the rate is one episode: only a full bucket ends it.
        let later = start + Duration::from_millis(310);
        let waiting = limiter.pace_at("cluster:east", later).expect("debt again");
        assert!(!waiting.first, "the same episode");
        let quiet = later + Duration::from_secs(10);
        assert_eq!(limiter.pace_at("cluster:east", quiet), None);
        assert!(limiter.pace_at("cluster:east", quiet).is_none());
        let next = limiter.pace_at("cluster:east", quiet).expect("empty again");
        assert!(next.first, "a new episode after the bucket refilled");
    }

    #[test]
    fn zero_turns_it_off_and_burst_defaults_to_the_rate() {
        assert!(RateLimiter::new(0, 10).is_none());
        let limiter = RateLimiter::new(2, 0).expect("on");
        let now = Instant::now();
        assert!(limiter.admit_at("user:a", now).is_ok());
        assert!(limiter.admit_at("user:a", now).is_ok());
        assert!(limiter.admit_at("user:a", now).is_err());
    }

    #[test]
    fn idle_buckets_are_dropped_when_there_are_too_many() {
        let limiter = RateLimiter::new(1, 1).expect("on");
        let start = Instant::now();
        for i in 0..MAX_BUCKETS {
            assert!(limiter.admit_at(&format!("user:{i}"), start).is_ok());
        }
        let later = start + Duration::from_secs(5);
        assert!(limiter.admit_at("user:new", later).is_ok());
        let buckets = limiter.buckets.lock().expect("lock");
        assert_eq!(buckets.len(), 1, "refilled buckets were dropped");
    }
}
