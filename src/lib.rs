//! oncall-triage: watches a Slack alert channel for Conductor health-check failures, investigates
//! each one read-only through Conductor, and proposes a root-cause reply for the alert's thread.
//!
//! Layout: `domain` holds the facts every layer shares (alert, ts, command, hypothesis) and
//! imports no adapter; `slack` and `conductor` talk to the outside; `tools` are the read-only
//! investigations; `reasoner` turns evidence into a hypothesis; `core` runs the per-alert flow
//! and speaks `protocol` to the front-ends (`console`, the TUI, and `headless`); `sim` is the
//! built-in simulator of Slack, Conductor and a scripted model; `store` keeps the state file.

pub mod cli;
pub mod commands;
pub mod conductor;
pub mod config;
pub mod console;
pub mod core;
pub mod domain;
pub mod eval;
pub mod headless;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod patterns;
pub mod preflight;
pub mod protocol;
pub mod reasoner;
pub mod redact;
pub mod replay;
pub mod secret;
pub mod sim;
pub mod slack;
pub mod store;
pub mod tools;
