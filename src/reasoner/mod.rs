//! Reasoning from evidence to a root-cause hypothesis: the playbook engine (no model), or a model
//! agent (Anthropic or OpenAI-compatible wire) driving the same tools to the same `Hypothesis`.

pub mod agent;
mod anthropic;
mod guide;
mod openai;
pub mod playbook;
pub mod sse;

use serde::{Deserialize, Serialize};

/// Who reasons: the playbook engine (no model), or a model driving the same tools.
pub enum Reasoner {
    Playbook,
    Model(agent::ModelAgent),
}

impl Reasoner {
    pub fn name(&self) -> &'static str {
        match self {
            Reasoner::Playbook => "playbook",
            Reasoner::Model(agent) => agent.wire().name(),
        }
    }
}

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
