//! Running a tool call: validate it, read the failing execution (cached per execution: the
//! cluster context every dispatch is addressed to), dispatch its command with bounded
//! concurrency, and report each step as events. A failed tool is an answer ("logs unavailable:
//! …"), never an error of the triage.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::{Mutex, Semaphore, mpsc};

use super::{Command, Tool, ToolCall, condense, parse_call, sql_guard};
use crate::conductor::dispatch::{self, Ended, Timing};
use crate::conductor::execution::ContextError;
use crate::conductor::{ConductorClient, ConductorError, Execution};
use crate::domain::Ts;
use crate::protocol::Event;

/// Executions kept in memory by default (see `Toolbox::incident`): one per triage that may run
/// at once (`ONCALL_MAX_TRIAGES`, whose default this is).
const EXECUTIONS_KEPT: usize = 4;

/// What one tool call gave.
#[derive(Clone, Debug)]
pub struct ToolOutput {
    pub tool: Option<Tool>,
    pub ok: bool,
    /// One line for events and the console.
    pub summary: String,
    /// The evidence as a person or a model reads it.
    pub condensed: String,
    /// The structured result (`output.result`), Null when there is none.
    pub data: Value,
    pub workflow_id: Option<String>,
    /// The command was dispatched but nobody in the cluster picked it up (its task stayed
    /// SCHEDULED): the in-cluster agent is not polling.
    pub not_polled: Option<std::time::Duration>,
    /// The call failed because Conductor, or our access to it, failed (see
    /// `ConductorError::is_outage`): no evidence about the cluster, and no triage result.
    pub outage: bool,
}

impl ToolOutput {
    pub fn failed(tool: Option<Tool>, summary: String) -> ToolOutput {
        ToolOutput {
            tool,
            ok: false,
            condensed: summary.clone(),
            summary,
            data: Value::Null,
            workflow_id: None,
            not_polled: None,
            outage: false,
        }
    }

    /// A call that Conductor's (or our access's) failure stopped.
    fn outage(tool: Tool, e: &impl std::fmt::Display) -> ToolOutput {
        ToolOutput { outage: true, ..ToolOutput::failed(Some(tool), format!("{} unavailable: {e}", tool.name())) }
    }
}

impl IncidentError {
    fn is_outage(&self) -> bool {
        matches!(self, IncidentError::Conductor(e) if e.is_outage())
    }
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum IncidentError {
    #[error(transparent)]
    Conductor(#[from] ConductorError),
    #[error(transparent)]
    Context(#[from] ContextError),
}

/// Which triage a call belongs to: the alert, and the how-many-th triage of it (0 for the
/// first; each re-triage by the operator is the next). Restarting the same triage keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope {
    pub alert_ts: Ts,
    pub attempt: u32,
}

impl Scope {
    /// The dispatch's idempotency key: the same command with the same parameters in the same
    /// triage is one workflow in the cluster, however often it is started.
    pub fn idempotency_key(self, workflow: &str, params: &Map<String, Value>) -> String {
        let text = Value::Object(params.clone()).to_string();
        // FNV-1a: stable across builds and restarts (std's hasher is not promised to be).
        let hash =
            text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        format!("oncall-triage:{}:{}:{workflow}:{hash:016x}", self.alert_ts, self.attempt)
    }
}

/// The tools of one product instance: one Conductor client, one dispatch limit, one cache.
pub struct Toolbox {
    conductor: Arc<ConductorClient>,
    sql: super::sql_guard::Policy,
    timing: Timing,
    dispatches: Semaphore,
    /// The executions read, with when each was last used (a count of uses).
    executions: Mutex<Executions>,
    budget: u32,
}

/// One execution's place in the cache: filled by the first call that needs it, while the calls
/// made at the same time wait for that one read.
type Slot = Arc<tokio::sync::OnceCell<Arc<Execution>>>;

#[derive(Default)]
struct Executions {
    kept: HashMap<String, (Slot, u64)>,
    capacity: usize,
    uses: u64,
}

impl Executions {
    /// The slot of `id` (a new, empty one, dropping the least recently used, when it has none).
    fn slot(&mut self, id: &str) -> Slot {
        self.uses += 1;
        if let Some((slot, used)) = self.kept.get_mut(id) {
            *used = self.uses;
            return slot.clone();
        }
        if self.kept.len() >= self.capacity
            && let Some(oldest) = self.kept.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
        {
            self.kept.remove(&oldest);
        }
        let slot = Slot::default();
        self.kept.insert(id.to_string(), (slot.clone(), self.uses));
        slot
    }
}

/// The most distinct tool calls (dispatches, mostly) one triage may make, by default.
pub const DISPATCH_BUDGET: u32 = 15;

impl Toolbox {
    /// The Conductor client the tools dispatch through (for the checks before the first poll).
    pub fn conductor(&self) -> &ConductorClient {
        &self.conductor
    }

    /// The Conductor client's counts (failed calls), for the metrics.
    pub fn conductor_stats(&self) -> Arc<crate::http::Stats> {
        self.conductor.stats()
    }

    pub fn new(conductor: Arc<ConductorClient>, timing: Timing, max_dispatches: usize) -> Toolbox {
        Toolbox {
            conductor,
            sql: super::sql_guard::Policy::default(),
            timing,
            dispatches: Semaphore::new(max_dispatches.max(1)),
            executions: Mutex::new(Executions { capacity: EXECUTIONS_KEPT, ..Executions::default() }),
            budget: DISPATCH_BUDGET,
        }
    }

    /// Keeps up to `n` executions in memory: one per triage that may run at once.
    pub fn with_executions_kept(mut self, n: usize) -> Toolbox {
        self.executions.get_mut().capacity = n.max(1);
        self
    }

    /// Each triage may make at most `budget` distinct calls (`ONCALL_DISPATCH_BUDGET`).
    pub fn with_budget(mut self, budget: u32) -> Toolbox {
        self.budget = budget.max(1);
        self
    }

    /// The distinct calls one triage may make.
    pub fn budget(&self) -> u32 {
        self.budget
    }

    /// The SQL guard's policy for `run_sql_select` (the default allows the Conductor tables).
    pub fn with_sql_policy(mut self, policy: super::sql_guard::Policy) -> Toolbox {
        self.sql = policy;
        self
    }

    /// The failing execution, read once per execution id while its triage runs (calls made at
    /// once wait for the one read, rather than each reading and parsing it). An execution is
    /// needed for its triage's minutes: one kept per triage that may run at once covers them
    /// all, and keeps memory flat under a storm of alerts (each holds its raw JSON).
    pub async fn incident(&self, execution_id: &str) -> Result<Arc<Execution>, IncidentError> {
        let slot = self.executions.lock().await.slot(execution_id);
        let execution = slot
            .get_or_try_init(|| async {
                let mut raw = self.conductor.get_workflow(execution_id).await?;
                // Evidence is redacted where it enters: nothing downstream sees a secret it carried.
                crate::redact::redact_value(&mut raw);
                Ok::<_, IncidentError>(Arc::new(Execution::parse(raw)?))
            })
            .await?;
        Ok(execution.clone())
    }

    /// Runs the call `name(args)` for the triage of `execution_id`, emitting its events.
    pub async fn run(
        &self,
        scope: Scope,
        call_id: &str,
        execution_id: &str,
        name: &str,
        args: &Value,
        events: &mpsc::UnboundedSender<Event>,
    ) -> ToolOutput {
        let alert_ts = scope.alert_ts;
        let emit = |e: Event| {
            let _ = events.send(e);
        };
        let shown_args = serde_json::from_str(&crate::redact::redact(&args.to_string())).unwrap_or(Value::Null);
        emit(Event::ToolStarted { alert_ts, call_id: call_id.into(), tool: name.into(), args: shown_args });
        let output = match parse_call(name, args, &self.sql) {
            Err(e) => ToolOutput::failed(Tool::from_name(name), format!("tool error: {e}")),
            Ok(_)
                if args
                    .get("execution_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| !id.eq_ignore_ascii_case(execution_id)) =>
            {
                ToolOutput::failed(
                    Tool::from_name(name),
                    format!("tool error: this triage is about execution {execution_id}"),
                )
            }
            Ok(call) => self.execute(scope, call_id, execution_id, &call, &emit).await,
        };
        let output = ToolOutput {
            summary: crate::redact::redact(&output.summary).into_owned(),
            condensed: crate::redact::redact(&output.condensed).into_owned(),
            ..output
        };
        emit(Event::ToolOutput {
            alert_ts,
            call_id: call_id.into(),
            condensed: output.condensed.clone(),
            raw: recorded(&output.data),
        });
        emit(Event::ToolFinished { alert_ts, call_id: call_id.into(), ok: output.ok, summary: output.summary.clone() });
        output
    }

    async fn execute(
        &self,
        scope: Scope,
        call_id: &str,
        execution_id: &str,
        call: &ToolCall,
        emit: &impl Fn(Event),
    ) -> ToolOutput {
        let alert_ts = scope.alert_ts;
        let tool = call.tool;
        let incident = match self.incident(execution_id).await {
            Ok(i) => i,
            Err(e) if e.is_outage() => return ToolOutput::outage(tool, &e),
            Err(e) => return ToolOutput::failed(Some(tool), format!("{} unavailable: {e}", tool.name())),
        };
        let Some(command) = tool.command() else {
            emit(Event::ExecutionRead { alert_ts, execution: recorded(&incident.raw) });
            let data = json!({
                "status": incident.status, "reason": incident.reason, "issues": incident.issues,
                "cluster_data": incident.cluster_data, "failed_checks": incident.failed_checks, "cluster": incident.context,
            });
            let summary = format!(
                "{} on {} ({} issue(s), {} failed check(s))",
                incident.status,
                incident.context.cluster_name,
                incident.issues.len(),
                incident.failed_checks.len()
            );
            return ToolOutput {
                tool: Some(tool),
                ok: true,
                summary,
                condensed: condense::for_tool(tool, &data),
                data,
                workflow_id: None,
                not_polled: None,
                outage: false,
            };
        };
        if let Some(plan) = &call.plan
            && let Err(refused) = self.plan_within_budget(scope, call_id, &incident, command, plan, emit).await
        {
            return refused;
        }
        let (workflow_id, ended, elapsed) =
            match self.dispatch(scope, call_id, &incident, command, &call.params, emit).await {
                Ok(done) => done,
                Err(e) if e.is_outage() => return ToolOutput::outage(tool, &e),
                Err(e) => return ToolOutput::failed(Some(tool), format!("{} unavailable: {e}", tool.name())),
            };
        match ended {
            Ended::Completed(mut output) => {
                // Evidence is redacted where it enters: nothing downstream sees a secret it carried.
                crate::redact::redact_value(&mut output);
                let data = output.get("result").cloned().unwrap_or(output);
                let condensed = condense::for_tool(tool, &data);
                let first = condensed.lines().next().unwrap_or("").chars().take(120).collect::<String>();
                let summary = format!("{} in {:.1} s: {first}", tool.name(), secs(elapsed));
                ToolOutput {
                    tool: Some(tool),
                    ok: true,
                    summary,
                    condensed,
                    data,
                    workflow_id: Some(workflow_id),
                    not_polled: None,
                    outage: false,
                }
            }
            other => {
                let problem = other.problem().unwrap_or_default();
                let mut out = ToolOutput::failed(Some(tool), format!("{} unavailable: {problem}", tool.name()));
                out.workflow_id = Some(workflow_id);
                if let Ended::AgentNotPolling { after } = other {
                    out.not_polled = Some(after);
                }
                out
            }
        }
    }

    /// Asks for a SQL query's plan first: a query over the cost budget is refused before it
    /// runs. The refusal (or the outage that stopped the ask) is the call's output.
    async fn plan_within_budget(
        &self,
        scope: Scope,
        call_id: &str,
        incident: &Execution,
        command: Command,
        plan: &Map<String, Value>,
        emit: &impl Fn(Event),
    ) -> Result<(), ToolOutput> {
        let tool = Tool::RunSqlSelect;
        let cost = match self.dispatch(scope, call_id, incident, command, plan, emit).await {
            Ok((_, Ended::Completed(output), _)) => {
                let answer = output.get("result").cloned().unwrap_or(output);
                sql_guard::plan::within_budget(&sql_guard::plan::parse_answer(&answer), self.sql.max_cost)
            }
            Ok((_, other, _)) => {
                Err(format!("its plan (EXPLAIN) did not complete: {}", other.problem().unwrap_or_default()))
            }
            Err(e) if e.is_outage() => return Err(ToolOutput::outage(tool, &e)),
            Err(e) => Err(format!("its plan (EXPLAIN) could not be asked for: {e}")),
        };
        cost.map(|_| ())
            .map_err(|finding| ToolOutput::failed(Some(tool), format!("{} refused: {finding}", tool.name())))
    }

    /// Dispatches one command for the call, within the dispatch limit, reporting it as events.
    async fn dispatch(
        &self,
        scope: Scope,
        call_id: &str,
        incident: &Execution,
        command: Command,
        params: &Map<String, Value>,
        emit: &impl Fn(Event),
    ) -> Result<(String, Ended, Duration), ConductorError> {
        let alert_ts = scope.alert_ts;
        let _permit = self.dispatches.acquire().await;
        let workflow = command.workflow();
        let started = |id: &str| {
            emit(Event::DispatchStarted {
                alert_ts,
                call_id: call_id.into(),
                workflow: workflow.into(),
                workflow_id: id.into(),
            });
        };
        let claimed = |claimed: bool| emit(Event::DispatchClaimed { alert_ts, call_id: call_id.into(), claimed });
        let key = scope.idempotency_key(workflow, params);
        let (workflow_id, ended, elapsed) = dispatch::dispatch(
            &self.conductor,
            &incident.context,
            command,
            params,
            self.timing,
            &key,
            started,
            claimed,
        )
        .await?;
        emit(Event::DispatchFinished {
            alert_ts,
            call_id: call_id.into(),
            workflow_id: workflow_id.clone(),
            status: ended.status(),
            elapsed_ms: elapsed.as_millis() as u64,
            reason: match &ended {
                Ended::Failed { reason, .. } => Some(crate::redact::redact(reason).into_owned()),
                _ => None,
            },
        });
        Ok((workflow_id, ended, elapsed))
    }
}

/// Raw tool output as the flight recorder keeps it: redacted, and at most `RAW_CAP` bytes of
/// JSON (above that, a note of the size).
pub const RAW_CAP: usize = 2 * 1024 * 1024;

fn recorded(data: &Value) -> Value {
    let text = data.to_string();
    if text.len() > RAW_CAP {
        return Value::String(format!("({} bytes of output, over the transcript's cap)", text.len()));
    }
    serde_json::from_str(&crate::redact::redact(&text)).unwrap_or(Value::Null)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
