//! oncall-triage: watches a Slack alert channel for Conductor health-check failures, investigates
//! each one read-only through Conductor, and proposes a root-cause reply for the alert's thread.
//!
//! Layout: `slack` and `conductor` talk to the outside; `reasoner` turns evidence into a
//! hypothesis; `core` runs the per-alert flow and speaks `protocol` to the front-ends
//! (`headless`, later the TUI); `sim` is the built-in simulator of Slack and Conductor.

pub mod cli;
pub mod commands;
pub mod conductor;
pub mod config;
pub mod core;
pub mod eval;
pub mod headless;
pub mod http;
pub mod logging;
pub mod protocol;
pub mod reasoner;
pub mod redact;
pub mod sim;
pub mod slack;
pub mod store;
pub mod tools;
