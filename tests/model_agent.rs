//! The Anthropic agent against the scripted model (Anthropic SSE) and the simulated Conductor:
//! streamed fragments, several tool calls per turn run at once, an invented tool answered with
//! an error and never executed, overload retries, untrusted fencing, the step limit.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use oncall_triage::conductor::ConductorClient;
use oncall_triage::conductor::dispatch::Timing;
use oncall_triage::config::{ConductorAuth, Secret};
use oncall_triage::reasoner::anthropic::AnthropicAgent;
use oncall_triage::reasoner::playbook::Investigation;
use oncall_triage::sim::{SimOptions, Simulator, scenario};
use oncall_triage::slack::Ts;
use oncall_triage::tools::Toolbox;
use serde_json::{Value, json};

const EXECUTION: &str = "6d7e8f90-cd21-11f0-9b8c-0a1b2c3d4e21";

/// The Prometheus scenario with a model script and two one-second commands.
fn scripted(dir: &std::path::Path, llm: Value) -> Vec<oncall_triage::sim::Scenario> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios/06-prometheus-oomkilled-wal-replay.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    for c in s["commands"].as_array_mut().unwrap() {
        if c["workflow"] == "get_pods_data" {
            c["latency_ms"] = json!(1000);
        }
    }
    s["commands"]
        .as_array_mut()
        .unwrap()
        .push(json!({"workflow": "get_ingress_info", "output": {"result": []}, "latency_ms": 1000}));
    s["llm"] = llm;
    std::fs::write(dir.join("s.json"), s.to_string()).unwrap();
    scenario::load_dir(dir).unwrap()
}

fn agent_for(sim: &Simulator) -> (AnthropicAgent, Arc<Toolbox>) {
    let (key, secret) = sim.options.conductor_auth.clone().unwrap();
    let client =
        ConductorClient::new(&sim.conductor_url, Some(ConductorAuth { key_id: key, key_secret: Secret::new(secret) }));
    let timing = Timing {
        deadline: Duration::from_secs(10),
        stuck_after: Duration::from_secs(5),
        first_poll: Duration::from_millis(50),
        fast_for: Duration::from_secs(3),
        max_poll: Duration::from_millis(200),
    };
    let toolbox = Arc::new(Toolbox::new(Arc::new(client), timing, 8));
    (AnthropicAgent::new(&sim.anthropic_url, Secret::new(sim.options.model_key.clone()), "claude-sim"), toolbox)
}

const FINAL: &str = "*Issue*: Prometheus is down on woodgrove-prod\n*Findings*:\n• prometheus-server last terminated: OOMKilled exit code 137\n*Likely root cause*: Prometheus is OOMKilled replaying its WAL\n*Suggested next step*: Raise the prometheus-server memory limit";

#[tokio::test]
async fn a_scripted_conversation_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let llm = json!([
        {"tool_calls": [{"name": "get_pods_data", "input": {}}, {"name": "get_ingress_info", "input": {}}]},
        {"tool_calls": [{"name": "get_pod_events", "input": {"podName": "{pod:prometheus-server-}"}}, {"name": "delete_pod", "input": {"podName": "x"}}]},
        {"text": FINAL}
    ]);
    let sim = Simulator::start(scripted(dir.path(), llm), common::fast_options()).await.unwrap();
    sim.model().inject_overloaded(2);
    let home = tempfile::tempdir().unwrap();
    let out = common::run(
        common::against_in(&sim, home.path()),
        &["--no-tui", "--once", "--json", "--reasoner", "anthropic"],
    )
    .await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = common::json_lines(&out);
    assert_eq!(common::of_type(&events, "triage.started")[0]["reasoner"], "anthropic");

    // The reply is the model's, rendered and posted in the thread.
    let posts = sim.slack().posts();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0].text.starts_with("*Issue*: Prometheus is down on woodgrove-prod")
            && posts[0].text.contains("OOMKilled"),
        "{}",
        posts[0].text
    );

    // Turn 1's two calls ran at once: both dispatches started before either finished.
    let kinds: Vec<&str> =
        events.iter().map(|e| e["type"].as_str().unwrap()).filter(|t| t.starts_with("dispatch.")).collect();
    assert_eq!(&kinds[..3], ["dispatch.started", "dispatch.started", "dispatch.finished"], "{kinds:?}");

    // What the model saw: 2 overloads retried, then three turns; fenced output; the invented
    // tool answered with an error and never dispatched; the pod placeholder filled.
    let requests = sim.model().requests();
    assert_eq!(requests.len(), 5);
    let results = |r: &Value| {
        r["messages"].as_array().unwrap().last().unwrap()["content"].as_array().cloned().unwrap_or_default()
    };
    let turn2 = results(&requests[3]);
    assert!(turn2.iter().all(|b| b["content"].as_str().unwrap().starts_with("<untrusted>")), "{turn2:?}");
    let turn3 = results(&requests[4]);
    let invented = turn3.iter().find(|b| b["tool_use_id"] == "toolu_sim_1_1").unwrap_or_else(|| panic!("{turn3:#?}"));
    assert_eq!(invented["is_error"], true);
    assert!(invented["content"].as_str().unwrap().contains("there is no tool `delete_pod`"));
    let dispatched: Vec<String> = sim.conductor().dispatches().iter().map(|d| d.workflow.clone()).collect();
    assert!(!dispatched.iter().any(|w| w.contains("delete")), "{dispatched:?}");
    let events_call =
        sim.conductor().dispatches().into_iter().find(|d| d.workflow == "get_pod_events").unwrap_or_else(|| {
            panic!(
                "{:#?}",
                events
                    .iter()
                    .filter(|e| e["type"] == "tool.started" || e["type"] == "tool.finished")
                    .collect::<Vec<_>>()
            )
        });
    assert!(events_call.request["input"]["podName"].as_str().unwrap().starts_with("prometheus-server-"));
    // No secret went to the model.
    let sent = serde_json::to_string(&requests).unwrap();
    assert!(!sent.contains("sim-key-secret") && !sent.contains(&sim.options.slack_token));
}

#[tokio::test]
async fn two_one_second_tools_in_one_turn_take_one_second_not_two() {
    let dir = tempfile::tempdir().unwrap();
    let llm = json!([{"tool_calls": [{"name": "get_pods_data", "input": {}}, {"name": "get_ingress_info", "input": {}}]}, {"text": FINAL}]);
    let sim = Simulator::start(scripted(dir.path(), llm), SimOptions::default()).await.unwrap();
    let (agent, toolbox) = agent_for(&sim);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let inv = Investigation::new(Ts::from_micros(1), EXECUTION, toolbox, tx);
    let incident = inv.call("get_incident_details", json!({})).await;
    let alert = oncall_triage::slack::alert::parse_text(&format!("Prometheus is down /execution/{EXECUTION}")).unwrap();
    let started = Instant::now();
    let h = agent.triage(&alert, &inv, &incident).await.unwrap();
    let took = started.elapsed();
    assert_eq!(h.root_cause.as_deref(), Some("Prometheus is OOMKilled replaying its WAL"));
    assert!(took >= Duration::from_millis(1000) && took < Duration::from_millis(1800), "{took:?}");
}

#[tokio::test]
async fn the_step_limit_ends_with_an_honest_inconclusive_answer() {
    let dir = tempfile::tempdir().unwrap();
    // A model that never stops asking.
    let llm = json!([{"tool_calls": [{"name": "get_incident_details", "input": {"execution_id": "{execution_id}"}}]}]);
    let sim = Simulator::start(scripted(dir.path(), llm), common::fast_options()).await.unwrap();
    let (mut agent, toolbox) = agent_for(&sim);
    agent.max_steps = 3;
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let inv = Investigation::new(Ts::from_micros(1), EXECUTION, toolbox, tx);
    let incident = inv.call("get_incident_details", json!({})).await;
    let alert = oncall_triage::slack::alert::parse_text(&format!("/execution/{EXECUTION}")).unwrap();
    let h = agent.triage(&alert, &inv, &incident).await.unwrap();
    assert_eq!(h.root_cause, None);
    assert_eq!(h.check.as_deref(), Some("the model did not conclude within 3 steps"));
    assert_eq!(sim.model().requests().len(), 3);
}
