//! The simulator: a Slack Web API and a Conductor API on 127.0.0.1 serving scenario files, so
//! the product's real clients run end to end with no credentials (tests, `eval`, `--demo`,
//! `oncall-triage sim`). It answers as the real services document: shapes, errors, paging, limits.

pub mod conductor;
pub mod model;
pub mod scenario;
pub mod slack;
pub mod synthetic;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use conductor::{ConductorSim, DispatchRecord};
pub use scenario::{Scenario, ScenarioError};
pub use slack::{Post, SlackSim};

use crate::domain::Ts;

/// The one channel every scenario is served in.
pub const CHANNEL: &str = "C0SIMALERTS";

/// Against the simulator a never-polled command is known at once: no need for the real minute.
pub const SIMULATED_STUCK_AFTER: Duration = Duration::from_secs(5);

/// One request a simulated service received (tokens are never kept).
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    /// The Slack method (`chat.postMessage`) or the Conductor verb and path.
    pub api: String,
    pub status: u16,
    pub params: Value,
    /// Slack's error name, when it answered `ok: false`.
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SimOptions {
    pub slack_token: String,
    /// Orkes application key and secret; None serves like open-source Conductor (no /token, no
    /// synchronous execute).
    pub conductor_auth: Option<(String, String)>,
    pub token_ttl: Duration,
    /// Multiplies every fixture's `latency_ms` (tests run faster at 0.1).
    pub latency_scale: f64,
    /// How old each scenario's newest message is when the simulator starts.
    pub newest_age: Duration,
    /// The key the scripted model expects in `x-api-key`.
    pub model_key: String,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            slack_token: "xoxb-sim-0000000000-0000000000000-simulatortoken".into(),
            conductor_auth: Some(("sim-key-id".into(), "sim-key-secret".into())),
            token_ttl: Duration::from_secs(3600),
            latency_scale: 1.0,
            newest_age: Duration::from_secs(3),
            model_key: "sk-ant-sim-0000000000000000".into(),
        }
    }
}

pub(crate) struct Shared {
    pub slack: SlackSim,
    pub conductor: ConductorSim,
    pub model: model::ModelSim,
}

/// A running simulator; its servers stop when it is dropped.
pub struct Simulator {
    /// Slack Web API base, ending in `/` (SLACK_API_URL).
    pub slack_url: String,
    /// Conductor API base, ending in `/api` (CONDUCTOR_SERVER_URL).
    pub conductor_url: String,
    /// The scripted model's base (ANTHROPIC_BASE_URL).
    pub anthropic_url: String,
    /// The OpenAI-compatible base (ends in `/v1`), served by the same scripted model.
    pub openai_url: String,
    pub options: SimOptions,
    shared: Arc<Shared>,
    servers: Vec<JoinHandle<()>>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.servers.iter().for_each(JoinHandle::abort);
    }
}

async fn serve(router: Router) -> std::io::Result<(String, JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    Ok((format!("http://{addr}"), task))
}

impl Simulator {
    pub async fn start(scenarios: Vec<Scenario>, options: SimOptions) -> std::io::Result<Simulator> {
        let newest_age = i64::try_from(options.newest_age.as_micros()).unwrap_or(i64::MAX);
        let messages = scenario::shift_messages(&scenarios, Ts::now(), newest_age);
        let shared = Arc::new(Shared {
            slack: SlackSim::new(CHANNEL, &options.slack_token, messages),
            model: model::ModelSim::new(&options.model_key, scenarios.clone()),
            conductor: ConductorSim::new(
                scenarios,
                options.conductor_auth.clone(),
                options.token_ttl,
                options.latency_scale,
            ),
        });
        let slack =
            Router::new().route("/api/{method}", get(slack::route).post(slack::route)).with_state(shared.clone());
        let conductor = Router::new()
            .route("/api/token", post(conductor::token))
            .route("/api/workflow", post(conductor::start_workflow))
            .route("/api/workflow/{id}", get(conductor::get_workflow))
            .route("/api/workflow/execute/{name}/{version}", post(conductor::execute_workflow))
            .with_state(shared.clone());
        let (slack_base, slack_task) = serve(slack).await?;
        let (conductor_base, conductor_task) = serve(conductor).await?;
        let model = Router::new()
            .route("/v1/messages", post(model::messages))
            .route("/v1/chat/completions", post(model::chat_completions))
            .route("/v1/models", get(model::list_models))
            .with_state(shared.clone());
        let (model_base, model_task) = serve(model).await?;
        Ok(Simulator {
            slack_url: format!("{slack_base}/api/"),
            conductor_url: format!("{conductor_base}/api"),
            openai_url: format!("{model_base}/v1"),
            anthropic_url: model_base,
            options,
            shared,
            servers: vec![slack_task, conductor_task, model_task],
        })
    }

    pub fn slack(&self) -> &SlackSim {
        &self.shared.slack
    }

    pub fn conductor(&self) -> &ConductorSim {
        &self.shared.conductor
    }

    pub fn model(&self) -> &model::ModelSim {
        &self.shared.model
    }

    pub fn channel(&self) -> &str {
        CHANNEL
    }

    /// The `export` lines `oncall-triage sim` prints (the real values: this is a local simulator).
    pub fn env_lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!("SLACK_API_URL={}", self.slack_url),
            format!("SLACK_ALERT_CHANNEL={CHANNEL}"),
            format!("SLACK_BOT_TOKEN={}", self.options.slack_token),
            format!("CONDUCTOR_SERVER_URL={}", self.conductor_url),
        ];
        if let Some((key, secret)) = &self.options.conductor_auth {
            lines.push(format!("CONDUCTOR_AUTH_KEY={key}"));
            lines.push(format!("CONDUCTOR_AUTH_SECRET={secret}"));
        }
        lines.push(format!("ANTHROPIC_BASE_URL={}", self.anthropic_url));
        lines.push(format!("ANTHROPIC_API_KEY={}", self.options.model_key));
        lines.push(format!("OPENAI_BASE_URL={}", self.openai_url));
        lines.push(format!("OPENAI_API_KEY={}", self.options.model_key));
        lines
    }
}

impl Simulator {
    /// Points a configuration at this simulator (what `--demo` does instead of real services).
    pub fn configure(&self, config: &mut crate::config::Config) {
        use crate::conductor::ConductorAuth;
        use crate::secret::Secret;
        config.slack.token = Some(Secret::new(self.options.slack_token.clone()));
        config.slack.channel = Some(CHANNEL.to_string());
        config.slack.api_url = self.slack_url.clone();
        config.conductor.server_url = Some(self.conductor_url.clone());
        config.reasoner.anthropic_base_url = self.anthropic_url.clone();
        config.reasoner.anthropic_key = Some(Secret::new(self.options.model_key.clone()));
        config.reasoner.openai_base_url = self.openai_url.clone();
        config.reasoner.openai_key = Some(Secret::new(self.options.model_key.clone()));
        config.conductor.auth = self
            .options
            .conductor_auth
            .as_ref()
            .map(|(key, secret)| ConductorAuth { key_id: key.clone(), key_secret: Secret::new(secret.clone()) });
    }
}
