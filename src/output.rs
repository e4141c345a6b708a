//! The product's own lines on stdout and stderr. A closed stream (a pipe to `head`, a log
//! collector gone) never panics the process: a line that cannot be written is dropped, and the
//! headless front-end stops on a closed stdout (`Printer`).

use std::fmt::Arguments;
use std::io::Write;

/// A line on stdout; false when stdout is closed.
pub fn out(line: Arguments) -> bool {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_ok()
}

/// Text on stdout as it is (no newline added); false when stdout is closed.
pub fn out_raw(text: Arguments) -> bool {
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{text}").and_then(|()| stdout.flush()).is_ok()
}

/// A line on stderr; false (the line dropped) when stderr is closed.
pub fn err(line: Arguments) -> bool {
    writeln!(std::io::stderr().lock(), "{line}").is_ok()
}
