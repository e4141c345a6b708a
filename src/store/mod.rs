//! What the product keeps on disk: the state file (seen alerts, claims, incidents, queued replies)
//! and the flight recorder's transcripts (one per alert).

pub mod state;
pub mod transcript;

pub use state::{AlertRecord, AlertStatus, ChannelState, Incident, State, StateError, StateStore};
