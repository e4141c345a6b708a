//! The closed catalog of read-only investigation tools (domain.md §3). A tool call is a name and
//! JSON arguments; `parse_call` turns it into a validated `ToolCall` or a clear tool error. A
//! dispatch can only name a `Command`, and no mutating command has a variant: it cannot be sent,
//! whatever a model or a person writes. SQL goes through the read-only guard first.

pub mod condense;
pub mod record;
mod run;
pub mod sql_guard;

pub use run::{Scope, ToolOutput, Toolbox};

use crate::domain::Command;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use thiserror::Error;

/// The ten tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    GetIncidentDetails,
    GetClusterMetrics,
    GetInfrastructureMetrics,
    GetPodsData,
    GetDeploymentsInfo,
    GetPodEvents,
    GetTopOutput,
    PullPodLogs,
    GetIngressInfo,
    RunSqlSelect,
}

impl Tool {
    pub const ALL: [Tool; 10] = [
        Tool::GetIncidentDetails,
        Tool::GetClusterMetrics,
        Tool::GetInfrastructureMetrics,
        Tool::GetPodsData,
        Tool::GetDeploymentsInfo,
        Tool::GetPodEvents,
        Tool::GetTopOutput,
        Tool::PullPodLogs,
        Tool::GetIngressInfo,
        Tool::RunSqlSelect,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::GetIncidentDetails => "get_incident_details",
            Tool::GetClusterMetrics => "get_cluster_metrics",
            Tool::GetInfrastructureMetrics => "get_infrastructure_metrics",
            Tool::GetPodsData => "get_pods_data",
            Tool::GetDeploymentsInfo => "get_deployments_info",
            Tool::GetPodEvents => "get_pod_events",
            Tool::GetTopOutput => "get_top_output",
            Tool::PullPodLogs => "pull_pod_logs",
            Tool::GetIngressInfo => "get_ingress_info",
            Tool::RunSqlSelect => "run_sql_select",
        }
    }

    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The command it dispatches (None: it only reads the failing execution).
    pub fn command(self) -> Option<Command> {
        match self {
            Tool::GetIncidentDetails => None,
            Tool::GetClusterMetrics => Some(Command::GetClusterMetrics),
            Tool::GetInfrastructureMetrics => Some(Command::GetInfrastructureMetrics),
            Tool::GetPodsData => Some(Command::GetPodsData),
            Tool::GetDeploymentsInfo => Some(Command::GetDeploymentsInfo),
            Tool::GetPodEvents => Some(Command::GetPodEvents),
            Tool::GetTopOutput => Some(Command::GetTopOutputFromPod),
            Tool::PullPodLogs => Some(Command::PullLogs),
            Tool::GetIngressInfo => Some(Command::GetIngressInfo),
            Tool::RunSqlSelect => Some(Command::SqlConductor),
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Tool::GetIncidentDetails => {
                "The failing health check: its issues, the cluster data it collected (Redis usage, decider queue = running workflows, heap, CPU, Postgres size) and the component checks that failed."
            }
            Tool::GetClusterMetrics => {
                "Current Conductor cluster data: Redis usage and queue sizes, heap, CPU, Postgres size."
            }
            Tool::GetInfrastructureMetrics => {
                "Nodes (CPU, memory, conditions) and pods (CPU millicores, memory against limits)."
            }
            Tool::GetPodsData => {
                "Every pod: phase, readiness, restarts, node, containers with state and last state (OOMKilled, CrashLoopBackOff…)."
            }
            Tool::GetDeploymentsInfo => "Deployments: replicas, ready and updated replicas, image, conditions.",
            Tool::GetPodEvents => {
                "Kubernetes events of one pod (reasons such as OOMKilling, BackOff, FailedScheduling)."
            }
            Tool::GetTopOutput => "`kubectl top` for one pod, or for all pods when podName is absent.",
            Tool::PullPodLogs => "The last lines of one pod's log, optionally filtered by grep.",
            Tool::GetIngressInfo => "Ingresses: hosts, load-balancer address (empty = not provisioned), TLS.",
            Tool::RunSqlSelect => {
                "One read-only SELECT on the Conductor database (a guard rejects anything else; rows are capped). A last resort: never count running workflows with SQL, the decider queue size is that number."
            }
        }
    }

    /// JSON Schema of the arguments.
    pub fn input_schema(self) -> Value {
        let pod = json!({"type": "string", "description": "the exact name of a pod, copied from get_pods_data (e.g. <deployment>-<replicaset>-<id>); never invent one"});
        let (properties, required): (Value, Vec<&str>) = match self {
            Tool::GetPodEvents => (json!({"podName": pod}), vec!["podName"]),
            Tool::GetTopOutput => (json!({"podName": pod}), vec![]),
            Tool::PullPodLogs => (
                json!({"podName": pod,
                       "lines": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
                       "grep": {"type": "string", "description": "only lines containing this text"},
                       "fetchOption": {"type": "string", "enum": ["TAIL"]}}),
                vec!["podName"],
            ),
            Tool::RunSqlSelect => {
                (json!({"query": {"type": "string", "description": "one SELECT statement"}}), vec!["query"])
            }
            _ => (json!({}), vec![]),
        };
        json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ToolError {
    #[error("there is no tool `{0}` (read-only tools: {list})", list = Tool::ALL.map(|t| t.name()).join(", "))]
    Unknown(String),
    #[error("{tool}: {reason}")]
    BadArguments { tool: &'static str, reason: String },
    #[error("run_sql_select: query rejected: {0}")]
    SqlRejected(String),
}

/// A validated call: the tool and the parameters it dispatches with.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub tool: Tool,
    pub params: Map<String, Value>,
    /// For a SQL query: the parameters of the `EXPLAIN (FORMAT JSON)` dispatched first, whose
    /// estimated cost must be within the guard's budget before the query runs.
    pub plan: Option<Map<String, Value>>,
}

/// Kubernetes object names: lower-case alphanumerics, `-` and `.`, at most 253 characters.
fn pod_name(tool: Tool, v: &Value) -> Result<String, ToolError> {
    let bad = |reason: String| ToolError::BadArguments { tool: tool.name(), reason };
    let s = v.as_str().ok_or_else(|| bad("podName must be a string".into()))?;
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok { Ok(s.to_string()) } else { Err(bad(format!("podName {s:?} is not a Kubernetes pod name"))) }
}

/// Validates `args` for the tool called `name`. `execution_id` may be passed to any tool (models
/// do); it is checked against the triage's execution when the call runs, never used to address.
pub fn parse_call(name: &str, args: &Value, sql: &sql_guard::Policy) -> Result<ToolCall, ToolError> {
    let tool = Tool::from_name(name).ok_or_else(|| ToolError::Unknown(name.chars().take(80).collect()))?;
    let bad = |reason: String| ToolError::BadArguments { tool: tool.name(), reason };
    let empty = Map::new();
    let args = match args {
        Value::Null => &empty,
        Value::Object(m) => m,
        other => return Err(bad(format!("arguments must be a JSON object, not {other}"))),
    };
    let schema = tool.input_schema();
    let known = schema["properties"].as_object().cloned().unwrap_or_default();
    if let Some(extra) = args.keys().find(|k| !known.contains_key(*k) && *k != "execution_id") {
        return Err(bad(format!("unknown parameter `{extra}`")));
    }
    for req in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !args.contains_key(req) {
            return Err(bad(format!("`{req}` is required")));
        }
    }
    let mut params = Map::new();
    if let Some(v) = args.get("podName") {
        params.insert("podName".into(), json!(pod_name(tool, v)?));
    }
    if tool == Tool::PullPodLogs {
        let lines = match args.get("lines") {
            None | Some(Value::Null) => 200,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| bad(format!("lines must be a whole number from 1 to 1000, not {v}")))?,
        };
        params.insert("lines".into(), json!(lines));
        if let Some(g) = args.get("grep").filter(|g| !g.is_null()) {
            let g = g
                .as_str()
                .filter(|g| g.len() <= 200)
                .ok_or_else(|| bad("grep must be a string of at most 200 characters".into()))?;
            params.insert("grep".into(), json!(g));
        }
        match args.get("fetchOption").and_then(Value::as_str) {
            None | Some("TAIL") => {}
            Some(other) => return Err(bad(format!("fetchOption must be TAIL, not {other:?}"))),
        }
        params.insert("fetchOption".into(), json!("TAIL"));
    }
    if tool == Tool::RunSqlSelect {
        let query = args["query"].as_str().ok_or_else(|| bad("query must be a string".into()))?;
        let checked = sql_guard::check(query, sql);
        let normalized = match (checked.allowed, checked.dispatched) {
            (true, Some(sql)) => sql,
            _ => return Err(ToolError::SqlRejected(checked.reason.unwrap_or_else(|| "not allowed".into()))),
        };
        let sql_params = |query: String| {
            let mut p = Map::new();
            p.insert("query".into(), json!(query));
            p.insert("transactional".into(), json!(false));
            p.insert("expectedRowCount".into(), Value::Null);
            p
        };
        return Ok(ToolCall { tool, params: sql_params(normalized), plan: checked.plan.map(sql_params) });
    }
    Ok(ToolCall { tool, params, plan: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static P: LazyLock<sql_guard::Policy> = LazyLock::new(sql_guard::Policy::default);

    /// domain.md §3: the commands that mutate or disrupt a cluster.
    const MUTATING: &[&str] = &[
        "DELETE_POD",
        "ROLLOUT_RESTART",
        "SCALE_DEPLOYMENT",
        "UPGRADE_DEPLOYMENT",
        "ROLLBACK_DEPLOYMENT",
        "UPDATE_DEPLOYMENT_MEMORY",
        "PATCH_DEPLOYMENT",
        "KUBECTL_UNRESTRICTED",
        "ADD_EKS_ADMIN",
        "UPDATE_API_KEY",
        "BACKUP_CONDUCTOR",
        "DEPLOY_DEBUGGER_POD",
        "DEPLOY_MCP_WORKER",
        "DOWNLOAD_THREAD_DUMP",
        "DOWNLOAD_ALL_POD_LOGS",
        "DOWNLOAD_HEAP_DUMP",
    ];

    #[test]
    fn no_mutating_command_is_in_the_catalog() {
        for c in Command::ALL {
            assert!(!MUTATING.contains(&c.name()), "{c:?}");
            for m in MUTATING {
                assert_ne!(c.workflow(), m.to_ascii_lowercase());
            }
        }
        let reachable: Vec<Command> = Tool::ALL.iter().filter_map(|t| t.command()).collect();
        assert_eq!(reachable.len(), 9);
    }

    #[test]
    fn no_tool_call_can_name_a_mutating_command() {
        for m in MUTATING {
            for name in [m.to_string(), m.to_ascii_lowercase(), format!("run_{}", m.to_ascii_lowercase())] {
                assert!(matches!(parse_call(&name, &json!({}), &P), Err(ToolError::Unknown(_))), "{name}");
            }
            // Smuggled through arguments of a real tool.
            for args in [
                json!({"command": m}),
                json!({"workflow": m.to_ascii_lowercase()}),
                json!({"podName": "p", "command": m}),
            ] {
                assert!(parse_call("pull_pod_logs", &args, &P).is_err(), "{args}");
                assert!(parse_call("get_pods_data", &args, &P).is_err(), "{args}");
            }
        }
    }

    #[test]
    fn arguments_are_validated_with_clear_errors() {
        let err = parse_call("pull_pod_logs", &json!({}), &P).unwrap_err();
        assert_eq!(err.to_string(), "pull_pod_logs: `podName` is required");
        let err = parse_call("pull_pod_logs", &json!({"podName": "p", "lines": 5000}), &P).unwrap_err();
        assert_eq!(err.to_string(), "pull_pod_logs: lines must be a whole number from 1 to 1000, not 5000");
        let err = parse_call("get_pod_events", &json!({"podName": "p; rm -rf /"}), &P).unwrap_err();
        assert!(err.to_string().contains("not a Kubernetes pod name"));
        assert!(parse_call("get_pods_data", &json!("x"), &P).is_err());
        let call =
            parse_call("pull_pod_logs", &json!({"podName": "orkes-conductor-deployment-a-b", "execution_id": "e"}), &P)
                .unwrap();
        assert_eq!(call.params["lines"], 200);
        assert_eq!(call.params["fetchOption"], "TAIL");
        let err = parse_call("run_sql_select", &json!({"query": "DELETE FROM workflow"}), &P).unwrap_err();
        assert!(matches!(err, ToolError::SqlRejected(_)), "{err}");
        let call = parse_call("run_sql_select", &json!({"query": "select count(*) from workflow"}), &P).unwrap();
        assert!(call.params["query"].as_str().unwrap().contains("LIMIT"), "the row cap: {}", call.params["query"]);
        assert_eq!(call.params["transactional"], false);
    }

    #[test]
    fn every_tool_has_a_schema_that_lists_its_required_arguments() {
        for t in Tool::ALL {
            let s = t.input_schema();
            assert_eq!(s["type"], "object");
            assert_eq!(s["additionalProperties"], false);
            assert!(!t.description().is_empty());
            assert_eq!(Tool::from_name(t.name()), Some(t));
        }
    }
}
