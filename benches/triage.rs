//! Triage wall time per scenario against the plan's critical path: the longest chain of dependent
//! dispatch latencies (a dispatch depends on every dispatch that finished before it started, as
//! logs depend on pods). Prints figures; the target for the playbook is within 1.3× of it.
//!
//! Run: cargo bench --bench triage

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

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
    println!("{:<42} {:>9} {:>9} {:>7} {:>6}", "scenario", "triage", "critical", "ratio", "calls");
    let mut ratios = Vec::new();
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
        // Per dispatch: (start, end) as seen by the triage.
        let mut spans: HashMap<String, (Instant, Option<Instant>)> = HashMap::new();
        while let Some(e) = handle.next_event().await {
            let now = Instant::now();
            match e {
                Event::TriageStarted { .. } => started = Some(now),
                Event::HypothesisReady { .. } => ready = Some(now),
                Event::DispatchStarted { workflow_id, .. } => {
                    spans.insert(workflow_id, (now, None));
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
        println!("{name:<42} {:>7}ms {:>7}ms {:>6.2}× {:>6}", wall, critical, ratio, spans.len());
    }
    ratios.sort_by(f64::total_cmp);
    if let (Some(min), Some(max)) = (ratios.first(), ratios.last()) {
        println!("ratio to the critical path: median {:.2}×, range {min:.2}×–{max:.2}×", ratios[ratios.len() / 2]);
    }
}
