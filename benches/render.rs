//! Console benchmark: frame render time (ratatui TestBackend, the real view code) with 1,000
//! alerts and 50,000 stream lines on the selected alert, at 80×24, 120×40 and 250×70; then the
//! idle CPU of the real binary's console (`--demo` in tmux) over 10 s once its triages settled.
//! Then the start-up: the console's first frame, and headless the first poll's first alert.
//! Targets: under 2 ms a frame (p99 too); idle CPU ≈ 0 %; start-up under half a second.
//!
//! Run: cargo bench --bench render

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::process::Command;
use std::time::{Duration, Instant};

use oncall_triage::console::app::App;
use oncall_triage::console::view::{self, Theme};
use oncall_triage::domain::Ts;
use oncall_triage::domain::{AlertKind, Severity};
use oncall_triage::protocol::{Event, SkipReason};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

fn loaded() -> App {
    let mut app = App::new("playbook", false);
    let base = 1_764_370_060_000_000i64;
    app.wall = Ts::from_micros(base + 2_000 * 1_000_000);
    for n in 0..1_000i64 {
        let ts = Ts::from_micros(base + n * 1_000_000);
        app.apply(Event::AlertReceived {
            alert_ts: ts,
            execution_id: format!("4c5d6e7f-d166-11f0-9012-{n:012}"),
            severity: Some([Severity::Critical, Severity::Major, Severity::Minor, Severity::Warning][n as usize % 4]),
            cluster: Some(format!("cluster-{n}-prod")),
            kinds: vec![AlertKind::ConductorErrorLogsCountExceededThreshold],
        });
    }
    let selected = Ts::from_micros(base + 999 * 1_000_000);
    app.apply(Event::TriageStarted { alert_ts: selected, execution_id: "x".into(), reasoner: "playbook".into() });
    // 50,000 lines: tool calls (two lines each once done) and model text.
    for i in 0..12_500 {
        let call_id = format!("call-{i}");
        app.apply(Event::ToolStarted {
            alert_ts: selected,
            call_id: call_id.clone(),
            tool: "pull_pod_logs".into(),
            args: json!({"podName": format!("orkes-conductor-deployment-{i}")}),
        });
        app.apply(Event::ToolFinished {
            alert_ts: selected,
            call_id,
            ok: i % 7 != 0,
            summary: format!("{i} log lines"),
        });
        app.apply(Event::ReasonerDelta { alert_ts: selected, text: format!("reasoning line {i}\nmore text {i}\n") });
    }
    app.apply(Event::HypothesisReady {
        alert_ts: selected,
        execution_id: "x".into(),
        text: "*Issue*: x\n*Findings*:\n• y\n*Likely root cause*: z\n*Suggested next step*: w".into(),
        root_cause: "z".into(),
        refire_of: None,
    });
    app.apply(Event::PostQueued { alert_ts: selected, reason: SkipReason::QueuedForApproval });
    app
}

fn frames(app: &mut App, width: u16, height: u16) -> (f64, f64) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut times = Vec::new();
    for i in 0..300 {
        app.now_ms = i * 100;
        let started = Instant::now();
        let mut drawn = None;
        terminal.draw(|f| drawn = Some(view::draw(f, app, Theme { color: true }))).unwrap();
        if let Some(drawn) = drawn {
            app.drawn(drawn);
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (report::quantile(&times, 0.5), report::quantile(&times, 0.99))
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The real console in tmux (`--demo`): the time to its first frame (ms), then its CPU (%) over
/// 10 s once its triages settled.
fn console_in_tmux() -> Result<(f64, f64), String> {
    let bin = report::release_binary();
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let socket = format!("oncall-bench-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(["-L", &socket]).args(args).output();
    let command = format!(
        "env ONCALL_STATE_FILE={0}/state.json ONCALL_LOG_DIR={0}/logs {1} --demo",
        home.path().display(),
        bin.display()
    );
    let launched = Instant::now();
    tmux(&["new-session", "-d", "-s", "bench", "-x", "160", "-y", "45", &command]).map_err(|e| e.to_string())?;
    let screen =
        || tmux(&["capture-pane", "-p", "-t", "bench"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    while !screen().is_ok_and(|s| s.contains("Alerts")) {
        if launched.elapsed() > Duration::from_secs(20) {
            return Err("no first frame within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let first_frame = launched.elapsed().as_secs_f64() * 1000.0;
    let pid = tmux(&["list-panes", "-t", "bench", "-F", "#{pane_pid}"]).map_err(|e| e.to_string())?;
    let shell = String::from_utf8_lossy(&pid.stdout).trim().to_string();
    // The pane runs `env … oncall-triage`; env execs, so the pane pid is the binary's.
    std::thread::sleep(Duration::from_secs(20));
    let screen =
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "bench"]).map_err(|e| e.to_string())?.stdout)
            .into_owned();
    let before = cpu_ticks(&shell).ok_or("the console is not running")?;
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let after = cpu_ticks(&shell).ok_or("the console stopped")?;
    let _ = tmux(&["kill-server"]);
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let busy = (after - before) as f64 / ticks_per_sec;
    if !screen.contains("awaiting") {
        eprintln!("note: the demo had not settled:\n{screen}");
    }
    Ok((first_frame, busy / started.elapsed().as_secs_f64() * 100.0))
}

/// The headless demo's time from its start to its first poll's first alert (ms).
fn first_poll() -> f64 {
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(report::release_binary_unbuilt())
        .args(["--demo", "--no-tui", "--once", "--json", "--post", "never"])
        .env("ONCALL_STATE_FILE", home.path().join("state.json"))
        .env("ONCALL_LOG_DIR", home.path().join("logs"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.contains("alert.received"), "{first}");
    took
}

fn main() {
    let mut app = loaded();
    let lines = app.current().map(|a| a.stream_height(app.stream_width)).unwrap_or(0);
    println!("render: {} alerts, {lines} stream lines on the selected alert", app.alerts.len());
    for (w, h) in [(80, 24), (120, 40), (250, 70)] {
        let (median, p99) = frames(&mut app, w, h);
        report::row(&format!("console: frame at {w}×{h}, median"), format!("{median:.2}"), "ms", "< 2 ms");
        report::row(&format!("console: frame at {w}×{h}, p99"), format!("{p99:.2}"), "ms", "< 2 ms");
    }
    // Scrolled to the middle of the stream: the window is built from there, not from the top.
    app.scroll = Some(lines / 2);
    let (_, p99) = frames(&mut app, 120, 40);
    report::row("console: frame at 120×40 scrolled mid-stream, p99", format!("{p99:.2}"), "ms", "< 2 ms");
    match console_in_tmux() {
        Ok((first_frame, cpu)) => {
            report::row("start-up: to the console's first frame (tmux)", format!("{first_frame:.0}"), "ms", "< 500 ms");
            report::row("console: idle CPU over 10 s", format!("{cpu:.2}"), "%", "≈ 0 %");
        }
        Err(e) => println!("console in tmux: not measured: {e}"),
    }
    report::row("start-up: headless to the first poll's first alert", format!("{:.0}", first_poll()), "ms", "< 500 ms");
}
