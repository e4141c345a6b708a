//! Reasoning from evidence to a root-cause hypothesis: the playbook engine (no model), or a model
//! agent (Anthropic or OpenAI-compatible wire) driving the same tools to the same `Hypothesis`.

pub mod agent;
mod anthropic;
mod evidence;
mod guide;
mod openai;
pub mod playbook;
pub mod sse;
mod wire;

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
