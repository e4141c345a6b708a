//! The playbook engine: no model. For the alert's kind, a plan of evidence (domain.md §4) is
//! gathered in two parallel stages — the cluster-wide picture, then logs and events of the pods
//! that matter — and analyzers read the condensed evidence: pod states (CrashLoopBackOff,
//! OOMKilled, exit codes), warning events, the dominant log entry with its exact lines, the
//! busiest pod from top, ingress addresses, commands nobody polled, tools that failed. Adding a kind is a row of
//! `plan` and, where needed, an analyzer; the flow stays the same.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use regex::Regex;
use serde_json::{Value, json};
use tokio::sync::{OnceCell, mpsc};
use tokio::task::JoinSet;

use crate::conductor::Execution;
use crate::domain::{Alert, AlertKind, Confidence, Hypothesis, Issue, Ts};
use crate::protocol::Event;
use crate::tools::condense;
use crate::tools::{Scope, Tool, ToolOutput, Toolbox};

use super::evidence::{self, Reading};

/// Which pods the second stage looks at.
#[derive(Clone, Copy)]
enum Focus {
    /// None: the first stage says enough.
    Nothing,
    /// The pod the alert names, else the abnormal ones among these prefixes.
    Named(&'static [&'static str]),
    /// Pods of these deployments, abnormal ones first.
    Deployments(&'static [&'static str]),
}

struct Plan {
    first: &'static [Tool],
    focus: Focus,
    per_pod: &'static [Tool],
    max_pods: usize,
}

const CONDUCTOR: &[&str] = &["orkes-conductor-deployment-"];
const WORKERS: &[&str] = &["orkes-workers-deployment-"];
const SERVER_AND_WORKERS: &[&str] = &["orkes-conductor-deployment-", "orkes-workers-deployment-"];
const PROMETHEUS: &[&str] = &["prometheus"];
const ANY: &[&str] = &[""];
const LOGS_AND_EVENTS: &[Tool] = &[Tool::PullPodLogs, Tool::GetPodEvents];

/// The evidence to gather per kind (domain.md §4).
fn plan(kind: AlertKind) -> Plan {
    use Tool::*;
    let p = |first, focus, per_pod, max_pods| Plan { first, focus, per_pod, max_pods };
    match kind {
        AlertKind::RedisCriticalUsage | AlertKind::RedisHighUsage => {
            p(&[GetClusterMetrics, GetPodsData], Focus::Deployments(SERVER_AND_WORKERS), &[PullPodLogs], 3)
        }
        AlertKind::ConductorHighHeapUsage | AlertKind::ConductorHighCpuUsage => {
            p(&[GetPodsData, GetInfrastructureMetrics], Focus::Named(CONDUCTOR), &[PullPodLogs, GetTopOutput], 1)
        }
        AlertKind::ConductorErrorLogsCountExceededThreshold | AlertKind::ConductorWarnLogsCountExceededThreshold => {
            p(&[GetPodsData], Focus::Deployments(CONDUCTOR), &[PullPodLogs], 2)
        }
        AlertKind::ConductorHealthy | AlertKind::DomainReachability => {
            p(&[GetPodsData, GetIngressInfo], Focus::Deployments(CONDUCTOR), LOGS_AND_EVENTS, 2)
        }
        AlertKind::WorkersHealthy => p(&[GetPodsData], Focus::Deployments(WORKERS), LOGS_AND_EVENTS, 2),
        AlertKind::PrometheusNotRunning => p(&[GetPodsData], Focus::Deployments(PROMETHEUS), LOGS_AND_EVENTS, 1),
        AlertKind::PodNotRunning | AlertKind::PodRestarted => p(&[GetPodsData], Focus::Named(ANY), LOGS_AND_EVENTS, 1),
        AlertKind::DnsHealthy | AlertKind::DomainResolution => {
            p(&[GetIngressInfo, GetPodsData], Focus::Nothing, &[], 0)
        }
        AlertKind::AuthStale | AlertKind::DomainCertificateWillExpire => p(&[], Focus::Nothing, &[], 0),
        AlertKind::ResponseTime => p(&[GetClusterMetrics, GetTopOutput], Focus::Nothing, &[], 0),
        // One cheap probe: a probe stuck in SCHEDULED means the in-cluster agent is not polling.
        AlertKind::TelemetryLoss => p(&[GetPodsData], Focus::Nothing, &[], 0),
        AlertKind::Unknown => p(&[GetPodsData], Focus::Deployments(CONDUCTOR), &[PullPodLogs], 1),
    }
}

/// A distinct call of a triage: the id of its first call, and its result once it has one.
type Served = (String, Arc<OnceCell<ToolOutput>>);

/// One triage's tool calls: numbered, reported, run concurrently where independent.
#[derive(Clone)]
pub struct Investigation {
    pub alert_ts: Ts,
    /// Which triage of the alert this is (see `tools::Scope`).
    pub attempt: u32,
    pub execution_id: String,
    pub toolbox: Arc<Toolbox>,
    pub events: mpsc::UnboundedSender<Event>,
    calls: Arc<AtomicU32>,
    /// The first call that an outage of Conductor (or of our access to it) stopped.
    outage: Arc<std::sync::Mutex<Option<String>>>,
    /// Each distinct call's result (by tool and arguments): an identical call, by the playbook
    /// or a model, is served from the first one and never dispatched again.
    results: Arc<std::sync::Mutex<HashMap<String, Served>>>,
    /// Distinct calls made; past `budget` a call gets a tool error instead of a dispatch.
    made: Arc<AtomicU32>,
    pub budget: u32,
}

impl Investigation {
    pub fn new(
        alert_ts: Ts,
        execution_id: &str,
        toolbox: Arc<Toolbox>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Investigation {
        let budget = toolbox.budget();
        Investigation {
            alert_ts,
            attempt: 0,
            execution_id: execution_id.to_string(),
            toolbox,
            events,
            calls: Arc::default(),
            outage: Arc::default(),
            results: Arc::default(),
            made: Arc::default(),
            budget,
        }
    }

    /// What stopped a call because Conductor or our access to it failed, if anything did: the
    /// triage then has no result (its evidence is incomplete for a reason that is ours).
    pub fn outage(&self) -> Option<String> {
        self.outage.lock().ok().and_then(|o| o.clone())
    }

    /// The same investigation as the `attempt`-th triage of its alert.
    pub fn attempt(self, attempt: u32) -> Investigation {
        Investigation { attempt, ..self }
    }

    pub async fn call(&self, tool: &str, args: Value) -> ToolOutput {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("call-{n}");
        // serde_json maps are ordered: the same arguments make the same key.
        let key = format!("{tool} {args}");
        let (first, cell, fresh) = match self.results.lock() {
            Ok(mut results) => {
                let fresh = !results.contains_key(&key);
                let (first, cell) = results.entry(key).or_insert_with(|| (id.clone(), Arc::default())).clone();
                (first, cell, fresh)
            }
            Err(_) => (id.clone(), Arc::default(), true),
        };
        if !fresh {
            // Asked before in this triage: the first call's result, nothing dispatched.
            let out = cell.get_or_init(|| async { ToolOutput::failed(None, String::new()) }).await.clone();
            self.answered_here(id, tool, args, out.ok, format!("the same as {first}: served from its result"));
            return out;
        }
        cell.get_or_init(|| self.run(id, tool, args)).await.clone()
    }

    /// Reports a call answered without the toolbox (from an earlier result, or refused).
    fn answered_here(&self, call_id: String, tool: &str, args: Value, ok: bool, summary: String) {
        let alert_ts = self.alert_ts;
        let _ = self.events.send(Event::ToolStarted { alert_ts, call_id: call_id.clone(), tool: tool.into(), args });
        let _ = self.events.send(Event::ToolFinished { alert_ts, call_id, ok, summary });
    }

    async fn run(&self, id: String, tool: &str, args: Value) -> ToolOutput {
        let made = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        if made > self.budget {
            let summary = format!(
                "tool error: this triage's budget of {} distinct calls is spent; conclude from the evidence gathered",
                self.budget
            );
            self.answered_here(id, tool, args, false, summary.clone());
            return ToolOutput::failed(Tool::from_name(tool), summary);
        }
        let scope = Scope { alert_ts: self.alert_ts, attempt: self.attempt };
        let out = self.toolbox.run(scope, &id, &self.execution_id, tool, &args, &self.events).await;
        if out.outage
            && let Ok(mut first) = self.outage.lock()
        {
            first.get_or_insert_with(|| out.summary.clone());
        }
        out
    }

    /// Runs the calls at once; answers in the order asked.
    pub async fn all(&self, calls: Vec<(Tool, Value)>) -> Vec<ToolOutput> {
        let mut set = JoinSet::new();
        for (i, (tool, args)) in calls.into_iter().enumerate() {
            let me = self.clone();
            set.spawn(async move { (i, me.call(tool.name(), args).await) });
        }
        let mut out: Vec<(usize, ToolOutput)> = set.join_all().await;
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, o)| o).collect()
    }
}

/// The pod an issue description names (`… - <pod>`, `Pod <pod> …`, `the Pod <pod> has …`).
fn named_pod(alert: &Alert) -> Option<String> {
    static POD: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| crate::patterns::regex(r"(?:\bPod\s+|\s-\s)([a-z0-9][a-z0-9.-]*-[a-z0-9]{5})\b"));
    alert.issues.iter().find_map(|i| POD.captures(&i.description).map(|c| c[1].to_string()))
}

fn pod_problem(p: &Value) -> bool {
    condense::pods(std::slice::from_ref(p)).starts_with(p.get("name").and_then(Value::as_str).unwrap_or("\u{0}"))
}

fn pick_pods(focus: Focus, alert: &Alert, pods: &[Value], max: usize) -> Vec<String> {
    let names = |prefixes: &[&str]| -> Vec<&Value> {
        pods.iter()
            .filter(|p| {
                let n = p.get("name").and_then(Value::as_str).unwrap_or("");
                prefixes.iter().any(|pre| n.starts_with(pre))
            })
            .collect()
    };
    let ordered = |mut list: Vec<&Value>| -> Vec<String> {
        list.sort_by_key(|p| !pod_problem(p));
        list.iter().filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string)).take(max).collect()
    };
    match focus {
        Focus::Nothing => Vec::new(),
        Focus::Named(prefixes) => match named_pod(alert) {
            Some(pod) => vec![pod],
            None => ordered(names(prefixes).into_iter().filter(|p| pod_problem(p)).collect()),
        },
        Focus::Deployments(prefixes) => {
            // One pod per deployment first, so the server and the workers are both read.
            let mut picked: Vec<String> = Vec::new();
            for pre in prefixes {
                picked.extend(ordered(names(&[pre])).into_iter().take(1));
            }
            for p in ordered(names(prefixes)) {
                if picked.len() >= max {
                    break;
                }
                if !picked.contains(&p) {
                    picked.push(p);
                }
            }
            picked.truncate(max);
            picked
        }
    }
}

/// The issues as the execution states them (fuller than the alert's text), else the alert's.
fn issues<'a>(alert: &'a Alert, execution: Option<&'a Execution>) -> &'a [crate::domain::Issue] {
    execution.filter(|e| !e.issues.is_empty()).map_or(&alert.issues, |e| &e.issues)
}

/// The plan's first stage alone (the cluster-wide picture): a model agent's head start.
pub async fn first_stage(alert: &Alert, inv: &Investigation) -> Vec<ToolOutput> {
    let execution = inv.toolbox.incident(&inv.execution_id).await.ok();
    let kind = issues(alert, execution.as_deref()).first().map_or(AlertKind::Unknown, |i| i.kind);
    inv.all(plan(kind).first.iter().map(|t| (*t, json!({}))).collect()).await
}

/// Investigates the alert by its kind's plan and concludes; `incident` is the answer of
/// `get_incident_details`, already asked.
pub async fn triage(alert: &Alert, inv: &Investigation, incident: &ToolOutput) -> Hypothesis {
    let execution: Option<Arc<Execution>> = inv.toolbox.incident(&inv.execution_id).await.ok();
    let issues = issues(alert, execution.as_deref());
    let kind = issues.first().map_or(AlertKind::Unknown, |i| i.kind);
    let plan = plan(kind);

    // The second stage needs only the pods: it starts the moment they arrive, while the rest of
    // the first stage (metrics, ingress) still runs. The critical path is then the pods and the
    // slowest pod's logs or events, not the slowest first-stage call plus those.
    let pods_at = plan.first.iter().position(|t| *t == Tool::GetPodsData);
    let others: Vec<(Tool, Value)> =
        plan.first.iter().filter(|t| **t != Tool::GetPodsData).map(|t| (*t, json!({}))).collect();
    let pods_then_second = async {
        let listed = match pods_at {
            Some(_) => Some(inv.call(Tool::GetPodsData.name(), json!({})).await),
            None => None,
        };
        let pods: Vec<Value> =
            listed.as_ref().filter(|o| o.ok).and_then(|o| o.data.as_array().cloned()).unwrap_or_default();
        let focus = pick_pods(plan.focus, alert, &pods, plan.max_pods);
        let calls: Vec<(Tool, Value)> = focus
            .iter()
            .flat_map(|pod| {
                plan.per_pod.iter().map(move |tool| match tool {
                    Tool::PullPodLogs => (*tool, json!({"podName": pod, "lines": 1000})),
                    _ => (*tool, json!({"podName": pod})),
                })
            })
            .collect();
        let second = inv.all(calls.clone()).await;
        (listed, pods, focus, calls, second)
    };
    let (mut first, (listed, pods, focus, second_calls, second)) = tokio::join!(inv.all(others), pods_then_second);
    // The first stage's outputs in the plan's order.
    if let (Some(at), Some(listed)) = (pods_at, listed) {
        first.insert(at, listed);
    }
    let all = || std::iter::once(incident).chain(&first).chain(&second);

    let mut r = Reading::default();
    let cluster = execution
        .as_ref()
        .map_or_else(|| alert.cluster.clone().unwrap_or_default(), |e| e.context.cluster_name.clone());
    if let Some((stuck, after)) = all().find_map(|o| Some((o, o.not_polled?))) {
        r.stuck_agent(stuck, after, &cluster);
    }
    if let Some(e) = &execution {
        r.health_check(kind, e);
    }
    r.pod_states(&focus, &pods);
    r.logs(kind, &evidence::digests(&second, &second_calls), &pods);
    r.requests(kind, &evidence::raw_logs(&second, &second_calls));
    r.events(&second, &pods);
    r.top(kind, first.iter().chain(&second), &pods);
    r.network(kind, &first, &pods);
    for o in all().filter(|o| !o.ok) {
        r.failed_tool(&o.summary);
    }
    let c = r.conclude();
    let (check, next_step) = super::guide::guide(kind);
    let stated = stated_cause(kind, issues);
    let ruled_out =
        if c.ruled_out.is_empty() { String::new() } else { format!("ruled out {}; ", c.ruled_out.join(", ")) };
    Hypothesis {
        issue: super::guide::issue_line(alert, execution.as_deref()),
        findings: c.findings,
        confidence: Some(if stated.is_some() { Confidence::Decisive } else { c.confidence }),
        root_cause: stated.or(c.root_cause),
        check: Some(format!("{ruled_out}nothing gathered shows a cause; check {check}")),
        next_step: c.next_step.unwrap_or_else(|| next_step.to_string()),
    }
}

/// The cause the alert states itself (a stale key, a certificate's expiry): nothing to read.
fn stated_cause(kind: AlertKind, issues: &[Issue]) -> Option<String> {
    match kind {
        AlertKind::AuthStale => Some("The cluster is using a stale API key.".to_string()),
        AlertKind::DomainCertificateWillExpire => {
            issues.first().map(|i| format!("The certificate is close to expiry: {}", i.description))
        }
        _ => None,
    }
}
