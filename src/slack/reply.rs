//! The triage reply (domain.md §5) as Slack mrkdwn: the plain `text` and Block Kit sections.
//! Untrusted text (alert descriptions, log lines) is escaped so it cannot ping or link anyone.

use serde_json::{Value, json};

use crate::domain::Hypothesis;
use crate::domain::Ts;

/// Slack's limit on one section block's text.
const SECTION_LIMIT: usize = 3000;
/// Slack's limit on a message's text.
const MESSAGE_LIMIT: usize = 40_000;
/// The `event_type` of the metadata every reply of ours carries: a thread holding one is
/// answered (by any instance), and its `post_id` names the very post.
pub const REPLY_EVENT: &str = "oncall_triage_reply";
/// How every reply of ours begins (replies posted before they carried metadata).
const REPLY_PREFIXES: &[&str] = &["*Issue*:", "Triage failed:", "*Re-fire*", "*Updated triage*"];

/// Escapes `&`, `<`, `>`: a log line holding `<!channel>` or `<@U123>` stays inert text.
pub fn escape(untrusted: &str) -> String {
    untrusted.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The reply's text, exactly as posted (within Slack's message limit).
pub fn render(h: &Hypothesis) -> String {
    let mut out = format!("*Issue*: {}\n*Findings*:\n", escape(&h.issue));
    if h.findings.is_empty() {
        out.push_str("• No evidence could be gathered.\n");
    }
    for finding in &h.findings {
        out.push_str(&format!("• {}\n", escape(finding)));
    }
    out.push_str(&format!("*Likely root cause*: {}\n", escape(&h.root_cause_line())));
    if let Some(confidence) = h.confidence {
        out.push_str(&format!("*Confidence*: {}\n", confidence.line()));
    }
    out.push_str(&format!("*Suggested next step*: {}", escape(&h.next_step)));
    clean(out)
}

/// The reply to a re-fire: a link to the first triage's thread and its hypothesis again.
pub fn refire(channel: &str, first_ts: Ts, refires: u32, first_text: &str) -> String {
    let link = format!("https://slack.com/archives/{channel}/p{}", first_ts.to_string().replace('.', ""));
    clean(format!(
        "*Re-fire* (×{}) of the incident triaged in <{link}|this thread>; nothing new was dispatched. Its triage:\n{first_text}",
        refires + 1
    ))
}

/// A failed triage's reply.
pub fn failed(reason: &str) -> String {
    clean(format!("Triage failed: {}", escape(reason)))
}

/// The metadata a post carries: it names the alert and this very post.
pub fn metadata(alert_ts: Ts, post_id: &str) -> Value {
    json!({"event_type": REPLY_EVENT, "event_payload": {"alert_ts": alert_ts.to_string(), "post_id": post_id}})
}

/// The `post_id` of a thread message that is one of our replies, by its metadata.
pub fn post_id(message: &Value) -> Option<&str> {
    let m = message.get("metadata")?;
    (m.get("event_type").and_then(Value::as_str) == Some(REPLY_EVENT))
        .then(|| m.pointer("/event_payload/post_id").and_then(Value::as_str))
        .flatten()
}

/// Whether a thread message is a triage reply (ours or another instance's): by its metadata,
/// or, for a reply from before metadata, by a bot's message starting as ours do.
pub fn is_triage_reply(message: &Value) -> bool {
    if post_id(message).is_some() {
        return true;
    }
    let by_a_bot = message.get("bot_id").and_then(Value::as_str).is_some_and(|b| !b.is_empty());
    let text = message.get("text").and_then(Value::as_str).unwrap_or("");
    by_a_bot && REPLY_PREFIXES.iter().any(|p| text.starts_with(p))
}

/// Redacts a reply: no secret reaches the thread, whatever wrote the text.
fn clean(text: String) -> String {
    crate::redact::redact(&text).into_owned()
}

/// Slack refuses a message whose blocks hold much more than this many characters in all
/// (`msg_blocks_too_long`, observed at about 13,000), though each section may hold 3,000.
pub const BLOCKS_BUDGET: usize = 12_000;

/// A reply as it is posted: its text within Slack's message limit and, when they fit, the same
/// text as blocks (each section, their count and their total within Slack's limits). Every post
/// goes through here, whatever wrote it: playbook, model, re-fire, the operator's edit. What is
/// cut to fit is evidence (the last findings first), never the root cause or the next step.
pub fn fit(text: &str) -> (String, Option<Value>) {
    let text = within(text, MESSAGE_LIMIT);
    let blocks = (text.chars().count() <= BLOCKS_BUDGET).then(|| blocks(&text));
    (text, blocks)
}

/// `text` in at most `limit` characters: findings dropped from the end first, saying how many;
/// only when that is not enough, a cut at the limit that closes what it leaves open.
fn within(text: &str, limit: usize) -> String {
    let length = |s: &str| s.chars().count();
    if length(text) <= limit {
        return text.to_string();
    }
    if let Some(at) = text.rfind("\n*Likely root cause*:") {
        let (head, conclusion) = text.split_at(at);
        let mut lines: Vec<&str> = head.lines().collect();
        let mut cut = 0;
        while lines.len() > 2 && lines.last().is_some_and(|l| l.starts_with("• ")) {
            lines.pop();
            cut += 1;
            let note = format!("• … ({cut} more findings cut to fit a Slack message)");
            let kept = format!("{}\n{note}{conclusion}", lines.join("\n"));
            if length(&kept) <= limit {
                return kept;
            }
        }
    }
    const NOTE: &str = "\n… (trimmed to Slack's message limit)";
    let kept: String = text.chars().take(limit - NOTE.chars().count() - 4).collect();
    // Close an inline code span or a fence the cut left open.
    let fences = kept.matches("```").count();
    let ticks = kept.matches('`').count() - 3 * fences;
    let close = if fences % 2 == 1 {
        "\n```"
    } else if ticks % 2 == 1 {
        "`"
    } else {
        ""
    };
    format!("{kept}{close}{NOTE}")
}

/// Cuts a line into pieces of at most `max` characters; an inline code span cut in two is
/// closed at the end of one piece and reopened at the start of the next.
fn split_line(line: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max {
        return vec![line.to_string()];
    }
    let mut pieces = Vec::new();
    let mut open = false;
    for chunk in chars.chunks(max - 2) {
        let mut piece: String = if open { "`".into() } else { String::new() };
        piece.extend(chunk);
        let ticks = chunk.iter().filter(|c| **c == '`').count();
        if ticks % 2 == 1 {
            open = !open;
        }
        if open {
            piece.push('`');
        }
        pieces.push(piece);
    }
    pieces
}

/// Section blocks holding `text`, none over Slack's limit, split at line ends where possible and
/// never leaving a code span or a ``` fence open across a cut.
pub fn blocks(text: &str) -> Value {
    const FENCE: &str = "```";
    let mut sections: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_fence = false;
    for line in text.lines() {
        for piece in split_line(line, SECTION_LIMIT - 8) {
            let closing = if in_fence { FENCE.len() + 1 } else { 0 };
            if !current.is_empty() && current.chars().count() + 1 + piece.chars().count() + closing > SECTION_LIMIT {
                if in_fence {
                    current.push('\n');
                    current.push_str(FENCE);
                }
                sections.push(std::mem::take(&mut current));
                if in_fence {
                    current.push_str(FENCE);
                }
            }
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&piece);
            if piece.matches(FENCE).count() % 2 == 1 {
                in_fence = !in_fence;
            }
        }
    }
    if !current.is_empty() {
        sections.push(current);
    }
    Value::Array(
        sections.into_iter().map(|s| json!({"type": "section", "text": {"type": "mrkdwn", "text": s}})).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hypothesis() -> Hypothesis {
        Hypothesis {
            issue: "[MAJOR] acme-prod: The Redis instance is at 57%".into(),
            findings: vec!["decider queue 2410".into(), "log line: <!channel> ping & <@U123>".into()],
            root_cause: None,
            check: Some("server logs".into()),
            next_step: "Read the server logs".into(),
            confidence: None,
        }
    }

    #[test]
    fn every_reply_fits_slack_whatever_its_size() {
        for n in [10, 300, 1_000, 5_000, 20_000] {
            let findings = (0..n).map(|i| format!("• finding {i} with `code` in it")).collect::<Vec<_>>().join("\n");
            let text = format!(
                "*Issue*: x\n*Findings*:\n{findings}\n*Likely root cause*: the cause\n*Suggested next step*: the step"
            );
            let (posted, blocks) = fit(&text);
            assert!(posted.chars().count() <= 40_000, "{n} lines");
            match blocks {
                Some(Value::Array(b)) => {
                    let total: usize = b.iter().map(|s| s["text"]["text"].as_str().unwrap().chars().count()).sum();
                    assert!(total <= BLOCKS_BUDGET && b.len() <= 50, "{n} lines: {total} characters of blocks");
                }
                Some(other) => panic!("{other}"),
                None => assert!(posted.chars().count() > BLOCKS_BUDGET, "{n} lines: blocks dropped only when too long"),
            }
            // Evidence goes first: the conclusion is always whole.
            assert!(posted.ends_with("*Likely root cause*: the cause\n*Suggested next step*: the step"), "{n} lines");
            if text.chars().count() <= MESSAGE_LIMIT {
                assert_eq!(posted, text, "nothing cut from a reply that fits");
            }
        }
    }

    #[test]
    fn renders_the_domain_format() {
        let text = render(&hypothesis());
        assert_eq!(
            text,
            "*Issue*: [MAJOR] acme-prod: The Redis instance is at 57%\n*Findings*:\n• decider queue 2410\n\
             • log line: &lt;!channel&gt; ping &amp; &lt;@U123&gt;\n\
             *Likely root cause*: Inconclusive — needs human: server logs\n*Suggested next step*: Read the server logs"
        );
        let rated = Hypothesis { confidence: Some(crate::domain::Confidence::Inconclusive), ..hypothesis() };
        assert!(
            render(&rated).contains(
                "server logs\n*Confidence*: inconclusive: nothing gathered explains the alert\n*Suggested next step*:"
            ),
            "{}",
            render(&rated)
        );
    }

    #[test]
    fn blocks_respect_the_section_limit_and_keep_every_line() {
        let long: Vec<String> = (0..200).map(|i| format!("line {i} {}", "x".repeat(40))).collect();
        let text = long.join("\n");
        let blocks = blocks(&text);
        let sections: Vec<&str> =
            blocks.as_array().unwrap().iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
        assert!(sections.len() > 1);
        assert!(sections.iter().all(|s| s.chars().count() <= SECTION_LIMIT));
        assert_eq!(sections.join("\n"), text);
    }

    fn sections(v: &Value) -> Vec<String> {
        v.as_array().unwrap().iter().map(|b| b["text"]["text"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn a_cut_never_leaves_a_code_span_or_fence_open() {
        let line = format!("log: `{}` end", "x".repeat(7000));
        for s in sections(&blocks(&line)) {
            assert!(s.chars().count() <= SECTION_LIMIT);
            assert_eq!(s.matches('`').count() % 2, 0, "{}", &s[..40]);
        }
        let fenced =
            format!("before\n```\n{}\n```\nafter", vec!["java.lang.OutOfMemoryError: Java heap space"; 300].join("\n"));
        let parts = sections(&blocks(&fenced));
        assert!(parts.len() > 1);
        for s in &parts {
            assert!(s.chars().count() <= SECTION_LIMIT);
            assert_eq!(s.matches("```").count() % 2, 0);
        }
    }

    #[test]
    fn long_replies_are_trimmed_to_the_message_limit_and_say_so() {
        // A reply: its evidence goes, its conclusion stays.
        let mut h = hypothesis();
        h.findings = vec!["a short one".into(), format!("`{}`", "y".repeat(50_000))];
        let (text, blocks) = fit(&render(&h));
        assert!(text.chars().count() <= MESSAGE_LIMIT && blocks.is_some());
        assert!(text.contains("• a short one\n• … (1 more findings cut to fit a Slack message)\n*Likely root cause*"));
        assert!(text.ends_with("*Suggested next step*: Read the server logs"));
        // Any other text (an operator's edit): cut at the limit, nothing left open.
        let (text, blocks) = fit(&format!("`{}`", "y".repeat(50_000)));
        assert!(text.chars().count() <= MESSAGE_LIMIT && blocks.is_none());
        assert!(text.ends_with("(trimmed to Slack's message limit)"));
        assert_eq!(text.matches('`').count() % 2, 0);
    }

    #[test]
    fn recognises_triage_replies_of_any_instance() {
        let ours = serde_json::json!({"bot_id": "B1", "text": "*Issue*: x"});
        let failed = serde_json::json!({"bot_id": "B2", "text": "Triage failed: y"});
        let person = serde_json::json!({"user": "U1", "text": "*Issue*: copied by hand"});
        let chatter = serde_json::json!({"bot_id": "B1", "text": "something else"});
        assert!(is_triage_reply(&ours) && is_triage_reply(&failed));
        assert!(!is_triage_reply(&person) && !is_triage_reply(&chatter));
        let r = refire("C1", Ts::parse("1764400000.000100").unwrap(), 2, "*Issue*: x");
        assert!(r.starts_with(
            "*Re-fire* (×3) of the incident triaged in <https://slack.com/archives/C1/p1764400000000100|this thread>"
        ));
    }
}
