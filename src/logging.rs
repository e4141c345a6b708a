//! Logging: a non-blocking, daily-rolling file under the log dir (old files pruned), plus stderr
//! in headless mode. The console never logs to the terminal. RUST_LOG filters.

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

use crate::redact::Redacting;

/// Keeps the file writer flushing; drop it last.
pub struct LogGuard {
    _file: Option<WorkerGuard>,
}

/// Log lines that may wait for the log file's writer.
const LOG_QUEUE_LINES: usize = 4096;

/// Starts logging. A log dir that cannot be written is reported once on stderr, not fatal.
pub fn init(dir: &Path, keep: usize, filter: &str, to_stderr: bool) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        crate::output::err(format_args!("oncall-triage: RUST_LOG={filter:?} is not a valid filter ({e}); using info"));
        EnvFilter::new("info")
    });
    let appender = std::fs::create_dir_all(dir).map_err(|e| e.to_string()).and_then(|()| {
        Builder::new()
            .rotation(Rotation::DAILY)
            .filename_prefix("oncall-triage")
            .filename_suffix("log")
            .max_log_files(keep)
            .build(dir)
            .map_err(|e| e.to_string())
    });
    let (file_layer, guard) = match appender {
        Ok(appender) => {
            // The writer's queue is allocated whole up front (128,000 lines, 4 MB, by default):
            // a few thousand lines absorb any burst, and a full queue makes the logger wait
            // rather than drop a line.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_QUEUE_LINES)
                .lossy(false)
                .finish(Redacting(appender));
            (Some(fmt::layer().with_ansi(false).with_writer(writer)), Some(guard))
        }
        Err(e) => {
            crate::output::err(format_args!(
                "oncall-triage: cannot write logs under {} ({e}); set ONCALL_LOG_DIR",
                dir.display()
            ));
            (None, None)
        }
    };
    // Colour only on a terminal, and never with NO_COLOR set.
    let color = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let stderr_layer = to_stderr.then(|| fmt::layer().with_ansi(color).with_writer(|| Redacting(std::io::stderr())));
    let _ = tracing_subscriber::registry().with(filter).with(file_layer).with(stderr_layer).try_init();
    LogGuard { _file: guard }
}
