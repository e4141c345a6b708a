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
