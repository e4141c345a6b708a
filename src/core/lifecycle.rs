//! The alert lifecycle of interfaces.md as pure decisions: what a claim's outcome means, and
//! whether an alert is a re-fire to answer from its incident's first triage. The engine does the
//! I/O around these; keeping them pure lets each row of the table be tested on its own.

use std::time::Duration;

use crate::domain::Ts;
use crate::protocol::SkipReason;
use crate::store::{AlertStatus, Incident};

/// What to do after trying to claim an alert with the claim reaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterClaim {
    /// Go ahead and triage (a fresh claim, our own claim from before a restart, or a take-over).
    Triage,
    /// Leave it: the reason goes out as `alert.skipped`.
    Skip(SkipReason),
    /// Someone else holds it within the lease: look again once the lease runs out.
    Wait,
}

/// `reactions.add` answered ok (`won`) or `already_reacted`; `ours_before` says whether this
/// state already held a claim for the alert before this attempt (a restart).
pub fn after_claim(
    won: bool,
    ours_before: bool,
    thread_answered: bool,
    alert_age: Duration,
    lease: Duration,
) -> AfterClaim {
    if thread_answered {
        return AfterClaim::Skip(SkipReason::AlreadyAnswered);
    }
    if won || ours_before || alert_age >= lease { AfterClaim::Triage } else { AfterClaim::Wait }
}

/// How an alert relates to the incident its signature names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refire {
    /// Triage it in full (a new incident, or one that must be looked at again).
    NewIncident,
    /// Answer from the first triage: link its thread and repeat its hypothesis.
    Repeat { first_ts: Ts },
    /// The first triage is still running: wait for it, then decide again.
    WaitForOriginal,
}

/// Whether `severity_rank` (higher = more severe) of alert `ts` makes it a re-fire of `incident`.
pub fn refire(
    incident: Option<&Incident>,
    ts: Ts,
    severity_rank: Option<u8>,
    now_secs: u64,
    cooldown: Duration,
) -> Refire {
    let Some(first) = incident else { return Refire::NewIncident };
    if first.first_ts == ts {
        return Refire::NewIncident;
    }
    let rank = |s: Option<crate::domain::Severity>| s.map(|s| s as u8);
    if severity_rank > rank(first.severity) {
        return Refire::NewIncident;
    }
    if now_secs.saturating_sub(first.triaged_at) >= cooldown.as_secs() {
        return Refire::NewIncident;
    }
    match first.status {
        AlertStatus::Posted | AlertStatus::Queued => Refire::Repeat { first_ts: first.first_ts },
        AlertStatus::Pending | AlertStatus::Claimed | AlertStatus::Interrupted => Refire::WaitForOriginal,
        AlertStatus::Rejected | AlertStatus::Failed | AlertStatus::Skipped | AlertStatus::ClaimedElsewhere => {
            Refire::NewIncident
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Severity;

    const LEASE: Duration = Duration::from_secs(900);
    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn claim_rows_of_the_lifecycle_table() {
        // New alert, reaction ok → triage.
        assert_eq!(after_claim(true, false, false, MIN, LEASE), AfterClaim::Triage);
        // already_reacted and our state holds the claim (a restart) → resume.
        assert_eq!(after_claim(false, true, false, MIN, LEASE), AfterClaim::Triage);
        // already_reacted, not ours, within the lease → wait (alert.skipped claimed_elsewhere).
        assert_eq!(after_claim(false, false, false, MIN, LEASE), AfterClaim::Wait);
        // already_reacted, not ours, no reply after the lease → take over.
        assert_eq!(after_claim(false, false, false, LEASE, LEASE), AfterClaim::Triage);
        // The thread already holds a triage reply (any instance) → already_answered.
        for (won, ours) in [(true, false), (false, true), (false, false)] {
            assert_eq!(after_claim(won, ours, true, MIN, LEASE), AfterClaim::Skip(SkipReason::AlreadyAnswered));
        }
    }

    fn incident(status: AlertStatus, severity: Severity, triaged_at: u64) -> Incident {
        Incident { triaged_at, ..Incident::first(Ts::from_micros(1), Some(severity), status) }
    }

    #[test]
    fn refire_rows_of_the_lifecycle_table() {
        let hour = Duration::from_secs(3600);
        let ts = Ts::from_micros(2);
        let major = Some(Severity::Major as u8);
        assert_eq!(refire(None, ts, major, 100, hour), Refire::NewIncident);
        let posted = incident(AlertStatus::Posted, Severity::Major, 100);
        assert_eq!(refire(Some(&posted), ts, major, 200, hour), Refire::Repeat { first_ts: Ts::from_micros(1) });
        assert_eq!(
            refire(Some(&posted), ts, Some(Severity::Minor as u8), 200, hour),
            Refire::Repeat { first_ts: Ts::from_micros(1) }
        );
        // A higher severity, an expired cooldown (fixed from the first triage), or a rejected or
        // failed original → a new incident.
        assert_eq!(refire(Some(&posted), ts, Some(Severity::Critical as u8), 200, hour), Refire::NewIncident);
        assert_eq!(refire(Some(&posted), ts, major, 100 + 3600, hour), Refire::NewIncident);
        for status in [AlertStatus::Rejected, AlertStatus::Failed] {
            assert_eq!(
                refire(Some(&incident(status, Severity::Major, 100)), ts, major, 200, hour),
                Refire::NewIncident
            );
        }
        // The original is still running → wait for it.
        let running = incident(AlertStatus::Claimed, Severity::Major, 100);
        assert_eq!(refire(Some(&running), ts, major, 200, hour), Refire::WaitForOriginal);
        // The first alert itself is not its own re-fire.
        assert_eq!(refire(Some(&posted), Ts::from_micros(1), major, 200, hour), Refire::NewIncident);
    }
}
