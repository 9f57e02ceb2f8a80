//! Which management-plane address to try next, and when to wait first. Pure: the upstream task
//! asks it after every session and sleeps what it says.
//!
//! Addresses are tried round robin: a session that cannot open, or ends, moves to the next
//! address at once. Only a full round of failures waits (the backoff doubles per round), so a
//! dead replica costs one connect timeout, not a backoff, while a management plane that is down
//! everywhere is not hammered.

use std::time::Duration;

/// First wait after a failed round.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A session that lasted this long was healthy: what follows starts a fresh round.
const HEALTHY: Duration = Duration::from_secs(30);

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Failover {
    servers: Vec<String>,
    current: usize,
    /// Sessions that failed since the last healthy one or the last wait.
    failed: usize,
    backoff: Duration,
}

impl Failover {
    /// Starts at the first of `servers` (at least one: clap requires it).
    pub fn new(servers: Vec<String>) -> Failover {
        assert!(!servers.is_empty(), "--server is required");
        Failover {
            servers,
            current: 0,
            failed: 0,
            backoff: INITIAL_BACKOFF,
        }
    }

    /// The address to connect to now.
    pub fn current(&self) -> &str {
        &self.servers[self.current]
    }

    /// Every address, in order.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The session on [`Self::current`] ended (or never opened) after `lasted`: moves to the
    /// next address and returns how long to wait before connecting to it.
    pub fn ended(&mut self, lasted: Duration) -> Duration {
        if lasted >= HEALTHY {
            self.failed = 0;
            self.backoff = INITIAL_BACKOFF;
        }
        self.failed += 1;
        self.current = (self.current + 1) % self.servers.len();
        if self.failed < self.servers.len() {
            return Duration::ZERO;
        }
        // Every address failed in a row: wait before the next round.
        self.failed = 0;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failover(n: usize) -> Failover {
        Failover::new((0..n).map(|i| format!("http://127.0.0.1:{i}")).collect())
    }

    #[test]
    fn one_address_backs_off_after_every_failure_like_a_service_address() {
        let mut f = failover(1);
        let waits: Vec<Duration> = (0..7).map(|_| f.ended(Duration::ZERO)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(f.current(), "http://127.0.0.1:0");
    }

    #[test]
    fn a_dead_replica_costs_no_backoff_only_a_full_round_does() {
        let mut f = failover(3);
        assert_eq!(f.current(), "http://127.0.0.1:0");
        // The replica the agent was on for an hour dies: the next one at once.
        assert_eq!(f.ended(Duration::from_secs(3600)), Duration::ZERO);
        assert_eq!(f.current(), "http://127.0.0.1:1");
        assert_eq!(f.ended(Duration::ZERO), Duration::ZERO);
        assert_eq!(f.current(), "http://127.0.0.1:2");
        // The third failure in a row closes the round: wait, then start over at the first.
        assert_eq!(f.ended(Duration::ZERO), INITIAL_BACKOFF);
        assert_eq!(f.current(), "http://127.0.0.1:0");
        // The next round waits twice as long.
        assert_eq!(f.ended(Duration::ZERO), Duration::ZERO);
        assert_eq!(f.ended(Duration::ZERO), Duration::ZERO);
        assert_eq!(f.ended(Duration::ZERO), INITIAL_BACKOFF * 2);
    }

    #[test]
    fn a_healthy_session_resets_the_backoff_and_the_round() {
        let mut f = failover(2);
        for _ in 0..10 {
            f.ended(Duration::ZERO);
        }
        assert_eq!(f.current(), "http://127.0.0.1:0");
        // Connected to the first for a while; it goes away: the second at once, and a round
        // that fails waits the initial backoff again.
        assert_eq!(f.ended(HEALTHY), Duration::ZERO);
        assert_eq!(f.current(), "http://127.0.0.1:1");
        assert_eq!(f.ended(Duration::ZERO), INITIAL_BACKOFF);
    }
}
