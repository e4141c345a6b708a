//! The simulated Conductor API (domain.md §2–3): `POST /api/token` (Orkes: 401 bodies carry
//! `EXPIRED_TOKEN`/`INVALID_TOKEN`), `GET /api/workflow/{id}` for the scenarios' executions and
//! for dispatched commands, and `POST /api/workflow`, which validates the StartWorkflowRequest
//! (read-only workflow, matching command, cluster domain, NO_DOMAIN pins, correlationId), answers
//! with the new id as plain text, and runs the scenario's fixture on the clock. Served as Orkes
//! (with a key), it also runs a workflow synchronously: `POST /api/workflow/execute/{name}/
//! {version}?requestId=…&waitForSeconds=…` answers the WorkflowRun the moment the workflow
//! completes, or as it stands when the wait (default 10 s) ends; served as open-source
//! Conductor (no key) it has no such endpoint (404).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use regex::Regex;
use serde_json::{Value, json};

use super::RequestRecord;
use super::scenario::{CommandFixture, FixtureStatus, READ_ONLY_WORKFLOWS, Scenario};
use crate::conductor::ClusterContext;

/// Orchestration tasks that must run in no domain (domain.md §3). The simulator's own copy, kept
/// apart from the product's request builder on purpose: one shared list could be wrong in both.
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

/// A fixture with no `latency_ms` answers after this long.
const DEFAULT_LATENCY_MS: u64 = 500;

/// One StartWorkflowRequest the simulator received.
#[derive(Clone, Debug)]
pub struct DispatchRecord {
    pub workflow: String,
    pub request: Value,
    /// The new workflow id, or None when the request was rejected.
    pub workflow_id: Option<String>,
    pub rejection: Option<String>,
    /// Which scenario's cluster it went to.
    pub scenario: Option<String>,
    /// How long its fixture keeps it running (scaled), when it was accepted.
    pub latency_ms: Option<u64>,
}

struct Run {
    name: String,
    request: Value,
    started: Instant,
    created_ms: u64,
    fixture: Option<CommandFixture>,
    domain: String,
}

struct Cluster {
    scenario: usize,
    context: ClusterContext,
}

struct ConductorState {
    runs: HashMap<String, Run>,
    tokens: HashMap<String, Instant>,
    dispatches: Vec<DispatchRecord>,
    requests: Vec<RequestRecord>,
    server_errors: usize,
    /// Starts that create their workflow and then answer HTTP 500.
    errors_after_start: usize,
    /// Starts that answer HTTP 500 and create nothing.
    start_errors: usize,
    /// idempotencyKey → the workflow its first start created.
    idempotency: HashMap<String, String>,
    /// The most dispatched workflows running at once so far.
    peak_running: usize,
}

pub struct ConductorSim {
    auth: Option<(String, String)>,
    token_ttl: Duration,
    latency_scale: f64,
    scenarios: Vec<Scenario>,
    executions: HashMap<String, Value>,
    clusters: HashMap<String, Cluster>,
    state: Mutex<ConductorState>,
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn error(status: StatusCode, message: &str) -> (StatusCode, Value) {
    (
        status,
        json!({"status": status.as_u16(), "message": message, "instance": "conductor-sim", "retryable": status.is_server_error()}),
    )
}

impl ConductorSim {
    pub fn new(
        scenarios: Vec<Scenario>,
        auth: Option<(String, String)>,
        token_ttl: Duration,
        latency_scale: f64,
    ) -> ConductorSim {
        let mut executions = HashMap::new();
        let mut clusters = HashMap::new();
        for (i, s) in scenarios.iter().enumerate() {
            for (id, exec) in &s.executions {
                executions.insert(id.to_ascii_lowercase(), exec.clone());
            }
            for context in s.clusters() {
                clusters.insert(context.domain(), Cluster { scenario: i, context });
            }
        }
        ConductorSim {
            auth,
            token_ttl,
            latency_scale,
            scenarios,
            executions,
            clusters,
            state: Mutex::new(ConductorState {
                runs: HashMap::new(),
                tokens: HashMap::new(),
                dispatches: Vec::new(),
                requests: Vec::new(),
                server_errors: 0,
                errors_after_start: 0,
                start_errors: 0,
                idempotency: HashMap::new(),
                peak_running: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConductorState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next `n` API calls (not /token) answer HTTP 500.
    pub fn inject_server_errors(&self, n: usize) {
        self.lock().server_errors += n;
    }

    /// The next `n` starts of a workflow answer HTTP 500 before creating anything (an outage
    /// of the workflow API while reads still work).
    pub fn inject_start_errors(&self, n: usize) {
        self.lock().start_errors += n;
    }

    /// The outage is over: the errors still injected are dropped.
    pub fn recover(&self) {
        let mut st = self.lock();
        st.server_errors = 0;
        st.errors_after_start = 0;
        st.start_errors = 0;
    }

    /// The next `n` starts of a workflow create it, then answer HTTP 500: the answer is lost,
    /// the workflow runs.
    pub fn inject_errors_after_start(&self, n: usize) {
        self.lock().errors_after_start += n;
    }

    /// Every token issued so far expires now (a token expiring mid-triage).
    pub fn expire_tokens(&self) {
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
        self.lock().tokens.values_mut().for_each(|t| *t = past);
    }

    /// The most dispatched workflows that were running at once (a client's concurrency).
    pub fn peak_running(&self) -> usize {
        self.lock().peak_running
    }

    pub fn dispatches(&self) -> Vec<DispatchRecord> {
        self.lock().dispatches.clone()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    fn issue_token(&self, body: &Value) -> (StatusCode, Value) {
        let Some((key, secret)) = &self.auth else {
            return error(StatusCode::NOT_FOUND, "No static resource token.");
        };
        let given = (body.get("keyId").and_then(Value::as_str), body.get("keySecret").and_then(Value::as_str));
        if given != (Some(key.as_str()), Some(secret.as_str())) {
            return (
                StatusCode::UNAUTHORIZED,
                json!({"error": "INVALID_CREDENTIALS", "message": "Invalid key id or secret"}),
            );
        }
        let exp = epoch_ms() / 1000 + self.token_ttl.as_secs();
        let header = B64URL.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let claims =
            B64URL.encode(json!({"sub": key, "exp": exp, "jti": uuid::Uuid::new_v4().to_string()}).to_string());
        let signature = B64URL.encode(uuid::Uuid::new_v4().as_bytes());
        let token = format!("{header}.{claims}.{signature}");
        self.lock().tokens.insert(token.clone(), Instant::now() + self.token_ttl);
        (StatusCode::OK, json!({"token": token}))
    }

    /// None when the request may proceed, else the 401 answer.
    fn check_token(&self, headers: &HeaderMap) -> Option<(StatusCode, Value)> {
        self.auth.as_ref()?;
        let given = headers.get("X-Authorization").and_then(|v| v.to_str().ok());
        let expiry = given.and_then(|t| self.lock().tokens.get(t).copied());
        match expiry {
            Some(at) if Instant::now() < at => None,
            Some(_) => {
                Some((StatusCode::UNAUTHORIZED, json!({"error": "EXPIRED_TOKEN", "message": "Token is expired"})))
            }
            None => Some((StatusCode::UNAUTHORIZED, json!({"error": "INVALID_TOKEN", "message": "Invalid token"}))),
        }
    }

    fn take_server_error(&self) -> bool {
        let mut st = self.lock();
        if st.server_errors > 0 {
            st.server_errors -= 1;
            true
        } else {
            false
        }
    }

    fn get_workflow(&self, id: &str) -> (StatusCode, Value) {
        if let Some(exec) = self.executions.get(&id.to_ascii_lowercase()) {
            return (StatusCode::OK, exec.clone());
        }
        let st = self.lock();
        match st.runs.get(id) {
            Some(run) => (StatusCode::OK, self.render_run(id, run)),
            None => error(StatusCode::NOT_FOUND, &format!("No such workflow found by id: {id}")),
        }
    }

    /// Validates a StartWorkflowRequest against domain.md §3; Ok gives the cluster's domain.
    fn validate(&self, req: &Value) -> Result<String, String> {
        let name = req.get("name").and_then(Value::as_str).ok_or("`name` is missing")?;
        let command = READ_ONLY_WORKFLOWS
            .iter()
            .find(|(w, _)| *w == name)
            .map(|(_, c)| *c)
            .ok_or_else(|| format!("workflow `{name}` is not a read-only investigation workflow"))?;
        let input = req.get("input").filter(|v| v.is_object()).ok_or("`input` must be an object")?;
        let sent = input.pointer("/agentHandlerRequest/command").and_then(Value::as_str);
        if sent != Some(command) {
            return Err(format!("input.agentHandlerRequest.command must be {command} for {name}, not {sent:?}"));
        }
        let t2d = req.get("taskToDomain").and_then(Value::as_object).ok_or("`taskToDomain` is missing")?;
        let domain = t2d.get("*").and_then(Value::as_str).ok_or("taskToDomain has no \"*\" entry")?;
        let cluster = self
            .clusters
            .get(domain)
            .ok_or_else(|| format!("taskToDomain \"*\" = {domain:?} is no known cluster's domain"))?;
        for task in NO_DOMAIN_TASKS {
            if t2d.get(*task).and_then(Value::as_str) != Some("NO_DOMAIN") {
                return Err(format!("taskToDomain must pin {task} to NO_DOMAIN"));
            }
        }
        if let Some(extra) = t2d.keys().find(|k| *k != "*" && !NO_DOMAIN_TASKS.contains(&k.as_str())) {
            return Err(format!("taskToDomain has an unexpected entry {extra:?}"));
        }
        if req.get("correlationId").and_then(Value::as_str) != Some(domain) {
            return Err(format!("correlationId must be {domain:?}"));
        }
        let ctx = &cluster.context;
        let org_ok = input.get("organizationId").and_then(Value::as_str) == Some(ctx.organization_id.as_str());
        let cluster_ok = input.pointer("/agentHandlerRequest/clusterName").and_then(Value::as_str)
            == Some(ctx.cluster_name.as_str());
        if !org_ok || !cluster_ok {
            return Err(
                "input.organizationId and agentHandlerRequest.clusterName must name the taskToDomain cluster".into()
            );
        }
        Ok(domain.to_string())
    }

    fn fixture_for(&self, scenario: usize, name: &str, input: &Value) -> Option<CommandFixture> {
        let param = |key: &str| -> Option<String> {
            let v = input.get(key).or_else(|| input.pointer(&format!("/agentHandlerRequest/parameters/{key}")))?;
            Some(v.as_str().map_or_else(|| v.to_string(), str::to_string))
        };
        self.scenarios[scenario]
            .commands
            .iter()
            .find(|c| {
                c.workflow == name
                    && c.match_params
                        .iter()
                        .all(|(key, re)| param(key).is_some_and(|v| Regex::new(re).is_ok_and(|re| re.is_match(&v))))
            })
            .cloned()
    }

    /// Starts the workflow of a StartWorkflowRequest (or finds the one its idempotencyKey
    /// started): its id, or the refusal as Conductor words it.
    fn start_workflow(&self, req: Value) -> Result<String, (StatusCode, Value)> {
        let name = req.get("name").and_then(Value::as_str).unwrap_or("").to_string();
        match self.validate(&req) {
            Err(reason) => {
                self.lock().dispatches.push(DispatchRecord {
                    workflow: name,
                    request: req,
                    workflow_id: None,
                    rejection: Some(reason.clone()),
                    scenario: None,
                    latency_ms: None,
                });
                Err(error(StatusCode::BAD_REQUEST, &reason))
            }
            Ok(domain) => {
                if let Some(answer) = self.idempotent(&req) {
                    return answer;
                }
                let scenario = self.clusters[&domain].scenario;
                let input = req.get("input").cloned().unwrap_or(Value::Null);
                let fixture = self.fixture_for(scenario, &name, &input).map(|f| explained(f, &input));
                let id = uuid::Uuid::new_v4().to_string();
                let mut st = self.lock();
                st.dispatches.push(DispatchRecord {
                    workflow: name.clone(),
                    request: req.clone(),
                    workflow_id: Some(id.clone()),
                    rejection: None,
                    scenario: Some(self.scenarios[scenario].name.clone()),
                    latency_ms: Some(self.latency(fixture.as_ref()).as_millis() as u64),
                });
                if let Some(key) = req.get("idempotencyKey").and_then(Value::as_str) {
                    st.idempotency.insert(key.to_string(), id.clone());
                }
                st.runs.insert(
                    id.clone(),
                    Run { name, request: req, started: Instant::now(), created_ms: epoch_ms(), fixture, domain },
                );
                let running =
                    st.runs.values().filter(|r| r.started.elapsed() < self.latency(r.fixture.as_ref())).count();
                st.peak_running = st.peak_running.max(running);
                if st.errors_after_start > 0 {
                    st.errors_after_start -= 1;
                    return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"));
                }
                Ok(id)
            }
        }
    }

    /// The run of a started workflow as the synchronous API answers it (a WorkflowRun), once it
    /// is terminal or `wait` has passed, whichever comes first.
    async fn run_until(&self, id: &str, request_id: Option<&str>, wait: Duration) -> Value {
        let until = Instant::now() + wait;
        loop {
            let (wf, left) = {
                let st = self.lock();
                let Some(run) = st.runs.get(id) else { return Value::Null };
                let never = run.fixture.as_ref().is_some_and(|f| f.status == FixtureStatus::ScheduledForever);
                let ends_at = run.started + self.latency(run.fixture.as_ref());
                (self.render_run(id, run), if never { until } else { ends_at.min(until) })
            };
            let status = wf["status"].as_str().unwrap_or("");
            if status != "RUNNING" || Instant::now() >= until {
                let keep = [
                    "workflowId",
                    "correlationId",
                    "input",
                    "output",
                    "status",
                    "tasks",
                    "createTime",
                    "updateTime",
                    "priority",
                    "variables",
                ];
                let mut out: serde_json::Map<String, Value> =
                    keep.iter().filter_map(|k| wf.get(*k).map(|v| ((*k).to_string(), v.clone()))).collect();
                out.insert("requestId".into(), json!(request_id));
                out.insert("createdBy".into(), json!("oncall-triage"));
                if let Some(r) = wf.get("reasonForIncompletion") {
                    out.insert("reasonForIncompletion".into(), r.clone());
                }
                return Value::Object(out);
            }
            tokio::time::sleep_until(tokio::time::Instant::from_std(
                left.max(Instant::now() + Duration::from_millis(1)),
            ))
            .await;
        }
    }

    /// A start whose idempotencyKey was seen before, answered as Conductor does: RETURN_EXISTING
    /// gives the existing workflow's id; FAIL refuses (409); FAIL_ON_RUNNING refuses while the
    /// existing one runs. None: start a new workflow.
    fn idempotent(&self, req: &Value) -> Option<Result<String, (StatusCode, Value)>> {
        let key = req.get("idempotencyKey").and_then(Value::as_str)?;
        let st = self.lock();
        let existing = st.idempotency.get(key)?.clone();
        let running = st.runs.get(&existing).is_some_and(|run| self.render_run(&existing, run)["status"] == "RUNNING");
        let conflict = match req.get("idempotencyStrategy").and_then(Value::as_str).unwrap_or("FAIL") {
            "RETURN_EXISTING" => false,
            // Not running any more: a new workflow starts.
            "FAIL_ON_RUNNING" if !running => return None,
            _ => true,
        };
        if conflict {
            let message = format!("A workflow with idempotencyKey {key} already exists: {existing}");
            return Some(Err(error(StatusCode::CONFLICT, &message)));
        }
        Some(Ok(existing))
    }

    /// What every start passes before it is read: the token, the injected failures, a JSON
    /// object for a body.
    fn admit(&self, headers: &HeaderMap, request: &Value) -> Result<(), (StatusCode, Value)> {
        if let Some(denied) = self.check_token(headers) {
            return Err(denied);
        }
        if self.take_server_error() || self.take_start_error() {
            return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"));
        }
        if !request.is_object() {
            return Err(error(StatusCode::BAD_REQUEST, "the body must be a StartWorkflowRequest JSON object"));
        }
        Ok(())
    }

    fn take_start_error(&self) -> bool {
        let mut st = self.lock();
        let take = st.start_errors > 0;
        st.start_errors = st.start_errors.saturating_sub(1);
        take
    }

    /// How long a fixture keeps its workflow RUNNING, scaled.
    fn latency(&self, fixture: Option<&CommandFixture>) -> Duration {
        let ms = fixture.map_or(50, |f| f.latency_ms.unwrap_or(DEFAULT_LATENCY_MS));
        Duration::from_secs_f64(ms as f64 * self.latency_scale / 1000.0)
    }

    /// The workflow JSON of a dispatched command at this moment.
    fn render_run(&self, id: &str, run: &Run) -> Value {
        let (status, latency, output, reason) = match &run.fixture {
            Some(f) => (
                f.status,
                f.latency_ms.unwrap_or(DEFAULT_LATENCY_MS),
                f.output.clone().unwrap_or_else(|| json!({})),
                f.reason.clone(),
            ),
            None => (FixtureStatus::Failed, 50, json!({}), Some(format!("no scenario fixture for {}", run.name))),
        };
        let latency = Duration::from_secs_f64(latency as f64 * self.latency_scale / 1000.0);
        let done = status != FixtureStatus::ScheduledForever && run.started.elapsed() >= latency;
        let (wf_status, task_status) = match (done, status) {
            (false, FixtureStatus::ScheduledForever) => ("RUNNING", "SCHEDULED"),
            (false, _) => ("RUNNING", "IN_PROGRESS"),
            (true, FixtureStatus::Completed) => ("COMPLETED", "COMPLETED"),
            (true, FixtureStatus::Failed) => ("FAILED", "FAILED"),
            (true, FixtureStatus::TimedOut) => ("TIMED_OUT", "TIMED_OUT"),
            (true, FixtureStatus::Terminated) => ("TERMINATED", "CANCELED"),
            (true, FixtureStatus::ScheduledForever) => ("RUNNING", "SCHEDULED"),
        };
        let end_ms = run.created_ms + latency.as_millis() as u64;
        let input = run.request.get("input").cloned().unwrap_or(Value::Null);
        let command = input.pointer("/agentHandlerRequest/command").cloned().unwrap_or(Value::Null);
        let handler = input.get("agentHandlerId").cloned().unwrap_or(Value::Null);
        let prepare = json!({"taskType": "prepare_agent_handler", "referenceTaskName": "prepare_agent_handler_ref",
            "status": "COMPLETED", "seq": 1, "domain": null, "workflowInstanceId": id, "workflowType": run.name,
            "scheduledTime": run.created_ms, "startTime": run.created_ms, "endTime": run.created_ms + 20,
            "outputData": {"agentHandlerId": handler, "command": command}});
        let mut task = json!({"taskType": "agent_handler_command", "referenceTaskName": format!("{}_ref", run.name),
            "status": task_status, "seq": 2, "domain": run.domain, "workflowInstanceId": id, "workflowType": run.name,
            "taskId": uuid::Uuid::new_v4().to_string(), "scheduledTime": run.created_ms + 20,
            "startTime": if task_status == "SCHEDULED" { 0 } else { run.created_ms + 25 },
            "pollCount": if task_status == "SCHEDULED" { 0 } else { 1 },
            "inputData": {"command": command, "agentHandlerId": handler}, "outputData": {}});
        let mut wf = json!({"workflowId": id, "workflowName": run.name, "workflowVersion": 1,
            "correlationId": run.request.get("correlationId"), "status": wf_status, "input": input,
            "output": {}, "taskToDomain": run.request.get("taskToDomain"), "createTime": run.created_ms,
            "startTime": run.created_ms, "updateTime": if done { end_ms } else { epoch_ms() }, "endTime": if done { end_ms } else { 0 },
            "ownerApp": "oncall-triage", "priority": 0, "variables": {}});
        if done {
            if status == FixtureStatus::Completed {
                wf["output"] = output.clone();
                task["outputData"] = output;
            }
            task["endTime"] = json!(end_ms);
            if let Some(r) = &reason {
                wf["reasonForIncompletion"] = json!(r);
                task["reasonForIncompletion"] = json!(r);
            }
        }
        wf["tasks"] = json!([prepare, task]);
        wf
    }
}

fn record(sim: &ConductorSim, api: String, status: StatusCode, params: Value) {
    sim.lock().requests.push(RequestRecord { api, status: status.as_u16(), params, error: None });
}

pub(super) async fn token(State(shared): State<std::sync::Arc<super::Shared>>, body: Bytes) -> Response {
    let sim = &shared.conductor;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, answer) = sim.issue_token(&body);
    record(sim, "POST /api/token".into(), status, json!({"keyId": body.get("keyId")}));
    (status, Json(answer)).into_response()
}

pub(super) async fn get_workflow(
    State(shared): State<std::sync::Arc<super::Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let sim = &shared.conductor;
    let (status, answer) = if let Some(denied) = sim.check_token(&headers) {
        denied
    } else if sim.take_server_error() {
        error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    } else {
        sim.get_workflow(&id)
    };
    record(sim, format!("GET /api/workflow/{id}"), status, Value::Null);
    (status, Json(answer)).into_response()
}

pub(super) async fn start_workflow(
    State(shared): State<std::sync::Arc<super::Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sim = &shared.conductor;
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let started = sim.admit(&headers, &request).and_then(|()| sim.start_workflow(request.clone()));
    let (status, resp) = match started {
        Ok(id) => (StatusCode::OK, (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], id).into_response()),
        Err((status, body)) => (status, (status, Json(body)).into_response()),
    };
    record(sim, "POST /api/workflow".into(), status, request);
    resp
}

/// `POST /api/workflow/execute/{name}/{version}`: Orkes's synchronous run. The workflow starts
/// as `POST /api/workflow` starts it (the path names it when the body does not); the answer is
/// its WorkflowRun once it ends, or after `waitForSeconds` (default 10) as it stands.
pub(super) async fn execute_workflow(
    State(shared): State<std::sync::Arc<super::Shared>>,
    Path((name, version)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sim = &shared.conductor;
    let api = format!("POST /api/workflow/execute/{name}/{version}");
    if sim.auth.is_none() {
        // Open-source Conductor has no synchronous API.
        let (status, body) =
            error(StatusCode::NOT_FOUND, &format!("No static resource api/workflow/execute/{name}/{version}."));
        record(sim, api, status, Value::Null);
        return (status, Json(body)).into_response();
    }
    let mut request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(req) = request.as_object_mut() {
        req.entry("name").or_insert_with(|| json!(name));
    }
    let wait = match query.get("waitForSeconds").map(|w| w.parse::<u64>()) {
        None => Ok(10),
        Some(Ok(secs)) => Ok(secs),
        Some(Err(_)) => Err(error(StatusCode::BAD_REQUEST, "waitForSeconds must be a whole number")),
    };
    let started = wait.and_then(|wait| {
        if version.parse::<u32>().is_err() {
            return Err(error(StatusCode::BAD_REQUEST, "version must be a whole number"));
        }
        sim.admit(&headers, &request)?;
        sim.start_workflow(request.clone()).map(|id| (id, wait))
    });
    let (status, answer) = match started {
        Ok((id, wait)) => {
            let run = sim.run_until(&id, query.get("requestId").map(String::as_str), Duration::from_secs(wait)).await;
            (StatusCode::OK, run)
        }
        Err(refused) => refused,
    };
    record(sim, api, status, json!({"request": request, "query": query}));
    (status, Json(answer)).into_response()
}

/// sql_conductor asked for a plan (`EXPLAIN (FORMAT JSON) …`) answers as PostgreSQL does: one row
/// of one `QUERY PLAN` column holding the plan as JSON text, with the fixture's `plan_cost`.
fn explained(fixture: CommandFixture, input: &Value) -> CommandFixture {
    let query = input.get("query").or_else(|| input.pointer("/agentHandlerRequest/parameters/query"));
    let is_plan = fixture.workflow == "sql_conductor"
        && query.and_then(Value::as_str).is_some_and(|q| q.starts_with("EXPLAIN (FORMAT JSON) "));
    if !is_plan || fixture.status != FixtureStatus::Completed {
        return fixture;
    }
    let rows =
        fixture.output.as_ref().and_then(|o| o.pointer("/result/rows")).and_then(Value::as_array).map_or(1, Vec::len);
    let cost = fixture.plan_cost.unwrap_or(10.0);
    let plan = json!([{"Plan": {"Node Type": "Limit", "Startup Cost": 0.0, "Total Cost": cost, "Plan Rows": rows, "Plan Width": 32}}]);
    CommandFixture {
        output: Some(json!({"result": {"columns": ["QUERY PLAN"], "rows": [[plan.to_string()]]}})),
        ..fixture
    }
}
