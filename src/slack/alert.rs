//! Recognises health-check alerts among Slack messages and parses them (domain.md §1, §4): the
//! execution id (the one required field), severity, organization, environment, cluster, and every
//! issue line with its kind. Text, blocks and legacy attachments are all read.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    fn parse(s: &str) -> Option<Severity> {
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
            .map(|(re, kind)| (Regex::new(&format!("(?i){re}")).expect("static regex"), kind))
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
        static URL: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"<?https?://[^\s>|]+(\|[^>]*)?>?").expect("static regex"));
        // ReplicaSet hash + pod suffix (`-f749b67d5-pvxjg`), or a lone hash of 8–10 characters.
        static K8S_SUFFIX: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"-[a-z0-9]{8,10}(-[a-z0-9]{5})?\b").expect("static regex"));
        static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+([.,]\d+)?").expect("static regex"));
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

/// Why a message is not an alert (`parse-alert` prints it; intake skips the message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAlert {
    #[error("no /execution/<uuid> link in the message")]
    NoExecutionLink,
    #[error("a thread reply, not a top-level message")]
    ThreadReply,
    #[error("a `{0}` event, not a posted message")]
    Subtype(String),
}

static EXECUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"/execution/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
        .expect("static regex")
});
static SEVERITY_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\[(CRITICAL|MAJOR|MINOR|WARNING)\]").expect("static regex"));
static ISSUE_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)^\s*\*?(CRITICAL|MAJOR|MINOR|WARNING):\*?\s*(.*?)\s*$").expect("static regex"));
static CLUSTER_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)for the _?(.+?)(?:'s|’s|')_? (\S+) (\S+) cluster\b").expect("static regex"));
static TELEMETRY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)health-checking for the cluster (.+?) has failed").expect("static regex"));
static FAILURE_STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)Failure Status:\s*(.+)").expect("static regex"));
static FAILURE_REASON: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)Reason:\s*(.+)").expect("static regex"));

/// Undoes Slack's escaping of `&`, `<` and `>` (domain.md §1).
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Removes mrkdwn decoration (`*bold*`, `` `code` ``) from a fragment of alert text.
fn plain(fragment: &str) -> String {
    fragment.replace(['*', '`'], "").trim().to_string()
}

/// Every piece of text a message carries: `text`, block sections and contexts, attachments.
pub fn message_text(message: &Value) -> String {
    let mut candidates: Vec<Option<&Value>> = vec![message.get("text")];
    for block in message.get("blocks").and_then(Value::as_array).into_iter().flatten() {
        candidates.push(block.pointer("/text/text"));
        let fields = block.get("fields").and_then(Value::as_array).into_iter().flatten();
        let elements = block.get("elements").and_then(Value::as_array).into_iter().flatten();
        candidates.extend(fields.chain(elements).map(|f| f.get("text")));
    }
    for att in message.get("attachments").and_then(Value::as_array).into_iter().flatten() {
        candidates.extend(["pretext", "text", "fallback"].map(|k| att.get(k)));
    }
    let parts: Vec<&str> =
        candidates.into_iter().flatten().filter_map(Value::as_str).filter(|s| !s.is_empty()).collect();
    unescape(&parts.join("\n"))
}

/// Classifies one `conversations.history` message: an alert, or why not (domain.md §1).
pub fn from_message(message: &Value) -> Result<Alert, NotAnAlert> {
    if let Some(subtype) = message.get("subtype").and_then(Value::as_str)
        && subtype != "bot_message"
    {
        return Err(NotAnAlert::Subtype(subtype.to_string()));
    }
    let ts = message.get("ts").and_then(Value::as_str);
    let thread_ts = message.get("thread_ts").and_then(Value::as_str);
    if thread_ts.is_some() && thread_ts != ts {
        return Err(NotAnAlert::ThreadReply);
    }
    parse_text(&message_text(message))
}

/// Parses alert text (already unescaped, or raw: escaping is undone again harmlessly).
pub fn parse_text(text: &str) -> Result<Alert, NotAnAlert> {
    let text = unescape(text);
    let execution_id =
        EXECUTION.captures(&text).map(|c| c[1].to_ascii_lowercase()).ok_or(NotAnAlert::NoExecutionLink)?;

    let mut alert = Alert {
        execution_id,
        severity: SEVERITY_TAG.captures(&text).and_then(|c| Severity::parse(&c[1])),
        organization: None,
        environment: None,
        cluster: None,
        issues: Vec::new(),
    };

    let flat = plain(&text);
    if let Some(c) = CLUSTER_LINE.captures(&flat) {
        alert.organization = Some(c[1].trim().to_string());
        alert.environment = Some(c[2].to_string());
        alert.cluster = Some(c[3].to_string());
    }
    for line in text.lines() {
        if let Some(c) = ISSUE_LINE.captures(line) {
            let description = plain(&c[2]);
            let severity = Severity::parse(&c[1]);
            // The same alert may stand in `text` and in `blocks`: count each issue once.
            if description.is_empty()
                || alert.issues.iter().any(|i| i.description == description && i.severity == severity)
            {
                continue;
            }
            alert.issues.push(Issue { severity, kind: AlertKind::classify(&description), description });
        }
    }

    if let Some(c) = TELEMETRY_LINE.captures(&flat) {
        let name = c[1].trim().to_string();
        match name.rsplit_once(" - ") {
            Some((org, cluster)) => {
                alert.organization = Some(org.trim().to_string());
                alert.cluster = Some(cluster.trim().to_string());
            }
            None => alert.cluster = Some(name),
        }
        let status = text.lines().find_map(|l| FAILURE_STATUS.captures(l).map(|c| plain(&c[1])));
        let reason = text.lines().find_map(|l| FAILURE_REASON.captures(l).map(|c| plain(&c[1])));
        let description = match (status, reason) {
            (Some(s), Some(r)) => format!("health check {s}: {r}"),
            (Some(s), None) => format!("health check {s}"),
            (None, Some(r)) => format!("health check failed: {r}"),
            (None, None) => "health check failed; telemetry lost".to_string(),
        };
        alert.issues.push(Issue { severity: alert.severity, description, kind: AlertKind::TelemetryLoss });
    }
    if alert.severity.is_none() {
        alert.severity = alert.issues.iter().filter_map(|i| i.severity).max();
    }
    Ok(alert)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REDIS: &str = "🚨 *`[CRITICAL]`* The health-checking has FAILED for the _Vizient's_ prod *`viz-stage`* cluster with the following issue:\n*CRITICAL:* The Redis instance is at 66%, above the CRITICAL threshold of 65%\nhttps://ah5r-prod.orkesconductor.com/execution/364b459a-689f-11f1-94b6-de01f12a4ed9";
    const CPU2: &str = ":warning: *`[MAJOR]`* The health-checking has FAILED for the _Orkes's_ prod *`orkes-prod`* cluster with the following 2 issues:\n*MAJOR:* Conductor Server CPU usage is at 100.0% and exceeded the threshold of 95.0% - orkes-conductor-deployment-f749b67d5-pvxjg\n*MAJOR:* Conductor Server CPU usage is at 97.4% and exceeded the threshold of 95.0% - orkes-conductor-deployment-f749b67d5-q9h9d\n<https://ah5r-prod.orkesconductor.com/execution/933967A4-85d1-11f1-ba93-96986d0e24f0|View>";
    const TELEMETRY: &str = ":x: The health-checking for the cluster *Orkes Production (Important) - shailesh-test-gcp* has failed\nFailure Status: `TIMED_OUT`\nReason: `Task poll timed out after 20 seconds. Poll timeout configured as 10 seconds. Timeout policy configured to RETRY`\n:warning: It doesn't mean the cluster is not healthy, but *we've lost telemetry and that should be addressed urgently*\n<https://ah5r-prod.orkesconductor.com/execution/427e9743-85e2-11f1-b58b-5614587b91fd>";

    #[test]
    fn parses_the_main_template() {
        let a = parse_text(REDIS).unwrap();
        assert_eq!(a.execution_id, "364b459a-689f-11f1-94b6-de01f12a4ed9");
        assert_eq!(a.severity, Some(Severity::Critical));
        assert_eq!(a.organization.as_deref(), Some("Vizient"));
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.cluster.as_deref(), Some("viz-stage"));
        assert_eq!(a.kinds(), vec![AlertKind::RedisCriticalUsage]);
    }

    #[test]
    fn parses_every_issue_line_and_upper_case_ids_in_labelled_links() {
        let a = parse_text(CPU2).unwrap();
        assert_eq!(a.execution_id, "933967a4-85d1-11f1-ba93-96986d0e24f0");
        assert_eq!(a.organization.as_deref(), Some("Orkes"));
        assert_eq!(a.issues.len(), 2);
        assert!(a.issues.iter().all(|i| i.kind == AlertKind::ConductorHighCpuUsage));
        assert!(a.issues[1].description.ends_with("f749b67d5-q9h9d"));
    }

    #[test]
    fn parses_the_telemetry_loss_template() {
        let a = parse_text(TELEMETRY).unwrap();
        assert_eq!(a.cluster.as_deref(), Some("shailesh-test-gcp"));
        assert_eq!(a.organization.as_deref(), Some("Orkes Production (Important)"));
        assert_eq!(a.kinds(), vec![AlertKind::TelemetryLoss]);
        assert!(a.issues[0].description.starts_with("health check TIMED_OUT: Task poll timed out"));
    }

    #[test]
    fn re_fires_share_a_signature_and_other_incidents_do_not() {
        let first = parse_text(CPU2).unwrap();
        let refire = parse_text(
            &CPU2
                .replace("100.0%", "99.1%")
                .replace("f749b67d5-pvxjg", "7c9d8b6f4-zz2kq")
                .replace("933967A4-85d1-11f1-ba93-96986d0e24f0", "00000000-85d1-11f1-ba93-96986d0e24f0"),
        )
        .unwrap();
        assert_eq!(first.signature(), refire.signature());
        let other_cluster = parse_text(&CPU2.replace("`orkes-prod`", "`orkes-stage`")).unwrap();
        assert_ne!(first.signature(), other_cluster.signature());
        let other_kind = parse_text(REDIS).unwrap();
        assert_ne!(first.signature(), other_kind.signature());
        // Both CPU lines differ only by pod suffix: one incident part.
        assert_eq!(first.signature().matches("CONDUCTOR_HIGH_CPU_USAGE").count(), 1, "{}", first.signature());
    }

    #[test]
    fn unescapes_names() {
        let text = REDIS.replace("_Vizient's_", "_Procter &amp; Gamble's_");
        assert_eq!(parse_text(&text).unwrap().organization.as_deref(), Some("Procter & Gamble"));
    }

    #[test]
    fn classifies_each_kind_from_its_description() {
        for (desc, kind) in [
            ("The Redis instance is at 57%, above the MAJOR threshold of 50%", AlertKind::RedisHighUsage),
            (
                "Conductor Server Heap usage is at 91.2% and exceeded the threshold of 90.0% - p",
                AlertKind::ConductorHighHeapUsage,
            ),
            ("Conductor Error Logs Count is 812, above 500", AlertKind::ConductorErrorLogsCountExceededThreshold),
            ("Conductor Warn Logs Count is 6000", AlertKind::ConductorWarnLogsCountExceededThreshold),
            ("Conductor has failed the health check", AlertKind::ConductorHealthy),
            ("Workers have failed the health check", AlertKind::WorkersHealthy),
            ("Prometheus is down", AlertKind::PrometheusNotRunning),
            ("Pod orkes-agent-deployment-x-y is not Running", AlertKind::PodNotRunning),
            ("Pod orkes-agent-deployment-x-y Failed", AlertKind::PodNotRunning),
            ("Container conductor-server in the Pod p has been restarted (4, Error)", AlertKind::PodRestarted),
            ("DNS resolution has failed for x.example", AlertKind::DnsHealthy),
            ("Domain x.example has not been resolved", AlertKind::DomainResolution),
            ("The domain x.example is down", AlertKind::DomainReachability),
            ("The cluster uses a stale API key", AlertKind::AuthStale),
            ("The certificate expires in less than 14 days for x.example", AlertKind::DomainCertificateWillExpire),
            ("The server is taking too long to respond (5.2s)", AlertKind::ResponseTime),
            ("Something new", AlertKind::Unknown),
        ] {
            assert_eq!(AlertKind::classify(desc), kind, "{desc}");
            let wire = serde_json::to_value(kind).unwrap();
            assert_eq!(wire, json!(kind.as_str()));
        }
    }

    #[test]
    fn recognises_alerts_among_messages() {
        let alert = json!({"ts": "1.000001", "text": REDIS, "bot_id": "B1", "subtype": "bot_message"});
        assert!(from_message(&alert).is_ok());
        let parent_with_replies = json!({"ts": "1.000001", "thread_ts": "1.000001", "reply_count": 2, "text": REDIS});
        assert!(from_message(&parent_with_replies).is_ok());
        let reply = json!({"ts": "2.000001", "thread_ts": "1.000001", "text": REDIS});
        assert_eq!(from_message(&reply), Err(NotAnAlert::ThreadReply));
        let edit = json!({"ts": "3.0", "subtype": "message_changed", "text": REDIS});
        assert_eq!(from_message(&edit), Err(NotAnAlert::Subtype("message_changed".into())));
        let chatter = json!({"ts": "4.0", "text": "anyone looking at this?", "user": "U1"});
        assert_eq!(from_message(&chatter), Err(NotAnAlert::NoExecutionLink));
    }

    #[test]
    fn reads_blocks_and_attachments() {
        let digest = json!({"ts": "1.0", "text": "1 new alert",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": REDIS}}]});
        assert_eq!(from_message(&digest).unwrap().cluster.as_deref(), Some("viz-stage"));
        let both = json!({"ts": "1.0", "text": CPU2,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": CPU2}}]});
        assert_eq!(from_message(&both).unwrap().issues.len(), 2, "issues counted once");
        let webhook = json!({"ts": "1.0", "text": "", "attachments": [{"fallback": CPU2}]});
        assert_eq!(from_message(&webhook).unwrap().issues.len(), 2);
    }
}
