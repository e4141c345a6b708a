//! The console's state and its rules, with no I/O: core events update it (`apply`, one handler
//! per event kind); keys change it and may ask the core for a decision (`on_key` → `Effect`, in
//! `keys`). Time is a field the loop sets
//! (`now_ms`, `wall`), so tests and snapshots are deterministic. Rendering is `view`'s.

use std::collections::BTreeMap;

use ratatui_textarea::TextArea;

use crate::domain::{CommandStatus, Severity, Ts};
use crate::protocol::{Decision, Event, Op, Service, SkipReason};

/// Where an alert is in its life, as the operator sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowState {
    New,
    ClaimedElsewhere,
    Investigating,
    AwaitingApproval,
    /// Approved; the post is on its way.
    Posting,
    Posted,
    Rejected,
    Failed,
    /// Waiting for a service of ours or a dependency's that failed; tried again on its own.
    Degraded,
    Skipped,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::New => "queued",
            RowState::ClaimedElsewhere => "claimed elsewhere",
            RowState::Investigating => "investigating",
            RowState::AwaitingApproval => "awaiting",
            RowState::Posting => "posting",
            RowState::Posted => "posted",
            RowState::Rejected => "rejected",
            RowState::Failed => "failed",
            RowState::Degraded => "degraded",
            RowState::Skipped => "skipped",
        }
    }
}

/// One tool call in an investigation.
#[derive(Clone, Debug)]
pub struct Call {
    pub id: String,
    pub tool: String,
    pub args: String,
    pub started_ms: u64,
    pub workflow_id: Option<String>,
    pub dispatch_status: Option<CommandStatus>,
    pub elapsed_ms: Option<u64>,
    /// None while it runs.
    pub ok: Option<bool>,
    pub summary: String,
    pub output: Option<String>,
    pub expanded: bool,
    /// While its in-cluster task waits for the agent to pick it up: since when (console ms).
    pub unclaimed_since: Option<u64>,
}

impl Call {
    fn new(id: String, tool: String, args: &serde_json::Value, now_ms: u64) -> Call {
        // The values alone read best on one line: `pull_pod_logs orkes-… 1000`.
        let args = match args {
            serde_json::Value::Object(m) => m
                .values()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        Call {
            id,
            tool,
            args,
            started_ms: now_ms,
            workflow_id: None,
            dispatch_status: None,
            elapsed_ms: None,
            unclaimed_since: None,
            ok: None,
            summary: String::new(),
            output: None,
            expanded: false,
        }
    }
}

/// One entry of the investigation stream.
#[derive(Clone, Debug)]
pub enum Item {
    Call(Call),
    /// A line of model text (streamed deltas are split at newlines).
    Text(String),
    /// A line the console writes: started, ready, posted, errors.
    Note(String),
}

/// What an expanded call's output lines start with (its width counts against the pane's).
pub const OUTPUT_PREFIX: &str = "    │ ";

impl Item {
    /// How many screen lines the entry takes in a pane `width` cells wide: one per entry (a
    /// line too wide is cut with a marker), plus a call's summary, plus its output wrapped when
    /// expanded (only expanded calls cost more than a constant to measure).
    pub fn height(&self, width: usize) -> usize {
        match self {
            Item::Call(c) => {
                let summary = usize::from(!c.summary.is_empty());
                let output = if c.expanded { c.output_lines(width).len() } else { 0 };
                1 + summary + output
            }
            _ => 1,
        }
    }
}

impl Call {
    /// The expanded output, wrapped to fit after its prefix in a pane `width` cells wide.
    pub fn output_lines(&self, width: usize) -> Vec<String> {
        let room = width.saturating_sub(OUTPUT_PREFIX.chars().count()).max(8);
        match self.output.as_deref() {
            Some(o) if !o.is_empty() => o.lines().flat_map(|l| super::wrap::wrap_indented(l, room)).collect(),
            _ => vec!["(no output yet)".to_string()],
        }
    }
}

#[derive(Clone, Debug)]
pub struct AlertView {
    pub ts: Ts,
    pub severity: Option<Severity>,
    pub cluster: String,
    pub kinds: String,
    /// The kinds by their short names (the list and the pane's title).
    pub short_kinds: String,
    pub execution_id: String,
    pub state: RowState,
    /// Re-fires answered from this incident's triage.
    pub refires: u32,
    /// This alert is itself a re-fire of another.
    pub refire_of: Option<Ts>,
    pub stream: Vec<Item>,
    /// The reply waiting for a decision (or the last one decided).
    pub draft: Option<String>,
    pub root_cause: Option<String>,
    pub error: Option<String>,
    /// The ts of the recovery notice for this alert's cluster, once one came.
    pub resolved_at: Option<Ts>,
    /// The draft's last line has been on screen: `a` may post it.
    pub draft_seen: bool,
    /// `a` was pressed before the draft's end was seen: the pane says how to see it.
    pub approve_blocked: bool,
    /// The operator's reason for rejecting the draft, when they gave one.
    pub reject_reason: Option<String>,
    /// A reply of ours is already in the thread: the next draft posts as a follow-up.
    pub answered: bool,
    /// While degraded: the service the alert waits for.
    pub waiting_for: Option<Service>,
}

impl AlertView {
    fn new(
        ts: Ts,
        execution_id: String,
        severity: Option<Severity>,
        cluster: Option<String>,
        kinds: String,
    ) -> AlertView {
        AlertView {
            ts,
            severity,
            cluster: cluster.unwrap_or_else(|| "?".into()),
            short_kinds: String::new(),
            kinds,
            execution_id,
            state: RowState::New,
            refires: 0,
            refire_of: None,
            stream: Vec::new(),
            draft: None,
            root_cause: None,
            error: None,
            resolved_at: None,
            draft_seen: false,
            approve_blocked: false,
            reject_reason: None,
            answered: false,
            waiting_for: None,
        }
    }

    fn started(&mut self, reasoner: &str) {
        if !self.stream.is_empty() {
            self.note("── re-triage ──");
        }
        self.state = RowState::Investigating;
        self.error = None;
        self.waiting_for = None;
        self.note(format!("triage started ({reasoner})"));
    }

    /// Model text: streamed deltas are split at newlines.
    fn text(&mut self, text: &str) {
        let mut pieces = text.split('\n');
        if let Some(first) = pieces.next() {
            match self.stream.last_mut() {
                Some(Item::Text(line)) => line.push_str(first),
                _ => self.stream.push(Item::Text(first.to_string())),
            }
        }
        self.stream.extend(pieces.map(|p| Item::Text(p.to_string())));
    }

    fn drafted(&mut self, text: String, root_cause: String, refire_of: Option<Ts>) {
        if self.draft.as_deref() != Some(text.as_str()) {
            self.draft_seen = false;
        }
        self.draft = Some(text);
        self.root_cause = Some(root_cause);
        self.refire_of = refire_of;
        self.note(match refire_of {
            Some(first) => format!("re-fire of {first}: the first triage's reply is ready"),
            None => "hypothesis ready".to_string(),
        });
    }

    pub(super) fn note(&mut self, text: impl Into<String>) {
        self.stream.push(Item::Note(text.into()));
    }

    fn call_mut(&mut self, id: &str) -> Option<&mut Call> {
        self.stream.iter_mut().rev().find_map(|i| match i {
            Item::Call(c) if c.id == id => Some(c),
            _ => None,
        })
    }

    /// The stream's height in a pane `width` cells wide.
    pub fn stream_height(&self, width: usize) -> usize {
        self.stream.iter().map(|i| i.height(width)).sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Failing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Alerts,
    Stream,
}

/// What the keyboard is doing right now.
pub enum Mode {
    Normal,
    Filter,
    Edit(Box<TextArea<'static>>),
    /// Esc on an edit that changed the draft: discard it? The edit is kept until answered.
    ConfirmDiscard(Box<TextArea<'static>>),
    Reject(String),
    /// The keys, scrolled down by `scroll` lines when they do not fit.
    Help {
        scroll: usize,
    },
    Transcript {
        scroll: usize,
    },
    ConfirmQuit,
}

/// What a key asks of the outside world.
#[derive(Debug, PartialEq)]
pub enum Effect {
    Op(Op),
    Quit,
}

pub struct App {
    pub alerts: BTreeMap<Ts, AlertView>,
    /// The selected alert (kept by identity, so new alerts do not move the selection).
    pub selected: Option<Ts>,
    pub focus: Focus,
    pub mode: Mode,
    pub filter: String,
    /// Stream scroll: lines from the top; None follows the end.
    pub scroll: Option<usize>,
    /// The call under the stream cursor (index into the stream).
    pub cursor: Option<usize>,
    pub reasoner: String,
    /// Whether a model reasons (its health is shown).
    pub uses_model: bool,
    pub slack: Health,
    pub conductor: Health,
    pub model: Health,
    /// The latest error, shown in the status bar until something works again.
    pub error: Option<String>,
    /// The service whose failure `error` reports, if a service's.
    error_from: Option<Service>,
    /// Milliseconds since the console started (spinners, elapsed times, countdown).
    pub now_ms: u64,
    /// Wall-clock time (alert ages).
    pub wall: Ts,
    pub next_poll_at_ms: Option<u64>,
    /// Set by `apply` when a draft starts waiting: the loop rings the bell.
    pub ring: bool,
    /// When the last draft started waiting (bursts ring once).
    last_draft_ms: Option<u64>,
    /// The stream pane's height at the last draw (for paging).
    pub page: usize,
    /// The stream pane's inner width at the last draw (what its lines wrap at).
    pub stream_width: usize,
    /// The first draft line shown, for the alert `draft_of` (another alert's draft starts at 0).
    pub draft_scroll: usize,
    pub draft_of: Option<Ts>,
    /// The draft's rows on screen and its wrapped length, at the last draw.
    pub draft_rows: (usize, usize),
    /// The draft fills the investigation pane.
    pub zoom: bool,
    pub sort: Sort,
    /// The operator chose a selection: events no longer move it.
    pub moved: bool,
}

/// The order of the alert list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// What needs the operator first, by severity, then newest.
    Triage,
    /// Newest first.
    Newest,
}

impl Sort {
    pub fn name(self) -> &'static str {
        match self {
            Sort::Triage => "by urgency",
            Sort::Newest => "newest first",
        }
    }
}

/// Drafts closer together than this are one burst: one bell.
const BELL_QUIET_MS: u64 = 5_000;
/// Alerts the console keeps: past it, the oldest settled ones (posted, rejected, skipped, failed)
/// leave the list (the state file and their transcripts keep them).
pub const MAX_ALERTS: usize = 1_000;
/// Stream entries one alert keeps: past it, the oldest tenth goes, under a note that says so
/// (the transcript has every line).
pub const MAX_STREAM: usize = 50_000;

impl App {
    /// `reasoner` names who reasons, for the header; `uses_model` says whether a model does.
    pub fn new(reasoner: &str, uses_model: bool) -> App {
        App {
            alerts: BTreeMap::new(),
            selected: None,
            focus: Focus::Alerts,
            mode: Mode::Normal,
            filter: String::new(),
            scroll: None,
            cursor: None,
            reasoner: reasoner.to_string(),
            slack: Health::Unknown,
            conductor: Health::Unknown,
            model: if uses_model { Health::Unknown } else { Health::Ok },
            uses_model,
            error: None,
            error_from: None,
            now_ms: 0,
            wall: Ts::from_micros(0),
            next_poll_at_ms: None,
            ring: false,
            last_draft_ms: None,
            page: 10,
            stream_width: 80,
            draft_scroll: 0,
            draft_of: None,
            draft_rows: (0, 0),
            zoom: false,
            sort: Sort::Triage,
            moved: false,
        }
    }

    /// The alerts the list shows, newest first, filtered.
    /// The rows in the list's order: by default what needs the operator first (awaiting drafts,
    /// then running triages, failures, the queue), by severity, newest first; or newest first.
    pub fn rows(&self) -> impl Iterator<Item = &AlertView> {
        let filter = self.filter.to_lowercase();
        let mut rows: Vec<&AlertView> = self
            .alerts
            .values()
            .rev()
            .filter(move |a| {
                filter.is_empty()
                    || a.cluster.to_lowercase().contains(&filter)
                    || a.kinds.to_lowercase().contains(&filter)
                    || a.short_kinds.to_lowercase().contains(&filter)
                    || a.state.label().contains(&filter)
                    || a.severity.is_some_and(|s| s.as_str().to_lowercase().contains(&filter))
            })
            .collect();
        if self.sort == Sort::Triage {
            let urgency = |a: &AlertView| match a.state {
                RowState::AwaitingApproval => 0,
                RowState::Investigating | RowState::Posting => 1,
                RowState::Failed | RowState::Degraded => 2,
                RowState::New => 3,
                _ => 4,
            };
            // Stable: equal rows stay newest first.
            rows.sort_by_key(|a| (urgency(a), std::cmp::Reverse(a.severity)));
        }
        rows.into_iter()
    }

    pub fn current(&self) -> Option<&AlertView> {
        self.selected.and_then(|ts| self.alerts.get(&ts))
    }

    pub(super) fn current_mut(&mut self) -> Option<&mut AlertView> {
        self.selected.and_then(|ts| self.alerts.get_mut(&ts))
    }

    pub fn count(&self, state: RowState) -> usize {
        self.alerts.values().filter(|a| a.state == state).count()
    }

    pub fn running(&self) -> bool {
        self.alerts.values().any(|a| a.state == RowState::Investigating)
    }

    /// Takes a core event into the state; true when the screen changed. Memory stays bounded:
    /// see `MAX_ALERTS` and `MAX_STREAM`.
    pub fn apply(&mut self, event: Event) -> bool {
        let about = event.alert_ts();
        let changed = self.take(event);
        if let Some(ts) = about {
            self.bound(ts);
        }
        changed
    }

    /// Keeps the list and the alert's stream within their bounds.
    fn bound(&mut self, ts: Ts) {
        if self.alerts.len() > MAX_ALERTS {
            let settled = |a: &AlertView| {
                matches!(
                    a.state,
                    RowState::Posted
                        | RowState::Rejected
                        | RowState::Skipped
                        | RowState::ClaimedElsewhere
                        | RowState::Failed
                )
            };
            let selected = self.selected;
            let oldest = self.alerts.values().find(|a| settled(a) && Some(a.ts) != selected).map(|a| a.ts);
            if let Some(old) = oldest {
                self.alerts.remove(&old);
            }
        }
        let selected = self.selected == Some(ts);
        let width = self.stream_width;
        let Some(a) = self.alerts.get_mut(&ts) else { return };
        if a.stream.len() <= MAX_STREAM {
            return;
        }
        let dropped = MAX_STREAM / 10;
        let lines: usize = a.stream[..dropped].iter().map(|i| i.height(width)).sum();
        a.stream.drain(..dropped);
        a.stream.insert(0, Item::Note(format!("{dropped} earlier entries left the screen: the transcript has them")));
        if selected {
            self.cursor = self.cursor.map(|c| (c + 1).saturating_sub(dropped));
            self.scroll = self.scroll.map(|s| (s + 1).saturating_sub(lines));
        }
    }

    fn take(&mut self, event: Event) -> bool {
        match event {
            Event::AlertReceived { alert_ts, execution_id, severity, cluster, kinds } => {
                let mut view = AlertView::new(
                    alert_ts,
                    execution_id,
                    severity,
                    cluster,
                    kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
                );
                view.short_kinds = kinds.iter().map(|k| k.short()).collect::<Vec<_>>().join(", ");
                self.received(view);
            }
            Event::AlertSkipped { alert_ts, reason } => self.with(alert_ts, |a| {
                a.state =
                    if reason == SkipReason::ClaimedElsewhere { RowState::ClaimedElsewhere } else { RowState::Skipped };
                a.note(format!("skipped: {}", reason.words()));
            }),
            Event::TriageStarted { alert_ts, reasoner, .. } => self.with(alert_ts, |a| a.started(&reasoner)),
            Event::ToolStarted { alert_ts, call_id, tool, args } => {
                let now = self.now_ms;
                self.with(alert_ts, |a| a.stream.push(Item::Call(Call::new(call_id, tool, &args, now))));
            }
            Event::DispatchStarted { alert_ts, call_id, workflow_id, .. } => {
                self.with_call(alert_ts, &call_id, |c| {
                    c.workflow_id = Some(workflow_id);
                    c.dispatch_status = Some(CommandStatus::Running);
                });
                self.conductor = Health::Ok;
            }
            Event::DispatchFinished { alert_ts, call_id, status, elapsed_ms, .. } => {
                self.with_call(alert_ts, &call_id, |c| {
                    c.dispatch_status = Some(status);
                    c.elapsed_ms = Some(elapsed_ms);
                })
            }
            Event::DispatchClaimed { alert_ts, call_id, claimed } => {
                let now = self.now_ms;
                // Unclaimed since it was asked for (a synchronous run tells only when its wait ends).
                self.with_call(alert_ts, &call_id, |c| c.unclaimed_since = (!claimed).then_some(c.started_ms.min(now)))
            }
            Event::ToolOutput { alert_ts, call_id, condensed, .. } => {
                self.with_call(alert_ts, &call_id, |c| c.output = Some(condensed))
            }
            Event::ToolFinished { alert_ts, call_id, ok, summary } => {
                let now = self.now_ms;
                self.with_call(alert_ts, &call_id, |c| {
                    c.ok = Some(ok);
                    c.summary = summary;
                    c.elapsed_ms.get_or_insert(now.saturating_sub(c.started_ms));
                })
            }
            Event::ReasonerDelta { alert_ts, text } => {
                if self.alerts.contains_key(&alert_ts) {
                    self.model = Health::Ok;
                }
                self.with(alert_ts, |a| a.text(&text));
            }
            Event::HypothesisReady { alert_ts, text, root_cause, refire_of, .. } => {
                if let Some(original) = refire_of.and_then(|first| self.alerts.get_mut(&first)) {
                    original.refires += 1;
                }
                self.with(alert_ts, |a| a.drafted(text, root_cause, refire_of));
            }
            Event::PostQueued { alert_ts, .. } => self.queued(alert_ts),
            Event::PostSent { alert_ts, message_ts, .. } => {
                self.slack = Health::Ok;
                self.with(alert_ts, |a| {
                    a.state = RowState::Posted;
                    a.answered = true;
                    a.note(format!("posted in the thread (reply {message_ts})"));
                });
            }
            Event::PostSkipped { alert_ts, reason } => self.with(alert_ts, |a| {
                a.state = if reason == SkipReason::Rejected { RowState::Rejected } else { RowState::Skipped };
                a.note(format!("not posted: {}", reason.words()));
            }),
            Event::TriageFailed { alert_ts, error, cause } => self.failed(alert_ts, error, cause),
            Event::PollFinished { next_poll_in_ms, .. } => self.polled(next_poll_in_ms),
            Event::AlertResolved { alert_ts, resolved_ts } => self.with(alert_ts, |a| {
                a.resolved_at = Some(resolved_ts);
                a.note(format!("the cluster recovered: resolved since {}", crate::console::view::clock(resolved_ts)));
            }),
            Event::Decision { alert_ts, decision, text, reason } => self.with(alert_ts, |a| match decision {
                // What goes into the thread is what the pane shows once posted.
                Decision::Approved | Decision::Edited => a.draft = text.or(a.draft.take()),
                Decision::Rejected => a.reject_reason = reason,
            }),
            Event::AlertRestored { alert_ts, history } => self.restored(alert_ts, history),
            Event::AlertDetail { .. } | Event::ExecutionRead { .. } | Event::ModelTurn { .. } => return false,
            Event::ServiceError { service, error } => self.service_failed(service, error),
        }
        true
    }

    /// Takes what the last draw measured: the stream's page, and how much of the current draft
    /// is on screen (its last line seen lets `a` post it).
    pub fn drawn(&mut self, drawn: super::view::Drawn) {
        self.page = drawn.page;
        self.stream_width = drawn.stream_width;
        if let Mode::Help { scroll } | Mode::Transcript { scroll } = &mut self.mode {
            *scroll = (*scroll).min(drawn.overlay_max);
        }
        let Some((ts, rows, total)) = drawn.draft else {
            self.draft_rows = (0, 0);
            return;
        };
        if self.draft_of != Some(ts) {
            self.draft_of = Some(ts);
            self.draft_scroll = 0;
        }
        self.draft_scroll = self.draft_scroll.min(total.saturating_sub(rows));
        self.draft_rows = (rows, total);
        if self.draft_scroll + rows >= total
            && let Some(a) = self.alerts.get_mut(&ts)
        {
            a.draft_seen = true;
            a.approve_blocked = false;
        }
    }

    /// The first draft line to show for this alert.
    pub fn draft_scroll_of(&self, ts: Ts) -> usize {
        if self.draft_of == Some(ts) { self.draft_scroll } else { 0 }
    }

    /// Runs `change` on an alert the console knows.
    fn with(&mut self, ts: Ts, change: impl FnOnce(&mut AlertView)) {
        if let Some(a) = self.alerts.get_mut(&ts) {
            change(a);
        }
    }

    /// Runs `change` on a call of an alert the console knows.
    fn with_call(&mut self, ts: Ts, call_id: &str, change: impl FnOnce(&mut Call)) {
        if let Some(c) = self.alerts.get_mut(&ts).and_then(|a| a.call_mut(call_id)) {
            change(c);
        }
    }

    fn received(&mut self, view: AlertView) {
        let ts = view.ts;
        self.alerts.entry(ts).or_insert(view);
        // Until the operator moves, the newest alert is in view.
        if !self.moved && self.selected.is_none_or(|s| s < ts) {
            self.selected = Some(ts);
        }
    }

    fn queued(&mut self, ts: Ts) {
        let mut known = false;
        self.with(ts, |a| {
            if a.state != RowState::Posted {
                a.state = RowState::AwaitingApproval;
            }
            a.note("draft awaiting your decision");
            known = true;
        });
        // One bell per burst: a draft within a few seconds of the last one rings no more.
        if known {
            let quiet = self.last_draft_ms.is_none_or(|at| self.now_ms.saturating_sub(at) >= BELL_QUIET_MS);
            self.ring |= quiet;
            self.last_draft_ms = Some(self.now_ms);
        }
        // Until the operator moves, what awaits a decision comes into view.
        if !self.moved && self.current().is_none_or(|c| c.state != RowState::AwaitingApproval) {
            self.selected = Some(ts);
            self.scroll = None;
        }
    }

    /// An alert this console did not see happen, rebuilt from its history as if it had: each
    /// event at its own time (a call's elapsed time is its own). A call the history never saw
    /// finish was cut off by a stop: it says so instead of spinning.
    fn restored(&mut self, ts: Ts, history: Vec<(u64, Event)>) {
        let (now, last_draft) = (self.now_ms, self.last_draft_ms);
        for (at, event) in history {
            self.now_ms = at;
            self.apply(event);
        }
        self.now_ms = now;
        self.last_draft_ms = if self.ring { Some(now) } else { last_draft };
        self.with(ts, |a| {
            for item in &mut a.stream {
                if let Item::Call(c) = item
                    && c.ok.is_none()
                {
                    c.ok = Some(false);
                    c.summary = "no result recorded: the triage was stopped".into();
                }
            }
            a.note("restored from the flight recorder's transcript");
        });
    }

    fn failed(&mut self, ts: Ts, error: String, cause: Option<Service>) {
        self.with(ts, |a| {
            // A failed post leaves the draft waiting; a failure of a service leaves the alert
            // waiting for it (tried again on its own); any other failure fails the alert.
            a.state = match (a.state, cause) {
                (RowState::Posting, _) => RowState::AwaitingApproval,
                (_, Some(_)) => RowState::Degraded,
                (_, None) => RowState::Failed,
            };
            a.waiting_for = cause;
            a.note(format!("✗ {error}"));
            a.error = Some(error.clone());
        });
        // A failure of a service (ours or a dependency's) turns its light red until it works
        // again; an alert's own problem (no such execution) does not.
        match cause {
            Some(Service::Model) => self.model = Health::Failing,
            Some(Service::Conductor) => self.conductor = Health::Failing,
            Some(Service::Slack) => self.slack = Health::Failing,
            Some(Service::State) | None => {}
        }
        self.error = Some(error);
        self.error_from = None;
    }

    fn polled(&mut self, next_poll_in_ms: Option<u64>) {
        self.slack = Health::Ok;
        self.next_poll_at_ms = next_poll_in_ms.map(|ms| self.now_ms + ms);
        if self.error_from == Some(Service::Slack) {
            self.error = None;
            self.error_from = None;
        }
    }

    fn service_failed(&mut self, service: Service, error: String) {
        match service {
            Service::Slack => self.slack = Health::Failing,
            Service::Conductor => self.conductor = Health::Failing,
            Service::Model => self.model = Health::Failing,
            Service::State => {}
        }
        self.error = Some(error);
        self.error_from = Some(service);
    }
}
