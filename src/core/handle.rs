//! What a front-end holds: a `CoreHandle` to submit the operator's `Op`s and read the core's
//! `Event`s, and `start`, which wires the engine, the event fan-out (metrics, flight recorder)
//! and the front-end's channel together.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::engine::Engine;
use super::{Mode, Services, Shared};
use crate::config::Config;
use crate::protocol::{Event, Op};
use crate::slack::SlackError;
use crate::store::{StateError, StateStore};

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("poll failed: {0}")]
    Poll(#[from] SlackError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the core has stopped")]
    Closed,
    #[error(
        "{0} alert(s) could not be triaged because of a failure of ours or of a service (see above); they stay pending and are tried again on the next run"
    )]
    Deferred(usize),
}

/// How long `finish` waits for the flight recorder after the core stopped.
const FAN_OUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

pub struct CoreHandle {
    ops: mpsc::UnboundedSender<Op>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<Result<(), CoreError>>,
    /// Metrics and the flight recorder; ends after the core, once its last event is written.
    fan_out: JoinHandle<()>,
}

impl CoreHandle {
    pub fn submit(&self, op: Op) -> Result<(), CoreError> {
        self.ops.send(op).map_err(|_| CoreError::Closed)
    }

    /// The next event, or None once the core has stopped and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An event already waiting, without waiting for one.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits for the core to stop; its result says whether the run did what was asked.
    pub async fn finish(self) -> Result<(), CoreError> {
        drop(self.events);
        let result = self.task.await.unwrap_or(Err(CoreError::Closed));
        // Bounded, in case a detached task still holds an event sender.
        if tokio::time::timeout(FAN_OUT_GRACE, self.fan_out).await.is_err() {
            tracing::warn!("the flight recorder did not finish in time; its last lines may be missing");
        }
        result
    }
}

/// Starts the core on the current runtime.
pub fn start(
    config: Arc<Config>,
    services: Services,
    store: StateStore,
    mode: Mode,
    metrics: Arc<crate::metrics::Metrics>,
) -> CoreHandle {
    metrics.read_clients(services.slack.stats(), services.toolbox.conductor_stats());
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    // Every event (the engine's, the jobs', the tools') passes the metrics and the flight
    // recorder on its way out.
    let (events_tx, mut inner_rx) = mpsc::unbounded_channel::<Event>();
    let (outer_tx, events_rx) = mpsc::unbounded_channel();
    let recorder = crate::store::transcript::Recorder::beside(&config.state_file);
    let fan_out = tokio::spawn(async move {
        while let Some(event) = inner_rx.recv().await {
            metrics.observe(&event);
            recorder.record(&event);
            if outer_tx.send(event).is_err() {
                // The front-end is gone; keep counting.
                continue;
            }
        }
        // Every event sender is gone (the core stopped): the recorder writes what is left.
        let _ = tokio::task::spawn_blocking(move || recorder.finish()).await;
    });
    let shared = Arc::new(Shared {
        investigations: Semaphore::new(config.max_triages),
        config,
        services,
        store,
        events: events_tx,
        running: Mutex::new(HashMap::new()),
        deferred: Default::default(),
        backoff: Mutex::default(),
    });
    let engine = Engine {
        shared,
        jobs: JoinSet::new(),
        active: Arc::default(),
        announced: HashSet::new(),
        restored_recent: false,
    };
    let task = tokio::spawn(engine.run(mode, ops_rx));
    CoreHandle { ops: ops_tx, events: events_rx, task, fan_out }
}
