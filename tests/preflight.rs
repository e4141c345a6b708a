//! Every setting and service is checked before the first poll, in every mode: a mistake exits
//! with one line naming the setting and the fix (2 for a bad setting, 1 for a service that
//! refuses), and no alert is read, let alone spent. `doctor` prints the same checks as a
//! checklist. Through the real binary against the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use common::{against_in, run};
use oncall_triage::sim::Simulator;

/// Runs `--no-tui --once` with `env` on top of the simulator's settings.
async fn once_with(sim: &Simulator, env: &[(&str, &str)]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = against_in(sim, home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, &["--no-tui", "--once"]).await
}

fn assert_refused(sim: &Simulator, out: &std::process::Output, code: i32, names: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for n in names {
        assert!(stderr.contains(n), "{stderr} should name {n}");
    }
    assert!(sim.slack().requests().iter().all(|r| r.api != "conversations.history"), "refused before the first poll");
    assert!(sim.slack().posts().is_empty());
}

#[tokio::test]
async fn bad_settings_exit_2_before_the_first_poll() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("SLACK_BOT_TOKEN", "abc123", &["SLACK_BOT_TOKEN", "xoxb-"]),
        ("SLACK_BOT_TOKEN", "xoxp-1234-5678-abcdef", &["SLACK_BOT_TOKEN", "user token"]),
        ("SLACK_ALERT_CHANNEL", "#alerts", &["SLACK_ALERT_CHANNEL", "channel name", "id"]),
        ("SLACK_ALERT_CHANNEL", "C0NOSUCH1", &["SLACK_ALERT_CHANNEL", "no channel"]),
        ("SLACK_API_URL", "slack.com/api/", &["SLACK_API_URL", "scheme"]),
        ("CONDUCTOR_SERVER_URL", "conductor.example.com/api", &["CONDUCTOR_SERVER_URL", "scheme"]),
    ];
    for (var, value, names) in cases {
        let sim = common::simulator().await;
        let out = once_with(&sim, &[(var, value)]).await;
        assert_refused(&sim, &out, 2, names);
        assert!(!String::from_utf8_lossy(&out.stderr).contains("abcdef"), "a token is never printed");
    }
}

#[tokio::test]
async fn a_refusing_slack_exits_1_before_the_first_poll() {
    let sim = common::simulator().await;
    sim.slack().set_member(false);
    assert_refused(&sim, &once_with(&sim, &[]).await, 1, &["invite"]);
    let sim = common::simulator().await;
    sim.slack().set_scopes("chat:write,channels:history");
    assert_refused(&sim, &once_with(&sim, &[]).await, 1, &["missing", "reactions:write", "channels:read"]);
}

#[tokio::test]
async fn doctor_passes_against_the_simulator_and_names_what_is_broken() {
    let sim = common::simulator().await;
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(&sim, home.path()), &["doctor"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().count() >= 6 && stdout.lines().all(|l| l.starts_with("✓ ")), "{stdout}");
    for part in ["SLACK_BOT_TOKEN", "Slack scopes", "Slack channel", "CONDUCTOR_SERVER_URL", "Conductor:"] {
        assert!(stdout.contains(part), "{part}: {stdout}");
    }

    sim.slack().set_member(false);
    let mut cmd = against_in(&sim, home.path());
    cmd.env("SLACK_ALERT_CHANNEL", "#oncall");
    let out = run(cmd, &["doctor"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("✗ SLACK_ALERT_CHANNEL") && l.contains("id")), "{stdout}");
    assert!(sim.slack().posts().is_empty() && sim.conductor().dispatches().is_empty(), "doctor writes nothing");

    let out = run(common::binary(), &["--demo", "doctor"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn the_model_endpoint_is_checked_when_a_model_reasons() {
    let sim = common::simulator().await;
    // A wrong key: the endpoint refuses it (exit 1), naming the key's setting.
    let refused = [("ONCALL_REASONER", "anthropic"), ("ANTHROPIC_API_KEY", "sk-ant-wrong-0000")];
    assert_refused(&sim, &once_with(&sim, &refused).await, 1, &["Model endpoint", "401", "ANTHROPIC_API_KEY"]);
    // A model the key cannot use is a bad setting (exit 2).
    let unknown = [("ONCALL_REASONER", "anthropic"), ("ONCALL_MODEL", "claude-nonexistent-9")];
    assert_refused(
        &sim,
        &once_with(&sim, &unknown).await,
        2,
        &["ONCALL_MODEL", "claude-nonexistent-9", "claude-sonnet-4-6"],
    );
    // Nobody listens at the base URL: exit 1, naming the base URL's setting.
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );
    let nobody =
        [("ONCALL_REASONER", "openai"), ("ONCALL_MODEL", "sim-model"), ("OPENAI_BASE_URL", &format!("{closed}/v1"))];
    assert_refused(&sim, &once_with(&sim, &nobody).await, 1, &["Model endpoint", "OPENAI_BASE_URL"]);
    // The playbook needs no model: a broken model setting is not asked about.
    let playbook = [("ONCALL_REASONER", "playbook"), ("ANTHROPIC_API_KEY", "sk-ant-wrong-0000")];
    assert!(once_with(&sim, &playbook).await.status.success());
    // doctor names the check when it passes.
    let home = tempfile::tempdir().unwrap();
    let out = run(against_in(&sim, home.path()), &["doctor", "--reasoner", "openai", "--model", "sim-model"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("✓ Model endpoint") && l.contains("sim-model")), "{stdout}");
}
