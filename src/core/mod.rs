//! The engine behind every front-end: polls the alert channel, records what is new (in the same
//! state write that advances the high-water mark, so nothing seen is ever lost), and runs one job
//! per alert through the lifecycle of interfaces.md (at most ONCALL_MAX_TRIAGES investigations at
//! once). Everything is reported as `Event`s; front-ends hold a `CoreHandle`.

mod job;
mod lifecycle;
mod operator;
mod triage;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

pub use triage::{TriageError, investigate};

use crate::config::Config;
use crate::domain::Alert;
use crate::domain::Ts;
use crate::protocol::{Event, Op, Service, SkipReason};
use crate::slack::alert;
use crate::slack::{SlackClient, SlackError};
use crate::store::{AlertRecord, AlertStatus, Incident, StateError, StateStore, state::now_secs};
use crate::tools::Toolbox;

/// However long the product was down, it reads at most this far back (older alerts are stale).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

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

/// How often an approve-only console looks at the state file.
const APPROVE_ONLY_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("poll failed: {0}")]
    Poll(#[from] SlackError),
    #[error(transparent)]
    State(#[from] StateError),
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

    /// An event already waiting, without waiting for one.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Waits for the core to stop; its result says whether the run did what was asked.
    pub async fn finish(self) -> Result<(), CoreError> {
        drop(self.events);
        self.task.await.unwrap_or(Err(CoreError::Closed))
    }
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

/// Starts the core on the current runtime.
pub fn start(
    config: Arc<Config>,
    services: Services,
    store: StateStore,
    mode: Mode,
    metrics: Arc<crate::metrics::Metrics>,
) -> CoreHandle {
    let (ops_tx, ops_rx) = mpsc::unbounded_channel();
    // Every event (the engine's, the jobs', the tools') passes the metrics and the flight
    // recorder on its way out.
    let (events_tx, mut inner_rx) = mpsc::unbounded_channel::<Event>();
    let (outer_tx, events_rx) = mpsc::unbounded_channel();
    let recorder = crate::store::transcript::Recorder::beside(&config.state_file);
    tokio::spawn(async move {
        while let Some(event) = inner_rx.recv().await {
            metrics.observe(&event);
            recorder.record(&event);
            if outer_tx.send(event).is_err() {
                // The front-end is gone; keep counting.
                continue;
            }
        }
    });
    let shared = Arc::new(Shared {
        investigations: Semaphore::new(config.max_triages),
        config,
        services,
        store,
        events: events_tx,
        running: Mutex::new(HashMap::new()),
    });
    let engine = Engine { shared, jobs: JoinSet::new(), active: Arc::default(), announced: HashSet::new() };
    let task = tokio::spawn(engine.run(mode, ops_rx));
    CoreHandle { ops: ops_tx, events: events_rx, task }
}

struct Engine {
    shared: Arc<Shared>,
    jobs: JoinSet<()>,
    /// Alerts with a job in this process right now.
    active: Arc<Mutex<HashSet<Ts>>>,
    /// Alerts already announced with `alert.received` by this process.
    announced: HashSet<Ts>,
}

impl Engine {
    async fn run(mut self, mode: Mode, mut ops: mpsc::UnboundedReceiver<Op>) -> Result<(), CoreError> {
        loop {
            // Finished jobs are reaped as we go, so a long-running service holds only live ones.
            while let Some(done) = self.jobs.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "an alert job panicked");
                }
            }
            let interval =
                if mode == Mode::ApproveOnly { APPROVE_ONLY_INTERVAL } else { self.shared.config.poll_interval };
            let polled = match mode {
                Mode::ApproveOnly => self.announce_queued().await.map_err(CoreError::from),
                Mode::Once | Mode::Watch => self.poll().await,
                Mode::Console => match self.poll().await {
                    Ok(n) => self.announce_queued().await.map(|_| n).map_err(CoreError::from),
                    Err(e) => Err(e),
                },
            };
            match &polled {
                Ok(new_alerts) => self.shared.emit(Event::PollFinished {
                    new_alerts: *new_alerts,
                    next_poll_in_ms: (mode != Mode::Once).then_some(interval.as_millis() as u64),
                }),
                Err(e) => {
                    tracing::error!(error = %e, "poll failed");
                    let service = match e {
                        CoreError::Poll(_) | CoreError::Closed => Service::Slack,
                        CoreError::State(_) => Service::State,
                    };
                    self.shared.emit(Event::ServiceError { service, error: e.to_string() });
                }
            }
            if mode == Mode::Once {
                self.finish(&mut ops, None).await;
                return polled.map(|_| ());
            }
            // Decisions run as they come; the next poll keeps its time.
            let next_poll = tokio::time::Instant::now() + interval;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next_poll) => break,
                    op = ops.recv() => match op {
                        None | Some(Op::Quit | Op::Abort) => {
                            let grace = tokio::time::Instant::now() + self.shared.config.shutdown_grace;
                            self.finish(&mut ops, Some(grace)).await;
                            return Ok(());
                        }
                        Some(decision) => {
                            self.jobs.spawn(operator::decide(self.shared.clone(), decision));
                        }
                    },
                }
            }
        }
    }

    /// Waits for the running jobs: all of them, or until the grace deadline (set by the first
    /// `Quit` when there is none yet); `Abort`, or the front-end going away, ends the wait at once.
    /// Jobs still running then are stopped and recorded as interrupted: the next start resumes
    /// them (their thread is read before any post, so nothing is posted twice).
    async fn finish(&mut self, ops: &mut mpsc::UnboundedReceiver<Op>, mut deadline: Option<tokio::time::Instant>) {
        let grace = self.shared.config.shutdown_grace;
        loop {
            let expired = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = self.jobs.join_next() => match done {
                    None => return,
                    Some(Err(e)) if e.is_panic() => tracing::error!(error = %e, "an alert job panicked"),
                    Some(_) => {}
                },
                _ = expired => break,
                op = ops.recv() => match op {
                    Some(Op::Quit) if deadline.is_none() => {
                        tracing::info!(grace = %humantime::format_duration(grace), "stopping: running triages get the grace period");
                        deadline = Some(tokio::time::Instant::now() + grace);
                    }
                    Some(Op::Quit) => {}
                    None | Some(Op::Abort) => break,
                    Some(decision) => {
                        self.jobs.spawn(operator::decide(self.shared.clone(), decision));
                    }
                },
            }
        }
        let unfinished: Vec<Ts> = self.active.lock().map(|a| a.iter().copied().collect()).unwrap_or_default();
        self.jobs.abort_all();
        while self.jobs.join_next().await.is_some() {}
        if unfinished.is_empty() {
            return;
        }
        tracing::warn!(count = unfinished.len(), "stopped with triages unfinished: recorded as interrupted");
        let marked = unfinished.clone();
        let saved = self
            .shared
            .state(move |c| {
                for ts in marked {
                    if let Some(r) = c.alerts.get_mut(&ts)
                        && matches!(r.status, AlertStatus::Pending | AlertStatus::Claimed)
                    {
                        r.status = AlertStatus::Interrupted;
                        r.updated_at = now_secs();
                    }
                }
            })
            .await;
        if let Err(e) = saved {
            tracing::error!(error = %e, "cannot record the interrupted triages");
        }
        for ts in unfinished {
            self.shared.emit(Event::AlertSkipped { alert_ts: ts, reason: SkipReason::Interrupted });
        }
    }

    /// Reads what is new in the channel, records it, and starts a job for every alert that
    /// needs one (new, resumed after a restart, or a foreign claim whose lease ran out).
    async fn poll(&mut self) -> Result<usize, CoreError> {
        let sh = self.shared.clone();
        let config = &sh.config;
        let now = Ts::now();
        let high_water = sh.read(|c| c.high_water).await?;
        let oldest = match high_water {
            Some(h) => h.max(now.minus(CATCH_UP_LIMIT)),
            None => now.minus(config.lookback),
        };
        let messages = sh.services.slack.history_since(&sh.services.channel, oldest, config.slack.page_size).await?;

        let mut seen: Vec<(Ts, Alert)> = Vec::new();
        let mut newest = high_water;
        for message in &messages {
            let Some(ts) = message.get("ts").and_then(|v| v.as_str()).and_then(Ts::parse) else { continue };
            newest = Some(newest.map_or(ts, |h| h.max(ts)));
            match alert::from_message(message) {
                Ok(a) => seen.push((ts, a)),
                Err(why) => tracing::debug!(%ts, %why, "not an alert"),
            }
        }

        // One write records every new alert, its incident, and the new high-water mark.
        let (lookback, cooldown) = (config.lookback, config.refire_cooldown);
        let recorded = sh
            .state(move |c| {
                let mut fresh: Vec<(Ts, Alert, bool)> = Vec::new();
                for (ts, alert) in seen {
                    if c.alerts.contains_key(&ts) {
                        continue;
                    }
                    let stale = ts.age(now) > lookback;
                    let signature = alert.signature();
                    if !stale {
                        let incident = c.incidents.get(&signature);
                        let rank = alert.severity.map(|s| s as u8);
                        if lifecycle::refire(incident, ts, rank, now_secs(), cooldown) == lifecycle::Refire::NewIncident
                        {
                            c.incidents.insert(
                                signature.clone(),
                                Incident {
                                    first_ts: ts,
                                    severity: alert.severity,
                                    triaged_at: now_secs(),
                                    status: AlertStatus::Pending,
                                    text: None,
                                    root_cause: None,
                                    refires: 0,
                                },
                            );
                        }
                    }
                    c.alerts.insert(
                        ts,
                        AlertRecord {
                            status: if stale { AlertStatus::Skipped } else { AlertStatus::Pending },
                            alert: alert.clone(),
                            signature,
                            claimed_at: None,
                            reply_ts: None,
                            text: None,
                            updated_at: now_secs(),
                            owner: None,
                        },
                    );
                    fresh.push((ts, alert, stale));
                }
                c.high_water = newest;
                fresh
            })
            .await?;

        if !recorded.is_empty() {
            tracing::info!(new = recorded.len(), messages = messages.len(), "poll found new alerts");
        }
        for (ts, alert, stale) in &recorded {
            self.announce(*ts, alert);
            if *stale {
                sh.emit(Event::AlertSkipped { alert_ts: *ts, reason: SkipReason::Stale });
            }
        }

        // Every alert that needs work, oldest first, so an original starts before its re-fires.
        let lease = config.slack.claim_lease;
        let work: Vec<(Ts, AlertRecord, bool)> = sh
            .read(move |c| {
                c.alerts
                    .iter()
                    .filter(|(ts, r)| match r.status {
                        AlertStatus::Claimed if r.claimed_by_another() => false,
                        AlertStatus::Pending | AlertStatus::Claimed | AlertStatus::Interrupted => true,
                        AlertStatus::ClaimedElsewhere => ts.age(now) >= lease,
                        _ => false,
                    })
                    .map(|(ts, r)| {
                        let first = c.incidents.get(&r.signature).is_some_and(|i| i.first_ts == *ts);
                        (*ts, r.clone(), first)
                    })
                    .collect()
            })
            .await?;
        for (ts, record, first_of_incident) in work {
            if !self.active.lock().map(|mut a| a.insert(ts)).unwrap_or(false) {
                continue;
            }
            // An incident's first alert is marked running before any job starts, so a re-fire
            // in the same batch waits for it instead of racing it.
            if first_of_incident && let Ok(mut running) = sh.running.lock() {
                running.insert(record.signature.clone(), (ts, watch::channel(()).0));
            }
            self.announce(ts, &record.alert);
            let job = job::Job::new(sh.clone(), ts, record, self.active.clone());
            self.jobs.spawn(job.run());
        }
        Ok(recorded.iter().filter(|(_, _, stale)| !stale).count())
    }

    /// Drafts waiting for approval in the state file (queued by this process before a restart,
    /// or by a service sharing the file) that this process has not shown yet: announced with
    /// their text, so a console can decide on them. Returns how many.
    async fn announce_queued(&mut self) -> Result<usize, StateError> {
        let announced: HashSet<Ts> = self.announced.clone();
        let queued: Vec<(Ts, Alert, String)> = self
            .shared
            .read(move |c| {
                c.alerts
                    .iter()
                    .filter(|(ts, r)| r.status == AlertStatus::Queued && !announced.contains(ts))
                    .filter_map(|(ts, r)| Some((*ts, r.alert.clone(), r.text.clone()?)))
                    .collect()
            })
            .await?;
        for (ts, alert, text) in &queued {
            self.announce(*ts, alert);
            self.shared.emit(Event::HypothesisReady {
                alert_ts: *ts,
                execution_id: alert.execution_id.clone(),
                text: text.clone(),
                root_cause: String::new(),
                refire_of: None,
            });
            self.shared.emit(Event::PostQueued { alert_ts: *ts, reason: SkipReason::QueuedForApproval });
        }
        Ok(queued.len())
    }

    fn announce(&mut self, ts: Ts, alert: &Alert) {
        if self.announced.insert(ts) {
            self.shared.emit(Event::AlertReceived {
                alert_ts: ts,
                execution_id: alert.execution_id.clone(),
                severity: alert.severity,
                cluster: alert.cluster.clone(),
                kinds: alert.kinds(),
            });
            self.shared.emit(Event::AlertDetail { alert_ts: ts, alert: alert.clone() });
        }
    }
}
