//! The headless front-end: prints the core's events. With `--json`, JSON Lines on stdout and
//! nothing else there (a service's failure is said on stderr); otherwise one readable line per
//! event on stderr and, under `--post never`, each reply on stdout. The log goes to its file only,
//! so each error is said once.

use std::time::SystemTime;

use crate::output;
use crate::protocol::Event;
use crate::redact::redact;

pub struct Printer {
    pub json: bool,
    /// Print each reply's text on stdout (`--post never` without `--json`).
    pub replies_on_stdout: bool,
}

impl Printer {
    /// Prints the event; false when the stream it goes to is closed (a pipe to `head`): the
    /// caller then stops the run gracefully instead of writing into nothing.
    pub fn print(&self, event: &Event) -> bool {
        if self.json {
            // A service's failure has no JSON Lines type: it is said on stderr, stdout stays JSON.
            if let Event::ServiceError { .. } = event {
                return human_line(event).is_none_or(|line| output::err(format_args!("{}", redact(&line))));
            }
            return !event.is_printed_as_json()
                || output::out(format_args!("{}", redact(&event.to_json_line(SystemTime::now()))));
        }
        let mut open = true;
        if let Some(line) = human_line(event) {
            open &= output::err(format_args!("{}", redact(&line)));
        }
        if self.replies_on_stdout
            && let Event::HypothesisReady { alert_ts, text, .. } = event
        {
            open &= output::out(format_args!("── reply for alert {alert_ts} ──\n{}\n", redact(text)));
        }
        open
    }
}

/// One readable line per event (None for events too chatty to print).
pub fn human_line(event: &Event) -> Option<String> {
    Some(match event {
        Event::AlertReceived { alert_ts, execution_id, severity, cluster, kinds } => format!(
            "alert     {alert_ts}  {} {}  {}  execution {execution_id}",
            severity.map_or("?", |s| s.as_str()),
            cluster.as_deref().unwrap_or("?"),
            kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
        ),
        Event::AlertSkipped { alert_ts, reason } => format!("skipped   {alert_ts}  {reason:?}"),
        Event::TriageStarted { alert_ts, reasoner, .. } => format!("triage    {alert_ts}  started ({reasoner})"),
        Event::ToolStarted { alert_ts, tool, args, .. } => format!("tool      {alert_ts}  {tool} {args}"),
        Event::DispatchStarted { alert_ts, workflow, workflow_id, .. } => {
            format!("dispatch  {alert_ts}  {workflow} → {workflow_id}")
        }
        Event::DispatchFinished { alert_ts, workflow_id, status, elapsed_ms, .. } => {
            format!("dispatch  {alert_ts}  {workflow_id} {status} in {elapsed_ms} ms")
        }
        Event::ToolFinished { alert_ts, ok, summary, .. } => {
            format!("tool      {alert_ts}  {} {summary}", if *ok { "✓" } else { "✗" })
        }
        Event::ReasonerDelta { .. }
        | Event::ToolOutput { .. }
        | Event::AlertDetail { .. }
        | Event::ExecutionRead { .. }
        | Event::ModelTurn { .. }
        | Event::DispatchClaimed { .. }
        | Event::Decision { .. } => return None,
        Event::HypothesisReady { alert_ts, root_cause, .. } => format!("ready     {alert_ts}  {root_cause}"),
        Event::PostSent { alert_ts, message_ts, .. } => format!("posted    {alert_ts}  reply {message_ts}"),
        Event::PostQueued { alert_ts, .. } => {
            format!("queued    {alert_ts}  reply held for approval")
        }
        Event::PostSkipped { alert_ts, reason } => format!("not sent  {alert_ts}  {reason:?}"),
        Event::TriageFailed { alert_ts, error, .. } => format!("FAILED    {alert_ts}  {error}"),
        Event::PollFinished { new_alerts, next_poll_in_ms } => match next_poll_in_ms {
            Some(ms) => format!("poll      {new_alerts} new alert(s); next poll in {} s", ms / 1000),
            None => format!("poll      {new_alerts} new alert(s)"),
        },
        Event::ServiceError { service, error } => format!("ERROR     {service:?}: {error}"),
        Event::AlertResolved { alert_ts, resolved_ts } => {
            format!("resolved  {alert_ts}  a recovery notice for its cluster came at {resolved_ts}")
        }
    })
}
