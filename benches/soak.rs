//! Soak: about 1,000 alerts through the real release binary (`--no-tui --once`) against the
//! simulator — each shipped scenario copied under 53 new clusters and organisations, so every
//! alert is a distinct incident that is investigated. Samples the process's RSS (VmRSS) every
//! 200 ms and reports it at start, peak and end; then checks that no alert was lost (every one
//! answered, every one done in the state file) and none answered twice.
//!
//! Run: cargo bench --bench soak

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oncall_triage::sim::{Scenario, SimOptions, Simulator, scenario};
use serde_json::Value;

const COPIES: usize = 53;

fn copies() -> Vec<Scenario> {
    let mut out = Vec::new();
    for original in scenario::embedded().unwrap() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios").join(&original.file);
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let (exec_id, exec) = v["executions"].as_object().unwrap().iter().next().unwrap();
        let cluster = exec["tasks"][0]["inputData"]["clusterName"].as_str().unwrap().to_string();
        let org = exec["tasks"][0]["inputData"]["organizationId"].as_str().unwrap().to_string();
        for n in 0..COPIES {
            let new_exec = format!("{}{:04x}", &exec_id[..exec_id.len() - 4], n);
            let new_org = format!("{}{:04x}", &org[..org.len() - 4], n);
            let copy = text
                .replace(exec_id.as_str(), &new_exec)
                .replace(org.as_str(), &new_org)
                .replace(&cluster, &format!("{cluster}-s{n}"));
            let mut v: Value = serde_json::from_str(&copy).unwrap();
            v["name"] = format!("{}-{n}", original.name).into();
            // Only the alerts: chatter would just be read and skipped.
            let messages: Vec<Value> =
                v["messages"].as_array().unwrap().iter().filter(|m| m.get("bot_id").is_some()).cloned().collect();
            v["messages"] = messages.into();
            out.push(serde_json::from_value(v).unwrap());
        }
    }
    out
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let built = Command::new("cargo").args(["build", "--release", "--quiet"]).status().unwrap();
    assert!(built.success());
    let scenarios = copies();
    let alerts: usize = scenarios.iter().map(|s| s.messages.len()).sum();
    let sim = Simulator::start(scenarios, SimOptions { latency_scale: 0.02, ..SimOptions::default() }).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/oncall-triage");
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("HOME", home.path())
        .env("ONCALL_STATE_FILE", home.path().join("state.json"))
        .env("ONCALL_LOG_DIR", home.path().join("logs"))
        .env("ONCALL_STUCK_AFTER", "1s")
        .env("ONCALL_MAX_TRIAGES", "16")
        .env("RUST_LOG", "warn");
    for line in sim.env_lines() {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child =
        cmd.args(["--no-tui", "--once", "--json"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if let Some(kib) = rss_kib(pid) {
            samples.push((started.elapsed(), kib));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let wall = started.elapsed();
    let posts = sim.slack().posts();
    let mut threads: Vec<String> = posts.iter().filter_map(|p| p.thread_ts.map(|t| t.to_string())).collect();
    threads.sort();
    let replies = threads.len();
    threads.dedup();
    let state: Value = serde_json::from_str(&std::fs::read_to_string(home.path().join("state.json")).unwrap()).unwrap();
    let records: Vec<&Value> = state["channels"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| c["alerts"].as_object().unwrap().values())
        .collect();
    let done = records.iter().filter(|r| matches!(r["status"].as_str(), Some("posted" | "failed"))).count();
    let first = samples.iter().find(|(t, _)| *t >= Duration::from_millis(500)).or(samples.first()).map_or(0, |s| s.1);
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let last = samples.last().map_or(0, |s| s.1);
    println!("soak: {alerts} alerts in {:.1} s, exit {:?}", wall.as_secs_f64(), status.code());
    println!(
        "soak: RSS start {:.1} MiB (at 0.5 s), peak {:.1} MiB, end {:.1} MiB ({} samples)",
        first as f64 / 1024.0,
        peak as f64 / 1024.0,
        last as f64 / 1024.0,
        samples.len()
    );
    println!(
        "soak: {} replies in {} threads (twice: {}), {} of {} alerts recorded done in the state file (lost: {})",
        replies,
        threads.len(),
        replies - threads.len(),
        done,
        records.len(),
        alerts - done
    );
}
