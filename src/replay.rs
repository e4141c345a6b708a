//! `replay` and `export` of a flight-recorder transcript (interfaces.md). Replay turns the
//! transcript into a scenario — the recorded execution, each dispatch answered exactly as it was
//! (same parameters, status and output), a model's turns as the scripted model's — and runs the
//! real triage against the simulator on loopback: no other network. An unrecorded call finds no
//! fixture and is "unavailable"; the playbook reasons afresh, so a recorded incident becomes a
//! regression test. Export writes the transcript as a Markdown incident report.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::config::{Config, ReasonerKind, Sources};
use crate::domain::Ts;
use crate::domain::{Alert, CommandStatus};
use crate::reasoner::Reasoner;
use crate::reasoner::agent::{ModelAgent, Wire};
use crate::secret::Secret;
use crate::sim::{Scenario, SimOptions, Simulator};
use crate::slack::reply;
use crate::store::transcript::{Call, Transcript};
use crate::tools::{Toolbox, parse_call, sql_guard};

/// What a replay gives: the reply produced now and the one recorded (None when none was).
pub struct Replayed {
    pub reply: String,
    pub recorded: Option<String>,
}

fn alert_of(t: &Transcript) -> Result<(Ts, Alert), String> {
    let line = t.first("alert.detail").ok_or("the transcript has no alert.detail line: nothing to replay")?;
    let ts = line["alert_ts"].as_str().and_then(Ts::parse).ok_or("alert.detail has no alert_ts")?;
    let alert = serde_json::from_value(line["alert"].clone()).map_err(|e| format!("alert.detail: {e}"))?;
    Ok((ts, alert))
}

/// A recorded dispatch as a simulator fixture: the same workflow, parameters matched exactly,
/// the same end.
fn fixture(call: &Call) -> Option<Value> {
    let started = call.started?;
    let workflow = call.dispatched?["workflow"].as_str()?;
    let tool = started["tool"].as_str()?;
    let params: Map<String, Value> =
        parse_call(tool, &started["args"], &sql_guard::Policy::default()).ok().map(|c| c.params).unwrap_or_default();
    let exact: Map<String, Value> = params
        .iter()
        .map(|(k, v)| {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            // A SQL query's plan is asked for first, with the same query behind EXPLAIN: the
            // simulator answers that from the same fixture.
            let plan = if k == "query" && workflow == "sql_conductor" {
                regex::escape(&sql_guard::plan::explain(""))
            } else {
                String::new()
            };
            (k.clone(), json!(format!("^(?:{plan})?{}$", regex::escape(&text))))
        })
        .collect();
    let status: CommandStatus =
        call.finished.and_then(|f| serde_json::from_value(f["status"].clone()).ok()).unwrap_or(CommandStatus::Failed);
    let mut fixture = json!({"workflow": workflow, "match": exact, "latency_ms": 0});
    match status {
        CommandStatus::Completed => {
            fixture["output"] = json!({"result": call.output.map_or(Value::Null, |o| o["raw"].clone())})
        }
        CommandStatus::Scheduled => fixture["status"] = json!("SCHEDULED_FOREVER"),
        other => {
            let ended = match other {
                CommandStatus::TimedOut | CommandStatus::Terminated => other,
                _ => CommandStatus::Failed,
            };
            fixture["status"] = json!(ended);
            let summary = call.done.and_then(|d| d["summary"].as_str()).unwrap_or("");
            let said = format!("the command ended {other}: ");
            let reason = summary.split_once(said.as_str()).map_or(summary, |(_, r)| r);
            fixture["reason"] = json!(reason);
        }
    }
    Some(fixture)
}

/// A recorded model reply as a scripted turn.
fn llm_turn(reply: &Value) -> Value {
    // Anthropic: content blocks; OpenAI: content + tool_calls.
    let mut calls: Vec<Value> = Vec::new();
    let mut text = String::new();
    if let Some(blocks) = reply["content"].as_array() {
        for b in blocks {
            match b["type"].as_str() {
                Some("tool_use") => calls.push(json!({"name": b["name"], "input": b["input"]})),
                Some("text") => text.push_str(b["text"].as_str().unwrap_or("")),
                _ => {}
            }
        }
    } else {
        text.push_str(reply["content"].as_str().unwrap_or(""));
        for c in reply["tool_calls"].as_array().into_iter().flatten() {
            let args = c.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("{}");
            calls.push(json!({"name": c.pointer("/function/name"), "input": serde_json::from_str::<Value>(args).unwrap_or(json!({}))}));
        }
    }
    if calls.is_empty() { json!({"text": text}) } else { json!({"tool_calls": calls}) }
}

/// Re-runs the recorded triage; `toolbox` builds the product's toolbox for a configuration.
pub async fn replay(path: &Path, toolbox: impl Fn(&Config, &str) -> Toolbox) -> Result<Replayed, String> {
    let t = Transcript::read(path)?;
    let (ts, alert) = alert_of(&t)?;
    let execution = t
        .first("execution.read")
        .map(|l| l["execution"].clone())
        .ok_or("the failing execution was not recorded (the triage failed before reading it): nothing to replay")?;
    // Read back as the product wrote it: a reasoner the product does not know is the playbook.
    let reasoner = t
        .first("triage.started")
        .and_then(|l| serde_json::from_value::<ReasonerKind>(l["reasoner"].clone()).ok())
        .unwrap_or(ReasonerKind::Playbook);
    let commands: Vec<Value> = t.calls().iter().filter_map(fixture).collect();
    let mut scenario = json!({
        "name": format!("replay of {}", path.display()),
        "messages": [],
        "executions": {alert.execution_id.clone(): execution},
        "commands": commands,
    });
    if reasoner != ReasonerKind::Playbook {
        scenario["llm"] = Value::Array(t.of("model.turn").map(|l| llm_turn(&l["reply"])).collect());
    }
    let scenario: Scenario = serde_json::from_value(scenario).map_err(|e| format!("cannot build the replay: {e}"))?;
    let options = SimOptions { latency_scale: 0.0, ..SimOptions::default() };
    let sim = Simulator::start(vec![scenario], options).await.map_err(|e| format!("cannot start the replay: {e}"))?;
    let mut config = Config::resolve(&Sources::default(), true).map_err(|e| e.to_string())?;
    sim.configure(&mut config);
    // The stuck threshold the recorded run used: how long its stuck commands sat SCHEDULED.
    let stuck_after = t
        .of("dispatch.finished")
        .filter(|l| serde_json::from_value::<CommandStatus>(l["status"].clone()).ok() == Some(CommandStatus::Scheduled))
        .find_map(|l| l["elapsed_ms"].as_u64())
        .map_or(1, |ms| (ms / 1000).max(1));
    config.conductor.stuck_after = Duration::from_secs(stuck_after);
    let toolbox = Arc::new(toolbox(&config, &sim.conductor_url));
    let key = Some(Secret::new(sim.options.model_key.clone()));
    let reasoner = match reasoner {
        ReasonerKind::Anthropic => Reasoner::Model(ModelAgent::new(Wire::Anthropic, &sim.anthropic_url, key, "replay")),
        ReasonerKind::Openai => Reasoner::Model(ModelAgent::new(Wire::OpenAi, &sim.openai_url, key, "replay")),
        ReasonerKind::Playbook => Reasoner::Playbook,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let result = crate::core::investigate(ts, &alert, &toolbox, &reasoner, &tx).await;
    drop(tx);
    let _ = drain.await;
    let h = result.map_err(|e| format!("the replayed triage failed: {e}"))?;
    let recorded = t
        .of("hypothesis.ready")
        .filter(|l| l["refire_of"].is_null())
        .last()
        .and_then(|l| l["text"].as_str())
        .map(str::to_string);
    Ok(Replayed { reply: reply::render(&h), recorded })
}

/// The transcript as a Markdown incident report.
pub fn export(path: &Path) -> Result<String, String> {
    let t = Transcript::read(path)?;
    let (ts, alert) = alert_of(&t)?;
    let mut md = String::new();
    summary(&mut md, &t, ts, &alert);
    if let Some(h) = t.last("hypothesis.ready") {
        let _ = writeln!(md, "## Reply\n");
        for line in h["text"].as_str().unwrap_or("").lines() {
            let _ = writeln!(md, "> {line}");
        }
        md.push('\n');
    }
    for d in t.of("operator.decision") {
        let _ = writeln!(
            md,
            "Operator: **{}**{} at {}\n",
            d["decision"].as_str().unwrap_or("?"),
            d["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default(),
            d["time"].as_str().unwrap_or("?")
        );
    }
    evidence(&mut md, &t.calls());
    let _ = writeln!(md, "## Timeline\n");
    for l in &t.lines {
        let kind = l["type"].as_str().unwrap_or("?");
        if matches!(kind, "tool.output" | "alert.detail" | "execution.read" | "model.turn") {
            continue;
        }
        let _ = writeln!(md, "- {} `{kind}`", l["time"].as_str().unwrap_or("?"));
    }
    Ok(md)
}

/// The report's title and its table: the alert, the reasoner, the outcome.
fn summary(md: &mut String, t: &Transcript, ts: Ts, alert: &Alert) {
    let _ = writeln!(md, "# Incident report: {}\n", alert.headline());
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Alert | `{ts}` |");
    let _ = writeln!(md, "| Severity | {} |", alert.severity.map_or("?", |s| s.as_str()));
    let _ = writeln!(md, "| Cluster | {} |", alert.cluster.as_deref().unwrap_or("?"));
    let _ = writeln!(md, "| Kinds | {} |", alert.kinds().iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
    let _ = writeln!(md, "| Execution | `{}` |", alert.execution_id);
    if let Some(r) = t.first("triage.started") {
        let _ = writeln!(md, "| Reasoner | {} |", r["reasoner"].as_str().unwrap_or("?"));
        let _ = writeln!(md, "| Triage started | {} |", r["time"].as_str().unwrap_or("?"));
    }
    let outcome = if let Some(p) = t.last("post.sent") {
        format!(
            "posted in the thread at {} (reply `{}`)",
            p["time"].as_str().unwrap_or("?"),
            p["message_ts"].as_str().unwrap_or("?")
        )
    } else if let Some(s) = t.last("post.skipped").or_else(|| t.last("alert.skipped")) {
        format!("not posted: {}", s["reason"].as_str().unwrap_or("?"))
    } else if t.last("post.queued").is_some() {
        "awaiting approval".to_string()
    } else if let Some(f) = t.last("triage.failed") {
        format!("failed: {}", f["error"].as_str().unwrap_or("?"))
    } else {
        "unfinished".to_string()
    };
    let _ = writeln!(md, "| Outcome | {outcome} |\n");
}

/// The tool calls: a table, then each call's condensed output.
fn evidence(md: &mut String, calls: &[Call<'_>]) {
    let _ = writeln!(md, "## Evidence ({} tool calls)\n", calls.len());
    let _ = writeln!(md, "| call | tool | arguments | workflow | status | elapsed |\n|---|---|---|---|---|---|");
    for c in calls {
        let Some(started) = c.started else { continue };
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} | {} | {} |",
            started["call_id"].as_str().unwrap_or(""),
            started["tool"].as_str().unwrap_or(""),
            started["args"],
            c.dispatched.and_then(|d| d["workflow_id"].as_str()).map(|w| format!("`{w}`")).unwrap_or_default(),
            c.finished
                .and_then(|f| f["status"].as_str())
                .or_else(|| c.done.map(|d| if d["ok"] == true { "ok" } else { "failed" }))
                .unwrap_or("?"),
            c.finished
                .and_then(|f| f["elapsed_ms"].as_u64())
                .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                .unwrap_or_default(),
        );
    }
    md.push('\n');
    for c in calls {
        let (Some(started), Some(output)) = (c.started, c.output) else { continue };
        let _ = writeln!(
            md,
            "### {} {}\n\n{}\n\n```\n{}\n```\n",
            started["call_id"].as_str().unwrap_or(""),
            started["tool"].as_str().unwrap_or(""),
            c.done.and_then(|d| d["summary"].as_str()).unwrap_or(""),
            output["condensed"].as_str().unwrap_or("").replace("```", "'''")
        );
    }
}
