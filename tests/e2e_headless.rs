//! The real binary, headless, against the simulator over HTTP: exactly one reply per alert, in
//! that alert's thread, nothing for chatter or thread replies; the JSON Lines contract; exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{against, against_in, binary, json_lines, of_type};
use oncall_triage::domain::Ts;
use oncall_triage::sim::Simulator;
use serde_json::Value;

/// The alerts of the channel by the rules of domain.md §1, judged here by hand: top-level,
/// no subtype other than bot_message, an /execution/<uuid> link anywhere in it (text, blocks,
/// attachments).
fn alert_ts_in(sim: &Simulator) -> HashSet<String> {
    let re = regex::Regex::new(r"/execution/[0-9a-fA-F-]{36}").unwrap();
    sim.slack()
        .messages()
        .iter()
        .filter(|m| m.get("subtype").is_none_or(|s| s == "bot_message"))
        .filter(|m| re.is_match(&m.to_string()))
        .map(|m| m["ts"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn once_json_posts_exactly_one_reply_per_alert_in_its_thread() {
    let sim = common::simulator().await;
    let alerts = alert_ts_in(&sim);
    assert_eq!(alerts.len(), common::shipped_alerts(), "one alert per scenario");
    let chatter: Vec<String> = sim
        .slack()
        .messages()
        .iter()
        .map(|m| m["ts"].as_str().unwrap().to_string())
        .filter(|ts| !alerts.contains(ts))
        .collect();
    assert!(chatter.len() >= 4, "the scenarios carry chatter too");

    let home = tempfile::tempdir().unwrap();
    let out = common::run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);

    // The daily log file is written, and holds no credential.
    let logs: Vec<_> = std::fs::read_dir(home.path().join("logs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let name = logs[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("oncall-triage.") && name.ends_with(".log"), "{name}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("INFO") && log.contains("reply posted"), "the log tells what happened: {log:?}");
    assert!(!log.contains(&sim.options.slack_token) && !log.contains("sim-key-secret"), "{log}");

    // The JSON Lines contract: type first, then time, ts as strings.
    for e in &events {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["type", "time"], "{e}");
        assert!(e["alert_ts"].is_string());
    }
    let received: HashSet<String> =
        of_type(&events, "alert.received").iter().map(|e| e["alert_ts"].as_str().unwrap().to_string()).collect();
    assert_eq!(received, alerts);
    assert_eq!(of_type(&events, "hypothesis.ready").len(), common::shipped_alerts());
    assert_eq!(of_type(&events, "triage.failed").len(), 0);

    // What Slack received: one reply per alert, each in its alert's thread; nothing top-level.
    let posts = sim.slack().posts();
    assert_eq!(posts.len(), common::shipped_alerts());
    let mut per_thread: BTreeMap<String, usize> = BTreeMap::new();
    for p in &posts {
        let thread = p.thread_ts.expect("a reply, never a top-level message").to_string();
        *per_thread.entry(thread).or_default() += 1;
        assert!(p.text.starts_with("*Issue*: "), "{}", p.text);
        assert!(
            p.text.contains("*Findings*:\n• ")
                && p.text.contains("*Likely root cause*: ")
                && p.text.contains("*Suggested next step*: ")
        );
    }
    assert_eq!(per_thread.keys().cloned().collect::<HashSet<_>>(), alerts);
    assert!(per_thread.values().all(|n| *n == 1));
    for ts in &chatter {
        let replies = sim.slack().thread(Ts::parse(ts).unwrap());
        assert!(replies.iter().all(|r| r["user"] != "U0TRIAGEBOT"), "no reply to chatter {ts}");
    }
    // Each post.sent names the thread Slack put it in.
    for e in of_type(&events, "post.sent") {
        assert_eq!(e["thread_ts"], e["alert_ts"]);
        assert!(posts.iter().any(|p| p.ts.to_string() == e["message_ts"].as_str().unwrap()));
    }
    // Each reply states the execution's own numbers.
    let heap = posts.iter().find(|p| p.text.contains("northwind-prod")).expect("the heap alert's reply");
    assert!(heap.text.contains("heap 93.4%"), "{}", heap.text);
}

#[tokio::test]
async fn post_never_makes_no_slack_writes_and_prints_the_replies() {
    let sim = common::simulator().await;
    let out = tokio::task::spawn_blocking({
        let mut cmd = against(&sim);
        move || cmd.args(["--no-tui", "--once", "--post", "never"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(sim.slack().posts().is_empty());
    let writes: Vec<String> = sim
        .slack()
        .requests()
        .iter()
        .map(|r| r.api.clone())
        .filter(|a| a.starts_with("chat.") || a.starts_with("reactions."))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("*Issue*: ").count(), common::shipped_alerts(), "{stdout}");
    // Events are lines on stdout in plain words, keyed by cluster and kind; a summary ends the run.
    let keyed = regex::Regex::new(r"^not sent  [a-z0-9-]+ [A-Z_,]+  post policy is never$").unwrap();
    for line in stdout.lines().filter(|l| l.starts_with("not sent")) {
        assert!(keyed.is_match(line), "keyed by cluster and kind, in plain words: {line}");
    }
    assert_eq!(stdout.lines().filter(|l| l.starts_with("not sent")).count(), common::shipped_alerts(), "{stdout}");
    let last = stdout.lines().last().unwrap();
    let n = common::shipped_alerts();
    assert!(
        last.starts_with(&format!("done      {n} alert(s): 0 posted, 0 queued, {n} not sent, 0 failed, in ")),
        "{last}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("not sent"), "events are not on stderr: {stderr}");
}

#[tokio::test]
async fn demo_runs_with_no_credentials_and_ignores_real_ones() {
    let out = tokio::task::spawn_blocking(|| {
        binary()
            .env("SLACK_BOT_TOKEN", "xoxb-real-token-must-not-be-used")
            .env("SLACK_API_URL", "http://127.0.0.1:9/")
            .env("CONDUCTOR_SERVER_URL", "http://127.0.0.1:9/api")
            .current_dir(std::env::temp_dir())
            .args(["--demo", "--no-tui", "--once", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    assert_eq!(of_type(&events, "post.sent").len(), common::shipped_alerts());
    let all = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!all.contains("xoxb-real-token-must-not-be-used"));
}

#[test]
fn a_bad_scenario_file_fails_with_its_name_and_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), r#"{"name": "x", "messages": [], "expect": {}, "comands": []}"#)
        .unwrap();
    let out = binary().args(["--demo", "--no-tui", "--once", "--scenarios"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.json") && stderr.contains("unknown field `comands`"), "{stderr}");
}

#[tokio::test]
async fn a_rejected_token_exits_1_with_one_line_naming_the_fix() {
    let sim = common::simulator().await;
    let out = tokio::task::spawn_blocking({
        let mut cmd = against(&sim);
        move || cmd.env("SLACK_BOT_TOKEN", "xoxb-revoked").args(["--no-tui", "--once"]).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap();
    // Caught before the first poll, in one line.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(last.starts_with("oncall-triage: ✗ Slack token: Slack auth.test: invalid_auth"), "{stderr}");
    assert!(last.contains("SLACK_BOT_TOKEN"));
    assert!(!stderr.contains("xoxb-revoked"), "the token is never printed");
}

#[test]
fn missing_settings_exit_2_naming_the_variable() {
    let out = binary().args(["--no-tui", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("oncall-triage: SLACK_BOT_TOKEN is not set"), "{stderr}");
    let out = binary().env("ONCALL_POLL_INTERVAL", "often").args(["--no-tui", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ONCALL_POLL_INTERVAL=\"often\" is not valid"));
}

#[test]
fn parse_alert_reads_a_message_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("m.json");
    std::fs::write(&msg, r#"{"ts":"1.0","subtype":"bot_message","text":":warning: *`[MAJOR]`* The health-checking has FAILED for the _Procter &amp; Gamble's_ prod *`pg_prod-1`* cluster with the following issue:\n*MAJOR:* Prometheus is down\n<https://x.orkesconductor.com/execution/933967A4-85d1-11f1-ba93-96986d0e24f0?tab=tasks|open>"}"#).unwrap();
    let out = binary().arg("parse-alert").arg(&msg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let alert: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(alert["execution_id"], "933967a4-85d1-11f1-ba93-96986d0e24f0");
    assert_eq!(alert["organization"], "Procter & Gamble");
    assert_eq!(alert["cluster"], "pg_prod-1");
    assert_eq!(alert["issues"][0]["kind"], "PROMETHEUS_NOT_RUNNING");
    std::fs::write(&msg, "anyone looking at this?").unwrap();
    let out = binary().arg("parse-alert").arg(&msg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an alert: no /execution/<uuid> link"));
}

#[tokio::test]
async fn triage_command_prints_the_reply_and_never_calls_slack() {
    let sim = common::simulator().await;
    let out = tokio::task::spawn_blocking({
        let mut cmd = against(&sim);
        move || cmd.args(["triage", "5e0c7a12-ca31-11f0-9d2e-0a58a9feac02"]).output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(
            "*Issue*: [MAJOR] northwind-prod (Northwind Logistics, prod): Conductor Server Heap usage is at 93.4%"
        ),
        "{stdout}"
    );
    assert!(sim.slack().requests().is_empty(), "no Slack call at all");
}

#[tokio::test]
async fn sim_command_prints_exportable_urls_that_work() {
    use std::io::{BufRead, BufReader};
    let mut child =
        binary().arg("sim").stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let vars = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut vars = BTreeMap::new();
        while !vars.contains_key("OPENAI_API_KEY") {
            let line = lines.next().unwrap().unwrap();
            let (k, v) = line.split_once('=').unwrap();
            vars.insert(k.to_string(), v.to_string());
        }
        (vars, lines)
    })
    .await
    .unwrap();
    let (vars, _open) = vars;
    let answer: Value = common::http()
        .get(format!("{}auth.test", vars["SLACK_API_URL"]))
        .bearer_auth(&vars["SLACK_BOT_TOKEN"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = common::http()
        .post(format!("{}/token", vars["CONDUCTOR_SERVER_URL"]))
        .json(&serde_json::json!({"keyId": vars["CONDUCTOR_AUTH_KEY"], "keySecret": vars["CONDUCTOR_AUTH_SECRET"]}))
        .send()
        .await
        .unwrap()
        .status();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(vars["SLACK_ALERT_CHANNEL"], "C0SIMALERTS");
    assert_eq!(answer["ok"], true);
    assert_eq!(token, 200);
}

#[test]
fn check_sql_prints_the_verdict_and_exits_by_it() {
    let out = binary().args(["check-sql", "select count(*) from workflow /* comment */"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"allowed": true, "reason": null, "normalized": "SELECT count(*) FROM workflow"}));
    let mut child = binary()
        .arg("check-sql")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"SELECT * FROM workflow FOR UPDATE").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["reason"], "SELECT … FOR UPDATE/SHARE takes row locks");
    assert_eq!(v["normalized"], Value::Null);
}

#[test]
fn eval_passes_every_shipped_scenario_and_fails_a_wrong_expectation() {
    let out = binary().arg("eval").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let shipped =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios")).unwrap().count();
    assert!(shipped >= 11);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), shipped, "{stdout}");
    assert!(stdout.trim_end().ends_with(&format!("eval: {shipped} passed, 0 failed")));

    // The same scenario, expecting a cause the evidence does not show: FAIL, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios/02-conductor-restart-bad-config-property.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    s["expect"]["root_cause"] = serde_json::json!(["(?i)disk pressure"]);
    std::fs::write(dir.path().join("wrong.json"), s.to_string()).unwrap();
    let out = binary().args(["eval", "--scenarios"]).arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL") && stdout.contains("does not match root_cause \"(?i)disk pressure\""), "{stdout}");
}

#[tokio::test]
async fn secrets_in_evidence_reach_no_post_event_or_log() {
    // The error-log scenario, with the dominant error carrying credentials.
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios/10-error-logs-redis-command-timeouts.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    let leak = "2025-11-29T02:00:00.000Z ERROR 1 --- [main] c.n.c.DataSource : Cannot connect to postgres://conductor:Sup3rS3cretPw@db.internal:5432/conductor with password=Sup3rS3cretPw token=xoxb-111122223333-444455556666-LeakedTokenValue Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.bGVha2VkLXNpZ25hdHVyZQ\n";
    for c in s["commands"].as_array_mut().unwrap() {
        if c["workflow"] == "pull_logs" {
            c["output"]["result"] = Value::String(leak.repeat(40));
        }
    }
    std::fs::write(dir.path().join("leak.json"), s.to_string()).unwrap();
    let sim = Simulator::start(oncall_triage::sim::scenario::load_dir(dir.path()).unwrap(), common::fast_options())
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = common::run(against_in(&sim, home.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let posts: String = sim.slack().posts().iter().map(|p| format!("{}{}", p.text, p.blocks)).collect();
    assert!(
        posts.contains("Cannot connect to postgres://conductor:[REDACTED]@db.internal"),
        "the evidence is still cited: {posts}"
    );
    let logs: String = std::fs::read_dir(home.path().join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let everything =
        format!("{posts}{}{}{logs}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for secret in [
        "Sup3rS3cretPw",
        "LeakedTokenValue",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0",
        &sim.options.slack_token,
        "sim-key-secret",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
}

#[test]
fn extra_relations_are_allowed_only_when_configured() {
    let sql = "SELECT count(*) FROM orkes_audit_log";
    let out = binary().args(["check-sql", sql]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = binary()
        .env("ONCALL_SQL_RELATIONS", "orkes_audit_log, orkes_secret_meta")
        .args(["check-sql", sql])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn a_closed_stdout_or_stderr_ends_the_run_without_a_panic() {
    use std::io::{BufRead, Read};
    for (json, reader) in [(true, "stdout"), (false, "stderr")] {
        let mut cmd = common::binary();
        cmd.args(["--demo", "--no-tui", "--once", "--post", "never"]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let status = tokio::task::spawn_blocking(move || {
            // Read two lines of the stream under test, then close it, as `| head -2` does; the
            // other stream is read to its end.
            let (mut read, mut other): (Box<dyn Read + Send>, Box<dyn Read + Send>) = if reader == "stdout" {
                (Box::new(stdout), Box::new(stderr))
            } else {
                (Box::new(stderr), Box::new(stdout))
            };
            let mut lines = std::io::BufReader::new(&mut read).lines();
            assert!(lines.next().is_some() && lines.next().is_some(), "{reader}: two lines");
            drop(lines);
            drop(read);
            let mut rest = String::new();
            let _ = other.read_to_string(&mut rest);
            (child.wait().unwrap(), rest)
        })
        .await
        .unwrap();
        let (status, rest) = status;
        assert_ne!(status.code(), Some(101), "{reader}: panicked: {rest}");
        assert!(status.success(), "{reader}: {status:?} {rest}");
        assert!(!rest.contains("panicked"), "{rest}");
    }
}

/// On every shipped scenario the root cause names a concrete thing the evidence has (a pod, a
/// quoted value or line, a tag, a host:port, an API path, a workflow, a figure with its unit), or
/// says "Inconclusive" with what was ruled out; and it never restates the alert alone.
#[tokio::test]
async fn every_root_cause_names_a_concrete_thing_or_what_was_ruled_out() {
    let sim = common::simulator().await;
    let out = common::run(common::against(&sim), &["--no-tui", "--once", "--json", "--post", "never"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = common::json_lines(&out);
    let ready = common::of_type(&events, "hypothesis.ready");
    assert_eq!(ready.len(), common::shipped_alerts());
    let concrete = regex::Regex::new(
        r#"[a-z0-9-]+-[a-z0-9]{8,10}-[a-z0-9]{5}|`[^`]+`|"[^"]+"|\b[\w.-]+:\d{2,5}\b|/api/[\w/]+|\bworkflow [a-z_]+|\b\d+(?:m|Mi|Gi|MB|ms|%) |[a-z_]+ command.s task was still SCHEDULED|stale API key|certificate .*\d+ days|load-balancer address"#,
    )
    .unwrap();
    for r in ready {
        let cause = r["root_cause"].as_str().unwrap();
        let text = r["text"].as_str().unwrap();
        if cause.starts_with("Inconclusive") {
            assert!(cause.contains("ruled out"), "an inconclusive answer says what was ruled out: {cause}");
        } else {
            assert!(concrete.is_match(cause), "the cause names nothing concrete: {cause}");
        }
        assert!(text.contains("\n*Confidence*: "), "{text}");
        let next = text.rsplit("*Suggested next step*: ").next().unwrap();
        assert!(!next.contains('\n'), "exactly one next step: {next}");
        for asked_again in ["Check the named pod's events and logs", "Find the dominant", "Check the pod's events"] {
            assert!(!next.contains(asked_again), "the next step asks for what the triage did: {next}");
        }
    }
}

#[test]
fn demo_works_after_the_subcommand_too() {
    let id = common::ACME_EXECUTION;
    for args in [vec!["triage", id, "--demo"], vec!["--demo", "triage", id]] {
        let out = binary().args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with("*Issue*: [MAJOR] acme-prod"), "{args:?}: {stdout}");
    }
    let out = binary().args(["doctor", "--demo"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}
