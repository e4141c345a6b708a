//! Soak: the real release binary as a service (`--no-tui`, polling every second) while alerts
//! arrive the way a channel brings them — a batch whenever fewer than 200 wait — until
//! ONCALL_SOAK_ALERTS (default 10,000) were answered. Each alert is its own incident on its own
//! cluster (the shipped scenarios copied under new clusters and organisations), so each one is
//! investigated. Samples the service's RSS (VmRSS) and CPU time at start and after every 1,000
//! alerts answered (the curve), then checks that none was lost or answered twice.
//!
//! Run: cargo bench --bench soak

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oncall_triage::sim::{Scenario, SimOptions, Simulator, scenario};
use serde_json::Value;

/// Copies of every shipped scenario, each under a cluster and organisation of its own, with the
/// alerts set aside (they are posted into the channel as the soak goes).
fn copies(alerts: usize) -> (Vec<Scenario>, Vec<Value>) {
    let originals = scenario::embedded().unwrap();
    let per_round: usize =
        originals.iter().map(|s| s.messages.iter().filter(|m| m.get("bot_id").is_some()).count()).sum();
    let rounds = alerts.div_ceil(per_round.max(1));
    let (mut scenarios, mut messages) = (Vec::new(), Vec::new());
    for original in originals {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios").join(&original.file);
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let (exec_id, exec) = v["executions"].as_object().unwrap().iter().next().unwrap();
        let cluster = exec["tasks"][0]["inputData"]["clusterName"].as_str().unwrap().to_string();
        let org = exec["tasks"][0]["inputData"]["organizationId"].as_str().unwrap().to_string();
        for n in 0..rounds {
            let new_exec = format!("{}{:04x}", &exec_id[..exec_id.len() - 4], n);
            let new_org = format!("{}{:04x}", &org[..org.len() - 4], n);
            let copy = text
                .replace(exec_id.as_str(), &new_exec)
                .replace(org.as_str(), &new_org)
                .replace(&cluster, &format!("{cluster}-s{n}"));
            let mut v: Value = serde_json::from_str(&copy).unwrap();
            v["name"] = format!("{}-{n}", original.name).into();
            messages.extend(v["messages"].as_array().unwrap().iter().filter(|m| m.get("bot_id").is_some()).cloned());
            v["messages"] = Value::Array(Vec::new());
            scenarios.push(serde_json::from_value(v).unwrap());
        }
    }
    messages.truncate(alerts);
    (scenarios, messages)
}

/// (VmRSS in KiB, utime + stime in clock ticks) of a process.
fn usage(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((rss, fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?))
}

#[tokio::main]
async fn main() {
    let bin = report::release_binary();
    let alerts: usize = std::env::var("ONCALL_SOAK_ALERTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let (scenarios, mut waiting) = copies(alerts);
    waiting.reverse();
    let sim = Simulator::start(scenarios, SimOptions { latency_scale: 0.02, ..SimOptions::default() }).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("HOME", home.path())
        .env("ONCALL_STATE_FILE", home.path().join("state.json"))
        .env("ONCALL_LOG_DIR", home.path().join("logs"))
        .env("ONCALL_STUCK_AFTER", "1s")
        .env("ONCALL_MAX_TRIAGES", "16")
        .env("ONCALL_POLL_INTERVAL", "1s")
        .env("RUST_LOG", "warn");
    // The allocator's tunables pass through, to compare settings.
    if let Some(tunables) = std::env::var_os("GLIBC_TUNABLES") {
        cmd.env("GLIBC_TUNABLES", tunables);
    }
    for line in sim.env_lines() {
        let (k, v) = line.split_once('=').unwrap();
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.args(["--no-tui", "--json"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = usage(pid).expect("the service runs");
    let mut curve: Vec<(usize, Duration, u64, u64)> = Vec::new();
    let mut posted_in = 0;
    loop {
        let answered = sim.slack().post_count();
        while posted_in < answered + 200
            && let Some(m) = waiting.pop()
        {
            sim.slack().add_message(m);
            posted_in += 1;
        }
        if answered / 1000 > curve.len() {
            let (rss, ticks) = usage(pid).expect("the service runs");
            curve.push((answered, started.elapsed(), rss, ticks));
            let state = std::fs::metadata(home.path().join("state.json")).map_or(0, |m| m.len());
            println!(
                "soak: {answered} alerts answered at {:.0} s: RSS {:.1} MiB, state file {:.1} MiB",
                started.elapsed().as_secs_f64(),
                rss as f64 / 1024.0,
                state as f64 / (1024.0 * 1024.0)
            );
        }
        if answered >= alerts {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the service stopped");
        assert!(started.elapsed() < Duration::from_secs(3600), "the soak took over an hour");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = usage(pid).expect("the service runs");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let status = child.wait().unwrap();
    let wall = started.elapsed();

    let posts = sim.slack().posts();
    let mut threads: Vec<String> = posts.iter().filter_map(|p| p.thread_ts.map(|t| t.to_string())).collect();
    threads.sort();
    let replies = threads.len();
    threads.dedup();
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
    println!(
        "soak: {alerts} alerts in {:.0} s, exit {:?} after SIGTERM; {replies} replies in {} threads (twice: {})",
        wall.as_secs_f64(),
        status.code(),
        threads.len(),
        replies - threads.len()
    );
    report::row("headless: RSS at start", mib(start.0), "MiB", "< 40 MiB");
    for (n, _, rss, _) in &curve {
        if *n < 2_000 || n % 5_000 < 1_000 || curve.last().is_some_and(|l| l.0 == *n) {
            report::row(&format!("headless: RSS after {} alerts", n / 1000 * 1000), mib(*rss), "MiB", "< 40 MiB, flat");
        }
    }
    if let (Some(first), Some(last)) = (curve.first(), curve.last()) {
        let growth = (last.2 as f64 / first.2 as f64 - 1.0) * 100.0;
        report::row("headless: RSS growth from 1,000 alerts to the end", format!("{growth:+.0}"), "%", "within ±10 %");
    }
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let cpu_ms = (end.1 - start.1) as f64 / ticks_per_sec * 1000.0 / alerts as f64;
    report::row("headless: CPU time per triage", format!("{cpu_ms:.1}"), "ms", "figure only (lower is better)");
    report::row(
        "soak: alerts answered twice or lost",
        format!("{}", (replies - threads.len()) + alerts.saturating_sub(threads.len())),
        "",
        "0",
    );
}
