//! The `oncall-triage` binary: parse the command line, start the runtime, run the command.

use std::process::ExitCode;

use clap::Parser;
use oncall_triage::cli::Cli;
use oncall_triage::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            oncall_triage::output::err(format_args!("oncall-triage: cannot start the async runtime: {e}"));
            return ExitCode::from(commands::EXIT_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(commands::run(cli)))
}
