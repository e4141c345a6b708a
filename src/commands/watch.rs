//! The watch command (no subcommand): sets up the console or the headless front-end, starts
//! the core, follows its events until it stops, and turns SIGINT/SIGTERM into a graceful stop
//! (a second signal stops at once).

use std::sync::Arc;

use super::{EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, fail, reasoner, toolbox};
use crate::cli::Cli;
use crate::config::Config;
use crate::core::{self, CoreError, CoreHandle, Mode, Services};
use crate::headless::Printer;
use crate::logging;
use crate::protocol::Op;
use crate::sim::Simulator;
use crate::slack::SlackClient;
use crate::store::StateStore;

/// Why a watching run stopped early.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Done,
    Terminated,
    Interrupted,
}

/// SIGTERM and SIGINT, each time they arrive.
pub(super) struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub(super) fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals { term: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    pub(super) async fn next(&mut self) -> Stop {
        #[cfg(unix)]
        if let Some(term) = self.term.as_mut() {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => Stop::Interrupted,
                _ = term.recv() => Stop::Terminated,
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        Stop::Interrupted
    }
}

/// The watch command: the console, or headless; runs until quit, a signal, or (`--once`) one poll.
pub(super) async fn watch(cli: &Cli) -> u8 {
    let (config, _simulator) = match settings(cli).await {
        Ok(set) => set,
        Err(code) => return code,
    };
    let headless = cli.run.no_tui;
    let (services, store) = match connect(&config) {
        Ok(connected) => connected,
        Err(code) => return code,
    };
    // Every setting and service is checked before the first poll: a mistake is said now, once,
    // and no alert is spent on it.
    let checks =
        crate::preflight::all(&config, &services.slack, services.toolbox.conductor(), &services.reasoner).await;
    let code = crate::preflight::exit_code(&checks);
    if code != EXIT_OK {
        for failed in checks.iter().filter(|c| c.result.is_err()) {
            crate::output::err(format_args!("oncall-triage: {}", failed.line()));
        }
        return code;
    }
    // The log goes to its file, and headless (not --json) to stderr; the events go to stdout.
    let _logs = logging::init(&config.log_dir, config.log_keep, &config.log_filter, headless && !cli.run.json);
    let printer = Printer::new(cli.run.json, config.post == crate::config::PostPolicy::Never);
    tracing::info!(
        channel = %services.channel, slack = %config.slack.api_url, conductor = config.conductor.server_url.as_deref().unwrap_or(""),
        post = ?config.post, state = %config.state_file.display(), demo = config.demo, "oncall-triage started"
    );
    // A service running on this state file owns intake: a console beside it only approves.
    let service_pid = crate::store::state::service_pid(&config.state_file);
    let mode = match (cli.run.once, headless, service_pid) {
        (true, _, _) => Mode::Once,
        (false, true, _) => Mode::Watch,
        (false, false, Some(_)) => Mode::ApproveOnly,
        (false, false, None) => Mode::Console,
    };
    let _service_mark = (mode == Mode::Watch).then(|| crate::store::state::ServiceMark::new(&config.state_file));
    let grace = config.shutdown_grace;
    let uses_model = mode != Mode::ApproveOnly && matches!(*services.reasoner, crate::reasoner::Reasoner::Model(_));
    // The console's header: who reasons (or who does, for an approve-only console).
    let header = match service_pid {
        Some(pid) if mode == Mode::ApproveOnly => format!("approve-only: service pid {pid} does the triage"),
        _ => services.reasoner.name().to_string(),
    };
    let metrics = crate::metrics::Metrics::new(config.poll_interval);
    if let Some(addr) = config.metrics_addr {
        match crate::metrics::serve(addr, metrics.clone()).await {
            Ok(bound) => tracing::info!(%bound, "serving /metrics and /healthz"),
            Err(e) => return fail(EXIT_USAGE, format!("cannot serve metrics on {addr}: {e} (ONCALL_METRICS_ADDR)")),
        }
    }
    let state_file = config.state_file.clone();
    let mut handle = core::start(Arc::new(config), services, store, mode, metrics);
    let mut signals = Signals::new();
    let mut stop = Stop::Done;
    if !headless {
        // The console ends on `q`, or on a signal (its guard restores the terminal either way).
        let ended = tokio::select! {
            ended = crate::console::run(&mut handle, &header, uses_model) => ended,
            s = signals.next() => {
                stop = s;
                let _ = handle.submit(Op::Quit);
                Ok(crate::console::Ended::Quit { running: 1, waiting: 0 })
            }
        };
        let (running, waiting) = match ended {
            Err(e) => return fail(EXIT_FAILED, format!("the console failed: {e}")),
            Ok(crate::console::Ended::Quit { running, waiting }) => (running, waiting),
            Ok(crate::console::Ended::CoreStopped) => (0, 0),
        };
        // Said only when something is left: what runs on, and where the waiting drafts stay.
        if running > 0 {
            crate::output::err(format_args!(
                "oncall-triage: stopping; {running} running triage(s) get up to {} (a second Ctrl+C stops at once)",
                humantime::format_duration(grace)
            ));
        }
        if waiting > 0 {
            crate::output::err(format_args!(
                "oncall-triage: {waiting} draft(s) wait for approval in {}; they come back at the next start",
                state_file.display()
            ));
        }
    }
    let stop = follow(&mut handle, &mut signals, headless.then_some(&printer), stop).await;
    if headless
        && cli.run.once
        && let Some(summary) = printer.summary()
    {
        crate::output::out(format_args!("{summary}"));
    }
    match (handle.finish().await, stop) {
        (_, Stop::Interrupted) => EXIT_INTERRUPTED,
        (Err(e @ (CoreError::Poll(_) | CoreError::State(_) | CoreError::Closed | CoreError::Deferred(_))), _) => {
            fail(EXIT_FAILED, e)
        }
        (Ok(()), Stop::Done | Stop::Terminated) => EXIT_OK,
    }
}

/// The settings for this run, with the simulator behind them in the demo; an exit code when
/// they cannot work.
async fn settings(cli: &Cli) -> Result<(Config, Option<Simulator>), u8> {
    let (mut config, simulator) = super::configured(cli).await?;
    if !cli.run.no_tui {
        if cli.run.once || cli.run.json {
            return Err(fail(EXIT_USAGE, "--once and --json belong to headless mode: add --no-tui"));
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            return Err(fail(EXIT_USAGE, "the console needs a terminal: run it in one, or headless with --no-tui"));
        }
        // The console always asks: nothing is posted without the operator's key press.
        config.post = crate::config::PostPolicy::Queue;
    }
    Ok((config, simulator))
}

/// The clients and the state file the core works with.
fn connect(config: &Config) -> Result<(Services, StateStore), u8> {
    let reasoner = reasoner(config)?;
    let access = config.require_slack().map_err(|e| fail(EXIT_USAGE, e))?;
    let (token, channel) = (access.token.clone(), access.channel.to_string());
    let conductor_url = config.require_conductor().map_err(|e| fail(EXIT_USAGE, e))?.to_string();
    let services = Services {
        slack: SlackClient::new(&config.slack.api_url, token),
        channel,
        toolbox: Arc::new(toolbox(config, &conductor_url)),
        reasoner: Arc::new(reasoner),
    };
    let store = StateStore::open(&config.state_file).map_err(|e| fail(EXIT_USAGE, e))?;
    Ok((services, store))
}

/// Follows the core's events (printing them headless) until it stops. The first signal stops
/// intake and starts the grace period, a second one stops at once.
async fn follow(handle: &mut CoreHandle, signals: &mut Signals, mut printer: Option<&Printer>, mut stop: Stop) -> Stop {
    loop {
        tokio::select! {
            event = handle.next_event() => match event {
                Some(e) => {
                    if let Some(p) = printer && !p.print(&e) {
                        // Nobody reads any more (a pipe to `head`): stop as on SIGTERM.
                        printer = None;
                        let _ = handle.submit(Op::Quit);
                    }
                }
                None => return stop,
            },
            s = signals.next() => {
                if stop == Stop::Done {
                    stop = s;
                    let _ = handle.submit(Op::Quit);
                } else {
                    stop = Stop::Interrupted;
                    let _ = handle.submit(Op::Abort);
                }
            }
        }
    }
}
