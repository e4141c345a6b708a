//! The simulated Slack Web API (domain.md §6): auth.test, conversations.history and .replies
//! (oldest/latest/inclusive/limit/cursor paging, newest first), chat.postMessage (replies land
//! in the thread), reactions.add/.get (`already_reacted`). Parameters may come as a query string,
//! a form or a JSON body, as Slack accepts. Message metadata is kept and returned only with
//! `include_all_metadata`. Blocks over Slack's total answer `msg_blocks_too_long`. Faults only
//! when a test asks: injected 429s with `Retry-After`, a per-method budget per time window,
//! errors before the work, or after it (the post stored, the reaction added, then an error).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::RequestRecord;
use crate::domain::Ts;

/// The identity behind the simulator's bot token.
pub const BOT_USER_ID: &str = "U0TRIAGEBOT";
pub const BOT_ID: &str = "B0TRIAGEBOT";
pub const TEAM_ID: &str = "T0SIMTEAM";

const MAX_TEXT: usize = 40_000;
/// The scopes an installed oncall-triage app holds (deploy/slack-app-manifest.yaml).
const SCOPES: &str =
    "channels:history,channels:read,groups:history,groups:read,chat:write,reactions:read,reactions:write";
/// The characters all of a message's blocks may hold, as Slack answers `msg_blocks_too_long`.
const MAX_BLOCKS_TEXT: usize = 13_200;
const MAX_SECTION_TEXT: usize = 3_000;
const MAX_BLOCKS: usize = 50;

#[derive(Clone, Debug)]
enum Fault {
    RateLimited { retry_after_secs: u64 },
    Error(String),
    ServerError,
}

/// The answer a fault gives instead of the method's.
fn answer(fault: Fault) -> (StatusCode, Option<u64>, Value) {
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(retry_after_secs), fail("ratelimited"))
        }
        Fault::Error(e) => (StatusCode::OK, None, fail(&e)),
        Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, None, fail("internal_error")),
    }
}

struct Budget {
    limit: u32,
    window: Duration,
    started: Instant,
    used: u32,
}

/// A message the product posted, as a test sees it.
#[derive(Clone, Debug)]
pub struct Post {
    pub ts: Ts,
    pub thread_ts: Option<Ts>,
    pub text: String,
    pub blocks: Value,
}

struct ChannelState {
    top_level: BTreeMap<Ts, Value>,
    /// Thread parent → its replies, oldest first.
    replies: BTreeMap<Ts, Vec<Value>>,
    last_ts: Ts,
    posts: Vec<Post>,
    faults: HashMap<String, VecDeque<Fault>>,
    /// Faults answered after the work is done (the post stored, then an error).
    after_work: HashMap<String, VecDeque<Fault>>,
    budgets: HashMap<String, Budget>,
    requests: Vec<RequestRecord>,
    /// The scopes the token was granted (sent as `x-oauth-scopes` on every answer).
    scopes: String,
    /// Whether the bot is a member of the channel.
    member: bool,
}

pub struct SlackSim {
    channel: String,
    token: String,
    state: Mutex<ChannelState>,
}

type Params = Map<String, Value>;

impl SlackSim {
    /// A channel holding `messages` (oldest first; replies go into their threads).
    pub fn new(channel: &str, token: &str, messages: Vec<Value>) -> SlackSim {
        let mut top_level = BTreeMap::new();
        let mut replies: BTreeMap<Ts, Vec<Value>> = BTreeMap::new();
        let mut last_ts = Ts::from_micros(0);
        for mut m in messages {
            let Some(ts) = m.get("ts").and_then(Value::as_str).and_then(Ts::parse) else {
                continue;
            };
            last_ts = last_ts.max(ts);
            if m.get("type").is_none() {
                m["type"] = json!("message");
            }
            let parent = m.get("thread_ts").and_then(Value::as_str).and_then(Ts::parse).filter(|p| *p != ts);
            match parent {
                Some(p) => replies.entry(p).or_default().push(m),
                None => {
                    top_level.insert(ts, m);
                }
            }
        }
        let sim = SlackSim {
            channel: channel.to_string(),
            token: token.to_string(),
            state: Mutex::new(ChannelState {
                top_level,
                replies,
                last_ts,
                posts: Vec::new(),
                faults: HashMap::new(),
                after_work: HashMap::new(),
                scopes: SCOPES.to_string(),
                member: true,
                budgets: HashMap::new(),
                requests: Vec::new(),
            }),
        };
        let parents: Vec<Ts> = sim.lock().replies.keys().copied().collect();
        for p in parents {
            sim.refresh_thread_summary(&mut sim.lock(), p);
        }
        sim
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The next `n` calls of `method` answer HTTP 429 with `Retry-After: retry_after_secs`.
    pub fn inject_rate_limit(&self, method: &str, n: usize, retry_after_secs: u64) {
        let mut st = self.lock();
        let q = st.faults.entry(method.to_string()).or_default();
        q.extend(std::iter::repeat_n(Fault::RateLimited { retry_after_secs }, n));
    }

    /// The next `n` calls of `method` answer `{"ok": false, "error": error}`.
    pub fn inject_error(&self, method: &str, error: &str, n: usize) {
        let mut st = self.lock();
        let q = st.faults.entry(method.to_string()).or_default();
        q.extend(std::iter::repeat_n(Fault::Error(error.to_string()), n));
    }

    /// The next `n` calls of `method` answer HTTP 500.
    pub fn inject_server_error(&self, method: &str, n: usize) {
        let mut st = self.lock();
        st.faults.entry(method.to_string()).or_default().extend(std::iter::repeat_n(Fault::ServerError, n));
    }

    /// The scopes the token was granted, as Slack lists them (comma-separated).
    pub fn set_scopes(&self, scopes: &str) {
        self.lock().scopes = scopes.to_string();
    }

    /// Whether the bot is in the channel (`not_in_channel` for reads and posts when not).
    pub fn set_member(&self, member: bool) {
        self.lock().member = member;
    }

    fn scopes(&self) -> String {
        self.lock().scopes.clone()
    }

    /// Every fault still injected is dropped: the outage is over.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.faults.clear();
        st.after_work.clear();
    }

    /// The next `n` calls of `method` do their work (a post is stored, a reaction added), then
    /// answer with `fault` as if it had failed: Slack's own warning that after `internal_error`
    /// "some aspect of the operation" may have succeeded. `fault` is `"http_500"`, `"http_503"`,
    /// or an `ok:false` error code.
    pub fn inject_after_work(&self, method: &str, fault: &str, n: usize) {
        let fault = match fault {
            "http_500" | "http_503" => Fault::ServerError,
            code => Fault::Error(code.to_string()),
        };
        self.lock().after_work.entry(method.to_string()).or_default().extend(std::iter::repeat_n(fault, n));
    }

    /// Slack's limits of May 2025 for apps distributed outside the Marketplace:
    /// conversations.history and conversations.replies allow one request per `minute` (a real
    /// minute in production; tests scale it down).
    pub fn non_marketplace_limits(&self, minute: Duration) {
        self.set_rate_limit("conversations.history", 1, minute);
        self.set_rate_limit("conversations.replies", 1, minute);
    }

    /// Models Slack's per-method rate limit: at most `limit` calls per `window` (time-scaled in tests).
    pub fn set_rate_limit(&self, method: &str, limit: u32, window: Duration) {
        self.lock().budgets.insert(method.to_string(), Budget { limit, window, started: Instant::now(), used: 0 });
    }

    /// Adds a top-level message now (as the alert notifier would); returns its ts.
    pub fn add_message(&self, mut message: Value) -> Ts {
        let mut st = self.lock();
        let ts = next_ts(&mut st);
        message["ts"] = json!(ts.to_string());
        message["type"] = json!("message");
        st.top_level.insert(ts, message);
        ts
    }

    pub fn posts(&self) -> Vec<Post> {
        self.lock().posts.clone()
    }

    /// How many replies were posted (without copying them).
    pub fn post_count(&self) -> usize {
        self.lock().posts.len()
    }

    /// The replies in the thread of `parent`, oldest first.
    pub fn thread(&self, parent: Ts) -> Vec<Value> {
        self.lock().replies.get(&parent).cloned().unwrap_or_default()
    }

    /// Every top-level message, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.lock().top_level.values().cloned().collect()
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    fn refresh_thread_summary(&self, st: &mut ChannelState, parent: Ts) {
        let replies = st.replies.get(&parent).cloned().unwrap_or_default();
        if let Some(p) = st.top_level.get_mut(&parent) {
            let mut users: Vec<String> = Vec::new();
            for r in &replies {
                if let Some(u) = r.get("user").and_then(Value::as_str)
                    && !users.iter().any(|x| x == u)
                {
                    users.push(u.to_string());
                }
            }
            p["thread_ts"] = json!(parent.to_string());
            p["reply_count"] = json!(replies.len());
            p["reply_users_count"] = json!(users.len());
            p["reply_users"] = json!(users);
            if let Some(last) = replies.last().and_then(|r| r.get("ts")) {
                p["latest_reply"] = last.clone();
            }
        }
    }

    /// Handles one Web API call; returns the HTTP status, extra headers and the JSON body.
    fn handle(&self, method: &str, auth: Option<&str>, params: &Params) -> (StatusCode, Option<u64>, Value) {
        let token = auth.or_else(|| params.get("token").and_then(Value::as_str));
        match token {
            None => return (StatusCode::OK, None, fail("not_authed")),
            Some(t) if t != self.token => return (StatusCode::OK, None, fail("invalid_auth")),
            Some(_) => {}
        }
        let mut st = self.lock();
        if let Some(fault) = st.faults.get_mut(method).and_then(VecDeque::pop_front) {
            return answer(fault);
        }
        if let Some(b) = st.budgets.get_mut(method) {
            if b.started.elapsed() >= b.window {
                b.started = Instant::now();
                b.used = 0;
            }
            if b.used >= b.limit {
                let left = b.window.saturating_sub(b.started.elapsed());
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                return (StatusCode::TOO_MANY_REQUESTS, Some(secs.max(1)), fail("ratelimited"));
            }
            b.used += 1;
        }
        let body = match method {
            "auth.test" => {
                json!({"ok": true, "url": "https://oncall-sim.slack.com/", "team": "Simulated",
                "user": "oncall-triage", "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": false})
            }
            "conversations.info" => self.info(&st, params),
            "conversations.history" | "conversations.replies" | "chat.postMessage" if !st.member => {
                fail("not_in_channel")
            }
            "conversations.history" => self.history(&st, params),
            "conversations.replies" => self.replies(&st, params),
            "chat.postMessage" => self.post_message(&mut st, params),
            "reactions.add" => self.reactions_add(&mut st, params),
            "reactions.get" => self.reactions_get(&st, params),
            _ => fail("unknown_method"),
        };
        if body.get("ok") == Some(&Value::Bool(true))
            && let Some(fault) = st.after_work.get_mut(method).and_then(VecDeque::pop_front)
        {
            return answer(fault);
        }
        (StatusCode::OK, None, body)
    }

    fn check_channel(&self, params: &Params) -> Result<(), Value> {
        match params.get("channel").and_then(Value::as_str) {
            Some(c) if c == self.channel => Ok(()),
            _ => Err(fail("channel_not_found")),
        }
    }

    fn info(&self, st: &ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        json!({"ok": true, "channel": {"id": self.channel, "name": "oncall-alerts", "is_channel": true,
            "is_private": self.channel.starts_with('G'), "is_archived": false, "is_member": st.member}})
    }

    fn history(&self, st: &ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        let window = match Window::from_params(params, 100) {
            Ok(w) => w,
            Err(e) => return e,
        };
        // Newest first, as Slack returns it.
        let matching: Vec<&Value> =
            st.top_level.range(window.range()).rev().map(|(_, m)| m).filter(|m| window.before_cursor(m)).collect();
        let mut body = page(matching, window.limit);
        if !flag(params, "include_all_metadata") {
            without_metadata(&mut body);
        }
        body
    }

    fn replies(&self, st: &ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        let Some(ts) = params.get("ts").and_then(Value::as_str).and_then(Ts::parse) else {
            return fail("thread_not_found");
        };
        // A reply's ts answers with its whole thread.
        let parent = if st.top_level.contains_key(&ts) {
            ts
        } else {
            match st.replies.iter().find(|(_, rs)| rs.iter().any(|r| msg_ts(r) == Some(ts))) {
                Some((p, _)) => *p,
                None => return fail("thread_not_found"),
            }
        };
        let window = match Window::from_params(params, 1000) {
            Ok(w) => w,
            Err(e) => return e,
        };
        let mut thread: Vec<&Value> = st.top_level.get(&parent).into_iter().collect();
        thread.extend(st.replies.get(&parent).into_iter().flatten());
        // Oldest first; the cursor here names the next message to return (from the oldest end).
        let matching: Vec<&Value> = thread
            .into_iter()
            .filter(|m| msg_ts(m).is_some_and(|t| window.range_contains(t)))
            .filter(|m| window.after_cursor(m))
            .collect();
        let mut body = page(matching, window.limit);
        if !flag(params, "include_all_metadata") {
            without_metadata(&mut body);
        }
        body
    }

    fn post_message(&self, st: &mut ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        let text = params.get("text").and_then(Value::as_str).unwrap_or("").to_string();
        let blocks = match params.get("blocks") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(v) => v,
                Err(_) => return fail("invalid_blocks_format"),
            },
            Some(v) => v.clone(),
        };
        if let Some(e) = check_blocks(&blocks) {
            return fail(e);
        }
        if text.trim().is_empty() && blocks.as_array().is_none_or(Vec::is_empty) {
            return fail("no_text");
        }
        if text.chars().count() > MAX_TEXT {
            return fail("msg_too_long");
        }
        let thread_ts = match params.get("thread_ts").and_then(Value::as_str) {
            None | Some("") => None,
            Some(t) => match Ts::parse(t).filter(|t| st.top_level.contains_key(t)) {
                Some(t) => Some(t),
                None => return fail("thread_not_found"),
            },
        };
        let ts = next_ts(st);
        let mut message = json!({"type": "message", "text": text, "user": BOT_USER_ID, "bot_id": BOT_ID,
            "app_id": "A0TRIAGEAPP", "team": TEAM_ID, "ts": ts.to_string()});
        if !blocks.is_null() {
            message["blocks"] = blocks.clone();
        }
        match metadata(params) {
            Ok(Some(m)) => message["metadata"] = m,
            Ok(None) => {}
            Err(e) => return fail(e),
        }
        match thread_ts {
            Some(parent) => {
                message["thread_ts"] = json!(parent.to_string());
                message["parent_user_id"] = st.top_level[&parent].get("user").cloned().unwrap_or(Value::Null);
                st.replies.entry(parent).or_default().push(message.clone());
                self.refresh_thread_summary(st, parent);
            }
            None => {
                st.top_level.insert(ts, message.clone());
            }
        }
        st.posts.push(Post { ts, thread_ts, text, blocks });
        json!({"ok": true, "channel": self.channel, "ts": ts.to_string(), "message": message})
    }

    fn find_message(st: &mut ChannelState, ts: Ts) -> Option<&mut Value> {
        if st.top_level.contains_key(&ts) {
            return st.top_level.get_mut(&ts);
        }
        st.replies.values_mut().flatten().find(|m| msg_ts(m) == Some(ts))
    }

    fn reactions_add(&self, st: &mut ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        let name = params.get("name").and_then(Value::as_str).unwrap_or("").trim_matches(':').to_string();
        if name.is_empty() {
            return fail("invalid_name");
        }
        let Some(ts) = params.get("timestamp").and_then(Value::as_str).and_then(Ts::parse) else {
            return fail("no_item_specified");
        };
        let Some(message) = SlackSim::find_message(st, ts) else {
            return fail("message_not_found");
        };
        let reactions = message.as_object_mut().map(|o| o.entry("reactions").or_insert_with(|| json!([])));
        let Some(Value::Array(list)) = reactions else {
            return fail("internal_error");
        };
        match list.iter_mut().find(|r| r.get("name").and_then(Value::as_str) == Some(name.as_str())) {
            Some(r) => {
                let users = r["users"].as_array().cloned().unwrap_or_default();
                if users.iter().any(|u| u == BOT_USER_ID) {
                    return fail("already_reacted");
                }
                let mut users = users;
                users.push(json!(BOT_USER_ID));
                r["count"] = json!(users.len());
                r["users"] = Value::Array(users);
            }
            None => list.push(json!({"name": name, "users": [BOT_USER_ID], "count": 1})),
        }
        json!({"ok": true})
    }

    fn reactions_get(&self, st: &ChannelState, params: &Params) -> Value {
        if let Err(e) = self.check_channel(params) {
            return e;
        }
        let Some(ts) = params.get("timestamp").and_then(Value::as_str).and_then(Ts::parse) else {
            return fail("no_item_specified");
        };
        let found = st.top_level.get(&ts).or_else(|| st.replies.values().flatten().find(|m| msg_ts(m) == Some(ts)));
        match found {
            Some(m) => {
                json!({"ok": true, "type": "message", "channel": self.channel, "message": m})
            }
            None => fail("message_not_found"),
        }
    }
}

fn fail(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

fn msg_ts(m: &Value) -> Option<Ts> {
    m.get("ts").and_then(Value::as_str).and_then(Ts::parse)
}

fn next_ts(st: &mut ChannelState) -> Ts {
    let ts = Ts::now().max(st.last_ts.shifted(1));
    st.last_ts = ts;
    ts
}

fn check_blocks(blocks: &Value) -> Option<&'static str> {
    let list = match blocks {
        Value::Null => return None,
        Value::Array(list) => list,
        _ => return Some("invalid_blocks_format"),
    };
    if list.len() > MAX_BLOCKS {
        return Some("invalid_blocks");
    }
    let total: usize =
        list.iter().filter_map(|b| b.pointer("/text/text").and_then(Value::as_str)).map(|t| t.chars().count()).sum();
    if total > MAX_BLOCKS_TEXT {
        return Some("msg_blocks_too_long");
    }
    for b in list {
        if b.get("type").and_then(Value::as_str).is_none() {
            return Some("invalid_blocks");
        }
        if b["type"] == "section"
            && b.pointer("/text/text").and_then(Value::as_str).is_some_and(|t| t.chars().count() > MAX_SECTION_TEXT)
        {
            return Some("invalid_blocks");
        }
    }
    None
}

/// The `oldest`/`latest`/`inclusive`/`limit`/`cursor` arguments of the conversations methods.
struct Window {
    oldest: Ts,
    latest: Ts,
    inclusive: bool,
    limit: usize,
    cursor: Option<Ts>,
}

impl Window {
    fn from_params(params: &Params, default_limit: usize) -> Result<Window, Value> {
        let text = |k: &str| -> Option<String> {
            params.get(k).and_then(|v| match v {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        };
        let oldest = match text("oldest") {
            None => Ts::from_micros(0),
            Some(s) => Ts::parse(&s).ok_or_else(|| fail("invalid_ts_oldest"))?,
        };
        let latest = match text("latest") {
            None => Ts::from_micros(i64::MAX),
            Some(s) => Ts::parse(&s).ok_or_else(|| fail("invalid_ts_latest"))?,
        };
        let inclusive = matches!(text("inclusive").as_deref(), Some("true" | "1"));
        let limit = match text("limit") {
            None => default_limit,
            Some(s) => s.parse::<usize>().map_err(|_| fail("invalid_limit"))?.clamp(1, 999),
        };
        let cursor = match text("cursor") {
            None => None,
            Some(c) => Some(decode_cursor(&c).ok_or_else(|| fail("invalid_cursor"))?),
        };
        Ok(Window { oldest, latest, inclusive, limit, cursor })
    }

    fn range_contains(&self, ts: Ts) -> bool {
        if self.inclusive { ts >= self.oldest && ts <= self.latest } else { ts > self.oldest && ts < self.latest }
    }

    fn range(&self) -> (std::ops::Bound<Ts>, std::ops::Bound<Ts>) {
        use std::ops::Bound::{Excluded, Included};
        if self.inclusive {
            (Included(self.oldest), Included(self.latest))
        } else {
            (Excluded(self.oldest), Excluded(self.latest))
        }
    }

    /// History pages go from newest to oldest: the cursor names the next (older) ts to return.
    fn before_cursor(&self, m: &Value) -> bool {
        self.cursor.is_none_or(|c| msg_ts(m).is_some_and(|t| t <= c))
    }

    /// Reply pages go from oldest to newest.
    fn after_cursor(&self, m: &Value) -> bool {
        self.cursor.is_none_or(|c| msg_ts(m).is_some_and(|t| t >= c))
    }
}

fn encode_cursor(ts: Ts) -> String {
    B64.encode(format!("next_ts:{ts}"))
}

fn decode_cursor(cursor: &str) -> Option<Ts> {
    let raw = B64.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    Ts::parse(text.strip_prefix("next_ts:")?)
}

/// The first `limit` of `matching`, with `has_more` and the cursor of the next one.
/// chat.postMessage's `metadata` (an object or its JSON text): `event_type` and an object
/// `event_payload`, as Slack requires; `invalid_metadata_format` otherwise.
fn metadata(params: &Params) -> Result<Option<Value>, &'static str> {
    let m = match params.get("metadata") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|_| "invalid_metadata_format")?,
        Some(v) => v.clone(),
    };
    let typed = m.get("event_type").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    if !typed || !m.get("event_payload").is_some_and(Value::is_object) {
        return Err("invalid_metadata_format");
    }
    Ok(Some(json!({"event_type": m["event_type"], "event_payload": m["event_payload"]})))
}

/// A boolean argument as Slack reads them (`true` or `1`).
fn flag(params: &Params, name: &str) -> bool {
    match params.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

/// Messages carry their metadata only when `include_all_metadata` asks for it.
fn without_metadata(body: &mut Value) {
    for m in body["messages"].as_array_mut().into_iter().flatten() {
        if let Some(o) = m.as_object_mut() {
            o.remove("metadata");
        }
    }
}

fn page(matching: Vec<&Value>, limit: usize) -> Value {
    let has_more = matching.len() > limit;
    let messages: Vec<Value> = matching.iter().take(limit).map(|m| (*m).clone()).collect();
    let mut body = json!({"ok": true, "messages": messages, "has_more": has_more, "pin_count": 0,
        "channel_actions_ts": null, "channel_actions_count": 0});
    if has_more && let Some(next) = matching.get(limit).and_then(|m| msg_ts(m)) {
        body["response_metadata"] = json!({"next_cursor": encode_cursor(next)});
    }
    body
}

/// Merges the query string and the form or JSON body into one parameter map.
fn params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, String> {
    let mut out = Params::new();
    let pairs = |s: &str| serde_urlencoded::from_str::<Vec<(String, String)>>(s).map_err(|e| e.to_string());
    for (k, v) in pairs(query.unwrap_or(""))? {
        out.insert(k, Value::String(v));
    }
    if body.is_empty() {
        return Ok(out);
    }
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if ctype.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())? {
            Value::Object(map) => out.extend(map),
            _ => return Err("the JSON body must be an object".into()),
        }
    } else {
        let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        for (k, v) in pairs(text)? {
            out.insert(k, Value::String(v));
        }
    }
    Ok(out)
}

pub(super) async fn route(
    State(sim): State<std::sync::Arc<super::Shared>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let slack = &sim.slack;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let (status, retry_after, body) = match params(query.as_deref(), &headers, &body) {
        Ok(p) => {
            let (status, retry, body) = slack.handle(&method, bearer.as_deref(), &p);
            let mut logged = p;
            logged.remove("token");
            slack.lock().requests.push(RequestRecord {
                api: method,
                status: status.as_u16(),
                params: Value::Object(logged),
                error: body.get("error").and_then(Value::as_str).map(str::to_string),
            });
            (status, retry, body)
        }
        Err(e) => (StatusCode::OK, None, json!({"ok": false, "error": "invalid_form_data", "detail": e})),
    };
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = slack.scopes().parse() {
        resp.headers_mut().insert("x-oauth-scopes", v);
    }
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}
