//! The simulated Conductor API over real HTTP: Orkes token auth, executions, StartWorkflowRequest
//! validation (read-only workflows and the cluster's domain only), fixtures played on the clock —
//! and the product's Conductor client against it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::time::Duration;

use oncall_triage::conductor::ConductorAuth;
use oncall_triage::conductor::{ConductorClient, ConductorError};
use oncall_triage::secret::Secret;
use oncall_triage::sim::Simulator;
use serde_json::{Value, json};

const ORG: &str = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
const CLUSTER: &str = "fixture-prod";
const EXECUTION: &str = "9d1f6a30-1b2c-4d3e-8f40-5a6b7c8d9e0f";
const NO_DOMAIN: &[&str] = &[
    "prepare_agent_handler",
    "save_agent_handler_results",
    "health_check_issues",
    "cluster_metrics_ingestion",
    "save_conductor_metrics",
    "find_latest_conductor_metrics_records",
    "certificates_expiration_summary",
    "fetch_deployment_info",
    "save_eks_version",
    "HTTP",
];

/// A StartWorkflowRequest written out by hand from domain.md §3 (independent of the product's builder).
fn request(workflow: &str, command: &str, params: Value) -> Value {
    let domain = format!("{ORG}#-#{CLUSTER}");
    let mut t2d = serde_json::Map::new();
    t2d.insert("*".into(), json!(domain));
    for t in NO_DOMAIN {
        t2d.insert((*t).into(), json!("NO_DOMAIN"));
    }
    let mut input = json!({"customerId": ORG, "organizationId": ORG, "organizationName": "Fixture Co",
        "agentHandlerId": uuid::Uuid::new_v4().to_string(), "cloudEnvironmentTag": "c0f1e2-fixture-prod", "environment": "prod",
        "agentHandlerRequest": {"clusterName": CLUSTER, "command": command, "parameters": params.clone()}});
    for (k, v) in params.as_object().unwrap() {
        input[k] = v.clone();
    }
    json!({"name": workflow, "correlationId": domain, "taskToDomain": t2d, "input": input})
}

fn client(sim: &Simulator) -> ConductorClient {
    let (key, secret) = sim.options.conductor_auth.clone().unwrap();
    ConductorClient::new(&sim.conductor_url, Some(ConductorAuth { key_id: key, key_secret: Secret::new(secret) }))
}

async fn poll_until_terminal(c: &ConductorClient, id: &str) -> Value {
    for _ in 0..200 {
        let wf = c.get_workflow(id).await.unwrap();
        if wf["status"] != "RUNNING" {
            return wf;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("workflow {id} never finished");
}

#[tokio::test]
async fn token_auth_as_orkes_does_it() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let http = common::http();
    let url = format!("{}/workflow/{EXECUTION}", sim.conductor_url);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"], "INVALID_TOKEN");
    let bad = http
        .post(format!("{}/token", sim.conductor_url))
        .json(&json!({"keyId": "x", "keySecret": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let bad_client = ConductorClient::new(
        &sim.conductor_url,
        Some(ConductorAuth { key_id: "x".into(), key_secret: Secret::new("y") }),
    );
    let err = bad_client.get_workflow(EXECUTION).await.unwrap_err();
    assert!(matches!(err, ConductorError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("CONDUCTOR_AUTH_KEY"));

    let c = client(&sim);
    let wf = c.get_workflow(EXECUTION).await.unwrap();
    assert_eq!(wf["workflowName"], "health_check");
    // A token that expires mid-triage is refreshed once, transparently.
    sim.conductor().expire_tokens();
    let resp = http.get(&url).header("X-Authorization", "whatever").send().await.unwrap();
    assert_eq!(resp.status(), 401);
    c.get_workflow(EXECUTION).await.unwrap();
    let calls: Vec<(String, u16)> = sim.conductor().requests().iter().map(|r| (r.api.clone(), r.status)).collect();
    let tokens = calls.iter().filter(|(api, s)| api == "POST /api/token" && *s == 200).count();
    assert_eq!(tokens, 2, "one token, then one refresh after expiry: {calls:?}");
    assert!(calls.iter().any(|(api, s)| api.starts_with("GET") && *s == 401));
}

#[tokio::test]
async fn without_auth_it_serves_like_open_source_conductor() {
    let options = oncall_triage::sim::SimOptions { conductor_auth: None, ..common::fast_options() };
    let sim = common::fixture_simulator(options).await;
    let c = ConductorClient::new(&sim.conductor_url, None);
    assert_eq!(c.get_workflow(EXECUTION).await.unwrap()["workflowId"], EXECUTION);
    let missing = c.get_workflow("00000000-0000-0000-0000-000000000000").await.unwrap_err();
    assert!(matches!(missing, ConductorError::NotFound { .. }), "{missing}");
}

#[tokio::test]
async fn a_valid_dispatch_answers_plain_text_and_runs_its_fixture() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    let id = c
        .start_workflow(&request("pull_logs", "PULL_LOGS", json!({"podName": "prometheus-server-abc", "lines": 200})))
        .await
        .unwrap();
    let first = c.get_workflow(&id).await.unwrap();
    assert_eq!(first["status"], "RUNNING");
    assert_eq!(first["tasks"][1]["status"], "IN_PROGRESS");
    assert_eq!(first["tasks"][1]["domain"], format!("{ORG}#-#{CLUSTER}"));
    let done = poll_until_terminal(&c, &id).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["output"]["result"], "level=info msg=ok\n");
    assert_eq!(done["tasks"].as_array().unwrap().last().unwrap()["outputData"]["result"], "level=info msg=ok\n");
}

#[tokio::test]
async fn failed_timed_out_terminated_and_unmatched_commands_say_why() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    for (workflow, command, params, status, reason) in [
        ("pull_logs", "PULL_LOGS", json!({"podName": "gone-1"}), "FAILED", "pods \"gone-1\" not found"),
        ("get_pod_events", "GET_POD_EVENTS", json!({"podName": "p"}), "TIMED_OUT", "Task timed out after 60 seconds"),
        ("get_deployments_info", "GET_DEPLOYMENTS_INFO", json!({}), "TERMINATED", "terminated by operator"),
        ("get_pods_data", "GET_PODS_DATA", json!({}), "FAILED", "no scenario fixture for get_pods_data"),
    ] {
        let id = c.start_workflow(&request(workflow, command, params)).await.unwrap();
        let wf = poll_until_terminal(&c, &id).await;
        assert_eq!(wf["status"], status, "{workflow}");
        assert_eq!(wf["reasonForIncompletion"], reason, "{workflow}");
    }
}

#[tokio::test]
async fn a_command_nobody_polls_stays_scheduled() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    let id = c.start_workflow(&request("get_ingress_info", "GET_INGRESS_INFO", json!({}))).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wf = c.get_workflow(&id).await.unwrap();
    assert_eq!(wf["status"], "RUNNING");
    assert_eq!(wf["tasks"][1]["status"], "SCHEDULED");
    assert_eq!(wf["tasks"][1]["pollCount"], 0);
}

#[tokio::test]
async fn mutating_or_misaddressed_requests_are_rejected_and_recorded() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    let valid = request("get_pods_data", "GET_PODS_DATA", json!({}));
    let mut cases: Vec<(Value, &str)> = Vec::new();
    cases
        .push((request("delete_pod", "DELETE_POD", json!({"podName": "x"})), "not a read-only investigation workflow"));
    cases.push((request("rollout_restart", "ROLLOUT_RESTART", json!({})), "not a read-only investigation workflow"));
    let mut wrong_command = valid.clone();
    wrong_command["input"]["agentHandlerRequest"]["command"] = json!("DELETE_POD");
    cases.push((wrong_command, "command must be GET_PODS_DATA"));
    let mut wrong_domain = valid.clone();
    wrong_domain["taskToDomain"]["*"] = json!("someone-else#-#their-cluster");
    cases.push((wrong_domain, "no known cluster"));
    let mut no_star = valid.clone();
    no_star["taskToDomain"].as_object_mut().unwrap().remove("*");
    cases.push((no_star, "no \"*\" entry"));
    let mut unpinned = valid.clone();
    unpinned["taskToDomain"]["prepare_agent_handler"] = json!(format!("{ORG}#-#{CLUSTER}"));
    cases.push((unpinned, "pin prepare_agent_handler to NO_DOMAIN"));
    let mut wrong_correlation = valid.clone();
    wrong_correlation["correlationId"] = json!("x");
    cases.push((wrong_correlation, "correlationId must be"));
    for (req, why) in &cases {
        let err = c.start_workflow(req).await.unwrap_err();
        match err {
            ConductorError::Http { status: 400, message } => assert!(message.contains(why), "{message} / {why}"),
            other => panic!("expected a 400 for {why}, got {other}"),
        }
    }
    let records = sim.conductor().dispatches();
    assert_eq!(records.len(), cases.len());
    assert!(records.iter().all(|r| r.workflow_id.is_none() && r.rejection.is_some()));
    c.start_workflow(&valid).await.unwrap();
    assert!(sim.conductor().dispatches().last().unwrap().rejection.is_none());
}

#[tokio::test]
async fn server_errors_are_retried_within_bounds() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    sim.conductor().inject_server_errors(2);
    assert_eq!(c.get_workflow(EXECUTION).await.unwrap()["workflowId"], EXECUTION);
    sim.conductor().inject_server_errors(50);
    let err = c.get_workflow(EXECUTION).await.unwrap_err();
    assert!(matches!(err, ConductorError::Http { status: 500, .. }), "{err}");
}

#[tokio::test]
async fn idempotency_keys_as_conductor_documents_them() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    let keyed = |key: &str, strategy: &str| {
        let mut r = request("pull_logs", "PULL_LOGS", json!({"podName": "prometheus-server-abc", "lines": 200}));
        r["idempotencyKey"] = json!(key);
        r["idempotencyStrategy"] = json!(strategy);
        r
    };
    // RETURN_EXISTING: the second start is the first workflow.
    let first = c.start_workflow(&keyed("k1", "RETURN_EXISTING")).await.unwrap();
    assert_eq!(c.start_workflow(&keyed("k1", "RETURN_EXISTING")).await.unwrap(), first);
    // FAIL: the second start is refused.
    c.start_workflow(&keyed("k2", "FAIL")).await.unwrap();
    let refused = c.start_workflow(&keyed("k2", "FAIL")).await.unwrap_err().to_string();
    assert!(refused.contains("409") || refused.contains("already exists"), "{refused}");
    // FAIL_ON_RUNNING: refused while it runs, a new workflow once it ended.
    let running = c.start_workflow(&keyed("k3", "FAIL_ON_RUNNING")).await.unwrap();
    assert!(c.start_workflow(&keyed("k3", "FAIL_ON_RUNNING")).await.is_err());
    poll_until_terminal(&c, &running).await;
    assert_ne!(c.start_workflow(&keyed("k3", "FAIL_ON_RUNNING")).await.unwrap(), running);
    // Only the workflows really created were dispatched.
    assert_eq!(sim.conductor().dispatches().len(), 4);
}

#[tokio::test]
async fn a_conductor_down_three_calls_in_a_row_is_not_asked_again_for_a_while() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    sim.conductor().inject_server_errors(1_000);
    for _ in 0..3 {
        assert!(c.get_workflow(EXECUTION).await.is_err());
    }
    let asked = sim.conductor().requests().len();
    // The next calls fail at once, saying why, without a request.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let err = c.get_workflow(EXECUTION).await.unwrap_err().to_string();
        assert!(err.contains("not asked again") && err.contains("500"), "{err}");
    }
    assert!(started.elapsed() < Duration::from_millis(500), "fail fast: {:?}", started.elapsed());
    assert_eq!(sim.conductor().requests().len(), asked, "no request while the breaker is open");
    // An execution that is not there is no outage: it never opens the breaker.
    let other = client(&sim);
    sim.conductor().recover();
    for _ in 0..5 {
        assert!(matches!(
            other.get_workflow("00000000-0000-0000-0000-000000000000").await,
            Err(ConductorError::NotFound { .. })
        ));
    }
    assert_eq!(other.get_workflow(EXECUTION).await.unwrap()["workflowId"], EXECUTION);
}

/// Orkes runs a workflow synchronously: the answer is the completed run, with no poll; a command
/// nobody picks up comes back still SCHEDULED when the wait ends. Open-source Conductor has no
/// such endpoint: the client says so (None) once, and never asks again.
#[tokio::test]
async fn the_synchronous_api_answers_the_completed_run_and_oss_has_none() {
    let sim = common::fixture_simulator(common::fast_options()).await;
    let c = client(&sim);
    let logs = request("pull_logs", "PULL_LOGS", json!({"podName": "prometheus-server-abc", "lines": 200}));
    let run = c.execute_workflow(&logs, Duration::from_secs(10)).await.unwrap().expect("Orkes has the API");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["output"]["result"], "level=info msg=ok\n");
    assert!(run["requestId"].as_str().is_some_and(|r| r.len() == 36), "{run}");
    let id = run["workflowId"].as_str().unwrap();
    assert!(!sim.conductor().requests().iter().any(|r| r.api == format!("GET /api/workflow/{id}")), "no poll");
    let nobody = request("get_ingress_info", "GET_INGRESS_INFO", json!({}));
    let started = std::time::Instant::now();
    let run = c.execute_workflow(&nobody, Duration::from_secs(1)).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "the whole wait");
    assert_eq!((run["status"].as_str(), run["tasks"][1]["status"].as_str()), (Some("RUNNING"), Some("SCHEDULED")));
    let bad = request("delete_pod", "DELETE_POD", json!({}));
    let refused = c.execute_workflow(&bad, Duration::from_secs(1)).await.unwrap_err();
    assert!(refused.to_string().contains("not a read-only investigation workflow"), "{refused}");

    let options = oncall_triage::sim::SimOptions { conductor_auth: None, ..common::fast_options() };
    let oss = common::fixture_simulator(options).await;
    let c = ConductorClient::new(&oss.conductor_url, None);
    assert_eq!(c.execute_workflow(&logs, Duration::from_secs(1)).await.unwrap(), None);
    assert_eq!(c.execute_workflow(&logs, Duration::from_secs(1)).await.unwrap(), None);
    let asked = oss.conductor().requests().iter().filter(|r| r.api.starts_with("POST /api/workflow/execute")).count();
    assert_eq!(asked, 1, "asked once, then known");
}

/// The product's dispatch, both ways: on Orkes one synchronous call and no poll; on open-source
/// Conductor a start, then polls a tenth of the time waited apart (at least `min_poll`), so the
/// result is seen soon after it is ready and the number of polls stays small.
#[tokio::test]
async fn a_dispatch_is_synchronous_on_orkes_and_polls_with_bounded_overshoot_on_oss() {
    use oncall_triage::conductor::ClusterContext;
    use oncall_triage::conductor::dispatch::{Ended, Timing, dispatch};
    use oncall_triage::domain::Command;
    let ctx =
        ClusterContext::from_execution(&json!({"input": {"organizationId": ORG, "clusterName": CLUSTER}})).unwrap();
    let timing = Timing::new(Duration::from_secs(30), Duration::from_secs(10));
    let mut params = serde_json::Map::new();
    params.insert("podName".into(), json!("prometheus-server-abc"));
    for orkes in [true, false] {
        let options = oncall_triage::sim::SimOptions {
            conductor_auth: if orkes { common::fast_options().conductor_auth } else { None },
            latency_scale: 1.0,
            ..common::fast_options()
        };
        let sim = common::fixture_simulator(options).await;
        let c = if orkes { client(&sim) } else { ConductorClient::new(&sim.conductor_url, None) };
        let (id, ended, took) =
            dispatch(&c, &ctx, Command::PullLogs, &params, timing, &format!("k-{orkes}"), |_| {}, |_| {})
                .await
                .unwrap();
        assert!(matches!(ended, Ended::Completed(_)), "{ended:?}");
        let polls = sim.conductor().requests().iter().filter(|r| r.api == format!("GET /api/workflow/{id}")).count();
        let latency = Duration::from_millis(sim.conductor().dispatches()[0].latency_ms.unwrap());
        if orkes {
            assert_eq!(polls, 0, "answered by the synchronous run");
        } else {
            // Polls at 0.1, 0.2, … s: about latency / min_poll of them, then a tenth of the wait.
            let most = (latency.as_millis() / timing.min_poll.as_millis()) as usize + 3;
            assert!((1..=most).contains(&polls), "{polls} polls for {latency:?}");
        }
        assert!(took >= latency, "{took:?} < {latency:?}");
    }
}

#[test]
fn polls_come_a_tenth_of_the_time_waited_apart_within_bounds() {
    use oncall_triage::conductor::dispatch::Timing;
    let t = Timing::new(Duration::from_secs(180), Duration::from_secs(60));
    assert_eq!(t.next_poll(Duration::ZERO), t.min_poll);
    assert_eq!(t.next_poll(Duration::from_secs(5)), Duration::from_millis(500));
    assert_eq!(t.next_poll(Duration::from_secs(100)), t.max_poll);
    // Whenever the result is ready, the next poll sees it within a tenth of the time waited
    // (or the minimum interval) after it.
    let mut at = Duration::ZERO;
    while at < Duration::from_secs(20) {
        let next = at + t.next_poll(at);
        assert!(next - at <= (at / 10).max(t.min_poll));
        at = next;
    }
}
