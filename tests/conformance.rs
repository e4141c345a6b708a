//! The simulator's fidelity, judged by the official clients (slack_sdk 3.48, conductor-python
//! 2.0, anthropic 2.14, openai 3.57) from the venv that scripts/test prepares. Without that venv this test fails and says how
//! to get it: it never skips silently.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::path::PathBuf;
use std::process::Command;

#[tokio::test]
async fn official_clients_agree_with_the_simulator() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python =
        std::env::var_os("ONCALL_TEST_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv-test/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test (it installs tests/conformance/requirements.txt into .venv-test), \
         or point ONCALL_TEST_PYTHON at a python that has them",
        python.display()
    );
    let sim = common::simulator().await;
    sim.slack().inject_rate_limit("reactions.get", 1, 1);
    // One for the openai SDK, then one for the anthropic SDK: each must retry.
    sim.model().inject_overloaded(2);
    let scenario = oncall_triage::sim::scenario::embedded().unwrap().remove(0);
    let (execution_id, execution) = scenario.executions.iter().next().unwrap();
    let ctx = oncall_triage::conductor::ClusterContext::from_execution(execution).unwrap();

    let mut cmd = Command::new(&python);
    cmd.arg(root.join("tests/conformance/official_clients.py"))
        .env("EXECUTION_ID", execution_id)
        .env("ORG_ID", &ctx.organization_id)
        .env("CLUSTER_NAME", &ctx.cluster_name);
    for line in sim.env_lines() {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("conformance: all checks passed"), "{stdout}");
    let statuses: Vec<u16> =
        sim.slack().requests().iter().filter(|r| r.api == "reactions.get").map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 200], "slack_sdk retried after the 429");
    let paths: Vec<String> = sim.model().requests().iter().map(|r| r["messages"][0]["role"].to_string()).collect();
    // openai: 503, retried, then three answers (its system message first); anthropic: 529, retried, then the second turn.
    assert_eq!(paths.len(), 4 + 3, "{paths:?}");
}
