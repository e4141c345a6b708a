//! The command line of interfaces.md (clap). Each flag names the variable behind it; flags beat
//! env vars, which beat the `--config` file (see config.rs, which does the layering).

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  oncall-triage --demo                         try it: the console against the built-in simulator
  oncall-triage --demo --no-tui --once --json  one headless cycle against the simulator, JSON Lines
  oncall-triage --no-tui --post queue          a service: triage unattended, hold replies for approval
  oncall-triage triage 3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7   one execution, reply on stdout
  echo \"SELECT count(*) FROM workflow\" | oncall-triage check-sql
  oncall-triage sim                            the simulator alone; prints the URLs to export

Settings without a flag come from the environment or the --config file: SLACK_BOT_TOKEN,
SLACK_ALERT_CHANNEL, SLACK_API_URL, CONDUCTOR_SERVER_URL, CONDUCTOR_AUTH_KEY,
CONDUCTOR_AUTH_SECRET, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, OPENAI_API_KEY, OPENAI_BASE_URL,
ONCALL_PAGE_SIZE, ONCALL_REFIRE_COOLDOWN, ONCALL_CLAIM_EMOJI, ONCALL_DONE_EMOJI,
ONCALL_FAILED_EMOJI, ONCALL_CLAIM_LEASE, ONCALL_DISPATCH_TIMEOUT, ONCALL_STUCK_AFTER,
ONCALL_DISPATCH_BUDGET, ONCALL_MODEL_TURN_TIMEOUT, ONCALL_MODEL_IDLE_TIMEOUT,
ONCALL_MODEL_MAX_CALLS_PER_TURN, ONCALL_MODEL_MAX_CALLS, ONCALL_MODEL_TEMPERATURE, ONCALL_LOG_KEEP,
RUST_LOG. See README.md.";

#[derive(Debug, Parser)]
#[command(
    name = "oncall-triage",
    version,
    about = "Triage Conductor health-check alerts from Slack, read-only, and post the hypothesis after approval",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub run: RunFlags,

    #[command(flatten)]
    pub target: Target,

    #[command(flatten)]
    pub settings: SettingFlags,
}

/// How the watching loop runs (no subcommand).
#[derive(Debug, Args)]
pub struct RunFlags {
    /// Headless: the same loop without the console, until SIGTERM/SIGINT. e.g. --no-tui --json
    #[arg(long)]
    pub no_tui: bool,

    /// With --no-tui: one poll cycle, wait for its triages, then exit. e.g. --no-tui --once
    #[arg(long, requires = "no_tui")]
    pub once: bool,

    /// Headless: print events as JSON Lines on stdout (nothing else goes to stdout). e.g. --json
    #[arg(long)]
    pub json: bool,
}

/// Real services, or the built-in simulator. Given before or after a subcommand that takes it.
#[derive(Debug, Args, Default, Clone)]
pub struct Target {
    /// Run against the built-in simulator; no credentials, never touches a real workspace. e.g. --demo
    #[arg(long)]
    pub demo: bool,

    /// With --demo: load scenario files from DIR instead of the embedded ones. e.g. --scenarios assets/scenarios
    #[arg(long, value_name = "DIR", requires = "demo")]
    pub scenarios: Option<PathBuf>,
}

/// The settings file.
#[derive(Debug, Args, Default, Clone)]
pub struct ConfigFlag {
    /// TOML file of settings (keys: variable names in lower case without ONCALL_). e.g. --config /etc/oncall-triage.toml
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Who reasons.
#[derive(Debug, Args, Default, Clone)]
pub struct ReasonerFlags {
    /// playbook (no model, default), anthropic or openai [env: ONCALL_REASONER] e.g. --reasoner anthropic
    #[arg(long, value_name = "KIND")]
    pub reasoner: Option<String>,

    /// Model name (default claude-sonnet-4-6 for anthropic) [env: ONCALL_MODEL] e.g. --model qwen2.5-7b
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

/// How the watching loop (console or service) works.
#[derive(Debug, Args, Default, Clone)]
pub struct ServiceFlags {
    /// Headless post policy: auto, queue (hold for approval) or never (print only) [env: ONCALL_POST] e.g. --post never
    #[arg(long, value_name = "POLICY")]
    pub post: Option<String>,

    /// Time between polls of the channel [env: ONCALL_POLL_INTERVAL] e.g. --poll-interval 30s
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,

    /// Oldest alert worth triaging [env: ONCALL_LOOKBACK] e.g. --lookback 1h
    #[arg(long, value_name = "DURATION")]
    pub lookback: Option<String>,

    /// Triages running at once [env: ONCALL_MAX_TRIAGES] e.g. --max-triages 4
    #[arg(long, value_name = "N")]
    pub max_triages: Option<String>,

    /// Headless: time running triages get after SIGTERM [env: ONCALL_SHUTDOWN_GRACE] e.g. --shutdown-grace 30s
    #[arg(long, value_name = "DURATION")]
    pub shutdown_grace: Option<String>,

    /// State file: seen alerts, claims, queued replies [env: ONCALL_STATE_FILE] e.g. --state-file /var/lib/oncall/state.json
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<String>,

    /// Folder of the daily log files [env: ONCALL_LOG_DIR] e.g. --log-dir /var/log/oncall-triage
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<String>,

    /// Headless: serve Prometheus /metrics and /healthz here [env: ONCALL_METRICS_ADDR] e.g. --metrics-addr 127.0.0.1:9464
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

/// Every setting with a flag: what the watching loop and `doctor` take.
#[derive(Debug, Args, Default, Clone)]
pub struct SettingFlags {
    #[command(flatten)]
    pub config: ConfigFlag,
    #[command(flatten)]
    pub reasoner: ReasonerFlags,
    #[command(flatten)]
    pub service: ServiceFlags,
}

/// What a command runs with: its own flags over those given before the subcommand.
#[derive(Debug, Default)]
pub struct Chosen {
    pub target: Target,
    pub config: Option<PathBuf>,
    /// The flags that were given, keyed by the variable they stand for.
    pub vars: HashMap<&'static str, String>,
}

impl Chosen {
    fn over(&mut self, target: Option<&Target>, config: Option<&ConfigFlag>, vars: HashMap<&'static str, String>) {
        if let Some(t) = target {
            self.target.demo |= t.demo;
            if t.scenarios.is_some() {
                self.target.scenarios.clone_from(&t.scenarios);
            }
        }
        if let Some(path) = config.and_then(|c| c.config.clone()) {
            self.config = Some(path);
        }
        self.vars.extend(vars);
    }
}

fn given(pairs: &[(&'static str, &Option<String>)]) -> HashMap<&'static str, String> {
    pairs.iter().filter_map(|(var, value)| value.as_ref().map(|v| (*var, v.clone()))).collect()
}

impl ReasonerFlags {
    fn by_variable(&self) -> HashMap<&'static str, String> {
        given(&[("ONCALL_REASONER", &self.reasoner), ("ONCALL_MODEL", &self.model)])
    }
}

impl SettingFlags {
    /// The flags that were given, keyed by the variable they stand for.
    pub fn by_variable(&self) -> HashMap<&'static str, String> {
        let s = &self.service;
        let mut vars = given(&[
            ("ONCALL_POST", &s.post),
            ("ONCALL_POLL_INTERVAL", &s.poll_interval),
            ("ONCALL_LOOKBACK", &s.lookback),
            ("ONCALL_MAX_TRIAGES", &s.max_triages),
            ("ONCALL_SHUTDOWN_GRACE", &s.shutdown_grace),
            ("ONCALL_STATE_FILE", &s.state_file),
            ("ONCALL_LOG_DIR", &s.log_dir),
            ("ONCALL_METRICS_ADDR", &s.metrics_addr),
        ]);
        vars.extend(self.reasoner.by_variable());
        vars
    }
}

impl Cli {
    /// What the command runs with: the flags given after its subcommand win over those before.
    pub fn chosen(&self) -> Chosen {
        let mut chosen = Chosen::default();
        chosen.over(Some(&self.target), Some(&self.settings.config), self.settings.by_variable());
        match &self.command {
            Some(Command::Triage { target, config, reasoner, .. }) => {
                chosen.over(Some(target), Some(config), reasoner.by_variable());
            }
            Some(Command::Doctor { target, settings }) => {
                chosen.over(Some(target), Some(&settings.config), settings.by_variable());
            }
            Some(Command::CheckSql { config, .. }) => chosen.over(None, Some(config), HashMap::new()),
            _ => {}
        }
        chosen
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Triage one execution and print the reply on stdout; makes no Slack call at all
    Triage {
        /// The failing health_check execution id, e.g. 3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7
        execution_id: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        config: ConfigFlag,
        #[command(flatten)]
        reasoner: ReasonerFlags,
    },
    /// Run the read-only SQL guard; prints {"allowed", "reason", "normalized"}; exit 0 allowed, 1 rejected
    CheckSql {
        /// The SQL (read from stdin when absent)
        sql: Option<String>,
        #[command(flatten)]
        config: ConfigFlag,
    },
    /// Parse one Slack message (JSON object or raw text) into the alert JSON; exit 1 when not an alert
    ParseAlert {
        /// File holding the message (stdin when absent)
        file: Option<PathBuf>,
    },
    /// Run the simulator alone (Slack, Conductor) and print the URLs to export
    Sim {
        /// Scenario files to serve (default: the embedded ones)
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
    },
    /// Run every scenario through the simulator headless; one row each; exit 1 on any failure
    Eval {
        /// Scenario files to run (default: the embedded ones)
        #[arg(long, value_name = "DIR")]
        scenarios: Option<PathBuf>,
        /// Accepted for symmetry: eval always runs against the built-in simulator
        #[arg(long)]
        demo: bool,
    },
    /// Check every setting and service (Slack token, scopes and channel; Conductor) and print a
    /// checklist, one line per check; exit 0 only when all pass. Writes nothing anywhere
    Doctor {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        settings: SettingFlags,
    },
    /// Re-run a recorded triage with no network and print the reply
    Replay {
        /// A flight-recorder transcript (`transcripts/<alert ts>.jsonl` beside the state file)
        transcript: PathBuf,
        /// Accepted for symmetry: replay always runs against the loopback simulator
        #[arg(long)]
        demo: bool,
    },
    /// Write a Markdown incident report of a recorded triage
    Export {
        /// A flight-recorder transcript (`transcripts/<alert ts>.jsonl` beside the state file)
        transcript: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn interface_commands_parse() {
        for args in [
            vec!["oncall-triage"],
            vec!["oncall-triage", "--no-tui"],
            vec!["oncall-triage", "--no-tui", "--once", "--json"],
            vec!["oncall-triage", "--demo", "--no-tui", "--once", "--json", "--post", "never"],
            vec!["oncall-triage", "triage", "abc", "--reasoner", "playbook"],
            vec!["oncall-triage", "check-sql", "SELECT 1"],
            vec!["oncall-triage", "parse-alert"],
            vec!["oncall-triage", "sim", "--scenarios", "x"],
            vec!["oncall-triage", "eval"],
            vec!["oncall-triage", "replay", "t.jsonl"],
            vec!["oncall-triage", "export", "t.jsonl"],
        ] {
            Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(Cli::try_parse_from(["oncall-triage", "--once"]).is_err(), "--once needs --no-tui");
    }

    #[test]
    fn flags_map_to_their_variables() {
        let cli = Cli::try_parse_from(["oncall-triage", "--post", "never", "--lookback", "2h"]).unwrap();
        let flags = cli.chosen().vars;
        assert_eq!(flags.get("ONCALL_POST").map(String::as_str), Some("never"));
        assert_eq!(flags.get("ONCALL_LOOKBACK").map(String::as_str), Some("2h"));
        assert_eq!(flags.len(), 2);
    }

    /// Each subcommand's help names its own arguments and only the flags that apply to it.
    #[test]
    fn each_subcommand_offers_only_its_own_flags() {
        let help = |name: &str| {
            let mut command = Cli::command();
            command.find_subcommand_mut(name).unwrap().render_long_help().to_string()
        };
        let check_sql = help("check-sql");
        assert!(check_sql.contains("--config") && !check_sql.contains("--reasoner") && !check_sql.contains("--post"));
        let triage = help("triage");
        assert!(triage.contains("--demo") && triage.contains("--reasoner") && !triage.contains("--post"), "{triage}");
        for name in ["replay", "export"] {
            let text = help(name);
            assert!(text.contains("flight-recorder transcript") && !text.contains("--state-file"), "{text}");
        }
        assert!(help("doctor").contains("--state-file"));
        // Flags go before or after the subcommand; after wins.
        for args in [
            vec!["oncall-triage", "--demo", "triage", "abc"],
            vec!["oncall-triage", "triage", "abc", "--demo"],
            vec!["oncall-triage", "triage", "--demo", "abc"],
        ] {
            let chosen = Cli::try_parse_from(&args).unwrap().chosen();
            assert!(chosen.target.demo, "{args:?}");
        }
        let cli =
            Cli::try_parse_from(["oncall-triage", "--reasoner", "openai", "triage", "abc", "--reasoner", "playbook"]);
        assert_eq!(cli.unwrap().chosen().vars.get("ONCALL_REASONER").map(String::as_str), Some("playbook"));
        assert!(Cli::try_parse_from(["oncall-triage", "check-sql", "--post", "never", "SELECT 1"]).is_err());
        assert!(Cli::try_parse_from(["oncall-triage", "eval", "--demo"]).is_ok());
        assert!(Cli::try_parse_from(["oncall-triage", "replay", "t.jsonl", "--demo"]).is_ok());
    }
}
