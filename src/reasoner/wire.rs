//! What a model's wire format must provide (`Format`), the turn every wire streams into, and the
//! two wires (`Wire`). The conversation loop (`agent`) holds a `&dyn Format` and never asks
//! which wire it speaks; `anthropic` and `openai` implement it.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use super::anthropic::Anthropic;
use super::openai::OpenAi;
use super::sse::SseEvent;
use crate::secret::Secret;

#[derive(Debug, Error)]
pub enum AgentError {
    #[error("model API: {0}")]
    Api(String),
    #[error("model API unreachable: {0} (check {1})")]
    Unreachable(String, &'static str),
    /// The model was too slow: which limit fired, in words.
    #[error("model API timed out: {0}")]
    TimedOut(String),
    /// The model answered, but not with a reply that can be posted.
    #[error("the model's answer is unusable: {0}")]
    Unusable(String),
}

/// The two wire formats a model is reached by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// `{base}/v1/messages`, SSE with typed events.
    Anthropic,
    /// `{base}/chat/completions` (base ends in `/v1`), SSE of chunks ending with `[DONE]`.
    OpenAi,
}

impl Wire {
    pub fn name(self) -> &'static str {
        self.format().name()
    }

    /// The settings of this wire's endpoint and key (named in the checks' fixes).
    pub fn variables(self) -> (&'static str, &'static str) {
        (self.format().base_variable(), self.format().key_variable())
    }

    /// What differs between the wires, in one place.
    pub(super) fn format(self) -> &'static dyn Format {
        match self {
            Wire::Anthropic => &Anthropic,
            Wire::OpenAi => &OpenAi,
        }
    }
}

/// One wire format: where to send a turn, how, and how to read the answer.
pub(super) trait Format: Sync {
    fn name(&self) -> &'static str;
    /// The variable that sets the base URL (named in "unreachable" errors).
    fn base_variable(&self) -> &'static str;
    /// The variable that holds the key.
    fn key_variable(&self) -> &'static str;
    /// The request URL from the base of interfaces.md.
    fn url(&self, base: &str) -> String;
    /// The URL that lists the models (`GET`), from the same base.
    fn models_url(&self, base: &str) -> String;
    fn body(&self, model: &str, system: &str, messages: &[Value]) -> Value;
    /// Adds the key (and any version header).
    fn authorize(&self, req: reqwest::RequestBuilder, key: Option<&Secret>) -> reqwest::RequestBuilder;
    /// Takes one stream event into the turn.
    fn on_event(&self, turn: &mut Turn, ev: &SseEvent) -> Result<Step, AgentError>;
    /// The assistant message that records the turn in the conversation.
    fn assistant(&self, turn: &Turn) -> Value;
    /// The messages that answer the turn's tool calls.
    fn tool_results(&self, answers: &[Answer]) -> Vec<Value>;
}

/// A tool call the model asked for.
#[derive(Clone, Debug, Default)]
pub(super) struct Call {
    pub id: String,
    pub name: String,
    /// The arguments' JSON text, as streamed.
    pub arguments: String,
}

/// One streamed assistant turn, whatever the wire.
#[derive(Default, Debug)]
pub(super) struct Turn {
    pub text: String,
    /// By the stream's index of the call.
    pub calls: BTreeMap<usize, Call>,
    /// The model asked for tools (`tool_use` / `tool_calls`).
    pub wants_tools: bool,
    pub output_tokens: u64,
    /// The model was cut off (`max_tokens` / `length`): its text is unfinished.
    pub cut_off: bool,
}

/// What a stream event did to the turn.
pub(super) enum Step {
    Go,
    /// Text arrived: shown live.
    Text(String),
    /// The server is overloaded or failed before any content (its message): retry the turn.
    Retry(String),
    Done,
}

/// A tool call's answer for the model: (call id, fenced content, is an error).
pub(super) type Answer = (String, String, bool);
