//! Recognises health-check alerts among Slack messages and parses them (domain.md §1, §4): the
//! execution id (the one required field), severity, organization, environment, cluster, and every
//! issue line with its kind. Text, blocks and legacy attachments are all read.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::domain::{Alert, AlertKind, Issue, Severity};

/// Why a message is not an alert (`parse-alert` prints it; intake skips the message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAlert {
    #[error("no /execution/<uuid> link in the message")]
    NoExecutionLink,
    #[error("a thread reply, not a top-level message")]
    ThreadReply,
    #[error("a `{0}` event, not a posted message")]
    Subtype(String),
    /// A recovery notice: it closes the cluster's open incident, and is never triaged.
    #[error("a recovery notice for {cluster}, not an alert")]
    Resolved { cluster: String },
}

static EXECUTION: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(r"/execution/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
});
static SEVERITY_TAG: LazyLock<Regex> =
    LazyLock::new(|| crate::patterns::regex(r"(?i)\[(CRITICAL|MAJOR|MINOR|WARNING)\]"));
/// An issue line, also behind a bullet, a dash or a quote mark.
static ISSUE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(r"(?i)^\s*(?:[•◦▪\->]\s*)*\*?(CRITICAL|MAJOR|MINOR|WARNING):\*?\s*(.*?)\s*$")
});
/// Organization, environment (may be empty: a double space) and cluster.
static CLUSTER_LINE: LazyLock<Regex> =
    LazyLock::new(|| crate::patterns::regex(r"(?i)for the _?(.+?)(?:'s|’s|')_?\s+(?:(\S+)\s+)??(\S+) cluster\b"));
/// A recovery notice (never "has not been resolved", an alert of its own).
static RESOLVED: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(r"(?i)\[RESOLVED\]|\bhas recovered\b|\bhas been resolved\b|\bis healthy again\b")
});
static TELEMETRY_LINE: LazyLock<Regex> =
    LazyLock::new(|| crate::patterns::regex(r"(?i)health-checking for the cluster (.+?) has failed"));
static FAILURE_STATUS: LazyLock<Regex> = LazyLock::new(|| crate::patterns::regex(r"(?i)Failure Status:\s*(.+)"));
static FAILURE_REASON: LazyLock<Regex> = LazyLock::new(|| crate::patterns::regex(r"(?i)Reason:\s*(.+)"));

/// Undoes Slack's escaping of `&`, `<` and `>` (domain.md §1).
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Removes mrkdwn decoration (`*bold*`, `` `code` ``) from a fragment of alert text.
fn plain(fragment: &str) -> String {
    fragment.replace(['*', '`'], "").trim().to_string()
}

/// Every piece of text a message carries, links included: `text`; blocks (sections, their
/// fields and button accessories, contexts, headers, actions' buttons, rich text with its links);
/// legacy attachments (pretext, title and `title_link`, text, fields, action buttons, fallback,
/// their own blocks).
pub fn message_text(message: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    push(&mut parts, message.get("text"));
    blocks(message.get("blocks"), &mut parts);
    for att in message.get("attachments").and_then(Value::as_array).into_iter().flatten() {
        for key in ["pretext", "title", "title_link", "from_url", "text", "fallback"] {
            push(&mut parts, att.get(key));
        }
        for f in att.get("fields").and_then(Value::as_array).into_iter().flatten() {
            push(&mut parts, f.get("title"));
            push(&mut parts, f.get("value"));
        }
        for a in att.get("actions").and_then(Value::as_array).into_iter().flatten() {
            push(&mut parts, a.get("url"));
        }
        blocks(att.get("blocks"), &mut parts);
    }
    parts.retain(|p| !p.is_empty());
    unescape(&parts.join("\n"))
}

fn push(parts: &mut Vec<String>, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        parts.push(s.to_string());
    }
}

fn blocks(list: Option<&Value>, parts: &mut Vec<String>) {
    for block in list.and_then(Value::as_array).into_iter().flatten() {
        push(parts, block.pointer("/text/text"));
        for f in block.get("fields").and_then(Value::as_array).into_iter().flatten() {
            push(parts, f.get("text"));
        }
        push(parts, block.pointer("/accessory/url"));
        if block.get("type").and_then(Value::as_str) == Some("rich_text") {
            for element in block.get("elements").and_then(Value::as_array).into_iter().flatten() {
                parts.push(rich_text(element));
            }
            continue;
        }
        for e in block.get("elements").and_then(Value::as_array).into_iter().flatten() {
            push(parts, e.get("text").filter(|t| t.is_string()));
            push(parts, e.get("url"));
        }
    }
}

/// A rich text element (section, list, quote, preformatted) as mrkdwn: its inline pieces joined
/// as written, styles as `*bold*`, `_italic_` and `` `code` ``, links as `<url|text>`.
fn rich_text(element: &Value) -> String {
    let kind = element.get("type").and_then(Value::as_str).unwrap_or("");
    let inner = element.get("elements").and_then(Value::as_array).into_iter().flatten();
    if kind == "rich_text_list" {
        return inner.map(|item| format!("• {}", rich_text(item))).collect::<Vec<_>>().join("\n");
    }
    let mut out = String::new();
    for piece in inner {
        let text = piece.get("text").and_then(Value::as_str).unwrap_or("");
        match piece.get("type").and_then(Value::as_str).unwrap_or("") {
            "text" => {
                let style = |k: &str| piece.pointer(&format!("/style/{k}")).and_then(Value::as_bool) == Some(true);
                let mut t = text.to_string();
                let (lead, core, trail) = split_space(&t);
                if !core.is_empty() {
                    let mut c = core.to_string();
                    for (on, mark) in [(style("code"), "`"), (style("italic"), "_"), (style("bold"), "*")] {
                        if on {
                            c = format!("{mark}{c}{mark}");
                        }
                    }
                    t = format!("{lead}{c}{trail}");
                }
                out.push_str(&t);
            }
            "link" => {
                let url = piece.get("url").and_then(Value::as_str).unwrap_or("");
                out.push_str(&if text.is_empty() { format!("<{url}>") } else { format!("<{url}|{text}>") });
            }
            "emoji" => out.push_str(&format!(":{}:", piece.get("name").and_then(Value::as_str).unwrap_or(""))),
            _ => out.push_str(text),
        }
    }
    if kind == "rich_text_quote" { format!("> {out}") } else { out }
}

/// (leading whitespace, the rest trimmed, trailing whitespace).
fn split_space(t: &str) -> (&str, &str, &str) {
    let start = t.len() - t.trim_start().len();
    let end = t.trim_end().len().max(start);
    (&t[..start], &t[start..end], &t[end..])
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
    let flat = plain(&text);
    let head = flat.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if RESOLVED.is_match(head) {
        let cluster = CLUSTER_LINE
            .captures(head)
            .map(|c| c[3].to_string())
            .or_else(|| {
                TELEMETRY_LINE.captures(head).map(|c| c[1].rsplit(" - ").next().unwrap_or("").trim().to_string())
            })
            .unwrap_or_default();
        return Err(NotAnAlert::Resolved { cluster });
    }
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

    if let Some(c) = CLUSTER_LINE.captures(&flat) {
        alert.organization = Some(c[1].trim().to_string());
        alert.environment = c.get(2).map(|e| e.as_str().to_string());
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

    const LINK: &str = "https://ah5r-prod.orkesconductor.com/execution/5d1e2f3a-85d1-11f1-ba93-96986d0e24f0";
    const HEAD: &str = ":warning: *`[MAJOR]`* The health-checking has FAILED for the _Acme's_ prod *`acme-prod`* cluster with the following issue:";

    #[test]
    fn finds_the_execution_link_wherever_slack_carries_it() {
        let issue = "*MAJOR:* Prometheus is down";
        let body = format!("{HEAD}\n{issue}");
        let shapes = [
            json!({"ts": "1.0", "text": "", "attachments": [{"text": body, "title": "View execution", "title_link": LINK}]}),
            json!({"ts": "1.0", "text": "", "attachments": [{"text": body, "fields": [{"title": "Execution", "value": format!("<{LINK}|open>")}]}]}),
            json!({"ts": "1.0", "text": "", "attachments": [{"text": body, "actions": [{"type": "button", "text": "Open", "url": LINK}]}]}),
            json!({"ts": "1.0", "text": body, "blocks": [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": LINK}]}]}),
            json!({"ts": "1.0", "text": "", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": body},
                "accessory": {"type": "button", "text": {"type": "plain_text", "text": "View"}, "url": LINK}}]}),
            json!({"ts": "1.0", "text": "", "blocks": [{"type": "rich_text", "elements": [
                {"type": "rich_text_section", "elements": [
                    {"type": "emoji", "name": "warning"}, {"type": "text", "text": " "},
                    {"type": "text", "text": "[MAJOR]", "style": {"bold": true, "code": true}},
                    {"type": "text", "text": " The health-checking has FAILED for the "},
                    {"type": "text", "text": "Acme's", "style": {"italic": true}},
                    {"type": "text", "text": " prod "},
                    {"type": "text", "text": "acme-prod", "style": {"code": true}},
                    {"type": "text", "text": " cluster with the following issue:\n"},
                    {"type": "text", "text": "MAJOR:", "style": {"bold": true}},
                    {"type": "text", "text": " Prometheus is down\n"},
                    {"type": "link", "url": LINK, "text": "View execution"}]}]}]}),
        ];
        for shape in shapes {
            let a = from_message(&shape).unwrap_or_else(|e| panic!("{e}: {shape}"));
            assert_eq!(a.execution_id, "5d1e2f3a-85d1-11f1-ba93-96986d0e24f0", "{shape}");
            assert_eq!(a.cluster.as_deref(), Some("acme-prod"), "{shape}");
            assert_eq!(a.kinds(), vec![AlertKind::PrometheusNotRunning], "{shape}");
        }
    }

    #[test]
    fn reads_issue_lines_behind_bullets_dashes_and_quotes() {
        for prefix in ["• ", "- ", "> ", "&gt; ", "  • "] {
            let text = format!(
                "{HEAD}\n{prefix}*MAJOR:* Prometheus is down\n{prefix}*MINOR:* The cluster uses a stale API key\n{LINK}"
            );
            let a = parse_text(&text).unwrap();
            assert_eq!(a.kinds(), vec![AlertKind::PrometheusNotRunning, AlertKind::AuthStale], "{prefix:?}");
        }
    }

    #[test]
    fn copes_with_an_empty_environment() {
        let text = format!("{}\n*MAJOR:* Prometheus is down\n{LINK}", HEAD.replace(" prod *", "  *"));
        let a = parse_text(&text).unwrap();
        assert_eq!(a.cluster.as_deref(), Some("acme-prod"));
        assert_eq!(a.organization.as_deref(), Some("Acme"));
        assert_eq!(a.environment, None);
    }

    #[test]
    fn a_resolved_notice_is_not_an_alert_but_names_its_cluster() {
        for text in [
            format!(
                ":white_check_mark: *`[RESOLVED]`* The health-checking for the _Acme's_ prod *`acme-prod`* cluster has recovered\n{LINK}"
            ),
            format!(
                ":large_green_circle: The health-checking for the _Acme's_ prod *`acme-prod`* cluster has recovered: all checks pass\n<{LINK}|View>"
            ),
            format!(
                "*`[RESOLVED]`* The health-checking has FAILED for the _Acme's_ prod *`acme-prod`* cluster with the following issue:\n*MAJOR:* Prometheus is down\n{LINK}"
            ),
        ] {
            assert_eq!(parse_text(&text), Err(NotAnAlert::Resolved { cluster: "acme-prod".into() }), "{text}");
        }
        // "has not been resolved" is an alert of its own kind, not a recovery.
        let dns = format!("{HEAD}\n*MAJOR:* The domain acme.example has not been resolved\n{LINK}");
        assert_eq!(parse_text(&dns).unwrap().kinds(), vec![AlertKind::DomainResolution]);
    }
}
