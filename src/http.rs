//! What every outbound HTTP client shares: one TLS set-up, timeouts on every call, bounded
//! retry delays with jitter, and the counts of what failed (`Stats`, read by the metrics).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
