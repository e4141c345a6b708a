//! The engine loop: poll (or, approve-only, look at the state file) every interval, run the
//! operator's decisions as they come, and on `Quit` give running triages the grace period,
//! then record the unfinished ones as interrupted so the next start resumes them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::handle::CoreError;
use super::{Mode, Shared, operator};
use crate::domain::Ts;
use crate::protocol::{Event, Op, Service, SkipReason};
use crate::store::{AlertStatus, state::now_secs};

/// How often an approve-only console looks at the state file.
const APPROVE_ONLY_INTERVAL: Duration = Duration::from_secs(2);

pub(super) struct Engine {
    pub shared: Arc<Shared>,
    pub jobs: JoinSet<()>,
    /// Alerts with a job in this process right now.
    pub active: Arc<Mutex<HashSet<Ts>>>,
    /// Alerts already announced with `alert.received` (or restored) by this process.
    pub announced: HashSet<Ts>,
    /// The recently settled alerts were restored (once, at the first look).
    pub restored_recent: bool,
}

impl Engine {
    pub async fn run(mut self, mode: Mode, mut ops: mpsc::UnboundedReceiver<Op>) -> Result<(), CoreError> {
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
                Mode::ApproveOnly => self.restore().await.map_err(CoreError::from),
                Mode::Once | Mode::Watch => self.poll().await,
                Mode::Console => match self.poll().await {
                    Ok(n) => self.restore().await.map(|_| n).map_err(CoreError::from),
                    Err(e) => Err(e),
                },
            };
            match &polled {
                Ok(new_alerts) => self.shared.emit(Event::PollFinished {
                    new_alerts: *new_alerts,
                    next_poll_in_ms: (mode != Mode::Once).then_some(interval.as_millis() as u64),
                }),
                Err(e) => {
                    // `--once` ends with this error as its last line: said there, once.
                    if mode == Mode::Once {
                        tracing::debug!(error = %e, "poll failed");
                    } else {
                        tracing::error!(error = %e, "poll failed");
                    }
                    let service = match e {
                        CoreError::Poll(_) | CoreError::Closed | CoreError::Deferred(_) => Service::Slack,
                        CoreError::State(_) => Service::State,
                    };
                    if mode != Mode::Once {
                        self.shared.emit(Event::ServiceError { service, error: e.to_string() });
                    }
                }
            }
            if mode == Mode::Once {
                self.finish(&mut ops, None).await;
                polled?;
                return match self.shared.deferred.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => Ok(()),
                    n => Err(CoreError::Deferred(n)),
                };
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
}
