//! The console drawn on ratatui's TestBackend (insta snapshots, NO_COLOR theme so the text is
//! the whole picture) in every state an operator meets, and its key handling: selection,
//! filter, follow mode, expanding a call, approve, edit, reject, re-triage, approve-all
//! re-fires, quit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use oncall_triage::console::app::{App, Effect, Focus, Item, Mode, RowState};
use oncall_triage::console::keymap::{self, BINDINGS};
use oncall_triage::console::view::{self, Theme};
use oncall_triage::domain::Ts;
use oncall_triage::domain::{AlertKind, Severity};
use oncall_triage::protocol::{Event, Op, SkipReason};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

const T0: i64 = 1_764_370_060_000_000;

fn ts(n: i64) -> Ts {
    Ts::from_micros(T0 + n * 60_000_000)
}

const DRAFT: &str = "*Issue*: [MAJOR] nwtraders-prod (Northwind Traders, prod): Conductor Error Logs Count is 1843, above the threshold of 500\n*Findings*:\n• orkes-conductor-deployment-m2qw6mn7q-w4dlj log ×50: `io.lettuce.core.RedisCommandTimeoutException: Command timed out after 1 minute(s)`\n*Likely root cause*: Redis queue pops time out.\n*Suggested next step*: Check the Redis node's load.";

fn received(app: &mut App, n: i64, severity: Severity, cluster: &str, kind: AlertKind) {
    app.apply(Event::AlertReceived {
        alert_ts: ts(n),
        execution_id: format!("4c5d6e7f-d166-11f0-9012-4e5f6a7b8c6{n}"),
        severity: Some(severity),
        cluster: Some(cluster.into()),
        kinds: vec![kind],
    });
}

/// Three alerts; the newest is mid-investigation with one call done and one running.
fn streaming() -> App {
    let mut app = App::new("playbook", false);
    app.wall = ts(5);
    received(&mut app, 0, Severity::Critical, "wwi-prod", AlertKind::ConductorHealthy);
    received(&mut app, 1, Severity::Warning, "trey-prod", AlertKind::ResponseTime);
    received(&mut app, 3, Severity::Major, "nwtraders-prod", AlertKind::ConductorErrorLogsCountExceededThreshold);
    let a = ts(3);
    app.apply(Event::TriageStarted { alert_ts: a, execution_id: "x".into(), reasoner: "playbook".into() });
    app.apply(Event::ToolStarted {
        alert_ts: a,
        call_id: "call-1".into(),
        tool: "get_pods_data".into(),
        args: json!({}),
    });
    app.apply(Event::DispatchStarted {
        alert_ts: a,
        call_id: "call-1".into(),
        workflow: "get_pods_data".into(),
        workflow_id: "6b1f0c2e-aaaa-bbbb-cccc-000000000001".into(),
    });
    app.now_ms = 820;
    app.apply(Event::DispatchFinished {
        alert_ts: a,
        call_id: "call-1".into(),
        workflow_id: "6b1f0c2e-aaaa-bbbb-cccc-000000000001".into(),
        status: oncall_triage::domain::CommandStatus::Completed,
        elapsed_ms: 820,
        reason: None,
    });
    app.apply(Event::ToolOutput {
        alert_ts: a,
        call_id: "call-1".into(),
        condensed: "6 pods, all Running and ready\norkes-conductor-deployment-m2qw6mn7q-w4dlj Running 1/1\norkes-conductor-deployment-b7x2k9q4p-zz8rt Running 1/1".into(),
        raw: json!([]),
    });
    app.apply(Event::ToolFinished {
        alert_ts: a,
        call_id: "call-1".into(),
        ok: true,
        summary: "6 pods, all Running and ready".into(),
    });
    app.apply(Event::ToolStarted {
        alert_ts: a,
        call_id: "call-2".into(),
        tool: "pull_pod_logs".into(),
        args: json!({"podName": "orkes-conductor-deployment-m2qw6mn7q-w4dlj", "lines": 1000}),
    });
    app.now_ms = 1_900;
    app.apply(Event::PollFinished { new_alerts: 3, next_poll_in_ms: Some(30_000) });
    app.now_ms = 2_400;
    app
}

/// The streaming alert finished: its draft awaits approval.
fn awaiting() -> App {
    let mut app = streaming();
    let a = ts(3);
    app.apply(Event::ToolOutput {
        alert_ts: a,
        call_id: "call-2".into(),
        condensed: "150 log lines".into(),
        raw: json!("log"),
    });
    app.apply(Event::ToolFinished {
        alert_ts: a,
        call_id: "call-2".into(),
        ok: true,
        summary: "150 log lines, 2 distinct messages".into(),
    });
    app.apply(Event::HypothesisReady {
        alert_ts: a,
        execution_id: "x".into(),
        text: DRAFT.into(),
        root_cause: "Redis queue pops time out.".into(),
        refire_of: None,
    });
    app.apply(Event::PostQueued { alert_ts: a, reason: SkipReason::QueuedForApproval });
    // The console draws before it reads a key: the draft (short) is then on screen whole.
    draw(&mut app, 120, 30);
    app
}

fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut drawn = None;
    terminal.draw(|f| drawn = Some(view::draw(f, app, Theme { color: false }))).unwrap();
    app.drawn(drawn.unwrap());
    format!("{}", terminal.backend())
}

fn key(app: &mut App, code: KeyCode) -> Option<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(app: &mut App, c: char) -> Option<Effect> {
    app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

#[test]
fn snapshot_empty() {
    let mut app = App::new("playbook", false);
    insta::assert_snapshot!(draw(&mut app, 100, 20));
}

#[test]
fn snapshot_streaming() {
    insta::assert_snapshot!(draw(&mut streaming(), 120, 24));
}

#[test]
fn snapshot_expanded_call() {
    let mut app = streaming();
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Enter);
    insta::assert_snapshot!(draw(&mut app, 120, 24));
}

#[test]
fn snapshot_awaiting_approval() {
    insta::assert_snapshot!(draw(&mut awaiting(), 120, 30));
}

#[test]
fn snapshot_editing() {
    let mut app = awaiting();
    key(&mut app, KeyCode::Char('e'));
    typed(&mut app, "Checked by on-call. ");
    insta::assert_snapshot!(draw(&mut app, 120, 30));
}

#[test]
fn snapshot_rejecting_then_rejected() {
    let mut app = awaiting();
    key(&mut app, KeyCode::Char('r'));
    typed(&mut app, "known issue");
    insta::assert_snapshot!("rejecting", draw(&mut app, 120, 30));
    let effect = key(&mut app, KeyCode::Enter);
    assert_eq!(effect, Some(Effect::Op(Op::Reject { alert_ts: ts(3), reason: Some("known issue".into()) })));
    app.apply(Event::PostSkipped { alert_ts: ts(3), reason: SkipReason::Rejected });
    let screen = draw(&mut app, 120, 30);
    assert_eq!(screen.matches("known issue").count(), 2, "the reason is on the row and over the pane:\n{screen}");
    insta::assert_snapshot!("rejected", screen);
}

#[test]
fn snapshot_error() {
    let mut app = streaming();
    app.apply(Event::ServiceError {
        service: oncall_triage::protocol::Service::Slack,
        error: "poll failed: Slack API: ratelimited (retry after 30 s)".into(),
    });
    app.apply(Event::TriageFailed {
        alert_ts: ts(0),
        error: "the failing execution could not be read: Conductor answered 500".into(),
        cause: Some(oncall_triage::protocol::Service::Conductor),
    });
    insta::assert_snapshot!(draw(&mut app, 120, 24));
}

#[test]
fn snapshot_help() {
    let mut app = streaming();
    key(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(draw(&mut app, 100, 24));
}

#[test]
fn snapshot_80x24_awaiting() {
    insta::assert_snapshot!(draw(&mut awaiting(), 80, 24));
}

#[test]
fn snapshot_transcript() {
    let mut app = awaiting();
    ctrl(&mut app, 't');
    insta::assert_snapshot!(draw(&mut app, 100, 24));
}

#[test]
fn approve_posts_the_draft_once() {
    let mut app = awaiting();
    assert_eq!(app.current().unwrap().ts, ts(3), "the alert awaiting a decision is in view");
    let effect = key(&mut app, KeyCode::Char('a'));
    assert_eq!(effect, Some(Effect::Op(Op::Approve { alert_ts: ts(3), text: DRAFT.into() })));
    assert_eq!(app.current().unwrap().state, RowState::Posting);
    assert_eq!(key(&mut app, KeyCode::Char('a')), None, "a second press posts nothing");
    app.apply(Event::PostSent { alert_ts: ts(3), channel: "C".into(), thread_ts: ts(3), message_ts: ts(4) });
    assert_eq!(app.current().unwrap().state, RowState::Posted);
}

#[test]
fn nothing_is_approved_before_a_draft_exists() {
    let mut app = streaming();
    assert_eq!(key(&mut app, KeyCode::Char('a')), None);
    assert_eq!(key(&mut app, KeyCode::Char('e')), None);
    assert!(matches!(app.mode, Mode::Normal));
}

#[test]
fn edit_then_ctrl_s_posts_the_edited_text_and_esc_cancels() {
    let mut app = awaiting();
    key(&mut app, KeyCode::Char('e'));
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.current().unwrap().state, RowState::AwaitingApproval);
    key(&mut app, KeyCode::Char('e'));
    typed(&mut app, "Checked by on-call. ");
    let effect = ctrl(&mut app, 's');
    assert_eq!(effect, Some(Effect::Op(Op::Approve { alert_ts: ts(3), text: format!("Checked by on-call. {DRAFT}") })));
}

#[test]
fn a_failed_post_leaves_the_draft_waiting() {
    let mut app = awaiting();
    key(&mut app, KeyCode::Char('a'));
    app.apply(Event::TriageFailed {
        alert_ts: ts(3),
        error: "posting the reply failed: channel_not_found".into(),
        cause: Some(oncall_triage::protocol::Service::Slack),
    });
    assert_eq!(app.current().unwrap().state, RowState::AwaitingApproval);
    assert!(app.error.as_deref().unwrap().contains("channel_not_found"));
}

#[test]
fn selection_filter_and_the_operator_keeps_the_selection() {
    let mut app = streaming();
    // By urgency: the running triage, then the queue by severity (CRIT before WARN).
    let order: Vec<Ts> = app.rows().map(|a| a.ts).collect();
    assert_eq!(order, vec![ts(3), ts(0), ts(1)]);
    assert_eq!(app.current().unwrap().ts, ts(3));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.current().unwrap().ts, ts(0));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Down);
    assert_eq!(app.current().unwrap().ts, ts(1), "stops at the end");
    // `s` sorts newest first instead.
    key(&mut app, KeyCode::Char('s'));
    let order: Vec<Ts> = app.rows().map(|a| a.ts).collect();
    assert_eq!(order, vec![ts(3), ts(1), ts(0)]);
    key(&mut app, KeyCode::Char('s'));
    // A new alert does not move a selection the operator made.
    received(&mut app, 4, Severity::Minor, "coho-prod", AlertKind::AuthStale);
    assert_eq!(app.current().unwrap().ts, ts(1));
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "trey");
    key(&mut app, KeyCode::Enter);
    let shown: Vec<Ts> = app.rows().map(|a| a.ts).collect();
    assert_eq!(shown, vec![ts(1)]);
    assert_eq!(app.current().unwrap().ts, ts(1), "the selection moves into what is shown");
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.rows().count(), 4);
}

#[test]
fn the_stream_follows_until_scrolled_up_and_end_follows_again() {
    let mut app = streaming();
    for i in 0..100 {
        app.apply(Event::ReasonerDelta { alert_ts: ts(3), text: format!("line {i}\n") });
    }
    draw(&mut app, 120, 24);
    assert_eq!(app.scroll, None);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Focus::Stream);
    key(&mut app, KeyCode::PageUp);
    let scrolled = app.scroll.expect("scrolled up");
    app.apply(Event::ReasonerDelta { alert_ts: ts(3), text: "more\n".into() });
    assert_eq!(app.scroll, Some(scrolled), "new lines do not move a scrolled view");
    key(&mut app, KeyCode::End);
    assert_eq!(app.scroll, None);
}

#[test]
fn retriage_and_approve_all_refires() {
    let mut app = awaiting();
    assert_eq!(key(&mut app, KeyCode::Char('t')), Some(Effect::Op(Op::Retriage { alert_ts: ts(3) })));
    assert_eq!(key(&mut app, KeyCode::Char('t')), None, "not while it runs");
    // Two re-fires of the first alert wait; `A` approves them (and only them).
    received(&mut app, 6, Severity::Critical, "wwi-prod", AlertKind::ConductorHealthy);
    received(&mut app, 7, Severity::Critical, "wwi-prod", AlertKind::ConductorHealthy);
    for n in [6, 7] {
        app.apply(Event::HypothesisReady {
            alert_ts: ts(n),
            execution_id: "y".into(),
            text: "re-fire".into(),
            root_cause: "r".into(),
            refire_of: Some(ts(0)),
        });
        app.apply(Event::PostQueued { alert_ts: ts(n), reason: SkipReason::QueuedForApproval });
    }
    assert_eq!(app.alerts[&ts(0)].refires, 2);
    assert_eq!(key(&mut app, KeyCode::Char('A')), Some(Effect::Op(Op::ApproveAllRefires)));
    assert_eq!(app.alerts[&ts(6)].state, RowState::Posting);
    assert_eq!(key(&mut app, KeyCode::Char('A')), None, "nothing left to approve");
}

#[test]
fn quit_asks_while_a_triage_runs() {
    let mut app = streaming();
    assert_eq!(key(&mut app, KeyCode::Char('q')), None);
    assert!(matches!(app.mode, Mode::ConfirmQuit));
    assert_eq!(key(&mut app, KeyCode::Char('n')), None);
    assert!(matches!(app.mode, Mode::Normal));
    key(&mut app, KeyCode::Char('q'));
    assert_eq!(key(&mut app, KeyCode::Char('y')), Some(Effect::Quit));
    let mut idle = App::new("playbook", false);
    assert_eq!(key(&mut idle, KeyCode::Char('q')), Some(Effect::Quit));
}

/// What an operator can see change: the mode, the selection, focus, scroll, cursor, the filter,
/// every row's state and every expanded call.
fn seen(app: &App) -> String {
    let rows: Vec<String> = app
        .alerts
        .values()
        .map(|a| {
            let expanded = a.stream.iter().filter(|i| matches!(i, Item::Call(c) if c.expanded)).count();
            format!("{:?}/{expanded}", a.state)
        })
        .collect();
    let mode = match &app.mode {
        Mode::Normal => "normal".to_string(),
        Mode::Filter => "filter".to_string(),
        Mode::Edit(_) => "edit".to_string(),
        Mode::Reject(r) => format!("reject {r}"),
        Mode::Help { scroll } => format!("help {scroll}"),
        Mode::Transcript { scroll } => format!("transcript {scroll}"),
        Mode::ConfirmQuit => "confirm quit".to_string(),
        Mode::ConfirmDiscard(_) => "confirm discard".to_string(),
    };
    format!(
        "{mode} {:?} {:?} {:?} {:?} {} {rows:?} draft {} zoom {} sort {:?}",
        app.selected, app.focus, app.scroll, app.cursor, app.filter, app.draft_scroll, app.zoom, app.sort
    )
}

/// An app where every action has something to act on: the middle alert of three awaits a
/// decision, a re-fire awaits too, and the stream is taller than the page.
fn busy(focus: Focus) -> App {
    let mut app = awaiting();
    received(&mut app, 4, Severity::Major, "nwtraders-prod", AlertKind::ConductorErrorLogsCountExceededThreshold);
    app.apply(Event::HypothesisReady {
        alert_ts: ts(4),
        execution_id: "y".into(),
        text: "re-fire".into(),
        root_cause: "r".into(),
        refire_of: Some(ts(3)),
    });
    app.apply(Event::PostQueued { alert_ts: ts(4), reason: SkipReason::QueuedForApproval });
    app.selected = Some(ts(3));
    app.page = 2;
    app.focus = focus;
    app.scroll = Some(2);
    app.cursor = None;
    // The draft pane shows 2 of its 10 lines, from the second.
    (app.draft_of, app.draft_rows, app.draft_scroll) = (Some(ts(3)), (2, 10), 1);
    app
}

/// The words inside the box titled `title` on a drawn screen, in reading order.
fn boxed_words(screen: &str, title: &str) -> String {
    let rows: Vec<Vec<char>> = screen.lines().map(|l| l.trim_matches('"').chars().collect()).collect();
    let top = rows.iter().position(|r| r.iter().collect::<String>().contains(title)).expect("the box is drawn");
    let title: Vec<char> = title.chars().collect();
    let title_at = rows[top].windows(title.len()).position(|w| w == title.as_slice()).expect("the title");
    let left = rows[top][..title_at].iter().rposition(|x| *x == '┌').expect("the box's corner");
    let right = left + rows[top][left..].iter().position(|x| *x == '┐').expect("the box's other corner");
    let mut words = Vec::new();
    for row in &rows[top + 1..] {
        if row[left] == '└' {
            break;
        }
        words.extend(row[left + 1..right].iter().collect::<String>().split_whitespace().map(str::to_string));
    }
    words.join(" ")
}

#[test]
fn every_key_of_the_help_is_handled() {
    // The help is written from the keymap, row by row, and nothing of it is cut at any size.
    // Where it does not fit, it scrolls line by line: every row is whole in some window.
    for (width, height) in [(140, 40), (80, 24), (60, 30)] {
        let mut app = awaiting();
        key(&mut app, KeyCode::Char('?'));
        let mut windows = Vec::new();
        for _ in 0..60 {
            windows.push(boxed_words(&draw(&mut app, width, height), " Keys "));
            key(&mut app, KeyCode::Char('j'));
        }
        for b in BINDINGS {
            let row = format!("{} {}", b.label(), b.what.split_whitespace().collect::<Vec<_>>().join(" "));
            assert!(windows.iter().any(|w| w.contains(&row)), "at {width}×{height} the help lacks {row}: {windows:?}");
        }
    }
    let mut seen_keys = Vec::new();
    for b in BINDINGS {
        for (k, action) in b.keys {
            assert!(!seen_keys.contains(k), "{} is bound twice", k.name());
            seen_keys.push(*k);
            let modifiers = if k.ctrl { KeyModifiers::CONTROL } else { KeyModifiers::NONE };
            let event = KeyEvent::new(k.code, modifiers);
            assert_eq!(keymap::action(event), Some(*action), "{}", k.name());
            // Each key does something the operator can see (in one pane or the other).
            let changed = [Focus::Alerts, Focus::Stream].into_iter().any(|focus| {
                let mut app = busy(focus);
                let before = seen(&app);
                app.on_key(event).is_some() || seen(&app) != before
            });
            assert!(changed, "{} does nothing", k.name());
        }
    }
    // A key the help does not list does nothing.
    let mut app = busy(Focus::Alerts);
    let before = seen(&app);
    assert_eq!(key(&mut app, KeyCode::Char('x')), None);
    assert_eq!(seen(&app), before);
}

#[test]
fn a_recovery_notice_shows_on_the_row_and_over_the_draft_before_approval() {
    let mut app = awaiting();
    // The notice came at 07:20:00 UTC.
    let notice = Ts::parse("1764400800.000000").unwrap();
    assert!(app.apply(Event::AlertResolved { alert_ts: ts(3), resolved_ts: notice }));
    let screen = draw(&mut app, 140, 40);
    assert!(screen.contains("resolved since 07:20 UTC"), "{screen}");
    assert!(screen.contains("resolved 07:20 UTC"), "{screen}");
}

/// A draft of 30 findings, longer than any pane at 80×24 or 120×30, whose last line says so.
fn long_draft() -> (App, String) {
    let mut app = streaming();
    let findings: Vec<String> = (1..=30)
        .map(|i| {
            format!(
                "• finding {i}: orkes-conductor-deployment-m2qw6mn7q-w4dlj logged a line that wraps at narrow widths"
            )
        })
        .collect();
    let text = format!(
        "*Issue*: [MAJOR] nwtraders-prod: Conductor Error Logs Count is 1843\n*Findings*:\n{}\n*Likely root cause*: Redis queue pops time out.\n*Suggested next step*: THE-LAST-LINE of the draft.",
        findings.join("\n")
    );
    app.apply(Event::HypothesisReady {
        alert_ts: ts(3),
        execution_id: "x".into(),
        text: text.clone(),
        root_cause: "Redis".into(),
        refire_of: None,
    });
    app.apply(Event::PostQueued { alert_ts: ts(3), reason: SkipReason::QueuedForApproval });
    (app, text)
}

#[test]
fn a_long_draft_is_marked_scrolled_and_approved_only_once_its_end_was_on_screen() {
    for (width, height) in [(80, 24), (120, 30)] {
        let (mut app, text) = long_draft();
        let screen = draw(&mut app, width, height);
        assert!(!screen.contains("THE-LAST-LINE"), "{width}x{height}: too long to show whole:\n{screen}");
        assert!(screen.contains("more ↓"), "{width}x{height}: the pane says there is more:\n{screen}");
        // `a` refuses, and says how to read the rest.
        assert_eq!(key(&mut app, KeyCode::Char('a')), None, "{width}x{height}");
        let screen = draw(&mut app, width, height);
        assert!(screen.contains("read them before a posts"), "{width}x{height}:\n{screen}");
        // Space pages through the draft to its end; then `a` posts it.
        let mut pages = 0;
        while !draw(&mut app, width, height).contains("THE-LAST-LINE") {
            key(&mut app, KeyCode::Char(' '));
            pages += 1;
            assert!(pages < 40, "{width}x{height}: Space never reached the end");
        }
        let screen = draw(&mut app, width, height);
        assert!(!screen.contains("more ↓"), "{width}x{height}:\n{screen}");
        let effect = key(&mut app, KeyCode::Char('a'));
        assert_eq!(effect, Some(Effect::Op(Op::Approve { alert_ts: ts(3), text: text.clone() })), "{width}x{height}");
    }
}

#[test]
fn zoom_gives_the_draft_the_whole_pane() {
    let (mut app, _) = long_draft();
    let before = draw(&mut app, 120, 40).matches("finding ").count();
    key(&mut app, KeyCode::Char('z'));
    let zoomed = draw(&mut app, 120, 40);
    assert!(zoomed.matches("finding ").count() > before, "{zoomed}");
    insta::assert_snapshot!(zoomed);
}

#[test]
fn snapshot_long_draft_80x24() {
    let (mut app, _) = long_draft();
    insta::assert_snapshot!(draw(&mut app, 80, 24));
}

#[test]
fn a_command_nobody_picked_up_says_it_waits_for_the_agent() {
    let mut app = streaming();
    app.apply(Event::ToolStarted {
        alert_ts: ts(3),
        call_id: "call-9".into(),
        tool: "get_pod_events".into(),
        args: json!({}),
    });
    app.apply(Event::DispatchStarted {
        alert_ts: ts(3),
        call_id: "call-9".into(),
        workflow: "get_pod_events".into(),
        workflow_id: "7c2f0c2e-aaaa-bbbb-cccc-000000000009".into(),
    });
    app.apply(Event::DispatchClaimed { alert_ts: ts(3), call_id: "call-9".into(), claimed: false });
    app.now_ms += 17_400;
    let screen = draw(&mut app, 140, 40);
    assert!(screen.contains("waiting for the in-cluster agent… 17s"), "{screen}");
    app.apply(Event::DispatchClaimed { alert_ts: ts(3), call_id: "call-9".into(), claimed: true });
    let screen = draw(&mut app, 140, 40);
    assert!(!screen.contains("waiting for the in-cluster agent") && screen.contains("wf 7c2f0c2e RUNNING"), "{screen}");
}

#[test]
fn quit_asks_while_drafts_wait_and_says_where_they_stay() {
    let mut app = awaiting();
    app.apply(Event::HypothesisReady {
        alert_ts: ts(1),
        execution_id: "t".into(),
        text: "x".into(),
        root_cause: "r".into(),
        refire_of: None,
    });
    assert_eq!(key(&mut app, KeyCode::Char('q')), None, "a draft waits: asked first");
    let screen = draw(&mut app, 120, 30);
    assert!(
        screen.contains("draft(s) wait for approval") && screen.contains("come back at the next start"),
        "{screen}"
    );
}

#[test]
fn a_burst_of_drafts_rings_one_bell() {
    let mut app = streaming();
    let mut rings = 0;
    for (i, n) in [(0u64, 0i64), (1_500, 1), (3_000, 3), (4_200, 0)] {
        app.now_ms = i;
        app.apply(Event::PostQueued { alert_ts: ts(n), reason: SkipReason::QueuedForApproval });
        rings += usize::from(std::mem::take(&mut app.ring));
    }
    assert_eq!(rings, 1, "one bell for drafts seconds apart");
    app.now_ms = 20_000;
    app.apply(Event::PostQueued { alert_ts: ts(1), reason: SkipReason::QueuedForApproval });
    assert!(app.ring, "a draft after a quiet spell rings again");
}

#[test]
fn esc_on_an_edited_draft_asks_before_the_edit_is_lost() {
    let mut app = awaiting();
    key(&mut app, KeyCode::Char('e'));
    typed(&mut app, "Checked by on-call. ");
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.mode, Mode::ConfirmDiscard(_)), "asked first");
    assert!(draw(&mut app, 120, 30).contains("Discard your edit"));
    key(&mut app, KeyCode::Char('n'));
    let Mode::Edit(area) = &app.mode else { panic!("back to the edit") };
    assert!(area.lines().join("\n").starts_with("Checked by on-call. "), "the edit is kept");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('y'));
    assert!(matches!(app.mode, Mode::Normal));
    assert_eq!(app.current().unwrap().draft.as_deref(), Some(DRAFT), "discarded: the draft is as it was");
}

#[test]
fn kind_names_are_abbreviated_by_a_table_never_cut() {
    let mut app = awaiting();
    let screen = draw(&mut app, 80, 24);
    for short in ["error logs", "slow API", "conductor down"] {
        assert!(screen.contains(short), "{short}: {screen}");
    }
    assert!(!screen.contains("CONDUCTOR_ERROR_LOGS_CO") && !screen.contains("RESPONSE_TI"), "{screen}");
    // The filter finds an alert by either name.
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "slow api");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.rows().count(), 1);
}

/// Every row of a drawn screen, without the backend's quotes.
fn rows(screen: &str) -> Vec<String> {
    screen.lines().map(|l| l.trim_matches('"').trim_end().to_string()).collect()
}

#[test]
fn a_long_error_leaves_the_counts_on_the_status_bar_and_is_marked_cut() {
    let mut app = awaiting();
    app.apply(Event::ServiceError {
        service: oncall_triage::protocol::Service::Slack,
        error: format!("poll failed: {} END-OF-ERROR", "Slack answered something long ".repeat(8)),
    });
    let screen = draw(&mut app, 80, 24);
    let bar = rows(&screen).pop().unwrap();
    assert!(bar.contains("1 awaiting"), "the counts stay:\n{bar}");
    assert!(bar.contains("? help"), "{bar}");
    assert!(bar.contains('…') && !bar.contains("END-OF-ERROR"), "the error is cut with a marker:\n{bar}");
    // The whole error is one key away: the help says where errors are (the alert's stream), and
    // at a width that fits it, it shows whole.
    let wide = rows(&draw(&mut app, 400, 24)).pop().unwrap();
    assert!(wide.contains("END-OF-ERROR") && !wide.contains('…'), "{wide}");
}

#[test]
fn the_countdown_says_polling_once_it_is_due_not_poll_in_0s() {
    let mut app = awaiting();
    app.now_ms = 40_000; // the poll was due at 31.9 s
    let bar = rows(&draw(&mut app, 120, 24)).pop().unwrap();
    assert!(bar.contains("polling…") && !bar.contains("poll in 0s"), "{bar}");
}

#[test]
fn stream_lines_wider_than_the_pane_end_in_a_marker_and_expanded_output_wraps() {
    let mut app = streaming();
    let a = ts(3);
    let sql =
        format!("SELECT workflow_id, status FROM workflow WHERE {} LIMIT 10 END-OF-ARGS", "x = 1 AND ".repeat(20));
    app.apply(Event::ToolStarted {
        alert_ts: a,
        call_id: "call-3".into(),
        tool: "run_sql_query".into(),
        args: json!({ "query": sql }),
    });
    let log = format!(
        "2025-11-29 ERROR {} END-OF-LOG-LINE",
        "com.netflix.conductor.core.exception.TransientException ".repeat(6)
    );
    app.apply(Event::ToolOutput {
        alert_ts: a,
        call_id: "call-3".into(),
        condensed: format!("{log}\nsecond line"),
        raw: json!(null),
    });
    app.apply(Event::ToolFinished { alert_ts: a, call_id: "call-3".into(), ok: true, summary: "1 row".into() });
    let screen = draw(&mut app, 100, 30);
    let call = rows(&screen).into_iter().find(|r| r.contains("run_sql_query")).unwrap();
    assert!(call.ends_with("…") || call.ends_with("…│"), "cut with a marker:\n{call}");
    // Expanded, the output is wrapped in the pane: every word of the long line is on screen.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Enter);
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("END-OF-LOG-LINE") && screen.contains("second line"), "{screen}");
    assert_eq!(screen.matches("com.netflix.conductor.core.exception").count(), 6, "{screen}");
    // The stream's height counts the wrapped lines: following the end shows the last line.
    app.apply(Event::ReasonerDelta { alert_ts: a, text: "\nTHE-STREAM-END".into() });
    assert!(draw(&mut app, 100, 30).contains("THE-STREAM-END"));
}

#[test]
fn the_transcript_wraps_its_lines_and_marks_what_is_below() {
    let mut app = awaiting();
    let a = ts(3);
    let log = format!("ERROR {} END-OF-LOG-LINE", "org.springframework.dao.QueryTimeoutException ".repeat(5));
    app.apply(Event::ToolOutput { alert_ts: a, call_id: "call-1".into(), condensed: log, raw: json!(null) });
    ctrl(&mut app, 't');
    let mut screen = draw(&mut app, 80, 24);
    assert!(screen.contains("more"), "a marker says there is more below:\n{screen}");
    let mut seen = screen.clone();
    for _ in 0..60 {
        key(&mut app, KeyCode::Char('j'));
        screen = draw(&mut app, 80, 24);
        seen.push_str(&screen);
    }
    assert!(seen.contains("END-OF-LOG-LINE"), "{seen}");
    assert!(seen.contains("Check the Redis node's load."), "the reply's end is reached:\n{screen}");
    assert!(!screen.contains("more"), "at the end, no marker:\n{screen}");
}

#[test]
fn a_draft_after_a_post_is_labelled_a_follow_up() {
    let mut app = awaiting();
    let a = ts(3);
    key(&mut app, KeyCode::Char('a'));
    app.apply(Event::PostSent { alert_ts: a, channel: "C1".into(), thread_ts: a, message_ts: ts(9) });
    app.apply(Event::TriageStarted { alert_ts: a, execution_id: "x".into(), reasoner: "playbook".into() });
    app.apply(Event::HypothesisReady {
        alert_ts: a,
        execution_id: "x".into(),
        text: DRAFT.into(),
        root_cause: "r".into(),
        refire_of: None,
    });
    app.apply(Event::PostQueued { alert_ts: a, reason: SkipReason::QueuedForApproval });
    let screen = draw(&mut app, 120, 30);
    let row = rows(&screen).into_iter().find(|r| r.contains("awaiting")).unwrap();
    assert!(row.contains("follow-up"), "the row says it:\n{screen}");
    assert!(screen.contains("Follow-up draft"), "the pane says approving posts a follow-up:\n{screen}");
}

#[test]
fn an_alert_waiting_for_a_service_is_degraded_not_failed() {
    let mut app = streaming();
    app.apply(Event::TriageFailed {
        alert_ts: ts(3),
        error: "Conductor is unreachable; the alert stays pending and is tried again in 30s".into(),
        cause: Some(oncall_triage::protocol::Service::Conductor),
    });
    let screen = draw(&mut app, 120, 24);
    assert_eq!(app.alerts[&ts(3)].state, RowState::Degraded, "{screen}");
    assert!(screen.contains("degraded: conductor"), "{screen}");
    // Its own problem (no such execution) fails it.
    app.apply(Event::TriageFailed { alert_ts: ts(1), error: "no such execution".into(), cause: None });
    assert_eq!(app.alerts[&ts(1)].state, RowState::Failed);
}

#[test]
fn the_console_s_memory_is_bounded_without_dropping_what_needs_the_operator() {
    use oncall_triage::console::app::{MAX_ALERTS, MAX_STREAM};
    let mut app = awaiting();
    // Many settled alerts: the oldest leave the list; the draft awaiting a decision stays.
    for n in 100..(100 + MAX_ALERTS as i64 + 50) {
        received(&mut app, n, Severity::Minor, "c-prod", AlertKind::RedisHighUsage);
        app.apply(Event::PostSent { alert_ts: ts(n), channel: "C1".into(), thread_ts: ts(n), message_ts: ts(n) });
    }
    assert!(app.alerts.len() <= MAX_ALERTS + 1, "{}", app.alerts.len());
    assert_eq!(app.alerts[&ts(3)].state, RowState::AwaitingApproval, "the waiting draft stays");
    assert!(app.alerts.contains_key(&ts(100 + MAX_ALERTS as i64 + 49)), "the newest stays");
    // A runaway stream keeps its newest entries, and says the older ones went.
    for i in 0..(MAX_STREAM + 10) {
        app.apply(Event::ReasonerDelta { alert_ts: ts(3), text: format!("line {i}\n") });
    }
    let stream = &app.alerts[&ts(3)].stream;
    assert!(stream.len() <= MAX_STREAM, "{}", stream.len());
    assert!(matches!(&stream[0], Item::Note(n) if n.contains("the transcript has them")));
    assert!(matches!(stream.last(), Some(Item::Text(t)) if t.is_empty()));
    assert!(stream.iter().any(|i| matches!(i, Item::Text(t) if *t == format!("line {}", MAX_STREAM + 9))));
}

#[test]
fn a_wait_told_late_counts_from_when_the_command_was_asked_for() {
    // A synchronous run says its task is unclaimed only when its wait ends (here after 5 s).
    let mut app = streaming();
    app.apply(Event::ToolStarted {
        alert_ts: ts(3),
        call_id: "call-9".into(),
        tool: "get_pod_events".into(),
        args: json!({}),
    });
    app.now_ms += 5_000;
    app.apply(Event::DispatchStarted {
        alert_ts: ts(3),
        call_id: "call-9".into(),
        workflow: "get_pod_events".into(),
        workflow_id: "7c2f0c2e-aaaa-bbbb-cccc-000000000009".into(),
    });
    app.apply(Event::DispatchClaimed { alert_ts: ts(3), call_id: "call-9".into(), claimed: false });
    let screen = draw(&mut app, 140, 40);
    assert!(screen.contains("waiting for the in-cluster agent… 5s"), "{screen}");
}
