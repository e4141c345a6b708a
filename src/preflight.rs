//! The checks before the first poll, in every mode, and the checklist of `oncall-triage doctor`.
//!
//! - Formats: a bot token (`xoxb-`), a channel id (`C…`/`G…`, not `#name`), URLs with a
//!   scheme, and a Conductor base ending in `/api`.
//! - Slack: `auth.test` (the token works), the granted scopes against those needed, and the
//!   channel (it exists, and the bot is in it).
//! - Conductor: a token (with an application key) and one read.
//! - The model endpoint, when a model reasons: its model list (`GET …/models`), which proves the
//!   URL and the key, and names the model when the server lists it.
//!
//! A check fails as a bad setting (exit 2) or as a service that is unreachable or refuses
//! (exit 1), with one line that names the setting and the fix. Nothing here writes to Slack or
//! Conductor.

use std::sync::LazyLock;

use regex::Regex;

use crate::conductor::{ConductorClient, ConductorError};
use crate::config::{Config, ReasonerKind};
use crate::reasoner::Reasoner;
use crate::reasoner::agent::{AgentError, ModelAgent, Wire};
use crate::slack::{SlackClient, SlackError};

/// What kind of failure a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A setting is wrong: exit 2.
    Setting,
    /// A service is unreachable or refuses: exit 1.
    Service,
}

/// One check: what it looked at, and what it found.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub result: Result<String, (Fault, String)>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, result: Ok(detail.into()) }
    }

    fn setting(name: &'static str, problem: impl Into<String>) -> Check {
        Check { name, result: Err((Fault::Setting, problem.into())) }
    }

    fn service(name: &'static str, problem: impl Into<String>) -> Check {
        Check { name, result: Err((Fault::Service, problem.into())) }
    }

    /// The checklist line: ✓ or ✗, the check, and what it found or the fix.
    pub fn line(&self) -> String {
        match &self.result {
            Ok(detail) => format!("✓ {}: {detail}", self.name),
            Err((_, problem)) => format!("✗ {}: {problem}", self.name),
        }
    }
}

/// The exit code the checks call for: 0 when all pass, 2 for any bad setting, else 1.
pub fn exit_code(checks: &[Check]) -> u8 {
    let faults: Vec<Fault> = checks.iter().filter_map(|c| c.result.as_ref().err().map(|(f, _)| *f)).collect();
    if faults.is_empty() {
        0
    } else if faults.contains(&Fault::Setting) {
        2
    } else {
        1
    }
}

static CHANNEL_ID: LazyLock<Regex> = LazyLock::new(|| crate::patterns::regex(r"^[CG][A-Z0-9]{6,}$"));

/// The formats of the settings, with no network.
pub fn formats(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let token = config.slack.token.as_ref().map(|t| t.expose().to_string()).unwrap_or_default();
    checks.push(match token.get(..5) {
        Some("xoxb-") => Check::ok("SLACK_BOT_TOKEN", "a bot token (xoxb-…)"),
        Some("xoxp-") => Check::setting(
            "SLACK_BOT_TOKEN",
            "this is a user token (xoxp-…): use the app's Bot User OAuth Token (xoxb-…, OAuth & Permissions)",
        ),
        _ => Check::setting(
            "SLACK_BOT_TOKEN",
            "not a bot token: use the app's Bot User OAuth Token (xoxb-…, OAuth & Permissions)",
        ),
    });
    let channel = config.slack.channel.as_deref().unwrap_or("");
    checks.push(if CHANNEL_ID.is_match(channel) {
        Check::ok("SLACK_ALERT_CHANNEL", format!("channel id {channel}"))
    } else if channel.starts_with('#') || !channel.chars().any(|c| c.is_ascii_digit()) {
        Check::setting(
            "SLACK_ALERT_CHANNEL",
            format!("{channel:?} is a channel name: use its id (C… or G…: channel details → About, at the bottom)"),
        )
    } else {
        Check::setting("SLACK_ALERT_CHANNEL", format!("{channel:?} is not a channel id (C… or G…)"))
    });
    checks.push(url("SLACK_API_URL", &config.slack.api_url, None));
    let conductor = config.conductor.server_url.as_deref().unwrap_or("");
    checks.push(url("CONDUCTOR_SERVER_URL", conductor, Some("/api")));
    match config.reasoner.kind {
        ReasonerKind::Playbook => {}
        ReasonerKind::Anthropic => checks.push(url("ANTHROPIC_BASE_URL", &config.reasoner.anthropic_base_url, None)),
        ReasonerKind::Openai => checks.push(url("OPENAI_BASE_URL", &config.reasoner.openai_base_url, None)),
    }
    checks
}

/// A URL with an http(s) scheme and a host, ending in `suffix` when one is needed.
fn url(name: &'static str, value: &str, suffix: Option<&str>) -> Check {
    if value.is_empty() {
        return Check::setting(name, "not set");
    }
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return Check::setting(name, format!("{value:?} has no scheme: write it as https://host/…"));
    };
    if rest.split('/').next().is_none_or(str::is_empty) {
        return Check::setting(name, format!("{value:?} has no host"));
    }
    match suffix {
        Some(end) if !value.trim_end_matches('/').ends_with(end) => Check::setting(
            name,
            format!("{value:?} must be the API base, ending in {end} (e.g. https://x.orkesconductor.com/api)"),
        ),
        _ => Check::ok(name, value.to_string()),
    }
}

/// The Slack scopes the product needs for a channel (public `C…` or private `G…`).
fn needed_scopes(channel: &str) -> [&'static str; 4] {
    if channel.starts_with('G') {
        ["groups:history", "groups:read", "chat:write", "reactions:write"]
    } else {
        ["channels:history", "channels:read", "chat:write", "reactions:write"]
    }
}

/// The token, its scopes and the channel, against Slack.
pub async fn slack(slack: &SlackClient, channel: &str) -> Vec<Check> {
    let identity = match slack.identity().await {
        Ok(i) => i,
        Err(e) => return vec![Check::service("Slack token", e.to_string())],
    };
    let mut checks = vec![Check::ok("Slack token", format!("works: bot {} in {}", identity.user_id, identity.team))];
    if let Some(granted) = &identity.scopes {
        let missing: Vec<&str> =
            needed_scopes(channel).into_iter().filter(|s| !granted.iter().any(|g| g == s)).collect();
        checks.push(if missing.is_empty() {
            Check::ok("Slack scopes", granted.join(","))
        } else {
            Check::service(
                "Slack scopes",
                format!("missing {}: add them under OAuth & Permissions, then reinstall the app", missing.join(", ")),
            )
        });
    }
    checks.push(match slack.channel(channel).await {
        Ok(c) if c.is_member => Check::ok("Slack channel", format!("#{} ({channel}), the bot is in it", c.name)),
        Ok(c) => Check::service(
            "Slack channel",
            format!("the bot is not in #{}: invite it there with /invite @<the bot>", c.name),
        ),
        Err(e @ SlackError::Api { .. }) if e.api_error() == Some("channel_not_found") => Check::setting(
            "SLACK_ALERT_CHANNEL",
            format!("no channel {channel} for this token: check the id, and invite the bot (private channels)"),
        ),
        Err(e) => Check::service("Slack channel", e.to_string()),
    });
    checks
}

/// The execution the Conductor check reads: one that cannot exist, so "not found" means
/// reachable and authorised.
pub const PROBE_EXECUTION: &str = "00000000-0000-0000-0000-000000000000";

/// A token (with an application key) and one read, against Conductor.
pub async fn conductor(client: &ConductorClient) -> Check {
    match client.get_workflow(PROBE_EXECUTION).await {
        Ok(_) | Err(ConductorError::NotFound { .. }) => Check::ok("Conductor", "reachable, the key is accepted"),
        Err(e) => Check::service("Conductor", e.to_string()),
    }
}

/// The model endpoint: it answers, it takes the key, and (when it lists models) it serves the
/// model chosen. Anthropic lists every model a key may use, so an unlisted one is a bad
/// `ONCALL_MODEL`; a local OpenAI-compatible server often lists its model by another name.
pub async fn model(agent: &ModelAgent) -> Check {
    let wire = agent.wire();
    let (base, key) = wire.variables();
    let name = "Model endpoint";
    match agent.models().await {
        Ok(None) => Check::ok(name, "reachable (it lists no models)"),
        Ok(Some(models)) if models.iter().any(|m| m == agent.model()) => {
            Check::ok(name, format!("reachable, the key is accepted, it serves {}", agent.model()))
        }
        Ok(Some(models)) if wire == Wire::Anthropic => Check::setting(
            "ONCALL_MODEL",
            format!(
                "{} is not a model this key can use; it lists {}",
                agent.model(),
                models.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ),
        ),
        Ok(Some(_)) => Check::ok(name, format!("reachable; it does not list {} by that name", agent.model())),
        Err(AgentError::Api(e)) if e.starts_with("HTTP 401") || e.starts_with("HTTP 403") => {
            Check::service(name, format!("{e}: check {key}"))
        }
        Err(AgentError::Api(e)) => Check::service(name, format!("{e} (from {base})")),
        Err(e) => Check::service(name, e.to_string()),
    }
}

/// Every check, formats first: services are asked only when their settings are well formed.
pub async fn all(
    config: &Config,
    slack_client: &SlackClient,
    conductor_client: &ConductorClient,
    reasoner: &Reasoner,
) -> Vec<Check> {
    let mut checks = formats(config);
    let bad = |name: &str, checks: &[Check]| checks.iter().any(|c| c.name == name && c.result.is_err());
    let slack_ok =
        !bad("SLACK_BOT_TOKEN", &checks) && !bad("SLACK_ALERT_CHANNEL", &checks) && !bad("SLACK_API_URL", &checks);
    let conductor_ok = !bad("CONDUCTOR_SERVER_URL", &checks);
    let channel = config.slack.channel.clone().unwrap_or_default();
    if slack_ok {
        checks.extend(self::slack(slack_client, &channel).await);
    }
    if conductor_ok {
        checks.push(conductor(conductor_client).await);
    }
    if let Reasoner::Model(agent) = reasoner {
        let (base, _) = agent.wire().variables();
        if !bad(base, &checks) {
            checks.push(model(agent).await);
        }
    }
    checks
}
