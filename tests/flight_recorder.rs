//! The flight recorder: a transcript per alert, replayed with no network but the loopback
//! simulator to the same reply byte for byte (playbook afresh; a model's recorded turns),
//! exported as Markdown, and free of secrets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::PathBuf;

use oncall_triage::sim::SimOptions;

fn transcripts(home: &std::path::Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(home.join("transcripts"))
        .expect("a transcripts folder beside the state file")
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn every_triage_replays_to_its_recorded_reply_byte_for_byte() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let out = common::run(common::against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = transcripts(home.path());
    assert_eq!(files.len(), common::shipped_alerts());
    let posts = sim.slack().posts();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // No secret in any transcript: the Slack token, the Conductor secret, the token in the
        // prompt-injection scenario's logs.
        for secret in [sim.options.slack_token.as_str(), "sim-key-secret", "xoxb-2718281828"] {
            assert!(!text.contains(secret), "{} holds a secret", file.display());
        }
        let out = common::run(common::binary(), &["replay", file.to_str().unwrap()]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", file.display());
        assert!(stderr.contains("reproduces the recorded reply"), "{stderr}");
        // The reply replayed is the one posted, exactly.
        let reply = String::from_utf8_lossy(&out.stdout);
        let reply = reply.strip_suffix('\n').unwrap();
        assert!(posts.iter().any(|p| p.text == reply), "{}: not a posted reply:\n{reply}", file.display());
    }
}

fn shipped(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios").join(name)
}

/// One scenario (its JSON text) triaged through the binary with the scripted model; the simulator
/// and the home holding the transcripts.
async fn model_triage(scenario: &str) -> (oncall_triage::sim::Simulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.json"), scenario).unwrap();
    let scenarios = oncall_triage::sim::scenario::load_dir(dir.path()).unwrap();
    let sim = oncall_triage::sim::Simulator::start(scenarios, common::fast_options()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = common::run(
        common::against_in(&sim, home.path()),
        &["--no-tui", "--once", "--json", "--reasoner", "openai", "--model", "sim-model"],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (sim, home)
}

#[tokio::test]
async fn a_model_triage_replays_from_its_recorded_turns() {
    let scenario = std::fs::read_to_string(shipped("06-prometheus-oomkilled-wal-replay.json")).unwrap();
    let (sim, home) = model_triage(&scenario).await;
    // The scenario has no model script: the scripted model answers with the playbook's reply.
    assert!(sim.slack().posts()[0].text.contains("OOMKilled"), "{}", sim.slack().posts()[0].text);
    let file = transcripts(home.path()).remove(0);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("\"type\":\"model.turn\""), "model turns recorded");
    let out = common::run(common::binary(), &["replay", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), sim.slack().posts()[0].text);
}

#[tokio::test]
async fn a_model_triage_with_a_sql_query_asks_for_its_plan_first_and_replays() {
    let mut scenario: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shipped("03-conductor-heap-unbounded-search-export.json")).unwrap(),
    )
    .unwrap();
    scenario["llm"] = serde_json::json!([
        {"tool_calls": [{"name": "run_sql_select",
                         "input": {"query": "SELECT workflow_type, count(*) FROM workflow_index GROUP BY 1"}}]},
        {"text": "*Issue*: heap\n*Findings*:\n• shipment_sync has 611 running workflows\n*Likely root cause*: a backlog of shipment_sync\n*Suggested next step*: look at shipment_sync"}
    ]);
    let (sim, home) = model_triage(&scenario.to_string()).await;
    let queries = common::sql_queries(&sim);
    assert_eq!(queries.len(), 2, "the plan, then the query: {queries:?}");
    assert!(queries[0].starts_with("EXPLAIN (FORMAT JSON) ") && !queries[1].starts_with("EXPLAIN"));
    let posted = sim.slack().posts()[0].text.clone();
    assert!(posted.contains("611 running"), "{posted}");
    let file = transcripts(home.path()).remove(0);
    let out = common::run(common::binary(), &["replay", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), posted);
}

#[tokio::test]
async fn export_writes_a_markdown_incident_report() {
    let sim = common::fixture_simulator(SimOptions { latency_scale: 0.05, ..SimOptions::default() }).await;
    let home = tempfile::tempdir().unwrap();
    let out = common::run(common::against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let file = transcripts(home.path()).remove(0);
    let out = common::run(common::binary(), &["export", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = String::from_utf8_lossy(&out.stdout);
    for part in [
        "# Incident report: ",
        "| Outcome | posted in the thread",
        "## Reply",
        "> *Issue*:",
        "## Evidence (",
        "## Timeline",
        "`post.sent`",
    ] {
        assert!(md.contains(part), "missing {part:?} in:\n{md}");
    }
    let workflow_ids: Vec<String> = sim.conductor().dispatches().iter().filter_map(|d| d.workflow_id.clone()).collect();
    assert!(!workflow_ids.is_empty() && workflow_ids.iter().all(|w| md.contains(w.as_str())), "{md}");

    // After an operator's edit, the report shows what was posted, then the draft it replaced.
    let alert_ts = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?.get("alert_ts")?.as_str().map(str::to_string))
        .unwrap();
    let decision = serde_json::json!({"type": "operator.decision", "time": "2026-12-02T03:00:00Z", "alert_ts": alert_ts,
        "decision": "edited", "text": "*Issue*: EDITED BY ON-CALL", "reason": null});
    let mut f = std::fs::OpenOptions::new().append(true).open(&file).unwrap();
    std::io::Write::write_all(&mut f, format!("{decision}\n").as_bytes()).unwrap();
    let out = common::run(common::binary(), &["export", file.to_str().unwrap()]).await;
    let md = String::from_utf8_lossy(&out.stdout);
    let posted = md.find("## Reply (as posted, edited by the operator)\n\n> *Issue*: EDITED BY ON-CALL").expect(&md);
    let draft = md.find("## The draft before the edit").expect(&md);
    assert!(posted < draft, "{md}");
}

#[test]
fn replay_and_export_of_a_bad_file_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.jsonl");
    std::fs::write(&junk, "not json\n{}\n").unwrap();
    for cmd in ["replay", "export"] {
        let out = common::binary().args([cmd, junk.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("line 1 is not JSON") && stderr.lines().count() == 1, "{cmd}: {stderr}");
        let out = common::binary().args([cmd, "/nonexistent.jsonl"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.jsonl"));
    }
}
