//! The contract between the core and its front-ends (TUI, headless): `Op` goes in, `Event` comes
//! out. No I/O here. `Event` serializes to the JSON Lines of interfaces.md (`type` first, then
//! `time`, then the fields); a few events exist only for the console and are not printed there.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{AlertKind, CommandStatus, Severity, Ts};

/// Why an alert got no triage of its own (snake_case words on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Stale,
    ClaimedElsewhere,
    AlreadyAnswered,
    NotAnAlert,
    PolicyNever,
    QueuedForApproval,
    Interrupted,
    /// The operator rejected the draft in the console.
    Rejected,
}

impl SkipReason {
    /// The reason in plain words (the headless lines and the console).
    pub fn words(self) -> &'static str {
        match self {
            SkipReason::Stale => "stale (older than the look-back)",
            SkipReason::ClaimedElsewhere => "another instance claimed it",
            SkipReason::AlreadyAnswered => "the thread already has a triage reply",
            SkipReason::NotAnAlert => "not an alert",
            SkipReason::PolicyNever => "post policy is never",
            SkipReason::QueuedForApproval => "queued for approval",
            SkipReason::Interrupted => "interrupted",
            SkipReason::Rejected => "rejected by the operator",
        }
    }
}

/// The outside services whose health the front-ends show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Slack,
    Conductor,
    Model,
    /// The state file on local disk.
    State,
}

impl Service {
    /// The name in metrics labels and health lines, as serialized.
    pub fn name(self) -> &'static str {
        match self {
            Service::Slack => "slack",
            Service::Conductor => "conductor",
            Service::Model => "model",
            Service::State => "state",
        }
    }
}

/// What the operator decided about a draft.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Edited,
    Rejected,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "alert.received")]
    AlertReceived {
        alert_ts: Ts,
        execution_id: String,
        severity: Option<Severity>,
        cluster: Option<String>,
        kinds: Vec<AlertKind>,
    },
    /// The parsed alert, for the flight recorder (replay needs it); not printed.
    #[serde(rename = "alert.detail")]
    AlertDetail { alert_ts: Ts, alert: crate::domain::Alert },
    #[serde(rename = "alert.skipped")]
    AlertSkipped { alert_ts: Ts, reason: SkipReason },
    #[serde(rename = "triage.started")]
    TriageStarted { alert_ts: Ts, execution_id: String, reasoner: String },
    #[serde(rename = "tool.started")]
    ToolStarted { alert_ts: Ts, call_id: String, tool: String, args: Value },
    #[serde(rename = "dispatch.started")]
    DispatchStarted { alert_ts: Ts, call_id: String, workflow: String, workflow_id: String },
    #[serde(rename = "dispatch.finished")]
    DispatchFinished {
        alert_ts: Ts,
        call_id: String,
        workflow_id: String,
        status: CommandStatus,
        elapsed_ms: u64,
        /// Conductor's `reasonForIncompletion` when the command did not complete.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A tool's condensed (redacted) output, for the console's expanded view; not printed.
    /// A tool's condensed output, and its raw result (redacted, size-capped) for the flight
    /// recorder; not printed.
    #[serde(rename = "tool.output")]
    ToolOutput { alert_ts: Ts, call_id: String, condensed: String, raw: Value },
    /// The failing execution as Conductor returned it (redacted), for the flight recorder.
    #[serde(rename = "execution.read")]
    ExecutionRead { alert_ts: Ts, execution: Value },
    /// One model turn: what was sent and what came back (redacted); not printed.
    #[serde(rename = "model.turn")]
    ModelTurn { alert_ts: Ts, request: Value, reply: Value },
    /// The operator's decision in the console: `approved`, `edited` or `rejected`.
    #[serde(rename = "operator.decision")]
    Decision { alert_ts: Ts, decision: Decision, text: Option<String>, reason: Option<String> },
    #[serde(rename = "tool.finished")]
    ToolFinished { alert_ts: Ts, call_id: String, ok: bool, summary: String },
    /// Model text as it streams (console only; `hypothesis.ready` carries the final text).
    #[serde(rename = "reasoner.delta")]
    ReasonerDelta { alert_ts: Ts, text: String },
    #[serde(rename = "hypothesis.ready")]
    HypothesisReady { alert_ts: Ts, execution_id: String, text: String, root_cause: String, refire_of: Option<Ts> },
    #[serde(rename = "post.sent")]
    PostSent { alert_ts: Ts, channel: String, thread_ts: Ts, message_ts: Ts },
    #[serde(rename = "post.queued")]
    PostQueued { alert_ts: Ts, reason: SkipReason },
    #[serde(rename = "post.skipped")]
    PostSkipped { alert_ts: Ts, reason: SkipReason },
    #[serde(rename = "triage.failed")]
    TriageFailed {
        alert_ts: Ts,
        error: String,
        /// The outside service whose failure failed the triage, when it is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Service>,
    },
    /// Whether a dispatched command's in-cluster task has been picked up: false while it waits
    /// for the agent, true once claimed after a wait (console only).
    #[serde(rename = "dispatch.claimed")]
    DispatchClaimed { alert_ts: Ts, call_id: String, claimed: bool },
    /// A recovery notice for the alert's cluster arrived (console and human output only).
    #[serde(rename = "alert.resolved")]
    AlertResolved { alert_ts: Ts, resolved_ts: Ts },
    /// An alert this process did not see happen (a draft queued before a restart or by a
    /// service sharing the state file, or one recently posted or rejected), with its history
    /// read back from its transcript: the console rebuilds its investigation from it (console
    /// only; never recorded, printed or counted). Each entry is the milliseconds since the
    /// history's first event, and the event.
    #[serde(rename = "alert.restored")]
    AlertRestored { alert_ts: Ts, history: Vec<(u64, Event)> },
    /// A poll of the channel ended (console only: the countdown and the health light).
    #[serde(rename = "poll.finished")]
    PollFinished { new_alerts: usize, next_poll_in_ms: Option<u64> },
    /// A service call failed in a way the operator should see (console only; also logged).
    #[serde(rename = "service.error")]
    ServiceError { service: Service, error: String },
}

impl Event {
    /// The alert the event is about (None for the engine's own events).
    pub fn alert_ts(&self) -> Option<Ts> {
        match self {
            Event::AlertReceived { alert_ts, .. }
            | Event::AlertDetail { alert_ts, .. }
            | Event::AlertSkipped { alert_ts, .. }
            | Event::TriageStarted { alert_ts, .. }
            | Event::ToolStarted { alert_ts, .. }
            | Event::DispatchStarted { alert_ts, .. }
            | Event::DispatchFinished { alert_ts, .. }
            | Event::ToolOutput { alert_ts, .. }
            | Event::ExecutionRead { alert_ts, .. }
            | Event::ToolFinished { alert_ts, .. }
            | Event::ReasonerDelta { alert_ts, .. }
            | Event::ModelTurn { alert_ts, .. }
            | Event::HypothesisReady { alert_ts, .. }
            | Event::PostSent { alert_ts, .. }
            | Event::PostQueued { alert_ts, .. }
            | Event::PostSkipped { alert_ts, .. }
            | Event::TriageFailed { alert_ts, .. }
            | Event::Decision { alert_ts, .. }
            | Event::AlertResolved { alert_ts, .. }
            | Event::AlertRestored { alert_ts, .. }
            | Event::DispatchClaimed { alert_ts, .. } => Some(*alert_ts),
            Event::PollFinished { .. } | Event::ServiceError { .. } => None,
        }
    }

    /// Whether the event ends the alert's handling for now: a post made, queued or skipped, the
    /// alert skipped, or a triage failure that is the alert's own (not a deferral).
    pub fn settles_the_alert(&self) -> bool {
        matches!(
            self,
            Event::PostSent { .. }
                | Event::PostQueued { .. }
                | Event::PostSkipped { .. }
                | Event::AlertSkipped { .. }
                | Event::TriageFailed { cause: None, .. }
        )
    }

    /// Whether headless `--json` prints this event (the types of interfaces.md).
    pub fn is_printed_as_json(&self) -> bool {
        match self {
            Event::AlertReceived { .. }
            | Event::AlertSkipped { .. }
            | Event::TriageStarted { .. }
            | Event::ToolStarted { .. }
            | Event::DispatchStarted { .. }
            | Event::DispatchFinished { .. }
            | Event::ToolFinished { .. }
            | Event::HypothesisReady { .. }
            | Event::PostSent { .. }
            | Event::PostQueued { .. }
            | Event::PostSkipped { .. }
            | Event::TriageFailed { .. } => true,
            Event::ReasonerDelta { .. }
            | Event::AlertDetail { .. }
            | Event::ToolOutput { .. }
            | Event::ExecutionRead { .. }
            | Event::ModelTurn { .. }
            | Event::Decision { .. }
            | Event::AlertResolved { .. }
            | Event::AlertRestored { .. }
            | Event::DispatchClaimed { .. }
            | Event::PollFinished { .. }
            | Event::ServiceError { .. } => false,
        }
    }

    /// One JSON Lines record: `type`, then `time` (RFC 3339, UTC), then the fields.
    pub fn to_json_line(&self, time: SystemTime) -> String {
        let mut fields = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // Unreachable for an internally tagged enum of structs; keep the line well-formed.
            _ => serde_json::Map::new(),
        };
        let kind = fields.shift_remove("type").unwrap_or(Value::Null);
        let mut line = serde_json::Map::with_capacity(fields.len() + 2);
        line.insert("type".into(), kind);
        line.insert("time".into(), Value::String(humantime::format_rfc3339_millis(time).to_string()));
        line.extend(fields);
        Value::Object(line).to_string()
    }
}

/// A value's name on the wire (`--json`, transcripts): an event's `type`, a reason's or a
/// decision's word.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(word)) => word,
        Ok(Value::Object(map)) => map.get("type").and_then(Value::as_str).unwrap_or("?").to_string(),
        _ => "?".to_string(),
    }
}

/// What a front-end asks of the core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Post this text (the draft, or the operator's edit) into the alert's thread.
    Approve {
        alert_ts: Ts,
        text: String,
    },
    Reject {
        alert_ts: Ts,
        reason: Option<String>,
    },
    Retriage {
        alert_ts: Ts,
    },
    /// Approve every pending re-fire reply at once.
    ApproveAllRefires,
    /// Stop intake; running triages get the shutdown grace, then are recorded as interrupted.
    Quit,
    /// Stop now: running triages are recorded as interrupted at once (a second signal).
    Abort,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn json_line_has_type_then_time_then_fields_and_ts_as_strings() {
        let ev = Event::PostSent {
            alert_ts: Ts::parse("1764400000.000100").unwrap(),
            channel: "C1".into(),
            thread_ts: Ts::parse("1764400000.000100").unwrap(),
            message_ts: Ts::parse("1764400001.000200").unwrap(),
        };
        let line = ev.to_json_line(UNIX_EPOCH + Duration::from_millis(1_764_400_002_345));
        assert_eq!(
            line,
            r#"{"type":"post.sent","time":"2025-11-29T07:06:42.345Z","alert_ts":"1764400000.000100","channel":"C1","thread_ts":"1764400000.000100","message_ts":"1764400001.000200"}"#
        );
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ev, "the `time` field is ignored on the way back");
    }

    #[test]
    fn a_service_name_is_its_serialized_form() {
        for s in [Service::Slack, Service::Conductor, Service::Model, Service::State] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }

    #[test]
    fn reasons_are_snake_case_words() {
        let ev = Event::AlertSkipped { alert_ts: Ts::from_micros(1), reason: SkipReason::ClaimedElsewhere };
        assert!(ev.to_json_line(SystemTime::now()).contains(r#""reason":"claimed_elsewhere""#));
    }
}
