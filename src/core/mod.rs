//! The engine behind every front-end: polls the alert channel, recognises alerts, runs their
//! triages (at most ONCALL_MAX_TRIAGES at once), applies the post policy, and reports all of it
//! as `Event`s. Front-ends hold a `CoreHandle`: `submit(Op)` in, `next_event()` out.

mod triage;

use std::sync::Arc;

use thiserror::Error;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

pub use triage::{TriageError, investigate};

use crate::conductor::ConductorClient;
use crate::config::Config;
use crate::protocol::{Event, Op, Service};
use crate::slack::alert;
use crate::slack::{SlackClient, SlackError, Ts};

/// The clients a watching core talks through.
#[derive(Clone)]
pub struct Services {
    pub slack: SlackClient,
    pub channel: String,
    pub conductor: Arc<ConductorClient>,
}

/// How long the core runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One poll, wait for its triages, stop (`--once`).
    Once,
    /// Poll every interval until `Op::Quit`.
    Watch,
}

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("poll failed: {0}")]
    Poll(#[from] SlackError),
    #[error("the core has stopped")]
    Closed,
}

pub struct CoreHandle {
    ops: mpsc::UnboundedSender<Op>,
    events: mpsc::UnboundedReceiver<Event>,
    task: JoinHandle<Result<(), CoreError>>,
}

impl CoreHandle {
    pub fn submit(&self, op: Op) -> Result<(), CoreError> {
        self.ops.send(op).map_err(|_| CoreError::Closed)
    }

    /// The next event, or None once the core has stopped and every event was read.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Waits for the core to stop; its result says whether the run did what was asked.
    pub async fn finish(self) -> Result<(), CoreError> {
        drop(self.events);
        self.task.await.unwrap_or(Err(CoreError::Closed))
    }
}

/// Starts the core on the current runtime.
pub fn start(config: Arc<Config>, services: Services, mode: Mode) -> CoreHandle {
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let engine = Engine {
        limiter: Arc::new(Semaphore::new(config.max_triages)),
        config,
        services,
        events: events_tx,
        high_water: None,
        triages: JoinSet::new(),
    };
    let task = tokio::spawn(engine.run(mode, ops_rx));
    CoreHandle {
        ops: ops_tx,
        events: events_rx,
        task,
    }
}

struct Engine {
    config: Arc<Config>,
    services: Services,
    events: mpsc::UnboundedSender<Event>,
    /// The newest message ts seen; the next poll asks for what came after it.
    high_water: Option<Ts>,
    triages: JoinSet<()>,
    limiter: Arc<Semaphore>,
}

impl Engine {
    fn emit(&self, event: Event) {
        // A front-end that stopped listening is not the core's failure.
        let _ = self.events.send(event);
    }

    async fn run(
        mut self,
        mode: Mode,
        mut ops: mpsc::UnboundedReceiver<Op>,
    ) -> Result<(), CoreError> {
        loop {
            let polled = self.poll().await;
            match &polled {
                Ok(new_alerts) => self.emit(Event::PollFinished {
                    new_alerts: *new_alerts,
                    next_poll_in_ms: (mode == Mode::Watch)
                        .then(|| self.config.poll_interval.as_millis() as u64),
                }),
                Err(e) => {
                    tracing::error!(error = %e, "poll failed");
                    self.emit(Event::ServiceError {
                        service: Service::Slack,
                        error: e.to_string(),
                    });
                }
            }
            if mode == Mode::Once {
                self.drain().await;
                return polled.map(|_| ()).map_err(CoreError::from);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                op = ops.recv() => match op {
                    None | Some(Op::Quit) => break,
                    Some(other) => tracing::info!(?other, "operator decisions arrive with the console"),
                },
            }
        }
        self.drain().await;
        Ok(())
    }

    async fn drain(&mut self) {
        while let Some(done) = self.triages.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "a triage task panicked");
            }
        }
    }

    /// Reads what is new in the channel and starts a triage for every alert; returns how many.
    async fn poll(&mut self) -> Result<usize, SlackError> {
        let oldest = self
            .high_water
            .unwrap_or_else(|| Ts::now().minus(self.config.lookback));
        let messages = self
            .services
            .slack
            .history_since(&self.services.channel, oldest, self.config.slack.page_size)
            .await?;
        let mut alerts = 0;
        for message in messages {
            let Some(ts) = message
                .get("ts")
                .and_then(|v| v.as_str())
                .and_then(Ts::parse)
            else {
                continue;
            };
            self.high_water = Some(self.high_water.map_or(ts, |h| h.max(ts)));
            let alert = match alert::from_message(&message) {
                Ok(a) => a,
                Err(why) => {
                    tracing::debug!(%ts, %why, "not an alert");
                    continue;
                }
            };
            alerts += 1;
            self.emit(Event::AlertReceived {
                alert_ts: ts,
                execution_id: alert.execution_id.clone(),
                severity: alert.severity,
                cluster: alert.cluster.clone(),
                kinds: alert.kinds(),
            });
            let job = triage::Job {
                alert_ts: ts,
                alert,
                policy: self.config.post,
                services: self.services.clone(),
                events: self.events.clone(),
            };
            let limiter = self.limiter.clone();
            self.triages.spawn(async move {
                let Ok(_permit) = limiter.acquire_owned().await else {
                    return;
                };
                job.run().await;
            });
        }
        Ok(alerts)
    }
}
