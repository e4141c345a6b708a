//! Per-kind guidance (domain.md §4): what a human should check when the evidence shows no cause,
//! and the one next step to suggest; and the alert's one-line *Issue*.

use crate::conductor::Execution;
use crate::domain::{Alert, AlertKind};

/// What to check and what to do next, per kind (domain.md §4).
pub(super) fn guide(kind: AlertKind) -> (&'static str, &'static str) {
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

/// The alert in one line: severity, cluster (from the execution when it was read), first issue.
pub(super) fn issue_line(alert: &Alert, execution: Option<&Execution>) -> String {
    let issues = execution.filter(|e| !e.issues.is_empty()).map_or(&alert.issues, |e| &e.issues);
    let cluster = match execution.map(|e| &e.context) {
        Some(ctx) => {
            let org = ctx.organization_name.as_deref().unwrap_or(&ctx.organization_id);
            format!("{} ({org}, {})", ctx.cluster_name, ctx.environment)
        }
        None => alert.cluster.clone().unwrap_or_else(|| "the cluster".into()),
    };
    match (alert.severity, issues.as_slice()) {
        (_, []) => format!("health check failed on {cluster}"),
        (sev, [one, rest @ ..]) => {
            let sev = sev.or(one.severity).map(|s| format!("[{}] ", s.as_str())).unwrap_or_default();
            let more = if rest.is_empty() { String::new() } else { format!(" (+{} more)", rest.len()) };
            format!("{sev}{cluster}: {}{more}", one.description)
        }
    }
}
