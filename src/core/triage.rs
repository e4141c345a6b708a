//! The investigation of one alert: read the failing execution (without it nothing can be
//! addressed: the triage fails), then let the reasoner gather evidence and conclude, every step
//! reported as events. It writes nothing anywhere.

use std::sync::Arc;

use serde_json::json;
use thiserror::Error;
use tokio::sync::mpsc;

use super::{Ours, Shared};
use crate::domain::{Alert, Hypothesis};
use crate::protocol::{Event, Service};
use crate::reasoner::Reasoner;
use crate::reasoner::playbook::{self, Investigation};
use crate::slack::reply;
use crate::tools::{Scope, Tool, Toolbox};

#[derive(Debug, Error)]
pub enum TriageError {
    /// The failing execution could not be read: nothing to reason from.
    #[error("{0}")]
    IncidentUnavailable(String),
    /// Conductor, or our access to it, failed during the triage: no result (the alert stays
    /// pending and is tried again).
    #[error("{0}")]
    ConductorOutage(String),
}

/// Reads the execution and reasons to a hypothesis, reporting each step as events.
pub async fn investigate(
    scope: Scope,
    alert: &Alert,
    toolbox: &Arc<Toolbox>,
    reasoner: &Reasoner,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Hypothesis, TriageError> {
    let alert_ts = scope.alert_ts;
    let _ = events.send(Event::TriageStarted {
        alert_ts,
        execution_id: alert.execution_id.clone(),
        reasoner: reasoner.name().into(),
    });
    let inv = Investigation::new(alert_ts, &alert.execution_id, toolbox.clone(), events.clone()).attempt(scope.attempt);
    let incident = inv.call(Tool::GetIncidentDetails.name(), json!({})).await;
    if incident.outage {
        return Err(TriageError::ConductorOutage(incident.summary));
    }
    if !incident.ok {
        return Err(TriageError::IncidentUnavailable(incident.summary));
    }
    let h = match reasoner {
        Reasoner::Playbook => playbook::triage(alert, &inv, &incident).await,
        // A model that fails, stalls or answers with something unpostable is replaced by the
        // playbook, over the same evidence (its calls are served from the model's results).
        Reasoner::Model(agent) => match agent.triage(alert, &inv, &incident).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(alert_ts = %alert_ts, error = %e, "the model's triage is replaced by the playbook's");
                let mut h = playbook::triage(alert, &inv, &incident).await;
                h.findings.push(format!("The model's analysis was unavailable ({e}); this is the playbook's."));
                h
            }
        },
    };
    // Evidence cut short by our own outage is no finding about the cluster.
    match inv.outage() {
        Some(what) => Err(TriageError::ConductorOutage(what)),
        None => Ok(h),
    }
}

/// What a finished triage hands to delivery.
pub(super) struct Outcome {
    pub text: String,
    pub root_cause: Option<String>,
    pub failed: bool,
}

/// Investigates (within the limit of investigations at once) and renders the reply, reporting
/// `hypothesis.ready` or `triage.failed`.
pub(super) async fn outcome(shared: &Shared, scope: Scope, alert: &Alert) -> Result<Outcome, Ours> {
    let ts = scope.alert_ts;
    let _permit = shared.investigations.acquire().await;
    let events = shared.events.clone();
    match investigate(scope, alert, &shared.services.toolbox, &shared.services.reasoner, &events).await {
        Ok(h) => {
            let text = reply::render(&h);
            shared.emit(Event::HypothesisReady {
                alert_ts: ts,
                execution_id: alert.execution_id.clone(),
                text: text.clone(),
                root_cause: h.root_cause_line(),
                refire_of: None,
            });
            Ok(Outcome { text, root_cause: Some(h.root_cause_line()), failed: false })
        }
        Err(TriageError::ConductorOutage(e)) => Err(Ours { error: e, service: Service::Conductor }),
        Err(e @ TriageError::IncidentUnavailable(_)) => {
            // The alert's own problem (its execution is not there, or carries no cluster): said
            // in its thread.
            tracing::warn!(alert_ts = %ts, error = %e, "triage failed");
            shared.emit(Event::TriageFailed { alert_ts: ts, error: e.to_string(), cause: None });
            Ok(Outcome { text: reply::failed(&e.to_string()), root_cause: None, failed: true })
        }
    }
}
