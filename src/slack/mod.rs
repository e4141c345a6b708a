//! The Slack side: the Web API client, the alert parser and the reply format.

pub mod alert;
pub mod client;
pub mod reply;

pub use alert::NotAnAlert;
pub use client::{ChannelInfo, ChannelMessage, Identity, Reaction, SlackClient, SlackError};
