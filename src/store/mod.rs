//! What the product keeps on disk: the state file (seen alerts, claims, incidents, queued replies).

pub mod state;

pub use state::{AlertRecord, AlertStatus, ChannelState, Incident, State, StateError, StateStore};
