//! The Anthropic Messages API wire format: the request body, the typed SSE events
//! (message_start, content_block_start/delta/stop with text_delta and input_json_delta,
//! message_delta with stop_reason, message_stop, ping, error) and the tool_use → tool_result
//! message shapes. The conversation loop is `agent`'s.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::wire::{AgentError, Answer, Call, Format, Step, Turn};
use crate::secret::Secret;
use crate::tools::Tool;

pub(super) struct Anthropic;

impl Format for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn base_variable(&self) -> &'static str {
        "ANTHROPIC_BASE_URL"
    }

    fn key_variable(&self) -> &'static str {
        "ANTHROPIC_API_KEY"
    }

    fn url(&self, base: &str) -> String {
        format!("{base}/v1/messages")
    }

    fn models_url(&self, base: &str) -> String {
        format!("{base}/v1/models")
    }

    fn body(&self, model: &str, system: &str, messages: &[Value]) -> Value {
        let tools: Vec<Value> = Tool::ALL
            .iter()
            .map(|t| json!({"name": t.name(), "description": t.description(), "input_schema": t.input_schema()}))
            .collect();
        json!({"model": model, "max_tokens": 2048, "system": system, "stream": true, "tools": tools, "messages": messages})
    }

    fn authorize(&self, req: reqwest::RequestBuilder, key: Option<&Secret>) -> reqwest::RequestBuilder {
        let req = req.header("anthropic-version", API_VERSION);
        match key {
            Some(key) => req.header("x-api-key", key.expose()),
            None => req,
        }
    }

    fn on_event(&self, turn: &mut Turn, ev: &SseEvent) -> Result<Step, AgentError> {
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
        Ok(match data.get("type").and_then(Value::as_str).unwrap_or(&ev.event) {
            "content_block_start" => {
                let block = &data["content_block"];
                if block["type"] == "tool_use" {
                    let text = |k: &str| block[k].as_str().unwrap_or("").to_string();
                    turn.calls.insert(index, Call { id: text("id"), name: text("name"), arguments: String::new() });
                }
                Step::Go
            }
            "content_block_delta" => {
                let delta = &data["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => {
                        let text = delta["text"].as_str().unwrap_or("");
                        turn.text.push_str(text);
                        Step::Text(text.to_string())
                    }
                    Some("input_json_delta") => {
                        if let Some(call) = turn.calls.get_mut(&index) {
                            call.arguments.push_str(delta["partial_json"].as_str().unwrap_or(""));
                        }
                        Step::Go
                    }
                    _ => Step::Go,
                }
            }
            "message_delta" => {
                let stop = data.pointer("/delta/stop_reason").and_then(Value::as_str);
                turn.wants_tools = stop == Some("tool_use");
                turn.cut_off = stop == Some("max_tokens");
                turn.output_tokens = data.pointer("/usage/output_tokens").and_then(Value::as_u64).unwrap_or(0);
                Step::Go
            }
            "message_stop" => Step::Done,
            "error" => {
                let kind = data.pointer("/error/type").and_then(Value::as_str).unwrap_or("");
                if matches!(kind, "overloaded_error" | "rate_limit_error" | "api_error")
                    && turn.text.is_empty()
                    && turn.calls.is_empty()
                {
                    return Ok(Step::Retry(kind.to_string()));
                }
                return Err(AgentError::Api(format!("stream error: {kind}")));
            }
            _ => Step::Go,
        })
    }

    fn assistant(&self, turn: &Turn) -> Value {
        let mut blocks = Vec::new();
        if !turn.text.is_empty() {
            blocks.push(json!({"type": "text", "text": turn.text}));
        }
        for call in turn.calls.values() {
            let input: Value = serde_json::from_str(&call.arguments).unwrap_or(json!({}));
            blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
        }
        json!({"role": "assistant", "content": blocks})
    }

    /// All of a turn's answers in one user message.
    fn tool_results(&self, answers: &[Answer]) -> Vec<Value> {
        let content: Vec<Value> = answers
            .iter()
            .map(|(id, content, error)| json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": error}))
            .collect();
        vec![json!({"role": "user", "content": content})]
    }
}

pub const API_VERSION: &str = "2023-06-01";
