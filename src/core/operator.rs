//! The operator's decisions from the console (interfaces.md lifecycle): approve posts the draft,
//! or the operator's edit, into the alert's thread — as a follow-up ("Updated triage") when the
//! alert was already answered by us; reject records the refusal; re-triage investigates afresh
//! and queues a new draft; one decision approves every pending re-fire reply. Nothing here runs
//! without an `Op` from a key press.

use std::sync::Arc;

use super::{Ours, Shared, delivery, triage};
use crate::domain::Ts;
use crate::protocol::{Decision, Event, Op, SkipReason};
use crate::store::{AlertStatus, state::now_secs};
use crate::tools::Scope;

pub(super) async fn decide(shared: Arc<Shared>, op: Op) {
    match op {
        Op::Approve { alert_ts, text } => approve(&shared, alert_ts, &text).await,
        Op::Reject { alert_ts, reason } => reject(&shared, alert_ts, reason).await,
        Op::Retriage { alert_ts } => retriage(&shared, alert_ts).await,
        Op::ApproveAllRefires => {
            let pending = shared
                .read(|c| {
                    c.alerts
                        .iter()
                        .filter(|(ts, r)| {
                            r.status == AlertStatus::Queued
                                && c.incidents.get(&r.signature).is_some_and(|i| i.first_ts != **ts)
                        })
                        .filter_map(|(ts, r)| Some((*ts, r.text.clone()?)))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            for (ts, text) in pending {
                approve(&shared, ts, &text).await;
            }
        }
        Op::Quit | Op::Abort => {}
    }
}

/// Sets the alert's status (and what goes with it) in the state file; a failure is reported.
async fn record(shared: &Shared, ts: Ts, status: AlertStatus, text: Option<String>, reply_ts: Option<Ts>) {
    let saved = shared
        .state(move |c| {
            if let Some(r) = c.alerts.get_mut(&ts) {
                r.status = status;
                r.text = text;
                if reply_ts.is_some() {
                    r.reply_ts = reply_ts;
                }
                r.updated_at = now_secs();
                if let Some(i) = c.incidents.get_mut(&r.signature)
                    && i.first_ts == ts
                    && status != AlertStatus::Queued
                {
                    i.status = status;
                }
            }
        })
        .await;
    if let Err(e) = saved {
        tracing::error!(alert_ts = %ts, error = %e, "cannot record the decision");
        shared.emit(Event::ServiceError { service: crate::protocol::Service::State, error: e.to_string() });
    }
}

async fn approve(shared: &Shared, ts: Ts, text: &str) {
    let Ok(Some((status, draft))) = shared.read(move |c| c.alerts.get(&ts).map(|r| (r.status, r.text.clone()))).await
    else {
        shared.emit(Event::TriageFailed { alert_ts: ts, error: "no such alert in the state file".into(), cause: None });
        return;
    };
    // The operator's edit is checked like any reply: no secret leaves.
    let text = crate::redact::redact(text).into_owned();
    let edited = draft.as_deref().is_some_and(|d| d != text);
    shared.emit(Event::Decision {
        alert_ts: ts,
        decision: if edited { Decision::Edited } else { Decision::Approved },
        text: Some(text.clone()),
        reason: None,
    });
    let follow_up = status == AlertStatus::Posted;
    let answered = if follow_up { Ok(false) } else { delivery::thread_answered(shared, ts).await };
    let posted = match answered {
        Ok(true) => {
            shared.emit(Event::AlertSkipped { alert_ts: ts, reason: SkipReason::AlreadyAnswered });
            record(shared, ts, AlertStatus::Skipped, None, None).await;
            return;
        }
        Ok(false) => {
            let text = if follow_up { format!("*Updated triage*\n{text}") } else { text };
            delivery::post(shared, ts, &text, false).await
        }
        Err(ours) => Err(ours),
    };
    match posted {
        Ok(message_ts) => record(shared, ts, AlertStatus::Posted, None, Some(message_ts)).await,
        // The draft stays queued: the operator may approve it again.
        Err(ours) => failed(shared, ts, ours, "the draft still waits: approve it again"),
    }
}

/// Reports a failure of ours on a decision; the alert's state is left as it was.
fn failed(shared: &Shared, ts: Ts, ours: Ours, then: &str) {
    let error = format!("{}; {then}", ours.error);
    shared.emit(Event::TriageFailed { alert_ts: ts, error, cause: Some(ours.service) });
}

async fn reject(shared: &Shared, ts: Ts, reason: Option<String>) {
    tracing::info!(alert_ts = %ts, reason = reason.as_deref().unwrap_or(""), "draft rejected by the operator");
    shared.emit(Event::Decision { alert_ts: ts, decision: Decision::Rejected, text: None, reason: reason.clone() });
    record(shared, ts, AlertStatus::Rejected, None, None).await;
    shared.emit(Event::PostSkipped { alert_ts: ts, reason: SkipReason::Rejected });
}

async fn retriage(shared: &Shared, ts: Ts) {
    // A re-triage is a new triage: its commands run afresh (a new idempotency scope).
    let next = shared
        .state(move |c| {
            c.alerts.get_mut(&ts).map(|r| {
                r.attempt += 1;
                (r.alert.clone(), r.status, r.attempt)
            })
        })
        .await;
    let Ok(Some((alert, status, attempt))) = next else {
        return;
    };
    let outcome = match triage::outcome(shared, Scope { alert_ts: ts, attempt }, &alert).await {
        Ok(outcome) => outcome,
        Err(ours) => return failed(shared, ts, ours, "nothing changed: re-triage again later"),
    };
    // A posted alert keeps its status until a follow-up is approved; the draft waits in state.
    let status = if status == AlertStatus::Posted { AlertStatus::Posted } else { AlertStatus::Queued };
    let saved = shared
        .state(move |c| {
            if let Some(r) = c.alerts.get_mut(&ts) {
                r.status = status;
                r.text = Some(outcome.text);
                r.updated_at = now_secs();
            }
        })
        .await;
    match saved {
        Ok(()) => shared.emit(Event::PostQueued { alert_ts: ts, reason: SkipReason::QueuedForApproval }),
        Err(e) => shared.emit(Event::ServiceError { service: crate::protocol::Service::State, error: e.to_string() }),
    }
}
