//! One alert's way through the lifecycle of interfaces.md: claim it (state first, then the claim
//! reaction), check its thread, answer a re-fire from its incident's first triage or investigate
//! afresh, then deliver the reply as the policy says and mark the alert done or failed. Every
//! step is recorded in the state file; Slack writes happen only when the policy allows them.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::lifecycle::{self, AfterClaim, Refire};
use super::triage::{self, Outcome};
use super::{Ours, Shared, delivery};
use crate::config::PostPolicy;
use crate::domain::Ts;
use crate::protocol::{Event, SkipReason};
use crate::slack::{Reaction, reply};
use crate::store::{AlertRecord, AlertStatus, StateError, state::now_secs};
use crate::tools::Scope;

/// Why a job stopped before its alert was done: the state file failed, or a failure of ours
/// (the alert is then deferred, never answered with it).
enum Stop {
    State(StateError),
    Ours(Ours),
}

impl From<StateError> for Stop {
    fn from(e: StateError) -> Stop {
        Stop::State(e)
    }
}

impl From<Ours> for Stop {
    fn from(o: Ours) -> Stop {
        Stop::Ours(o)
    }
}

/// The longest wait before a deferred alert is tried again.
const MAX_RETRY_WAIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub(super) struct Job {
    shared: Arc<Shared>,
    ts: Ts,
    record: AlertRecord,
    active: Arc<Mutex<HashSet<Ts>>>,
}

impl Job {
    pub fn new(shared: Arc<Shared>, ts: Ts, record: AlertRecord, active: Arc<Mutex<HashSet<Ts>>>) -> Job {
        Job { shared, ts, record, active }
    }

    fn policy(&self) -> PostPolicy {
        self.shared.config.post
    }

    pub async fn run(self) {
        match self.handle().await {
            Ok(()) => {}
            Err(Stop::Ours(ours)) => self.defer(ours).await,
            Err(Stop::State(e)) => {
                tracing::error!(alert_ts = %self.ts, error = %e, "alert job stopped");
                self.shared.emit(Event::TriageFailed { alert_ts: self.ts, error: e.to_string(), cause: None });
            }
        }
        // Whatever happened, re-fires waiting on this triage may go on now.
        if let Ok(mut running) = self.shared.running.lock()
            && running.get(&self.record.signature).is_some_and(|(owner, _)| *owner == self.ts)
        {
            running.remove(&self.record.signature);
        }
        if let Ok(mut active) = self.active.lock() {
            active.remove(&self.ts);
        }
    }

    /// Sets this alert's record (and returns the previous one).
    async fn set(&self, change: impl FnOnce(&mut AlertRecord) + Send + 'static) -> Result<(), StateError> {
        let ts = self.ts;
        self.shared
            .state(move |c| {
                if let Some(r) = c.alerts.get_mut(&ts) {
                    change(r);
                    r.updated_at = now_secs();
                }
            })
            .await
    }

    async fn skip(&self, reason: SkipReason, status: AlertStatus) -> Result<(), StateError> {
        tracing::info!(alert_ts = %self.ts, ?reason, "alert skipped");
        self.set(move |r| r.status = status).await?;
        self.shared.emit(Event::AlertSkipped { alert_ts: self.ts, reason });
        Ok(())
    }

    async fn thread_answered(&self) -> Result<bool, Ours> {
        delivery::thread_answered(&self.shared, self.ts).await
    }

    /// Leaves the alert pending after a failure of ours, to be tried again after a backoff that
    /// doubles from the poll interval up to half an hour. Nothing is posted.
    async fn defer(&self, ours: Ours) {
        let interval = self.shared.config.poll_interval;
        let wait = match self.shared.backoff.lock() {
            Ok(mut backoff) => {
                let tries = backoff.get(&self.ts).map_or(0, |(_, n)| *n);
                let wait = interval.saturating_mul(1 << tries.min(10)).min(MAX_RETRY_WAIT);
                backoff.insert(self.ts, (tokio::time::Instant::now() + wait, tries + 1));
                wait
            }
            Err(_) => interval,
        };
        self.shared.deferred.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let error = format!(
            "{}; the alert stays pending and is tried again in {}",
            ours.error,
            humantime::format_duration(wait)
        );
        tracing::warn!(alert_ts = %self.ts, %error, "alert deferred");
        self.shared.emit(Event::TriageFailed { alert_ts: self.ts, error, cause: Some(ours.service) });
    }

    async fn handle(&self) -> Result<(), Stop> {
        let ours_before = matches!(self.record.status, AlertStatus::Claimed | AlertStatus::Interrupted);
        if self.policy() != PostPolicy::Never && !self.claim(ours_before).await? {
            return Ok(());
        }
        let outcome = match self.refire_or_new().await? {
            Some(outcome) => outcome,
            None => return Ok(()),
        };
        self.deliver(outcome).await
    }

    /// Records the claim, then reacts; false when the alert is left to someone else.
    async fn claim(&self, ours_before: bool) -> Result<bool, Stop> {
        // The claim in the state file is a compare-and-set under its lock: another process on
        // the same file that claimed it, or finished it meanwhile, keeps it.
        let (ts, me) = (self.ts, std::process::id());
        let mine = self
            .shared
            .state(move |c| match c.alerts.get_mut(&ts) {
                Some(r) if r.claimed_by_another() => false,
                Some(r)
                    if !matches!(
                        r.status,
                        AlertStatus::Pending
                            | AlertStatus::Claimed
                            | AlertStatus::Interrupted
                            | AlertStatus::ClaimedElsewhere
                    ) =>
                {
                    false
                }
                Some(r) => {
                    r.status = AlertStatus::Claimed;
                    r.owner = Some(me);
                    r.claimed_at.get_or_insert_with(now_secs);
                    r.updated_at = now_secs();
                    true
                }
                None => false,
            })
            .await?;
        if !mine {
            tracing::debug!(alert_ts = %self.ts, "another process on this state file has it");
            return Ok(false);
        }
        let s = &self.shared.services;
        let won = match s.slack.react(&s.channel, self.ts, &self.shared.config.slack.claim_emoji).await {
            Ok(Reaction::Added) => true,
            Ok(Reaction::AlreadyThere) => false,
            Err(e) => {
                // Without the reaction the claim is weaker, not gone: the thread is read again
                // right before posting, so a second reply still cannot happen.
                tracing::warn!(alert_ts = %self.ts, error = %e, "claim reaction failed; triaging anyway");
                true
            }
        };
        // A fresh claim needs no look at the thread; anything else does.
        let answered = (ours_before || !won) && self.thread_answered().await?;
        let age = self.ts.age(Ts::now());
        match lifecycle::after_claim(won, ours_before, answered, age, self.shared.config.slack.claim_lease) {
            AfterClaim::Triage => Ok(true),
            AfterClaim::Skip(reason) => Ok(self.skip(reason, AlertStatus::Skipped).await.map(|()| false)?),
            AfterClaim::Wait => {
                self.set(|r| r.claimed_at = None).await?;
                Ok(self.skip(SkipReason::ClaimedElsewhere, AlertStatus::ClaimedElsewhere).await.map(|()| false)?)
            }
        }
    }

    /// A re-fire's reply from its incident's first triage, or a fresh triage.
    async fn refire_or_new(&self) -> Result<Option<Outcome>, Stop> {
        let signature = self.record.signature.clone();
        let rank = self.record.alert.severity.map(|s| s as u8);
        loop {
            let sig = signature.clone();
            let incident = self.shared.read(move |c| c.incidents.get(&sig).cloned()).await?;
            let decision =
                lifecycle::refire(incident.as_ref(), self.ts, rank, now_secs(), self.shared.config.refire_cooldown);
            match (decision, incident) {
                (Refire::Repeat { first_ts }, Some(first)) => {
                    let Some(first_text) = self.first_reply(first_ts, first.status).await? else {
                        // The first reply is gone from its thread: this alert is triaged afresh.
                        return self.investigate(false).await.map(Some);
                    };
                    let sig = signature.clone();
                    self.shared
                        .state(move |c| {
                            if let Some(i) = c.incidents.get_mut(&sig) {
                                i.refires += 1;
                            }
                        })
                        .await?;
                    let text = reply::refire(&self.shared.services.channel, first_ts, first.refires, &first_text);
                    self.shared.emit(Event::HypothesisReady {
                        alert_ts: self.ts,
                        execution_id: self.record.alert.execution_id.clone(),
                        text: text.clone(),
                        root_cause: first.root_cause.clone().unwrap_or_default(),
                        refire_of: Some(first_ts),
                    });
                    return Ok(Some(Outcome { text, root_cause: first.root_cause, failed: false }));
                }
                (Refire::WaitForOriginal, _) => {
                    let waiting =
                        self.shared.running.lock().ok().and_then(|m| m.get(&signature).map(|(_, tx)| tx.subscribe()));
                    match waiting {
                        Some(mut done) => {
                            // Returns when the original's job drops its sender.
                            while done.changed().await.is_ok() {}
                            continue;
                        }
                        // The original is not running here (it belonged to an earlier run):
                        // this alert becomes the incident's triage.
                        None => return self.investigate(true).await.map(Some),
                    }
                }
                (Refire::NewIncident, _) | (Refire::Repeat { .. }, None) => {
                    return self.investigate(false).await.map(Some);
                }
            }
        }
    }

    /// The first triage's reply that a re-fire repeats: its draft while it awaits approval, else
    /// the newest triage reply in its thread (as posted: an edit or a follow-up included). None
    /// when there is none (deleted from the thread).
    async fn first_reply(&self, first_ts: Ts, status: AlertStatus) -> Result<Option<String>, Stop> {
        if status == AlertStatus::Queued {
            return Ok(self.shared.read(move |c| c.alerts.get(&first_ts).and_then(|r| r.text.clone())).await?);
        }
        Ok(delivery::latest_reply(&self.shared, first_ts).await?)
    }

    /// Investigates as the incident's first triage; `take_over` makes it the incident's owner.
    async fn investigate(&self, take_over: bool) -> Result<Outcome, Stop> {
        let signature = self.record.signature.clone();
        if let Ok(mut running) = self.shared.running.lock() {
            running.entry(signature.clone()).or_insert_with(|| (self.ts, watch::channel(()).0));
        }
        let (ts, sig, severity) = (self.ts, signature.clone(), self.record.alert.severity);
        self.shared
            .state(move |c| {
                let owns = c.incidents.get(&sig).is_some_and(|i| i.first_ts == ts);
                if take_over || !owns {
                    c.incidents.insert(sig, crate::store::Incident::first(ts, severity, AlertStatus::Claimed));
                } else if let Some(i) = c.incidents.get_mut(&sig) {
                    i.status = AlertStatus::Claimed;
                }
            })
            .await?;

        let outcome = triage::outcome(
            &self.shared,
            Scope { alert_ts: self.ts, attempt: self.record.attempt },
            &self.record.alert,
        )
        .await?;
        Ok(outcome)
    }

    /// Posts, queues or withholds the reply; records the result on the alert and its incident.
    async fn deliver(&self, outcome: Outcome) -> Result<(), Stop> {
        let alert_ts = self.ts;
        let (status, reply_ts) = match self.policy() {
            PostPolicy::Never => {
                self.shared.emit(Event::PostSkipped { alert_ts, reason: SkipReason::PolicyNever });
                (if outcome.failed { AlertStatus::Failed } else { AlertStatus::Skipped }, None)
            }
            PostPolicy::Queue => {
                self.shared.emit(Event::PostQueued { alert_ts, reason: SkipReason::QueuedForApproval });
                (AlertStatus::Queued, None)
            }
            PostPolicy::Auto if self.thread_answered().await? => {
                self.shared.emit(Event::AlertSkipped { alert_ts, reason: SkipReason::AlreadyAnswered });
                (AlertStatus::Skipped, None)
            }
            PostPolicy::Auto => {
                let message_ts = delivery::post(&self.shared, alert_ts, &outcome.text, outcome.failed).await?;
                (if outcome.failed { AlertStatus::Failed } else { AlertStatus::Posted }, Some(message_ts))
            }
        };
        let (ts, sig, text, root_cause) = (self.ts, self.record.signature.clone(), outcome.text, outcome.root_cause);
        self.shared
            .state(move |c| {
                if let Some(i) = c.incidents.get_mut(&sig)
                    && i.first_ts == ts
                {
                    i.status = status;
                    i.root_cause = root_cause;
                }
                if let Some(r) = c.alerts.get_mut(&ts) {
                    r.status = status;
                    r.reply_ts = reply_ts;
                    // The text waits here only while it awaits approval; then the thread has it.
                    r.text = (status == AlertStatus::Queued).then_some(text);
                    r.updated_at = now_secs();
                }
            })
            .await?;
        if let Ok(mut backoff) = self.shared.backoff.lock() {
            backoff.remove(&self.ts);
        }
        Ok(())
    }
}
