//! The headless service: signals in the middle of a triage (grace, interrupted, resumed after a
//! restart with exactly one post; exit 0 after SIGTERM, 130 after SIGINT or a second signal),
//! the post policies, and two processes on one state file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oncall_triage::sim::{SimOptions, Simulator, scenario};
use serde_json::Value;

/// One alert (an error-log storm) whose log pull takes `log_ms`.
async fn slow_simulator(log_ms: u64) -> (Simulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios/10-error-logs-redis-command-timeouts.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    for c in s["commands"].as_array_mut().unwrap() {
        if c["workflow"] == "pull_logs" {
            c["latency_ms"] = log_ms.into();
        }
    }
    std::fs::write(dir.path().join("s.json"), s.to_string()).unwrap();
    let sim = Simulator::start(scenario::load_dir(dir.path()).unwrap(), SimOptions::default()).await.unwrap();
    (sim, dir)
}

/// Starts the service; returns once the log pull was dispatched (the triage is mid-way).
fn start_until_logs_dispatched(mut cmd: Command) -> (Child, Vec<Value>, std::thread::JoinHandle<Vec<Value>>) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "no log dispatch: {seen:?}");
        let line = lines.next().expect("the service ended early").unwrap();
        let event: Value = serde_json::from_str(&line).unwrap();
        let dispatched = event["type"] == "dispatch.started" && event["workflow"] == "pull_logs";
        seen.push(event);
        if dispatched {
            break;
        }
    }
    let rest =
        std::thread::spawn(move || lines.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect());
    (child, seen, rest)
}

fn signal(child: &Child, name: &str) {
    assert!(Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().unwrap().success());
}

fn wait(mut child: Child, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the service did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn status_in(state: &std::path::Path) -> Vec<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    v["channels"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| c["alerts"].as_object().unwrap().values().map(|r| r["status"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn sigterm_mid_triage_is_interrupted_then_resumed_with_one_post() {
    let (sim, _dir) = slow_simulator(6000).await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::against_in(&sim, home.path());
    cmd.args(["--no-tui", "--json", "--shutdown-grace", "1s"]);
    let (child, _, rest) = tokio::task::spawn_blocking(move || start_until_logs_dispatched(cmd)).await.unwrap();
    let stopping = Instant::now();
    signal(&child, "TERM");
    let code = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(10))).await.unwrap();
    let took = stopping.elapsed();
    assert_eq!(code, 0, "exit 0 after SIGTERM");
    assert!(took < Duration::from_secs(4), "the grace is 1 s, the log pull 6 s: stopped after {took:?}");
    let events = rest.join().unwrap();
    assert!(events.iter().any(|e| e["type"] == "alert.skipped" && e["reason"] == "interrupted"), "{events:#?}");
    assert!(sim.slack().posts().is_empty());
    assert_eq!(status_in(&home.path().join("state.json")), ["interrupted"]);

    // The restart resumes it and posts once.
    let out = common::run(common::against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let posts = sim.slack().posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert_eq!(status_in(&home.path().join("state.json")), ["posted"]);
    // And a further run posts nothing more.
    let out = common::run(common::against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success());
    assert_eq!(sim.slack().posts().len(), 1);
}

#[tokio::test]
async fn the_grace_period_lets_a_running_triage_finish_and_post() {
    let (sim, _dir) = slow_simulator(1500).await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::against_in(&sim, home.path());
    cmd.args(["--no-tui", "--json", "--shutdown-grace", "30s"]);
    let (child, _, rest) = tokio::task::spawn_blocking(move || start_until_logs_dispatched(cmd)).await.unwrap();
    signal(&child, "TERM");
    let code = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(20))).await.unwrap();
    assert_eq!(code, 0);
    let events = rest.join().unwrap();
    assert_eq!(common::of_type(&events, "post.sent").len(), 1, "{events:#?}");
    assert_eq!(sim.slack().posts().len(), 1);
    assert_eq!(status_in(&home.path().join("state.json")), ["posted"]);
}

#[tokio::test]
async fn sigint_exits_130_and_a_second_signal_stops_at_once() {
    let (sim, _dir) = slow_simulator(8000).await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::against_in(&sim, home.path());
    cmd.args(["--no-tui", "--json", "--shutdown-grace", "30s"]);
    let (child, _, _rest) = tokio::task::spawn_blocking(move || start_until_logs_dispatched(cmd)).await.unwrap();
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    signal(&child, "INT");
    let code = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(10))).await.unwrap();
    assert_eq!(code, 130);
    assert!(stopping.elapsed() < Duration::from_secs(3), "the second signal did not wait for the 30 s grace");
    assert_eq!(status_in(&home.path().join("state.json")), ["interrupted"]);
    assert!(sim.slack().posts().is_empty());
}
