//! Dispatching one read-only command (domain.md §3): the StartWorkflowRequest addressed to the
//! alert's cluster (its `*` domain, the orchestration tasks pinned to NO_DOMAIN, a fresh
//! agentHandlerId, parameters also copied to the top level without overwriting), run
//! synchronously where the server can (Orkes: the answer comes the moment the workflow
//! completes), else started and polled with an overshoot bounded to a tenth of the time waited,
//! until a terminal status, the deadline, or a task left in SCHEDULED too long — an in-cluster
//! agent that is not polling.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{ClusterContext, ConductorClient, ConductorError};
use crate::domain::{Command, CommandStatus};

/// Orchestration tasks that run in the control plane, not in the customer's cluster.
const NO_DOMAIN_TASKS: &[&str] = &[
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

/// The StartWorkflowRequest for `command` on the cluster of `ctx`.
/// The StartWorkflowRequest of a command. `idempotency_key` names this dispatch: Conductor
/// answers a second start with the same key with the workflow the first one created
/// (`RETURN_EXISTING`), so a retry after a lost answer, or a restart mid-triage, never runs the
/// command twice in the cluster.
pub fn start_request(
    ctx: &ClusterContext,
    command: Command,
    parameters: &Map<String, Value>,
    idempotency_key: &str,
) -> Value {
    let domain = ctx.domain();
    let mut task_to_domain = Map::new();
    task_to_domain.insert("*".into(), json!(domain));
    for task in NO_DOMAIN_TASKS {
        task_to_domain.insert((*task).into(), json!("NO_DOMAIN"));
    }
    let mut input = json!({
        "customerId": ctx.organization_id,
        "organizationId": ctx.organization_id,
        "organizationName": ctx.organization_name,
        "clusterId": ctx.cluster_id,
        "agentHandlerId": uuid::Uuid::new_v4().to_string(),
        "cloudEnvironmentTag": ctx.cloud_environment_tag,
        "environment": ctx.environment,
        "agentHandlerRequest": {"clusterName": ctx.cluster_name, "command": command.name(), "parameters": parameters},
    });
    if let Some(top) = input.as_object_mut() {
        for (k, v) in parameters {
            top.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    json!({
        "name": command.workflow(), "correlationId": domain, "taskToDomain": task_to_domain, "input": input,
        "idempotencyKey": idempotency_key, "idempotencyStrategy": "RETURN_EXISTING",
    })
}

/// How a dispatched command ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// COMPLETED: the workflow's `output`.
    Completed(Value),
    /// FAILED, TIMED_OUT or TERMINATED, with Conductor's reason.
    Failed { status: CommandStatus, reason: String },
    /// Still SCHEDULED after the stuck threshold: nobody in the cluster polls its task.
    AgentNotPolling { after: Duration },
    /// Not terminal by the deadline.
    DeadlineExceeded { after: Duration },
}

impl Ended {
    /// The status word events and summaries use.
    pub fn status(&self) -> CommandStatus {
        match self {
            Ended::Completed(_) => CommandStatus::Completed,
            Ended::Failed { status, .. } => *status,
            Ended::AgentNotPolling { .. } => CommandStatus::Scheduled,
            Ended::DeadlineExceeded { .. } => CommandStatus::Running,
        }
    }

    /// A one-line finding when the command produced no output.
    pub fn problem(&self) -> Option<String> {
        match self {
            Ended::Completed(_) => None,
            Ended::Failed { status, reason } => Some(format!("the command ended {status}: {reason}")),
            Ended::AgentNotPolling { after } => Some(format!(
                "in-cluster agent not polling: the command's task was still SCHEDULED after {} s",
                after.as_secs()
            )),
            Ended::DeadlineExceeded { after } => {
                Some(format!("the command did not finish within {} s", after.as_secs()))
            }
        }
    }
}

/// Timing of dispatches (the deadline and the stuck threshold are settings). A synchronous run
/// waits at most `sync_wait` (and never past the stuck threshold, so a task nobody picks up is
/// still seen as such); after it, or without the synchronous API, the workflow is polled: the
/// next poll comes a tenth of the time waited so far later (between `min_poll` and `max_poll`),
/// so a result is seen at most about 10% after it was ready.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub deadline: Duration,
    pub stuck_after: Duration,
    pub sync_wait: Duration,
    pub min_poll: Duration,
    pub max_poll: Duration,
}

/// A poll comes after this fraction (1/N) of the time waited so far.
const OVERSHOOT: u32 = 10;

impl Timing {
    pub fn new(deadline: Duration, stuck_after: Duration) -> Timing {
        Timing {
            deadline,
            stuck_after,
            sync_wait: Duration::from_secs(5),
            min_poll: Duration::from_millis(100),
            max_poll: Duration::from_secs(2),
        }
    }

    /// How long to wait before the next poll, `waited` into the dispatch.
    pub fn next_poll(&self, waited: Duration) -> Duration {
        (waited / OVERSHOOT).clamp(self.min_poll, self.max_poll.max(self.min_poll))
    }
}

/// Runs `command` to its end (synchronously, or started and polled). `started` is told the
/// workflow id once it is known (with the synchronous API, when the run answers);
/// `claimed` whether the in-cluster task has been picked up, each time that changes (first
/// `false` while it waits for the agent).
#[allow(clippy::too_many_arguments)]
pub async fn dispatch(
    client: &ConductorClient,
    ctx: &ClusterContext,
    command: Command,
    parameters: &Map<String, Value>,
    timing: Timing,
    idempotency_key: &str,
    started: impl FnOnce(&str),
    mut claimed: impl FnMut(bool),
) -> Result<(String, Ended, Duration), ConductorError> {
    let request = start_request(ctx, command, parameters, idempotency_key);
    let begun = Instant::now();
    let sync_wait = timing.sync_wait.min(timing.stuck_after).min(timing.deadline);
    let (id, mut answered) = match client.execute_workflow(&request, sync_wait).await? {
        Some(run) => (run["workflowId"].as_str().unwrap_or_default().to_string(), Some(run)),
        None => (client.start_workflow(&request).await?, None),
    };
    started(&id);
    let mut was_claimed = None;
    loop {
        let wf = match answered.take() {
            Some(run) => run,
            None => {
                let waited = begun.elapsed();
                tokio::time::sleep(timing.next_poll(waited).min(timing.deadline.saturating_sub(waited))).await;
                client.get_workflow(&id).await?
            }
        };
        let status = wf.get("status").and_then(Value::as_str).unwrap_or("UNKNOWN");
        let elapsed = begun.elapsed();
        let now_claimed = !scheduled_only(&wf);
        if was_claimed != Some(now_claimed) && (was_claimed.is_some() || !now_claimed) {
            claimed(now_claimed);
        }
        was_claimed = Some(now_claimed);
        let ended = match status {
            "COMPLETED" => Some(Ended::Completed(wf.get("output").cloned().unwrap_or(Value::Null))),
            "FAILED" | "TIMED_OUT" | "TERMINATED" => Some(Ended::Failed {
                status: match status {
                    "FAILED" => CommandStatus::Failed,
                    "TIMED_OUT" => CommandStatus::TimedOut,
                    _ => CommandStatus::Terminated,
                },
                reason: reason(&wf).unwrap_or_else(|| "no reason given".into()),
            }),
            _ if scheduled_only(&wf) && elapsed >= timing.stuck_after => {
                Some(Ended::AgentNotPolling { after: elapsed })
            }
            _ if elapsed >= timing.deadline => Some(Ended::DeadlineExceeded { after: elapsed }),
            _ => None,
        };
        if let Some(ended) = ended {
            return Ok((id, ended, elapsed));
        }
    }
}

/// Whether the in-cluster task (the one in a domain) has not been picked up yet.
fn scheduled_only(wf: &Value) -> bool {
    wf.get("tasks").and_then(Value::as_array).is_some_and(|tasks| {
        tasks
            .iter()
            .filter(|t| t.get("domain").and_then(Value::as_str).is_some_and(|d| d != "NO_DOMAIN"))
            .any(|t| t.get("status").and_then(Value::as_str) == Some("SCHEDULED"))
    })
}

fn reason(wf: &Value) -> Option<String> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    text(wf.get("reasonForIncompletion"))
        .or_else(|| wf.get("tasks")?.as_array()?.iter().rev().find_map(|t| text(t.get("reasonForIncompletion"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_addressed_as_domain_md_says() {
        let ctx = ClusterContext::from_execution(
            &json!({"input": {"organizationId": "3f0c549d-1", "clusterName": "viz-stage"}}),
        )
        .unwrap();
        let mut params = Map::new();
        params.insert("podName".into(), json!("p-1"));
        params.insert("organizationId".into(), json!("evil"));
        let r = start_request(&ctx, Command::PullLogs, &params, "k");
        assert_eq!(r["name"], "pull_logs");
        assert_eq!(r["correlationId"], "3f0c549d-1#-#viz-stage");
        assert_eq!(r["taskToDomain"]["*"], "3f0c549d-1#-#viz-stage");
        assert_eq!(r["taskToDomain"]["prepare_agent_handler"], "NO_DOMAIN");
        assert_eq!(r["taskToDomain"].as_object().unwrap().len(), 11);
        assert_eq!(r["input"]["agentHandlerRequest"]["command"], "PULL_LOGS");
        assert_eq!(r["input"]["podName"], "p-1", "parameters copied to the top level");
        assert_eq!(r["input"]["organizationId"], "3f0c549d-1", "never overwriting the context");
        assert_eq!(r["input"]["cloudEnvironmentTag"], "c3f0c5-viz-stage");
        assert_eq!(r["input"]["agentHandlerId"].as_str().unwrap().len(), 36);
    }
}
