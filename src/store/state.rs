//! The state file: per channel, the high-water mark, every alert seen (its status, claim and
//! reply), and the incidents re-fires are matched against. Written atomically (temp file in the
//! same folder, fsync, rename, fsync the folder), so a crash at any point leaves the old or the
//! new state. Several processes coordinate through a separate lock file (a rename would drop a
//! lock held on the file itself): every change is lock → reload → apply → write, so no process
//! loses another's update. A corrupt file is moved aside with a warning; the state is bounded.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::Ts;
use crate::domain::{Alert, Severity};

/// Alerts kept per channel: past it, the oldest settled ones (posted, rejected, failed, skipped)
/// are dropped first. An alert still to be handled is never dropped: the high-water mark keeps a
/// dropped one from being read again, and its thread holds its reply.
pub const MAX_ALERTS: usize = 2_000;
/// Incidents older than this are forgotten (re-fire cooldowns are far shorter).
pub const INCIDENT_RETENTION_SECS: u64 = 7 * 24 * 3600;
/// Incidents kept per channel: past it, the least recently triaged settled ones are dropped (a
/// re-fire of one is then triaged afresh).
pub const MAX_INCIDENTS: usize = MAX_ALERTS;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("state file {path}: {reason} (check ONCALL_STATE_FILE and the folder's permissions)")]
    Io { path: String, reason: String },
}

/// Where an alert is in its lifecycle (interfaces.md, alert lifecycle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Seen and recorded (in the same write that advances the high-water mark), not yet claimed.
    Pending,
    /// Claim intent recorded (before `reactions.add`): a restart resumes it.
    Claimed,
    /// Another instance holds the claim; re-checked once its lease runs out.
    ClaimedElsewhere,
    /// A reply waits for an operator's approval.
    Queued,
    Posted,
    Rejected,
    Failed,
    /// Answered or passed over without a post of ours (stale, already answered, policy never).
    Skipped,
    /// Stopped mid-triage by a shutdown: the next start resumes it.
    Interrupted,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub status: AlertStatus,
    /// The parsed alert, so a restart can resume it from the state alone.
    pub alert: Alert,
    pub signature: String,
    /// When this process (or an earlier run on this state) recorded its claim, epoch seconds.
    pub claimed_at: Option<u64>,
    pub reply_ts: Option<Ts>,
    /// The reply text held for approval (`Queued`), or the posted one.
    pub text: Option<String>,
    pub updated_at: u64,
    /// The process working on it while `Claimed` (its pid): another live process on the same
    /// state file leaves it alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    /// How many times the operator asked for a re-triage: each is a new triage whose commands
    /// run afresh, while a restart of the same triage finds its commands already started.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// The recovery notice for this alert's cluster that came after it (its ts): the incident
    /// is over, whatever its triage says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Ts>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl AlertRecord {
    /// Claimed by another process that is still running (on this host: the state file is local).
    pub fn claimed_by_another(&self) -> bool {
        self.status == AlertStatus::Claimed
            && self.owner.is_some_and(|pid| pid != std::process::id() && process_alive(pid))
    }
}

/// A headless service's mark beside its state file (`<state>.service`, holding its pid), removed
/// when it stops: a console started on the same file then only approves.
pub struct ServiceMark(PathBuf);

impl ServiceMark {
    pub fn new(state_file: &Path) -> ServiceMark {
        let path = mark_path(state_file);
        if let Err(e) = std::fs::write(&path, std::process::id().to_string()) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the service mark");
        }
        ServiceMark(path)
    }
}

impl Drop for ServiceMark {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mark_path(state_file: &Path) -> PathBuf {
    let mut name = state_file.file_name().unwrap_or_default().to_os_string();
    name.push(".service");
    state_file.with_file_name(name)
}

/// The pid of a live service on this state file, if one runs.
pub fn service_pid(state_file: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(mark_path(state_file)).ok()?.trim().parse().ok()?;
    (pid != std::process::id() && process_alive(pid)).then_some(pid)
}

fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") { std::path::Path::new(&format!("/proc/{pid}")).exists() } else { true }
}

/// An incident (alerts sharing a signature) and its first triage. Its reply is not kept here:
/// a re-fire repeats it from the first alert's thread (the reply as posted, the operator's edit
/// and any follow-up included) or, while it waits for approval, from the first alert's draft.
/// So the state holds no text per incident, and stays small however many incidents it keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub first_ts: Ts,
    pub severity: Option<Severity>,
    /// When the first triage started (the cooldown is fixed from here, not sliding).
    pub triaged_at: u64,
    pub status: AlertStatus,
    pub root_cause: Option<String>,
    /// Re-fires seen after the first alert.
    pub refires: u32,
}

impl Incident {
    /// The incident that alert `first_ts` starts, its triage starting now.
    pub fn first(first_ts: Ts, severity: Option<Severity>, status: AlertStatus) -> Incident {
        Incident { first_ts, severity, triaged_at: now_secs(), status, root_cause: None, refires: 0 }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub high_water: Option<Ts>,
    pub alerts: BTreeMap<Ts, AlertRecord>,
    pub incidents: BTreeMap<String, Incident>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub channels: BTreeMap<String, ChannelState>,
}

pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl State {
    pub fn channel(&mut self, id: &str) -> &mut ChannelState {
        self.channels.entry(id.to_string()).or_default()
    }

    /// Drops the oldest settled alerts past [`MAX_ALERTS`], incidents past their retention and
    /// the least recently triaged settled incidents past [`MAX_INCIDENTS`].
    fn bound(&mut self, now: u64) {
        for ch in self.channels.values_mut() {
            let over = ch.alerts.len().saturating_sub(MAX_ALERTS);
            if over > 0 {
                let oldest: Vec<Ts> =
                    ch.alerts.iter().filter(|(_, r)| r.status.settled()).map(|(ts, _)| *ts).take(over).collect();
                for ts in oldest {
                    ch.alerts.remove(&ts);
                }
            }
            ch.incidents.retain(|_, i| now.saturating_sub(i.triaged_at) < INCIDENT_RETENTION_SECS);
            let over = ch.incidents.len().saturating_sub(MAX_INCIDENTS);
            if over > 0 {
                let mut settled: Vec<(u64, Ts, &String)> = ch
                    .incidents
                    .iter()
                    .filter(|(_, i)| i.status.settled())
                    .map(|(k, i)| (i.triaged_at, i.first_ts, k))
                    .collect();
                settled.sort_unstable();
                let oldest: Vec<String> = settled.into_iter().take(over).map(|(_, _, k)| k.clone()).collect();
                for key in oldest {
                    ch.incidents.remove(&key);
                }
            }
        }
    }
}

impl AlertStatus {
    /// Done with: posted, rejected, failed or skipped (nothing more will happen to it).
    pub fn settled(self) -> bool {
        matches!(self, AlertStatus::Posted | AlertStatus::Rejected | AlertStatus::Failed | AlertStatus::Skipped)
    }
}

/// What identifies one version of the state file: every atomic write makes a new inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { inode, len: meta.len(), modified: meta.modified().ok() })
}

/// The state as last read or written by this process, and the file version it matches.
type Cache = Arc<Mutex<Option<(Option<Stamp>, State)>>>;

/// The state file and its lock file. The parsed state is kept in memory and re-read only when
/// the file changed under another process's hands.
#[derive(Clone, Debug)]
pub struct StateStore {
    path: PathBuf,
    lock_path: PathBuf,
    cache: Cache,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Io { path: path.display().to_string(), reason: e.to_string() }
}

impl StateStore {
    /// Opens (creating the folder) the state at `path`; the lock file is `path` + `.lock`.
    pub fn open(path: &Path) -> Result<StateStore, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let store =
            StateStore { path: path.to_path_buf(), lock_path: PathBuf::from(lock_path), cache: Cache::default() };
        // Fail now, with the path in the message, rather than on the first alert.
        store.look(|_| ())?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of the current state (under the lock, so never a half-written view).
    pub fn read(&self) -> Result<State, StateError> {
        self.look(State::clone)
    }

    /// Looks at the current state without copying it.
    pub fn look<R>(&self, look: impl FnOnce(&State) -> R) -> Result<R, StateError> {
        let _lock = self.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.fresh(&mut cache)?;
        Ok(look(state))
    }

    /// Applies `change` to the freshest state and writes the result atomically.
    pub fn update<R>(&self, change: impl FnOnce(&mut State) -> R) -> Result<R, StateError> {
        let _lock = self.lock()?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let state = self.fresh(&mut cache)?;
        let result = change(state);
        state.bound(now_secs());
        let written = self.write(state);
        // Whatever happened to the write, the next call re-reads the file.
        let new_stamp = if written.is_ok() { stamp(&self.path) } else { None };
        if let Some((s, _)) = cache.as_mut() {
            *s = new_stamp;
        }
        if new_stamp.is_none() {
            *cache = None;
        }
        written.map(|()| result)
    }

    /// The cached state, re-read first if the file is not the version it was read from.
    fn fresh<'c>(&self, cache: &'c mut Option<(Option<Stamp>, State)>) -> Result<&'c mut State, StateError> {
        let now = stamp(&self.path);
        let stale = match cache.as_ref() {
            Some((seen, _)) => seen.is_none() || *seen != now,
            None => true,
        };
        if stale {
            *cache = None;
        }
        let (_, state) = match cache {
            Some(cached) => cached,
            None => cache.insert((stamp(&self.path), self.load()?)),
        };
        Ok(state)
    }

    fn lock(&self) -> Result<File, StateError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|e| io_err(&self.lock_path, e))?;
        file.lock().map_err(|e| io_err(&self.lock_path, e))?;
        Ok(file)
    }

    fn load(&self) -> Result<State, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(io_err(&self.path, e)),
        };
        match serde_json::from_slice::<State>(&bytes) {
            Ok(state) => Ok(state),
            Err(e) => {
                let aside = self.path.with_extension(format!("corrupt-{}", now_secs()));
                std::fs::rename(&self.path, &aside).map_err(|e| io_err(&self.path, e))?;
                tracing::warn!(
                    path = %self.path.display(), moved_to = %aside.display(), error = %e,
                    "state file was corrupt: moved aside, starting from an empty state"
                );
                Ok(State::default())
            }
        }
    }

    fn write(&self, state: &State) -> Result<(), StateError> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let tmp = self.path.with_extension(format!("tmp-{}", std::process::id()));
        // Streamed into the file: no copy of the whole state in memory on each write.
        let f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, f);
        serde_json::to_writer(&mut out, state).map_err(|e| io_err(&tmp, e))?;
        let f = out.into_inner().map_err(|e| io_err(&tmp, e.error()))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(|e| io_err(&self.path, e))?;
        // The rename is durable once the folder is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: AlertStatus) -> AlertRecord {
        AlertRecord {
            status,
            alert: crate::slack::alert::parse_text("/execution/364b459a-689f-11f1-94b6-de01f12a4ed9").unwrap(),
            signature: "s".into(),
            claimed_at: Some(1),
            reply_ts: None,
            text: None,
            updated_at: 1,
            owner: None,
            attempt: 0,
            resolved_at: None,
        }
    }

    #[test]
    fn updates_persist_and_merge_through_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/state.json");
        let a = StateStore::open(&path).unwrap();
        let b = StateStore::open(&path).unwrap();
        a.update(|s| s.channel("C1").alerts.insert(Ts::from_micros(1), record(AlertStatus::Claimed))).unwrap();
        // b never saw a's change in memory; its update applies to the fresh file, keeping a's.
        b.update(|s| s.channel("C1").alerts.insert(Ts::from_micros(2), record(AlertStatus::Posted))).unwrap();
        let state = a.read().unwrap();
        assert_eq!(state.channels["C1"].alerts.len(), 2);
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{\"channels\": {\"C1\": ").unwrap();
        let store = StateStore::open(&path).unwrap();
        assert_eq!(store.read().unwrap(), State::default());
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("state.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "the bad bytes are kept for a human");
    }

    #[test]
    fn state_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.json")).unwrap();
        store
            .update(|s| {
                let ch = s.channel("C1");
                for i in 0..(MAX_ALERTS as i64 + 10) {
                    ch.alerts.insert(Ts::from_micros(i), record(AlertStatus::Posted));
                }
                ch.incidents.insert(
                    "old".into(),
                    Incident { triaged_at: 0, ..Incident::first(Ts::from_micros(0), None, AlertStatus::Posted) },
                );
            })
            .unwrap();
        let state = store.read().unwrap();
        assert_eq!(state.channels["C1"].alerts.len(), MAX_ALERTS);
        assert!(state.channels["C1"].alerts.contains_key(&Ts::from_micros(MAX_ALERTS as i64 + 9)), "newest kept");
        assert!(state.channels["C1"].incidents.is_empty());
        // An alert still to be handled is never dropped, however old: settled ones go instead.
        store
            .update(|s| {
                let ch = s.channel("C1");
                ch.alerts.insert(Ts::from_micros(-1), record(AlertStatus::Pending));
                ch.alerts.insert(Ts::from_micros(-2), record(AlertStatus::Queued));
            })
            .unwrap();
        let alerts = &store.read().unwrap().channels["C1"].alerts;
        assert_eq!(alerts.len(), MAX_ALERTS);
        assert!(alerts.contains_key(&Ts::from_micros(-1)) && alerts.contains_key(&Ts::from_micros(-2)));
        assert!(!alerts.contains_key(&Ts::from_micros(11)), "the oldest settled ones went");
    }

    fn incident(first: i64, triaged_at: u64, status: AlertStatus) -> Incident {
        Incident {
            triaged_at,
            root_cause: Some("the hottest pod's heap is at its limit".into()),
            ..Incident::first(Ts::from_micros(first), None, status)
        }
    }

    #[test]
    fn a_burst_of_distinct_incidents_leaves_the_state_the_size_it_reaches_at_its_bound() {
        // Every alert its own incident, all within the week's retention: the file stops growing
        // once alerts and incidents reach their bounds, whatever the rate.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = StateStore::open(&path).unwrap();
        let now = now_secs();
        let mut sizes = Vec::new();
        const BATCH: i64 = 100;
        for batch in 0..(3 * MAX_ALERTS as i64 / BATCH) {
            store
                .update(|s| {
                    let ch = s.channel("C1");
                    for i in batch * BATCH..(batch + 1) * BATCH {
                        ch.alerts.insert(Ts::from_micros(i), record(AlertStatus::Posted));
                        ch.incidents.insert(format!("sig-{i}"), incident(i, now, AlertStatus::Posted));
                    }
                })
                .unwrap();
            if (batch + 1) * BATCH % MAX_ALERTS as i64 == 0 {
                sizes.push(std::fs::metadata(&path).unwrap().len());
            }
        }
        let incidents = store.look(|s| s.channels["C1"].incidents.len()).unwrap();
        assert!(incidents <= MAX_INCIDENTS, "{incidents} incidents kept");
        assert!(
            sizes.iter().all(|s| *s <= sizes[0] + sizes[0] / 20),
            "the file grows past its bound: {sizes:?} bytes at each {MAX_ALERTS} alerts"
        );
        // The newest stay (a re-fire is most likely of them), and one still being triaged stays
        // however old: its re-fires wait for it.
        store
            .update(|s| {
                s.channel("C1").incidents.insert("running".into(), incident(-1, now - 3600, AlertStatus::Claimed))
            })
            .unwrap();
        store
            .update(|s| {
                s.channel("C1")
                    .incidents
                    .insert("newest".into(), incident(3 * MAX_ALERTS as i64, now, AlertStatus::Posted))
            })
            .unwrap();
        let kept = store.look(|s| s.channels["C1"].incidents.clone()).unwrap();
        assert!(kept.contains_key("running") && kept.contains_key("newest"));
        assert!(kept.contains_key(&format!("sig-{}", 3 * MAX_ALERTS - 1)));
        assert!(kept.len() <= MAX_INCIDENTS);
    }

    #[test]
    fn an_unwritable_place_is_a_clear_error() {
        let err = StateStore::open(Path::new("/proc/oncall-triage/state.json")).unwrap_err();
        assert!(err.to_string().contains("ONCALL_STATE_FILE"), "{err}");
    }
}
