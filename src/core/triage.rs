//! The investigation of one alert: read the failing execution through the `get_incident_details`
//! tool and reason to a hypothesis, every step reported as events. It writes nothing anywhere.

use serde_json::json;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::protocol::Event;
use crate::reasoner::{self, Hypothesis};
use crate::slack::Ts;
use crate::slack::alert::Alert;
use crate::tools::Toolbox;

#[derive(Debug, Error)]
pub enum TriageError {
    /// The failing execution could not be read: nothing to reason from.
    #[error("{0}")]
    IncidentUnavailable(String),
}

/// Reads the execution and reasons to a hypothesis, reporting each step as events.
pub async fn investigate(
    alert_ts: Ts,
    alert: &Alert,
    toolbox: &Toolbox,
    events: &mpsc::UnboundedSender<Event>,
) -> Result<Hypothesis, TriageError> {
    let _ = events.send(Event::TriageStarted {
        alert_ts,
        execution_id: alert.execution_id.clone(),
        reasoner: "first_look".into(),
    });
    let id = &alert.execution_id;
    let details =
        toolbox.run(alert_ts, "call-1", id, "get_incident_details", &json!({"execution_id": id}), events).await;
    if !details.ok {
        return Err(TriageError::IncidentUnavailable(details.summary));
    }
    let execution = toolbox.incident(id).await.map_err(|e| TriageError::IncidentUnavailable(e.to_string()))?;
    Ok(reasoner::first_look(alert, &execution))
}
