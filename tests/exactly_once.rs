//! Exactly one reply per alert when Slack's answers are ambiguous: a post stored and then answered
//! with an error (HTTP 500/503, `internal_error`, `fatal_error`) is found in the thread instead
//! of posted again; `rate_limited` as ok:false is waited out; refused blocks fall back to the
//! text; a post that never lands leaves the ✗ on the alert. Through the real binary against the
//! simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::collections::BTreeMap;

use common::{against_in, json_lines, of_type, run};
use oncall_triage::sim::Simulator;
use serde_json::Value;

fn replies_per_thread(sim: &Simulator) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for p in sim.slack().posts() {
        *per.entry(p.thread_ts.expect("replies only").to_string()).or_default() += 1;
    }
    per
}

/// The reactions the bot left on each top-level alert message.
fn reactions(sim: &Simulator) -> Vec<Vec<String>> {
    sim.slack()
        .messages()
        .iter()
        .filter(|m| m.to_string().contains("/execution/"))
        .map(|m| {
            m["reactions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["name"].as_str().map(str::to_string))
                .collect()
        })
        .collect()
}

async fn once(sim: &Simulator) -> (std::process::Output, Vec<Value>) {
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    let events = json_lines(&out);
    (out, events)
}

#[tokio::test]
async fn a_post_stored_then_answered_with_an_error_is_never_posted_twice() {
    for fault in ["http_500", "http_503", "internal_error", "fatal_error"] {
        let sim = common::simulator().await;
        // Every one of the first posts is stored, then answered as failed.
        sim.slack().inject_after_work("chat.postMessage", fault, common::shipped_alerts());
        let (out, events) = once(&sim).await;
        assert!(out.status.success(), "{fault}: {}", String::from_utf8_lossy(&out.stderr));
        let per = replies_per_thread(&sim);
        assert_eq!(per.len(), common::shipped_alerts(), "{fault}: every alert answered");
        assert!(per.values().all(|n| *n == 1), "{fault}: exactly once each: {per:?}");
        assert_eq!(of_type(&events, "post.sent").len(), common::shipped_alerts(), "{fault}");
        assert!(of_type(&events, "triage.failed").is_empty(), "{fault}: the stored post counts as posted");
    }
}

#[tokio::test]
async fn rate_limited_as_ok_false_is_waited_out_not_a_failure() {
    let sim = common::simulator().await;
    sim.slack().inject_error("chat.postMessage", "rate_limited", 2);
    let (out, events) = once(&sim).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), common::shipped_alerts());
    assert!(per.values().all(|n| *n == 1));
    assert!(of_type(&events, "triage.failed").is_empty());
}

#[tokio::test]
async fn blocks_slack_refuses_fall_back_to_the_text_alone() {
    let sim = common::simulator().await;
    sim.slack().inject_error("chat.postMessage", "msg_blocks_too_long", 1);
    let (out, _) = once(&sim).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let posts = sim.slack().posts();
    assert_eq!(posts.len(), common::shipped_alerts(), "every alert answered once");
    let text_only: Vec<_> = posts.iter().filter(|p| p.blocks.is_null()).collect();
    assert_eq!(text_only.len(), 1, "the refused post went as text");
    assert!(text_only[0].text.contains("*Issue*"));
}

#[tokio::test]
async fn a_post_that_never_lands_fails_the_alert_and_marks_it_with_a_cross() {
    let sim = common::simulator().await;
    // Before any work: nothing is stored, every try fails.
    sim.slack().inject_server_error("chat.postMessage", 10_000);
    let (out, events) = once(&sim).await;
    assert!(sim.slack().posts().is_empty());
    assert_eq!(of_type(&events, "triage.failed").len(), common::shipped_alerts());
    let marks = reactions(&sim);
    assert_eq!(marks.len(), common::shipped_alerts());
    assert!(marks.iter().all(|r| r.contains(&"x".to_string())), "{marks:?}");
    // Each attempt was followed by a look at the thread, never by a blind second post.
    let requests = sim.slack().requests();
    let posts = requests.iter().filter(|r| r.api == "chat.postMessage").count();
    assert!(posts <= 4 * common::shipped_alerts(), "{posts} post attempts");
    let _ = out;
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_still_ours() {
    let sim = common::simulator().await;
    // Every claim reaction is added, then answered HTTP 500: the retry hears already_reacted.
    sim.slack().inject_after_work("reactions.add", "http_500", common::shipped_alerts());
    let (out, events) = once(&sim).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        of_type(&events, "alert.skipped").iter().all(|e| e["reason"] != "claimed_elsewhere"),
        "a lost answer is not someone else's claim"
    );
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), common::shipped_alerts(), "every alert triaged now, not after the lease");
    assert!(per.values().all(|n| *n == 1));
}

/// (workflows started, distinct commands among them) as the simulated Conductor saw them; a
/// command is its cluster, workflow and parameters (one alert per cluster in these scenarios).
fn dispatches(sim: &Simulator) -> (usize, usize) {
    let records = sim.conductor().dispatches();
    let started: Vec<_> = records.iter().filter(|d| d.workflow_id.is_some()).collect();
    let commands: std::collections::BTreeSet<String> = started
        .iter()
        .map(|d| {
            let r = &d.request;
            format!("{} {} {}", r["correlationId"], r["name"], r["input"]["agentHandlerRequest"]["parameters"])
        })
        .collect();
    (started.len(), commands.len())
}

#[tokio::test]
async fn a_start_answered_500_after_it_created_the_workflow_runs_the_command_once() {
    let sim = common::simulator().await;
    sim.conductor().inject_errors_after_start(3);
    let (out, _) = once(&sim).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (started, distinct) = dispatches(&sim);
    assert_eq!(started, distinct, "a retried start found its workflow instead of starting another");
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), common::shipped_alerts());
    assert!(per.values().all(|n| *n == 1));
}

#[tokio::test]
async fn a_restart_after_kill_9_mid_triage_does_not_start_the_commands_again() {
    use std::io::BufRead;
    // Real fixture latencies: a triage takes seconds, so the kill lands in the middle of one.
    let sim = Simulator::start(
        oncall_triage::sim::scenario::embedded().unwrap(),
        oncall_triage::sim::SimOptions { latency_scale: 1.0, ..Default::default() },
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = against_in(&sim, home.path());
    cmd.args(["--no-tui", "--once", "--json"]).stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let killed = tokio::task::spawn_blocking(move || {
        let dispatching =
            std::io::BufReader::new(stdout).lines().any(|l| l.is_ok_and(|l| l.contains("\"dispatch.started\"")));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        dispatching
    })
    .await
    .unwrap();
    assert!(killed, "the run was killed while dispatching");
    let (before, _) = dispatches(&sim);
    assert!(before > 0);
    let out = run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (started, distinct) = dispatches(&sim);
    assert_eq!(started, distinct, "the restart found the commands it had started, not new ones");
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), common::shipped_alerts());
    assert!(per.values().all(|n| *n == 1), "{per:?}");
}
