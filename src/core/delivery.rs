//! Delivery: the look at the alert's thread (is it answered already?) and the post of a reply
//! with its done/failed reaction. The job and the operator's approve both go through here.

use super::{Ours, Shared};
use crate::domain::Ts;
use crate::protocol::{Event, Service};
use crate::slack::reply;

/// Whether the thread already holds a triage reply (of any instance). A thread that cannot be
/// read is never taken as "not answered": the caller waits and looks again.
pub async fn thread_answered(shared: &Shared, ts: Ts) -> Result<bool, Ours> {
    let s = &shared.services;
    s.slack.thread_answered(&s.channel, ts).await.map_err(|e| {
        tracing::warn!(alert_ts = %ts, error = %e, "cannot read the alert's thread");
        Ours { error: format!("cannot read the alert's thread: {e}"), service: Service::Slack }
    })
}

/// The text of the newest triage reply (of any instance) in the thread of `ts`, if any.
pub async fn latest_reply(shared: &Shared, ts: Ts) -> Result<Option<String>, Ours> {
    let s = &shared.services;
    let thread = s.slack.replies(&s.channel, ts).await.map_err(|e| {
        tracing::warn!(alert_ts = %ts, error = %e, "cannot read the first triage's thread");
        Ours { error: format!("cannot read the first triage's thread: {e}"), service: Service::Slack }
    })?;
    Ok(thread
        .iter()
        .skip(1)
        .rfind(|m| reply::is_triage_reply(m))
        .and_then(|m| m.get("text").and_then(serde_json::Value::as_str))
        .map(str::to_string))
}

/// Posts a reply into the alert's thread and marks the alert done (or failed); the reply's ts.
/// A post that does not land marks the alert ✗ and is the caller's to report.
pub async fn post(shared: &Shared, alert_ts: Ts, text: &str, failed: bool) -> Result<Ts, Ours> {
    let s = &shared.services;
    // Within Slack's limits whatever its size: the operator's edit too.
    let (text, blocks) = reply::fit(text);
    match s.slack.post_reply(&s.channel, alert_ts, &text, blocks).await {
        Ok(message_ts) => {
            tracing::info!(%alert_ts, %message_ts, failed, "reply posted");
            shared.emit(Event::PostSent { alert_ts, channel: s.channel.clone(), thread_ts: alert_ts, message_ts });
            let emoji = if failed { &shared.config.slack.failed_emoji } else { &shared.config.slack.done_emoji };
            if let Err(e) = s.slack.react(&s.channel, alert_ts, emoji).await {
                tracing::warn!(%alert_ts, error = %e, "could not mark the alert");
            }
            Ok(message_ts)
        }
        Err(e) => {
            tracing::error!(%alert_ts, error = %e, "posting the reply failed");
            // The channel sees that no reply landed (a draft that waits for approval stays).
            if let Err(e) = s.slack.react(&s.channel, alert_ts, &shared.config.slack.failed_emoji).await {
                tracing::warn!(%alert_ts, error = %e, "could not mark the alert");
            }
            Err(Ours { error: format!("posting the reply failed: {e}"), service: Service::Slack })
        }
    }
}
