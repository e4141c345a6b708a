//! The flight recorder: one JSON Lines transcript per alert (`<state dir>/transcripts/<ts>.jsonl`),
//! each line an event as `--json` prints it (type, time, fields) — the alert, every tool call
//! with its arguments, raw output (redacted, size-capped) and condensed form, dispatch ids and
//! statuses, model turns, the reply, the operator's decision and the post's ts. Events are
//! already redacted when they reach here. The oldest transcripts beyond `KEEP` are pruned, at start
//! and as new ones come.
//! `Transcript::read` gives the lines back for `replay` and `export`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::domain::{CommandStatus, Ts};
use crate::protocol::Event;

/// Transcripts kept (the oldest go first).
pub const KEEP: usize = 5_000;

/// Writes transcripts on its own thread, off the event path: `record` only formats the line and
/// hands it over. `finish` (or dropping the recorder) lets the thread write everything handed
/// over and waits for it, so a graceful stop loses no line.
pub struct Recorder {
    dir: PathBuf,
    lines: Option<std::sync::mpsc::Sender<(Ts, String)>>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    /// Records into `dir` (created when needed); the writer prunes the oldest transcripts beyond
    /// `KEEP` first and then as it goes.
    pub fn new(dir: PathBuf) -> Recorder {
        Recorder::keeping(dir, KEEP)
    }

    /// Records into `dir`, keeping about `keep` transcripts.
    pub fn keeping(dir: PathBuf, keep: usize) -> Recorder {
        let (tx, rx) = std::sync::mpsc::channel::<(Ts, String)>();
        let at = dir.clone();
        let writer = std::thread::Builder::new()
            .name("flight-recorder".into())
            .spawn(move || {
                prune(&at, keep);
                write_all(&at, &rx, keep);
            })
            .map_err(|e| tracing::warn!(error = %e, "cannot start the flight recorder"))
            .ok();
        Recorder { dir, lines: Some(tx), writer }
    }

    /// The transcripts of a state file live beside it.
    pub fn beside(state_file: &Path) -> Recorder {
        Recorder::new(state_file.with_file_name("transcripts"))
    }

    pub fn path(&self, alert_ts: Ts) -> PathBuf {
        transcript_path(&self.dir, alert_ts)
    }

    /// Hands the event to the writer for its alert's transcript. Never blocks on the disk.
    pub fn record(&self, event: &Event) {
        let Some(ts) = event.alert_ts() else { return };
        // Streamed text is in the reply and the model turns; a restored history is this
        // transcript itself, read back.
        if matches!(event, Event::ReasonerDelta { .. } | Event::AlertRestored { .. }) {
            return;
        }
        let line = event.to_json_line(SystemTime::now());
        if let Some(tx) = &self.lines {
            let _ = tx.send((ts, line));
        }
    }

    /// Waits until every line handed over is written.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        drop(self.lines.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

fn transcript_path(dir: &Path, alert_ts: Ts) -> PathBuf {
    dir.join(format!("{alert_ts}.jsonl"))
}

/// Where the transcript of an alert of this state file is.
pub fn path_beside(state_file: &Path, alert_ts: Ts) -> PathBuf {
    transcript_path(&state_file.with_file_name("transcripts"), alert_ts)
}

/// The writer's loop: each wake-up takes every line waiting and appends them, one open per
/// transcript. A failure is logged, never fatal.
/// Writes what is handed over until the recorder stops; past every tenth of `keep` new
/// transcripts, the oldest beyond `keep` go (a service may run for weeks without a restart).
fn write_all(dir: &Path, lines: &std::sync::mpsc::Receiver<(Ts, String)>, keep: usize) {
    let mut created = 0;
    while let Ok(first) = lines.recv() {
        let mut batch: BTreeMap<Ts, String> = BTreeMap::new();
        for (ts, line) in std::iter::once(first).chain(lines.try_iter()) {
            let text = batch.entry(ts).or_default();
            text.push_str(&line);
            text.push('\n');
        }
        for (ts, text) in batch {
            let path = transcript_path(dir, ts);
            created += usize::from(!path.exists());
            let written = std::fs::create_dir_all(dir).and_then(|()| {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
                file.write_all(text.as_bytes())
            });
            if let Err(e) = written {
                tracing::warn!(alert_ts = %ts, error = %e, dir = %dir.display(), "cannot write the transcript");
            }
        }
        if created >= (keep / 10).max(1) {
            prune(dir, keep);
            created = 0;
        }
    }
}

fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect();
    if files.len() <= keep {
        return;
    }
    // Names are alert timestamps: sorting them sorts by age.
    files.sort();
    for old in &files[..files.len() - keep] {
        let _ = std::fs::remove_file(old);
    }
}

/// Why a transcript cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: line {line} is not JSON ({reason})")]
    NotJson { path: String, line: usize, reason: String },
    #[error("{path}: line {line} is not a recorded event ({reason})")]
    NotAnEvent { path: String, line: usize, reason: String },
    #[error("{path} holds no events: is it a transcript?")]
    Empty { path: String },
}

/// One recorded event with the time it was recorded (RFC 3339).
pub struct Line {
    pub time: String,
    pub event: Event,
}

/// A transcript read back: its events, in order, typed as the product wrote them.
pub struct Transcript {
    pub lines: Vec<Line>,
}

impl Transcript {
    pub fn read(path: &Path) -> Result<Transcript, TranscriptError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TranscriptError::Unreadable { path: shown.clone(), reason: e.to_string() })?;
        let count = text.lines().count();
        let mut lines = Vec::new();
        for (n, raw) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let value = match serde_json::from_str::<Value>(raw) {
                Ok(v) => v,
                // A line cut by a crash mid-write is the only one that may be bad: it is the last.
                Err(e) if n + 1 == count => {
                    tracing::warn!(line = n + 1, error = %e, "the transcript's last line is cut; ignored");
                    continue;
                }
                Err(e) => return Err(TranscriptError::NotJson { path: shown, line: n + 1, reason: e.to_string() }),
            };
            let time = value["time"].as_str().unwrap_or("?").to_string();
            match serde_json::from_value::<Event>(value) {
                Ok(event) => lines.push(Line { time, event }),
                Err(e) => {
                    return Err(TranscriptError::NotAnEvent { path: shown, line: n + 1, reason: e.to_string() });
                }
            }
        }
        if lines.is_empty() {
            return Err(TranscriptError::Empty { path: shown });
        }
        Ok(Transcript { lines })
    }

    pub fn events(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.lines.iter().map(|l| &l.event)
    }

    /// What a console draws of this alert, in order, each event with the milliseconds since the
    /// first line: the flight recorder's own records (the execution, model turns, the parsed
    /// alert) are left out, and so are raw outputs (the condensed form is what is shown).
    pub fn history(&self) -> Vec<(u64, Event)> {
        let time = |l: &Line| humantime::parse_rfc3339(&l.time).ok();
        let start = self.lines.first().and_then(time);
        self.lines
            .iter()
            .filter(|l| {
                !matches!(
                    l.event,
                    Event::ModelTurn { .. }
                        | Event::ExecutionRead { .. }
                        | Event::AlertDetail { .. }
                        | Event::ServiceError { .. }
                        | Event::PollFinished { .. }
                        | Event::AlertRestored { .. }
                )
            })
            .map(|l| {
                let at = match (start, time(l)) {
                    (Some(start), Some(at)) => at.duration_since(start).map_or(0, |d| d.as_millis() as u64),
                    _ => 0,
                };
                let event = match &l.event {
                    Event::ToolOutput { alert_ts, call_id, condensed, .. } => Event::ToolOutput {
                        alert_ts: *alert_ts,
                        call_id: call_id.clone(),
                        condensed: condensed.clone(),
                        raw: Value::Null,
                    },
                    other => other.clone(),
                };
                (at, event)
            })
            .collect()
    }

    /// The first line `pick` takes.
    pub fn first<'a, T>(&'a self, pick: impl FnMut(&'a Line) -> Option<T>) -> Option<T> {
        self.lines.iter().find_map(pick)
    }

    /// The last line `pick` takes.
    pub fn last<'a, T>(&'a self, pick: impl FnMut(&'a Line) -> Option<T>) -> Option<T> {
        self.lines.iter().rev().find_map(pick)
    }

    /// The tool calls, in the order they began, each gathered from its events (tool.started,
    /// dispatch.started, dispatch.finished, tool.output, tool.finished), whichever were recorded.
    pub fn calls(&self) -> Vec<Call<'_>> {
        let mut calls: Vec<Call> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for event in self.events() {
            let id = match event {
                Event::ToolStarted { call_id, .. }
                | Event::DispatchStarted { call_id, .. }
                | Event::DispatchFinished { call_id, .. }
                | Event::ToolOutput { call_id, .. }
                | Event::ToolFinished { call_id, .. } => call_id.as_str(),
                _ => continue,
            };
            let at = *index.entry(id).or_insert_with(|| {
                calls.push(Call { id, ..Call::default() });
                calls.len() - 1
            });
            let call = &mut calls[at];
            match event {
                Event::ToolStarted { tool, args, .. } => (call.tool, call.args) = (Some(tool.as_str()), Some(args)),
                Event::DispatchStarted { workflow, workflow_id, .. } => {
                    (call.workflow, call.workflow_id) = (Some(workflow.as_str()), Some(workflow_id.as_str()));
                }
                Event::DispatchFinished { status, elapsed_ms, reason, .. } => {
                    (call.status, call.elapsed_ms, call.reason) = (Some(*status), Some(*elapsed_ms), reason.as_deref());
                }
                Event::ToolOutput { condensed, raw, .. } => {
                    (call.condensed, call.raw) = (Some(condensed.as_str()), Some(raw))
                }
                Event::ToolFinished { ok, summary, .. } => {
                    (call.ok, call.summary) = (Some(*ok), Some(summary.as_str()))
                }
                _ => {}
            }
        }
        calls
    }
}

/// One tool call as recorded.
#[derive(Default, Clone, Copy)]
pub struct Call<'a> {
    pub id: &'a str,
    pub tool: Option<&'a str>,
    pub args: Option<&'a Value>,
    pub workflow: Option<&'a str>,
    pub workflow_id: Option<&'a str>,
    pub status: Option<CommandStatus>,
    pub elapsed_ms: Option<u64>,
    /// Conductor's reason when the command did not complete.
    pub reason: Option<&'a str>,
    pub condensed: Option<&'a str>,
    pub raw: Option<&'a Value>,
    pub ok: Option<bool>,
    pub summary: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_per_alert_reads_back_and_prunes_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("t");
        let recorder = Recorder::new(at.clone());
        let ts = Ts::from_micros(1_764_370_060_000_000);
        let path = recorder.path(ts);
        recorder.record(&Event::TriageStarted { alert_ts: ts, execution_id: "x".into(), reasoner: "playbook".into() });
        recorder.record(&Event::ReasonerDelta { alert_ts: ts, text: "chatter".into() });
        recorder.record(&Event::PollFinished { new_alerts: 1, next_poll_in_ms: None });
        recorder.finish();
        let t = Transcript::read(&path).unwrap();
        assert_eq!(t.lines.len(), 1);
        assert!(matches!(&t.lines[0].event, Event::TriageStarted { reasoner, .. } if reasoner == "playbook"));
        let recorder = Recorder::new(at.clone());
        for n in 0..5 {
            recorder.record(&Event::TriageStarted {
                alert_ts: Ts::from_micros(n),
                execution_id: "x".into(),
                reasoner: "playbook".into(),
            });
        }
        recorder.finish();
        prune(&at, 2);
        let left = std::fs::read_dir(&at).unwrap().count();
        assert_eq!(left, 2);
        assert!(path.exists(), "the newest is kept");
    }

    #[test]
    fn a_recorder_that_runs_for_days_keeps_its_bound_as_it_goes() {
        // Not only at start: a service that never restarts still keeps about `keep` transcripts.
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::keeping(dir.path().to_path_buf(), 10);
        let newest = Ts::from_micros(1_764_370_060_000_000 + 99);
        for n in 0..100 {
            recorder.record(&Event::TriageStarted {
                alert_ts: Ts::from_micros(1_764_370_060_000_000 + n),
                execution_id: "x".into(),
                reasoner: "playbook".into(),
            });
        }
        let path = recorder.path(newest);
        recorder.finish();
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert!((10..=11).contains(&left), "{left} transcripts kept");
        assert!(path.exists(), "the newest is kept");
    }

    #[test]
    fn every_line_handed_over_is_written_in_order_by_the_time_finish_returns() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::new(dir.path().to_path_buf());
        let alerts: Vec<Ts> = (0..3).map(|n| Ts::from_micros(1_764_370_060_000_000 + n)).collect();
        for i in 0..3000 {
            let ts = alerts[i % 3];
            recorder.record(&Event::ToolFinished {
                alert_ts: ts,
                call_id: format!("call-{i}"),
                ok: true,
                summary: String::new(),
            });
        }
        let paths: Vec<PathBuf> = alerts.iter().map(|ts| recorder.path(*ts)).collect();
        recorder.finish();
        for (n, path) in paths.iter().enumerate() {
            let t = Transcript::read(path).unwrap();
            let ids: Vec<String> = t.calls().iter().map(|c| c.id.to_string()).collect();
            let expected: Vec<String> = (0..3000).filter(|i| i % 3 == n).map(|i| format!("call-{i}")).collect();
            assert_eq!(ids, expected);
        }
    }
}
