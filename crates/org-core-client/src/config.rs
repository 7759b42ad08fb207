//! How the client reaches org-core and how long it trusts what it cached.

use std::fmt;
use std::time::Duration;

/// Retries of idempotent reads (every AuthorityService RPC is one) after
/// UNAVAILABLE, DEADLINE_EXCEEDED or ABORTED, with jittered exponential
/// backoff. The watch stream reconnects with the same backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (1 = no retry).
    pub attempts: u32,
    /// Backoff before the first retry; it doubles per retry.
    pub initial_backoff: Duration,
    /// Cap of the backoff.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `retry` (1-based): the exponential
    /// backoff, capped, with a uniformly random half taken off so that
    /// clients that failed together do not retry together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(20);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if ceiling_nanos < 2 {
            return ceiling;
        }
        Duration::from_nanos(rand::random_range(ceiling_nanos / 2..=ceiling_nanos))
    }
}

/// Settings of an [`crate::AuthorityClient`].
#[derive(Clone)]
pub struct Config {
    /// org-core's gRPC endpoint, e.g. `http://org-core:50051`.
    pub endpoint: String,
    /// This service's bearer token (a `service` principal), sent as
    /// `authorization: Bearer <token>` on every call.
    pub service_token: String,
    /// Deadline of every unary call and of opening the watch stream.
    pub deadline: Duration,
    /// How long a cached policy or decision may be used for SETUP, CREATE
    /// and OPERATE checks while org-core cannot be reached: an entry is
    /// fresh while the watch stream is connected, or while the entry was
    /// fetched (or the stream was last alive) within this bound.
    pub staleness: Duration,
    /// Retries of reads and backoff of watch reconnects.
    pub retry: RetryPolicy,
    /// After a call finds org-core unreachable, calls that would need it
    /// within this interval do not try again: stale reads answer from cache
    /// and everything else fails closed at once, so an outage does not
    /// cost every request a deadline. A successful call or watch reconnect
    /// ends it early.
    pub probe_interval: Duration,
    /// HTTP/2 keep-alive ping interval (and ping timeout), so a silently
    /// dead connection ends the watch stream instead of leaving it
    /// "connected".
    pub keepalive: Duration,
    /// Cached decisions kept at most; when full, every decision is dropped
    /// (policies stay) and the cache refills.
    pub max_cached_decisions: usize,
}

impl Config {
    /// Defaults: 2 s deadline, 30 s staleness, 3 attempts with 50 ms..2 s
    /// backoff, 1 s probe interval, 10 s keep-alive, 100 000 decisions.
    pub fn new(endpoint: impl Into<String>, service_token: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            service_token: service_token.into(),
            deadline: Duration::from_secs(2),
            staleness: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            probe_interval: Duration::from_secs(1),
            keepalive: Duration::from_secs(10),
            max_cached_decisions: 100_000,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("service_token", &"<redacted>")
            .field("deadline", &self.deadline)
            .field("staleness", &self.staleness)
            .field("retry", &self.retry)
            .field("probe_interval", &self.probe_interval)
            .field("keepalive", &self.keepalive)
            .field("max_cached_decisions", &self.max_cached_decisions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_capped_and_jittered_within_the_upper_half() {
        let retry = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
        };
        for _ in 0..100 {
            let first = retry.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let second = retry.backoff(2);
            assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200));
            let capped = retry.backoff(30);
            assert!(capped >= Duration::from_millis(250) && capped <= Duration::from_millis(500));
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let config = Config::new("http://127.0.0.1:1", "secret-token");
        assert!(!format!("{config:?}").contains("secret-token"));
    }
}
