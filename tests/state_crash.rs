//! A kill -9 at any point of a state write leaves either the old or the new state, never garbage:
//! a child process (this test binary, re-run) writes in a tight loop and is killed at random
//! moments; after each kill the file must parse and be one consistent snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use std::process::{Command, Stdio};
use std::time::Duration;

use oncall_triage::domain::Ts;
use oncall_triage::slack::alert::parse_text;
use oncall_triage::store::{AlertRecord, AlertStatus, StateStore};

const CHILD: &str = "STATE_CRASH_CHILD";

/// Each write adds alert n and sets the high-water mark to n: a consistent snapshot has
/// `high_water == alerts.len() - 1`, whatever moment the kill came.
fn write_forever(path: &str) -> ! {
    let store = StateStore::open(std::path::Path::new(path)).unwrap();
    let alert = parse_text("/execution/364b459a-689f-11f1-94b6-de01f12a4ed9").unwrap();
    loop {
        store
            .update(|s| {
                let c = s.channel("C1");
                let n = c.alerts.len() as i64;
                c.alerts.insert(
                    Ts::from_micros(n),
                    AlertRecord {
                        status: AlertStatus::Posted,
                        alert: alert.clone(),
                        signature: "x".repeat(200),
                        claimed_at: None,
                        reply_ts: None,
                        text: None,
                        updated_at: 0,
                        owner: None,
                        attempt: 0,
                        resolved_at: None,
                    },
                );
                c.high_water = Some(Ts::from_micros(n));
            })
            .unwrap();
    }
}

#[test]
fn a_kill_in_the_middle_of_a_state_write_leaves_old_or_new_state() {
    if let Ok(path) = std::env::var(CHILD) {
        write_forever(&path);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut last = 0usize;
    for round in 0..40u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "a_kill_in_the_middle_of_a_state_write_leaves_old_or_new_state", "--nocapture"])
            .env(CHILD, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Vary the moment of the kill: a few ms to some tens of ms into the write loop.
        std::thread::sleep(Duration::from_millis(5 + (round * 7919) % 60));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        let store = StateStore::open(&path).unwrap();
        let state = store.read().unwrap();
        let Some(c) = state.channels.get("C1") else { continue };
        let n = c.alerts.len();
        assert_eq!(c.high_water, Some(Ts::from_micros(n as i64 - 1)), "round {round}: a torn snapshot");
        assert!(n >= last, "round {round}: state went back from {last} to {n}");
        last = n;
    }
    assert!(last > 0, "the children wrote something");
    let corrupt = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("corrupt"))
        .count();
    assert_eq!(corrupt, 0, "no reader ever saw a half-written file");
}
