//! Slack Web API client (domain.md §6): bearer token, `{"ok": false}` as typed errors, HTTP 429
//! honoured through `Retry-After` (callers of a limited method take turns), transient failures
//! retried with backoff, a timeout on every call, and a circuit breaker (`http::Breaker`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thiserror::Error;

use super::alert::{self, NotAnAlert};
use super::reply;
use crate::domain::{Alert, Ts};
use crate::http;
use crate::secret::Secret;

const RATE_LIMIT_RETRIES: u32 = 5;
const TRANSIENT_RETRIES: u32 = 3;
/// Longest single `Retry-After` honoured before giving up on the call.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
const TRANSIENT_ERRORS: &[&str] = &["internal_error", "fatal_error", "service_unavailable", "request_timeout"];
/// `ok:false` errors that mean "not done, slow down" (chat.postMessage documents `rate_limited`).
const RATE_LIMIT_ERRORS: &[&str] = &["rate_limited", "ratelimited"];

/// How a method may be sent again after a failure.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A GET that reads: any failure may be retried.
    Read,
    /// A POST whose repetition is harmless (a reaction answers `already_reacted`).
    Write,
    /// A POST that must happen at most once (a message): a failure that may have done the work
    /// is not retried here but reported as `Ambiguous`.
    Once,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SlackError {
    #[error("Slack {method}: {error}{}", hint(error))]
    Api { method: String, error: String },
    #[error("Slack {method}: rate limited, still after {retries} retries")]
    RateLimited { method: String, retries: u32 },
    #[error("Slack {method}: {reason}")]
    Transport { method: String, reason: String },
    #[error("Slack {method}: unexpected response: {reason}")]
    BadResponse { method: String, reason: String },
    /// A call that must not run twice failed in a way that may have done its work (HTTP 5xx,
    /// `internal_error`, `fatal_error`, a timeout after sending): the caller looks before retrying.
    #[error("Slack {method}: {reason} (the call may have succeeded)")]
    Ambiguous { method: String, reason: String },
}

fn hint(error: &str) -> &'static str {
    match error {
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            " (check SLACK_BOT_TOKEN: a bot token xoxb-… of the installed app)"
        }
        "not_in_channel" => " (invite the bot to the alert channel: /invite @your-bot)",
        "channel_not_found" => " (check SLACK_ALERT_CHANNEL: a channel id such as C0123ABCD, not its name)",
        "missing_scope" => " (add the scopes channels:history, chat:write, reactions:write, reactions:read)",
        _ => "",
    }
}

impl SlackError {
    /// The Slack error name, for callers that act on one (`already_reacted`).
    pub fn api_error(&self) -> Option<&str> {
        match self {
            SlackError::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One page of `conversations.history`, newest first as Slack returns it.
#[derive(Debug)]
pub struct HistoryPage {
    pub messages: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// Per Slack method, what its callers share: the earliest moment the next call may go (set by a
/// 429's `Retry-After`), and a first-come first-served turn. Once a method is limited, its
/// callers queue for the turn and the holder sends until it gets through, so a budget of one
/// call a minute serves every caller in order instead of waking them all to fail together.
#[derive(Default)]
struct Gate {
    not_before: Mutex<Option<Instant>>,
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl Gate {
    fn limited(&self) -> bool {
        self.not_before.lock().ok().and_then(|t| *t).is_some_and(|t| t > Instant::now())
    }
}

type Gates = Arc<Mutex<HashMap<String, Arc<Gate>>>>;

#[derive(Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base: String,
    token: Secret,
    gates: Gates,
    stats: Arc<http::Stats>,
    breaker: Arc<http::Breaker>,
}

impl SlackClient {
    /// `base` is the Web API base ending in `/` (e.g. `https://slack.com/api/`).
    pub fn new(base: &str, token: Secret) -> SlackClient {
        let mut base = base.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        SlackClient {
            http: http::client(Duration::from_secs(30)),
            base,
            token,
            gates: Gates::default(),
            stats: Arc::default(),
            breaker: Arc::default(),
        }
    }

    /// What this client counted (failed calls, rate-limit waits).
    pub fn stats(&self) -> Arc<http::Stats> {
        self.stats.clone()
    }

    fn gate(&self, method: &str) -> Arc<Gate> {
        match self.gates.lock() {
            Ok(mut gates) => gates.entry(method.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// Waits until `method`'s shared budget allows a call (other methods are not held up).
    async fn pace(gate: &Gate) {
        let until = gate.not_before.lock().ok().and_then(|t| *t);
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn hold(gate: &Gate, wait: Duration) {
        if let Ok(mut t) = gate.not_before.lock() {
            let until = Instant::now() + wait;
            *t = Some(t.map_or(until, |t| t.max(until)));
        }
    }

    async fn call(&self, method: &str, params: Value, kind: Kind) -> Result<Value, SlackError> {
        self.breaker
            .check()
            .map_err(|why| SlackError::Transport { method: method.into(), reason: format!("not sent: {why}") })?;
        // Only a Slack that cannot be reached or hangs opens the breaker (inside, where the
        // network failed): a quick 5xx holds nobody up, and is retried call by call.
        let result = self.call_with_retries(method, params, kind).await;
        if matches!(&result, Ok(_) | Err(SlackError::Api { .. } | SlackError::BadResponse { .. })) {
            self.breaker.worked();
        }
        if let Err(e) = &result
            && e.api_error() != Some(ALREADY_REACTED)
        {
            self.stats.failed();
        }
        result
    }

    async fn call_with_retries(&self, method: &str, params: Value, kind: Kind) -> Result<Value, SlackError> {
        let ambiguous = |reason: String| SlackError::Ambiguous { method: method.into(), reason };
        let url = format!("{}{method}", self.base);
        let (mut limited, mut transient) = (0u32, 0u32);
        let gate = self.gate(method);
        // Held from the first sign of a limit until this call ends: the caller's turn.
        let mut turn = None;
        loop {
            if turn.is_none() && (gate.limited() || gate.turn.try_lock().is_err()) {
                turn = Some(gate.turn.clone().lock_owned().await);
            }
            Self::pace(&gate).await;
            let request = if kind == Kind::Read {
                let query: Vec<(String, String)> = params
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                    .collect();
                self.http.get(&url).query(&query)
            } else {
                self.http.post(&url).json(&params)
            };
            let sent = request.bearer_auth(self.token.expose()).send().await;
            let retry_in = match sent {
                Ok(resp) if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
                    limited += 1;
                    if limited > RATE_LIMIT_RETRIES {
                        return Err(SlackError::RateLimited { method: method.into(), retries: RATE_LIMIT_RETRIES });
                    }
                    let wait = http::retry_after(resp.headers()).unwrap_or(Duration::from_secs(1));
                    if wait > MAX_RETRY_AFTER {
                        return Err(SlackError::RateLimited { method: method.into(), retries: limited });
                    }
                    tracing::warn!(method, wait_ms = wait.as_millis() as u64, "Slack rate limit; waiting as told");
                    self.stats.waited();
                    Self::hold(&gate, wait);
                    if turn.is_none() {
                        turn = Some(gate.turn.clone().lock_owned().await);
                    }
                    Duration::ZERO
                }
                Ok(resp) if resp.status().is_server_error() && kind == Kind::Once => {
                    return Err(ambiguous(format!("HTTP {}", resp.status())));
                }
                Ok(resp) if resp.status().is_server_error() => {
                    transient += 1;
                    if transient > TRANSIENT_RETRIES {
                        return Err(SlackError::Transport {
                            method: method.into(),
                            reason: format!("HTTP {}", resp.status()),
                        });
                    }
                    http::backoff(transient - 1, Duration::from_millis(250), Duration::from_secs(5))
                }
                Ok(resp) => {
                    let status = resp.status();
                    let scopes = resp.headers().get("x-oauth-scopes").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let mut body: Value = resp.json().await.map_err(|e| SlackError::BadResponse {
                        method: method.into(),
                        reason: format!("HTTP {status}: {e}"),
                    })?;
                    if body.get("ok").and_then(Value::as_bool) == Some(true) {
                        // The token's scopes travel in a header of every answer: kept with it.
                        if let (Some(scopes), Some(o)) = (scopes, body.as_object_mut()) {
                            o.insert(SCOPES_KEY.into(), Value::String(scopes));
                        }
                        return Ok(body);
                    }
                    let error = body.get("error").and_then(Value::as_str).unwrap_or("unknown_error").to_string();
                    if RATE_LIMIT_ERRORS.contains(&error.as_str()) && limited < RATE_LIMIT_RETRIES {
                        limited += 1;
                        self.stats.waited();
                        http::backoff(limited - 1, Duration::from_secs(1), Duration::from_secs(30))
                    } else if TRANSIENT_ERRORS.contains(&error.as_str()) && kind == Kind::Once {
                        return Err(ambiguous(error));
                    } else if TRANSIENT_ERRORS.contains(&error.as_str()) && transient < TRANSIENT_RETRIES {
                        transient += 1;
                        http::backoff(transient - 1, Duration::from_millis(250), Duration::from_secs(5))
                    } else {
                        return Err(SlackError::Api { method: method.into(), error });
                    }
                }
                // Sent, maybe received: a message is not sent again blindly.
                Err(e) if kind == Kind::Once && !e.is_connect() => {
                    let reason = if e.is_timeout() { "timed out".to_string() } else { transport_reason(&e) };
                    self.breaker.failed(&format!("Slack {method}: {reason}"));
                    return Err(ambiguous(reason));
                }
                Err(e) => {
                    transient += 1;
                    if transient > TRANSIENT_RETRIES {
                        let reason = if e.is_timeout() { "timed out".to_string() } else { transport_reason(&e) };
                        self.breaker.failed(&format!("Slack {method}: {reason}"));
                        return Err(SlackError::Transport { method: method.into(), reason });
                    }
                    http::backoff(transient - 1, Duration::from_millis(250), Duration::from_secs(5))
                }
            };
            tokio::time::sleep(retry_in).await;
        }
    }

    /// `auth.test`: whether the token works; returns the bot's user id.
    pub async fn auth_test(&self) -> Result<String, SlackError> {
        Ok(self.identity().await?.user_id)
    }

    /// `auth.test`: who the token is, and the scopes it was granted (when Slack says).
    pub async fn identity(&self) -> Result<Identity, SlackError> {
        let body = self.call("auth.test", json!({}), Kind::Write).await?;
        let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let scopes = body
            .get(SCOPES_KEY)
            .and_then(Value::as_str)
            .map(|s| s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect());
        Ok(Identity { user_id: text("user_id"), bot_id: text("bot_id"), team: text("team"), scopes })
    }

    /// `conversations.info`: whether the channel exists (an error when not) and the bot is in it.
    pub async fn channel(&self, channel: &str) -> Result<ChannelInfo, SlackError> {
        let body = self.call("conversations.info", json!({"channel": channel}), Kind::Read).await?;
        let c = &body["channel"];
        Ok(ChannelInfo {
            name: c["name"].as_str().unwrap_or_default().to_string(),
            is_private: c["is_private"].as_bool().unwrap_or(false),
            is_member: c["is_member"].as_bool().unwrap_or(false),
        })
    }

    /// One page of `conversations.history` strictly after `oldest`.
    pub async fn history_page(
        &self,
        channel: &str,
        oldest: Ts,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<HistoryPage, SlackError> {
        let mut params = json!({"channel": channel, "oldest": oldest.to_string(), "limit": limit.to_string()});
        if let Some(c) = cursor {
            params["cursor"] = json!(c);
        }
        let body = self.call("conversations.history", params, Kind::Read).await?;
        let messages = body.get("messages").and_then(Value::as_array).cloned().ok_or_else(|| {
            SlackError::BadResponse { method: "conversations.history".into(), reason: "no `messages`".into() }
        })?;
        let next_cursor = body
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(HistoryPage { messages, next_cursor })
    }

    /// Every message after `oldest`, all pages, oldest first.
    pub async fn history_since(&self, channel: &str, oldest: Ts, limit: u32) -> Result<Vec<Value>, SlackError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.history_page(channel, oldest, limit, cursor.as_deref()).await?;
            all.extend(page.messages);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        all.sort_by_key(|m| m.get("ts").and_then(Value::as_str).and_then(Ts::parse));
        Ok(all)
    }

    /// Whether the thread of `ts` holds a triage reply (of any instance of this product).
    pub async fn thread_answered(&self, channel: &str, ts: Ts) -> Result<bool, SlackError> {
        Ok(self.triage_replies(channel, ts).await?.next().is_some())
    }

    /// The ts of every triage reply in the thread of `ts`, oldest first.
    pub async fn triage_replies(&self, channel: &str, ts: Ts) -> Result<impl Iterator<Item = Ts>, SlackError> {
        let thread = self.replies(channel, ts).await?;
        Ok(thread
            .into_iter()
            .skip(1)
            .filter(reply::is_triage_reply)
            .filter_map(|m| m.get("ts").and_then(Value::as_str).and_then(Ts::parse)))
    }

    /// The whole thread of `ts` (the parent first), all pages.
    pub async fn replies(&self, channel: &str, ts: Ts) -> Result<Vec<Value>, SlackError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params =
                json!({"channel": channel, "ts": ts.to_string(), "limit": "200", "include_all_metadata": "true"});
            if let Some(c) = &cursor {
                params["cursor"] = json!(c);
            }
            let body = self.call("conversations.replies", params, Kind::Read).await?;
            all.extend(body.get("messages").and_then(Value::as_array).cloned().unwrap_or_default());
            match body.pointer("/response_metadata/next_cursor").and_then(Value::as_str).filter(|c| !c.is_empty()) {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        Ok(all)
    }

    /// Posts into the thread of `thread_ts` at most once; returns the message's ts.
    ///
    /// A post that fails in a way that may have stored it (`Ambiguous`) is never sent again
    /// blindly: the thread is read first, and a reply with this very text there is the post.
    /// When the thread cannot be read, the post is not repeated. Blocks Slack refuses (too long,
    /// invalid) fall back to the text alone, which carries the same reply.
    pub async fn post_reply(
        &self,
        channel: &str,
        thread_ts: Ts,
        text: &str,
        blocks: Option<Value>,
    ) -> Result<Ts, SlackError> {
        // This post's own name, in its metadata: how a retry recognises it in the thread.
        let post_id = uuid::Uuid::new_v4().to_string();
        let metadata = reply::metadata(thread_ts, &post_id);
        let mut blocks = blocks;
        let mut attempt = 0;
        loop {
            match self.post_message(channel, thread_ts, text, blocks.as_ref(), &metadata).await {
                Err(e)
                    if blocks.is_some() && matches!(e.api_error(), Some("msg_blocks_too_long" | "invalid_blocks")) =>
                {
                    tracing::warn!(error = %e, "Slack refused the blocks; posting the text alone");
                    blocks = None;
                }
                Err(e @ SlackError::Ambiguous { .. }) if attempt < TRANSIENT_RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(http::backoff(attempt - 1, Duration::from_millis(250), Duration::from_secs(5)))
                        .await;
                    let thread = self.replies(channel, thread_ts).await.map_err(|_| e)?;
                    let stored = thread.iter().skip(1).find(|m| reply::post_id(m) == Some(post_id.as_str()));
                    if let Some(ts) = stored.and_then(|m| m.get("ts")).and_then(Value::as_str).and_then(Ts::parse) {
                        tracing::info!(%thread_ts, message_ts = %ts, "the post had been stored despite the error");
                        return Ok(ts);
                    }
                }
                other => return other,
            }
        }
    }

    async fn post_message(
        &self,
        channel: &str,
        thread_ts: Ts,
        text: &str,
        blocks: Option<&Value>,
        metadata: &Value,
    ) -> Result<Ts, SlackError> {
        let mut params = json!({
            "channel": channel, "thread_ts": thread_ts.to_string(), "text": text,
            "unfurl_links": false, "unfurl_media": false, "metadata": metadata,
        });
        if let Some(blocks) = blocks {
            params["blocks"] = blocks.clone();
        }
        let body = self.call("chat.postMessage", params, Kind::Once).await?;
        body.get("ts").and_then(Value::as_str).and_then(Ts::parse).ok_or_else(|| SlackError::BadResponse {
            method: "chat.postMessage".into(),
            reason: "no `ts` in the answer".into(),
        })
    }

    /// `reactions.add`: added, or already there (Slack's `already_reacted`), which is no error.
    /// A try whose answer was lost (a 5xx or `internal_error` after Slack added it) makes the
    /// retry answer `already_reacted`: that reaction is this call's own, so it counts as added.
    pub async fn react(&self, channel: &str, ts: Ts, name: &str) -> Result<Reaction, SlackError> {
        let params = json!({"channel": channel, "timestamp": ts.to_string(), "name": name});
        let mut lost = 0;
        loop {
            match self.call("reactions.add", params.clone(), Kind::Once).await {
                Ok(_) => return Ok(Reaction::Added),
                Err(e) if e.api_error() == Some(ALREADY_REACTED) => {
                    return Ok(if lost > 0 { Reaction::Added } else { Reaction::AlreadyThere });
                }
                Err(SlackError::Ambiguous { .. }) if lost < TRANSIENT_RETRIES => {
                    lost += 1;
                    tokio::time::sleep(http::backoff(lost - 1, Duration::from_millis(250), Duration::from_secs(5)))
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Where the granted scopes (the `x-oauth-scopes` header) are kept with an answer's body.
const SCOPES_KEY: &str = "x-oauth-scopes";

/// Who a token is (`auth.test`).
#[derive(Clone, Debug)]
pub struct Identity {
    pub user_id: String,
    pub bot_id: String,
    pub team: String,
    /// The scopes granted, when Slack sent them.
    pub scopes: Option<Vec<String>>,
}

/// A channel as `conversations.info` describes it.
#[derive(Clone, Debug)]
pub struct ChannelInfo {
    pub name: String,
    pub is_private: bool,
    pub is_member: bool,
}

/// A message of the channel: its ts, and the alert it carries (or why it carries none).
#[derive(Clone, Debug)]
pub struct ChannelMessage {
    pub ts: Ts,
    pub alert: Result<Alert, NotAnAlert>,
}

impl ChannelMessage {
    /// None for a message without a ts (Slack always sends one).
    pub fn read(message: &Value) -> Option<ChannelMessage> {
        let ts = message.get("ts").and_then(Value::as_str).and_then(Ts::parse)?;
        Some(ChannelMessage { ts, alert: alert::from_message(message) })
    }
}

/// What `reactions.add` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reaction {
    Added,
    /// The reaction was there already (Slack's `already_reacted`): someone, maybe this product
    /// in an earlier try whose answer was lost, added it.
    AlreadyThere,
}

const ALREADY_REACTED: &str = "already_reacted";

/// A transport failure in words (the token travels in a header, never in the URL).
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_connect() { "cannot connect (check SLACK_API_URL and the network)".to_string() } else { e.to_string() }
}
