//! Slack intake and reply through the real binary against the simulator: every alert once,
//! claimed, answered in its thread — through bursts, 429 storms, racing instances and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ACME_EXECUTION, ACME_REDIS_ISSUE, against_in, alert_message, json_lines, of_type, run};
use oncall_triage::domain::Ts;
use oncall_triage::sim::Simulator;
use serde_json::json;

/// Replies per thread, failing on any top-level post.
fn replies_per_thread(sim: &Simulator) -> BTreeMap<String, usize> {
    let mut per = BTreeMap::new();
    for p in sim.slack().posts() {
        let thread = p.thread_ts.expect("replies only, never a top-level post").to_string();
        *per.entry(thread).or_default() += 1;
    }
    per
}

/// `n` alerts on clusters `<prefix>-<i>` whose executions do not exist (intake, not
/// investigation, is under test: each ends quickly in one "Triage failed" reply).
fn add_unreadable_alerts(sim: &Simulator, n: usize, prefix: &str) {
    for i in 0..n {
        let execution = format!("deadbeef-0000-4000-8000-{i:012}");
        sim.slack().add_message(alert_message(
            "MAJOR",
            prefix,
            &format!("{prefix}-{i:03}"),
            ACME_REDIS_ISSUE,
            &execution,
        ));
    }
}

/// The Conductor requests of triages: the checks before each run's first poll (a token and one
/// probe read) are left out.
fn triage_requests(sim: &Simulator) -> usize {
    let probe = oncall_triage::preflight::PROBE_EXECUTION;
    sim.conductor().requests().iter().filter(|r| r.api != "POST /api/token" && !r.api.contains(probe)).count()
}

/// Puts the claim reaction on `ts` as the shared bot would (another instance, or an earlier run).
async fn claim_as_the_bot(sim: &Simulator, ts: Ts) {
    common::http()
        .post(format!("{}reactions.add", sim.slack_url))
        .bearer_auth(&sim.options.slack_token)
        .json(&json!({"channel": sim.channel(), "timestamp": ts.to_string(), "name": "eyes"}))
        .send()
        .await
        .unwrap();
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn a_burst_of_500_alerts_is_paged_and_each_answered_once() {
    let sim = common::simulator().await;
    add_unreadable_alerts(&sim, 500, "burst");
    let h = home();
    let mut cmd = against_in(&sim, h.path());
    cmd.env("ONCALL_PAGE_SIZE", "50").env("ONCALL_MAX_TRIAGES", "16");
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    assert_eq!(of_type(&events, "alert.received").len(), 500 + common::shipped_alerts());
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), 500 + common::shipped_alerts(), "every alert answered");
    assert!(per.values().all(|n| *n == 1), "exactly once each");
    let pages = sim.slack().requests().iter().filter(|r| r.api == "conversations.history").count();
    assert!(pages >= 11, "paged through {pages} pages");
}

#[tokio::test]
async fn a_429_storm_delays_posts_but_loses_none() {
    let sim = common::simulator().await;
    sim.slack().inject_rate_limit("chat.postMessage", 4, 1);
    sim.slack().inject_rate_limit("reactions.add", 3, 1);
    let h = home();
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), common::shipped_alerts());
    assert!(per.values().all(|n| *n == 1));
    let limited = sim.slack().requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, 7);
}

#[tokio::test]
async fn two_instances_racing_post_exactly_one_reply_per_alert() {
    let sim = common::simulator().await;
    add_unreadable_alerts(&sim, 20, "race");
    let (h1, h2) = (home(), home());
    let (a, b) = tokio::join!(
        run(against_in(&sim, h1.path()), &["--no-tui", "--once", "--json"]),
        run(against_in(&sim, h2.path()), &["--no-tui", "--once", "--json"]),
    );
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let per = replies_per_thread(&sim);
    assert_eq!(per.len(), 20 + common::shipped_alerts());
    assert!(per.values().all(|n| *n == 1), "{per:?}");
    let (ea, eb) = (json_lines(&a), json_lines(&b));
    let sent = of_type(&ea, "post.sent").len() + of_type(&eb, "post.sent").len();
    let elsewhere = |e: &[serde_json::Value]| {
        e.iter().filter(|x| x["type"] == "alert.skipped" && x["reason"] == "claimed_elsewhere").count()
    };
    assert_eq!(sent, 20 + common::shipped_alerts());
    assert_eq!(
        elsewhere(&ea)
            + elsewhere(&eb)
            + of_type(&ea, "alert.skipped")
                .iter()
                .chain(of_type(&eb, "alert.skipped").iter())
                .filter(|x| x["reason"] == "already_answered")
                .count(),
        20 + common::shipped_alerts(),
        "the loser of each claim stood aside"
    );
}

#[tokio::test]
async fn restarts_do_not_re_triage_even_with_the_state_lost() {
    let sim = common::simulator().await;
    let h = home();
    let first = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(first.status.success());
    assert_eq!(sim.slack().posts().len(), common::shipped_alerts());

    // Same state: nothing new, nothing re-announced.
    let again = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(again.status.success());
    assert!(json_lines(&again).is_empty(), "{}", String::from_utf8_lossy(&again.stdout));

    // State lost: the claim reaction and the thread still say it was answered.
    let conductor_before = triage_requests(&sim);
    let fresh = home();
    let lost = run(against_in(&sim, fresh.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(lost.status.success());
    let events = json_lines(&lost);
    assert_eq!(
        of_type(&events, "alert.skipped").iter().filter(|e| e["reason"] == "already_answered").count(),
        common::shipped_alerts()
    );
    assert_eq!(sim.slack().posts().len(), common::shipped_alerts(), "no second reply");
    assert_eq!(triage_requests(&sim), conductor_before, "no second investigation");
}

#[tokio::test]
async fn a_claim_from_before_a_restart_is_resumed_and_posted_once() {
    use oncall_triage::store::{AlertRecord, AlertStatus, StateStore};
    let sim = common::simulator().await;
    let alert_msg =
        sim.slack().messages().into_iter().find(|m| m["text"].as_str().unwrap().contains(ACME_EXECUTION)).unwrap();
    let ts = Ts::parse(alert_msg["ts"].as_str().unwrap()).unwrap();
    // The earlier run recorded its claim and reacted, then died before posting.
    let h = home();
    let store = StateStore::open(&h.path().join("state.json")).unwrap();
    let alert = oncall_triage::slack::alert::from_message(&alert_msg).unwrap();
    store
        .update(|s| {
            s.channel(sim.channel()).alerts.insert(
                ts,
                AlertRecord {
                    status: AlertStatus::Claimed,
                    signature: alert.signature(),
                    alert,
                    claimed_at: Some(1),
                    reply_ts: None,
                    text: None,
                    updated_at: 1,
                    owner: None,
                    attempt: 0,
                    resolved_at: None,
                },
            )
        })
        .unwrap();
    claim_as_the_bot(&sim, ts).await;
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success());
    assert_eq!(replies_per_thread(&sim).get(&ts.to_string()), Some(&1), "resumed, posted once");
    let state = store.read().unwrap();
    assert_eq!(state.channels[sim.channel()].alerts[&ts].status, AlertStatus::Posted);
}

#[tokio::test]
async fn a_foreign_claim_is_respected_within_the_lease_and_taken_over_after() {
    let sim = common::simulator().await;
    let ts = sim.slack().add_message(alert_message("MAJOR", "Lease", "lease-prod", ACME_REDIS_ISSUE, ACME_EXECUTION));
    claim_as_the_bot(&sim, ts).await;
    let h = home();
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    let events = json_lines(&out);
    let skipped: Vec<_> =
        of_type(&events, "alert.skipped").into_iter().filter(|e| e["alert_ts"] == ts.to_string()).collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "claimed_elsewhere");
    assert!(!replies_per_thread(&sim).contains_key(&ts.to_string()));

    // After the lease, with no reply in the thread, this instance takes over.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut cmd = against_in(&sim, h.path());
    cmd.env("ONCALL_CLAIM_LEASE", "1s");
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success());
    assert_eq!(replies_per_thread(&sim).get(&ts.to_string()), Some(&1));
}

#[tokio::test]
async fn a_re_fire_is_answered_from_the_first_triage_without_a_new_investigation() {
    let sim = common::simulator().await;
    let h = home();
    assert!(run(against_in(&sim, h.path()), &["--no-tui", "--once"]).await.status.success());
    let original = sim.slack().posts().into_iter().find(|p| p.text.contains("acme-prod")).unwrap();
    let first_ts = original.thread_ts.unwrap();
    let gets_before = triage_requests(&sim);

    // The same incident five minutes later: a new execution id, other numbers.
    let refire = sim.slack().add_message(alert_message(
        "MAJOR",
        "Acme Media",
        "acme-prod",
        "The Redis instance is at 58%, above the MAJOR threshold of 50%",
        "aaaaaaaa-e49f-11f0-a1f2-4e7cd2c93ad7",
    ));
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    let ready = of_type(&events, "hypothesis.ready");
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0]["refire_of"], first_ts.to_string());
    let reply = sim.slack().posts().into_iter().find(|p| p.thread_ts == Some(refire)).unwrap();
    assert!(
        reply.text.starts_with("*Re-fire* (×1) of the incident triaged in <https://slack.com/archives/"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains(&original.text), "repeats the first hypothesis");
    assert_eq!(triage_requests(&sim), gets_before, "nothing new was dispatched or read");

    // A higher severity is a new incident: a full triage.
    let critical = sim.slack().add_message(alert_message(
        "CRITICAL",
        "Acme Media",
        "acme-prod",
        "The Redis instance is at 66%, above the CRITICAL threshold of 65%",
        ACME_EXECUTION,
    ));
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    let events = json_lines(&out);
    assert_eq!(of_type(&events, "hypothesis.ready")[0]["refire_of"], serde_json::Value::Null);
    let reply = sim.slack().posts().into_iter().find(|p| p.thread_ts == Some(critical)).unwrap();
    assert!(reply.text.starts_with("*Issue*: "));
}

#[tokio::test]
async fn a_re_fire_arriving_with_its_original_waits_for_it() {
    let sim = common::simulator().await;
    let h = home();
    let first = sim.slack().add_message(alert_message("MAJOR", "Twin", "twin-prod", ACME_REDIS_ISSUE, ACME_EXECUTION));
    let second = sim.slack().add_message(alert_message(
        "MAJOR",
        "Twin",
        "twin-prod",
        "The Redis instance is at 59%, above the MAJOR threshold of 50%",
        "bbbbbbbb-e49f-11f0-a1f2-4e7cd2c93ad7",
    ));
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success());
    let events = json_lines(&out);
    let refire = of_type(&events, "hypothesis.ready")
        .into_iter()
        .find(|e| e["alert_ts"] == second.to_string())
        .unwrap_or_else(|| panic!("{events:#?}"))
        .clone();
    assert_eq!(refire["refire_of"], first.to_string());
}

#[tokio::test]
async fn stale_alerts_and_non_alert_messages_get_no_reply() {
    let sim = common::simulator().await;
    let h = home();
    assert!(run(against_in(&sim, h.path()), &["--no-tui", "--once"]).await.status.success());
    let before = sim.slack().posts().len();
    // Not alerts: an edit, a broadcast thread reply, a join, all carrying an execution link.
    let link = "<https://x.orkesconductor.com/execution/3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7>";
    for subtype in ["message_changed", "thread_broadcast", "channel_join"] {
        sim.slack().add_message(json!({"subtype": subtype, "text": format!("quoting {link}"), "user": "U1"}));
    }
    let stale =
        sim.slack().add_message(alert_message("MAJOR", "Stale", "stale-prod", ACME_REDIS_ISSUE, ACME_EXECUTION));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut cmd = against_in(&sim, h.path());
    cmd.env("ONCALL_LOOKBACK", "10ms");
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success());
    let events = json_lines(&out);
    let received = of_type(&events, "alert.received");
    assert_eq!(received.len(), 1, "only the real alert is recognised");
    let skipped = of_type(&events, "alert.skipped");
    assert_eq!(
        (skipped[0]["alert_ts"].as_str(), skipped[0]["reason"].as_str()),
        (Some(stale.to_string().as_str()), Some("stale"))
    );
    assert_eq!(sim.slack().posts().len(), before, "nothing answered");
}

#[tokio::test]
async fn alerts_are_marked_done_and_a_failed_triage_says_so_in_the_thread() {
    let sim = common::simulator().await;
    let missing = sim.slack().add_message(alert_message(
        "MAJOR",
        "Gone",
        "gone-prod",
        ACME_REDIS_ISSUE,
        "deadbeef-0000-4000-8000-000000000000",
    ));
    let h = home();
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "a failed triage is handled: {}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    let failed = of_type(&events, "triage.failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["alert_ts"], missing.to_string());
    let reply = sim.slack().posts().into_iter().find(|p| p.thread_ts == Some(missing)).unwrap();
    assert_eq!(
        reply.text,
        "Triage failed: get_incident_details unavailable: Conductor: execution deadbeef-0000-4000-8000-000000000000 not found"
    );
    let reactions = |ts: Ts| -> Vec<String> {
        let m = sim.slack().messages().into_iter().find(|m| m["ts"] == ts.to_string()).unwrap();
        m["reactions"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(reactions(missing), vec!["eyes", "x"]);
    for p in sim.slack().posts().into_iter().filter(|p| p.thread_ts != Some(missing)) {
        assert_eq!(reactions(p.thread_ts.unwrap()), vec!["eyes", "white_check_mark"]);
    }
}

#[tokio::test]
async fn the_newest_alert_is_answered_first_when_history_allows_a_page_a_minute() {
    let sim = common::simulator().await;
    // The non-Marketplace profile (history and replies: one call per "minute", here 1 s), with a
    // backlog of four pages: the newest page is triaged while the older ones wait for their turn,
    // and the thread checks before the posts take turns on the replies budget.
    sim.slack().non_marketplace_limits(Duration::from_secs(1));
    let h = home();
    let mut cmd = against_in(&sim, h.path());
    cmd.env("ONCALL_PAGE_SIZE", "5");
    let out = run(cmd, &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let posts = sim.slack().posts();
    assert_eq!(posts.len(), common::shipped_alerts(), "every alert answered once");
    let alerts: Vec<Ts> = posts.iter().filter_map(|p| p.thread_ts).collect();
    let (newest, oldest) = (*alerts.iter().max().unwrap(), *alerts.iter().min().unwrap());
    let at = |ts: Ts| posts.iter().position(|p| p.thread_ts == Some(ts)).unwrap();
    assert!(at(newest) < at(oldest), "the newest alert was answered before the oldest");
    let pages = sim.slack().requests().iter().filter(|r| r.api == "conversations.history" && r.status == 200).count();
    assert!(pages >= 4, "{pages} pages");
}

#[tokio::test]
async fn a_recovery_notice_is_never_triaged_and_marks_its_cluster_resolved() {
    use oncall_triage::store::StateStore;
    let sim = common::simulator().await;
    let acme =
        sim.slack().messages().into_iter().find(|m| m["text"].as_str().unwrap().contains(ACME_EXECUTION)).unwrap();
    let acme_ts = Ts::parse(acme["ts"].as_str().unwrap()).unwrap();
    let cluster = oncall_triage::slack::alert::from_message(&acme).unwrap().cluster.unwrap();
    // The notice links an execution too: only its wording says it is a recovery.
    let notice = sim.slack().add_message(json!({
        "text": format!(":white_check_mark: *`[RESOLVED]`* The health-checking for the _Acme's_ prod *`{cluster}`* cluster has recovered\n<https://ah5r-prod.orkesconductor.com/execution/{ACME_EXECUTION}|View execution>"),
        "bot_id": "B06QH3ALRT7", "subtype": "bot_message",
    }));
    let h = home();
    let out = run(against_in(&sim, h.path()), &["--no-tui", "--once", "--json"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = json_lines(&out);
    let received: Vec<&str> =
        of_type(&events, "alert.received").iter().map(|e| e["alert_ts"].as_str().unwrap()).collect();
    assert!(!received.contains(&notice.to_string().as_str()), "the notice is not an alert");
    assert_eq!(received.len(), common::shipped_alerts());
    assert!(sim.slack().posts().iter().all(|p| p.thread_ts != Some(notice)), "nothing posted under the notice");
    let state = StateStore::open(&h.path().join("state.json")).unwrap().read().unwrap();
    let alerts = &state.channels[sim.channel()].alerts;
    assert_eq!(alerts[&acme_ts].resolved_at, Some(notice), "the cluster's incident is marked resolved");
    assert!(
        alerts.iter().filter(|(ts, _)| **ts != acme_ts).all(|(_, r)| r.resolved_at.is_none()),
        "other clusters are not"
    );
}
