//! What every outbound HTTP client shares: one TLS set-up, timeouts on every call, bounded
//! retry delays with jitter, the counts of what failed (`Stats`, read by the metrics), and a
//! circuit breaker per service (`Breaker`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one client counted: calls that failed for good (after retries) and rate-limit waits.
/// Each client owns its own; the metrics read them, the client knows nothing of the metrics.
#[derive(Debug, Default)]
pub struct Stats {
    failures: AtomicU64,
    rate_limit_waits: AtomicU64,
}

impl Stats {
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn waited(&self) {
        self.rate_limit_waits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn rate_limit_waits(&self) -> u64 {
        self.rate_limit_waits.load(Ordering::Relaxed)
    }
}

/// After `BREAKER_AFTER` calls in a row find a service down (unreachable, or 5xx after the
/// retries), it is not asked again for `BREAKER_OPEN`: the other callers fail at once (and their
/// alerts are deferred) instead of each waiting out the same hung or refusing server in turn.
#[derive(Debug, Default)]
pub struct Breaker(Mutex<(u32, Option<(Instant, String)>)>);

pub const BREAKER_AFTER: u32 = 3;
pub const BREAKER_OPEN: Duration = Duration::from_secs(30);

impl Breaker {
    /// Err(why, with how long the service is left alone) while the breaker is open.
    pub fn check(&self) -> Result<(), String> {
        let Ok(state) = self.0.lock() else { return Ok(()) };
        match &state.1 {
            Some((until, why)) if Instant::now() < *until => Err(format!(
                "{why}; not asked again for {} s after {BREAKER_AFTER} failures in a row",
                BREAKER_OPEN.as_secs()
            )),
            _ => Ok(()),
        }
    }

    /// A call found the service down, for `why`.
    pub fn failed(&self, why: &str) {
        if let Ok(mut state) = self.0.lock() {
            state.0 += 1;
            if state.0 >= BREAKER_AFTER {
                state.1 = Some((Instant::now() + BREAKER_OPEN, why.to_string()));
            }
        }
    }

    /// The service answered: the count starts again.
    pub fn worked(&self) {
        if let Ok(mut state) = self.0.lock() {
            *state = (0, None);
        }
    }
}

/// Builds a client with connect and per-request timeouts (rustls with the ring provider).
pub fn client(request_timeout: Duration) -> reqwest::Client {
    // Installing twice is harmless (the second call reports the first one is in place).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(request_timeout)
        .user_agent(concat!("oncall-triage/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Exponential backoff with full jitter: attempt 0 waits up to `base`, then 2×, 4× … capped.
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    // Half fixed, half random, so a retry never fires instantly.
    Duration::from_nanos(nanos / 2 + jitter(nanos / 2 + 1))
}

fn jitter(below: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish() % below
}

/// A `Retry-After` header as a duration (seconds; Slack sends whole seconds).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_failures_in_a_row_and_an_answer_closes_it() {
        let b = Breaker::default();
        for _ in 1..BREAKER_AFTER {
            b.failed("refused");
            assert!(b.check().is_ok(), "not yet");
        }
        b.worked();
        for _ in 1..BREAKER_AFTER {
            b.failed("refused");
        }
        assert!(b.check().is_ok(), "an answer between failures starts the count again");
        b.failed("connection refused");
        let why = b.check().unwrap_err();
        assert!(why.starts_with("connection refused; not asked again for 30 s"), "{why}");
        b.worked();
        assert!(b.check().is_ok());
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..20 {
            let d = backoff(attempt, base, cap);
            let ceiling = base.saturating_mul(1 << attempt.min(16)).min(cap);
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
        }
    }
}
