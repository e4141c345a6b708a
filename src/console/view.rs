//! Drawing the console from its state: the alerts list (left), the selected alert's live
//! investigation (right) with its draft reply shown as Slack will show it, the status bar, and
//! the overlays (help, editor, reject reason, transcript, quit). Only what fits on screen is
//! built, so a thousand alerts or fifty thousand stream lines cost the same as ten. NO_COLOR
//! keeps every cue as text or bold/reverse.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{AlertView, App, Focus, Health, Item, Mode, OUTPUT_PREFIX, RowState};
use super::keymap::BINDINGS;
use super::wrap::wrap;
use crate::domain::{CommandStatus, Severity, Ts};

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Colours, or none (NO_COLOR).
#[derive(Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn from_env() -> Theme {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    fn fg(self, color: Color) -> Style {
        if self.color { Style::default().fg(color) } else { Style::default() }
    }

    fn dim(self) -> Style {
        if self.color { Style::default().fg(Color::DarkGray) } else { Style::default() }
    }

    fn severity(self, s: Option<Severity>) -> Style {
        let style = match s {
            Some(Severity::Critical) => self.fg(Color::Red),
            Some(Severity::Major) => self.fg(Color::LightRed),
            Some(Severity::Minor) => self.fg(Color::Yellow),
            Some(Severity::Warning) => self.fg(Color::LightYellow),
            None => self.dim(),
        };
        style.add_modifier(Modifier::BOLD)
    }

    fn state(self, s: RowState) -> Style {
        match s {
            RowState::AwaitingApproval => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            RowState::Investigating | RowState::Posting => self.fg(Color::Cyan),
            RowState::Posted => self.fg(Color::Green),
            RowState::Failed => self.fg(Color::Red),
            RowState::Degraded => self.fg(Color::LightRed),
            RowState::New => Style::default(),
            RowState::ClaimedElsewhere | RowState::Rejected | RowState::Skipped => self.dim(),
        }
    }

    fn health(self, h: Health) -> Span<'static> {
        match (h, self.color) {
            (Health::Ok, true) => Span::styled("●", self.fg(Color::Green)),
            (Health::Failing, true) => Span::styled("●", self.fg(Color::Red)),
            (Health::Unknown, true) => Span::styled("●", self.dim()),
            (Health::Ok, false) => Span::raw("ok"),
            (Health::Failing, false) => Span::raw("FAIL"),
            (Health::Unknown, false) => Span::raw("?"),
        }
    }
}

/// Draws the whole screen from `app`, changing nothing in it; returns the investigation's page
/// height (what PgUp/PgDn move by), for the caller to give the app.
/// What a draw measured, for the app to keep: the stream's page height, and the current draft
/// as (alert, rows on screen, wrapped lines in all).
pub struct Drawn {
    pub page: usize,
    /// How far the open overlay (help, transcript) scrolls at most.
    pub overlay_max: usize,
    pub stream_width: usize,
    pub draft: Option<(Ts, usize, usize)>,
}

pub fn draw(frame: &mut Frame, app: &App, theme: Theme) -> Drawn {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(frame.area());
    let left_width = (main.width * 2 / 5).clamp(30.min(main.width), 60);
    let [left, right] = Layout::horizontal([Constraint::Length(left_width), Constraint::Min(10)]).areas(main);
    alerts(frame, app, left, theme);
    let mut drawn = investigation(frame, app, right, theme);
    status_bar(frame, app, status, theme);
    match &app.mode {
        Mode::Help { scroll } => drawn.overlay_max = help(frame, *scroll, theme),
        Mode::Transcript { scroll } => drawn.overlay_max = transcript(frame, app, *scroll, theme),
        Mode::ConfirmQuit => {
            let (running, waiting) = (app.count(RowState::Investigating), app.count(RowState::AwaitingApproval));
            let mut text = Vec::new();
            if running > 0 {
                text.push(format!("{running} triage(s) still running: they get the shutdown grace."));
            }
            if waiting > 0 {
                text.push(format!(
                    "{waiting} draft(s) wait for approval: they stay in the state file and come back at the next start."
                ));
            }
            text.push("Quit anyway? y: quit · any other key: stay".to_string());
            let lines: Vec<String> = text.iter().flat_map(|t| super::wrap::wrap(t, 52)).collect();
            let area = centered(frame.area(), 56, u16::try_from(lines.len() + 2).unwrap_or(8));
            frame.render_widget(Clear, area);
            frame.render_widget(Paragraph::new(lines.join("\n")).block(Block::bordered().title(" Quit? ")), area);
        }
        _ => {}
    }
    drawn
}

fn age(app: &App, a: &AlertView) -> String {
    let secs = a.ts.age(app.wall).as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn alerts(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let focused = app.focus == Focus::Alerts && matches!(app.mode, Mode::Normal | Mode::Filter);
    let total = app.rows().count();
    let title = if app.filter.is_empty() && !matches!(app.mode, Mode::Filter) {
        format!(" Alerts ({total}) · {} ", app.sort.name())
    } else {
        format!(" Alerts ({total}) /{}{} ", app.filter, if matches!(app.mode, Mode::Filter) { "▏" } else { "" })
    };
    // Two lines a row; the window keeps the selection in view; markers say what lies beyond.
    let fit = (area.height.saturating_sub(2) as usize / 2).max(1);
    let position = app.selected.and_then(|s| app.rows().position(|a| a.ts == s)).unwrap_or(0);
    let first = position.saturating_sub(fit - 1);
    let (above, below) = (first, total.saturating_sub(first + fit));
    let mut block =
        Block::bordered().title(title).border_style(if focused { theme.fg(Color::Cyan) } else { theme.dim() });
    if above > 0 {
        block = block.title(Line::styled(format!(" ↑ {above} more "), theme.fg(Color::Yellow)).right_aligned());
    }
    if below > 0 {
        block = block.title_bottom(Line::styled(format!(" ↓ {below} more "), theme.fg(Color::Yellow)));
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if total == 0 {
        let text = if app.filter.is_empty() {
            "No alerts yet.\nWatching the channel; new alerts appear here."
        } else {
            "No alert matches the filter.\nEsc clears it."
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()).wrap(Wrap { trim: true }), inner);
        return;
    }
    // Two lines a row; only the rows that fit are built.
    let mut lines = Vec::with_capacity(fit * 2);
    for (i, a) in app.rows().enumerate().skip(first).take(fit) {
        let selected = i == position;
        let marker = if selected { "▶ " } else { "  " };
        let mut head = vec![
            Span::raw(marker),
            Span::styled(format!("{:<6}", a.severity.map_or("?", short)), theme.severity(a.severity)),
            Span::raw(a.cluster.clone()),
            Span::styled(format!("  {}", age(app, a)), theme.dim()),
        ];
        if a.refires > 0 {
            head.push(Span::styled(format!("  ×{}", a.refires + 1), theme.fg(Color::Magenta)));
        }
        let spinner = if a.state == RowState::Investigating {
            format!("{} ", SPINNER[(app.now_ms / 100) as usize % SPINNER.len()])
        } else {
            String::new()
        };
        let label = match (a.state, a.waiting_for) {
            (RowState::AwaitingApproval, _) if a.answered => "awaiting follow-up".to_string(),
            (RowState::Degraded, Some(service)) => format!("degraded: {}", service.name()),
            (state, _) => state.label().to_string(),
        };
        let mut tail = vec![Span::raw("    "), Span::styled(format!("{spinner}{label}"), theme.state(a.state))];
        if let (RowState::Rejected, Some(reason)) = (a.state, &a.reject_reason) {
            tail.push(Span::styled(format!(": {reason}"), theme.dim()));
        }
        if let Some(at) = a.resolved_at {
            tail.push(Span::styled(format!("  resolved {}", clock(at)), theme.fg(Color::Green)));
        }
        tail.push(Span::styled(format!("  {}", a.short_kinds), theme.dim()));
        let style = if selected {
            Style::default().add_modifier(if focused { Modifier::REVERSED } else { Modifier::BOLD })
        } else {
            Style::default()
        };
        lines.push(Line::from(head).style(style));
        lines.push(Line::from(tail));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A Slack ts as a wall-clock time, `HH:MM UTC`.
pub fn clock(ts: Ts) -> String {
    let secs = ts.as_micros().div_euclid(1_000_000).rem_euclid(86_400);
    format!("{:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

fn short(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRIT",
        Severity::Major => "MAJOR",
        Severity::Minor => "MINOR",
        Severity::Warning => "WARN",
    }
}

fn investigation(frame: &mut Frame, app: &App, area: Rect, theme: Theme) -> Drawn {
    let Some(a) = app.current() else {
        let block = Block::bordered().title(" Investigation ").border_style(theme.dim());
        frame.render_widget(
            Paragraph::new("Select an alert to see its investigation.\n? lists every key.")
                .style(theme.dim())
                .block(block),
            area,
        );
        return Drawn {
            page: usize::from(area.height.saturating_sub(2)).max(1),
            stream_width: usize::from(area.width.saturating_sub(2)),
            overlay_max: 0,
            draft: None,
        };
    };
    let editing = matches!(app.mode, Mode::Edit(_) | Mode::ConfirmDiscard(_));
    // The whole draft must be readable before it is approved: it gets the rows its wrapped
    // lines need (measured by the wrapping that draws them) before the stream gets any, down to
    // a stream of one line; the rest scrolls, with a marker. Zoomed, it has the whole pane.
    let lines = a.draft.as_deref().map(|d| draft_lines(d, area.width.saturating_sub(2), theme)).unwrap_or_default();
    let most = if app.zoom { area.height } else { area.height.saturating_sub(3) };
    let draft_height = match (&a.draft, editing) {
        (_, true) => area.height.saturating_sub(6).max(area.height * 3 / 5),
        (Some(_), false) => u16::try_from(lines.len() + 2).unwrap_or(u16::MAX).min(most),
        (None, false) => 0,
    };
    let [stream_area, draft_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(draft_height)]).areas(area);
    if stream_area.height > 0 {
        stream(frame, app, a, stream_area, theme);
    }
    let mut shown = None;
    if draft_height > 0 {
        let rows = usize::from(draft_area.height.saturating_sub(2));
        shown = Some((a.ts, rows, lines.len()));
        draft(frame, app, a, lines, draft_area, theme);
    }
    Drawn {
        page: usize::from(stream_area.height.saturating_sub(2)).max(1),
        stream_width: usize::from(stream_area.width.saturating_sub(2)),
        overlay_max: 0,
        draft: shown,
    }
}

/// A draft's lines as Slack shows them, wrapped at `width` by `wrap`.
fn draft_lines(text: &str, width: u16, theme: Theme) -> Vec<Line<'static>> {
    text.lines().flat_map(|l| super::wrap::wrap_spans(&mrkdwn(l, theme).spans, usize::from(width.max(1)))).collect()
}

/// The lines of one stream entry in a pane `width` cells wide: as many as `Item::height` says
/// (a line too wide ends in `…`; an expanded call's output wraps).
fn item_lines(app: &App, item: &Item, selected: bool, width: usize, theme: Theme, out: &mut Vec<Line<'static>>) {
    let clip = |spans: Vec<Span<'static>>| Line::from(super::wrap::clip(spans, width));
    match item {
        Item::Call(c) => {
            let (icon, style) = match c.ok {
                None => (SPINNER[(app.now_ms / 100) as usize % SPINNER.len()], theme.fg(Color::Cyan)),
                Some(true) => ("✓", theme.fg(Color::Green)),
                Some(false) => ("✗", theme.fg(Color::Red)),
            };
            let elapsed = c.elapsed_ms.unwrap_or_else(|| app.now_ms.saturating_sub(c.started_ms));
            let mut spans = vec![
                Span::styled(format!("{icon} "), style),
                Span::styled(c.tool.clone(), Style::default().add_modifier(Modifier::BOLD)),
            ];
            spans.push(Span::styled(format!("  {:.1}s", elapsed as f64 / 1000.0), theme.dim()));
            match (&c.workflow_id, c.unclaimed_since) {
                // Honest waits: nobody in the cluster has picked the task up yet.
                (Some(_), Some(since)) if c.ok.is_none() => spans.push(Span::styled(
                    format!(
                        "  waiting for the in-cluster agent… {:.0}s",
                        app.now_ms.saturating_sub(since) as f64 / 1000.0
                    ),
                    theme.fg(Color::Yellow),
                )),
                (Some(id), _) => {
                    let status = c.dispatch_status.map_or("", CommandStatus::as_str);
                    spans.push(Span::styled(format!("  wf {} {status}", &id[..id.len().min(8)]), theme.dim()));
                }
                (None, _) => {}
            }
            if !c.args.is_empty() {
                spans.push(Span::styled(format!("  {}", c.args), theme.dim()));
            }
            let marker = if c.expanded { "▾" } else { "▸" };
            spans.insert(0, Span::styled(format!("{marker} "), theme.dim()));
            let line = clip(spans);
            out.push(if selected { line.style(Style::default().add_modifier(Modifier::REVERSED)) } else { line });
            if !c.summary.is_empty() {
                out.push(clip(vec![Span::styled("    └ ", theme.dim()), Span::raw(c.summary.clone())]));
            }
            if c.expanded {
                out.extend(
                    c.output_lines(width).into_iter().map(|l| Line::styled(format!("{OUTPUT_PREFIX}{l}"), theme.dim())),
                );
            }
        }
        Item::Text(t) => out.push(clip(vec![Span::raw(t.clone())])),
        Item::Note(n) => out.push(clip(vec![Span::styled(format!("· {n}"), theme.dim())])),
    }
}

fn stream(frame: &mut Frame, app: &App, a: &AlertView, area: Rect, theme: Theme) {
    let focused = app.focus == Focus::Stream && matches!(app.mode, Mode::Normal);
    let follow = app.scroll.is_none();
    let title = format!(
        " {} · {} · execution {}{} ",
        a.cluster,
        a.short_kinds,
        &a.execution_id[..a.execution_id.len().min(8)],
        if follow { "" } else { " · scrolled (End follows)" }
    );
    let block = Block::bordered().title(title).border_style(if focused { theme.fg(Color::Cyan) } else { theme.dim() });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = usize::from(inner.width);
    // The window starts `skip` lines into entry `first`; following the end, it is found from the
    // end, so a frame costs what shows, not the whole stream.
    let (first, skip) = match app.scroll {
        None => window_from_end(&a.stream, width, height),
        Some(top) => window_from(&a.stream, width, top.min(a.stream_height(width).saturating_sub(1))),
    };
    let mut lines: Vec<Line> = Vec::with_capacity(height + 8);
    for (n, item) in a.stream.iter().enumerate().skip(first) {
        item_lines(app, item, focused && app.cursor == Some(n), width, theme, &mut lines);
        if n == first {
            lines.drain(..skip.min(lines.len()));
        }
        if lines.len() >= height {
            break;
        }
    }
    if a.stream.is_empty() {
        lines.push(Line::styled("Waiting for the triage to start…", theme.dim()));
    }
    lines.truncate(height);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The entry holding line `top` of the stream, and how far into it that line is.
fn window_from(stream: &[Item], width: usize, top: usize) -> (usize, usize) {
    let mut line = 0;
    for (n, item) in stream.iter().enumerate() {
        let h = item.height(width);
        if line + h > top {
            return (n, top - line);
        }
        line += h;
    }
    (stream.len(), 0)
}

/// The window of the stream's last `height` lines: its first entry, and the lines to skip in it.
fn window_from_end(stream: &[Item], width: usize, height: usize) -> (usize, usize) {
    let mut line = 0;
    for (n, item) in stream.iter().enumerate().rev() {
        line += item.height(width);
        if line >= height {
            return (n, line - height);
        }
    }
    (0, 0)
}

/// Slack mrkdwn as Slack shows it: *bold*, `code`, and the reply's escapes undone.
fn mrkdwn(line: &str, theme: Theme) -> Line<'static> {
    let text = line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let mut spans = Vec::new();
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let next = rest.find(['*', '`']);
        let Some(at) = next else {
            spans.push(Span::raw(rest.to_string()));
            break;
        };
        let mark = &rest[at..at + 1];
        match rest[at + 1..].find(mark) {
            Some(end) => {
                spans.push(Span::raw(rest[..at].to_string()));
                let inside = rest[at + 1..at + 1 + end].to_string();
                spans.push(if mark == "*" {
                    Span::styled(inside, Style::default().add_modifier(Modifier::BOLD))
                } else {
                    Span::styled(inside, theme.fg(Color::LightCyan))
                });
                rest = &rest[at + 2 + end..];
            }
            None => {
                spans.push(Span::raw(rest.to_string()));
                break;
            }
        }
    }
    Line::from(spans)
}

fn draft(frame: &mut Frame, app: &App, a: &AlertView, lines: Vec<Line<'static>>, area: Rect, theme: Theme) {
    if let Mode::Edit(textarea) | Mode::ConfirmDiscard(textarea) = &app.mode {
        let block = Block::bordered()
            .title(" Edit the reply — Ctrl+S posts · Esc cancels ")
            .border_style(theme.fg(Color::Yellow));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(&**textarea, inner);
        if matches!(app.mode, Mode::ConfirmDiscard(_)) {
            let dialog = centered(area, 44, 4);
            frame.render_widget(Clear, dialog);
            frame.render_widget(
                Paragraph::new("Discard your edit of the draft?\ny: discard · any other key: keep editing")
                    .block(Block::bordered().title(" Discard? ").border_style(theme.fg(Color::Yellow))),
                dialog,
            );
        }
        return;
    }
    let (title, hint, border) = match a.state {
        RowState::AwaitingApproval if a.answered => (
            " Follow-up draft — a posts it as an update in the thread ",
            " a post follow-up · e edit · r reject · t re-triage · n next ",
            theme.fg(Color::Yellow),
        ),
        RowState::AwaitingApproval => (
            " Draft reply — as it will look in Slack ",
            " a post · e edit · r reject · t re-triage · n next ",
            theme.fg(Color::Yellow),
        ),
        RowState::Posting => (" Posting… ", "", theme.fg(Color::Cyan)),
        RowState::Posted => {
            (" Posted reply ", " t re-triage (a new draft posts as a follow-up) ", theme.fg(Color::Green))
        }
        RowState::Rejected => (" Rejected draft (not posted) ", " t re-triage ", theme.dim()),
        _ => (" Reply ", "", theme.dim()),
    };
    let resolved = a.resolved_at.map(|at| format!(" resolved since {} —", clock(at)));
    let title = match (resolved, &a.reject_reason) {
        (Some(r), _) if a.state == RowState::AwaitingApproval => format!("{r}{title}"),
        (_, Some(reason)) if a.state == RowState::Rejected => format!("{title}— {reason} "),
        _ => title.to_string(),
    };
    let rows = usize::from(area.height.saturating_sub(2));
    let scroll = app.draft_scroll_of(a.ts).min(lines.len().saturating_sub(rows));
    let below = lines.len().saturating_sub(scroll + rows);
    let hint = if below == 0 {
        Line::from(hint)
    } else if a.approve_blocked {
        Line::styled(
            format!(" ↓ {below} more lines: read them before a posts · Space scrolls · z full size "),
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )
    } else {
        Line::styled(format!(" more ↓ {below} lines · Space scrolls · z full size "), theme.fg(Color::Yellow))
    };
    let title = if scroll > 0 { format!("{title}↑ ") } else { title };
    let block = Block::bordered().title(title).title_bottom(hint).border_style(border);
    let visible: Vec<Line> = lines.into_iter().skip(scroll).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
    if let Mode::Reject(reason) = &app.mode {
        let input = Rect { y: area.bottom().saturating_sub(3), height: 3.min(area.height), ..area };
        frame.render_widget(Clear, input);
        frame.render_widget(
            Paragraph::new(format!("{reason}▏")).block(
                Block::bordered()
                    .title(" Reject — reason (optional), Enter confirms · Esc cancels ")
                    .border_style(theme.fg(Color::Red)),
            ),
            input,
        );
    }
}

/// The status bar: the services' lights, the latest error, the poll countdown, the counts, who
/// reasons. The error gets what room the rest leaves, cut with a marker (the whole of it is in
/// the alert's stream or the log), so the counts never leave the bar.
fn status_bar(frame: &mut Frame, app: &App, area: Rect, theme: Theme) {
    let sep = || Span::styled(" │ ", theme.dim());
    let mut lights =
        vec![Span::raw(" Slack "), theme.health(app.slack), Span::raw(" Conductor "), theme.health(app.conductor)];
    if app.uses_model {
        lights.push(Span::raw(" Model "));
        lights.push(theme.health(app.model));
    }
    lights.push(sep());
    let mut rest = Vec::new();
    if let Some(at) = app.next_poll_at_ms {
        // Once due, the poll is under way (or retrying): no frozen "poll in 0s".
        let left = at.saturating_sub(app.now_ms);
        rest.push(Span::raw(if left == 0 {
            "polling…".to_string()
        } else {
            format!("poll in {}s", left.div_ceil(1000))
        }));
        rest.push(sep());
    }
    let counts = [
        (RowState::Investigating, "investigating"),
        (RowState::AwaitingApproval, "awaiting"),
        (RowState::Posted, "posted"),
        (RowState::Failed, "failed"),
        (RowState::Degraded, "degraded"),
    ];
    let counted: Vec<String> = counts
        .iter()
        .map(|(s, label)| (app.count(*s), label))
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {label}"))
        .collect();
    if !counted.is_empty() {
        rest.push(Span::raw(counted.join(" · ")));
        rest.push(sep());
    }
    rest.push(Span::raw(app.reasoner.clone()));
    rest.push(Span::styled(" │ ? help", theme.dim()));
    let used: usize = lights.iter().chain(&rest).map(Span::width).sum();
    let mut spans = lights;
    if let Some(error) = &app.error {
        let room = usize::from(area.width).saturating_sub(used + 3);
        let style = theme.fg(Color::Red).add_modifier(Modifier::BOLD);
        spans.extend(super::wrap::clip(vec![Span::styled(format!("⚠ {error}"), style)], room));
        spans.push(sep());
    }
    spans.extend(rest);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys, from the keymap; returns how far it scrolls at most.
fn help(frame: &mut Frame, scroll: usize, theme: Theme) -> usize {
    const LABEL: usize = 16;
    let width = 84.min(frame.area().width);
    let text_width = usize::from(width).saturating_sub(LABEL + 2);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = Vec::new();
    for b in BINDINGS {
        for (n, piece) in wrap(b.what, text_width).into_iter().enumerate() {
            let label = if n == 0 { format!("{:>14}  ", b.label()) } else { " ".repeat(LABEL) };
            lines.push(Line::from(vec![Span::styled(label, bold), Span::raw(piece)]));
        }
    }
    let footer = "Nothing is posted without a or Ctrl+S. Any key closes this.";
    lines.extend(wrap(footer, usize::from(width).saturating_sub(2)).into_iter().map(|l| Line::styled(l, theme.dim())));
    let area = centered(frame.area(), width, u16::try_from(lines.len() + 2).unwrap_or(u16::MAX));
    scrolled(frame, area, lines, scroll, Block::bordered().title(" Keys "), theme)
}

/// An overlay's lines in a bordered `block` over `area`, from line `scroll` (clamped): taller
/// than the area, it says how much is above (↑ in the title) and below (a marker at the foot).
/// Returns how far it scrolls at most.
fn scrolled(
    frame: &mut Frame,
    area: Rect,
    lines: Vec<Line<'static>>,
    scroll: usize,
    block: Block,
    theme: Theme,
) -> usize {
    let rows = usize::from(area.height.saturating_sub(2));
    let most = lines.len().saturating_sub(rows);
    let scroll = scroll.min(most);
    let below = lines.len().saturating_sub(scroll + rows);
    let mut block = block;
    if scroll > 0 {
        block = block.title(Line::styled(format!(" ↑ {scroll} above "), theme.fg(Color::Yellow)));
    }
    if below > 0 {
        block = block.title_bottom(Line::styled(format!(" ↓ {below} more · j scrolls "), theme.fg(Color::Yellow)));
    }
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines.into_iter().skip(scroll).take(rows).collect::<Vec<_>>()).block(block),
        area,
    );
    most
}

/// The whole alert: every call with its output, the model's text, the reply.
pub fn transcript_lines(a: &AlertView) -> Vec<String> {
    let mut out = vec![format!(
        "{} {} · {} · execution {} · {}",
        a.severity.map_or("?", |s| s.as_str()),
        a.cluster,
        a.kinds,
        a.execution_id,
        a.state.label()
    )];
    for item in &a.stream {
        match item {
            Item::Call(c) => {
                let status = match c.ok {
                    None => "running",
                    Some(true) => "ok",
                    Some(false) => "failed",
                };
                out.push(format!(
                    "{} {} {} [{status}{}] {}",
                    c.id,
                    c.tool,
                    c.args,
                    c.workflow_id.as_deref().map(|w| format!(", workflow {w}")).unwrap_or_default(),
                    c.summary
                ));
                out.extend(c.output.as_deref().unwrap_or("").lines().map(|l| format!("    {l}")));
            }
            Item::Text(t) => out.push(t.clone()),
            Item::Note(n) => out.push(format!("· {n}")),
        }
    }
    if let Some(d) = &a.draft {
        out.push("── reply ──".into());
        out.extend(d.lines().map(str::to_string));
    }
    out
}

/// The transcript full screen, every line wrapped to the width (nothing cut), scrolled; returns
/// how far it scrolls at most.
fn transcript(frame: &mut Frame, app: &App, scroll: usize, theme: Theme) -> usize {
    let area = frame.area();
    frame.render_widget(Clear, area);
    let Some(a) = app.current() else { return 0 };
    let width = usize::from(area.width.saturating_sub(2));
    let lines = transcript_lines(a).iter().flat_map(|l| super::wrap::wrap_indented(l, width)).map(Line::raw).collect();
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" Transcript — j/k PgUp/PgDn scroll · Esc closes ")
        .border_style(theme.fg(Color::Cyan));
    scrolled(frame, area, lines, scroll, block, theme)
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::app::Call;

    fn call(summary: &str, output: Option<&str>) -> Item {
        Item::Call(Call {
            id: "c".into(),
            tool: "get_pods_data".into(),
            args: String::new(),
            started_ms: 0,
            workflow_id: None,
            dispatch_status: None,
            elapsed_ms: None,
            ok: Some(true),
            summary: summary.into(),
            output: output.map(str::to_string),
            expanded: output.is_some(),
            unclaimed_since: None,
        })
    }

    #[test]
    fn the_window_found_from_the_end_is_the_one_scrolled_to_the_bottom() {
        // Entries of 1, 2 and many lines (an expanded call): every pane height, from one line to
        // more than the whole stream, finds the same first entry and offset either way.
        let output = (0..7).map(|i| format!("line {i} of the output")).collect::<Vec<_>>().join("\n");
        let stream =
            vec![Item::Note("a".into()), call("2 pods", None), call("3 lines", Some(&output)), Item::Text("t".into())];
        let total: usize = stream.iter().map(|i| i.height(60)).sum();
        assert!(total > 10, "{total}");
        for height in 1..total + 3 {
            let bottom = total.saturating_sub(height);
            assert_eq!(window_from_end(&stream, 60, height), window_from(&stream, 60, bottom), "height {height}");
        }
    }
}
