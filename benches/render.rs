//! Console benchmark: frame render time (ratatui TestBackend, the real view code) with 1,000
//! alerts and 50,000 stream lines on the selected alert, at 80×24, 120×40 and 250×70; then the
//! idle CPU of the real binary's console (`--demo` in tmux) over 10 s once its triages settled.
//! Targets (issue 6): under 2 ms a frame; idle CPU ≈ 0 %.
//!
//! Run: cargo bench --bench render

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

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
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn idle_cpu() -> Result<f64, String> {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/oncall-triage");
    let built = Command::new("cargo").args(["build", "--release", "--quiet"]).status().map_err(|e| e.to_string())?;
    if !built.success() {
        return Err("cargo build --release failed".into());
    }
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let socket = format!("oncall-bench-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(["-L", &socket]).args(args).output();
    let command = format!(
        "env ONCALL_STATE_FILE={0}/state.json ONCALL_LOG_DIR={0}/logs {1} --demo",
        home.path().display(),
        bin.display()
    );
    tmux(&["new-session", "-d", "-s", "bench", "-x", "160", "-y", "45", &command]).map_err(|e| e.to_string())?;
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
    Ok(busy / started.elapsed().as_secs_f64() * 100.0)
}

fn main() {
    let mut app = loaded();
    let lines = app.current().map(|a| a.stream_height(app.stream_width)).unwrap_or(0);
    println!("render: {} alerts, {lines} stream lines on the selected alert", app.alerts.len());
    for (w, h) in [(80, 24), (120, 40), (250, 70)] {
        let (median, p99) = frames(&mut app, w, h);
        println!("render: {w}×{h}: median {median:.3} ms, p99 {p99:.3} ms a frame (target < 2 ms)");
    }
    // Scrolled to the middle of the stream: the window is built from there, not from the top.
    app.scroll = Some(lines / 2);
    let (median, p99) = frames(&mut app, 120, 40);
    println!("render: 120×40 scrolled to line {}: median {median:.3} ms, p99 {p99:.3} ms", lines / 2);
    match idle_cpu() {
        Ok(cpu) => println!("idle: the console's CPU over 10 s after the demo settled: {cpu:.2} % (target ≈ 0 %)"),
        Err(e) => println!("idle: not measured: {e}"),
    }
}
