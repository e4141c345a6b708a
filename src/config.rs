//! Settings (interfaces.md): flags override env vars, which override the TOML file, which
//! overrides the defaults. Secrets are wrapped in [`Secret`] so Debug and Display never show them.
//! `--demo` ignores every real URL, token and key: the simulator supplies its own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::conductor::ConductorAuth;
use crate::secret::Secret;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing { var: &'static str, hint: &'static str },
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid { var: &'static str, value: String, expected: &'static str },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error(
        "config file {path}: unknown key `{key}` (keys are the variable names in lower case without ONCALL_, e.g. poll_interval)"
    )]
    UnknownFileKey { path: String, key: String },
}

/// Which reasoner turns evidence into a hypothesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReasonerKind {
    Playbook,
    Anthropic,
    Openai,
}

impl ReasonerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonerKind::Playbook => "playbook",
            ReasonerKind::Anthropic => "anthropic",
            ReasonerKind::Openai => "openai",
        }
    }
}

/// What headless mode does with a ready reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostPolicy {
    Auto,
    Queue,
    Never,
}

/// Every setting by its variable name. The TOML key is the name in lower case without `ONCALL_`.
pub const SETTINGS: &[&str] = &[
    "SLACK_BOT_TOKEN",
    "SLACK_ALERT_CHANNEL",
    "SLACK_API_URL",
    "CONDUCTOR_SERVER_URL",
    "CONDUCTOR_AUTH_KEY",
    "CONDUCTOR_AUTH_SECRET",
    "ONCALL_REASONER",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ONCALL_MODEL",
    "ONCALL_MODEL_TURN_TIMEOUT",
    "ONCALL_MODEL_IDLE_TIMEOUT",
    "ONCALL_MODEL_MAX_CALLS_PER_TURN",
    "ONCALL_MODEL_MAX_CALLS",
    "ONCALL_MODEL_TEMPERATURE",
    "ONCALL_DISPATCH_BUDGET",
    "ONCALL_POST",
    "ONCALL_POLL_INTERVAL",
    "ONCALL_PAGE_SIZE",
    "ONCALL_LOOKBACK",
    "ONCALL_REFIRE_COOLDOWN",
    "ONCALL_CLAIM_EMOJI",
    "ONCALL_DONE_EMOJI",
    "ONCALL_FAILED_EMOJI",
    "ONCALL_CLAIM_LEASE",
    "ONCALL_MAX_TRIAGES",
    "ONCALL_DISPATCH_TIMEOUT",
    "ONCALL_STUCK_AFTER",
    "ONCALL_SHUTDOWN_GRACE",
    "ONCALL_STATE_FILE",
    "ONCALL_LOG_DIR",
    "ONCALL_LOG_KEEP",
    "ONCALL_METRICS_ADDR",
    "ONCALL_SQL_RELATIONS",
    "ONCALL_SQL_MAX_COST",
    "RUST_LOG",
];

/// Settings that point at real services or hold credentials: `--demo` ignores them.
const REAL_WORLD: &[&str] = &[
    "SLACK_BOT_TOKEN",
    "SLACK_ALERT_CHANNEL",
    "SLACK_API_URL",
    "CONDUCTOR_SERVER_URL",
    "CONDUCTOR_AUTH_KEY",
    "CONDUCTOR_AUTH_SECRET",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ONCALL_STATE_FILE",
];

fn file_key(var: &str) -> String {
    var.strip_prefix("ONCALL_").unwrap_or(var).to_ascii_lowercase()
}

/// The three layers a setting can come from, highest first.
#[derive(Default, Debug)]
pub struct Sources {
    flags: HashMap<&'static str, String>,
    env: HashMap<String, String>,
    file: HashMap<&'static str, String>,
}

impl Sources {
    /// Flags (keyed by variable name), the process environment, and an optional TOML file.
    pub fn gather(
        flags: HashMap<&'static str, String>,
        env: HashMap<String, String>,
        config_file: Option<&Path>,
    ) -> Result<Sources, ConfigError> {
        let file = match config_file {
            Some(path) => read_file(path)?,
            None => HashMap::new(),
        };
        Ok(Sources { flags, env, file })
    }

    fn get(&self, var: &'static str) -> Option<&str> {
        let non_empty = |v: &String| !v.trim().is_empty();
        self.flags
            .get(var)
            .filter(|v| non_empty(v))
            .or_else(|| self.env.get(var).filter(|v| non_empty(v)))
            .or_else(|| self.file.get(var).filter(|v| non_empty(v)))
            .map(|v| v.trim())
    }
}

fn read_file(path: &Path) -> Result<HashMap<&'static str, String>, ConfigError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::File { path: shown.clone(), reason: e.to_string() })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File { path: shown.clone(), reason: e.message().to_string() })?;
    let mut out = HashMap::new();
    for (key, value) in table {
        let Some(var) = SETTINGS.iter().find(|v| file_key(v) == key) else {
            return Err(ConfigError::UnknownFileKey { path: shown, key });
        };
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::File {
                    path: shown,
                    reason: format!("`{key}` must be a string or a number, not {}", other.type_str()),
                });
            }
        };
        out.insert(*var, text);
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub struct SlackSettings {
    pub token: Option<Secret>,
    pub channel: Option<String>,
    pub api_url: String,
    pub page_size: u32,
    pub claim_emoji: String,
    pub done_emoji: String,
    pub failed_emoji: String,
    pub claim_lease: Duration,
}

#[derive(Clone, Debug)]
pub struct ConductorSettings {
    /// Base URL including `/api`.
    pub server_url: Option<String>,
    pub auth: Option<ConductorAuth>,
    pub dispatch_timeout: Duration,
    pub stuck_after: Duration,
    /// Distinct tool calls (dispatches, mostly) one triage of an alert may make.
    pub dispatch_budget: u32,
}

#[derive(Clone, Debug)]
pub struct ReasonerSettings {
    pub kind: ReasonerKind,
    pub model: Option<String>,
    pub anthropic_key: Option<Secret>,
    pub anthropic_base_url: String,
    pub openai_key: Option<Secret>,
    pub openai_base_url: String,
    /// The longest one model turn may take, and the longest its stream may go silent.
    pub turn_timeout: Duration,
    pub idle_timeout: Duration,
    /// Tool calls a model may make in one turn, and in one triage (repeats included).
    pub max_calls_per_turn: usize,
    pub max_calls: usize,
    pub temperature: f64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub demo: bool,
    pub slack: SlackSettings,
    pub conductor: ConductorSettings,
    pub reasoner: ReasonerSettings,
    pub post: PostPolicy,
    pub poll_interval: Duration,
    pub lookback: Duration,
    pub refire_cooldown: Duration,
    pub max_triages: usize,
    pub shutdown_grace: Duration,
    pub state_file: PathBuf,
    pub log_dir: PathBuf,
    pub log_keep: usize,
    pub metrics_addr: Option<SocketAddr>,
    pub log_filter: String,
    /// Relations the SQL tool may read beyond the Conductor tables (Orkes-only tables).
    pub sql_relations: Vec<String>,
    /// The planner's estimated cost above which a query is refused before it runs (None: the
    /// guard's default).
    pub sql_max_cost: Option<u64>,
}

/// The settings a Slack-watching run cannot start without.
pub struct SlackAccess<'a> {
    pub token: &'a Secret,
    pub channel: &'a str,
}

fn state_dir() -> PathBuf {
    dirs::state_dir().or_else(dirs::data_local_dir).unwrap_or_else(|| PathBuf::from(".")).join("oncall-triage")
}

/// Reads settings from their sources (the demo ignores the real-world ones), each kind of
/// value with its own one-line error.
struct Reader<'a> {
    src: &'a Sources,
    demo: bool,
}

impl Reader<'_> {
    fn get(&self, var: &'static str) -> Option<&str> {
        if self.demo && REAL_WORLD.contains(&var) { None } else { self.src.get(var) }
    }

    fn text(&self, var: &'static str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_string()
    }

    fn duration(&self, var: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let value = self.get(var).unwrap_or(default);
        humantime::parse_duration(value).map_err(|_| ConfigError::Invalid {
            var,
            value: value.to_string(),
            expected: "a duration such as 90s, 15m or 1h",
        })
    }

    /// A number within `min..=max`; `expected` says what kind in the error.
    fn ranged<T: std::str::FromStr + PartialOrd>(
        &self,
        var: &'static str,
        default: T,
        (min, max): (T, T),
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(v) => v.parse::<T>().ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| ConfigError::Invalid {
                var,
                value: v.to_string(),
                expected,
            }),
        }
    }

    fn decimal(&self, var: &'static str, default: f64, min: f64, max: f64) -> Result<f64, ConfigError> {
        self.ranged(var, default, (min, max), "a number in range")
    }

    fn number(&self, var: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        self.ranged(var, default, (min, max), "a whole number in range")
    }

    /// One of a closed set of words.
    fn choice<T: Copy>(
        &self,
        var: &'static str,
        default: T,
        words: &[(&str, T)],
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        let Some(value) = self.get(var) else { return Ok(default) };
        words.iter().find(|(w, _)| *w == value).map(|(_, t)| *t).ok_or_else(|| ConfigError::Invalid {
            var,
            value: value.to_string(),
            expected,
        })
    }

    /// The Orkes application key: both halves, or neither.
    fn conductor_auth(&self) -> Result<Option<ConductorAuth>, ConfigError> {
        match (self.get("CONDUCTOR_AUTH_KEY"), self.get("CONDUCTOR_AUTH_SECRET")) {
            (Some(key), Some(secret)) => {
                Ok(Some(ConductorAuth { key_id: key.to_string(), key_secret: Secret::new(secret) }))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::Missing {
                var: "CONDUCTOR_AUTH_SECRET",
                hint: "CONDUCTOR_AUTH_KEY is set, so its secret is needed too",
            }),
            (None, Some(_)) => Err(ConfigError::Missing {
                var: "CONDUCTOR_AUTH_KEY",
                hint: "CONDUCTOR_AUTH_SECRET is set, so its key id is needed too",
            }),
        }
    }

    /// The model name: given, Anthropic's default, or (demo) any name the scripted model takes.
    fn model(&self, kind: ReasonerKind) -> Result<Option<String>, ConfigError> {
        let model = self
            .get("ONCALL_MODEL")
            .map(str::to_string)
            .or_else(|| (kind == ReasonerKind::Anthropic).then(|| "claude-sonnet-4-6".to_string()))
            .or_else(|| self.demo.then(|| "sim-model".to_string()));
        if kind == ReasonerKind::Openai && model.is_none() {
            return Err(ConfigError::Missing {
                var: "ONCALL_MODEL",
                hint: "the openai reasoner needs the model name your server serves (--model)",
            });
        }
        Ok(model)
    }
}

impl Config {
    /// Resolves every setting. With `demo`, real endpoints and credentials are ignored and the
    /// state file is a throwaway one (the simulator's addresses are attached afterwards).
    pub fn resolve(src: &Sources, demo: bool) -> Result<Config, ConfigError> {
        let r = Reader { src, demo };
        let get = |var: &'static str| r.get(var);
        let text = |var: &'static str, default: &str| r.text(var, default);
        let duration = |var: &'static str, default: &str| r.duration(var, default);
        let number = |var: &'static str, default: u64, min: u64, max: u64| r.number(var, default, min, max);
        let kind = r.choice(
            "ONCALL_REASONER",
            ReasonerKind::Playbook,
            &[
                ("playbook", ReasonerKind::Playbook),
                ("anthropic", ReasonerKind::Anthropic),
                ("openai", ReasonerKind::Openai),
            ],
            "playbook, anthropic or openai",
        )?;
        let post = r.choice(
            "ONCALL_POST",
            PostPolicy::Auto,
            &[("auto", PostPolicy::Auto), ("queue", PostPolicy::Queue), ("never", PostPolicy::Never)],
            "auto, queue or never",
        )?;
        let auth = r.conductor_auth()?;
        let model = r.model(kind)?;
        let metrics_addr = match get("ONCALL_METRICS_ADDR") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| ConfigError::Invalid {
                var: "ONCALL_METRICS_ADDR",
                value: v.to_string(),
                expected: "an address such as 127.0.0.1:9464",
            })?),
        };
        let state_file = if demo {
            std::env::temp_dir().join(format!("oncall-triage-demo-{}", std::process::id())).join("state.json")
        } else {
            get("ONCALL_STATE_FILE").map(PathBuf::from).unwrap_or_else(|| state_dir().join("state.json"))
        };
        let mut api_url = text("SLACK_API_URL", "https://slack.com/api/");
        if !api_url.ends_with('/') {
            api_url.push('/');
        }

        Ok(Config {
            demo,
            slack: SlackSettings {
                token: get("SLACK_BOT_TOKEN").map(Secret::new),
                channel: get("SLACK_ALERT_CHANNEL").map(str::to_string),
                api_url,
                page_size: number("ONCALL_PAGE_SIZE", 200, 1, 999)? as u32,
                claim_emoji: text("ONCALL_CLAIM_EMOJI", "eyes"),
                done_emoji: text("ONCALL_DONE_EMOJI", "white_check_mark"),
                failed_emoji: text("ONCALL_FAILED_EMOJI", "x"),
                claim_lease: duration("ONCALL_CLAIM_LEASE", "15m")?,
            },
            conductor: ConductorSettings {
                server_url: get("CONDUCTOR_SERVER_URL").map(|u| u.trim_end_matches('/').to_string()),
                auth,
                dispatch_timeout: duration("ONCALL_DISPATCH_TIMEOUT", "180s")?,
                stuck_after: duration("ONCALL_STUCK_AFTER", "60s")?,
                dispatch_budget: number("ONCALL_DISPATCH_BUDGET", 15, 1, 200)? as u32,
            },
            reasoner: ReasonerSettings {
                kind,
                model,
                anthropic_key: get("ANTHROPIC_API_KEY").map(Secret::new),
                anthropic_base_url: text("ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
                openai_key: get("OPENAI_API_KEY").map(Secret::new),
                openai_base_url: text("OPENAI_BASE_URL", "https://api.openai.com/v1"),
                turn_timeout: duration("ONCALL_MODEL_TURN_TIMEOUT", "120s")?,
                idle_timeout: duration("ONCALL_MODEL_IDLE_TIMEOUT", "30s")?,
                max_calls_per_turn: number("ONCALL_MODEL_MAX_CALLS_PER_TURN", 8, 1, 64)? as usize,
                max_calls: number("ONCALL_MODEL_MAX_CALLS", 40, 1, 1000)? as usize,
                temperature: r.decimal("ONCALL_MODEL_TEMPERATURE", 0.0, 0.0, 2.0)?,
            },
            post,
            poll_interval: duration("ONCALL_POLL_INTERVAL", "30s")?,
            lookback: duration("ONCALL_LOOKBACK", "1h")?,
            refire_cooldown: duration("ONCALL_REFIRE_COOLDOWN", "1h")?,
            max_triages: number("ONCALL_MAX_TRIAGES", 4, 1, 256)? as usize,
            shutdown_grace: duration("ONCALL_SHUTDOWN_GRACE", "30s")?,
            state_file,
            log_dir: get("ONCALL_LOG_DIR").map(PathBuf::from).unwrap_or_else(|| state_dir().join("logs")),
            log_keep: number("ONCALL_LOG_KEEP", 14, 1, 10_000)? as usize,
            metrics_addr,
            log_filter: text("RUST_LOG", "info"),
            sql_relations: get("ONCALL_SQL_RELATIONS")
                .map(|v| v.split(',').map(|r| r.trim().to_ascii_lowercase()).filter(|r| !r.is_empty()).collect())
                .unwrap_or_default(),
            sql_max_cost: match get("ONCALL_SQL_MAX_COST") {
                None => None,
                Some(_) => Some(number("ONCALL_SQL_MAX_COST", 0, 1, u64::MAX)?),
            },
        })
    }

    /// Every secret value configured, for the redactor.
    pub fn secret_values(&self) -> Vec<&str> {
        [
            self.slack.token.as_ref(),
            self.conductor.auth.as_ref().map(|a| &a.key_secret),
            self.reasoner.anthropic_key.as_ref(),
            self.reasoner.openai_key.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .collect()
    }

    /// The Slack settings a watching run needs, or the one-line error naming what is missing.
    pub fn require_slack(&self) -> Result<SlackAccess<'_>, ConfigError> {
        let token = self.slack.token.as_ref().ok_or(ConfigError::Missing {
            var: "SLACK_BOT_TOKEN",
            hint: "set the bot token (xoxb-…), or try --demo",
        })?;
        let channel = self.slack.channel.as_deref().ok_or(ConfigError::Missing {
            var: "SLACK_ALERT_CHANNEL",
            hint: "set the id of the alert channel to watch (C…), or try --demo",
        })?;
        Ok(SlackAccess { token, channel })
    }

    /// The Conductor base URL, or the one-line error naming it.
    pub fn require_conductor(&self) -> Result<&str, ConfigError> {
        self.conductor.server_url.as_deref().ok_or(ConfigError::Missing {
            var: "CONDUCTOR_SERVER_URL",
            hint: "set the Conductor API base including /api (e.g. https://x.orkesconductor.com/api), or try --demo",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn flags_override_env_override_file_override_default() {
        let f = file("poll_interval = \"10m\"\npost = \"never\"\nlookback = \"2h\"\npage_size = 50\n");
        let flags = HashMap::from([("ONCALL_POST", "queue".to_string())]);
        let src =
            Sources::gather(flags, env(&[("ONCALL_POLL_INTERVAL", "45s"), ("ONCALL_POST", "auto")]), Some(f.path()))
                .unwrap();
        let c = Config::resolve(&src, false).unwrap();
        assert_eq!(c.post, PostPolicy::Queue, "flag beats env and file");
        assert_eq!(c.poll_interval, Duration::from_secs(45), "env beats file");
        assert_eq!(c.lookback, Duration::from_secs(7200), "file beats default");
        assert_eq!(c.slack.page_size, 50);
        assert_eq!(c.refire_cooldown, Duration::from_secs(3600), "default");
    }

    #[test]
    fn empty_env_value_counts_as_unset() {
        let src = Sources::gather(HashMap::new(), env(&[("ONCALL_POST", "  ")]), None).unwrap();
        assert_eq!(Config::resolve(&src, false).unwrap().post, PostPolicy::Auto);
    }

    #[test]
    fn missing_required_settings_name_the_variable() {
        let src = Sources::gather(HashMap::new(), env(&[("SLACK_BOT_TOKEN", "xoxb-1")]), None).unwrap();
        let c = Config::resolve(&src, false).unwrap();
        let err = c.require_slack().err().unwrap().to_string();
        assert!(err.starts_with("SLACK_ALERT_CHANNEL is not set"), "{err}");
        assert!(c.require_conductor().unwrap_err().to_string().starts_with("CONDUCTOR_SERVER_URL"));
    }

    #[test]
    fn bad_values_and_unknown_file_keys_are_one_line_errors() {
        let src = Sources::gather(HashMap::new(), env(&[("ONCALL_LOOKBACK", "soon")]), None).unwrap();
        let err = Config::resolve(&src, false).unwrap_err().to_string();
        assert_eq!(err, "ONCALL_LOOKBACK=\"soon\" is not valid: expected a duration such as 90s, 15m or 1h");
        let f = file("pol_interval = \"1m\"\n");
        let err = Sources::gather(HashMap::new(), HashMap::new(), Some(f.path())).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownFileKey { ref key, .. } if key == "pol_interval"));
        let src = Sources::gather(HashMap::new(), env(&[("ONCALL_REASONER", "openai")]), None).unwrap();
        assert!(Config::resolve(&src, false).unwrap_err().to_string().starts_with("ONCALL_MODEL is not set"));
        let src = Sources::gather(HashMap::new(), env(&[("CONDUCTOR_AUTH_KEY", "k")]), None).unwrap();
        assert!(Config::resolve(&src, false).unwrap_err().to_string().starts_with("CONDUCTOR_AUTH_SECRET"));
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let src = Sources::gather(
            HashMap::new(),
            env(&[
                ("SLACK_BOT_TOKEN", "xoxb-very-secret-token"),
                ("CONDUCTOR_AUTH_KEY", "key-id"),
                ("CONDUCTOR_AUTH_SECRET", "conductor-secret-value"),
                ("ANTHROPIC_API_KEY", "sk-ant-secret-value"),
                ("OPENAI_API_KEY", "sk-openai-secret-value"),
            ]),
            None,
        )
        .unwrap();
        let c = Config::resolve(&src, false).unwrap();
        let shown = format!("{c:?} {} {:#?}", c.slack.token.as_ref().unwrap(), c.reasoner);
        for secret in
            ["xoxb-very-secret-token", "conductor-secret-value", "sk-ant-secret-value", "sk-openai-secret-value"]
        {
            assert!(!shown.contains(secret), "{secret} leaked");
        }
        assert!(shown.contains("Secret(***)"));
        assert_eq!(c.slack.token.as_ref().unwrap().expose(), "xoxb-very-secret-token");
    }

    #[test]
    fn demo_ignores_real_endpoints_and_credentials() {
        let src = Sources::gather(
            HashMap::new(),
            env(&[
                ("SLACK_BOT_TOKEN", "xoxb-real"),
                ("SLACK_API_URL", "https://slack.com/api/"),
                ("CONDUCTOR_SERVER_URL", "https://real.example/api"),
                ("ONCALL_STATE_FILE", "/var/lib/real/state.json"),
                ("ONCALL_POLL_INTERVAL", "5s"),
            ]),
            None,
        )
        .unwrap();
        let c = Config::resolve(&src, true).unwrap();
        assert!(c.slack.token.is_none() && c.conductor.server_url.is_none());
        assert_ne!(c.state_file, PathBuf::from("/var/lib/real/state.json"));
        assert_eq!(c.poll_interval, Duration::from_secs(5), "harmless settings still apply");
    }

    #[test]
    fn every_setting_has_a_file_key() {
        assert_eq!(file_key("ONCALL_POLL_INTERVAL"), "poll_interval");
        assert_eq!(file_key("SLACK_BOT_TOKEN"), "slack_bot_token");
    }
}
