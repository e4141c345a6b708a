//! What a console shows of alerts it did not see happen: drafts waiting in the state file
//! (queued before a restart, or by a service sharing the file) and, at the first look, the
//! alerts settled recently (posted, rejected, failed). Each comes with its history read back
//! from its transcript, so its investigation (every call, its output, the model's text) is
//! there with the draft. The state file has the last word: where the transcript is missing or
//! ends elsewhere, the history is completed from the state's record.

use super::engine::Engine;
use crate::domain::Ts;
use crate::protocol::{Event, SkipReason};
use crate::store::transcript::{Transcript, path_beside};
use crate::store::{AlertRecord, AlertStatus, StateError, state::now_secs};

/// How many settled alerts a console lists from before it started, at most…
const RECENT: usize = 50;
/// …and how long ago they may have settled.
const RECENT_SECS: u64 = 24 * 3600;

impl Engine {
    /// Announces, each as one `alert.restored`, the drafts waiting in the state file that this
    /// process has not shown yet and, the first time, the recently settled alerts. Returns how
    /// many.
    pub(super) async fn restore(&mut self) -> Result<usize, StateError> {
        let announced = self.announced.clone();
        let recent = !std::mem::replace(&mut self.restored_recent, true);
        let now = now_secs();
        let picked: Vec<(Ts, AlertRecord)> = self
            .shared
            .read(move |c| {
                let new = |ts: &Ts| !announced.contains(ts);
                let queued = c.alerts.iter().filter(|(ts, r)| r.status == AlertStatus::Queued && new(ts));
                let settled = c
                    .alerts
                    .iter()
                    .rev()
                    .filter(|(ts, r)| {
                        recent
                            && matches!(r.status, AlertStatus::Posted | AlertStatus::Rejected | AlertStatus::Failed)
                            && now.saturating_sub(r.updated_at) <= RECENT_SECS
                            && new(ts)
                    })
                    .take(RECENT);
                queued.chain(settled).map(|(ts, r)| (*ts, r.clone())).collect()
            })
            .await?;
        let state_file = self.shared.config.state_file.clone();
        let restored = tokio::task::spawn_blocking(move || {
            picked.into_iter().map(|(ts, r)| (ts, history(&state_file, ts, &r))).collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        for (ts, history) in &restored {
            self.announced.insert(*ts);
            self.shared.emit(Event::AlertRestored { alert_ts: *ts, history: history.clone() });
        }
        Ok(restored.len())
    }
}

/// The alert's history: its transcript's, completed so that it ends where the state's record is.
fn history(state_file: &std::path::Path, ts: Ts, record: &AlertRecord) -> Vec<(u64, Event)> {
    let mut history = match Transcript::read(&path_beside(state_file, ts)) {
        Ok(t) => t.history(),
        Err(e) => {
            tracing::debug!(alert_ts = %ts, error = %e, "no transcript to restore from; the state's record is shown");
            Vec::new()
        }
    };
    let alert = &record.alert;
    if !history.iter().any(|(_, e)| matches!(e, Event::AlertReceived { .. })) {
        history.insert(
            0,
            (
                0,
                Event::AlertReceived {
                    alert_ts: ts,
                    execution_id: alert.execution_id.clone(),
                    severity: alert.severity,
                    cluster: alert.cluster.clone(),
                    kinds: alert.kinds(),
                },
            ),
        );
    }
    let end = history.last().map_or(0, |(at, _)| *at);
    let last_draft = history.iter().rev().find_map(|(_, e)| match e {
        Event::HypothesisReady { text, .. } => Some(text.clone()),
        _ => None,
    });
    let ends_in = history.iter().rev().find(|(_, e)| e.settles_the_alert()).map(|(_, e)| e.clone());
    let mut add = |event: Event| history.push((end, event));
    // A draft the history lacks: the state's text, as the reply it was.
    let drafted = |text: String| Event::HypothesisReady {
        alert_ts: ts,
        execution_id: alert.execution_id.clone(),
        text,
        root_cause: String::new(),
        refire_of: None,
    };
    match record.status {
        AlertStatus::Queued => {
            let text = record.text.clone().unwrap_or_default();
            let same_draft = last_draft.as_deref() == Some(text.as_str());
            if !same_draft {
                add(drafted(text));
            }
            if !same_draft || !matches!(ends_in, Some(Event::PostQueued { .. })) {
                add(Event::PostQueued { alert_ts: ts, reason: SkipReason::QueuedForApproval });
            }
        }
        AlertStatus::Posted if !matches!(ends_in, Some(Event::PostSent { .. })) => {
            if let Some(text) = record.text.clone().filter(|t| last_draft.as_deref() != Some(t.as_str())) {
                add(drafted(text));
            }
            add(Event::PostSent {
                alert_ts: ts,
                channel: String::new(),
                thread_ts: ts,
                message_ts: record.reply_ts.unwrap_or(ts),
            });
        }
        AlertStatus::Rejected if !matches!(ends_in, Some(Event::PostSkipped { .. })) => {
            add(Event::PostSkipped { alert_ts: ts, reason: SkipReason::Rejected });
        }
        AlertStatus::Failed if !matches!(ends_in, Some(Event::TriageFailed { .. })) => {
            add(Event::TriageFailed { alert_ts: ts, error: "the triage failed (see the log)".into(), cause: None });
        }
        _ => {}
    }
    if let Some(resolved_ts) = record.resolved_at
        && !history.iter().any(|(_, e)| matches!(e, Event::AlertResolved { .. }))
    {
        history.push((end, Event::AlertResolved { alert_ts: ts, resolved_ts }));
    }
    history
}
