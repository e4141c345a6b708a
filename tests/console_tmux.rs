//! End to end: the real binary's console in a real terminal (tmux), against the simulator.
//! It waits for a draft, presses `a`, and checks Slack received exactly that draft in the
//! alert's thread; then `n` to the next draft, `e`, types an edit, Ctrl+S, and checks the
//! edited text was posted; then `q` quits and the terminal session ends.
//! (`--demo` runs the same console with the simulator in-process; here the simulator runs in
//! the test so the test can read what Slack received.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use oncall_triage::sim::{Simulator, scenario};
use serde_json::Value;

struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p", "-t", self.session]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        assert!(self.cmd().args(["send-keys", "-t", self.session]).args(keys).status().unwrap().success());
    }

    fn text(&self, text: &str) {
        assert!(self.cmd().args(["send-keys", "-t", self.session, "-l", text]).status().unwrap().success());
    }

    fn alive(&self) -> bool {
        self.cmd().args(["has-session", "-t", self.session]).output().is_ok_and(|o| o.status.success())
    }

    async fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; the screen:\n{screen}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

/// The drafts waiting in the state file, by alert ts.
fn queued(state: &std::path::Path) -> BTreeMap<String, String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(state).unwrap_or_default()).unwrap_or_default();
    let mut out = BTreeMap::new();
    for channel in v["channels"].as_object().into_iter().flat_map(|m| m.values()) {
        for (ts, r) in channel["alerts"].as_object().into_iter().flatten() {
            if r["status"] == "queued"
                && let Some(text) = r["text"].as_str()
            {
                out.insert(ts.clone(), text.to_string());
            }
        }
    }
    out
}

async fn wait_posts(sim: &Simulator, n: usize, tmux: &Tmux) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.slack().posts().len() < n {
        assert!(Instant::now() < deadline, "no post arrived; the screen:\n{}", tmux.screen());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulator with two alerts that need no dispatch (a certificate, a stale key).
async fn two_alerts() -> Simulator {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios");
    for name in ["09-certificate-expires-soon.json", "11-auth-stale-api-key.json"] {
        std::fs::copy(shipped.join(name), dir.path().join(name)).unwrap();
    }
    Simulator::start(scenario::load_dir(dir.path()).unwrap(), common::fast_options()).await.unwrap()
}

/// The real binary's console in a 140×40 tmux session, against `sim`, on `home`'s state file.
fn console(sim: &Simulator, home: &std::path::Path, name: &str) -> Tmux {
    console_sized(sim, home, name, (140, 40))
}

fn console_sized(sim: &Simulator, home: &std::path::Path, name: &str, (width, height): (u16, u16)) -> Tmux {
    let mut command = format!(
        "env -i PATH=/usr/bin:/bin HOME={home} TERM=xterm-256color NO_COLOR=1 ONCALL_STATE_FILE={home}/state.json ONCALL_LOG_DIR={home}/logs-{name}",
        home = home.display(),
    );
    for line in sim.env_lines() {
        command.push_str(&format!(" '{line}'"));
    }
    command.push_str(&format!(" {}", env!("CARGO_BIN_EXE_oncall-triage")));
    let tmux = Tmux { socket: format!("oncall-test-{name}-{}", std::process::id()), session: "console" };
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-s", tmux.session, "-x", &width.to_string(), "-y", &height.to_string(), &command])
        .status()
        .expect("tmux new-session");
    assert!(started.success());
    tmux
}

#[tokio::test]
async fn approve_and_edit_in_the_console_post_exactly_that() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "tmux is missing: install it (apt-get install tmux); .ci/run does"
    );
    let sim = two_alerts().await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");
    let tmux = console(&sim, home.path(), "approve");

    // Both drafts wait; nothing was posted without a key press.
    let screen = tmux
        .wait_for("two drafts awaiting approval", |s| s.contains("2 awaiting") && s.contains("a post · e edit"))
        .await;
    assert!(sim.slack().posts().is_empty(), "posted before approval:\n{screen}");
    let drafts = queued(&state);
    assert_eq!(drafts.len(), 2, "{drafts:?}");

    tmux.keys(&["a"]);
    wait_posts(&sim, 1, &tmux).await;
    let first = sim.slack().posts().remove(0);
    let thread = first.thread_ts.expect("a reply in the alert's thread").to_string();
    assert_eq!(first.text, drafts[&thread], "exactly the draft that was shown");

    // The other draft: edit it, then Ctrl+S posts the edit.
    tmux.wait_for("the first post recorded", |s| s.contains("1 posted")).await;
    tmux.keys(&["n"]);
    tmux.keys(&["e"]);
    tmux.wait_for("the editor", |s| s.contains("Ctrl+S posts")).await;
    tmux.text("Checked by on-call. ");
    tmux.keys(&["C-s"]);
    wait_posts(&sim, 2, &tmux).await;
    let second = sim.slack().posts().remove(1);
    let other = second.thread_ts.unwrap().to_string();
    assert_ne!(other, thread);
    assert_eq!(second.text, format!("Checked by on-call. {}", drafts[&other]));
    assert_eq!(sim.slack().posts().len(), 2, "one post per approval");

    tmux.wait_for("both posted", |s| s.contains("2 posted")).await;
    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() {
        assert!(Instant::now() < deadline, "q did not quit:\n{}", tmux.screen());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A service (`--no-tui --post queue`) holds the drafts; a console started on its state file
/// does no intake of its own, shows them and posts the one approved.
#[tokio::test]
async fn a_console_beside_a_queueing_service_only_approves() {
    let sim = two_alerts().await;
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");
    let mut service = common::against_in(&sim, home.path())
        .args(["--no-tui", "--post", "queue"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while queued(&state).len() < 2 {
        assert!(Instant::now() < deadline, "the service queued nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drafts = queued(&state);
    let history_reads = || sim.slack().requests().iter().filter(|r| r.api == "conversations.history").count();
    let reads_before = history_reads();

    let tmux = console(&sim, home.path(), "approve-only");
    tmux.wait_for("the service's drafts, approve-only", |s| s.contains("approve-only") && s.contains("2 awaiting"))
        .await;
    tmux.keys(&["a"]);
    wait_posts(&sim, 1, &tmux).await;
    let post = sim.slack().posts().remove(0);
    assert_eq!(post.text, drafts[&post.thread_ts.unwrap().to_string()]);
    tmux.keys(&["q"]);
    let _ = service.kill();
    let _ = service.wait();
    // The service's own polls read the channel; the console never did (its intake is off).
    let console_reads = history_reads() - reads_before;
    assert_eq!(console_reads, 0, "the console polled Slack");
}

/// The simulator with one alert whose draft is long (a multi-line, multi-finding reply).
async fn one_long_draft() -> Simulator {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenarios");
    let name = "21-pod-restarted-data-size-value.json";
    std::fs::copy(shipped.join(name), dir.path().join(name)).unwrap();
    Simulator::start(scenario::load_dir(dir.path()).unwrap(), common::fast_options()).await.unwrap()
}

/// At 80×24 and at 140×40, the draft's last line is on screen before `a` posts it: a draft too
/// long for the pane refuses `a` and says how to read the rest; Space pages to its end; then `a`
/// posts exactly it.
#[tokio::test]
async fn a_long_draft_is_read_to_its_end_before_it_is_posted_at_any_size() {
    for size in [(80, 24), (140, 40)] {
        let sim = one_long_draft().await;
        let home = tempfile::tempdir().unwrap();
        let state = home.path().join("state.json");
        let tmux = console_sized(&sim, home.path(), &format!("long-{}x{}", size.0, size.1), size);
        tmux.wait_for("the draft", |s| s.contains("1 awaiting")).await;
        let drafts = queued(&state);
        let draft = drafts.values().next().expect("a draft in the state file").clone();
        // The draft's last words as the screen shows them (mrkdwn's markers are not drawn).
        let last_line = draft.lines().last().unwrap().replace(['*', '`'], "");
        let tail: String = last_line
            .split_whitespace()
            .rev()
            .take(2)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" ");
        let on_screen = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").contains(&tail);
        tmux.keys(&["a"]);
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut screen = tmux.screen();
        let blocked = sim.slack().posts().is_empty();
        if blocked {
            assert!(!on_screen(&screen), "{size:?}: the end was on screen, yet a did not post:\n{screen}");
            assert!(screen.contains("read them before a posts"), "{size:?}: a says why it waits:\n{screen}");
            let mut pages = 0;
            while !on_screen(&screen) {
                tmux.keys(&["Space"]);
                tokio::time::sleep(Duration::from_millis(200)).await;
                screen = tmux.screen();
                pages += 1;
                assert!(pages < 30, "{size:?}: Space never reached the draft's end:\n{screen}");
            }
            assert!(sim.slack().posts().is_empty(), "{size:?}: nothing posted while reading");
            tmux.keys(&["a"]);
        } else {
            assert!(on_screen(&screen), "{size:?}: posted a draft whose end was not on screen:\n{screen}");
        }
        wait_posts(&sim, 1, &tmux).await;
        assert_eq!(sim.slack().posts()[0].text, draft, "{size:?}: exactly the draft shown");
        // At 80×24 this draft (some 2,000 characters) cannot show whole: the refusal was met.
        assert!(blocked || size != (80, 24), "at 80×24 the draft fit whole: the test reads nothing");
        tmux.keys(&["q"]);
    }
}
