//! The playbook engine: no model. For the alert's kind, a plan of evidence (domain.md §4) is
//! gathered in two parallel stages — the cluster-wide picture, then logs and events of the pods
//! that matter — and analyzers read the condensed evidence: pod states (CrashLoopBackOff,
//! OOMKilled, exit codes), warning events, the dominant log entry with its exact lines, the
//! busiest pod from top, ingress addresses, commands nobody polled, tools that failed. Adding a kind is a row of
//! `plan` and, where needed, an analyzer; the flow stays the same.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use regex::Regex;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::conductor::Execution;
use crate::domain::{Alert, AlertKind, Hypothesis, Issue, Ts};
use crate::protocol::Event;
use crate::tools::condense::{self, Group};
use crate::tools::{Scope, Tool, ToolOutput, Toolbox};

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
        AlertKind::DnsHealthy | AlertKind::DomainResolution => p(&[GetIngressInfo], Focus::Nothing, &[], 0),
        AlertKind::AuthStale | AlertKind::DomainCertificateWillExpire => p(&[], Focus::Nothing, &[], 0),
        AlertKind::ResponseTime => p(&[GetClusterMetrics, GetTopOutput], Focus::Nothing, &[], 0),
        // One cheap probe: a probe stuck in SCHEDULED means the in-cluster agent is not polling.
        AlertKind::TelemetryLoss => p(&[GetPodsData], Focus::Nothing, &[], 0),
        AlertKind::Unknown => p(&[GetPodsData], Focus::Deployments(CONDUCTOR), &[PullPodLogs], 1),
    }
}

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
}

impl Investigation {
    pub fn new(
        alert_ts: Ts,
        execution_id: &str,
        toolbox: Arc<Toolbox>,
        events: mpsc::UnboundedSender<Event>,
    ) -> Investigation {
        Investigation {
            alert_ts,
            attempt: 0,
            execution_id: execution_id.to_string(),
            toolbox,
            events,
            calls: Arc::default(),
            outage: Arc::default(),
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

/// The strongest log entry across the pods' logs for this kind.
fn dominant(kind: AlertKind, logs: &[(String, condense::LogDigest)]) -> Option<(String, Group)> {
    let preferred = match kind {
        AlertKind::ConductorHighHeapUsage => Some(crate::patterns::regex(r"OutOfMemoryError|Java heap space")),
        _ => None,
    };
    let weight = |g: &Group| -> usize {
        let base = if g.is_error() {
            3
        } else if g.is_warning() {
            1
        } else {
            0
        };
        let bonus = if preferred.as_ref().is_some_and(|re| re.is_match(&g.example)) { 1000 } else { 0 };
        g.count * base + bonus * base.max(1)
    };
    logs.iter()
        .flat_map(|(pod, d)| d.groups.iter().map(move |g| (pod, g)))
        .filter(|(_, g)| weight(g) > 0)
        .max_by_key(|(_, g)| weight(g))
        .map(|(pod, g)| (pod.clone(), g.clone()))
}

/// Warning event reasons that name a cause, not a symptom: they lead the root cause.
const DECISIVE_EVENTS: &[&str] = &["FailedScheduling", "Evicted", "OOMKilling", "FailedMount", "FailedAttachVolume"];

/// The busiest pod of a `kubectl top pods` table: (name, CPU, memory) of the highest CPU.
fn busiest(data: &Value) -> Option<(String, String, String)> {
    let millicores = |cpu: &str| -> Option<f64> {
        match cpu.strip_suffix('m') {
            Some(m) => m.parse().ok(),
            None => cpu.parse::<f64>().ok().map(|cores| cores * 1000.0),
        }
    };
    data.as_str()?
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [pod, cpu, memory, ..] = cols[..] else { return None };
            Some((millicores(cpu)?, (pod.to_string(), cpu.to_string(), memory.to_string())))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, row)| row)
}

/// A pod's state in words when it is not healthy (CrashLoopBackOff, OOMKilled, exit codes).
fn pod_state(pods: &[Value], name: &str) -> Option<String> {
    let p = pods.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name))?;
    let text = condense::pods(std::slice::from_ref(p));
    let line = text.lines().next()?;
    line.starts_with(name).then(|| line.to_string())
}

fn with_code(line: &str) -> String {
    format!("`{}`", line.replace('`', "'"))
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

    let first = inv.all(plan.first.iter().map(|t| (*t, json!({}))).collect()).await;
    let pods: Vec<Value> = first
        .iter()
        .find(|o| o.tool == Some(Tool::GetPodsData) && o.ok)
        .and_then(|o| o.data.as_array().cloned())
        .unwrap_or_default();
    let focus = pick_pods(plan.focus, alert, &pods, plan.max_pods);
    let second_calls: Vec<(Tool, Value)> = focus
        .iter()
        .flat_map(|pod| {
            plan.per_pod.iter().map(move |tool| match tool {
                Tool::PullPodLogs => (*tool, json!({"podName": pod, "lines": 1000})),
                _ => (*tool, json!({"podName": pod})),
            })
        })
        .collect();
    let second = inv.all(second_calls.clone()).await;
    let all = || std::iter::once(incident).chain(&first).chain(&second);

    let mut r = Reading::default();
    if let Some((stuck, after)) = all().find_map(|o| Some((o, o.not_polled?))) {
        r.stuck_agent(stuck, after);
    }
    if let Some(e) = &execution {
        r.health_check(e);
    }
    r.pod_states(&focus, &pods);
    r.logs(kind, &focus, &second, &second_calls);
    r.events(&second);
    r.top(first.iter().chain(&second));
    r.ingress(kind, &first);

    let failed: Vec<String> = all().filter(|o| !o.ok).map(|o| o.summary.clone()).collect();
    let Reading { mut findings, mut causes, mut decisive } = r;
    decisive.dedup();
    causes.splice(0..0, decisive);
    findings.extend(failed);
    // Pods of one deployment often share their events: say each thing once.
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert(f.clone()));
    findings.truncate(5);

    let (check, next_step) = super::guide::guide(kind);
    Hypothesis {
        issue: super::guide::issue_line(alert, execution.as_deref()),
        findings,
        root_cause: conclude(kind, issues, &first, &causes),
        check: Some(format!("the evidence gathered does not show a cause; check {check}")),
        next_step: next_step.to_string(),
    }
}

/// The root cause the kind and the causes found support, if any.
fn conclude(kind: AlertKind, issues: &[Issue], first: &[ToolOutput], causes: &[String]) -> Option<String> {
    match kind {
        AlertKind::AuthStale => Some("The cluster is using a stale API key.".to_string()),
        AlertKind::DomainCertificateWillExpire => {
            issues.first().map(|i| format!("The certificate is close to expiry: {}", i.description))
        }
        AlertKind::DnsHealthy | AlertKind::DomainResolution if causes.is_empty() && first.iter().any(|o| o.ok) => Some(
            "The ingress has an address, so the cause is outside the cluster (DNS, certificate or network path)."
                .to_string(),
        ),
        _ => (!causes.is_empty()).then(|| causes.iter().take(2).cloned().collect::<Vec<_>>().join(" ")),
    }
}

/// What the evidence says, read one kind of evidence at a time: findings to cite, causes they
/// support, and the causes Kubernetes states outright (which go first).
#[derive(Default)]
struct Reading {
    findings: Vec<String>,
    causes: Vec<String>,
    decisive: Vec<String>,
}

impl Reading {
    /// The command nobody picked up says more than anything it would have returned.
    fn stuck_agent(&mut self, stuck: &ToolOutput, after: std::time::Duration) {
        let command = stuck.tool.map_or("", |t| t.name());
        self.causes.push(format!(
            "The in-cluster agent is not polling: the {command} command's task was still SCHEDULED after {} s. The cluster may be healthy, but nothing can be read from it until the agent runs.",
            after.as_secs()
        ));
    }

    /// The figures the health check itself measured.
    fn health_check(&mut self, e: &Execution) {
        let Some(data) = &e.cluster_data else { return };
        let bits: Vec<String> = [
            data.pointer("/redis/usage").map(|v| format!("Redis {v}%")),
            data.pointer("/redis/decider_queue_size").map(|v| format!("decider queue {v} running workflows")),
            data.get("heap_memory").map(|v| format!("heap {v}%")),
            data.get("cpu").map(|v| format!("CPU {v}%")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !bits.is_empty() {
            self.findings.push(format!("Health check on {}: {}", e.context.cluster_name, bits.join(", ")));
        }
    }

    /// Pod states of the pods in focus (or the cluster's pod summary when none is in focus).
    fn pod_states(&mut self, focus: &[String], pods: &[Value]) {
        for pod in focus {
            if let Some(state) = pod_state(pods, pod) {
                self.findings.push(format!("Pod {state}"));
                if state.contains(" waiting: ") || state.contains(" terminated: ") || state.contains("phase ") {
                    self.causes.push(format!("Pod {state}."));
                }
            }
        }
        if focus.is_empty() && !pods.is_empty() {
            let summary = condense::pods(pods);
            self.findings.push(summary.lines().last().unwrap_or("").to_string());
        }
    }

    /// Logs: the dominant entry, cited exactly.
    fn logs(&mut self, kind: AlertKind, focus: &[String], second: &[ToolOutput], calls: &[(Tool, Value)]) {
        let logs: Vec<(String, condense::LogDigest)> = second
            .iter()
            .zip(calls)
            .filter(|(o, (t, _))| *t == Tool::PullPodLogs && o.ok)
            .filter_map(|(o, (_, args))| Some((args["podName"].as_str()?.to_string(), condense::log(o.data.as_str()?))))
            .collect();
        if let Some((pod, g)) = dominant(kind, &logs) {
            let quoted: Vec<String> = g.key_lines().iter().map(|l| with_code(l)).collect();
            let frame = g.app_frame().map(|f| format!(", thrown in {f}")).unwrap_or_default();
            let times = if g.count > 1 { format!(" ×{}", g.count) } else { String::new() };
            self.findings.push(format!("{pod} log{times}: {}{frame}", quoted.join(" — ")));
            let level = if g.is_error() { "error" } else { "warning" };
            self.causes.push(format!("The dominant {level} in {pod}'s log{times}: {}{frame}.", quoted.join(" — ")));
        } else if !logs.is_empty() {
            self.findings.push(format!("No ERROR or WARN entries in the logs of {}.", focus.join(", ")));
        }
    }

    /// Events: warnings of the pods in focus; some say the cause outright.
    fn events(&mut self, second: &[ToolOutput]) {
        for o in second.iter().filter(|o| o.tool == Some(Tool::GetPodEvents) && o.ok) {
            let mut warnings = Vec::new();
            let events = o.data.as_array().into_iter().flatten();
            for e in events.filter(|e| e.get("type").and_then(Value::as_str) == Some("Warning")).take(2) {
                let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
                let count = e.get("count").and_then(Value::as_u64).unwrap_or(1);
                let message: String =
                    e.get("message").and_then(Value::as_str).unwrap_or("").chars().take(160).collect();
                if DECISIVE_EVENTS.contains(&reason) {
                    self.decisive
                        .push(format!("Kubernetes reports {reason} ×{count}: {}.", message.trim_end_matches('.')));
                }
                warnings.push(format!("{reason} ×{count}: {message}"));
            }
            if !warnings.is_empty() {
                self.findings.push(format!("Events: {}", warnings.join("; ")));
            }
        }
    }

    /// top: the busiest pod by CPU.
    fn top<'a>(&mut self, outputs: impl Iterator<Item = &'a ToolOutput>) {
        let mut tops = outputs.filter(|o| o.tool == Some(Tool::GetTopOutput) && o.ok);
        if let Some((pod, cpu, memory)) = tops.find_map(|o| busiest(&o.data)) {
            self.findings.push(format!("Busiest pod (top): {pod} at {cpu} CPU, {memory} memory."));
        }
    }

    /// Ingress: an empty address means the load balancer was never provisioned.
    fn ingress(&mut self, kind: AlertKind, first: &[ToolOutput]) {
        let Some(ingress) = first.iter().find(|o| o.tool == Some(Tool::GetIngressInfo) && o.ok) else { return };
        for ing in ingress.data.as_array().into_iter().flatten() {
            let name = ing.get("name").and_then(Value::as_str).unwrap_or("ingress");
            let hosts = ing.get("hosts").map(|h| h.to_string()).unwrap_or_default();
            match ing.get("address").and_then(Value::as_str).filter(|a| !a.is_empty()) {
                None => {
                    self.findings.push(format!("Ingress {name} {hosts} has no address."));
                    if matches!(
                        kind,
                        AlertKind::DnsHealthy | AlertKind::DomainResolution | AlertKind::DomainReachability
                    ) {
                        self.causes.push(format!(
                            "Ingress {name} has no load-balancer address: the load balancer was not provisioned."
                        ));
                    }
                }
                Some(addr) => self.findings.push(format!("Ingress {name} {hosts} → {addr}.")),
            }
        }
    }
}
