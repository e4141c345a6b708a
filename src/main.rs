//! The `oncall-triage` binary: parse the command line, start the runtime, run the command.

use std::process::ExitCode;

use clap::Parser;
use oncall_triage::cli::Cli;
use oncall_triage::commands;

/// glibc gives each thread that allocates its own arena (up to 8 per core), and an arena keeps
/// what it once held: a service whose threads take turns at the same work grows by an arena's
/// worth per thread. Two arenas hold the headless RSS flat; the work is I/O-bound anyway.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn few_arenas() {
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread
    // exists, as glibc asks.
    unsafe {
        mallopt(M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn few_arenas() {}

fn main() -> ExitCode {
    few_arenas();
    let cli = Cli::parse();
    // The blocking pool runs the state file's reads and writes, which its lock serializes
    // anyway: a few threads do, and each thread more would be one more allocator arena holding
    // memory (the headless RSS stays flat over days).
    let runtime = match tokio::runtime::Builder::new_multi_thread().max_blocking_threads(4).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            oncall_triage::output::err(format_args!("oncall-triage: cannot start the async runtime: {e}"));
            return ExitCode::from(commands::EXIT_FAILED);
        }
    };
    ExitCode::from(runtime.block_on(commands::run(cli)))
}
