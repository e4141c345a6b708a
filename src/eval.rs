//! `eval`: every scenario through the simulator, headless and in auto-post mode, judged against
//! its `expect` (scenarios.md): each alert answered once, every `root_cause` regex matching the
//! reply, no `must_not` matching, the expected workflows dispatched, at most `max_dispatches` per
//! alert, no request the simulated Conductor had to reject. One row per scenario and a total.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::config::{Config, Sources};
use crate::core::{self, Mode, Services};
use crate::domain::Ts;
use crate::protocol::Event;
use crate::sim::scenario::Expect;
use crate::sim::{Scenario, SimOptions, Simulator};
use crate::slack::SlackClient;
use crate::store::StateStore;
use crate::tools::Toolbox;

pub struct Row {
    pub name: String,
    pub problems: Vec<String>,
    pub dispatches: usize,
    pub wall: Duration,
}

impl Row {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs one scenario on a simulator of its own.
pub async fn run_scenario(scenario: Scenario, options: SimOptions, toolbox: impl Fn(&Config) -> Toolbox) -> Row {
    let name = scenario.name.clone();
    let expect = scenario.expect.clone();
    let started = Instant::now();
    let fail =
        |problem: String| Row { name: name.clone(), problems: vec![problem], dispatches: 0, wall: started.elapsed() };
    let sim = match Simulator::start(vec![scenario], options).await {
        Ok(s) => s,
        Err(e) => return fail(format!("simulator: {e}")),
    };
    let dir = match tempfile_dir() {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let mut config = match Config::resolve(&Sources::default(), true) {
        Ok(c) => c,
        Err(e) => return fail(e.to_string()),
    };
    sim.configure(&mut config);
    config.state_file = dir.join("state.json");
    config.conductor.stuck_after = crate::sim::SIMULATED_STUCK_AFTER;
    let store = match StateStore::open(&config.state_file) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    let services = Services {
        slack: SlackClient::new(&sim.slack_url, crate::secret::Secret::new(sim.options.slack_token.clone())),
        channel: sim.channel().to_string(),
        toolbox: Arc::new(toolbox(&config)),
        reasoner: Arc::new(crate::reasoner::Reasoner::Playbook),
    };
    let mut handle = core::start(
        Arc::new(config),
        services,
        store,
        Mode::Once,
        crate::metrics::Metrics::new(std::time::Duration::from_secs(30)),
    );
    let mut dispatched_per_alert: BTreeMap<Ts, usize> = BTreeMap::new();
    let mut alerts: Vec<Ts> = Vec::new();
    let mut problems = Vec::new();
    while let Some(event) = handle.next_event().await {
        match event {
            Event::AlertReceived { alert_ts, .. } => alerts.push(alert_ts),
            Event::DispatchStarted { alert_ts, .. } => *dispatched_per_alert.entry(alert_ts).or_default() += 1,
            Event::TriageFailed { alert_ts, error, .. } => {
                problems.push(format!("triage of {alert_ts} failed: {error}"))
            }
            _ => {}
        }
    }
    if let Err(e) = handle.finish().await {
        problems.push(e.to_string());
    }
    let _ = std::fs::remove_dir_all(&dir);

    problems.extend(judge(&sim, &expect, &alerts, &dispatched_per_alert));
    Row { name, problems, dispatches: sim.conductor().dispatches().len(), wall: started.elapsed() }
}

/// What the scenario's `expect` finds wrong with the run: one reply per alert matching every
/// `root_cause` and no `must_not`, the dispatch limits, the workflows expected, no rejection.
fn judge(sim: &Simulator, expect: &Expect, alerts: &[Ts], dispatched_per_alert: &BTreeMap<Ts, usize>) -> Vec<String> {
    let mut problems = Vec::new();
    let posts = sim.slack().posts();
    for alert in alerts {
        let replies: Vec<String> =
            posts.iter().filter(|p| p.thread_ts == Some(*alert)).map(|p| format!("{}\n{}", p.text, p.blocks)).collect();
        if replies.len() != 1 {
            problems.push(format!("alert {alert}: {} replies, expected one", replies.len()));
            continue;
        }
        for re in &expect.root_cause {
            if !Regex::new(re).is_ok_and(|r| r.is_match(&replies[0])) {
                problems.push(format!("alert {alert}: the reply does not match root_cause {re:?}"));
            }
        }
        for re in &expect.must_not {
            if Regex::new(re).is_ok_and(|r| r.is_match(&replies[0])) {
                problems.push(format!("alert {alert}: the reply matches must_not {re:?}"));
            }
        }
        let n = dispatched_per_alert.get(alert).copied().unwrap_or(0);
        if let Some(max) = expect.max_dispatches
            && n > max as usize
        {
            problems.push(format!("alert {alert}: {n} dispatches, at most {max} expected"));
        }
    }
    if alerts.is_empty() {
        problems.push("no alert was recognised".into());
    }
    let records = sim.conductor().dispatches();
    for wf in &expect.dispatch_at_least {
        if !records.iter().any(|d| &d.workflow == wf && d.rejection.is_none()) {
            problems.push(format!("{wf} was never dispatched"));
        }
    }
    for r in records.iter().filter(|d| d.rejection.is_some()) {
        problems.push(format!(
            "the simulator rejected a dispatch of {}: {}",
            r.workflow,
            r.rejection.clone().unwrap_or_default()
        ));
    }
    problems
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("oncall-triage-eval-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Runs every scenario at once (each on its own simulator) and returns the rows in order.
pub async fn run_all(scenarios: Vec<Scenario>, options: SimOptions, toolbox: fn(&Config) -> Toolbox) -> Vec<Row> {
    let tasks: Vec<_> = scenarios
        .into_iter()
        .map(|s| {
            let options = options.clone();
            tokio::spawn(async move { run_scenario(s, options, toolbox).await })
        })
        .collect();
    let mut rows = Vec::new();
    for t in tasks {
        match t.await {
            Ok(row) => rows.push(row),
            Err(e) => rows.push(Row {
                name: "?".into(),
                problems: vec![format!("panicked: {e}")],
                dispatches: 0,
                wall: Duration::ZERO,
            }),
        }
    }
    rows
}

/// The table `eval` prints.
pub fn table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    let mut out = format!("{:<6} {:<width$} {:>10} {:>8}\n", "result", "scenario", "dispatches", "wall");
    for r in rows {
        let verdict = if r.passed() { "PASS" } else { "FAIL" };
        out.push_str(&format!("{verdict:<6} {:<width$} {:>10} {:>7.1}s\n", r.name, r.dispatches, r.wall.as_secs_f64()));
        for p in &r.problems {
            out.push_str(&format!("         - {p}\n"));
        }
    }
    let passed = rows.iter().filter(|r| r.passed()).count();
    out.push_str(&format!("eval: {passed} passed, {} failed\n", rows.len() - passed));
    out
}
