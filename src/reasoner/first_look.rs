//! The first look: a hypothesis from the failing execution alone (its issues, the cluster data
//! it collected, the component checks that failed). It dispatches nothing, so it only concludes
//! where the alert describes itself; otherwise it says what a human should check.

use serde_json::Value;

use super::Hypothesis;
use crate::conductor::Execution;
use crate::slack::alert::{Alert, AlertKind};

/// At most this many bullets (domain.md §5: 2–4).
const MAX_FINDINGS: usize = 4;

/// What to check and what to do next, per kind (domain.md §4).
fn guide(kind: AlertKind) -> (&'static str, &'static str) {
    match kind {
        AlertKind::RedisCriticalUsage | AlertKind::RedisHighUsage => (
            "the decider queue size and the dominant error in the conductor server and worker logs",
            "Read the conductor server and worker logs for the dominant exception and check for unusually large workflow payloads.",
        ),
        AlertKind::ConductorHighHeapUsage => (
            "top and memory metrics of the named pod and its logs for OutOfMemoryError or long GC pauses",
            "Check the named pod's memory and its logs for OutOfMemoryError or GC pressure.",
        ),
        AlertKind::ConductorHighCpuUsage => (
            "top and metrics of the hot pod and what its logs show it doing",
            "Check what the hot pod is doing (top, recent log bursts) before changing its resources.",
        ),
        AlertKind::ConductorErrorLogsCountExceededThreshold => (
            "the dominant exception in the conductor server logs",
            "Find the dominant exception in the conductor server logs.",
        ),
        AlertKind::ConductorWarnLogsCountExceededThreshold => (
            "the dominant warning in the conductor server logs",
            "Find the dominant warning in the conductor server logs.",
        ),
        AlertKind::ConductorHealthy => (
            "the orkes-conductor-deployment pods: phase, restarts, events and the fatal log line",
            "Check the conductor pods' events (CrashLoopBackOff, OOMKilled, ImagePull) and their last log lines.",
        ),
        AlertKind::WorkersHealthy => (
            "the orkes-workers-deployment pods: phase, restarts, events and the fatal log line",
            "Check the worker pods' events and their last log lines.",
        ),
        AlertKind::PrometheusNotRunning => (
            "the prometheus pod's events first (OOM, PVC or disk pressure), then its logs",
            "Check the prometheus pod's events; metric-based alerts may be stale until it runs again.",
        ),
        AlertKind::PodNotRunning => {
            ("the named pod's phase, events and logs", "Check the named pod's events and logs.")
        }
        AlertKind::PodRestarted => (
            "the restart reason (OOMKilled or Error), the exit code and the logs before the crash",
            "Check the pod's events for the restart reason and its logs before the crash.",
        ),
        AlertKind::DnsHealthy | AlertKind::DomainResolution => (
            "the ingress: no address means the load balancer is not provisioned; an address means DNS, certificate or network path",
            "Check the ingress address; with an address, route to infra rather than guess.",
        ),
        AlertKind::DomainReachability => (
            "the app pods and logs first, then the ingress",
            "Check whether the app is crashing before looking at the ingress path.",
        ),
        AlertKind::AuthStale => ("nothing: the alert says it", "Rotate the cluster's API key (a human action)."),
        AlertKind::DomainCertificateWillExpire => ("nothing: the alert says it", "Renew the domain's certificate."),
        AlertKind::ResponseTime => {
            ("cluster metrics and top for saturation", "Watch for recurrence; check cluster metrics if it repeats.")
        }
        AlertKind::TelemetryLoss => (
            "whether the in-cluster agent is polling (a cheap probe stuck in SCHEDULED means it is not)",
            "Check the in-cluster agent deployment (orkes-agent-deployment) is running and polling.",
        ),
        AlertKind::Unknown => {
            ("the execution and the cluster's pods and logs", "Read the failing execution and the cluster's pods.")
        }
    }
}

fn number(v: Option<&Value>) -> Option<String> {
    let v = v?;
    v.as_f64().map(|n| if n.fract() == 0.0 { format!("{n:.0}") } else { format!("{n}") })
}

/// One line of the cluster data the health check collected, or None if it collected nothing.
fn cluster_data_line(data: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(u) = number(data.pointer("/redis/usage")) {
        parts.push(format!("Redis at {u}%"));
    }
    if let Some(q) = number(data.pointer("/redis/decider_queue_size")) {
        parts.push(format!("decider queue {q} (running workflows)"));
    }
    if let Some(q) = number(data.pointer("/redis/indexer_queue_size")) {
        parts.push(format!("indexer queue {q}"));
    }
    if let Some(h) = number(data.get("heap_memory")) {
        parts.push(format!("heap {h}%"));
    }
    if let Some(c) = number(data.get("cpu")) {
        parts.push(format!("CPU {c}%"));
    }
    if let Some(p) = number(data.pointer("/postgres/size_gb")) {
        parts.push(format!("Postgres {p} GB"));
    }
    (!parts.is_empty()).then(|| format!("Health-check data: {}", parts.join(", ")))
}

pub fn first_look(alert: &Alert, execution: &Execution) -> Hypothesis {
    // The execution's issues are authoritative; the alert text is the fallback.
    let issues = if execution.issues.is_empty() { &alert.issues } else { &execution.issues };
    let mut findings: Vec<String> = issues
        .iter()
        .map(|i| match i.severity {
            Some(s) => format!("{}: {}", s.as_str(), i.description),
            None => i.description.clone(),
        })
        .collect();
    findings.truncate(2);
    if let Some(line) = execution.cluster_data.as_ref().and_then(cluster_data_line) {
        findings.push(line);
    }
    for check in &execution.failed_checks {
        findings.push(format!("{} unhealthy: {}", check.task, check.details));
    }
    findings.truncate(MAX_FINDINGS);

    let kind = issues.first().map_or(AlertKind::Unknown, |i| i.kind);
    let (check, next_step) = guide(kind);
    let root_cause = match kind {
        AlertKind::AuthStale => Some("The cluster is using a stale API key.".to_string()),
        AlertKind::DomainCertificateWillExpire => {
            Some(format!("The certificate is close to expiry: {}", issues[0].description))
        }
        _ => None,
    };
    let ctx = &execution.context;
    let org = ctx.organization_name.as_deref().unwrap_or(&ctx.organization_id);
    let cluster = format!("{} ({org}, {})", ctx.cluster_name, ctx.environment);
    let issue = match (alert.severity, issues.as_slice()) {
        (_, []) => format!("health check failed on {cluster}"),
        (sev, [one, rest @ ..]) => {
            let sev = sev.or(one.severity).map(|s| format!("[{}] ", s.as_str())).unwrap_or_default();
            let more = if rest.is_empty() { String::new() } else { format!(" (+{} more)", rest.len()) };
            format!("{sev}{cluster}: {}{more}", one.description)
        }
    };
    Hypothesis {
        issue,
        findings,
        root_cause,
        check: Some(format!("no investigation commands were run; check {check}")),
        next_step: next_step.to_string(),
    }
}
