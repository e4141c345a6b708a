//! The scripted model: plays a scenario's `llm` turns (scenarios.md) — tool calls, several at
//! once, or the final text — with `{execution_id}` and `{pod:<regex>}` filled from the
//! conversation, on both wire formats: the Anthropic Messages API (`POST /v1/messages`) and
//! OpenAI chat completions (`POST /v1/chat/completions`), streamed or whole. Text and tool
//! arguments stream in small fragments, as the real APIs do. Overloads on request (Anthropic 529,
//! OpenAI 503, both with retry-after). A scenario without a script gets the default one: ask for
//! `get_incident_details`, then answer from the scenario's own data (its execution's failure
//! and its description): the simulator never runs the code under test.

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
    /// The next answers are HTTP 500 with this message (a server that cannot read the request).
    failing: Mutex<Option<String>>,
    /// Every answer waits this long first (a slow or stuck model).
    delay: Mutex<std::time::Duration>,
    requests: Mutex<Vec<Value>>,
}

impl ModelSim {
    pub fn new(key: &str, scenarios: Vec<Scenario>) -> ModelSim {
        ModelSim {
            key: key.to_string(),
            scenarios,
            overloaded: Mutex::new(0),
            failing: Mutex::default(),
            delay: Mutex::default(),
            requests: Mutex::default(),
        }
    }

    /// The next `n` requests answer 529 Overloaded with `retry-after: 1`.
    pub fn inject_overloaded(&self, n: usize) {
        *self.overloaded.lock().unwrap_or_else(|p| p.into_inner()) += n;
    }

    /// From now on every request is answered HTTP 500 with `message`, as each API words it.
    pub fn fail_with(&self, message: &str) {
        *self.failing.lock().unwrap_or_else(|p| p.into_inner()) = Some(message.to_string());
    }

    /// From now on every answer waits `delay` before it starts (a model too slow for its turn).
    pub fn slow_down(&self, delay: std::time::Duration) {
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) = delay;
    }

    /// The request bodies received (the conversation the product sent).
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key as `x-api-key` or a bearer token (the Anthropic SDK 2.x sends the latter; OpenAI
    /// clients always do).
    fn key_matches(&self, headers: &HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let given = header("x-api-key").or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")));
        given == Some(self.key.as_str())
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
                LlmTurn::ToolCalls {
                    tool_calls: vec![ToolCallTurn {
                        name: "get_incident_details".into(),
                        input: json!({"execution_id": "{execution_id}"}),
                        raw_arguments: None,
                    }],
                },
                LlmTurn::Text { text: default_answer(scenario, &id), cut_off: false, fail_midway: false },
            ]
        });
        (turns, id)
    }
}

/// The default script's answer, written from the scenario's own data: its execution's
/// `reasonForIncompletion` as the finding and its description as the cause. (The simulator
/// never runs the product's code to answer.)
fn default_answer(scenario: Option<&Scenario>, execution_id: &str) -> String {
    let Some(s) = scenario else {
        return "*Issue*: an execution no scenario knows\n*Findings*:\n• The scripted model has no scenario for this execution.\n*Likely root cause*: Inconclusive — needs human: no scenario\n*Suggested next step*: Read the findings.".into();
    };
    let reason = s.executions.get(execution_id).and_then(|e| e["reasonForIncompletion"].as_str()).unwrap_or("");
    let finding = reason.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("the health check failed");
    format!(
        "*Issue*: {} (scenario {})\n*Findings*:\n• {finding}\n*Likely root cause*: {}\n*Suggested next step*: Confirm the cause in the cluster.",
        s.name, s.name, s.description
    )
}

/// The models the scripted model answers as (any name works for a turn; these are listed).
pub const MODELS: [&str; 3] = ["claude-sonnet-4-6", "claude-haiku-4-5", "sim-model"];

/// `GET /v1/models` in the shape of the wire asked: Anthropic's page (`data`, `has_more`,
/// `first_id`, `last_id`; told apart by its `anthropic-version` header) or OpenAI's list. A
/// wrong key is refused as each API refuses it.
pub(super) async fn list_models(State(shared): State<std::sync::Arc<super::Shared>>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    if !shared.model.key_matches(&headers) {
        let body = if anthropic {
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        } else {
            json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
        };
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let body = if anthropic {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|id| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-10-01T00:00:00Z"}))
            .collect();
        json!({"data": data, "has_more": false, "first_id": MODELS.first(), "last_id": MODELS.last()})
    } else {
        let data: Vec<Value> = MODELS
            .iter()
            .map(|id| json!({"id": id, "object": "model", "created": 1_759_276_800, "owned_by": "sim"}))
            .collect();
        json!({"object": "list", "data": data})
    };
    (StatusCode::OK, axum::Json(body)).into_response()
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

/// What both wire formats share: the key, the JSON body, the record, the injected overloads, and
/// the scenario's next turn (by the number of assistant messages so far), its inputs filled.
enum Scripted {
    Refused(Response),
    Turn { request: Value, index: usize, turn: LlmTurn },
}

/// The key as `x-api-key` or a bearer token (the Anthropic SDK 2.x sends the latter; OpenAI
/// clients always do).
async fn next_turn(
    sim: &ModelSim,
    headers: &HeaderMap,
    body: &[u8],
    error: impl Fn(StatusCode, &str, &str) -> Response,
    overloaded: (u16, &str, &str),
) -> Scripted {
    if !sim.key_matches(headers) {
        return Scripted::Refused(error(StatusCode::UNAUTHORIZED, "authentication_error", "invalid API key"));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Scripted::Refused(error(StatusCode::BAD_REQUEST, "invalid_request_error", "the body must be JSON"));
    };
    sim.requests.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
    let delay = *sim.delay.lock().unwrap_or_else(|p| p.into_inner());
    tokio::time::sleep(delay).await;
    if let Some(message) = sim.failing.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        return Scripted::Refused(error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", &message));
    }
    {
        let mut left = sim.overloaded.lock().unwrap_or_else(|p| p.into_inner());
        if *left > 0 {
            *left -= 1;
            let (status, kind, message) = overloaded;
            let mut resp =
                error(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE), kind, message);
            resp.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return Scripted::Refused(resp);
        }
    }
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let first_user = messages.iter().find(|m| m["role"] == "user").cloned().unwrap_or(Value::Null);
    let (turns, execution_id) = sim.script(std::slice::from_ref(&first_user));
    let index = messages.iter().filter(|m| m["role"] == "assistant").count();
    let mut conversation = String::new();
    messages.iter().for_each(|m| texts(m, &mut conversation));
    let turn = match turns.get(index).or_else(|| turns.last()).cloned() {
        Some(LlmTurn::ToolCalls { tool_calls }) => LlmTurn::ToolCalls {
            tool_calls: tool_calls
                .into_iter()
                .map(|c| ToolCallTurn { input: fill(&c.input, &execution_id, &conversation), ..c })
                .collect(),
        },
        Some(text) => text,
        None => LlmTurn::Text { text: String::new(), cut_off: false, fail_midway: false },
    };
    Scripted::Turn { request, index, turn }
}

/// Whether the turn's stream breaks off with an error halfway (a scripted misbehaviour).
fn fails_midway(turn: &LlmTurn) -> bool {
    matches!(turn, LlmTurn::Text { fail_midway: true, .. })
}

fn event_stream(out: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], out)
        .into_response()
}

/// `POST /v1/messages`: the Anthropic Messages API, streamed or whole.
pub(super) async fn messages(
    State(shared): State<std::sync::Arc<super::Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = |status: StatusCode, kind: &str, message: &str| {
        (status, axum::Json(json!({"type": "error", "error": {"type": kind, "message": message}}))).into_response()
    };
    let (request, index, turn) =
        match next_turn(&shared.model, &headers, &body, error, (529, "overloaded_error", "Overloaded")).await {
            Scripted::Refused(resp) => return resp,
            Scripted::Turn { request, index, turn } => (request, index, turn),
        };
    let (content, stop) = match &turn {
        LlmTurn::Text { text, cut_off, .. } => {
            (vec![json!({"type": "text", "text": text})], if *cut_off { "max_tokens" } else { "end_turn" })
        }
        LlmTurn::ToolCalls { tool_calls } => (
            tool_calls
                .iter()
                .enumerate()
                .map(|(i, c)| json!({"type": "tool_use", "id": format!("toolu_sim_{index}_{i}"), "name": c.name, "input": c.input}))
                .collect(),
            "tool_use",
        ),
    };
    // Arguments as streamed: the input's JSON, or the misbehaving raw text.
    let raw: Vec<Option<String>> = match &turn {
        LlmTurn::ToolCalls { tool_calls } => tool_calls.iter().map(|c| c.raw_arguments.clone()).collect(),
        LlmTurn::Text { .. } => Vec::new(),
    };
    let input_tokens = request["messages"].to_string().len() / 4;
    let output_tokens = content.iter().map(|c| c.to_string().len()).sum::<usize>() / 4;
    let message = json!({"id": format!("msg_sim_{index}"), "type": "message", "role": "assistant", "model": request["model"],
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input_tokens, "output_tokens": 1}});
    if request["stream"] != true {
        let mut whole = message;
        whole["content"] = json!(content);
        whole["stop_reason"] = json!(stop);
        whole["usage"]["output_tokens"] = json!(output_tokens);
        return (StatusCode::OK, axum::Json(whole)).into_response();
    }
    let mut out = String::new();
    sse(&mut out, "message_start", json!({"type": "message_start", "message": message}));
    sse(&mut out, "ping", json!({"type": "ping"}));
    for (i, block) in content.iter().enumerate() {
        let start = if block["type"] == "text" {
            json!({"type": "text", "text": ""})
        } else {
            json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}})
        };
        sse(
            &mut out,
            "content_block_start",
            json!({"type": "content_block_start", "index": i, "content_block": start}),
        );
        let deltas: Vec<Value> = match block["text"].as_str() {
            Some(text) => pieces(text, 7).into_iter().map(|p| json!({"type": "text_delta", "text": p})).collect(),
            None => pieces(raw.get(i).cloned().flatten().as_deref().unwrap_or(&block["input"].to_string()), 5)
                .into_iter()
                .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                .collect(),
        };
        let midway = fails_midway(&turn).then_some(deltas.len() / 2);
        for (n, delta) in deltas.into_iter().enumerate() {
            if midway == Some(n) {
                let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
                sse(&mut out, "error", error);
                return event_stream(out);
            }
            sse(&mut out, "content_block_delta", json!({"type": "content_block_delta", "index": i, "delta": delta}));
        }
        sse(&mut out, "content_block_stop", json!({"type": "content_block_stop", "index": i}));
    }
    sse(
        &mut out,
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output_tokens}}),
    );
    sse(&mut out, "message_stop", json!({"type": "message_stop"}));
    event_stream(out)
}

/// `POST /v1/chat/completions`: the OpenAI chat completions API, streamed (chunks, an optional
/// usage chunk, `[DONE]`) or whole.
pub(super) async fn chat_completions(
    State(shared): State<std::sync::Arc<super::Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error = |status: StatusCode, kind: &str, message: &str| {
        (status, axum::Json(json!({"error": {"message": message, "type": kind, "param": null, "code": null}})))
            .into_response()
    };
    let (request, index, turn) = match next_turn(
        &shared.model,
        &headers,
        &body,
        error,
        (503, "server_error", "The server is overloaded or not ready yet."),
    )
    .await
    {
        Scripted::Refused(resp) => return resp,
        Scripted::Turn { request, index, turn } => (request, index, turn),
    };
    let id = format!("chatcmpl-sim-{index}");
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (text, calls, finish) = match &turn {
        LlmTurn::Text { text, cut_off, .. } => {
            (Some(text.clone()), Vec::new(), if *cut_off { "length" } else { "stop" })
        }
        LlmTurn::ToolCalls { tool_calls } => (
            None,
            tool_calls
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let arguments = c.raw_arguments.clone().unwrap_or_else(|| c.input.to_string());
                    json!({"id": format!("call_sim_{index}_{i}"), "type": "function",
                    "function": {"name": c.name, "arguments": arguments}})
                })
                .collect::<Vec<Value>>(),
            "tool_calls",
        ),
    };
    let prompt_tokens = request["messages"].to_string().len() / 4;
    let completion_tokens = (text.as_deref().map_or(0, str::len) + json!(calls).to_string().len()) / 4;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens});
    let chunk = |choices: Value| json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": request["model"], "choices": choices});
    if request["stream"] != true {
        let mut message = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            message["tool_calls"] = json!(calls);
        }
        return (
            StatusCode::OK,
            axum::Json(json!({"id": id, "object": "chat.completion", "created": created, "model": request["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage})),
        )
            .into_response();
    }
    let mut out = String::new();
    let mut data = |v: Value| out.push_str(&format!("data: {v}\n\n"));
    data(chunk(json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}])));
    let text_pieces = text.as_deref().map(|t| pieces(t, 7)).unwrap_or_default();
    let midway = fails_midway(&turn).then_some(text_pieces.len() / 2);
    for (n, piece) in text_pieces.into_iter().enumerate() {
        if midway == Some(n) {
            data(
                json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
            );
            return event_stream(out);
        }
        data(chunk(json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}])));
    }
    for (i, call) in calls.iter().enumerate() {
        let head = json!({"index": i, "id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}});
        data(chunk(json!([{"index": 0, "delta": {"tool_calls": [head]}, "finish_reason": null}])));
        for piece in pieces(call["function"]["arguments"].as_str().unwrap_or(""), 5) {
            let fragment = json!({"index": i, "function": {"arguments": piece}});
            data(chunk(json!([{"index": 0, "delta": {"tool_calls": [fragment]}, "finish_reason": null}])));
        }
    }
    data(chunk(json!([{"index": 0, "delta": {}, "finish_reason": finish}])));
    if request.pointer("/stream_options/include_usage") == Some(&json!(true)) {
        let mut last = chunk(json!([]));
        last["usage"] = usage;
        data(last);
    }
    out.push_str("data: [DONE]\n\n");
    event_stream(out)
}
