//! The scripted model: an Anthropic Messages API (`POST /v1/messages`, streaming SSE) that plays
//! a scenario's `llm` turns (scenarios.md) — tool calls, several at once, or the final text —
//! with `{execution_id}` and `{pod:<regex>}` filled from the conversation. Text and tool-input
//! JSON are streamed in small fragments, as the real API does. 529 Overloaded on request.

use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde_json::{Value, json};

use super::scenario::{LlmTurn, Scenario, ToolCallTurn};

pub struct ModelSim {
    key: String,
    scenarios: Vec<Scenario>,
    overloaded: Mutex<usize>,
    requests: Mutex<Vec<Value>>,
}

impl ModelSim {
    pub fn new(key: &str, scenarios: Vec<Scenario>) -> ModelSim {
        ModelSim { key: key.to_string(), scenarios, overloaded: Mutex::new(0), requests: Mutex::default() }
    }

    /// The next `n` requests answer 529 Overloaded with `retry-after: 1`.
    pub fn inject_overloaded(&self, n: usize) {
        *self.overloaded.lock().unwrap_or_else(|p| p.into_inner()) += n;
    }

    /// The request bodies received (the conversation the product sent).
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn script(&self, messages: &[Value]) -> (Vec<LlmTurn>, String) {
        let first = messages.first().map(|m| m["content"].to_string()).unwrap_or_default();
        let id = Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
            .ok()
            .and_then(|re| re.find(&first).map(|m| m.as_str().to_string()))
            .unwrap_or_default();
        let scenario = self.scenarios.iter().find(|s| s.executions.contains_key(&id));
        let turns = scenario.and_then(|s| s.llm.clone()).unwrap_or_else(|| {
            vec![
                LlmTurn::ToolCalls { tool_calls: vec![ToolCallTurn { name: "get_incident_details".into(), input: json!({"execution_id": "{execution_id}"}) }] },
                LlmTurn::Text { text: "*Issue*: scripted model\n*Findings*:\n• The scenario has no model script.\n*Likely root cause*: Inconclusive — needs human: no script\n*Suggested next step*: Read the findings.".into() },
            ]
        });
        (turns, id)
    }
}

/// Fills `{execution_id}` and `{pod:<regex>}` from the conversation.
fn fill(v: &Value, execution_id: &str, conversation: &str) -> Value {
    match v {
        Value::String(s) if s == "{execution_id}" => json!(execution_id),
        Value::String(s) if s.starts_with("{pod:") && s.ends_with('}') => {
            let re = &s[5..s.len() - 1];
            let found = Regex::new(&format!(r"\b(?:{re})[a-z0-9.-]*"))
                .ok()
                .and_then(|r| r.find(conversation).map(|m| m.as_str().to_string()));
            json!(found.unwrap_or_default())
        }
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, execution_id, conversation))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| fill(v, execution_id, conversation)).collect()),
        other => other.clone(),
    }
}

/// Every string of a message's content, as text (not JSON-escaped: `\n` must stay a newline).
fn texts(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|v| texts(v, out)),
        Value::Object(m) => m.values().for_each(|v| texts(v, out)),
        _ => {}
    }
}

fn sse(out: &mut String, event: &str, data: Value) {
    out.push_str(&format!("event: {event}\ndata: {data}\n\n"));
}

fn pieces(text: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

pub(super) async fn messages(
    State(shared): State<std::sync::Arc<super::Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sim = &shared.model;
    let error = |status: StatusCode, kind: &str, message: &str| {
        (status, axum::Json(json!({"type": "error", "error": {"type": kind, "message": message}}))).into_response()
    };
    // The API takes the key as `x-api-key` or as a bearer token (the Python SDK 2.x sends the latter).
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let given = header("x-api-key").or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")));
    if given != Some(sim.key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid x-api-key");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_request_error", "the body must be JSON");
    };
    sim.requests.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
    {
        let mut overloaded = sim.overloaded.lock().unwrap_or_else(|p| p.into_inner());
        if *overloaded > 0 {
            *overloaded -= 1;
            let mut resp = error(
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "overloaded_error",
                "Overloaded",
            );
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return resp;
        }
    }
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let (turns, execution_id) = sim.script(&messages);
    let index = messages.iter().filter(|m| m["role"] == "assistant").count();
    let mut conversation = String::new();
    messages.iter().for_each(|m| texts(&m["content"], &mut conversation));
    let turn = turns.get(index).or_else(|| turns.last()).cloned().unwrap_or(LlmTurn::Text { text: String::new() });

    let mut out = String::new();
    sse(
        &mut out,
        "message_start",
        json!({"type": "message_start", "message": {"id": format!("msg_sim_{index}"), "type": "message",
        "role": "assistant", "model": request["model"], "content": [], "stop_reason": null, "usage": {"input_tokens": conversation.len() / 4, "output_tokens": 1}}}),
    );
    sse(&mut out, "ping", json!({"type": "ping"}));
    let stop = match turn {
        LlmTurn::Text { text } => {
            sse(
                &mut out,
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            );
            for piece in pieces(&text, 7) {
                sse(
                    &mut out,
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                );
            }
            sse(&mut out, "content_block_stop", json!({"type": "content_block_stop", "index": 0}));
            "end_turn"
        }
        LlmTurn::ToolCalls { tool_calls } => {
            for (i, call) in tool_calls.iter().enumerate() {
                let input = fill(&call.input, &execution_id, &conversation);
                sse(
                    &mut out,
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i,
                    "content_block": {"type": "tool_use", "id": format!("toolu_sim_{index}_{i}"), "name": call.name, "input": {}}}),
                );
                for piece in pieces(&input.to_string(), 5) {
                    sse(
                        &mut out,
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    );
                }
                sse(&mut out, "content_block_stop", json!({"type": "content_block_stop", "index": i}));
            }
            "tool_use"
        }
    };
    let output_tokens = out.len() / 40;
    sse(
        &mut out,
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
    );
    sse(&mut out, "message_stop", json!({"type": "message_stop"}));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], out)
        .into_response()
}
