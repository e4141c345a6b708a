//! The engine behind every front-end, one concern per file, in the order an alert meets them:
//! - `intake`: poll the channel, record what is new (nothing seen is ever lost);
//! - `job`: one alert's way: claim → check the thread → re-fire or investigate → deliver;
//! - `triage`: the investigation itself (execution, tools, reasoner) → a hypothesis;
//! - `delivery`: the thread check and the post, for the job and for the operator;
//! - `operator`: the console's decisions (approve, edit, reject, re-triage);
//! - `lifecycle`: the pure decisions of interfaces.md's lifecycle, table-tested;
//! - `engine`: the loop that polls, runs decisions and stops gracefully;
//! - `handle`: what a front-end holds (`start`, `CoreHandle`).
//!
//! Everything is reported as `Event`s. This file holds what those parts share.

mod delivery;
mod engine;
mod handle;
mod intake;
mod job;
mod lifecycle;
mod operator;
mod restore;
mod triage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc, watch};

pub use handle::{CoreError, CoreHandle, start};
pub use triage::{TriageError, investigate};

use crate::config::Config;
use crate::domain::Ts;
use crate::protocol::Event;
use crate::slack::SlackClient;
use crate::store::{StateError, StateStore};
use crate::tools::Toolbox;

/// A failure of ours or of a service we depend on (Slack, Conductor, the model), as opposed to
/// a fact about the customer's cluster: it never becomes a reply and never marks an alert
/// handled. The alert stays pending and is tried again with backoff.
pub(crate) struct Ours {
    pub error: String,
    pub service: crate::protocol::Service,
}

/// The clients a watching core talks through.
#[derive(Clone)]
pub struct Services {
    pub slack: SlackClient,
    pub channel: String,
    pub toolbox: Arc<Toolbox>,
    pub reasoner: Arc<crate::reasoner::Reasoner>,
}

/// How long the core runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One poll, wait for its jobs, stop (`--once`).
    Once,
    /// Poll every interval until `Op::Quit`.
    Watch,
    /// `Watch` for the console: it also shows the drafts already waiting in the state file.
    Console,
    /// No intake: a service owns this state file. Shows the drafts it queued (read from the
    /// state file every few seconds) and carries out the operator's decisions on them.
    ApproveOnly,
}

/// What the engine and its jobs share.
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub services: Services,
    pub store: StateStore,
    pub events: mpsc::UnboundedSender<Event>,
    /// Investigations running at once.
    pub investigations: Semaphore,
    /// Incidents whose first triage runs in this process: signature → (that alert, a sender
    /// whose drop tells waiting re-fires the triage is over and recorded).
    pub running: Mutex<HashMap<String, (Ts, watch::Sender<()>)>>,
    /// Alerts left pending by a failure of ours in this run (`--once` exits 1 when any).
    pub deferred: std::sync::atomic::AtomicUsize,
    /// Deferred alerts: when each may be tried again, and how many tries it has cost. Kept in
    /// memory: a restart (often the fix) tries them at once.
    pub backoff: Mutex<HashMap<Ts, (tokio::time::Instant, u32)>>,
}

impl Shared {
    pub fn emit(&self, event: Event) {
        // A front-end that stopped listening is not the core's failure.
        let _ = self.events.send(event);
    }

    /// Reads this channel's state off the async threads (under the lock; nothing is written).
    pub async fn read<R: Send + 'static>(
        &self,
        look: impl FnOnce(&crate::store::ChannelState) -> R + Send + 'static,
    ) -> Result<R, StateError> {
        let store = self.store.clone();
        let channel = self.services.channel.clone();
        tokio::task::spawn_blocking(move || {
            store.look(|s| look(s.channels.get(&channel).unwrap_or(&crate::store::ChannelState::default())))
        })
        .await
        .unwrap_or_else(|e| Err(StateError::Io { path: "state".into(), reason: e.to_string() }))
    }

    /// Runs a state change off the async threads (it takes a file lock and fsyncs).
    pub async fn state<R: Send + 'static>(
        &self,
        change: impl FnOnce(&mut crate::store::ChannelState) -> R + Send + 'static,
    ) -> Result<R, StateError> {
        let store = self.store.clone();
        let channel = self.services.channel.clone();
        tokio::task::spawn_blocking(move || store.update(|s| change(s.channel(&channel))))
            .await
            .unwrap_or_else(|e| Err(StateError::Io { path: "state".into(), reason: e.to_string() }))
    }
}
