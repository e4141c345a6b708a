//! The flight recorder: one JSON Lines transcript per alert (`<state dir>/transcripts/<ts>.jsonl`),
//! each line an event as `--json` prints it (type, time, fields) — the alert, every tool call
//! with its arguments, raw output (redacted, size-capped) and condensed form, dispatch ids and
//! statuses, model turns, the reply, the operator's decision and the post's ts. Events are
//! already redacted when they reach here. The oldest transcripts beyond `KEEP` are pruned.
//! `Transcript::read` gives the lines back for `replay` and `export`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::domain::Ts;
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
    /// Records into `dir` (created when needed); the writer first prunes the oldest transcripts
    /// beyond `KEEP`.
    pub fn new(dir: PathBuf) -> Recorder {
        let (tx, rx) = std::sync::mpsc::channel::<(Ts, String)>();
        let at = dir.clone();
        let writer = std::thread::Builder::new()
            .name("flight-recorder".into())
            .spawn(move || {
                prune(&at, KEEP);
                write_all(&at, &rx);
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

    /// Hands the event to the writer for its alert's transcript (streamed model text is left
    /// out: the reply and the model turns carry it). Never blocks on the disk.
    pub fn record(&self, event: &Event) {
        let Some(ts) = event.alert_ts() else { return };
        if matches!(event, Event::ReasonerDelta { .. }) {
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

/// The writer's loop: each wake-up takes every line waiting and appends them, one open per
/// transcript. A failure is logged, never fatal.
fn write_all(dir: &Path, lines: &std::sync::mpsc::Receiver<(Ts, String)>) {
    while let Ok(first) = lines.recv() {
        let mut batch: BTreeMap<Ts, String> = BTreeMap::new();
        for (ts, line) in std::iter::once(first).chain(lines.try_iter()) {
            let text = batch.entry(ts).or_default();
            text.push_str(&line);
            text.push('\n');
        }
        for (ts, text) in batch {
            let written = std::fs::create_dir_all(dir).and_then(|()| {
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(transcript_path(dir, ts))?;
                file.write_all(text.as_bytes())
            });
            if let Err(e) = written {
                tracing::warn!(alert_ts = %ts, error = %e, dir = %dir.display(), "cannot write the transcript");
            }
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

/// A transcript read back: its lines, in order.
pub struct Transcript {
    pub lines: Vec<Value>,
}

impl Transcript {
    pub fn read(path: &Path) -> Result<Transcript, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut lines = Vec::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            // A line cut by a crash mid-write is the only one that may be bad: it is the last.
            match serde_json::from_str::<Value>(line) {
                Ok(v) => lines.push(v),
                Err(e) if n + 1 == text.lines().count() => {
                    tracing::warn!(line = n + 1, error = %e, "the transcript's last line is cut; ignored")
                }
                Err(e) => return Err(format!("{}: line {} is not JSON ({e})", path.display(), n + 1)),
            }
        }
        if lines.is_empty() {
            return Err(format!("{} holds no events: is it a transcript?", path.display()));
        }
        Ok(Transcript { lines })
    }

    /// The lines of one type.
    pub fn of(&self, kind: &str) -> impl Iterator<Item = &Value> {
        let kind = kind.to_string();
        self.lines.iter().filter(move |l| l["type"] == kind.as_str())
    }

    pub fn first(&self, kind: &str) -> Option<&Value> {
        self.of(kind).next()
    }

    pub fn last(&self, kind: &str) -> Option<&Value> {
        self.of(kind).last()
    }

    /// The tool calls, by call id: (tool.started, dispatch.started, dispatch.finished,
    /// tool.output, tool.finished), whichever were recorded, in the order the calls began.
    pub fn calls(&self) -> Vec<Call<'_>> {
        let mut order: Vec<&str> = Vec::new();
        let mut by_id: BTreeMap<&str, Call> = BTreeMap::new();
        for line in &self.lines {
            let Some(id) = line["call_id"].as_str() else { continue };
            let call = by_id.entry(id).or_insert_with(|| {
                order.push(id);
                Call::default()
            });
            match line["type"].as_str() {
                Some("tool.started") => call.started = Some(line),
                Some("dispatch.started") => call.dispatched = Some(line),
                Some("dispatch.finished") => call.finished = Some(line),
                Some("tool.output") => call.output = Some(line),
                Some("tool.finished") => call.done = Some(line),
                _ => {}
            }
        }
        order.into_iter().filter_map(|id| by_id.remove(id)).collect()
    }
}

#[derive(Default, Clone, Copy)]
pub struct Call<'a> {
    pub started: Option<&'a Value>,
    pub dispatched: Option<&'a Value>,
    pub finished: Option<&'a Value>,
    pub output: Option<&'a Value>,
    pub done: Option<&'a Value>,
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
        assert_eq!(t.first("triage.started").unwrap()["reasoner"], "playbook");
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
            let ids: Vec<String> = t.lines.iter().map(|l| l["call_id"].as_str().unwrap().to_string()).collect();
            let expected: Vec<String> = (0..3000).filter(|i| i % 3 == n).map(|i| format!("call-{i}")).collect();
            assert_eq!(ids, expected);
        }
    }
}
