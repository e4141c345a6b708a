//! Scenario files (scenarios.md): one incident each — the channel's messages, the failing
//! execution, each read-only command's answer, the scripted model's turns, and what a correct
//! triage must say. Loaded strictly: an unknown key or a bad value fails with the file's name.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::conductor::ClusterContext;
use crate::domain::Ts;

static EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_scenarios.rs"));

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("scenario {file}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FixtureStatus {
    #[default]
    Completed,
    Failed,
    TimedOut,
    Terminated,
    /// The workflow stays RUNNING with its task SCHEDULED: an in-cluster agent that is not polling.
    ScheduledForever,
}

/// How one dispatched command is answered.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandFixture {
    pub workflow: String,
    /// Parameter name → regex (unanchored search) that the dispatched parameter must match.
    #[serde(default, rename = "match")]
    pub match_params: BTreeMap<String, String>,
    #[serde(default)]
    pub status: FixtureStatus,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// sql_conductor only: the planner's estimated total cost that the simulator answers an
    /// `EXPLAIN (FORMAT JSON)` of the matched query with (default 10).
    #[serde(default)]
    pub plan_cost: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCallTurn {
    pub name: String,
    #[serde(default)]
    pub input: Value,
    /// Misbehaviour: the arguments streamed as exactly this text instead of `input` (cut short,
    /// say `"{\n"`, as a small model's are).
    #[serde(default)]
    pub raw_arguments: Option<String>,
}

/// One scripted model turn: tool calls (several = parallel) or the final text.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum LlmTurn {
    ToolCalls {
        tool_calls: Vec<ToolCallTurn>,
    },
    Text {
        text: String,
        /// Misbehaviour: the text ends at the token limit (`max_tokens` / `length`).
        #[serde(default)]
        cut_off: bool,
        /// Misbehaviour: halfway through the text the stream carries an error event (as each
        /// API sends one mid-stream) and ends.
        #[serde(default)]
        fail_midway: bool,
    },
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub root_cause: Vec<String>,
    #[serde(default)]
    pub must_not: Vec<String>,
    #[serde(default)]
    pub dispatch_at_least: Vec<String>,
    #[serde(default)]
    pub max_dispatches: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Informative only: every scenario is served in the simulator's one channel.
    #[serde(default)]
    pub channel: Option<String>,
    pub messages: Vec<Value>,
    #[serde(default)]
    pub executions: BTreeMap<String, Value>,
    #[serde(default)]
    pub commands: Vec<CommandFixture>,
    #[serde(default)]
    pub llm: Option<Vec<LlmTurn>>,
    #[serde(default)]
    pub expect: Expect,
    /// The file it came from (not a key of the file).
    #[serde(skip)]
    pub file: String,
}

/// The workflows a StartWorkflowRequest may name (domain.md §3): the simulator's own copy of the
/// table, kept apart from the product's catalog so that each checks the other.
pub const READ_ONLY_WORKFLOWS: &[(&str, &str)] = &[
    ("get_cluster_metrics", "GET_CLUSTER_METRICS"),
    ("get_infrastructure_metrics", "GET_INFRASTRUCTURE_METRICS"),
    ("get_pods_data", "GET_PODS_DATA"),
    ("get_deployments_info", "GET_DEPLOYMENTS_INFO"),
    ("get_pod_events", "GET_POD_EVENTS"),
    ("get_top_output_from_pod", "GET_TOP_OUTPUT_FROM_POD"),
    ("pull_logs", "PULL_LOGS"),
    ("get_ingress_info", "GET_INGRESS_INFO"),
    ("sql_conductor", "SQL_CONDUCTOR"),
];

impl Scenario {
    /// Parses and checks one scenario file's text; `file` names it in errors.
    pub fn from_json(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let err = |message: String| ScenarioError { file: file.to_string(), message };
        let mut s: Scenario = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        s.file = file.to_string();
        for (i, m) in s.messages.iter().enumerate() {
            let ts = m.get("ts").and_then(Value::as_str);
            if ts.and_then(Ts::parse).is_none() {
                return Err(err(format!("messages[{i}].ts must be a Slack ts string such as \"1764400000.000100\"")));
            }
            if let Some(t) = m.get("thread_ts")
                && t.as_str().and_then(Ts::parse).is_none()
            {
                return Err(err(format!("messages[{i}].thread_ts is not a Slack ts")));
            }
        }
        for (id, exec) in &s.executions {
            ClusterContext::from_execution(exec).map_err(|e| err(format!("executions.{id}: {e}")))?;
        }
        for (i, c) in s.commands.iter().enumerate() {
            if !READ_ONLY_WORKFLOWS.iter().any(|(w, _)| *w == c.workflow) {
                return Err(err(format!("commands[{i}].workflow `{}` is not a read-only workflow", c.workflow)));
            }
            for (key, re) in &c.match_params {
                Regex::new(re).map_err(|e| err(format!("commands[{i}].match.{key}: {e}")))?;
            }
        }
        for (key, list) in [("root_cause", &s.expect.root_cause), ("must_not", &s.expect.must_not)] {
            for re in list {
                Regex::new(re).map_err(|e| err(format!("expect.{key}: {e}")))?;
            }
        }
        Ok(s)
    }

    /// The contexts of this scenario's executions (`(organizationId, clusterName)` pairs).
    pub fn clusters(&self) -> Vec<ClusterContext> {
        self.executions.values().filter_map(|e| ClusterContext::from_execution(e).ok()).collect()
    }
}

fn check_set(scenarios: &[Scenario]) -> Result<(), ScenarioError> {
    let mut clusters = HashSet::new();
    let mut executions = HashSet::new();
    for s in scenarios {
        for ctx in s.clusters() {
            if !clusters.insert(ctx.domain()) {
                return Err(ScenarioError {
                    file: s.file.clone(),
                    message: format!(
                        "cluster {} of organization {} is already used by another scenario",
                        ctx.cluster_name, ctx.organization_id
                    ),
                });
            }
        }
        for id in s.executions.keys() {
            if !executions.insert(id.clone()) {
                return Err(ScenarioError {
                    file: s.file.clone(),
                    message: format!("execution {id} is already used by another scenario"),
                });
            }
        }
    }
    Ok(())
}

/// The scenarios built into the binary.
pub fn embedded() -> Result<Vec<Scenario>, ScenarioError> {
    let all = EMBEDDED.iter().map(|(file, text)| Scenario::from_json(file, text)).collect::<Result<Vec<_>, _>>()?;
    check_set(&all)?;
    Ok(all)
}

/// Every `*.json` of `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError { file: shown.clone(), message: e.to_string() })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(ScenarioError { file: shown, message: "no *.json scenario files in this folder".into() });
    }
    let mut all = Vec::new();
    for path in paths {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(&path).map_err(|e| ScenarioError { file: file.clone(), message: e.to_string() })?;
        all.push(Scenario::from_json(&file, &text)?);
    }
    check_set(&all)?;
    Ok(all)
}

/// Shifts every scenario's messages so its newest is `newest_age` old at `now` (scenario `i`
/// a little older than `i-1`), keeping gaps and order, every `ts` unique across scenarios.
/// Returns the messages to serve, oldest first.
pub fn shift_messages(scenarios: &[Scenario], now: Ts, newest_age_micros: i64) -> Vec<Value> {
    let mut taken: HashSet<Ts> = HashSet::new();
    let mut out = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let stamps: Vec<Ts> = s.messages.iter().filter_map(|m| m.get("ts")?.as_str().and_then(Ts::parse)).collect();
        let Some(newest) = stamps.iter().max().copied() else {
            continue;
        };
        let target = now.shifted(-newest_age_micros - 1_000 * i as i64);
        let offset = target.as_micros() - newest.as_micros();
        let mut renamed: BTreeMap<Ts, Ts> = BTreeMap::new();
        for ts in stamps.iter().copied().collect::<std::collections::BTreeSet<_>>() {
            let mut shifted = ts.shifted(offset);
            while taken.contains(&shifted) {
                shifted = shifted.shifted(1);
            }
            taken.insert(shifted);
            renamed.insert(ts, shifted);
        }
        for m in &s.messages {
            let mut m = m.clone();
            for key in ["ts", "thread_ts"] {
                if let Some(old) = m.get(key).and_then(Value::as_str).and_then(Ts::parse) {
                    let new = renamed.get(&old).copied().unwrap_or_else(|| old.shifted(offset));
                    m[key] = Value::String(new.to_string());
                }
            }
            out.push(m);
        }
    }
    out.sort_by_key(|m| m.get("ts").and_then(Value::as_str).and_then(Ts::parse));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal(name: &str, org: &str, ts: &[&str]) -> String {
        json!({
            "name": name, "messages": ts.iter().map(|t| json!({"ts": t, "text": "x"})).collect::<Vec<_>>(),
            "executions": {format!("{name}-exec"): {"workflowId": "w", "input": {"organizationId": org, "clusterName": "c"}}},
            "expect": {}
        })
        .to_string()
    }

    #[test]
    fn embedded_scenarios_load() {
        let all = embedded().unwrap();
        assert!(all.len() >= 3, "three realistic scenarios ship with the binary");
    }

    #[test]
    fn unknown_keys_fail_with_file_and_key() {
        let text = minimal("a", "o1", &["1.000001"]).replacen("\"expect\"", "\"expekt\"", 1);
        let err = Scenario::from_json("bad.json", &text).unwrap_err();
        assert_eq!(err.file, "bad.json");
        assert!(err.message.contains("unknown field `expekt`"), "{err}");
        let text = minimal("a", "o1", &["1.000001"]).replace("\"expect\":{}", "\"expect\":{\"root_cause\":[\"(\"]}");
        assert!(Scenario::from_json("re.json", &text).unwrap_err().message.starts_with("expect.root_cause"));
        let text = minimal("a", "o1", &["1.000001"]).replace("\"commands\":[]", "");
        let text = text.replacen('{', "{\"commands\":[{\"workflow\":\"delete_pod\"}],", 1);
        assert!(
            Scenario::from_json("w.json", &text)
                .unwrap_err()
                .message
                .contains("`delete_pod` is not a read-only workflow")
        );
    }

    #[test]
    fn two_scenarios_may_not_share_a_cluster() {
        let a = Scenario::from_json("a.json", &minimal("a", "o1", &["1.0"])).unwrap();
        let mut b = Scenario::from_json("b.json", &minimal("b", "o1", &["2.0"])).unwrap();
        assert!(check_set(&[a.clone(), b.clone()]).unwrap_err().message.contains("already used"));
        b.executions.values_mut().for_each(|e| e["input"]["organizationId"] = json!("o2"));
        check_set(&[a, b]).unwrap();
    }

    #[test]
    fn shifting_keeps_gaps_and_order_and_makes_ts_unique() {
        let a = Scenario::from_json("a.json", &minimal("a", "o1", &["100.000000", "160.000000"])).unwrap();
        let b = Scenario::from_json("b.json", &minimal("b", "o2", &["5.000000", "65.000000"])).unwrap();
        let now = Ts::parse("1800000000.000000").unwrap();
        let out = shift_messages(&[a, b], now, 3_000_000);
        let ts: Vec<Ts> = out.iter().map(|m| Ts::parse(m["ts"].as_str().unwrap()).unwrap()).collect();
        assert_eq!(ts.len(), 4);
        assert_eq!(ts.iter().collect::<HashSet<_>>().len(), 4, "unique");
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "oldest first");
        let newest = *ts.last().unwrap();
        assert_eq!(newest.age(now).as_secs(), 3, "newest is a few seconds old");
        // Interleaved (b is 1 ms older than a); each scenario keeps its 60 s gap.
        assert_eq!(ts[2].as_micros() - ts[0].as_micros(), 60_000_000);
        assert_eq!(ts[3].as_micros() - ts[1].as_micros(), 60_000_000);
    }
}
