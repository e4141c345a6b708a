//! The investigation of one alert: read the failing execution (the `get_incident_details` tool)
//! and reason to a hypothesis, reporting each step as events. It writes nothing anywhere.

use serde_json::json;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::conductor::execution::ContextError;
use crate::conductor::{ConductorClient, ConductorError, Execution};
use crate::protocol::Event;
use crate::reasoner::{self, Hypothesis};
use crate::slack::Ts;
use crate::slack::alert::Alert;

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
    emit(Event::TriageStarted { alert_ts, execution_id: alert.execution_id.clone(), reasoner: "first_look".into() });
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
    emit(Event::ToolFinished { alert_ts, call_id, ok: execution.is_ok(), summary });
    Ok(reasoner::first_look(alert, &execution?))
}
