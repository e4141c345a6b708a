//! Triage wall time per scenario against the plan's critical path: the longest chain of dependent
//! dispatch latencies (a dispatch depends on every dispatch that finished before it started, as
//! logs depend on pods). Prints figures; the target for the playbook is within 1.3× of it.
//!
//! Run: cargo bench --bench triage

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use oncall_triage::conductor::ConductorAuth;
use oncall_triage::conductor::ConductorClient;
use oncall_triage::conductor::dispatch::Timing;
use oncall_triage::config::{Config, Sources};
use oncall_triage::core::{self, Mode, Services};
use oncall_triage::protocol::Event;
use oncall_triage::secret::Secret;
use oncall_triage::sim::{SimOptions, Simulator, scenario};
use oncall_triage::slack::SlackClient;
use oncall_triage::store::StateStore;
use oncall_triage::tools::Toolbox;

#[tokio::main]
async fn main() {
    println!("{:<42} {:>9} {:>9} {:>7} {:>8} {:>6}", "scenario", "triage", "critical", "ratio", "vs sum", "calls");
    let (mut ratios, mut to_sum) = (Vec::new(), Vec::new());
    for s in scenario::embedded().unwrap() {
        let name = s.name.clone();
        let sim = Simulator::start(vec![s], SimOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::resolve(&Sources::default(), true).unwrap();
        sim.configure(&mut config);
        config.state_file = dir.path().join("state.json");
        config.post = oncall_triage::config::PostPolicy::Never;
        config.conductor.stuck_after = oncall_triage::sim::SIMULATED_STUCK_AFTER;
        let (key, secret) = sim.options.conductor_auth.clone().unwrap();
        let client = ConductorClient::new(
            &sim.conductor_url,
            Some(ConductorAuth { key_id: key, key_secret: Secret::new(secret) }),
        );
        let timing = Timing::new(config.conductor.dispatch_timeout, config.conductor.stuck_after);
        let services = Services {
            slack: SlackClient::new(&sim.slack_url, Secret::new(sim.options.slack_token.clone())),
            channel: sim.channel().to_string(),
            toolbox: Arc::new(Toolbox::new(Arc::new(client), timing, 8)),
            reasoner: Arc::new(oncall_triage::reasoner::Reasoner::Playbook),
        };
        let store = StateStore::open(&config.state_file).unwrap();
        let mut handle = core::start(
            Arc::new(config),
            services,
            store,
            Mode::Once,
            oncall_triage::metrics::Metrics::new(std::time::Duration::from_secs(30)),
        );
        let (mut started, mut ready) = (None, None);
        // A command nobody polls never completes: its wait is the stuck threshold, not latency.
        let mut stuck = false;
        // Per dispatch: (start, end) as seen by the triage, from its tool call's start (a
        // synchronous run names its workflow only when it answers) to its result.
        let mut spans: HashMap<String, (Instant, Option<Instant>)> = HashMap::new();
        let mut calls: HashMap<String, Instant> = HashMap::new();
        while let Some(e) = handle.next_event().await {
            let now = Instant::now();
            match e {
                Event::TriageStarted { .. } => started = Some(now),
                Event::HypothesisReady { .. } => ready = Some(now),
                Event::ToolStarted { call_id, .. } => {
                    calls.insert(call_id, now);
                }
                Event::DispatchStarted { call_id, workflow_id, .. } => {
                    spans.insert(workflow_id, (calls.get(&call_id).copied().unwrap_or(now), None));
                }
                Event::DispatchFinished { workflow_id, status, .. } => {
                    stuck |= status == oncall_triage::domain::CommandStatus::Scheduled;
                    if let Some(s) = spans.get_mut(&workflow_id) {
                        s.1 = Some(now);
                    }
                }
                _ => {}
            }
        }
        let _ = handle.finish().await;
        let latency: HashMap<String, u64> =
            sim.conductor().dispatches().into_iter().filter_map(|d| Some((d.workflow_id?, d.latency_ms?))).collect();
        // Longest chain of fixture latencies along "started after that one finished".
        let mut order: Vec<(&String, &(Instant, Option<Instant>))> = spans.iter().collect();
        order.sort_by_key(|(_, (s, _))| *s);
        let mut chain: HashMap<&String, u64> = HashMap::new();
        for (id, (start, _)) in &order {
            let before = order
                .iter()
                .filter(|(other, (_, end))| other != id && end.is_some_and(|e| e <= *start))
                .map(|(other, _)| chain.get(other).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            chain.insert(id, before + latency.get(*id).copied().unwrap_or(0));
        }
        let critical = chain.values().copied().max().unwrap_or(0);
        // What a one-call-at-a-time agent pays: every latency in turn.
        let sum: u64 = spans.keys().filter_map(|id| latency.get(id)).sum();

        let wall = match (started, ready) {
            (Some(s), Some(r)) => r.duration_since(s).as_millis() as u64,
            _ => 0,
        };
        let ratio = wall as f64 / critical.max(1) as f64;
        if stuck {
            println!(
                "{name:<42} {:>7}ms {:>9} {:>7} {:>6}  (a stuck command: bounded by the stuck threshold)",
                wall,
                "-",
                "-",
                spans.len()
            );
            continue;
        }
        if critical == 0 {
            println!("{name:<42} {:>7}ms {:>9} {:>7} {:>6}  (nothing to dispatch)", wall, "-", "-", spans.len());
            continue;
        }
        ratios.push(ratio);
        to_sum.push(wall as f64 / sum.max(1) as f64);
        let vs_sum = wall as f64 / sum.max(1) as f64;
        println!("{name:<42} {:>7}ms {:>7}ms {:>6.2}× {:>7.2}× {:>6}", wall, critical, ratio, vs_sum, spans.len());
        report::row(&format!("triage {name}: against the critical path"), format!("{ratio:.2}"), "×", "≤ 1.05×");
    }
    ratios.sort_by(f64::total_cmp);
    to_sum.sort_by(f64::total_cmp);
    report::row(
        "triage: against the critical path, median",
        format!("{:.2}", report::quantile(&ratios, 0.5)),
        "×",
        "≤ 1.05×",
    );
    report::row(
        "triage: against the critical path, worst",
        format!("{:.2}", report::quantile(&ratios, 1.0)),
        "×",
        "≤ 1.05×",
    );
    report::row(
        "triage: against the sum of latencies, median",
        format!("{:.2}", report::quantile(&to_sum, 0.5)),
        "×",
        "< 1× (parallel)",
    );
}
