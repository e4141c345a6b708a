//! What a triage concludes: the reply of domain.md §5 before it is rendered for Slack.

use serde::{Deserialize, Serialize};

/// What a triage concludes; rendered into the reply of domain.md §5 by `slack::reply`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// The alert in one line.
    pub issue: String,
    /// Concrete evidence: pod names, numbers, exact log lines (untrusted text, escaped on render).
    pub findings: Vec<String>,
    /// The hypothesis, or `None` for "Inconclusive — needs human".
    pub root_cause: Option<String>,
    /// With an inconclusive result: what a human should check.
    pub check: Option<String>,
    /// One action for the engineer; the tool never executes it.
    pub next_step: String,
    /// How well the evidence supports the root cause (None in drafts made before it existed).
    #[serde(default)]
    pub confidence: Option<Confidence>,
}

/// How well a hypothesis is supported, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Inconclusive,
    /// Consistent evidence, but no single line or event that names the cause.
    Likely,
    /// The cited line or event names the cause.
    Decisive,
}

impl Confidence {
    /// The reply's *Confidence* line.
    pub fn line(self) -> &'static str {
        match self {
            Confidence::Decisive => "decisive: the cited line or event names the cause",
            Confidence::Likely => "likely: the evidence is consistent, but no single line or event names the cause",
            Confidence::Inconclusive => "inconclusive: nothing gathered explains the alert",
        }
    }
}

impl Hypothesis {
    /// The root-cause line as the reply states it.
    pub fn root_cause_line(&self) -> String {
        match (&self.root_cause, &self.check) {
            (Some(cause), _) => cause.clone(),
            (None, Some(check)) => format!("Inconclusive — needs human: {check}"),
            (None, None) => "Inconclusive — needs human".to_string(),
        }
    }
}
