//! The Slack side: the Web API client, the alert parser, the reply format, and `ts` values.

pub mod alert;
pub mod client;
pub mod reply;
mod ts;

pub use client::{SlackClient, SlackError};
pub use ts::Ts;
