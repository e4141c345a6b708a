//! What each command of interfaces.md does, from parsed arguments to an exit code.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::cli::{Chosen, Cli, Command};
use crate::conductor::ConductorClient;
use crate::conductor::dispatch::Timing;
use crate::config::{Config, ConfigError, ReasonerKind, Sources};
use crate::core;
use crate::domain::Ts;
use crate::headless::Printer;
use crate::reasoner::Reasoner;
use crate::reasoner::agent::{ModelAgent, Wire};
use crate::sim::{self, SimOptions, Simulator};
use crate::slack::{alert, reply};
use crate::tools::{Toolbox, sql_guard};
use crate::{logging, sim::scenario};
use watch::{Signals, Stop};

mod watch;

pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    crate::output::err(format_args!("oncall-triage: {message}"));
    code
}

fn load_config(chosen: &Chosen) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let sources = Sources::gather(chosen.vars.clone(), env, chosen.config.as_deref())?;
    Config::resolve(&sources, chosen.target.demo)
}

/// Investigation commands dispatched at once across all triages of this process.
const MAX_DISPATCHES: usize = 8;

fn toolbox(config: &Config, conductor_url: &str) -> Toolbox {
    let client = Arc::new(ConductorClient::new(conductor_url, config.conductor.auth.clone()));
    let timing = Timing::new(config.conductor.dispatch_timeout, config.conductor.stuck_after);
    Toolbox::new(client, timing, MAX_DISPATCHES)
        .with_sql_policy(sql_policy(config))
        .with_budget(config.conductor.dispatch_budget)
        .with_executions_kept(config.max_triages)
}

fn sql_policy(config: &Config) -> sql_guard::Policy {
    sql_guard::Policy::default()
        .with_relations(config.sql_relations.iter().map(String::as_str))
        .with_max_cost(config.sql_max_cost.map_or(sql_guard::DEFAULT_MAX_COST, |c| c as f64))
}

/// The reasoner the settings choose (a model only when chosen explicitly), or the exit code.
fn reasoner(config: &Config) -> Result<Reasoner, u8> {
    let settings = &config.reasoner;
    match settings.kind {
        ReasonerKind::Playbook => Ok(Reasoner::Playbook),
        ReasonerKind::Anthropic => {
            let key = settings.anthropic_key.clone().ok_or_else(|| {
                fail(
                    EXIT_USAGE,
                    ConfigError::Missing {
                        var: "ANTHROPIC_API_KEY",
                        hint: "the anthropic reasoner needs an API key (or use --reasoner playbook)",
                    },
                )
            })?;
            let model = settings.model.clone().unwrap_or_else(|| "claude-sonnet-4-6".into());
            Ok(Reasoner::Model(limited(
                ModelAgent::new(Wire::Anthropic, &settings.anthropic_base_url, Some(key), &model),
                settings,
            )))
        }
        ReasonerKind::Openai => {
            // Config::resolve already insisted on the model name for this reasoner.
            let model = settings.model.clone().unwrap_or_default();
            Ok(Reasoner::Model(limited(
                ModelAgent::new(Wire::OpenAi, &settings.openai_base_url, settings.openai_key.clone(), &model),
                settings,
            )))
        }
    }
}

/// The agent with the configured limits: turn and idle time, calls per turn and per triage,
/// and its temperature.
fn limited(mut agent: ModelAgent, settings: &crate::config::ReasonerSettings) -> ModelAgent {
    agent.turn_timeout = settings.turn_timeout;
    agent.idle_timeout = settings.idle_timeout;
    agent.calls_per_turn = settings.max_calls_per_turn;
    agent.max_calls = settings.max_calls;
    agent.temperature = settings.temperature;
    agent
}

fn load_scenarios(dir: Option<&Path>) -> Result<Vec<scenario::Scenario>, scenario::ScenarioError> {
    match dir {
        Some(d) => scenario::load_dir(d),
        None => scenario::embedded(),
    }
}

pub async fn run(cli: Cli) -> u8 {
    match &cli.command {
        None => watch::watch(&cli).await,
        Some(Command::Triage { execution_id, .. }) => triage(&cli, execution_id).await,
        Some(Command::ParseAlert { file }) => parse_alert(file.as_deref()),
        Some(Command::Sim { scenarios }) => serve_simulator(scenarios.as_deref()).await,
        Some(Command::CheckSql { sql, .. }) => match load_config(&cli.chosen()) {
            Ok(config) => check_sql(sql.as_deref(), &sql_policy(&config)),
            Err(e) => fail(EXIT_USAGE, e),
        },
        Some(Command::Eval { scenarios, .. }) => evaluate(scenarios.as_deref()).await,
        Some(Command::Doctor { .. }) => doctor(&cli).await,
        Some(Command::Replay { transcript, .. }) => replay(transcript).await,
        Some(Command::Export { transcript }) => match crate::replay::export(transcript) {
            Ok(md) => {
                crate::output::out_raw(format_args!("{md}"));
                EXIT_OK
            }
            Err(e) => fail(EXIT_USAGE, e),
        },
    }
}

/// The settings a command runs with, the simulator behind them with `--demo` (its scenarios
/// from `--scenarios`), the secrets registered with the redactor; or the exit code.
pub(super) async fn configured(cli: &Cli) -> Result<(Config, Option<Simulator>), u8> {
    let chosen = cli.chosen();
    let mut config = load_config(&chosen).map_err(|e| fail(EXIT_USAGE, e))?;
    let simulator = if chosen.target.demo {
        let scenarios = load_scenarios(chosen.target.scenarios.as_deref()).map_err(|e| fail(EXIT_USAGE, e))?;
        let sim = Simulator::start(scenarios, SimOptions::default())
            .await
            .map_err(|e| fail(EXIT_FAILED, format!("cannot start the simulator: {e}")))?;
        sim.configure(&mut config);
        config.conductor.stuck_after = config.conductor.stuck_after.min(crate::sim::SIMULATED_STUCK_AFTER);
        Some(sim)
    } else {
        None
    };
    crate::redact::register_secrets(config.secret_values());
    Ok((config, simulator))
}

async fn triage(cli: &Cli, execution_id: &str) -> u8 {
    let (config, _simulator) = match configured(cli).await {
        Ok(set) => set,
        Err(code) => return code,
    };
    let url = match config.require_conductor() {
        Ok(u) => u.to_string(),
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let Ok(alert) = alert::parse_text(&format!("/execution/{execution_id}")) else {
        return fail(EXIT_USAGE, format!("{execution_id:?} is not an execution id (a UUID)"));
    };
    let _logs = logging::init(&config.log_dir, config.log_keep, &config.log_filter, true);
    let toolbox = Arc::new(toolbox(&config, &url));
    let reasoner = match reasoner(&config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let printer = tokio::spawn(async move {
        let lines = Printer::new(false, false);
        while let Some(e) = rx.recv().await {
            if let Some(line) = lines.line(&e) {
                crate::output::err(format_args!("{line}"));
            }
        }
    });
    let result =
        core::investigate(crate::tools::Scope { alert_ts: Ts::now(), attempt: 0 }, &alert, &toolbox, &reasoner, &tx)
            .await;
    drop(tx);
    let _ = printer.await;
    match result {
        Ok(h) => {
            crate::output::out(format_args!("{}", reply::render(&h)));
            EXIT_OK
        }
        Err(e) => fail(EXIT_FAILED, e),
    }
}

/// The checks of the first poll as a checklist to paste into a ticket (`--demo`: against the
/// simulator).
async fn doctor(cli: &Cli) -> u8 {
    let (config, _simulator) = match configured(cli).await {
        Ok(set) => set,
        Err(code) => return code,
    };
    let token = config.slack.token.clone().unwrap_or_else(|| crate::secret::Secret::new(""));
    let slack = crate::slack::SlackClient::new(&config.slack.api_url, token);
    let conductor_url = config.conductor.server_url.clone().unwrap_or_default();
    let conductor = ConductorClient::new(&conductor_url, config.conductor.auth.clone());
    let reasoner = match reasoner(&config) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let checks = crate::preflight::all(&config, &slack, &conductor, &reasoner).await;
    for c in &checks {
        crate::output::out(format_args!("{}", c.line()));
    }
    crate::preflight::exit_code(&checks)
}

async fn replay(transcript: &Path) -> u8 {
    match crate::replay::replay(transcript, toolbox).await {
        Ok(r) => {
            crate::output::out(format_args!("{}", r.reply));
            match r.recorded {
                Some(recorded) if recorded == r.reply => {
                    crate::output::err(format_args!("oncall-triage: the replay reproduces the recorded reply"));
                    EXIT_OK
                }
                Some(_) => {
                    crate::output::err(format_args!(
                        "oncall-triage: the replay differs from the recorded reply (the reasoning changed)"
                    ));
                    EXIT_FAILED
                }
                None => EXIT_OK,
            }
        }
        Err(e) => fail(EXIT_USAGE, e),
    }
}

async fn evaluate(dir: Option<&Path>) -> u8 {
    let scenarios = match load_scenarios(dir) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let rows = crate::eval::run_all(scenarios, SimOptions::default(), |config| {
        let url = config.conductor.server_url.clone().unwrap_or_default();
        toolbox(config, &url)
    })
    .await;
    crate::output::out_raw(format_args!("{}", crate::eval::table(&rows)));
    if rows.iter().all(crate::eval::Row::passed) { EXIT_OK } else { EXIT_FAILED }
}

fn check_sql(sql: Option<&str>, policy: &sql_guard::Policy) -> u8 {
    let text = match sql {
        Some(s) => s.to_string(),
        None => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                return fail(EXIT_USAGE, format!("cannot read the SQL from stdin: {e}"));
            }
            s
        }
    };
    let verdict = sql_guard::check(&text, policy);
    crate::output::out(format_args!("{}", serde_json::to_string(&verdict).unwrap_or_default()));
    if verdict.allowed { EXIT_OK } else { EXIT_FAILED }
}

fn parse_alert(file: Option<&Path>) -> u8 {
    let mut raw = String::new();
    let read = match file {
        Some(path) => std::fs::read_to_string(path).map(|s| raw = s),
        None => std::io::stdin().read_to_string(&mut raw).map(|_| ()),
    };
    if let Err(e) = read {
        return fail(EXIT_USAGE, format!("cannot read the message: {e}"));
    }
    let parsed = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(message @ serde_json::Value::Object(_)) => alert::from_message(&message),
        _ => alert::parse_text(&raw),
    };
    match parsed {
        Ok(a) => {
            crate::output::out(format_args!("{}", serde_json::to_string(&a).unwrap_or_default()));
            EXIT_OK
        }
        Err(why) => fail(EXIT_FAILED, format!("not an alert: {why}")),
    }
}

async fn serve_simulator(dir: Option<&Path>) -> u8 {
    let scenarios = match load_scenarios(dir) {
        Ok(s) => s,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let count = scenarios.len();
    let sim = match Simulator::start(scenarios, SimOptions::default()).await {
        Ok(s) => s,
        Err(e) => return fail(EXIT_FAILED, format!("cannot start the simulator: {e}")),
    };
    for line in sim.env_lines() {
        crate::output::out(format_args!("{line}"));
    }
    crate::output::err(format_args!(
        "oncall-triage: simulating Slack and Conductor for {count} scenario(s) in channel {}; Ctrl+C stops",
        sim::CHANNEL
    ));
    match Signals::new().next().await {
        Stop::Interrupted => EXIT_INTERRUPTED,
        Stop::Terminated | Stop::Done => EXIT_OK,
    }
}
