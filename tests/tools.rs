//! The read-only tools against the simulated Conductor over HTTP: each tool dispatches what
//! domain.md says and reads its answer; failures become findings; events tell the story.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use oncall_triage::conductor::ConductorAuth;
use oncall_triage::conductor::ConductorClient;
use oncall_triage::conductor::dispatch::Timing;
use oncall_triage::domain::{CommandStatus, Ts};
use oncall_triage::protocol::Event;
use oncall_triage::secret::Secret;
use oncall_triage::sim::{SimOptions, Simulator, scenario};
use oncall_triage::tools::{Scope, Toolbox};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const HEAP_EXECUTION: &str = "5e0c7a12-ca31-11f0-9d2e-0a58a9feac02";
const HOT_POD: &str = "orkes-conductor-deployment-6b7f9d4c8-x2lqp";
const FIXTURE_EXECUTION: &str = "9d1f6a30-1b2c-4d3e-8f40-5a6b7c8d9e0f";

fn fast_timing() -> Timing {
    Timing {
        deadline: Duration::from_secs(5),
        stuck_after: Duration::from_millis(400),
        sync_wait: Duration::from_secs(5),
        min_poll: Duration::from_millis(20),
        max_poll: Duration::from_millis(100),
    }
}

fn toolbox(sim: &Simulator, max_dispatches: usize) -> Toolbox {
    let (key, secret) = sim.options.conductor_auth.clone().unwrap();
    let client =
        ConductorClient::new(&sim.conductor_url, Some(ConductorAuth { key_id: key, key_secret: Secret::new(secret) }));
    Toolbox::new(Arc::new(client), fast_timing(), max_dispatches)
}

fn events() -> (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>) {
    mpsc::unbounded_channel()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn every_tool_dispatches_its_workflow_and_reads_the_answer() {
    let sim = common::simulator().await;
    let tb = toolbox(&sim, 4);
    let (tx, mut rx) = events();
    let ts = Scope { alert_ts: Ts::from_micros(1), attempt: 0 };
    for (i, (tool, args, expect)) in [
        ("get_incident_details", json!({}), "heap_memory"),
        ("get_cluster_metrics", json!({}), "decider_queue_size"),
        ("get_infrastructure_metrics", json!({}), "memoryLimitMiB"),
        ("get_pods_data", json!({}), "of 7 pods healthy"),
        ("get_deployments_info", json!({}), "orkes-conductor-deployment"),
        ("get_pod_events", json!({"podName": HOT_POD}), "Readiness probe failed"),
        ("get_top_output", json!({"podName": HOT_POD}), "1874m"),
        ("pull_pod_logs", json!({"podName": HOT_POD, "lines": 500}), "java.lang.OutOfMemoryError"),
        ("get_ingress_info", json!({}), "20.71.188.34"),
        (
            "run_sql_select",
            json!({"query": "SELECT workflow_type, count(*) FROM workflow_index GROUP BY 1"}),
            "shipment_sync",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = tb.run(ts, &format!("c{i}"), HEAP_EXECUTION, tool, &args, &tx).await;
        assert!(out.ok, "{tool}: {}", out.summary);
        assert!(out.condensed.contains(expect), "{tool}: {}", out.condensed);
    }
    // What reached Conductor: the nine commands, addressed to the alert's cluster, and the SQL
    // query's plan before the query.
    let dispatched: Vec<String> = sim.conductor().dispatches().iter().map(|d| d.workflow.clone()).collect();
    assert_eq!(dispatched.len(), 10);
    assert!(sim.conductor().dispatches().iter().all(|d| d.rejection.is_none()));
    let queries: Vec<String> = sim
        .conductor()
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == "sql_conductor")
        .map(|d| d.request["input"]["agentHandlerRequest"]["parameters"]["query"].as_str().unwrap().to_string())
        .collect();
    let capped = "SELECT * FROM (SELECT workflow_type, count(*) FROM workflow_index GROUP BY 1) AS capped LIMIT 500";
    assert_eq!(queries, [format!("EXPLAIN (FORMAT JSON) {capped}"), capped.to_string()]);
    let logs = sim.conductor().dispatches().into_iter().find(|d| d.workflow == "pull_logs").unwrap();
    assert_eq!(logs.request["input"]["podName"], HOT_POD);
    assert_eq!(logs.request["input"]["lines"], 500);
    // The events: each call started and finished; each dispatch with its id and elapsed time.
    let evs = drain(&mut rx);
    let count = |f: fn(&Event) -> bool| evs.iter().filter(|e| f(e)).count();
    assert_eq!(count(|e| matches!(e, Event::ToolStarted { .. })), 10);
    assert_eq!(count(|e| matches!(e, Event::ToolFinished { ok: true, .. })), 10);
    assert_eq!(count(|e| matches!(e, Event::DispatchStarted { .. })), 10);
    assert_eq!(
        count(|e| matches!(e, Event::DispatchFinished { status, .. } if *status == CommandStatus::Completed)),
        10
    );
    // The execution was read once, whatever the number of calls (the context is cached).
    let reads =
        sim.conductor().requests().iter().filter(|r| r.api == format!("GET /api/workflow/{HEAP_EXECUTION}")).count();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn the_execution_cache_keeps_the_running_triages_executions_and_drops_the_least_recently_used() {
    let sim = common::simulator().await;
    let tb = toolbox(&sim, 4).with_executions_kept(2);
    let ids: Vec<String> =
        scenario::embedded().unwrap().iter().flat_map(|s| s.executions.keys().cloned()).take(3).collect();
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    // Two triages run (a and b), a third starts (c): the one read least recently (b) makes room,
    // while a, still in use, is not read again.
    for id in [a, b, a, c, a, c] {
        tb.incident(id).await.unwrap();
    }
    let reads =
        |id: &str| sim.conductor().requests().iter().filter(|r| r.api == format!("GET /api/workflow/{id}")).count();
    assert_eq!((reads(a), reads(b), reads(c)), (1, 1, 1));
    tb.incident(b).await.unwrap();
    assert_eq!(reads(b), 2, "b had made room: it is read again");
    assert_eq!(reads(a) + reads(c), 2, "…and only one of a and c made room for it");
}

#[tokio::test]
async fn calls_made_at_once_share_one_read_of_the_execution() {
    // A plan's first stage asks for several tools at once: each needs the execution, and one read
    // serves them all (not one read, and one parsed copy in memory, per call).
    let sim = common::simulator().await;
    let tb = Arc::new(toolbox(&sim, 4));
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let tb = tb.clone();
            tokio::spawn(async move { tb.incident(HEAP_EXECUTION).await.map(|e| e.id.clone()) })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), HEAP_EXECUTION);
    }
    let reads =
        sim.conductor().requests().iter().filter(|r| r.api == format!("GET /api/workflow/{HEAP_EXECUTION}")).count();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn failed_stuck_and_invented_calls_become_findings() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let tb = toolbox(&sim, 4);
    let (tx, mut rx) = events();
    let ts = Scope { alert_ts: Ts::from_micros(1), attempt: 0 };
    let failed = tb.run(ts, "a", FIXTURE_EXECUTION, "pull_pod_logs", &json!({"podName": "gone-1"}), &tx).await;
    assert!(!failed.ok);
    assert_eq!(failed.summary, "pull_pod_logs unavailable: the command ended FAILED: pods \"gone-1\" not found");
    let started = Instant::now();
    let stuck = tb.run(ts, "b", FIXTURE_EXECUTION, "get_ingress_info", &json!({}), &tx).await;
    assert!(!stuck.ok);
    assert!(
        stuck.summary.starts_with(
            "get_ingress_info unavailable: in-cluster agent not polling: the command's task was still SCHEDULED after"
        ),
        "{}",
        stuck.summary
    );
    assert!(started.elapsed() < Duration::from_secs(3), "reported at the stuck threshold, not the deadline");
    let timed_out = tb.run(ts, "c", FIXTURE_EXECUTION, "get_pod_events", &json!({"podName": "p"}), &tx).await;
    assert_eq!(
        timed_out.summary,
        "get_pod_events unavailable: the command ended TIMED_OUT: Task timed out after 60 seconds"
    );
    let invented = tb.run(ts, "d", FIXTURE_EXECUTION, "delete_pod", &json!({"podName": "p"}), &tx).await;
    assert!(
        !invented.ok && invented.summary.starts_with("tool error: there is no tool `delete_pod`"),
        "{}",
        invented.summary
    );
    let wrong_execution =
        tb.run(ts, "e", FIXTURE_EXECUTION, "get_pods_data", &json!({"execution_id": HEAP_EXECUTION}), &tx).await;
    assert!(!wrong_execution.ok && wrong_execution.summary.contains("this triage is about execution"));
    let bad_sql = tb
        .run(ts, "f", FIXTURE_EXECUTION, "run_sql_select", &json!({"query": "UPDATE workflow SET json_data = ''"}), &tx)
        .await;
    assert!(
        !bad_sql.ok && bad_sql.summary.starts_with("tool error: run_sql_select: query rejected"),
        "{}",
        bad_sql.summary
    );
    // Nothing invented or rejected reached Conductor.
    let names: Vec<String> = sim.conductor().dispatches().iter().map(|d| d.workflow.clone()).collect();
    assert_eq!(names, vec!["pull_logs", "get_ingress_info", "get_pod_events"]);
    let events = drain(&mut rx);
    let statuses: Vec<CommandStatus> = events
        .iter()
        .filter_map(|e| match e {
            Event::DispatchFinished { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![CommandStatus::Failed, CommandStatus::Scheduled, CommandStatus::TimedOut]);
    // While the stuck one waited, the console was told its task was unclaimed (honest waits).
    assert!(
        events.iter().any(|e| matches!(e, Event::DispatchClaimed { call_id, claimed: false, .. } if call_id == "b")),
        "no dispatch.claimed false for the stuck command"
    );
}

#[tokio::test]
async fn a_token_expiring_mid_triage_is_renewed_without_a_failed_call() {
    let sim = common::simulator().await;
    let tb = toolbox(&sim, 4);
    let (tx, _rx) = events();
    let ts = Scope { alert_ts: Ts::from_micros(1), attempt: 0 };
    assert!(tb.run(ts, "a", HEAP_EXECUTION, "get_pods_data", &json!({}), &tx).await.ok);
    sim.conductor().expire_tokens();
    let out = tb.run(ts, "b", HEAP_EXECUTION, "get_cluster_metrics", &json!({}), &tx).await;
    assert!(out.ok, "{}", out.summary);
    let tokens = sim.conductor().requests().iter().filter(|r| r.api == "POST /api/token").count();
    assert_eq!(tokens, 2);
}

#[tokio::test]
async fn a_conductor_500_storm_is_retried_then_reported_not_fatal() {
    let sim = common::simulator().await;
    let tb = toolbox(&sim, 4);
    let (tx, _rx) = events();
    let ts = Scope { alert_ts: Ts::from_micros(1), attempt: 0 };
    sim.conductor().inject_server_errors(2);
    assert!(tb.run(ts, "a", HEAP_EXECUTION, "get_pods_data", &json!({}), &tx).await.ok, "a short storm is ridden out");
    sim.conductor().inject_server_errors(1000);
    let out = tb.run(ts, "b", HEAP_EXECUTION, "get_cluster_metrics", &json!({}), &tx).await;
    assert!(!out.ok);
    assert!(out.summary.starts_with("get_cluster_metrics unavailable: Conductor answered HTTP 500"), "{}", out.summary);
}

#[tokio::test]
async fn dispatches_run_concurrently_within_the_bound() {
    let sim = common::simulator().await;
    let tb = Arc::new(toolbox(&sim, 2));
    let (tx, mut rx) = events();
    let ts = Scope { alert_ts: Ts::from_micros(1), attempt: 0 };
    let calls = ["get_pods_data", "get_deployments_info", "get_ingress_info", "get_infrastructure_metrics"].map(|t| {
        let (tb, tx) = (tb.clone(), tx.clone());
        tokio::spawn(async move { tb.run(ts, t, HEAP_EXECUTION, t, &json!({}), &tx).await })
    });
    for c in calls {
        assert!(c.await.unwrap().ok);
    }
    // Conductor saw two workflows running at once, never more (a dispatch's start event comes
    // with its run's answer when Conductor runs it synchronously, so the events cannot tell).
    assert_eq!(drain(&mut rx).iter().filter(|e| matches!(e, Event::DispatchFinished { .. })).count(), 4);
    assert_eq!(sim.conductor().peak_running(), 2, "concurrent, and never more than the bound");
}

#[tokio::test]
async fn a_ten_megabyte_log_is_condensed_and_keeps_every_exception_class() {
    let dir = tempfile::tempdir().unwrap();
    let text = oncall_triage::sim::synthetic::java_log(10 * 1024 * 1024);
    let classes = oncall_triage::sim::synthetic::EXCEPTION_CLASSES;
    let mut s: Value =
        serde_json::from_str(&std::fs::read_to_string("tests/fixtures/scenarios/failing-commands.json").unwrap())
            .unwrap();
    s["commands"].as_array_mut().unwrap().insert(
        0,
        json!({"workflow": "pull_logs", "match": {"podName": "^big-"}, "output": {"result": text}, "latency_ms": 10}),
    );
    std::fs::write(dir.path().join("big.json"), s.to_string()).unwrap();
    let sim = Simulator::start(scenario::load_dir(dir.path()).unwrap(), SimOptions::default()).await.unwrap();
    let tb = toolbox(&sim, 1);
    let (tx, _rx) = events();
    let out = tb
        .run(
            Scope { alert_ts: Ts::from_micros(1), attempt: 0 },
            "a",
            FIXTURE_EXECUTION,
            "pull_pod_logs",
            &json!({"podName": "big-1"}),
            &tx,
        )
        .await;
    assert!(out.ok, "{}", out.summary);
    assert_eq!(out.data.as_str().map(str::len), Some(text.len()), "the raw output is kept whole");
    assert!(out.condensed.len() * 20 <= text.len(), "condensed to {} bytes", out.condensed.len());
    for c in classes.iter().chain(["java.io.IOException"].iter()) {
        assert!(out.condensed.contains(c), "{c} survived");
    }
}

#[tokio::test]
async fn a_query_whose_plan_is_over_the_budget_is_refused_before_it_runs() {
    let sim = common::simulator().await;
    let tb = toolbox(&sim, 4).with_sql_policy(oncall_triage::tools::sql_guard::Policy::default().with_max_cost(5.0));
    let (tx, _rx) = events();
    let query = json!({"query": "SELECT workflow_type, count(*) FROM workflow_index GROUP BY 1"});
    let out = tb
        .run(Scope { alert_ts: Ts::from_micros(1), attempt: 0 }, "a", HEAP_EXECUTION, "run_sql_select", &query, &tx)
        .await;
    assert!(!out.ok);
    assert!(
        out.summary.starts_with("run_sql_select refused: the query was not run: PostgreSQL estimates its cost at 10"),
        "{}",
        out.summary
    );
    // Only the plan was asked for.
    let sql = common::sql_queries(&sim);
    assert_eq!(sql.len(), 1);
    assert!(sql[0].starts_with("EXPLAIN (FORMAT JSON) "), "{sql:?}");
}
