//! Per-kind guidance (domain.md §4): what a human should check when the evidence shows no cause,
//! and the one next step to suggest; and the alert's one-line *Issue*.

use crate::conductor::Execution;
use crate::domain::{Alert, AlertKind};

/// What to check and what to do next, per kind (domain.md §4).
pub(super) fn guide(kind: AlertKind) -> (&'static str, &'static str) {
    match kind {
        AlertKind::RedisCriticalUsage | AlertKind::RedisHighUsage => (
            "the decider queue size and the dominant error in the conductor server and worker logs",
            "Look at Redis itself for this cluster (INFO memory and its largest keys): the server and worker logs read show no cause.",
        ),
        AlertKind::ConductorHighHeapUsage => (
            "top and memory metrics of the named pod and its logs for OutOfMemoryError or long GC pauses",
            "Take a heap histogram of the named pod (jcmd GC.class_histogram) to see what fills it: its logs and top show no cause.",
        ),
        AlertKind::ConductorHighCpuUsage => (
            "top and metrics of the hot pod and what its logs show it doing",
            "Take a thread dump of the hot pod (jstack) to see what it runs: its logs and top show no cause.",
        ),
        AlertKind::ConductorErrorLogsCountExceededThreshold => (
            "the dominant exception in the conductor server logs",
            "Look at the log metric behind the alert (which pods and messages it counts): the server logs read show no dominant error.",
        ),
        AlertKind::ConductorWarnLogsCountExceededThreshold => (
            "the dominant warning in the conductor server logs",
            "Look at the log metric behind the alert (which pods and messages it counts): the warnings read are well-known noise or isolated.",
        ),
        AlertKind::ConductorHealthy => (
            "the orkes-conductor-deployment pods: phase, restarts, events and the fatal log line",
            "Look at the conductor deployment's rollout history and readiness probe: the pods' states, events and logs show no cause.",
        ),
        AlertKind::WorkersHealthy => (
            "the orkes-workers-deployment pods: phase, restarts, events and the fatal log line",
            "Look at the workers deployment's rollout history and its connection to the server: the pods' states, events and logs show no cause.",
        ),
        AlertKind::PrometheusNotRunning => (
            "the prometheus pod's events first (OOM, PVC or disk pressure), then its logs",
            "Look at the prometheus volume and its node (disk and memory pressure); metric-based alerts may be stale until it runs again.",
        ),
        AlertKind::PodNotRunning => (
            "the named pod's phase, events and logs",
            "Look at the named pod's node (its conditions and pressure): the pod's events and logs show no cause.",
        ),
        AlertKind::PodRestarted => (
            "the restart reason (OOMKilled or Error), the exit code and the logs before the crash",
            "Look at the previous container's logs (kubectl logs --previous) and the node's conditions: the current logs and events show no cause.",
        ),
        AlertKind::DnsHealthy | AlertKind::DomainResolution => (
            "the ingress: no address means the load balancer is not provisioned; an address means DNS, certificate or network path",
            "Route to infra: resolve and reach the domain from outside the cluster and compare the answer with the ingress address.",
        ),
        AlertKind::DomainReachability => (
            "the app pods and logs first, then the ingress",
            "Route to infra: reach the domain from outside the cluster and follow the path (DNS, WAF, CDN) to the ingress address.",
        ),
        AlertKind::AuthStale => ("nothing: the alert says it", "Rotate the cluster's API key (a human action)."),
        AlertKind::DomainCertificateWillExpire => ("nothing: the alert says it", "Renew the domain's certificate."),
        AlertKind::ResponseTime => (
            "cluster metrics and top for saturation",
            "Watch the p99 over the next hour; if it repeats, take a thread dump of the busiest server pod.",
        ),
        AlertKind::TelemetryLoss => (
            "whether the in-cluster agent is polling (a cheap probe stuck in SCHEDULED means it is not)",
            "Check the in-cluster agent deployment (orkes-agent-deployment) is running and polling.",
        ),
        AlertKind::Unknown => (
            "the execution and the cluster's pods and logs",
            "Route to the on-call lead with the execution link: the playbook does not know this kind of alert.",
        ),
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
