//! Intake: read what is new in the channel, record every new alert, its incident and the new
//! high-water mark in one state write (so nothing seen is ever lost), and start one job per
//! alert that needs work.

use std::time::Duration;

use tokio::sync::watch;

use super::engine::Engine;
use super::handle::CoreError;
use super::{job, lifecycle};
use crate::domain::{Alert, Ts};
use crate::protocol::{Event, SkipReason};
use crate::slack::{ChannelMessage, NotAnAlert};
use crate::store::{AlertRecord, AlertStatus, ChannelState, Incident, state::now_secs};

/// However long the product was down, it reads at most this far back (older alerts are stale).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

impl Engine {
    /// Reads what is new in the channel, records it, and starts a job for every alert that
    /// needs one (new, resumed after a restart, or a foreign claim whose lease ran out).
    ///
    /// Slack answers newest first, a page at a time (and may allow one page a minute): each
    /// page is recorded and its triages start as it arrives, so a long backlog never delays the
    /// newest alert, and a page that fails keeps every page read before it. The high-water
    /// mark moves only once every page down to it was read.
    pub(super) async fn poll(&mut self) -> Result<usize, CoreError> {
        let sh = self.shared.clone();
        let config = &sh.config;
        let now = Ts::now();
        let high_water = sh.read(|c| c.high_water).await?;
        let oldest = match high_water {
            Some(h) => h.max(now.minus(CATCH_UP_LIMIT)),
            None => now.minus(config.lookback),
        };
        let (mut cursor, mut newest, mut fresh) = (None::<String>, high_water, 0);
        loop {
            let page = sh
                .services
                .slack
                .history_page(&sh.services.channel, oldest, config.slack.page_size, cursor.as_deref())
                .await?;
            let mut messages: Vec<ChannelMessage> = page.messages.iter().filter_map(ChannelMessage::read).collect();
            // Oldest first within the page: an incident's original is recorded before its re-fires.
            messages.sort_by_key(|m| m.ts);
            newest = messages.iter().map(|m| m.ts).chain(newest).max();
            fresh += self.record_page(&messages, now).await?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        sh.state(move |c| c.high_water = newest).await?;
        Ok(fresh)
    }

    /// Records one page's new alerts (and their incidents), announces them, and starts the
    /// jobs that need to run; returns how many new alerts are not stale.
    async fn record_page(&mut self, messages: &[ChannelMessage], now: Ts) -> Result<usize, CoreError> {
        let sh = self.shared.clone();
        let config = &sh.config;
        let mut seen: Vec<(Ts, Alert)> = Vec::new();
        let mut recoveries: Vec<(Ts, String)> = Vec::new();
        for message in messages {
            match &message.alert {
                Ok(a) => seen.push((message.ts, a.clone())),
                Err(NotAnAlert::Resolved { cluster }) => recoveries.push((message.ts, cluster.clone())),
                Err(why) => tracing::debug!(ts = %message.ts, %why, "not an alert"),
            }
        }
        let (lookback, cooldown) = (config.lookback, config.refire_cooldown);
        let recorded = sh.state(move |c| record_new(c, seen, now, lookback, cooldown)).await?;
        if !recoveries.is_empty() {
            for (alert_ts, resolved_ts) in sh.state(move |c| mark_resolved(c, &recoveries)).await? {
                tracing::info!(alert_ts = %alert_ts, resolved = %resolved_ts, "the cluster recovered");
                sh.emit(Event::AlertResolved { alert_ts, resolved_ts });
            }
        }
        if !recorded.is_empty() {
            tracing::info!(new = recorded.len(), messages = messages.len(), "poll found new alerts");
        }
        for (ts, alert, stale) in &recorded {
            self.announce(*ts, alert);
            if *stale {
                sh.emit(Event::AlertSkipped { alert_ts: *ts, reason: SkipReason::Stale });
            }
        }
        let lease = config.slack.claim_lease;
        let work = sh.read(move |c| needs_work(c, now, lease)).await?;
        self.start_jobs(work);
        Ok(recorded.iter().filter(|(_, _, stale)| !stale).count())
    }

    fn start_jobs(&mut self, work: Vec<(Ts, AlertRecord, bool)>) {
        let shared = self.shared.clone();
        let waiting = |ts: &Ts| {
            shared.backoff.lock().ok().and_then(|b| b.get(ts).map(|(at, _)| *at > tokio::time::Instant::now()))
        };
        for (ts, record, first_of_incident) in work {
            // Deferred after a failure of ours: not before its backoff is over.
            if waiting(&ts) == Some(true) {
                continue;
            }
            if !self.active.lock().map(|mut a| a.insert(ts)).unwrap_or(false) {
                continue;
            }
            // An incident's first alert is marked running before any job starts, so a re-fire
            // in the same batch waits for it instead of racing it.
            if first_of_incident && let Ok(mut running) = self.shared.running.lock() {
                running.insert(record.signature.clone(), (ts, watch::channel(()).0));
            }
            self.announce(ts, &record.alert);
            let job = job::Job::new(self.shared.clone(), ts, record, self.active.clone());
            self.jobs.spawn(job.run());
        }
    }

    pub(super) fn announce(&mut self, ts: Ts, alert: &Alert) {
        if self.announced.insert(ts) {
            self.shared.emit(Event::AlertReceived {
                alert_ts: ts,
                execution_id: alert.execution_id.clone(),
                severity: alert.severity,
                cluster: alert.cluster.clone(),
                kinds: alert.kinds(),
            });
            self.shared.emit(Event::AlertDetail { alert_ts: ts, alert: alert.clone() });
        }
    }
}

/// Marks the alerts of each recovered cluster that came before its recovery notice (and are not
/// marked yet) resolved; returns (alert, notice) for each.
fn mark_resolved(c: &mut ChannelState, recoveries: &[(Ts, String)]) -> Vec<(Ts, Ts)> {
    let mut marked = Vec::new();
    for (notice, cluster) in recoveries {
        for (ts, r) in c.alerts.iter_mut() {
            if ts < notice && r.resolved_at.is_none() && r.alert.cluster.as_deref() == Some(cluster.as_str()) {
                r.resolved_at = Some(*notice);
                marked.push((*ts, *notice));
            }
        }
    }
    marked
}

/// Records the alerts not seen before (stale ones as skipped) and opens an incident for each
/// that starts one; returns what was new, with its staleness.
fn record_new(
    c: &mut ChannelState,
    seen: Vec<(Ts, Alert)>,
    now: Ts,
    lookback: Duration,
    cooldown: Duration,
) -> Vec<(Ts, Alert, bool)> {
    let mut fresh = Vec::new();
    for (ts, alert) in seen {
        if c.alerts.contains_key(&ts) {
            continue;
        }
        let stale = ts.age(now) > lookback;
        let signature = alert.signature();
        let rank = alert.severity.map(|s| s as u8);
        if !stale
            && lifecycle::refire(c.incidents.get(&signature), ts, rank, now_secs(), cooldown)
                == lifecycle::Refire::NewIncident
        {
            c.incidents.insert(signature.clone(), Incident::first(ts, alert.severity, AlertStatus::Pending));
        }
        let record = AlertRecord {
            status: if stale { AlertStatus::Skipped } else { AlertStatus::Pending },
            alert: alert.clone(),
            signature,
            claimed_at: None,
            reply_ts: None,
            text: None,
            updated_at: now_secs(),
            owner: None,
            attempt: 0,
            resolved_at: None,
        };
        c.alerts.insert(ts, record);
        fresh.push((ts, alert, stale));
    }
    fresh
}

/// Every alert that needs work (new, resumed after a restart, or a foreign claim whose lease
/// ran out), oldest first so an original starts before its re-fires; with whether it is its
/// incident's first alert.
fn needs_work(c: &ChannelState, now: Ts, lease: Duration) -> Vec<(Ts, AlertRecord, bool)> {
    c.alerts
        .iter()
        .filter(|(ts, r)| match r.status {
            AlertStatus::Claimed if r.claimed_by_another() => false,
            AlertStatus::Pending | AlertStatus::Claimed | AlertStatus::Interrupted => true,
            AlertStatus::ClaimedElsewhere => ts.age(now) >= lease,
            _ => false,
        })
        .map(|(ts, r)| {
            let first = c.incidents.get(&r.signature).is_some_and(|i| i.first_ts == *ts);
            (*ts, r.clone(), first)
        })
        .collect()
}
