//! Our own misconfiguration or a dependency's outage never consumes an alert: no reply is made
//! of it, the alert stays pending, `--once` exits 1 saying so, and once the cause is fixed every
//! alert is answered, exactly once. Through the real binary against the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::collections::BTreeMap;

use common::{against_in, json_lines, of_type, run};
use oncall_triage::sim::Simulator;

fn replies_per_thread(sim: &Simulator) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for p in sim.slack().posts() {
        *per.entry(p.thread_ts.expect("replies only").to_string()).or_default() += 1;
    }
    per
}

async fn answered_once_after_the_fix(sim: &Simulator, home: &std::path::Path) {
    let out = run(against_in(sim, home), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let per = replies_per_thread(sim);
    assert_eq!(per.len(), common::shipped_alerts(), "every alert answered after the fix");
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    let replies: Vec<String> = sim.slack().posts().into_iter().map(|p| p.text).collect();
    for t in &replies {
        assert!(!t.contains("Conductor answered HTTP") && !t.contains("Conductor unreachable"), "{t}");
    }
}

#[tokio::test]
async fn a_conductor_url_without_api_is_refused_before_the_first_poll() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = against_in(&sim, home.path());
    cmd.env("CONDUCTOR_SERVER_URL", sim.conductor_url.trim_end_matches("/api"));
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CONDUCTOR_SERVER_URL") && stderr.contains("/api"), "{stderr}");
    assert!(json_lines(&out).is_empty(), "no poll, no alert seen");
    assert!(sim.slack().requests().iter().all(|r| r.api != "conversations.history"));
    answered_once_after_the_fix(&sim, home.path()).await;
}

#[tokio::test]
async fn a_conductor_that_fails_mid_run_loses_no_alert() {
    let sim = common::simulator().await;
    // The checks before the first poll pass; then every command's start fails.
    sim.conductor().inject_start_errors(100_000);
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    // Only a triage that needed no command could finish; none speaks of the outage.
    let posted = sim.slack().posts();
    assert!(posted.len() < common::shipped_alerts() / 2, "{} replies during the outage", posted.len());
    for p in &posted {
        assert!(!p.text.contains("HTTP 500"), "an outage is no triage result: {}", p.text);
    }
    let waiting = of_type(&json_lines(&out), "triage.failed").len();
    assert_eq!(waiting + posted.len(), common::shipped_alerts(), "each other alert says why it waits");
    sim.conductor().recover();
    answered_once_after_the_fix(&sim, home.path()).await;
}

#[tokio::test]
async fn slack_refusing_posts_loses_no_alert() {
    let sim = common::simulator().await;
    sim.slack().inject_server_error("chat.postMessage", 100_000);
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sim.slack().posts().is_empty());
    sim.slack().clear_faults();
    answered_once_after_the_fix(&sim, home.path()).await;
}

#[tokio::test]
async fn a_failed_poll_is_said_once() {
    let sim = common::simulator().await;
    sim.slack().inject_error("conversations.history", "internal_error", 1000);
    let home = tempfile::tempdir().unwrap();
    for args in [&["--no-tui", "--once"][..], &["--no-tui", "--once", "--json"][..]] {
        let out = run(against_in(&sim, home.path()), args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        let saying = stderr.lines().filter(|l| l.contains("internal_error")).count();
        assert_eq!(saying, 1, "{args:?}: said {saying} times:\n{stderr}");
    }
}
