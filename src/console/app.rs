//! The console's state and its rules, with no I/O: core events update it (`apply`), keys change
//! it and may ask the core for a decision (`on_key` → `Effect`). Time is a field the loop sets
//! (`now_ms`, `wall`), so tests and snapshots are deterministic. Rendering is `view`'s.

use std::collections::BTreeMap;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;

use crate::domain::{CommandStatus, Severity, Ts};
use crate::protocol::{Event, Op, Service, SkipReason};

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
    Skipped,
}

impl RowState {
    pub fn label(self) -> &'static str {
        match self {
            RowState::New => "new",
            RowState::ClaimedElsewhere => "claimed elsewhere",
            RowState::Investigating => "investigating",
            RowState::AwaitingApproval => "awaiting approval",
            RowState::Posting => "posting",
            RowState::Posted => "posted",
            RowState::Rejected => "rejected",
            RowState::Failed => "failed",
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

impl Item {
    /// How many screen lines the entry takes.
    pub fn height(&self) -> usize {
        match self {
            Item::Call(c) => {
                let summary = usize::from(!c.summary.is_empty());
                let output = if c.expanded { c.output.as_deref().map_or(1, |o| o.lines().count().max(1)) } else { 0 };
                1 + summary + output
            }
            _ => 1,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AlertView {
    pub ts: Ts,
    pub severity: Option<Severity>,
    pub cluster: String,
    pub kinds: String,
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
}

impl AlertView {
    fn note(&mut self, text: impl Into<String>) {
        self.stream.push(Item::Note(text.into()));
    }

    fn call_mut(&mut self, id: &str) -> Option<&mut Call> {
        self.stream.iter_mut().rev().find_map(|i| match i {
            Item::Call(c) if c.id == id => Some(c),
            _ => None,
        })
    }

    pub fn stream_height(&self) -> usize {
        self.stream.iter().map(Item::height).sum()
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
    Reject(String),
    Help,
    Transcript { scroll: usize },
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
    /// The stream pane's height at the last draw (for paging).
    pub page: usize,
    /// The operator chose a selection: events no longer move it.
    pub moved: bool,
}

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
            page: 10,
            moved: false,
        }
    }

    /// The alerts the list shows, newest first, filtered.
    pub fn rows(&self) -> impl Iterator<Item = &AlertView> {
        let filter = self.filter.to_lowercase();
        self.alerts.values().rev().filter(move |a| {
            filter.is_empty()
                || a.cluster.to_lowercase().contains(&filter)
                || a.kinds.to_lowercase().contains(&filter)
                || a.state.label().contains(&filter)
                || a.severity.is_some_and(|s| s.as_str().to_lowercase().contains(&filter))
        })
    }

    pub fn current(&self) -> Option<&AlertView> {
        self.selected.and_then(|ts| self.alerts.get(&ts))
    }

    fn current_mut(&mut self) -> Option<&mut AlertView> {
        self.selected.and_then(|ts| self.alerts.get_mut(&ts))
    }

    pub fn count(&self, state: RowState) -> usize {
        self.alerts.values().filter(|a| a.state == state).count()
    }

    pub fn running(&self) -> bool {
        self.alerts.values().any(|a| a.state == RowState::Investigating)
    }

    /// Takes a core event into the state; true when the screen changed.
    pub fn apply(&mut self, event: Event) -> bool {
        let now = self.now_ms;
        match event {
            Event::AlertReceived { alert_ts, execution_id, severity, cluster, kinds } => {
                let view = AlertView {
                    ts: alert_ts,
                    severity,
                    cluster: cluster.unwrap_or_else(|| "?".into()),
                    kinds: kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","),
                    execution_id,
                    state: RowState::New,
                    refires: 0,
                    refire_of: None,
                    stream: Vec::new(),
                    draft: None,
                    root_cause: None,
                    error: None,
                };
                self.alerts.entry(alert_ts).or_insert(view);
                // Until the operator moves, the newest alert is in view.
                if !self.moved && self.selected.is_none_or(|s| s < alert_ts) {
                    self.selected = Some(alert_ts);
                }
            }
            Event::AlertSkipped { alert_ts, reason } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    a.state = if reason == SkipReason::ClaimedElsewhere {
                        RowState::ClaimedElsewhere
                    } else {
                        RowState::Skipped
                    };
                    a.note(format!("skipped: {}", reason_words(reason)));
                }
            }
            Event::TriageStarted { alert_ts, reasoner, .. } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    if !a.stream.is_empty() {
                        a.note("── re-triage ──");
                    }
                    a.state = RowState::Investigating;
                    a.error = None;
                    a.note(format!("triage started ({reasoner})"));
                }
            }
            Event::ToolStarted { alert_ts, call_id, tool, args } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    // The values alone read best on one line: `pull_pod_logs orkes-… 1000`.
                    let args = match &args {
                        serde_json::Value::Object(m) => m
                            .values()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => other.to_string(),
                    };
                    a.stream.push(Item::Call(Call {
                        id: call_id,
                        tool,
                        args,
                        started_ms: now,
                        workflow_id: None,
                        dispatch_status: None,
                        elapsed_ms: None,
                        ok: None,
                        summary: String::new(),
                        output: None,
                        expanded: false,
                    }));
                }
            }
            Event::DispatchStarted { alert_ts, call_id, workflow_id, .. } => {
                if let Some(c) = self.alerts.get_mut(&alert_ts).and_then(|a| a.call_mut(&call_id)) {
                    c.workflow_id = Some(workflow_id);
                    c.dispatch_status = Some(CommandStatus::Running);
                }
                self.conductor = Health::Ok;
            }
            Event::DispatchFinished { alert_ts, call_id, status, elapsed_ms, .. } => {
                if let Some(c) = self.alerts.get_mut(&alert_ts).and_then(|a| a.call_mut(&call_id)) {
                    c.dispatch_status = Some(status);
                    c.elapsed_ms = Some(elapsed_ms);
                }
            }
            Event::ToolOutput { alert_ts, call_id, condensed, .. } => {
                if let Some(c) = self.alerts.get_mut(&alert_ts).and_then(|a| a.call_mut(&call_id)) {
                    c.output = Some(condensed);
                }
            }
            Event::ToolFinished { alert_ts, call_id, ok, summary } => {
                if let Some(c) = self.alerts.get_mut(&alert_ts).and_then(|a| a.call_mut(&call_id)) {
                    c.ok = Some(ok);
                    c.summary = summary;
                    c.elapsed_ms.get_or_insert(now.saturating_sub(c.started_ms));
                }
            }
            Event::ReasonerDelta { alert_ts, text } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    self.model = Health::Ok;
                    let mut pieces = text.split('\n');
                    if let Some(first) = pieces.next() {
                        match a.stream.last_mut() {
                            Some(Item::Text(line)) => line.push_str(first),
                            _ => a.stream.push(Item::Text(first.to_string())),
                        }
                    }
                    a.stream.extend(pieces.map(|p| Item::Text(p.to_string())));
                }
            }
            Event::HypothesisReady { alert_ts, text, root_cause, refire_of, .. } => {
                if let Some(first) = refire_of
                    && let Some(original) = self.alerts.get_mut(&first)
                {
                    original.refires += 1;
                }
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    a.draft = Some(text);
                    a.root_cause = Some(root_cause);
                    a.refire_of = refire_of;
                    a.note(match refire_of {
                        Some(first) => format!("re-fire of {first}: the first triage's reply is ready"),
                        None => "hypothesis ready".to_string(),
                    });
                }
            }
            Event::PostQueued { alert_ts, .. } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    if a.state != RowState::Posted {
                        a.state = RowState::AwaitingApproval;
                    }
                    a.note("draft awaiting your decision");
                    self.ring = true;
                }
                // Until the operator moves, what awaits a decision comes into view.
                if !self.moved && self.current().is_none_or(|c| c.state != RowState::AwaitingApproval) {
                    self.selected = Some(alert_ts);
                    self.scroll = None;
                }
            }
            Event::PostSent { alert_ts, message_ts, .. } => {
                self.slack = Health::Ok;
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    a.state = RowState::Posted;
                    a.note(format!("posted in the thread (reply {message_ts})"));
                }
            }
            Event::PostSkipped { alert_ts, reason } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    a.state = if reason == SkipReason::Rejected { RowState::Rejected } else { RowState::Skipped };
                    a.note(format!("not posted: {}", reason_words(reason)));
                }
            }
            Event::TriageFailed { alert_ts, error, cause } => {
                if let Some(a) = self.alerts.get_mut(&alert_ts) {
                    // A failed post leaves the draft waiting; a failed triage fails the alert.
                    a.state = if a.state == RowState::Posting { RowState::AwaitingApproval } else { RowState::Failed };
                    a.note(format!("✗ {error}"));
                    a.error = Some(error.clone());
                }
                if cause == Some(Service::Model) {
                    self.model = Health::Failing;
                }
                self.error = Some(error);
                self.error_from = None;
            }
            Event::PollFinished { next_poll_in_ms, .. } => {
                self.slack = Health::Ok;
                self.next_poll_at_ms = next_poll_in_ms.map(|ms| now + ms);
                if self.error_from == Some(Service::Slack) {
                    self.error = None;
                    self.error_from = None;
                }
            }
            Event::AlertDetail { .. }
            | Event::ExecutionRead { .. }
            | Event::ModelTurn { .. }
            | Event::Decision { .. } => return false,
            Event::ServiceError { service, error } => {
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
        true
    }

    /// The index of the selected row among `rows()`.
    fn position(&self) -> Option<usize> {
        let selected = self.selected?;
        self.rows().position(|a| a.ts == selected)
    }

    fn select_by(&mut self, delta: isize) {
        let rows: Vec<Ts> = self.rows().map(|a| a.ts).collect();
        if rows.is_empty() {
            return;
        }
        let at = self.position().unwrap_or(0) as isize;
        let to = (at + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.moved = true;
        if Some(rows[to]) != self.selected {
            self.selected = Some(rows[to]);
            self.scroll = None;
            self.cursor = None;
        }
    }

    /// The next alert awaiting a decision after the selected one (wrapping).
    fn next_awaiting(&mut self) {
        let rows: Vec<(Ts, RowState)> = self.rows().map(|a| (a.ts, a.state)).collect();
        let at = self.position().unwrap_or(0);
        let found = (1..=rows.len())
            .map(|i| rows[(at + i) % rows.len()])
            .find(|(_, s)| *s == RowState::AwaitingApproval)
            .map(|(ts, _)| ts);
        if found.is_some() {
            self.moved = true;
            self.selected = found;
            self.scroll = None;
            self.cursor = None;
        }
    }

    /// Indices of the stream's calls.
    fn calls(&self) -> Vec<usize> {
        self.current()
            .map(|a| a.stream.iter().enumerate().filter(|(_, i)| matches!(i, Item::Call(_))).map(|(n, _)| n).collect())
            .unwrap_or_default()
    }

    fn move_cursor(&mut self, delta: isize) {
        let calls = self.calls();
        if calls.is_empty() {
            return;
        }
        let at = self.cursor.and_then(|c| calls.iter().position(|n| *n == c)).unwrap_or(calls.len() - 1) as isize;
        let to = (at + delta).clamp(0, calls.len() as isize - 1) as usize;
        self.cursor = Some(calls[to]);
        // Keep the cursor on screen: the line the call starts at.
        if let Some(a) = self.current() {
            let line: usize = a.stream[..calls[to]].iter().map(Item::height).sum();
            let top = self.scroll.unwrap_or_else(|| a.stream_height().saturating_sub(self.page));
            if line < top || line >= top + self.page {
                self.scroll = Some(line.saturating_sub(self.page / 2));
            }
        }
    }

    fn scroll_by(&mut self, delta: isize) {
        let Some(total) = self.current().map(AlertView::stream_height) else { return };
        let bottom = total.saturating_sub(self.page);
        let top = self.scroll.unwrap_or(bottom) as isize;
        let to = (top + delta).clamp(0, bottom as isize) as usize;
        // Back at the end: follow again.
        self.scroll = if to >= bottom { None } else { Some(to) };
    }

    pub fn on_mouse(&mut self, mouse: MouseEvent) -> bool {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.select_by(1),
            MouseEventKind::ScrollUp => self.select_by(-1),
            _ => return false,
        }
        true
    }

    /// Handles a key; the effect, if the key asks the core for something or to quit.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match &mut self.mode {
            Mode::Edit(area) => {
                match (key.code, ctrl) {
                    (KeyCode::Char('s'), true) => {
                        let text = area.lines().join("\n");
                        self.mode = Mode::Normal;
                        return self.approve(Some(text));
                    }
                    (KeyCode::Esc, _) => self.mode = Mode::Normal,
                    _ => {
                        area.input(key);
                    }
                }
                return None;
            }
            Mode::Reject(reason) => {
                match key.code {
                    KeyCode::Enter => {
                        let reason = Some(reason.trim().to_string()).filter(|r| !r.is_empty());
                        self.mode = Mode::Normal;
                        let ts = self.current().filter(|a| a.state == RowState::AwaitingApproval)?.ts;
                        return Some(Effect::Op(Op::Reject { alert_ts: ts, reason }));
                    }
                    KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        reason.pop();
                    }
                    KeyCode::Char(c) if !ctrl => reason.push(c),
                    _ => {}
                }
                return None;
            }
            Mode::Filter => {
                match key.code {
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) if !ctrl => self.filter.push(c),
                    _ => {}
                }
                // Keep a selection among what is shown.
                if self.position().is_none() {
                    let first = self.rows().next().map(|a| a.ts);
                    self.selected = first;
                }
                return None;
            }
            Mode::Help => {
                self.mode = Mode::Normal;
                return None;
            }
            Mode::Transcript { scroll } => {
                match key.code {
                    KeyCode::Char('j') | KeyCode::Down => *scroll += 1,
                    KeyCode::Char('k') | KeyCode::Up => *scroll = scroll.saturating_sub(1),
                    KeyCode::PageDown => *scroll += self.page,
                    KeyCode::PageUp => *scroll = scroll.saturating_sub(self.page),
                    KeyCode::Esc | KeyCode::Char('q') => self.mode = Mode::Normal,
                    KeyCode::Char('t') if ctrl => self.mode = Mode::Normal,
                    _ => {}
                }
                return None;
            }
            Mode::ConfirmQuit => {
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('q')) {
                    return Some(Effect::Quit);
                }
                self.mode = Mode::Normal;
                return None;
            }
            Mode::Normal => {}
        }
        if ctrl {
            return match key.code {
                KeyCode::Char('c') => Some(Effect::Quit),
                KeyCode::Char('t') => {
                    self.mode = Mode::Transcript { scroll: 0 };
                    None
                }
                KeyCode::Char('d') => {
                    self.scroll_by(self.page as isize / 2);
                    None
                }
                KeyCode::Char('u') => {
                    self.scroll_by(-(self.page as isize) / 2);
                    None
                }
                _ => None,
            };
        }
        match (key.code, self.focus) {
            (KeyCode::Char('q'), _) => {
                if self.running() {
                    self.mode = Mode::ConfirmQuit;
                    return None;
                }
                return Some(Effect::Quit);
            }
            (KeyCode::Char('?'), _) => self.mode = Mode::Help,
            (KeyCode::Char('/'), _) => {
                self.focus = Focus::Alerts;
                self.mode = Mode::Filter;
            }
            (KeyCode::Tab, _) => {
                self.focus = if self.focus == Focus::Alerts { Focus::Stream } else { Focus::Alerts };
            }
            (KeyCode::Char('j') | KeyCode::Down, Focus::Alerts) => self.select_by(1),
            (KeyCode::Char('k') | KeyCode::Up, Focus::Alerts) => self.select_by(-1),
            (KeyCode::PageDown, Focus::Alerts) => self.select_by(self.page as isize),
            (KeyCode::PageUp, Focus::Alerts) => self.select_by(-(self.page as isize)),
            (KeyCode::Char('g') | KeyCode::Home, Focus::Alerts) => self.select_by(isize::MIN / 2),
            (KeyCode::Char('G') | KeyCode::End, Focus::Alerts) => self.select_by(isize::MAX / 2),
            (KeyCode::Char('j') | KeyCode::Down, Focus::Stream) => self.move_cursor(1),
            (KeyCode::Char('k') | KeyCode::Up, Focus::Stream) => self.move_cursor(-1),
            (KeyCode::PageDown, Focus::Stream) => self.scroll_by(self.page as isize),
            (KeyCode::PageUp, Focus::Stream) => self.scroll_by(-(self.page as isize)),
            (KeyCode::Char('g') | KeyCode::Home, Focus::Stream) => self.scroll = Some(0),
            (KeyCode::Char('G') | KeyCode::End, Focus::Stream) => {
                self.scroll = None;
                self.cursor = None;
            }
            (KeyCode::Enter, _) => {
                if self.cursor.is_none() {
                    self.move_cursor(0);
                }
                let at = self.cursor;
                if let Some(Item::Call(c)) = at.and_then(|n| self.current_mut()?.stream.get_mut(n)) {
                    c.expanded = !c.expanded;
                }
                self.focus = Focus::Stream;
            }
            (KeyCode::Char('n'), _) => self.next_awaiting(),
            (KeyCode::Char('a'), _) => return self.approve(None),
            (KeyCode::Char('e'), _) => {
                if let Some(draft) = self.current().filter(|a| a.state == RowState::AwaitingApproval)?.draft.clone() {
                    let mut area = TextArea::new(draft.lines().map(str::to_string).collect());
                    area.move_cursor(ratatui_textarea::CursorMove::Top);
                    area.set_wrap_mode(ratatui_textarea::WrapMode::WordOrGlyph);
                    self.mode = Mode::Edit(Box::new(area));
                }
            }
            (KeyCode::Char('r'), _) if self.current().is_some_and(|a| a.state == RowState::AwaitingApproval) => {
                self.mode = Mode::Reject(String::new());
            }
            (KeyCode::Char('t'), _) => {
                let a = self.current_mut()?;
                if matches!(a.state, RowState::Investigating | RowState::Posting) {
                    return None;
                }
                a.state = RowState::Investigating;
                return Some(Effect::Op(Op::Retriage { alert_ts: a.ts }));
            }
            (KeyCode::Char('A'), _) => {
                let refires: Vec<Ts> = self
                    .alerts
                    .values()
                    .filter(|a| a.state == RowState::AwaitingApproval && a.refire_of.is_some())
                    .map(|a| a.ts)
                    .collect();
                if refires.is_empty() {
                    return None;
                }
                for ts in refires {
                    if let Some(a) = self.alerts.get_mut(&ts) {
                        a.state = RowState::Posting;
                    }
                }
                return Some(Effect::Op(Op::ApproveAllRefires));
            }
            _ => {}
        }
        None
    }

    /// Approves the selected alert's draft (or the operator's edit of it).
    fn approve(&mut self, edited: Option<String>) -> Option<Effect> {
        let a = self.current_mut().filter(|a| a.state == RowState::AwaitingApproval)?;
        let text = edited.or_else(|| a.draft.clone())?;
        a.state = RowState::Posting;
        a.draft = Some(text.clone());
        a.note("approved: posting…");
        Some(Effect::Op(Op::Approve { alert_ts: a.ts, text }))
    }
}

fn reason_words(reason: SkipReason) -> &'static str {
    match reason {
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
