//! The triage reply (domain.md §5) as Slack mrkdwn: the plain `text` and Block Kit sections.
//! Untrusted text (alert descriptions, log lines) is escaped so it cannot ping or link anyone.

use serde_json::{Value, json};

use crate::reasoner::Hypothesis;

/// Slack's limit on one section block's text.
const SECTION_LIMIT: usize = 3000;

/// Escapes `&`, `<`, `>`: a log line holding `<!channel>` or `<@U123>` stays inert text.
pub fn escape(untrusted: &str) -> String {
    untrusted
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The reply's text, exactly as posted.
pub fn render(h: &Hypothesis) -> String {
    let mut out = format!("*Issue*: {}\n*Findings*:\n", escape(&h.issue));
    if h.findings.is_empty() {
        out.push_str("• No evidence could be gathered.\n");
    }
    for finding in &h.findings {
        out.push_str(&format!("• {}\n", escape(finding)));
    }
    out.push_str(&format!(
        "*Likely root cause*: {}\n",
        escape(&h.root_cause_line())
    ));
    out.push_str(&format!("*Suggested next step*: {}", escape(&h.next_step)));
    out
}

/// Section blocks holding `text`, split at line ends so no block exceeds Slack's limit.
pub fn blocks(text: &str) -> Value {
    let mut sections: Vec<String> = vec![String::new()];
    for line in text.lines() {
        let line: String = line.chars().take(SECTION_LIMIT - 1).collect();
        let current = sections.last_mut().expect("never empty");
        if !current.is_empty() && current.chars().count() + line.chars().count() + 1 > SECTION_LIMIT
        {
            sections.push(line);
        } else {
            if !current.is_empty() {
                current.push('\n');
            }
            current.push_str(&line);
        }
    }
    Value::Array(
        sections
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| json!({"type": "section", "text": {"type": "mrkdwn", "text": s}}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hypothesis() -> Hypothesis {
        Hypothesis {
            issue: "[MAJOR] acme-prod: The Redis instance is at 57%".into(),
            findings: vec![
                "decider queue 2410".into(),
                "log line: <!channel> ping & <@U123>".into(),
            ],
            root_cause: None,
            check: Some("server logs".into()),
            next_step: "Read the server logs".into(),
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
    }

    #[test]
    fn blocks_respect_the_section_limit_and_keep_every_line() {
        let long: Vec<String> = (0..200)
            .map(|i| format!("line {i} {}", "x".repeat(40)))
            .collect();
        let text = long.join("\n");
        let blocks = blocks(&text);
        let sections: Vec<&str> = blocks
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap())
            .collect();
        assert!(sections.len() > 1);
        assert!(sections.iter().all(|s| s.chars().count() <= SECTION_LIMIT));
        assert_eq!(sections.join("\n"), text);
    }
}
