//! What the evidence says, one kind of evidence at a time: findings to cite, and causes, each
//! with its confidence, its weight against the others and the one next step it calls for. The
//! analyzers quote concrete values exactly as the evidence has them: the image and tag of a pull
//! error, the property and value of a binding error, the pod and node of a scheduling, eviction
//! or OOM event, the hottest pod of top, the workflow behind payload growth, the API path behind
//! heap exhaustion. Benign noise never becomes a cause; when nothing decisive is found the
//! conclusion says what was ruled out.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::conductor::Execution;
use crate::domain::{AlertKind, Confidence};
use crate::patterns::regex;
use crate::tools::condense::{self, Group, LogDigest};
use crate::tools::record::{self, shorten};
use crate::tools::{Tool, ToolOutput};

/// A cause the evidence supports.
#[derive(Clone, Debug)]
struct Cause {
    text: String,
    confidence: Confidence,
    /// Among causes of one confidence, the heavier leads (an event Kubernetes states outright
    /// outweighs a pod state that only shows the symptom).
    weight: u8,
    next: String,
    /// The next step only routes the cause as cited (a more specific one of another cause wins).
    generic: bool,
}

/// The conclusion of a reading.
pub(super) struct Conclusion {
    pub findings: Vec<String>,
    pub root_cause: Option<String>,
    pub confidence: Confidence,
    /// With no cause: what was ruled out.
    pub ruled_out: Vec<String>,
    pub next_step: Option<String>,
}

/// The findings and causes read so far.
#[derive(Default)]
pub(super) struct Reading {
    findings: Vec<String>,
    causes: Vec<Cause>,
    ruled_out: Vec<String>,
    failed: Vec<String>,
}

/// The most findings a reply cites (domain.md §5: 2–4 bullets).
const MAX_FINDINGS: usize = 4;

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn name(p: &Value) -> &str {
    s(p, "name")
}

/// Whether a pod is healthy: Running (or Succeeded), ready, never restarted.
pub(super) fn healthy(p: &Value) -> bool {
    !condense::pods(std::slice::from_ref(p)).starts_with(name(p)) || name(p).is_empty()
}

/// The deployment a pod belongs to (`orkes-workers-deployment-<rs>-<id>` → `orkes-workers-deployment`).
fn deployment(pod: &str) -> &str {
    static SUFFIX: LazyLock<Regex> = LazyLock::new(|| regex(r"-[a-z0-9]{8,10}-[a-z0-9]{5}$|-[a-z0-9]{5}$"));
    SUFFIX.find(pod).map_or(pod, |m| &pod[..m.start()])
}

/// A workflow (and task) a log message names.
fn workflow_in(text: &str) -> Option<String> {
    static WORKFLOW: LazyLock<Regex> = LazyLock::new(|| {
        regex(r"(?:\bof workflow|\bworkflow|\bfor)\s+([a-z][a-z0-9_-]{2,})\s*(?:\(|:|,|$| at| rate| exceeds)")
    });
    WORKFLOW.captures(text).map(|c| c[1].to_string())
}

impl Reading {
    fn cause(&mut self, confidence: Confidence, weight: u8, text: String, next: String) {
        self.causes.push(Cause { text, confidence, weight, next, generic: false });
    }

    /// A tool that failed or returned nothing: said plainly.
    pub fn failed_tool(&mut self, summary: &str) {
        if !self.failed.iter().any(|f| f == summary) {
            self.failed.push(summary.to_string());
        }
    }

    /// The command nobody picked up says more than anything it would have returned.
    pub fn stuck_agent(&mut self, stuck: &ToolOutput, after: std::time::Duration, cluster: &str) {
        let command = stuck.tool.map_or("", |t| t.name());
        self.cause(
            Confidence::Decisive,
            9,
            format!(
                "The in-cluster agent of {cluster} is not polling: the {command} command's task was still SCHEDULED after {} s. The cluster may be healthy, but nothing can be read from it until the agent runs.",
                after.as_secs()
            ),
            format!(
                "Route to the team that runs {cluster}'s cluster: look at the orkes-agent-deployment pod there (running, restarts, its connection to the control plane) — until it polls, no command can read the cluster."
            ),
        );
    }

    /// The figures the health check measured that bear on the kind.
    pub fn health_check(&mut self, kind: AlertKind, e: &Execution) {
        let Some(data) = &e.cluster_data else { return };
        let bits: Vec<String> = match kind {
            AlertKind::RedisCriticalUsage | AlertKind::RedisHighUsage => vec![
                data.pointer("/redis/usage").map(|v| format!("Redis {v}%")),
                data.pointer("/redis/decider_queue_size").map(|v| format!("decider queue {v} running workflows")),
            ],
            AlertKind::ConductorHighHeapUsage => vec![data.get("heap_memory").map(|v| format!("heap {v}%"))],
            AlertKind::ConductorHighCpuUsage | AlertKind::ResponseTime => {
                vec![data.get("cpu").map(|v| format!("CPU {v}%"))]
            }
            _ => Vec::new(),
        }
        .into_iter()
        .flatten()
        .collect();
        if !bits.is_empty() {
            self.findings.push(format!("Health check on {}: {}", e.context.cluster_name, bits.join(", ")));
        }
    }

    /// Pod states of the pods in focus, or the cluster's pod summary when none is in focus.
    pub fn pod_states(&mut self, focus: &[String], pods: &[Value]) {
        for pod in focus {
            let Some(p) = pods.iter().find(|p| name(p) == pod) else { continue };
            let text = condense::pods(std::slice::from_ref(p));
            let Some(line) = text.lines().next().filter(|l| l.starts_with(pod.as_str())) else { continue };
            self.findings.push(format!("Pod {line}"));
            let node = s(p, "node");
            for c in p.get("containers").and_then(Value::as_array).into_iter().flatten() {
                let container = s(c, "name");
                let last = c.pointer("/lastState/terminated").or_else(|| c.pointer("/state/terminated"));
                if let Some(t) = last.filter(|t| s(t, "reason") == "OOMKilled") {
                    let code = t.get("exitCode").map(|c| format!(" (exit code {c})")).unwrap_or_default();
                    let restarts = p.get("restarts").and_then(Value::as_u64).unwrap_or(0);
                    let limit = c.pointer("/resources/limits/memory").and_then(Value::as_str);
                    let limit = limit.map(|l| format!(", at its memory limit of {l}")).unwrap_or_default();
                    self.cause(
                        Confidence::Decisive,
                        7,
                        format!(
                            "Container {container} of pod {pod} was OOMKilled{code}{limit} on node {node}; {restarts} restarts so far."
                        ),
                        format!(
                            "Compare {container}'s memory limit with what it used when it was killed (the pod's OOM event), and route to the owner of {} for a limit or workload decision.",
                            deployment(pod)
                        ),
                    );
                }
                let waiting = c.pointer("/state/waiting").map(|w| s(w, "reason")).unwrap_or("");
                if !waiting.is_empty() {
                    let image = s(c, "image");
                    let after = match last.map(|t| (s(t, "reason"), t.get("exitCode"))) {
                        Some((reason, Some(code))) => format!(" after exiting {reason} with exit code {code}"),
                        _ => String::new(),
                    };
                    self.cause(
                        Confidence::Likely,
                        2,
                        format!("Pod {pod}: container {container} ({image}) is waiting in {waiting}{after}."),
                        format!("Route to the owner of {} with pod {pod}'s state: {waiting}{after}.", deployment(pod)),
                    );
                }
            }
            if text.contains("phase ") && self.causes.is_empty() {
                self.cause(
                    Confidence::Likely,
                    1,
                    format!("Pod {line}."),
                    format!("Route to the owner of {} with pod {pod}'s state.", deployment(pod)),
                );
            }
        }
        if focus.is_empty() && !pods.is_empty() {
            let summary = condense::pods(pods);
            self.findings.push(summary.lines().last().unwrap_or("").to_string());
        }
    }

    /// Warning events; some state the cause outright, with the pod, the node, the image.
    pub fn events(&mut self, second: &[ToolOutput], pods: &[Value]) {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for o in second.iter().filter(|o| o.tool == Some(Tool::GetPodEvents) && o.ok) {
            let events = o.data.as_array().into_iter().flatten();
            let mut warnings = Vec::new();
            for e in events.filter(|e| s(e, "type") == "Warning") {
                let reason = s(e, "reason");
                let count = e.get("count").and_then(Value::as_u64).unwrap_or(1);
                let message = s(e, "message").trim_end_matches('.');
                let pod = e.pointer("/involvedObject/name").and_then(Value::as_str).map(str::to_string);
                let key = format!("{reason}: {message}");
                let list = seen.entry(key.clone()).or_default();
                if let Some(pod) = pod {
                    list.push(pod);
                }
                if list.len() > 1 || warnings.iter().any(|w: &String| w.ends_with(message)) {
                    continue;
                }
                warnings.push(format!("{reason} ×{count}: {}", shorten(message, 200)));
                self.event_cause(reason, count, message, pods);
            }
            warnings.truncate(2);
            if !warnings.is_empty() {
                self.findings.push(format!("Events: {}", warnings.join("; ")));
            }
        }
    }

    fn event_cause(&mut self, reason: &str, count: u64, message: &str, pods: &[Value]) {
        static PULL: LazyLock<Regex> = LazyLock::new(|| regex(r#"Failed to pull image "([^"]+)""#));
        // The pods of the event's kind that show it (events of one deployment repeat per pod).
        let abnormal: Vec<&str> = pods.iter().filter(|p| !healthy(p)).map(name).collect();
        let who = |state: &str| -> String {
            let hit: Vec<&str> =
                pods.iter().filter(|p| condense::pods(std::slice::from_ref(*p)).contains(state)).map(name).collect();
            if hit.is_empty() { abnormal.join(", ") } else { hit.join(", ") }
        };
        if let Some(c) = PULL.captures(message) {
            let image = c[1].to_string();
            let tag = image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or("latest", |(_, t)| t);
            let repo = image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(image.as_str(), |(r, _)| r);
            let lower = message.to_lowercase();
            let (why, next) = if lower.contains("not found") || lower.contains("manifest unknown") {
                (
                    format!("the registry has no tag \"{tag}\" for {repo}"),
                    format!(
                        "Compare the tag \"{tag}\" in the deployment with the tags published for {repo}, and route to whoever last changed the deployment's image."
                    ),
                )
            } else if ["unauthorized", "denied", "authentication required", "forbidden"]
                .iter()
                .any(|w| lower.contains(w))
            {
                (
                    "the registry refuses the pull credentials".to_string(),
                    format!(
                        "Look at the imagePullSecrets of the pods that pull {image} and route to the registry's owner."
                    ),
                )
            } else {
                (
                    "the node cannot reach the registry".to_string(),
                    format!("Route to infra: the nodes cannot pull {image} (registry unreachable from the cluster)."),
                )
            };
            let pods = who("ImagePull").replace("ErrImagePull", "");
            self.cause(
                Confidence::Decisive,
                9,
                format!(
                    "The image \"{image}\" cannot be pulled: {why} (Kubernetes: Failed ×{count}), so {} stay in ImagePullBackOff.",
                    if pods.is_empty() { "the pods".to_string() } else { pods }
                ),
                next,
            );
            return;
        }
        let quoted = shorten(message, 220);
        match reason {
            "FailedScheduling" if message.contains("PersistentVolumeClaim") => self.cause(
                Confidence::Decisive,
                8,
                format!("Pods {} cannot be scheduled: {quoted} (FailedScheduling ×{count}).", who("Pending")),
                "Look at the pending pod's PersistentVolumeClaims (their storage class and the provisioner's events), and route to infra.".to_string(),
            ),
            "FailedScheduling" => self.cause(
                Confidence::Decisive,
                8,
                format!("Pods {} cannot be scheduled: {quoted} (FailedScheduling ×{count}).", who("Pending")),
                format!(
                    "Compare the pending pods' resource requests with the nodes' free capacity ({}), and route to infra to add capacity or to the owner to lower the requests.",
                    message.split(". ").next().unwrap_or(message)
                ),
            ),
            "Evicted" => self.cause(
                Confidence::Decisive,
                8,
                format!("Pod {} was evicted: {quoted}.", who("Evicted")),
                "Look at what the evicted pod's containers write to the node's disk or memory (the usage against their requests in the event), and route to their owner to set requests and limits.".to_string(),
            ),
            "OOMKilling" => self.cause(
                Confidence::Decisive,
                8,
                format!("The kernel killed {} for memory: {quoted} (OOMKilling ×{count}).", who("OOMKilled")),
                "Compare the killed container's memory limit with the usage in the OOM event, and route to its owner for a limit or workload decision.".to_string(),
            ),
            "FailedMount" | "FailedAttachVolume" => self.cause(
                Confidence::Decisive,
                8,
                format!("A volume of {} cannot be mounted: {quoted} ({reason} ×{count}).", who("ContainerCreating")),
                "Route to infra with the volume named in the event: look at its claim and the storage class.".to_string(),
            ),
            _ => {}
        }
    }

    /// Logs: the dominant entry that is not noise, cited with its deepest cause and details.
    pub fn logs(&mut self, kind: AlertKind, logs: &[(String, LogDigest)], pods: &[Value]) {
        if logs.is_empty() {
            return;
        }
        // A message also logged by a healthy pod does not explain an unhealthy one.
        let healthy_pods: Vec<&str> = pods.iter().filter(|p| healthy(p)).map(name).collect();
        let any_unhealthy = logs.iter().any(|(pod, _)| !healthy_pods.contains(&pod.as_str()));
        let in_healthy = |g: &Group| {
            any_unhealthy
                && logs.iter().any(|(pod, d)| {
                    healthy_pods.contains(&pod.as_str()) && d.groups.iter().any(|h| h.signature == g.signature)
                })
        };
        let mut noise = 0;
        let candidates: Vec<(&String, &Group)> = logs
            .iter()
            .flat_map(|(pod, d)| d.groups.iter().map(move |g| (pod, g)))
            .filter(|(_, g)| g.is_error() || g.is_warning())
            .filter(|(_, g)| {
                let benign = g.is_benign() || in_healthy(g);
                noise += usize::from(benign);
                !benign
            })
            .collect();
        let pods_read: Vec<&str> = logs.iter().map(|(p, _)| p.as_str()).collect();
        let Some((pod, g)) = candidates.into_iter().max_by_key(|(_, g)| weight(kind, g)) else {
            let noise = if noise > 0 { " beyond well-known noise" } else { "" };
            self.findings.push(format!("No ERROR or WARN entries{noise} in the logs of {}.", pods_read.join(", ")));
            self.ruled_out.push(format!("errors in the logs of {}", pods_read.join(", ")));
            return;
        };
        let cause = g.cause();
        let cited = cause.citation();
        let frame = g.app_frame().map(|f| format!(", thrown in {f}")).unwrap_or_default();
        let times = if g.count > 1 { format!(" ×{}", g.count) } else { String::new() };
        self.findings.push(format!("{pod} log{times}: {cited}{frame}"));
        let level = if g.is_error() { "error" } else { "warning" };
        let confidence = if g.is_error() && cause.names_a_cause() {
            Confidence::Decisive
        } else if g.count >= 3 || g.is_error() {
            Confidence::Likely
        } else {
            // A lone warning: cited, but it explains nothing by itself.
            self.ruled_out.push(format!("anything but a single warning in {pod}'s log"));
            return;
        };
        let workflow = workflow_in(&cause.message);
        let mut text = format!("The dominant {level} in {pod}'s log{times}: {cited}{frame}.");
        if let Some(w) = workflow.as_ref().filter(|w| !cited.contains(&format!("workflow {w}"))) {
            text.push_str(&format!(" It concerns workflow {w}."));
        }
        let (next, generic) = next_for_log(&cause, workflow.as_deref(), pod, g, &frame);
        self.cause(confidence, if confidence == Confidence::Decisive { 6 } else { 4 }, text, next);
        if let Some(c) = self.causes.last_mut() {
            c.generic = generic;
        }
    }

    /// Request logs: the API calls that weigh most (by response size, else duration) — what
    /// exhausts a heap.
    pub fn requests(&mut self, kind: AlertKind, logs: &[(String, &str)]) {
        if kind != AlertKind::ConductorHighHeapUsage {
            return;
        }
        static REQUEST: LazyLock<Regex> = LazyLock::new(|| regex(r"\b(GET|POST|PUT|DELETE)\s+(/api/[^\s?]+)(\?\S*)?"));
        static FIELD: LazyLock<Regex> = LazyLock::new(|| regex(r"\b(client|took|bytes)=(\S+?)(?:ms)?(?:\s|$)"));
        static SIZE: LazyLock<Regex> = LazyLock::new(|| regex(r"[?&]size=(\d+)"));
        // (method path, client) → (count, max bytes, max took, max size asked)
        let mut calls: BTreeMap<(String, String), (usize, u64, u64, u64)> = BTreeMap::new();
        for (_, text) in logs {
            for line in text.lines() {
                let Some(c) = REQUEST.captures(line) else { continue };
                let fields: BTreeMap<&str, &str> =
                    FIELD.captures_iter(line).filter_map(|f| Some((f.get(1)?.as_str(), f.get(2)?.as_str()))).collect();
                let num = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                let size =
                    c.get(3).and_then(|q| SIZE.captures(q.as_str())).and_then(|m| m[1].parse().ok()).unwrap_or(0);
                let client = fields.get("client").map_or("", |v| v).to_string();
                let e = calls.entry((format!("{} {}", &c[1], &c[2]), client)).or_default();
                e.0 += 1;
                e.1 = e.1.max(num("bytes"));
                e.2 = e.2.max(num("took"));
                e.3 = e.3.max(size);
            }
        }
        let Some(((call, client), (n, bytes, took, size))) = calls
            .into_iter()
            .filter(|(_, (_, b, t, _))| *b >= 10_000_000 || *t >= 10_000)
            .max_by_key(|(_, v)| (v.1, v.2))
        else {
            return;
        };
        let from = if client.is_empty() { String::new() } else { format!(" from client {client}") };
        let asked = if size > 0 { format!(" asking for up to size={size}") } else { String::new() };
        let mb = if bytes > 0 { format!(", responses up to {} MB", bytes / 1_000_000) } else { String::new() };
        let slow = if took > 0 { format!(", up to {} s each", took / 1000) } else { String::new() };
        self.findings.push(format!("Heaviest API calls: {call}{from} ×{n}{asked}{mb}{slow}."));
        let owner = if client.is_empty() { "the API's callers".to_string() } else { format!("the owner of {client}") };
        self.cause(
            Confidence::Likely,
            5,
            format!("The heap fills with {call} calls{from} ×{n}{asked}{mb}."),
            format!(
                "Route to {owner}: its {call} calls{asked} load whole result sets into the server's heap; compare them with a paged query."
            ),
        );
    }

    /// top: the hottest pod, against its CPU limit when known and against the next pod.
    pub fn top<'a>(&mut self, kind: AlertKind, outputs: impl Iterator<Item = &'a ToolOutput>, pods: &[Value]) {
        let outputs: Vec<&ToolOutput> = outputs.collect();
        let p99 = outputs
            .iter()
            .filter(|o| o.tool == Some(Tool::GetClusterMetrics) && o.ok)
            .find_map(|o| o.data.pointer("/apiLatencyMs/p99").and_then(Value::as_u64));
        let rows: Vec<(String, f64, String, String)> = outputs
            .iter()
            .filter(|o| o.tool == Some(Tool::GetTopOutput) && o.ok)
            .flat_map(|o| top_rows(&o.data))
            .collect();
        let mut rows = rows;
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows.dedup_by(|a, b| a.0 == b.0);
        let Some((pod, milli, cpu, memory)) = rows.first().cloned() else { return };
        let limit = pods
            .iter()
            .find(|p| name(p) == pod)
            .and_then(|p| p.pointer("/containers/0/resources/limits/cpu").and_then(Value::as_str))
            .map(str::to_string);
        let against = match (&limit, rows.get(1)) {
            (Some(l), _) => format!(" of its {l} CPU limit"),
            (None, Some((next, _, next_cpu, _))) => format!(" (the next busiest, {next}, uses {next_cpu})"),
            (None, None) => String::new(),
        };
        self.findings.push(format!("Hottest pod (top): {pod} at {cpu} CPU{against}, {memory} memory."));
        let next_milli = rows.get(1).map_or(0.0, |r| r.1);
        let hot = milli >= 1500.0 && (next_milli == 0.0 || milli >= 2.0 * next_milli);
        if hot && matches!(kind, AlertKind::ResponseTime | AlertKind::ConductorHighCpuUsage) {
            let effect = match (kind, p99) {
                (AlertKind::ResponseTime, Some(p99)) => format!(", which slows the API's answers (p99 {p99} ms)"),
                (AlertKind::ResponseTime, None) => ", which slows the API's answers".to_string(),
                _ => String::new(),
            };
            self.cause(
                Confidence::Likely,
                3,
                format!("{pod} is saturated at {cpu} CPU{against}{effect}."),
                format!(
                    "Look at what {pod} is executing (the workflows its log shows it deciding in a loop or at volume), and route to the owner of the dominant workflow."
                ),
            );
        } else {
            self.ruled_out.push(format!("one saturated pod (the hottest, {pod}, is at {cpu})"));
        }
    }

    /// Ingress, and for the network kinds the differential: not provisioned, the app, or the
    /// external path.
    pub fn network(&mut self, kind: AlertKind, first: &[ToolOutput], pods: &[Value]) {
        let network =
            matches!(kind, AlertKind::DnsHealthy | AlertKind::DomainResolution | AlertKind::DomainReachability);
        let Some(ingress) = first.iter().find(|o| o.tool == Some(Tool::GetIngressInfo) && o.ok) else { return };
        let mut addresses = Vec::new();
        for ing in ingress.data.as_array().into_iter().flatten() {
            let ing_name = name(ing);
            let hosts: Vec<&str> =
                ing.get("hosts").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
            let hosts = hosts.join(", ");
            match ing.get("address").and_then(Value::as_str).filter(|a| !a.is_empty()) {
                None => {
                    self.findings.push(format!("Ingress {ing_name} ({hosts}) has no address."));
                    if network {
                        self.cause(
                            Confidence::Decisive,
                            9,
                            format!(
                                "Ingress {ing_name} ({hosts}) has no load-balancer address: the load balancer was not provisioned."
                            ),
                            format!(
                                "Route to infra: the load balancer of ingress {ing_name} was never provisioned; look at the ingress controller's events for {ing_name}."
                            ),
                        );
                    }
                }
                Some(addr) => {
                    self.findings.push(format!("Ingress {ing_name} ({hosts}) → {addr}."));
                    addresses.push((hosts, addr.to_string()));
                }
            }
        }
        if !network || addresses.is_empty() {
            return;
        }
        let conductor: Vec<&Value> =
            pods.iter().filter(|p| name(p).starts_with("orkes-conductor-deployment-")).collect();
        let app_down = conductor.iter().any(|p| !healthy(p));
        let (hosts, addr) = &addresses[0];
        if pods.is_empty() {
            self.ruled_out.push("a missing load balancer (the ingress has an address)".to_string());
            self.cause(
                Confidence::Likely,
                2,
                format!(
                    "The ingress has the load-balancer address {addr}, so the load balancer is provisioned; the pods could not be read, so the app is not ruled out, but the cause is likely outside the cluster: the external path (DNS, WAF, CDN or the customer's network)."
                ),
                format!(
                    "Route to infra: resolve and reach {hosts} from outside the cluster and compare the answer with {addr}."
                ),
            );
        } else if !app_down {
            let ready = conductor.len();
            self.ruled_out.push(format!("the app ({ready} of {ready} conductor pods ready)"));
            self.ruled_out.push("a missing load balancer".to_string());
            self.cause(
                Confidence::Likely,
                3,
                format!(
                    "Everything in the cluster is healthy ({ready} of {ready} conductor pods ready, and the ingress has the load-balancer address {addr}), so the cause is outside the cluster: the external path (DNS, WAF, CDN or the customer's network)."
                ),
                format!(
                    "Route to infra: resolve and reach {hosts} from outside the cluster and compare the answer with the load-balancer address {addr}."
                ),
            );
        }
    }

    /// The conclusion: the strongest causes (one or two of the best confidence), their next
    /// step, and the findings (failures said plainly, within the bullet budget).
    pub fn conclude(mut self) -> Conclusion {
        self.causes.sort_by(|a, b| b.confidence.cmp(&a.confidence).then(b.weight.cmp(&a.weight)));
        let mut seen = std::collections::HashSet::new();
        self.findings.retain(|f| seen.insert(f.clone()));
        let failed_kept = self.failed.len().min(2);
        self.findings.truncate(MAX_FINDINGS - failed_kept);
        self.findings.extend(self.failed.iter().take(failed_kept).cloned());
        let Some(best) = self.causes.first().cloned() else {
            return Conclusion {
                findings: self.findings,
                root_cause: None,
                confidence: Confidence::Inconclusive,
                ruled_out: self.ruled_out,
                next_step: None,
            };
        };
        // A second cause that adds to the first (the hot pod behind the looping workflow, the
        // crash behind the bad setting).
        let second = self.causes.iter().skip(1).find(|c| c.text != best.text && c.confidence >= Confidence::Likely);
        let root = match second {
            Some(s) => format!("{} {}", best.text, s.text),
            None => best.text.clone(),
        };
        let next = match second {
            Some(s) if best.generic && !s.generic => s.next.clone(),
            _ => best.next.clone(),
        };
        Conclusion {
            findings: self.findings,
            root_cause: Some(root),
            confidence: best.confidence,
            ruled_out: self.ruled_out,
            next_step: Some(next),
        }
    }
}

/// How strongly a log entry points at the cause for this kind: errors over warnings, a named
/// cause over a bare message, the kind's own signature (OOM for heap) over the rest, then count.
fn weight(kind: AlertKind, g: &Group) -> (u8, u8, usize) {
    let preferred = match kind {
        AlertKind::ConductorHighHeapUsage => g.example.contains("OutOfMemoryError") || g.example.contains("heap space"),
        AlertKind::RedisCriticalUsage | AlertKind::RedisHighUsage => {
            g.example.contains("Redis") || g.example.contains("payload")
        }
        _ => false,
    };
    let level = if g.is_error() { 2 } else { 1 };
    (u8::from(preferred), level + u8::from(g.cause().names_a_cause()), g.count)
}

/// The next step a log cause calls for: a setting to compare, a host to reach, an owner to
/// route to — with the specific property, host, workflow or pod.
fn next_for_log(cause: &record::Cause, workflow: Option<&str>, pod: &str, g: &Group, frame: &str) -> (String, bool) {
    let detail = |key: &str| cause.details.iter().find_map(|d| d.strip_prefix(&format!("{key}: ")).map(str::to_string));
    if let (Some(property), Some(value)) = (detail("Property"), detail("Value")) {
        let origin = detail("Origin").map(|o| format!(" (set by {o})")).unwrap_or_default();
        let target = cause.message.rsplit_once(" to ").map(|(_, t)| t.trim_end_matches(':').to_string());
        let format = target.map(|t| format!(" with the format {t} accepts")).unwrap_or_default();
        return (
            format!(
                "Compare {property} = {value}{origin}{format}, and route the fix to the owner of {}'s configuration.",
                deployment(pod)
            ),
            false,
        );
    }
    let class = cause.class().unwrap_or("");
    let text = format!("{} {}", cause.message, cause.chain.join(" "));
    if let Some(host) = cause.values.iter().find(|v| !v.starts_with('/') && !v.contains(' ')) {
        let what = match host.rsplit(':').next() {
            Some("5432") => "the PostgreSQL database",
            Some("6379") => "the Redis instance",
            Some("9200") => "Elasticsearch",
            _ => "that service",
        };
        return (
            format!("Check from inside the cluster whether {host} answers, and route to the owner of {what}."),
            false,
        );
    }
    if text.contains("maxmemory") {
        return (
            format!(
                "Look at what fills the Redis instance behind {} (its largest keys against the decider queue) and route to its owner for a maxmemory or retention decision.",
                deployment(pod)
            ),
            false,
        );
    }
    if let Some(w) = workflow {
        return (format!("Route to the owner of workflow {w}: {}.", shorten(&cause.message, 160)), false);
    }
    if text.contains("Redis") {
        return (
            format!(
                "Look at the latency and memory of the Redis instance behind {} (slow commands, clients, evictions), and route to its owner.",
                deployment(pod)
            ),
            false,
        );
    }
    if text.contains("HikariPool") || text.contains("JDBC") || class.contains("SQL") {
        return (
            format!(
                "Look at the database's open connections and slow queries for {} (its connection pool is exhausted), and route to the database's owner.",
                deployment(pod)
            ),
            false,
        );
    }
    let path = cause.values.iter().find(|v| v.contains("/api/")).map(|p| format!(" on {p}")).unwrap_or_default();
    (
        format!(
            "Route to the Conductor server team with the cited {}{path}{frame} (×{} in {pod}).",
            cause.class().unwrap_or(level_word(g)),
            g.count
        ),
        true,
    )
}

fn level_word(g: &Group) -> &'static str {
    if g.is_error() { "error" } else { "warning" }
}

/// The rows of a `kubectl top pods` table: (pod, millicores, CPU, memory).
fn top_rows(data: &Value) -> Vec<(String, f64, String, String)> {
    let millicores = |cpu: &str| -> Option<f64> {
        match cpu.strip_suffix('m') {
            Some(m) => m.parse().ok(),
            None => cpu.parse::<f64>().ok().map(|cores| cores * 1000.0),
        }
    };
    data.as_str()
        .unwrap_or("")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [pod, cpu, memory, ..] = cols[..] else { return None };
            Some((pod.to_string(), millicores(cpu)?, cpu.to_string(), memory.to_string()))
        })
        .collect()
}

/// The logs read, by pod, condensed.
pub(super) fn digests(outputs: &[ToolOutput], calls: &[(Tool, Value)]) -> Vec<(String, LogDigest)> {
    raw_logs(outputs, calls).into_iter().map(|(pod, text)| (pod, condense::log(text))).collect()
}

/// The logs read, by pod, as text.
pub(super) fn raw_logs<'a>(outputs: &'a [ToolOutput], calls: &[(Tool, Value)]) -> Vec<(String, &'a str)> {
    outputs
        .iter()
        .zip(calls)
        .filter(|(o, (t, _))| *t == Tool::PullPodLogs && o.ok)
        .filter_map(|(o, (_, args))| Some((args["podName"].as_str()?.to_string(), o.data.as_str()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_names_are_read_from_messages() {
        assert_eq!(
            workflow_in("Workflow input payload of 21.4 MB for document_ingest (fd974682-8bea) exceeds the threshold")
                .as_deref(),
            Some("document_ingest")
        );
        assert_eq!(
            workflow_in("Task send_invoice_email of workflow billing_cycle rate limited: concurrentExecLimit 50")
                .as_deref(),
            Some("billing_cycle")
        );
        assert_eq!(workflow_in("Token refreshed for application billing-svc"), None);
    }

    #[test]
    fn deployments_are_the_pod_names_without_their_suffixes() {
        assert_eq!(deployment("orkes-workers-deployment-vmb8jrj4d-89sjc"), "orkes-workers-deployment");
        assert_eq!(deployment("prometheus-server-bzppzsgxt-9xgqh"), "prometheus-server");
    }
}
