//! One alert's triage: read the failing execution (the `get_incident_details` tool), reason to a
//! hypothesis, render the reply, and post it or hold it as the policy says. A failure becomes a
//! `triage.failed` event and, under `auto`, a "Triage failed" reply — never a crash.

use std::sync::Arc;

use serde_json::json;
use thiserror::Error;
use tokio::sync::mpsc;

use super::Services;
use crate::conductor::execution::ContextError;
use crate::conductor::{ConductorClient, ConductorError, Execution};
use crate::config::PostPolicy;
use crate::protocol::{Event, SkipReason};
use crate::reasoner::{self, Hypothesis};
use crate::slack::alert::Alert;
use crate::slack::{Ts, reply};

#[derive(Debug, Error)]
pub enum TriageError {
    #[error(transparent)]
    Conductor(#[from] ConductorError),
    #[error(transparent)]
    Context(#[from] ContextError),
}

/// Reads the execution and reasons to a hypothesis, reporting each step as events.
pub async fn investigate(
    alert_ts: Ts,
    alert: &Alert,
    conductor: &ConductorClient,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Hypothesis, TriageError> {
    let emit = |e: Event| {
        let _ = events.send(e);
    };
    emit(Event::TriageStarted {
        alert_ts,
        execution_id: alert.execution_id.clone(),
        reasoner: "first_look".into(),
    });
    let call_id = "call-1".to_string();
    emit(Event::ToolStarted {
        alert_ts,
        call_id: call_id.clone(),
        tool: "get_incident_details".into(),
        args: json!({"execution_id": alert.execution_id}),
    });
    let execution = conductor
        .get_workflow(&alert.execution_id)
        .await
        .map_err(TriageError::from)
        .and_then(|raw| Execution::parse(&raw).map_err(TriageError::from));
    let summary = match &execution {
        Ok(e) => format!(
            "{} on {} ({} issue{}, {} failed check{})",
            e.status,
            e.context.cluster_name,
            e.issues.len(),
            if e.issues.len() == 1 { "" } else { "s" },
            e.failed_checks.len(),
            if e.failed_checks.len() == 1 { "" } else { "s" },
        ),
        Err(err) => err.to_string(),
    };
    emit(Event::ToolFinished {
        alert_ts,
        call_id,
        ok: execution.is_ok(),
        summary,
    });
    Ok(reasoner::first_look(alert, &execution?))
}

pub(super) struct Job {
    pub alert_ts: Ts,
    pub alert: Alert,
    pub policy: PostPolicy,
    pub services: Services,
    pub events: mpsc::UnboundedSender<Event>,
}

impl Job {
    fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    pub async fn run(self) {
        let conductor: Arc<ConductorClient> = self.services.conductor.clone();
        let text = match investigate(self.alert_ts, &self.alert, &conductor, &self.events).await {
            Ok(hypothesis) => {
                let text = reply::render(&hypothesis);
                self.emit(Event::HypothesisReady {
                    alert_ts: self.alert_ts,
                    execution_id: self.alert.execution_id.clone(),
                    text: text.clone(),
                    root_cause: hypothesis.root_cause_line(),
                    refire_of: None,
                });
                text
            }
            Err(e) => {
                tracing::warn!(alert_ts = %self.alert_ts, error = %e, "triage failed");
                self.emit(Event::TriageFailed {
                    alert_ts: self.alert_ts,
                    error: e.to_string(),
                });
                format!("Triage failed: {}", reply::escape(&e.to_string()))
            }
        };
        self.deliver(&text).await;
    }

    async fn deliver(&self, text: &str) {
        let alert_ts = self.alert_ts;
        match self.policy {
            PostPolicy::Never => self.emit(Event::PostSkipped {
                alert_ts,
                reason: SkipReason::PolicyNever,
            }),
            PostPolicy::Queue => self.emit(Event::PostQueued {
                alert_ts,
                reason: SkipReason::QueuedForApproval,
            }),
            PostPolicy::Auto => {
                let channel = &self.services.channel;
                match self
                    .services
                    .slack
                    .post_reply(channel, alert_ts, text, reply::blocks(text))
                    .await
                {
                    Ok(message_ts) => self.emit(Event::PostSent {
                        alert_ts,
                        channel: channel.clone(),
                        thread_ts: alert_ts,
                        message_ts,
                    }),
                    Err(e) => {
                        tracing::error!(%alert_ts, error = %e, "posting the reply failed");
                        self.emit(Event::TriageFailed {
                            alert_ts,
                            error: format!("posting the reply failed: {e}"),
                        });
                    }
                }
            }
        }
    }
}
