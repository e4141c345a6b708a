//! The headless front-end: prints the core's events. With `--json`, JSON Lines on stdout and
//! nothing else there (a service's failure is said on stderr). Otherwise one line per event on
//! stdout in plain words, keyed by cluster and kind (under `--post never`, each reply too), the
//! log on stderr, and for `--once` a summary line at the end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use crate::domain::Ts;
use crate::output;
use crate::protocol::Event;
use crate::redact::redact;

pub struct Printer {
    pub json: bool,
    /// Print each reply's text on stdout (`--post never` without `--json`).
    pub replies_on_stdout: bool,
    seen: Mutex<Seen>,
}

/// What the printer remembers: each alert's "cluster KIND" key, and the run's tallies.
struct Seen {
    keys: HashMap<Ts, String>,
    started: Instant,
    alerts: usize,
    posted: usize,
    queued: usize,
    skipped: usize,
    failed: usize,
}

impl Printer {
    pub fn new(json: bool, replies_on_stdout: bool) -> Printer {
        let seen = Seen {
            keys: HashMap::new(),
            started: Instant::now(),
            alerts: 0,
            posted: 0,
            queued: 0,
            skipped: 0,
            failed: 0,
        };
        Printer { json, replies_on_stdout, seen: Mutex::new(seen) }
    }

    /// Prints the event; false when the stream it goes to is closed (a pipe to `head`): the
    /// caller then stops the run gracefully instead of writing into nothing.
    pub fn print(&self, event: &Event) -> bool {
        if self.json {
            // A service's failure has no JSON Lines type: it is said on stderr, stdout stays JSON.
            if let Event::ServiceError { service, error } = event {
                return output::err(format_args!("oncall-triage: {} failed: {}", service.name(), redact(error)));
            }
            return !event.is_printed_as_json()
                || output::out(format_args!("{}", redact(&event.to_json_line(SystemTime::now()))));
        }
        let Ok(mut seen) = self.seen.lock() else { return true };
        seen.count(event);
        let mut open = true;
        if let Some(line) = human_line(event, &seen.keys) {
            open &= output::out(format_args!("{}", redact(&line)));
        }
        if self.replies_on_stdout
            && let Event::HypothesisReady { alert_ts, text, .. } = event
        {
            let key = seen.keys.get(alert_ts).cloned().unwrap_or_else(|| alert_ts.to_string());
            open &= output::out(format_args!("── reply for {key} ──\n{}\n", redact(text)));
        }
        open
    }

    /// The readable line of an event (None for the chatty ones), the alert keyed by what the
    /// printer has seen of it; also counts it for the summary.
    pub fn line(&self, event: &Event) -> Option<String> {
        let mut seen = self.seen.lock().ok()?;
        seen.count(event);
        human_line(event, &seen.keys)
    }

    /// The last line of a `--once` run (human output only): what happened to the alerts, and
    /// how long it took.
    pub fn summary(&self) -> Option<String> {
        let seen = self.seen.lock().ok().filter(|_| !self.json)?;
        Some(format!(
            "done      {} alert(s): {} posted, {} queued, {} not sent, {} failed, in {:.1} s",
            seen.alerts,
            seen.posted,
            seen.queued,
            seen.skipped,
            seen.failed,
            seen.started.elapsed().as_secs_f64()
        ))
    }
}

impl Seen {
    fn count(&mut self, event: &Event) {
        match event {
            Event::AlertReceived { alert_ts, cluster, kinds, .. } => {
                let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                let key = format!("{} {}", cluster.as_deref().unwrap_or("?"), kinds.join(","));
                if self.keys.insert(*alert_ts, key).is_none() {
                    self.alerts += 1;
                }
            }
            Event::PostSent { .. } => self.posted += 1,
            Event::PostQueued { .. } => self.queued += 1,
            Event::PostSkipped { .. } | Event::AlertSkipped { .. } => self.skipped += 1,
            Event::TriageFailed { .. } => self.failed += 1,
            _ => {}
        }
    }
}

/// One readable line per event, the alert named by its cluster and kind (None for events too
/// chatty to print, and for a service's failure, which the log on stderr says).
fn human_line(event: &Event, keys: &HashMap<Ts, String>) -> Option<String> {
    let key = |ts: &Ts| keys.get(ts).cloned().unwrap_or_else(|| format!("alert {ts}"));
    Some(match event {
        Event::AlertReceived { alert_ts, execution_id, severity, .. } => {
            format!("alert     {}  {}  execution {execution_id}", key(alert_ts), severity.map_or("?", |s| s.as_str()),)
        }
        Event::AlertSkipped { alert_ts, reason } => format!("skipped   {}  {}", key(alert_ts), reason.words()),
        Event::TriageStarted { alert_ts, reasoner, .. } => format!("triage    {}  started ({reasoner})", key(alert_ts)),
        Event::ToolStarted { alert_ts, tool, args, .. } => format!("tool      {}  {tool} {args}", key(alert_ts)),
        Event::DispatchStarted { alert_ts, workflow, workflow_id, .. } => {
            format!("dispatch  {}  {workflow} → {workflow_id}", key(alert_ts))
        }
        Event::DispatchFinished { alert_ts, workflow_id, status, elapsed_ms, .. } => {
            format!("dispatch  {}  {workflow_id} {status} in {elapsed_ms} ms", key(alert_ts))
        }
        Event::ToolFinished { alert_ts, ok, summary, .. } => {
            format!("tool      {}  {} {summary}", key(alert_ts), if *ok { "✓" } else { "✗" })
        }
        Event::ReasonerDelta { .. }
        | Event::ToolOutput { .. }
        | Event::AlertDetail { .. }
        | Event::ExecutionRead { .. }
        | Event::ModelTurn { .. }
        | Event::DispatchClaimed { .. }
        | Event::Decision { .. }
        | Event::AlertRestored { .. }
        | Event::ServiceError { .. } => return None,
        Event::HypothesisReady { alert_ts, root_cause, .. } => format!("ready     {}  {root_cause}", key(alert_ts)),
        Event::PostSent { alert_ts, message_ts, .. } => format!("posted    {}  reply {message_ts}", key(alert_ts)),
        Event::PostQueued { alert_ts, .. } => format!("queued    {}  reply held for approval", key(alert_ts)),
        Event::PostSkipped { alert_ts, reason } => format!("not sent  {}  {}", key(alert_ts), reason.words()),
        Event::TriageFailed { alert_ts, error, .. } => format!("FAILED    {}  {error}", key(alert_ts)),
        Event::PollFinished { new_alerts, next_poll_in_ms } => match next_poll_in_ms {
            Some(ms) => format!("poll      {new_alerts} new alert(s); next poll in {} s", ms / 1000),
            None => format!("poll      {new_alerts} new alert(s)"),
        },
        Event::AlertResolved { alert_ts, resolved_ts } => {
            format!("resolved  {}  a recovery notice for its cluster came at {resolved_ts}", key(alert_ts))
        }
    })
}
