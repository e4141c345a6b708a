//! Conductor API client: `POST /token` (Orkes, only when a key is configured), `X-Authorization`
//! refreshed before expiry and once on 401, typed errors, timeouts, bounded retries on 5xx and
//! connection errors, one connection pool. Paths are relative to a base that ends in `/api`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::Mutex;

use crate::http;
use crate::secret::Secret;

/// Orkes tokens live about an hour; renew well before.
const TOKEN_TTL: Duration = Duration::from_secs(45 * 60);
const RETRIES: u32 = 3;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConductorError {
    #[error("Conductor: {what} not found")]
    NotFound { what: String },
    #[error("Conductor rejected the credentials ({detail}): check CONDUCTOR_AUTH_KEY and CONDUCTOR_AUTH_SECRET")]
    Auth { detail: String },
    #[error("Conductor answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("Conductor unreachable: {reason} (check CONDUCTOR_SERVER_URL)")]
    Unreachable { reason: String },
    #[error("Conductor: unexpected response: {reason}")]
    BadResponse { reason: String },
}

impl ConductorError {
    /// Whether this is a failure of Conductor or of our access to it (credentials, URL, network,
    /// a server error), not a fact about the customer's cluster: such a failure is never a
    /// triage result. Only an execution that is not there is the alert's own problem.
    pub fn is_outage(&self) -> bool {
        !matches!(self, ConductorError::NotFound { .. })
    }
}

/// An Orkes application key: its id and secret.
#[derive(Clone, Debug)]
pub struct ConductorAuth {
    pub key_id: String,
    pub key_secret: Secret,
}

pub struct ConductorClient {
    http: reqwest::Client,
    base: String,
    auth: Option<ConductorAuth>,
    token: Mutex<Option<(String, Instant)>>,
    stats: Arc<http::Stats>,
    breaker: http::Breaker,
    /// Whether the server runs a workflow synchronously (`POST /workflow/execute`, Orkes):
    /// unknown until the first try, then known for good.
    sync: AtomicU8,
}

const SYNC_UNKNOWN: u8 = 0;
const SYNC_YES: u8 = 1;
const SYNC_NO: u8 = 2;

impl ConductorClient {
    pub fn new(base: &str, auth: Option<ConductorAuth>) -> ConductorClient {
        ConductorClient {
            http: http::client(Duration::from_secs(30)),
            base: base.trim_end_matches('/').to_string(),
            auth,
            stats: Arc::default(),
            token: Mutex::new(None),
            breaker: http::Breaker::default(),
            sync: AtomicU8::new(SYNC_UNKNOWN),
        }
    }

    /// What this client counted (failed calls).
    pub fn stats(&self) -> Arc<http::Stats> {
        self.stats.clone()
    }

    /// A valid token (fetching a new one when absent, old, or `force`d), or None without auth.
    async fn token(&self, force: bool) -> Result<Option<String>, ConductorError> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let mut cached = self.token.lock().await;
        // The calls that queued behind a token request that failed do not each wait again.
        self.breaker.check().map_err(|reason| ConductorError::Unreachable { reason })?;
        if let Some((token, at)) = cached.as_ref()
            && !force
            && at.elapsed() < TOKEN_TTL
        {
            return Ok(Some(token.clone()));
        }
        let body = json!({"keyId": auth.key_id, "keySecret": auth.key_secret.expose()});
        let resp = self
            .http
            .post(format!("{}/token", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| ConductorError::Unreachable { reason: reason(&e) })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ConductorError::Auth { detail: format!("HTTP {status} from /token") });
        }
        if !status.is_success() {
            return Err(ConductorError::Http { status: status.as_u16(), message: "token request failed".into() });
        }
        let token = resp
            .json::<Value>()
            .await
            .ok()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| ConductorError::BadResponse { reason: "no `token` in the /token answer".into() })?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(Some(token))
    }

    /// Sends a request built by `build`, with auth, retries on 5xx and connection errors, and
    /// one token refresh on 401. Returns the successful response's body text.
    async fn send(&self, what: &str, build: impl Fn() -> reqwest::RequestBuilder) -> Result<String, ConductorError> {
        self.breaker.check().map_err(|reason| ConductorError::Unreachable { reason })?;
        let result = self.send_with_retries(what, build).await;
        match &result {
            Err(e @ (ConductorError::Unreachable { .. } | ConductorError::Http { status: 500.., .. })) => {
                self.breaker.failed(e.to_string().trim_start_matches("Conductor unreachable: "))
            }
            _ => self.breaker.worked(),
        }
        if result.is_err() {
            self.stats.failed();
        }
        result
    }

    async fn send_with_retries(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<String, ConductorError> {
        let mut refreshed = false;
        let mut attempt = 0;
        loop {
            let mut request = build();
            if let Some(token) = self.token(false).await? {
                request = request.header("X-Authorization", token);
            }
            let failure = match request.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return Ok(text);
                    }
                    if status == reqwest::StatusCode::UNAUTHORIZED && self.auth.is_some() && !refreshed {
                        refreshed = true;
                        self.token(true).await?;
                        continue;
                    }
                    let message = error_message(&text);
                    match status.as_u16() {
                        404 => {
                            return Err(ConductorError::NotFound { what: what.to_string() });
                        }
                        401 | 403 => {
                            return Err(ConductorError::Auth { detail: format!("HTTP {status}: {message}") });
                        }
                        s if s >= 500 => ConductorError::Http { status: s, message },
                        s => return Err(ConductorError::Http { status: s, message }),
                    }
                }
                Err(e) => ConductorError::Unreachable { reason: reason(&e) },
            };
            if attempt >= RETRIES {
                return Err(failure);
            }
            tracing::warn!(what, attempt, error = %failure, "Conductor call failed; retrying");
            tokio::time::sleep(http::backoff(attempt, Duration::from_millis(200), Duration::from_secs(3))).await;
            attempt += 1;
        }
    }

    /// `GET /workflow/{id}?includeTasks=true`: the execution as JSON.
    pub async fn get_workflow(&self, id: &str) -> Result<Value, ConductorError> {
        let url = format!("{}/workflow/{id}", self.base);
        let text =
            self.send(&format!("execution {id}"), || self.http.get(&url).query(&[("includeTasks", "true")])).await?;
        serde_json::from_str(&text).map_err(|e| ConductorError::BadResponse { reason: format!("workflow {id}: {e}") })
    }

    /// `POST /workflow/execute/{name}/{version}?requestId=…&waitForSeconds=…` (Orkes): starts the
    /// workflow and answers its run (a WorkflowRun: `workflowId`, `status`, `output`, `tasks`)
    /// the moment it completes, or as it stands after `wait` (whole seconds, at least one). None
    /// when the server has no such endpoint (OSS Conductor answers 404 or 405): the caller
    /// starts and polls instead, and this client does not ask again. The version is the
    /// request's, else 1.
    pub async fn execute_workflow(&self, request: &Value, wait: Duration) -> Result<Option<Value>, ConductorError> {
        if self.sync.load(Ordering::Relaxed) == SYNC_NO {
            return Ok(None);
        }
        let name = request.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
        let version = request.get("version").and_then(Value::as_u64).unwrap_or(1);
        let url = format!("{}/workflow/execute/{name}/{version}", self.base);
        let query =
            [("requestId", uuid::Uuid::new_v4().to_string()), ("waitForSeconds", wait.as_secs().max(1).to_string())];
        let sent = self
            .send(&format!("workflow definition {name}"), || self.http.post(&url).query(&query).json(request))
            .await;
        let text = match sent {
            Ok(text) => text,
            Err(ConductorError::NotFound { .. } | ConductorError::Http { status: 405 | 501, .. })
                if self.sync.load(Ordering::Relaxed) == SYNC_UNKNOWN =>
            {
                tracing::info!("Conductor has no synchronous execute API (OSS): starting and polling instead");
                self.sync.store(SYNC_NO, Ordering::Relaxed);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.sync.store(SYNC_YES, Ordering::Relaxed);
        let run: Value = serde_json::from_str(&text)
            .map_err(|e| ConductorError::BadResponse { reason: format!("execute {name}: {e}") })?;
        if run.get("workflowId").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(ConductorError::BadResponse { reason: format!("execute {name}: no workflowId") });
        }
        Ok(Some(run))
    }

    /// `POST /workflow` with a StartWorkflowRequest; returns the new workflow id (plain text).
    pub async fn start_workflow(&self, request: &Value) -> Result<String, ConductorError> {
        let url = format!("{}/workflow", self.base);
        let name = request.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
        let text = self.send(&format!("workflow definition {name}"), || self.http.post(&url).json(request)).await?;
        let id = text.trim().trim_matches('"').to_string();
        if id.is_empty() {
            return Err(ConductorError::BadResponse { reason: "empty workflow id".into() });
        }
        Ok(id)
    }
}

fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    }
}

/// Conductor's error body `{"message": …}`, or the text itself, on one short line.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    let line = message.lines().next().unwrap_or("").trim();
    line.chars().take(300).collect()
}
