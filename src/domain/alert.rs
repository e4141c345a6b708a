//! An alert as the product understands it (domain.md §1, §4): the failing execution it points
//! at, its severity, where it fired, and each issue with its kind. `slack::alert` reads one from
//! a Slack message.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Alert severities, lowest first (so `max()` is the most severe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_uppercase().as_str() {
            "WARNING" => Some(Severity::Warning),
            "MINOR" => Some(Severity::Minor),
            "MAJOR" => Some(Severity::Major),
            "CRITICAL" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "WARNING",
            Severity::Minor => "MINOR",
            Severity::Major => "MAJOR",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// The 17 health-issue types of domain.md §4, telemetry loss, and anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertKind {
    RedisCriticalUsage,
    RedisHighUsage,
    ConductorHighHeapUsage,
    ConductorHighCpuUsage,
    ConductorErrorLogsCountExceededThreshold,
    ConductorWarnLogsCountExceededThreshold,
    ConductorHealthy,
    WorkersHealthy,
    PrometheusNotRunning,
    PodNotRunning,
    PodRestarted,
    DnsHealthy,
    DomainResolution,
    DomainReachability,
    AuthStale,
    DomainCertificateWillExpire,
    ResponseTime,
    TelemetryLoss,
    Unknown,
}

impl AlertKind {
    /// The kind an issue description names (domain.md §4, "description contains").
    pub fn classify(description: &str) -> AlertKind {
        static RULES: LazyLock<Vec<(Regex, AlertKind)>> = LazyLock::new(|| {
            [
                (r"redis instance is at.*\bcritical threshold", AlertKind::RedisCriticalUsage),
                (r"redis instance is at", AlertKind::RedisHighUsage),
                (r"heap usage is at", AlertKind::ConductorHighHeapUsage),
                (r"cpu usage is at", AlertKind::ConductorHighCpuUsage),
                (r"error logs count", AlertKind::ConductorErrorLogsCountExceededThreshold),
                (r"warn(ing)? logs count", AlertKind::ConductorWarnLogsCountExceededThreshold),
                (r"conductor has failed", AlertKind::ConductorHealthy),
                (r"workers have failed", AlertKind::WorkersHealthy),
                (r"prometheus is down", AlertKind::PrometheusNotRunning),
                (r"has been restarted", AlertKind::PodRestarted),
                (r"\bpod\b.*\bnot running\b|\bpod\s+\S+\s+failed\b", AlertKind::PodNotRunning),
                (r"dns resolution has failed", AlertKind::DnsHealthy),
                (r"has not been resolved", AlertKind::DomainResolution),
                (r"\bdomain\b.*\bis down\b", AlertKind::DomainReachability),
                (r"stale api key", AlertKind::AuthStale),
                (r"certificate expires in less than", AlertKind::DomainCertificateWillExpire),
                (r"taking too long to respond", AlertKind::ResponseTime),
            ]
            .into_iter()
            .map(|(re, kind)| (crate::patterns::regex(&format!("(?i){re}")), kind))
            .collect()
        });
        RULES.iter().find(|(re, _)| re.is_match(description)).map_or(AlertKind::Unknown, |(_, k)| *k)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RedisCriticalUsage => "REDIS_CRITICAL_USAGE",
            AlertKind::RedisHighUsage => "REDIS_HIGH_USAGE",
            AlertKind::ConductorHighHeapUsage => "CONDUCTOR_HIGH_HEAP_USAGE",
            AlertKind::ConductorHighCpuUsage => "CONDUCTOR_HIGH_CPU_USAGE",
            AlertKind::ConductorErrorLogsCountExceededThreshold => "CONDUCTOR_ERROR_LOGS_COUNT_EXCEEDED_THRESHOLD",
            AlertKind::ConductorWarnLogsCountExceededThreshold => "CONDUCTOR_WARN_LOGS_COUNT_EXCEEDED_THRESHOLD",
            AlertKind::ConductorHealthy => "CONDUCTOR_HEALTHY",
            AlertKind::WorkersHealthy => "WORKERS_HEALTHY",
            AlertKind::PrometheusNotRunning => "PROMETHEUS_NOT_RUNNING",
            AlertKind::PodNotRunning => "POD_NOT_RUNNING",
            AlertKind::PodRestarted => "POD_RESTARTED",
            AlertKind::DnsHealthy => "DNS_HEALTHY",
            AlertKind::DomainResolution => "DOMAIN_RESOLUTION",
            AlertKind::DomainReachability => "DOMAIN_REACHABILITY",
            AlertKind::AuthStale => "AUTH_STALE",
            AlertKind::DomainCertificateWillExpire => "DOMAIN_CERTIFICATE_WILL_EXPIRE",
            AlertKind::ResponseTime => "RESPONSE_TIME",
            AlertKind::TelemetryLoss => "TELEMETRY_LOSS",
            AlertKind::Unknown => "UNKNOWN",
        }
    }

    /// A readable short name for narrow places (the console's list), never a cut of the long one.
    pub fn short(self) -> &'static str {
        match self {
            AlertKind::RedisCriticalUsage => "Redis critical",
            AlertKind::RedisHighUsage => "Redis high",
            AlertKind::ConductorHighHeapUsage => "heap",
            AlertKind::ConductorHighCpuUsage => "CPU",
            AlertKind::ConductorErrorLogsCountExceededThreshold => "error logs",
            AlertKind::ConductorWarnLogsCountExceededThreshold => "warn logs",
            AlertKind::ConductorHealthy => "conductor down",
            AlertKind::WorkersHealthy => "workers down",
            AlertKind::PrometheusNotRunning => "prometheus down",
            AlertKind::PodNotRunning => "pod not running",
            AlertKind::PodRestarted => "pod restarted",
            AlertKind::DnsHealthy => "DNS",
            AlertKind::DomainResolution => "domain unresolved",
            AlertKind::DomainReachability => "domain down",
            AlertKind::AuthStale => "stale API key",
            AlertKind::DomainCertificateWillExpire => "certificate expiry",
            AlertKind::ResponseTime => "slow API",
            AlertKind::TelemetryLoss => "telemetry lost",
            AlertKind::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub severity: Option<Severity>,
    pub description: String,
    pub kind: AlertKind,
}

/// A parsed alert. Only `execution_id` is certain; the rest is best effort from the text (the
/// authoritative org and cluster come from the execution).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub execution_id: String,
    pub severity: Option<Severity>,
    pub organization: Option<String>,
    pub environment: Option<String>,
    pub cluster: Option<String>,
    pub issues: Vec<Issue>,
}

impl Alert {
    /// Distinct kinds, in order of first appearance.
    pub fn kinds(&self) -> Vec<AlertKind> {
        let mut kinds: Vec<AlertKind> = Vec::new();
        for issue in &self.issues {
            if !kinds.contains(&issue.kind) {
                kinds.push(issue.kind);
            }
        }
        kinds
    }

    /// The incident's identity: the cluster and each issue's kind and text with numbers, URLs
    /// and Kubernetes hash suffixes masked, so the re-fires of one incident (new execution id,
    /// slightly different numbers, a new pod suffix) share it.
    pub fn signature(&self) -> String {
        static URL: LazyLock<Regex> = LazyLock::new(|| crate::patterns::regex(r"<?https?://[^\s>|]+(\|[^>]*)?>?"));
        // ReplicaSet hash + pod suffix (`-f749b67d5-pvxjg`), or a lone hash of 8–10 characters.
        static K8S_SUFFIX: LazyLock<Regex> =
            LazyLock::new(|| crate::patterns::regex(r"-[a-z0-9]{8,10}(-[a-z0-9]{5})?\b"));
        static NUMBER: LazyLock<Regex> = LazyLock::new(|| crate::patterns::regex(r"\d+([.,]\d+)?"));
        let mut parts: Vec<String> = self
            .issues
            .iter()
            .map(|i| {
                let d = i.description.to_lowercase();
                let d = URL.replace_all(&d, "");
                let d = K8S_SUFFIX.replace_all(&d, "-*");
                let d = NUMBER.replace_all(&d, "#");
                format!("{}:{}", i.kind.as_str(), d.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .collect();
        parts.sort();
        parts.dedup();
        let place = self.cluster.as_deref().or(self.organization.as_deref()).unwrap_or("?");
        let sig = format!("{place}|{}", parts.join("|"));
        sig.chars().take(400).collect()
    }

    /// The alert in one line, for the reply's *Issue* and the console.
    pub fn headline(&self) -> String {
        let what = match self.issues.as_slice() {
            [] => "health check failed".to_string(),
            [one] => one.description.clone(),
            [first, rest @ ..] => format!("{} (+{} more)", first.description, rest.len()),
        };
        let sev = self.severity.map(|s| format!("[{}] ", s.as_str())).unwrap_or_default();
        match &self.cluster {
            Some(c) => format!("{sev}{c}: {what}"),
            None => format!("{sev}{what}"),
        }
    }
}
