//! Observability for the service: Prometheus text on `/metrics` and a `/healthz`, served on
//! `--metrics-addr`. Counts come from the core's events (alerts, triages by outcome and their
//! duration, dispatches by workflow and status, posts) and from the clients (API errors,
//! rate-limit waits), read from each client's own `http::Stats`. Nothing here can slow the core: an
//! event is a lock of a few map updates.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::domain::{CommandStatus, Ts};
use crate::http::Stats;
use crate::protocol::{Event, Service, SkipReason};

/// Triage duration buckets, seconds.
const BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

#[derive(Default)]
struct Inner {
    alerts_seen: u64,
    /// outcome (hypothesis, failed) → count
    triages: BTreeMap<&'static str, u64>,
    /// Bucket counts (cumulative on output), sum and count of triage durations.
    duration_buckets: [u64; BUCKETS.len()],
    duration_sum: f64,
    duration_count: u64,
    /// (workflow, status) → count
    dispatches: BTreeMap<(String, CommandStatus), u64>,
    /// post outcome (sent, queued, skipped, rejected) → count
    posts: BTreeMap<&'static str, u64>,
    started: HashMap<Ts, Instant>,
    /// call id → workflow, until the dispatch finishes
    workflows: HashMap<(Ts, String), String>,
    last_poll: Option<Instant>,
    last_poll_error: Option<String>,
    /// Alerts left pending by a failure of ours, by the service that failed: the service is
    /// degraded while any is, and its last error says why.
    deferred: BTreeMap<Service, (HashSet<Ts>, String)>,
    /// Deferrals ever, by service.
    deferrals: BTreeMap<Service, u64>,
}

/// The services a triage can be deferred for, in the order they are reported.
const DEPENDENCIES: [Service; 3] = [Service::Slack, Service::Conductor, Service::Model];

pub struct Metrics {
    inner: Mutex<Inner>,
    /// A poll older than this makes /healthz fail.
    stale_after: Duration,
    /// The Slack and Conductor clients' own counts, once the core is started with them.
    clients: OnceLock<(Arc<Stats>, Arc<Stats>)>,
}

impl Metrics {
    pub fn new(poll_interval: Duration) -> Arc<Metrics> {
        Arc::new(Metrics {
            inner: Mutex::default(),
            stale_after: poll_interval * 3 + Duration::from_secs(30),
            clients: OnceLock::new(),
        })
    }

    /// Reads these clients' counts (Slack's, Conductor's) from now on.
    pub fn read_clients(&self, slack: Arc<Stats>, conductor: Arc<Stats>) {
        let _ = self.clients.set((slack, conductor));
    }

    pub fn observe(&self, event: &Event) {
        let Ok(mut m) = self.inner.lock() else { return };
        if let Some(ts) = event.alert_ts().filter(|_| event.settles_the_alert()) {
            m.deferred.values_mut().for_each(|(alerts, _)| {
                alerts.remove(&ts);
            });
        }
        match event {
            Event::AlertReceived { .. } => m.alerts_seen += 1,
            Event::TriageStarted { alert_ts, .. } => {
                m.started.insert(*alert_ts, Instant::now());
            }
            Event::HypothesisReady { alert_ts, refire_of, .. } => {
                let outcome = if refire_of.is_some() { "refire" } else { "hypothesis" };
                *m.triages.entry(outcome).or_default() += 1;
                m.finish(*alert_ts);
            }
            Event::TriageFailed { alert_ts, error, cause: Some(service) } => {
                *m.deferrals.entry(*service).or_default() += 1;
                let (alerts, last) = m.deferred.entry(*service).or_default();
                alerts.insert(*alert_ts);
                last.clone_from(error);
                m.started.remove(alert_ts);
            }
            Event::TriageFailed { alert_ts, cause: None, .. } => {
                *m.triages.entry("failed").or_default() += 1;
                m.finish(*alert_ts);
            }
            Event::DispatchStarted { alert_ts, call_id, workflow, .. } => {
                m.workflows.insert((*alert_ts, call_id.clone()), workflow.clone());
            }
            Event::DispatchFinished { alert_ts, call_id, status, .. } => {
                let workflow = m.workflows.remove(&(*alert_ts, call_id.clone())).unwrap_or_default();
                *m.dispatches.entry((workflow, *status)).or_default() += 1;
            }
            Event::PostSent { .. } => *m.posts.entry("sent").or_default() += 1,
            Event::PostQueued { .. } => *m.posts.entry("queued").or_default() += 1,
            Event::PostSkipped { reason, .. } => {
                let what = if *reason == SkipReason::Rejected { "rejected" } else { "skipped" };
                *m.posts.entry(what).or_default() += 1;
            }
            Event::PollFinished { .. } => {
                m.last_poll = Some(Instant::now());
                m.last_poll_error = None;
            }
            Event::ServiceError { error, .. } => m.last_poll_error = Some(error.clone()),
            _ => {}
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let Ok(m) = self.inner.lock() else { return String::new() };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP oncall_alerts_seen_total Alerts recognised in the channel.\n# TYPE oncall_alerts_seen_total counter"
        );
        let _ = writeln!(out, "oncall_alerts_seen_total {}", m.alerts_seen);
        let _ = writeln!(out, "# HELP oncall_triages_total Triages by outcome.\n# TYPE oncall_triages_total counter");
        for outcome in ["hypothesis", "refire", "failed"] {
            let _ =
                writeln!(out, "oncall_triages_total{{outcome=\"{outcome}\"}} {}", m.triages.get(outcome).unwrap_or(&0));
        }
        let _ = writeln!(
            out,
            "# HELP oncall_triage_duration_seconds Time from triage start to hypothesis or failure.\n# TYPE oncall_triage_duration_seconds histogram"
        );
        let mut cumulative = 0;
        for (le, n) in BUCKETS.iter().zip(m.duration_buckets) {
            cumulative += n;
            let _ = writeln!(out, "oncall_triage_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(out, "oncall_triage_duration_seconds_bucket{{le=\"+Inf\"}} {}", m.duration_count);
        let _ = writeln!(out, "oncall_triage_duration_seconds_sum {:.3}", m.duration_sum);
        let _ = writeln!(out, "oncall_triage_duration_seconds_count {}", m.duration_count);
        let _ = writeln!(
            out,
            "# HELP oncall_dispatches_total Command workflows dispatched, by workflow and final status.\n# TYPE oncall_dispatches_total counter"
        );
        for ((workflow, status), n) in &m.dispatches {
            let _ =
                writeln!(out, "oncall_dispatches_total{{workflow=\"{}\",status=\"{}\"}} {n}", label(workflow), status);
        }
        let _ = writeln!(out, "# HELP oncall_posts_total Replies by outcome.\n# TYPE oncall_posts_total counter");
        for what in ["sent", "queued", "skipped", "rejected"] {
            let _ = writeln!(out, "oncall_posts_total{{outcome=\"{what}\"}} {}", m.posts.get(what).unwrap_or(&0));
        }
        let (slack, conductor, waits) =
            self.clients.get().map_or((0, 0, 0), |(s, c)| (s.failures(), c.failures(), s.rate_limit_waits()));
        for (name, help, count) in [
            ("slack_errors_total", "Slack API calls that failed after retries.", slack),
            ("conductor_errors_total", "Conductor API calls that failed after retries.", conductor),
            ("rate_limit_waits_total", "Waits on a Slack 429 Retry-After.", waits),
        ] {
            let _ = writeln!(out, "# HELP oncall_{name} {help}\n# TYPE oncall_{name} counter");
            let _ = writeln!(out, "oncall_{name} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP oncall_deferred_total Triages left pending by a failure of ours, by the service that failed.\n# TYPE oncall_deferred_total counter"
        );
        for service in DEPENDENCIES {
            let n = m.deferrals.get(&service).unwrap_or(&0);
            let _ = writeln!(out, "oncall_deferred_total{{service=\"{}\"}} {n}", service.name());
        }
        let _ = writeln!(
            out,
            "# HELP oncall_degraded 1 while some alert waits for this service to recover.\n# TYPE oncall_degraded gauge"
        );
        for service in DEPENDENCIES {
            let _ =
                writeln!(out, "oncall_degraded{{service=\"{}\"}} {}", service.name(), u8::from(m.is_degraded(service)));
        }
        out
    }

    /// Healthy while polls succeed on time and no alert waits for a service to recover;
    /// otherwise the reason, one line ("degraded: …" when a dependency is down).
    pub fn health(&self) -> Result<String, String> {
        let Ok(m) = self.inner.lock() else { return Err("metrics poisoned".into()) };
        let degraded: Vec<String> = DEPENDENCIES
            .into_iter()
            .filter(|s| m.is_degraded(*s))
            .map(|s| {
                let (alerts, last) = &m.deferred[&s];
                format!("{}: {} alert(s) pending, last error: {last}", s.name(), alerts.len())
            })
            .collect();
        if !degraded.is_empty() {
            return Err(format!("degraded: {}", degraded.join("; ")));
        }
        match (m.last_poll, &m.last_poll_error) {
            (_, Some(error)) => Err(format!("the last poll failed: {error}")),
            (None, None) => Err("no poll has finished yet".into()),
            (Some(at), None) if at.elapsed() > self.stale_after => {
                Err(format!("no poll for {} s", at.elapsed().as_secs()))
            }
            (Some(at), None) => Ok(format!("ok: last poll {} s ago", at.elapsed().as_secs())),
        }
    }
}

impl Inner {
    fn is_degraded(&self, service: Service) -> bool {
        self.deferred.get(&service).is_some_and(|(alerts, _)| !alerts.is_empty())
    }

    fn finish(&mut self, alert_ts: Ts) {
        let Some(started) = self.started.remove(&alert_ts) else { return };
        let secs = started.elapsed().as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            self.duration_buckets[i] += 1;
        }
        self.duration_sum += secs;
        self.duration_count += 1;
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Serves /metrics and /healthz on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Arc<Metrics>>| async move {
                ([("content-type", "text/plain; version=0.0.4; charset=utf-8")], m.render())
            }),
        )
        .route(
            "/healthz",
            get(|State(m): State<Arc<Metrics>>| async move {
                match m.health() {
                    Ok(text) => (StatusCode::OK, text).into_response(),
                    Err(text) => (StatusCode::SERVICE_UNAVAILABLE, text).into_response(),
                }
            }),
        )
        .with_state(metrics);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    Ok(bound)
}
