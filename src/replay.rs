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
use crate::domain::{Alert, CommandStatus, Ts};
use crate::protocol::{Decision, Event, wire_name};
use crate::reasoner::Reasoner;
use crate::reasoner::agent::{ModelAgent, Wire};
use crate::secret::Secret;
use crate::sim::{Scenario, SimOptions, Simulator};
use crate::slack::reply;
use crate::store::transcript::{Call, Transcript, TranscriptError};
use crate::tools::{Scope, Toolbox, parse_call, sql_guard};

/// What a replay gives: the reply produced now and the one recorded (None when none was).
pub struct Replayed {
    pub reply: String,
    pub recorded: Option<String>,
}

/// Why a transcript cannot be replayed or exported.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Transcript(#[from] TranscriptError),
    #[error("{0}: nothing to replay")]
    Incomplete(&'static str),
    #[error("cannot start the replay: {0}")]
    Setup(String),
    #[error("the replayed triage failed: {0}")]
    Failed(String),
}

fn alert_of(t: &Transcript) -> Result<(Ts, &Alert), ReplayError> {
    t.first(|l| match &l.event {
        Event::AlertDetail { alert_ts, alert } => Some((*alert_ts, alert)),
        _ => None,
    })
    .ok_or(ReplayError::Incomplete("the transcript has no alert.detail line"))
}

/// A recorded dispatch as a simulator fixture: the same workflow, parameters matched exactly,
/// the same end.
fn fixture(call: &Call) -> Option<Value> {
    let (tool, args, workflow) = (call.tool?, call.args?, call.workflow?);
    let params: Map<String, Value> =
        parse_call(tool, args, &sql_guard::Policy::default()).ok().map(|c| c.params).unwrap_or_default();
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
    let mut fixture = json!({"workflow": workflow, "match": exact, "latency_ms": 0});
    match call.status.unwrap_or(CommandStatus::Failed) {
        CommandStatus::Completed => fixture["output"] = json!({"result": call.raw.cloned().unwrap_or(Value::Null)}),
        CommandStatus::Scheduled => fixture["status"] = json!("SCHEDULED_FOREVER"),
        other => {
            let ended = match other {
                CommandStatus::TimedOut | CommandStatus::Terminated => other,
                _ => CommandStatus::Failed,
            };
            fixture["status"] = json!(ended);
            fixture["reason"] = json!(call.reason.unwrap_or(""));
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
pub async fn replay(path: &Path, toolbox: impl Fn(&Config, &str) -> Toolbox) -> Result<Replayed, ReplayError> {
    let t = Transcript::read(path)?;
    let (ts, alert) = alert_of(&t)?;
    let execution = t
        .first(|l| match &l.event {
            Event::ExecutionRead { execution, .. } => Some(execution.clone()),
            _ => None,
        })
        .ok_or(ReplayError::Incomplete(
            "the failing execution was not recorded (the triage failed before reading it)",
        ))?;
    // Read back as the product wrote it: a reasoner the product does not know is the playbook.
    let reasoner = t
        .first(|l| match &l.event {
            Event::TriageStarted { reasoner, .. } => serde_json::from_value::<ReasonerKind>(json!(reasoner)).ok(),
            _ => None,
        })
        .unwrap_or(ReasonerKind::Playbook);
    let calls = t.calls();
    let commands: Vec<Value> = calls.iter().filter_map(fixture).collect();
    let mut scenario = json!({
        "name": format!("replay of {}", path.display()),
        "messages": [],
        "executions": {alert.execution_id.clone(): execution},
        "commands": commands,
    });
    if reasoner != ReasonerKind::Playbook {
        let turns = t.events().filter_map(|e| match e {
            Event::ModelTurn { reply, .. } => Some(llm_turn(reply)),
            _ => None,
        });
        scenario["llm"] = Value::Array(turns.collect());
    }
    let scenario: Scenario = serde_json::from_value(scenario).map_err(|e| ReplayError::Setup(e.to_string()))?;
    let options = SimOptions { latency_scale: 0.0, ..SimOptions::default() };
    let sim = Simulator::start(vec![scenario], options).await.map_err(|e| ReplayError::Setup(e.to_string()))?;
    let mut config = Config::resolve(&Sources::default(), true).map_err(|e| ReplayError::Setup(e.to_string()))?;
    sim.configure(&mut config);
    // The stuck threshold the recorded run used: how long its stuck commands sat SCHEDULED.
    let stuck_after = calls
        .iter()
        .filter(|c| c.status == Some(CommandStatus::Scheduled))
        .find_map(|c| c.elapsed_ms)
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
    let result = crate::core::investigate(Scope { alert_ts: ts, attempt: 0 }, alert, &toolbox, &reasoner, &tx).await;
    drop(tx);
    let _ = drain.await;
    let h = result.map_err(|e| ReplayError::Failed(e.to_string()))?;
    let recorded = t.last(|l| match &l.event {
        Event::HypothesisReady { text, refire_of: None, .. } => Some(text.clone()),
        _ => None,
    });
    Ok(Replayed { reply: reply::render(&h), recorded })
}

/// The transcript as a Markdown incident report.
pub fn export(path: &Path) -> Result<String, ReplayError> {
    let t = Transcript::read(path)?;
    let (ts, alert) = alert_of(&t)?;
    let mut md = String::new();
    summary(&mut md, &t, ts, alert);
    let draft = t.last(|l| match &l.event {
        Event::HypothesisReady { text, .. } => Some(text),
        _ => None,
    });
    // What was posted: the operator's edit when they made one, else the draft.
    let edit = t.last(|l| match &l.event {
        Event::Decision { decision: Decision::Edited, text: Some(text), .. } => Some(text),
        _ => None,
    });
    let mut quote = |title: &str, text: &str| {
        let _ = writeln!(md, "## {title}\n");
        for line in text.lines() {
            let _ = writeln!(md, "> {line}");
        }
        md.push('\n');
    };
    match (edit, draft) {
        (Some(edit), draft) => {
            quote("Reply (as posted, edited by the operator)", edit);
            if let Some(draft) = draft {
                quote("The draft before the edit", draft);
            }
        }
        (None, Some(draft)) => quote("Reply", draft),
        (None, None) => {}
    }
    for l in &t.lines {
        if let Event::Decision { decision, reason, .. } = &l.event {
            let reason = reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            let _ = writeln!(md, "Operator: **{}**{reason} at {}\n", wire_name(decision), l.time);
        }
    }
    evidence(&mut md, &t.calls());
    let _ = writeln!(md, "## Timeline\n");
    for l in &t.lines {
        if matches!(
            l.event,
            Event::ToolOutput { .. }
                | Event::AlertDetail { .. }
                | Event::ExecutionRead { .. }
                | Event::ModelTurn { .. }
        ) {
            continue;
        }
        let _ = writeln!(md, "- {} `{}`", l.time, wire_name(&l.event));
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
    if let Some((reasoner, time)) = t.first(|l| match &l.event {
        Event::TriageStarted { reasoner, .. } => Some((reasoner, &l.time)),
        _ => None,
    }) {
        let _ = writeln!(md, "| Reasoner | {reasoner} |");
        let _ = writeln!(md, "| Triage started | {time} |");
    }
    let _ = writeln!(md, "| Outcome | {} |\n", outcome(t));
}

/// Where the alert ended, from its last decisive event.
fn outcome(t: &Transcript) -> String {
    let posted = t.last(|l| match &l.event {
        Event::PostSent { message_ts, .. } => Some((&l.time, *message_ts)),
        _ => None,
    });
    if let Some((time, message_ts)) = posted {
        return format!("posted in the thread at {time} (reply `{message_ts}`)");
    }
    let skipped = t.last(|l| match &l.event {
        Event::PostSkipped { reason, .. } => Some(*reason),
        _ => None,
    });
    let skipped = skipped.or_else(|| {
        t.last(|l| match &l.event {
            Event::AlertSkipped { reason, .. } => Some(*reason),
            _ => None,
        })
    });
    if let Some(reason) = skipped {
        return format!("not posted: {}", wire_name(&reason));
    }
    if t.last(|l| matches!(l.event, Event::PostQueued { .. }).then_some(())).is_some() {
        return "awaiting approval".to_string();
    }
    t.last(|l| match &l.event {
        Event::TriageFailed { error, .. } => Some(format!("failed: {error}")),
        _ => None,
    })
    .unwrap_or_else(|| "unfinished".to_string())
}

/// The tool calls: a table, then each call's condensed output.
fn evidence(md: &mut String, calls: &[Call<'_>]) {
    let _ = writeln!(md, "## Evidence ({} tool calls)\n", calls.len());
    let _ = writeln!(md, "| call | tool | arguments | workflow | status | elapsed |\n|---|---|---|---|---|---|");
    for c in calls {
        let (Some(tool), Some(args)) = (c.tool, c.args) else { continue };
        let status = match (c.status, c.ok) {
            (Some(s), _) => s.as_str(),
            (None, Some(true)) => "ok",
            (None, Some(false)) => "failed",
            (None, None) => "?",
        };
        let _ = writeln!(
            md,
            "| {} | {tool} | `{args}` | {} | {status} | {} |",
            c.id,
            c.workflow_id.map(|w| format!("`{w}`")).unwrap_or_default(),
            c.elapsed_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0)).unwrap_or_default(),
        );
    }
    md.push('\n');
    for c in calls {
        let (Some(tool), Some(condensed)) = (c.tool, c.condensed) else { continue };
        let _ = writeln!(
            md,
            "### {} {tool}\n\n{}\n\n```\n{}\n```\n",
            c.id,
            c.summary.unwrap_or(""),
            condensed.replace("```", "'''")
        );
    }
}
