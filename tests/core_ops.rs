//! The core's boundary: `core::start` against the simulator with every draft queued, then each
//! operator `Op` submitted (approve, edit, reject, re-triage then a follow-up, approve-all
//! re-fires), asserting on the events the core reports and on what Slack received.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::sync::Arc;
use std::time::Duration;

use oncall_triage::config::{Config, PostPolicy, Sources};
use oncall_triage::core::{self, CoreHandle, Mode, Services};
use oncall_triage::domain::Ts;
use oncall_triage::metrics::Metrics;
use oncall_triage::protocol::{Decision, Event, Op, SkipReason};
use oncall_triage::reasoner::Reasoner;
use oncall_triage::secret::Secret;
use oncall_triage::sim::Simulator;
use oncall_triage::slack::SlackClient;
use oncall_triage::store::StateStore;
use oncall_triage::tools::Toolbox;

fn start(sim: &Simulator, dir: &std::path::Path) -> CoreHandle {
    start_in(sim, dir, Mode::Watch)
}

fn start_in(sim: &Simulator, dir: &std::path::Path, mode: Mode) -> CoreHandle {
    let mut config = Config::resolve(&Sources::default(), true).unwrap();
    sim.configure(&mut config);
    config.state_file = dir.join("state.json");
    config.post = PostPolicy::Queue;
    config.poll_interval = Duration::from_secs(3600);
    config.conductor.stuck_after = oncall_triage::sim::SIMULATED_STUCK_AFTER;
    let conductor = oncall_triage::conductor::ConductorClient::new(&sim.conductor_url, config.conductor.auth.clone());
    let timing = oncall_triage::conductor::dispatch::Timing::new(Duration::from_secs(60), config.conductor.stuck_after);
    let services = Services {
        slack: SlackClient::new(&sim.slack_url, Secret::new(sim.options.slack_token.clone())),
        channel: sim.channel().to_string(),
        toolbox: Arc::new(Toolbox::new(Arc::new(conductor), timing, 8)),
        reasoner: Arc::new(Reasoner::Playbook),
    };
    let store = StateStore::open(&config.state_file).unwrap();
    core::start(Arc::new(config), services, store, mode, Metrics::new(Duration::from_secs(30)))
}

/// Reads events until `done` holds for one (returned with everything read); fails after 60 s.
async fn until(handle: &mut CoreHandle, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    let read = async {
        while let Some(e) = handle.next_event().await {
            let stop = done(&e);
            seen.push(e);
            if stop {
                return;
            }
        }
        panic!("the core stopped before the awaited event");
    };
    tokio::time::timeout(Duration::from_secs(60), read).await.expect("the awaited event within 60 s");
    seen
}

/// A re-fire of acme-prod's Redis incident, posted into the channel; its ts.
fn acme_redis_refire(sim: &Simulator) -> Ts {
    sim.slack().add_message(common::alert_message(
        "MAJOR",
        "Acme Media",
        "acme-prod",
        "The Redis instance is at 58%, above the MAJOR threshold of 50%",
        "aaaaaaaa-e49f-11f0-a1f2-4e7cd2c93ad7",
    ))
}

fn replies(sim: &Simulator, ts: Ts) -> Vec<String> {
    sim.slack().posts().into_iter().filter(|p| p.thread_ts == Some(ts)).map(|p| p.text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_decision_reaches_slack_exactly_as_decided() {
    let sim = common::simulator().await;
    // A re-fire of acme-prod's Redis incident, so approve-all has something to approve.
    let refire = acme_redis_refire(&sim);
    let dir = tempfile::tempdir().unwrap();
    let mut handle = start(&sim, dir.path());

    // Every alert's draft is queued; nothing is posted without a decision.
    let alerts = common::shipped_alerts() + 1;
    let mut queued: Vec<(Ts, String, bool)> = Vec::new();
    let mut drafts = std::collections::BTreeMap::new();
    until(&mut handle, |e| {
        match e {
            Event::HypothesisReady { alert_ts, text, refire_of, .. } => {
                drafts.insert(*alert_ts, (text.clone(), refire_of.is_some()));
            }
            Event::PostQueued { alert_ts, .. } => {
                let (text, is_refire) = drafts[alert_ts].clone();
                queued.push((*alert_ts, text, is_refire));
            }
            _ => {}
        }
        queued.len() == alerts
    })
    .await;
    assert!(sim.slack().posts().is_empty(), "nothing is posted before a decision");
    assert!(queued.iter().any(|(ts, _, r)| *ts == refire && *r), "the re-fire is queued as a re-fire");
    let originals: Vec<&(Ts, String, bool)> = queued.iter().filter(|(_, _, r)| !r).collect();
    let (approved, edited, rejected) = (originals[0], originals[1], originals[2]);

    // Approve: the draft, once, in its thread.
    handle.submit(Op::Approve { alert_ts: approved.0, text: approved.1.clone() }).unwrap();
    let events = until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if *alert_ts == approved.0)).await;
    assert!(events.iter().any(|e| matches!(e, Event::Decision { decision: Decision::Approved, .. })));
    assert_eq!(replies(&sim, approved.0), vec![approved.1.clone()]);

    // Edit: the operator's text, said to be an edit; a long one still fits Slack (as text alone
    // once its blocks would be too long).
    let note = "\n• The operator adds: the node was drained at 02:10.".repeat(300);
    let text = format!("{}{note}", edited.1);
    handle.submit(Op::Approve { alert_ts: edited.0, text: text.clone() }).unwrap();
    let events = until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if *alert_ts == edited.0)).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Decision { decision: Decision::Edited, text: Some(t), .. } if *t == text))
    );
    assert_eq!(replies(&sim, edited.0), [text]);
    let posted = sim.slack().posts().into_iter().find(|p| p.thread_ts == Some(edited.0)).unwrap();
    assert!(posted.blocks.is_null(), "blocks over Slack's total are not sent");

    // Reject: recorded with its reason, nothing posted.
    handle.submit(Op::Reject { alert_ts: rejected.0, reason: Some("wrong cluster".into()) }).unwrap();
    let events =
        until(&mut handle, |e| matches!(e, Event::PostSkipped { alert_ts, .. } if *alert_ts == rejected.0)).await;
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Decision { decision: Decision::Rejected, reason: Some(r), .. } if r == "wrong cluster"
    )));
    assert!(events.iter().any(|e| matches!(e, Event::PostSkipped { reason: SkipReason::Rejected, .. })));
    assert!(replies(&sim, rejected.0).is_empty());

    // Re-triage after the post: a new draft, which approving posts as a follow-up.
    handle.submit(Op::Retriage { alert_ts: approved.0 }).unwrap();
    let events =
        until(&mut handle, |e| matches!(e, Event::PostQueued { alert_ts, .. } if *alert_ts == approved.0)).await;
    assert!(events.iter().any(|e| matches!(e, Event::TriageStarted { alert_ts, .. } if *alert_ts == approved.0)));
    handle.submit(Op::Approve { alert_ts: approved.0, text: approved.1.clone() }).unwrap();
    until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if *alert_ts == approved.0)).await;
    let thread = replies(&sim, approved.0);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1], format!("*Updated triage*\n{}", approved.1));

    // Approve all re-fires: the re-fire's reply, and nothing else.
    let before = sim.slack().posts().len();
    handle.submit(Op::ApproveAllRefires).unwrap();
    until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if *alert_ts == refire)).await;
    assert_eq!(replies(&sim, refire).len(), 1);
    assert!(replies(&sim, refire)[0].starts_with("*Re-fire*"));
    assert_eq!(sim.slack().posts().len(), before + 1);

    handle.submit(Op::Quit).unwrap();
    handle.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_console_gets_back_each_investigation_and_the_settled_alerts() {
    use oncall_triage::console::app::{App, Item, RowState};
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = start_in(&sim, dir.path(), Mode::Console);
    let alerts = common::shipped_alerts();
    let mut queued = Vec::new();
    let mut live = App::new("playbook", false);
    until(&mut handle, |e| {
        live.apply(e.clone());
        if let Event::PostQueued { alert_ts, .. } = e {
            queued.push(*alert_ts);
        }
        queued.len() == alerts
    })
    .await;
    let (posted, rejected) = (queued[0], queued[1]);
    let edit = format!("{}\n• Checked by on-call: the node was drained.", live.alerts[&posted].draft.clone().unwrap());
    handle.submit(Op::Approve { alert_ts: posted, text: edit.clone() }).unwrap();
    until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if *alert_ts == posted)).await;
    handle.submit(Op::Reject { alert_ts: rejected, reason: Some("known maintenance".into()) }).unwrap();
    until(&mut handle, |e| matches!(e, Event::PostSkipped { alert_ts, .. } if *alert_ts == rejected)).await;
    handle.submit(Op::Quit).unwrap();
    handle.finish().await.unwrap();

    // The next start: every alert comes back with its investigation, none is triaged again.
    let mut handle = start_in(&sim, dir.path(), Mode::Console);
    let events = until(&mut handle, |e| matches!(e, Event::PollFinished { .. })).await;
    let restored: Vec<Ts> = events
        .iter()
        .filter_map(|e| match e {
            Event::AlertRestored { alert_ts, .. } => Some(*alert_ts),
            _ => None,
        })
        .collect();
    assert_eq!(restored.len(), alerts, "the queued drafts and the posted and rejected alerts: {restored:?}");
    assert!(!events.iter().any(|e| matches!(e, Event::TriageStarted { .. })), "nothing is triaged again");
    let mut app = App::new("playbook", false);
    for e in events {
        app.apply(e);
    }
    for ts in &queued {
        let (before, after) = (&live.alerts[ts], &app.alerts[ts]);
        let calls = |a: &oncall_triage::console::app::AlertView| {
            a.stream
                .iter()
                .filter_map(|i| match i {
                    // A dispatched call's time is Conductor's; another's is measured by the
                    // console (this test's clock stands still), so only the first compares.
                    Item::Call(c) => {
                        Some((c.tool.clone(), c.ok, c.output.clone(), c.workflow_id.as_ref().and(c.elapsed_ms)))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert!(!calls(before).is_empty());
        assert_eq!(calls(after), calls(before), "{ts}: every call, its output and its time, as it was");
    }
    assert_eq!(app.alerts[&posted].state, RowState::Posted);
    assert_eq!(app.alerts[&posted].draft.as_deref(), Some(edit.as_str()), "the posted text is the edit");
    assert_eq!(app.alerts[&rejected].state, RowState::Rejected);
    assert_eq!(app.alerts[&rejected].reject_reason.as_deref(), Some("known maintenance"));
    assert_eq!(app.count(RowState::AwaitingApproval), alerts - 2);
    // Whichever alert came third (triages run at once): its transcript shows each call and the reply.
    let third = &app.alerts[&queued[2]];
    let transcript = oncall_triage::console::view::transcript_lines(third).join("\n");
    let tools: Vec<&str> =
        third.stream.iter().filter_map(|i| if let Item::Call(c) = i { Some(c.tool.as_str()) } else { None }).collect();
    assert!(!tools.is_empty() && tools.iter().all(|t| transcript.contains(t)), "{tools:?}:\n{transcript}");
    assert!(transcript.contains("── reply ──"), "{transcript}");
    handle.submit(Op::Quit).unwrap();
    handle.finish().await.unwrap();
    // The restore is never written back into the transcripts.
    for entry in std::fs::read_dir(dir.path().join("transcripts")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains("alert.restored"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_fire_repeats_the_reply_as_the_thread_holds_it_with_the_operator_s_edit() {
    let sim = common::simulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut handle = start(&sim, dir.path());
    let alerts = common::shipped_alerts();
    let mut drafts = std::collections::BTreeMap::new();
    let mut queued = Vec::new();
    until(&mut handle, |e| {
        match e {
            Event::HypothesisReady { alert_ts, text, .. } => {
                drafts.insert(*alert_ts, text.clone());
            }
            Event::PostQueued { alert_ts, .. } => queued.push(*alert_ts),
            _ => {}
        }
        queued.len() == alerts
    })
    .await;
    // Every draft approved with an edit: what the threads hold is the operator's word.
    for ts in &queued {
        let edit = format!("{}\n• Checked by on-call ({ts}): the node was drained.", drafts[ts]);
        handle.submit(Op::Approve { alert_ts: *ts, text: edit }).unwrap();
        until(&mut handle, |e| matches!(e, Event::PostSent { alert_ts, .. } if alert_ts == ts)).await;
    }
    handle.submit(Op::Quit).unwrap();
    handle.finish().await.unwrap();

    // The same incident five minutes later: answered from the first triage, as it was posted.
    let refire = acme_redis_refire(&sim);
    let mut handle = start(&sim, dir.path());
    let events = until(&mut handle, |e| matches!(e, Event::PostQueued { alert_ts, .. } if *alert_ts == refire)).await;
    let (text, first) = events
        .iter()
        .find_map(|e| match e {
            Event::HypothesisReady { alert_ts, text, refire_of: Some(first), .. } if *alert_ts == refire => {
                Some((text.clone(), *first))
            }
            _ => None,
        })
        .expect("the re-fire is answered from the first triage");
    let posted = replies(&sim, first);
    assert_eq!(posted.len(), 1);
    assert!(text.contains(&posted[0]), "the re-fire repeats the reply as posted, edit included:\n{text}");
    handle.submit(Op::Quit).unwrap();
    handle.finish().await.unwrap();
}
