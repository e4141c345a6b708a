//! The headless service: signals in the middle of a triage (grace, interrupted, resumed after a
//! restart with exactly one post; exit 0 after SIGTERM, 130 after SIGINT or a second signal),
//! the post policies, and two processes on one state file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

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

#[tokio::test]
async fn two_processes_on_one_state_file_lose_nothing_and_post_once() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let run = |sim: &Simulator| {
        let mut cmd = common::against_in(sim, home.path());
        cmd.args(["--no-tui", "--once", "--json"]);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
    };
    let (a, b) = (run(&sim), run(&sim));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    // Each alert was investigated by one of the two.
    let started = |out: &std::process::Output| common::of_type(&common::json_lines(out), "triage.started").len();
    assert_eq!(started(&a) + started(&b), common::shipped_alerts(), "an alert was investigated twice");
    // Every alert answered exactly once in its thread.
    let posts = sim.slack().posts();
    let mut threads: Vec<String> = posts.iter().map(|p| p.thread_ts.unwrap().to_string()).collect();
    threads.sort();
    let before = threads.len();
    threads.dedup();
    assert_eq!(before, threads.len(), "a thread got two replies");
    assert_eq!(threads.len(), common::shipped_alerts(), "every alert answered");
    // The state file lost nothing: every alert is recorded as done.
    let statuses = status_in(&home.path().join("state.json"));
    assert_eq!(statuses.len(), common::shipped_alerts(), "{statuses:?}");
    let open: Vec<&String> =
        statuses.iter().filter(|s| !matches!(s.as_str(), "posted" | "failed" | "skipped")).collect();
    assert!(open.is_empty(), "alerts left unfinished: {open:?}");
}

#[tokio::test]
async fn queue_holds_every_reply_in_the_state_file_and_posts_nothing() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let out =
        common::run(common::against_in(&sim, home.path()), &["--no-tui", "--once", "--json", "--post", "queue"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = common::json_lines(&out);
    assert_eq!(common::of_type(&events, "post.queued").len(), common::shipped_alerts());
    assert!(common::of_type(&events, "post.queued").iter().all(|e| e["reason"] == "queued_for_approval"));
    assert!(sim.slack().posts().is_empty(), "queue posts nothing");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(home.path().join("state.json")).unwrap()).unwrap();
    let records: Vec<&Value> =
        v["channels"].as_object().unwrap().values().flat_map(|c| c["alerts"].as_object().unwrap().values()).collect();
    assert_eq!(records.len(), common::shipped_alerts());
    assert!(
        records.iter().all(|r| r["status"] == "queued" && r["text"].as_str().is_some_and(|t| t.starts_with("*Issue*"))),
        "{records:#?}"
    );
}

#[tokio::test]
async fn metrics_and_healthz_report_the_service() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = common::against_in(&sim, home.path());
    cmd.args(["--no-tui", "--json", "--metrics-addr", &addr]).stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let http = common::http();
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        assert!(Instant::now() < deadline, "the service did not post every alert");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(resp) = http.get(format!("http://{addr}/metrics")).send().await else { continue };
        let text = resp.text().await.unwrap();
        if text.contains(&format!("oncall_posts_total{{outcome=\"sent\"}} {}", common::shipped_alerts())) {
            break text;
        }
    };
    let n = common::shipped_alerts();
    for line in [
        format!("oncall_alerts_seen_total {n}"),
        format!("oncall_triage_duration_seconds_count {n}"),
        "oncall_dispatches_total{workflow=\"pull_logs\",status=\"COMPLETED\"}".to_string(),
        // The telemetry-loss probe nobody polled ends as SCHEDULED, apart from the completed ones.
        "oncall_dispatches_total{workflow=\"get_pods_data\",status=\"SCHEDULED\"} 1".to_string(),
        "# TYPE oncall_triage_duration_seconds histogram".to_string(),
        "oncall_rate_limit_waits_total 0".to_string(),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in:\n{metrics}");
    }
    let triaged: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("oncall_triages_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(triaged, n as u64, "{metrics}");
    let health = http.get(format!("http://{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(health.text().await.unwrap().starts_with("ok: last poll"));
    signal(&child, "TERM");
    assert_eq!(tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(10))).await.unwrap(), 0);
}

#[tokio::test]
async fn healthz_says_degraded_with_the_reason_while_conductor_is_down_and_recovers() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = common::against_in(&sim, home.path());
    cmd.env("ONCALL_POLL_INTERVAL", "1s");
    cmd.args(["--no-tui", "--json", "--metrics-addr", &addr]).stdout(Stdio::null()).stderr(Stdio::null());
    // The checks before the first poll pass; then every command's start fails.
    sim.conductor().inject_start_errors(100_000);
    let child = cmd.spawn().unwrap();
    let http = common::http();
    let get = |path: &'static str| {
        let http = http.clone();
        let url = format!("http://{addr}{path}");
        async move {
            let resp = http.get(url).send().await.ok()?;
            let status = resp.status().as_u16();
            Some((status, resp.text().await.ok()?))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let (status, body) = loop {
        assert!(Instant::now() < deadline, "/healthz never said degraded");
        tokio::time::sleep(Duration::from_millis(200)).await;
        match get("/healthz").await {
            Some((status, body)) if body.starts_with("degraded") => break (status, body),
            _ => continue,
        }
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("conductor") && body.contains("HTTP 5"), "the reason is named: {body}");
    let (_, metrics) = get("/metrics").await.unwrap();
    let deferred = metrics
        .lines()
        .find(|l| l.starts_with("oncall_deferred_total{service=\"conductor\"}"))
        .unwrap_or_else(|| panic!("no deferral count in:\n{metrics}"));
    assert_ne!(deferred.rsplit(' ').next(), Some("0"), "{deferred}");
    assert!(metrics.contains("oncall_degraded{service=\"conductor\"} 1"), "{metrics}");
    // Conductor recovers: the deferred alerts are answered and the service is healthy again.
    sim.conductor().recover();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(Instant::now() < deadline, "never healthy again: {:?}", get("/healthz").await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if sim.slack().posts().len() == common::shipped_alerts()
            && get("/healthz").await.is_some_and(|(s, b)| s == 200 && b.starts_with("ok"))
        {
            break;
        }
    }
    let (_, metrics) = get("/metrics").await.unwrap();
    assert!(metrics.contains("oncall_degraded{service=\"conductor\"} 0"), "{metrics}");
    signal(&child, "TERM");
    assert_eq!(tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(10))).await.unwrap(), 0);
}
