//! The `oncall-triage` binary: parse the command line, start the runtime, run the command.

use std::process::ExitCode;

use clap::Parser;
use oncall_triage::cli::Cli;
use oncall_triage::commands;

/// glibc's allocator, set for a service that runs for days:
/// - each thread that allocates gets its own arena (up to 8 per core), and an arena keeps what
///   it once held: a service whose threads take turns at the same work grows by an arena's
///   worth per thread. Two arenas hold the headless RSS flat; the work is I/O-bound anyway.
/// - once a large block (an HTTP body, a log) is freed, glibc raises its mmap threshold (up to
///   32 MiB) and its trim threshold with it, so later large blocks come from the heap and their
///   memory is kept after they are freed. Fixed thresholds keep large blocks mapped on their
///   own, given back when freed, and the heap's free top trimmed past 128 KiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_MMAP_THRESHOLD: i32 = -3;
    const M_ARENA_MAX: i32 = -8;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists, as glibc asks.
    unsafe {
        mallopt(M_ARENA_MAX, 2);
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    }
    // Free pages inside the heap (not only at its top) go back to the system every few seconds,
    // so the process holds what it uses, not the most it ever used at once.
    let _ = std::thread::Builder::new().name("malloc-trim".into()).spawn(|| {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        loop {
            std::thread::sleep(TRIM_EVERY);
            // SAFETY: malloc_trim only returns free memory to the system; it is thread-safe.
            unsafe { malloc_trim(0) };
        }
    });
}

/// How often the allocator's free pages are returned to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
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
