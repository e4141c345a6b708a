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
async fn a_conductor_url_without_api_consumes_no_alert() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let mut cmd = against_in(&sim, home.path());
    cmd.env("CONDUCTOR_SERVER_URL", sim.conductor_url.trim_end_matches("/api"));
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sim.slack().posts().is_empty(), "nothing is posted of our own misconfiguration");
    let events = json_lines(&out);
    assert!(of_type(&events, "hypothesis.ready").is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stay pending"), "{stderr}");
    answered_once_after_the_fix(&sim, home.path()).await;
}

#[tokio::test]
async fn a_conductor_outage_loses_no_alert() {
    let sim = common::simulator().await;
    sim.conductor().inject_server_errors(100_000);
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sim.slack().posts().is_empty(), "an outage is no triage result");
    let failed = of_type(&json_lines(&out), "triage.failed").len();
    assert_eq!(failed, common::shipped_alerts(), "each alert says why it waits");
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
