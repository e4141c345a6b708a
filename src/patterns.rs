//! Regexes the crate writes itself, compiled once (in a `LazyLock`): a pattern that does not
//! compile is a bug of this crate, found by the first test that touches it.

use regex::Regex;

/// Compiles a pattern written in this crate.
#[allow(clippy::expect_used)]
pub fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a pattern written in this crate compiles")
}
