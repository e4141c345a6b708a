//! The investigation of one alert: read the failing execution (without it nothing can be
//! addressed: the triage fails), then let the reasoner gather evidence and conclude, every step
//! reported as events. It writes nothing anywhere.

use std::sync::Arc;

use serde_json::json;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::domain::Alert;
use crate::domain::Hypothesis;
use crate::domain::Ts;
use crate::protocol::Event;
use crate::reasoner::Reasoner;
use crate::reasoner::playbook::{self, Investigation};
use crate::tools::{Tool, Toolbox};

#[derive(Debug, Error)]
pub enum TriageError {
    /// The failing execution could not be read: nothing to reason from.
    #[error("{0}")]
    IncidentUnavailable(String),
    #[error(transparent)]
    Model(#[from] crate::reasoner::agent::AgentError),
}

/// Reads the execution and reasons to a hypothesis, reporting each step as events.
pub async fn investigate(
    alert_ts: Ts,
    alert: &Alert,
    toolbox: &Arc<Toolbox>,
    reasoner: &Reasoner,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Hypothesis, TriageError> {
    let _ = events.send(Event::TriageStarted {
        alert_ts,
        execution_id: alert.execution_id.clone(),
        reasoner: reasoner.name().into(),
    });
    let inv = Investigation::new(alert_ts, &alert.execution_id, toolbox.clone(), events.clone());
    let incident = inv.call(Tool::GetIncidentDetails.name(), json!({})).await;
    if !incident.ok {
        return Err(TriageError::IncidentUnavailable(incident.summary));
    }
    match reasoner {
        Reasoner::Playbook => Ok(playbook::triage(alert, &inv, &incident).await),
        Reasoner::Model(agent) => Ok(agent.triage(alert, &inv, &incident).await?),
    }
}
