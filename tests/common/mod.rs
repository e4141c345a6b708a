//! Helpers shared by the integration tests: a simulator on loopback, fast enough for tests.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use oncall_triage::sim::{SimOptions, Simulator, scenario};
use serde_json::Value;

pub fn fast_options() -> SimOptions {
    SimOptions { latency_scale: 0.05, ..SimOptions::default() }
}

/// The embedded scenarios on a simulator with fixture latencies scaled down 20×.
pub async fn simulator() -> Simulator {
    Simulator::start(scenario::embedded().expect("embedded scenarios"), fast_options()).await.expect("simulator")
}

/// The test-only scenarios of tests/fixtures/scenarios (failed, timed-out and stuck commands).
pub async fn fixture_simulator(options: SimOptions) -> Simulator {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    Simulator::start(scenario::load_dir(&dir).expect("fixture scenarios"), options).await.expect("simulator")
}

pub fn http() -> reqwest::Client {
    oncall_triage::http::client(Duration::from_secs(20))
}

pub fn binary() -> Command {
    binary_in(&tempfile::tempdir().unwrap().keep())
}

/// The binary with HOME, logs and state under `home`.
pub fn binary_in(home: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oncall-triage"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("ONCALL_LOG_DIR", home.join("logs"))
        .env("ONCALL_STATE_FILE", home.join("state.json"))
        // The simulator knows at once that a command is never polled: no need to wait a minute.
        .env("ONCALL_STUCK_AFTER", "2s");
    cmd
}

/// How many alerts the shipped scenarios post (one each).
pub fn shipped_alerts() -> usize {
    scenario::embedded().expect("embedded scenarios").len()
}

pub fn against(sim: &Simulator) -> Command {
    against_in(sim, &tempfile::tempdir().unwrap().keep())
}

pub fn against_in(sim: &Simulator, home: &std::path::Path) -> Command {
    let mut cmd = binary_in(home);
    for line in sim.env_lines() {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v);
    }
    cmd
}

pub fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == t).collect()
}

/// Runs the binary with `args` off the async threads (the simulator keeps serving meanwhile).
pub async fn run(mut cmd: Command, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || cmd.args(&args).output().unwrap()).await.unwrap()
}

/// An alert message as the health-check notifier posts it.
pub fn alert_message(severity: &str, org: &str, cluster: &str, issue: &str, execution_id: &str) -> Value {
    serde_json::json!({
        "text": format!(":warning: *`[{severity}]`* The health-checking has FAILED for the _{org}'s_ prod *`{cluster}`* cluster with the following issue:\n*{severity}:* {issue}\n<https://ah5r-prod.orkesconductor.com/execution/{execution_id}|View execution>"),
        "bot_id": "B06QH3ALRT7", "subtype": "bot_message",
    })
}

/// The embedded scenario alerts' execution ids, for alerts that must find their execution.
pub const ACME_EXECUTION: &str = "3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7";
pub const ACME_REDIS_ISSUE: &str = "The Redis instance is at 57%, above the MAJOR threshold of 50%";

/// The queries sent to `sql_conductor`, in order (a query's plan is asked for first).
pub fn sql_queries(sim: &Simulator) -> Vec<String> {
    sim.conductor()
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == "sql_conductor")
        .map(|d| d.request["input"]["query"].as_str().unwrap_or_default().to_string())
        .collect()
}
