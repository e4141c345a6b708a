//! The OpenAI-compatible chat completions wire format (OpenAI, vLLM, llama.cpp server, Ollama):
//! the request body with function tools, the streamed chunks (`choices[0].delta` with `content`
//! and `tool_calls` fragments keyed by index, `finish_reason`, a usage chunk, `[DONE]`, and the
//! `error` object some servers put in the stream) and the tool message shapes. The conversation
//! loop is `agent`'s.

use serde_json::{Value, json};

use super::sse::SseEvent;
use super::wire::{AgentError, Answer, Format, Step, Turn};
use crate::secret::Secret;
use crate::tools::Tool;

pub(super) struct OpenAi;

impl Format for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn base_variable(&self) -> &'static str {
        "OPENAI_BASE_URL"
    }

    fn key_variable(&self) -> &'static str {
        "OPENAI_API_KEY"
    }

    fn url(&self, base: &str) -> String {
        format!("{base}/chat/completions")
    }

    fn models_url(&self, base: &str) -> String {
        format!("{base}/models")
    }

    fn body(&self, model: &str, system: &str, messages: &[Value]) -> Value {
        let tools: Vec<Value> = Tool::ALL
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {"name": t.name(), "description": t.description(), "parameters": t.input_schema()}})
            })
            .collect();
        let mut all = vec![json!({"role": "system", "content": system})];
        all.extend_from_slice(messages);
        json!({"model": model, "max_tokens": 2048, "stream": true, "stream_options": {"include_usage": true},
               "tools": tools, "parallel_tool_calls": true, "messages": all})
    }

    fn authorize(&self, req: reqwest::RequestBuilder, key: Option<&Secret>) -> reqwest::RequestBuilder {
        match key {
            Some(key) => req.bearer_auth(key.expose()),
            None => req,
        }
    }

    fn on_event(&self, turn: &mut Turn, ev: &SseEvent) -> Result<Step, AgentError> {
        if ev.data.trim() == "[DONE]" {
            return Ok(Step::Done);
        }
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        if let Some(error) = data.get("error") {
            let message = error.get("message").and_then(Value::as_str).unwrap_or("error");
            if turn.text.is_empty() && turn.calls.is_empty() {
                return Ok(Step::Retry(message.to_string()));
            }
            return Err(AgentError::Api(format!("stream error: {}", crate::redact::redact(message))));
        }
        if let Some(tokens) = data.pointer("/usage/completion_tokens").and_then(Value::as_u64) {
            turn.output_tokens = tokens;
        }
        let Some(choice) = data.pointer("/choices/0") else { return Ok(Step::Go) };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            turn.wants_tools = reason == "tool_calls";
            turn.cut_off = reason == "length";
        }
        let delta = &choice["delta"];
        for fragment in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = fragment["index"].as_u64().unwrap_or(0) as usize;
            let call = turn.calls.entry(index).or_default();
            if let Some(id) = fragment["id"].as_str() {
                call.id = id.to_string();
            }
            if let Some(name) = fragment.pointer("/function/name").and_then(Value::as_str) {
                call.name.push_str(name);
            }
            if let Some(args) = fragment.pointer("/function/arguments").and_then(Value::as_str) {
                call.arguments.push_str(args);
            }
        }
        // Some servers end a tool turn with finish_reason "stop"; the calls decide.
        if !turn.calls.is_empty() && choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
            turn.wants_tools = true;
        }
        match delta["content"].as_str().filter(|t| !t.is_empty()) {
            Some(text) => {
                turn.text.push_str(text);
                Ok(Step::Text(text.to_string()))
            }
            None => Ok(Step::Go),
        }
    }

    fn assistant(&self, turn: &Turn) -> Value {
        let calls: Vec<Value> = turn
            .calls
            .values()
            .map(|c| {
                // Arguments that do not parse go back as `{}` (the call got a tool error): a
                // server would refuse every later request over them.
                let arguments =
                    if serde_json::from_str::<Value>(&c.arguments).is_ok() { c.arguments.as_str() } else { "{}" };
                json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": arguments}})
            })
            .collect();
        let content = if turn.text.is_empty() { Value::Null } else { json!(turn.text) };
        if calls.is_empty() {
            json!({"role": "assistant", "content": content})
        } else {
            json!({"role": "assistant", "content": content, "tool_calls": calls})
        }
    }

    /// One `tool` message per answer; the format has no error flag, so an error says so first.
    fn tool_results(&self, answers: &[Answer]) -> Vec<Value> {
        answers
            .iter()
            .map(|(id, content, error)| {
                let content = if *error && !content.starts_with("tool error") {
                    format!("tool error:\n{content}")
                } else {
                    content.clone()
                };
                json!({"role": "tool", "tool_call_id": id, "content": content})
            })
            .collect()
    }
}
