//! The simulated Slack Web API over real HTTP: auth, paging, threads, reactions, rate limits,
//! each as Slack documents it — and the product's Slack client against it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use std::time::{Duration, Instant};

use oncall_triage::domain::Ts;
use oncall_triage::secret::Secret;
use oncall_triage::slack::{Reaction, SlackClient, SlackError};
use serde_json::{Value, json};

async fn call(
    sim: &oncall_triage::sim::Simulator,
    method: &str,
    token: Option<&str>,
    params: Value,
) -> (u16, Option<String>, Value) {
    let mut req = common::http().post(format!("{}{method}", sim.slack_url)).json(&params);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test]
async fn auth_errors_are_ok_false_with_slack_names() {
    let sim = common::simulator().await;
    let (status, _, body) = call(&sim, "auth.test", None, json!({})).await;
    assert_eq!((status, body["ok"].clone(), body["error"].clone()), (200, json!(false), json!("not_authed")));
    let (_, _, body) = call(&sim, "auth.test", Some("xoxb-wrong"), json!({})).await;
    assert_eq!(body["error"], "invalid_auth");
    let (_, _, body) = call(&sim, "auth.test", Some(&sim.options.slack_token), json!({})).await;
    assert_eq!(body["ok"], true);
    assert_eq!(body["user_id"], "U0TRIAGEBOT");

    let client = SlackClient::new(&sim.slack_url, Secret::new("xoxb-wrong"));
    let err = client.auth_test().await.unwrap_err();
    assert_eq!(err.api_error(), Some("invalid_auth"));
    assert!(err.to_string().contains("check SLACK_BOT_TOKEN"), "{err}");
    let unknown = client_for(&sim).history_page("C0NOPE", Ts::from_micros(0), 10, None).await.unwrap_err();
    assert_eq!(unknown.api_error(), Some("channel_not_found"));
}

fn client_for(sim: &oncall_triage::sim::Simulator) -> SlackClient {
    SlackClient::new(&sim.slack_url, Secret::new(sim.options.slack_token.clone()))
}

#[tokio::test]
async fn history_pages_newest_first_with_cursor_and_loses_nothing() {
    let sim = common::simulator().await;
    let before = sim.slack().messages().len();
    for i in 0..250 {
        sim.slack().add_message(json!({"text": format!("burst {i}"), "user": "U0X"}));
    }
    let total = before + 250;
    let token = sim.options.slack_token.clone();
    let (mut seen, mut cursor, mut pages) = (Vec::<Ts>::new(), None::<String>, 0);
    loop {
        let mut params = json!({"channel": sim.channel(), "limit": 100});
        if let Some(c) = &cursor {
            params["cursor"] = json!(c);
        }
        let (_, _, body) = call(&sim, "conversations.history", Some(&token), params).await;
        pages += 1;
        let batch: Vec<Ts> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Ts::parse(m["ts"].as_str().unwrap()).unwrap())
            .collect();
        assert!(batch.windows(2).all(|w| w[0] > w[1]), "newest first within a page");
        if let Some(last) = seen.last() {
            assert!(batch[0] < *last, "pages continue older");
        }
        seen.extend(batch);
        let next = body.pointer("/response_metadata/next_cursor").and_then(Value::as_str).map(str::to_string);
        assert_eq!(body["has_more"].as_bool().unwrap(), next.is_some());
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(pages, total.div_ceil(100));

    // oldest is exclusive unless inclusive=true; latest bounds the other end.
    let all = sim.slack().messages();
    let pivot = all[10]["ts"].as_str().unwrap().to_string();
    let (_, _, body) = call(
        &sim,
        "conversations.history",
        Some(&token),
        json!({"channel": sim.channel(), "oldest": pivot, "limit": 999}),
    )
    .await;
    assert_eq!(body["messages"].as_array().unwrap().len(), total - 11);
    let (_, _, body) = call(
        &sim,
        "conversations.history",
        Some(&token),
        json!({"channel": sim.channel(), "oldest": pivot, "inclusive": true, "limit": 999}),
    )
    .await;
    assert_eq!(body["messages"].as_array().unwrap().len(), total - 10);
    let (_, _, body) =
        call(&sim, "conversations.history", Some(&token), json!({"channel": sim.channel(), "latest": pivot})).await;
    assert_eq!(body["messages"].as_array().unwrap().len(), 10);
    let (_, _, body) =
        call(&sim, "conversations.history", Some(&token), json!({"channel": sim.channel(), "cursor": "bogus"})).await;
    assert_eq!(body["error"], "invalid_cursor");

    // The product's client pages the same way and returns oldest first.
    let got = client_for(&sim).history_since(sim.channel(), Ts::from_micros(0), 37).await.unwrap();
    assert_eq!(got.len(), total);
    let ts: Vec<Ts> = got.iter().map(|m| Ts::parse(m["ts"].as_str().unwrap()).unwrap()).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]));
}

#[tokio::test]
async fn replies_land_in_the_thread_not_in_the_channel() {
    let sim = common::simulator().await;
    let token = sim.options.slack_token.clone();
    let client = client_for(&sim);
    let parent = Ts::parse(sim.slack().messages()[0]["ts"].as_str().unwrap()).unwrap();
    let before = sim.slack().messages().len();
    let posted = client.post_reply(sim.channel(), parent, "*Issue*: x", Some(json!([]))).await.unwrap();
    assert_eq!(sim.slack().messages().len(), before, "no new top-level message");
    let thread = client.replies(sim.channel(), parent).await.unwrap();
    assert_eq!(thread.len(), 2, "parent then reply");
    assert_eq!(thread[1]["ts"], posted.to_string());
    assert_eq!(thread[0]["reply_count"], 1);
    assert_eq!(thread[0]["thread_ts"], parent.to_string(), "a parent with replies carries thread_ts = ts");

    let (_, _, body) = call(
        &sim,
        "chat.postMessage",
        Some(&token),
        json!({"channel": sim.channel(), "thread_ts": "1.000001", "text": "x"}),
    )
    .await;
    assert_eq!(body["error"], "thread_not_found");
    let (_, _, body) =
        call(&sim, "chat.postMessage", Some(&token), json!({"channel": sim.channel(), "text": ""})).await;
    assert_eq!(body["error"], "no_text");
    let big = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "x".repeat(3001)}}]);
    let (_, _, body) =
        call(&sim, "chat.postMessage", Some(&token), json!({"channel": sim.channel(), "text": "x", "blocks": big}))
            .await;
    assert_eq!(body["error"], "invalid_blocks");
    let (_, _, body) =
        call(&sim, "conversations.replies", Some(&token), json!({"channel": sim.channel(), "ts": "1.000001"})).await;
    assert_eq!(body["error"], "thread_not_found");
}

#[tokio::test]
async fn reactions_claim_once() {
    let sim = common::simulator().await;
    let client = client_for(&sim);
    let ts = Ts::parse(sim.slack().messages()[1]["ts"].as_str().unwrap()).unwrap();
    assert_eq!(client.react(sim.channel(), ts, "eyes").await.unwrap(), Reaction::Added);
    // Slack's `already_reacted` is no error: the reaction is there.
    assert_eq!(client.react(sim.channel(), ts, "eyes").await.unwrap(), Reaction::AlreadyThere);
    assert_eq!(client.react(sim.channel(), ts, "white_check_mark").await.unwrap(), Reaction::Added);
    let missing = client.react(sim.channel(), Ts::from_micros(5), "eyes").await.unwrap_err();
    assert_eq!(missing.api_error(), Some("message_not_found"));
    let msg = sim.slack().messages().into_iter().find(|m| m["ts"] == ts.to_string()).unwrap();
    assert_eq!(msg["reactions"][0], json!({"name": "eyes", "users": ["U0TRIAGEBOT"], "count": 1}));
}

#[tokio::test]
async fn injected_429s_carry_retry_after_and_the_client_waits_them_out() {
    let sim = common::simulator().await;
    sim.slack().inject_rate_limit("conversations.history", 2, 1);
    let (status, retry, body) =
        call(&sim, "conversations.history", Some(&sim.options.slack_token), json!({"channel": sim.channel()})).await;
    assert_eq!((status, retry.as_deref(), body["error"].as_str()), (429, Some("1"), Some("ratelimited")));

    let started = Instant::now();
    let got = client_for(&sim).history_since(sim.channel(), Ts::from_micros(0), 100).await.unwrap();
    assert!(!got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(950), "waited Retry-After: {:?}", started.elapsed());
    let statuses: Vec<u16> =
        sim.slack().requests().iter().filter(|r| r.api == "conversations.history").map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 429, 200]);
}

#[tokio::test]
async fn a_time_scaled_budget_limits_each_method_separately() {
    let sim = common::simulator().await;
    sim.slack().set_rate_limit("reactions.add", 2, Duration::from_millis(1500));
    let token = sim.options.slack_token.clone();
    let msgs = sim.slack().messages();
    let mut statuses = Vec::new();
    for m in msgs.iter().take(3) {
        let (status, retry, _) = call(
            &sim,
            "reactions.add",
            Some(&token),
            json!({"channel": sim.channel(), "timestamp": m["ts"], "name": "eyes"}),
        )
        .await;
        statuses.push((status, retry));
    }
    assert_eq!(statuses[0].0, 200);
    assert_eq!(statuses[1].0, 200);
    assert_eq!(statuses[2], (429, Some("2".to_string())), "Retry-After rounds the rest of the window up");
    let (status, _, _) = call(&sim, "auth.test", Some(&token), json!({})).await;
    assert_eq!(status, 200, "other methods have their own budget");
}

#[tokio::test]
async fn callers_of_a_limited_method_take_turns_and_none_runs_out_of_retries() {
    let sim = common::simulator().await;
    // One call a "minute" (here 1 s), as conversations.replies allows a non-Marketplace app,
    // and eight thread checks at once (eight replies about to be posted).
    sim.slack().set_rate_limit("conversations.replies", 1, Duration::from_secs(1));
    let client = client_for(&sim);
    let parents: Vec<Ts> =
        sim.slack().messages().iter().take(8).map(|m| Ts::parse(m["ts"].as_str().unwrap()).unwrap()).collect();
    let mut checks = tokio::task::JoinSet::new();
    for ts in parents {
        let (client, channel) = (client.clone(), sim.channel().to_string());
        checks.spawn(async move { client.thread_answered(&channel, ts).await });
    }
    let results = checks.join_all().await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let limited = sim.slack().requests().iter().filter(|r| r.api == "conversations.replies" && r.status == 429).count();
    assert!(limited <= 8 + 8, "each caller waits its turn instead of hammering: {limited} 429s");
}

#[tokio::test]
async fn a_slack_that_cannot_be_reached_is_left_alone_after_three_failures_in_a_row() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = SlackClient::new(&format!("http://127.0.0.1:{closed}/api/"), Secret::new(String::from("xoxb-1")));
    for _ in 0..3 {
        let err = client.auth_test().await.unwrap_err();
        assert!(matches!(err, SlackError::Transport { .. }) && !err.to_string().contains("not asked again"), "{err}");
    }
    let err = client.channel("C1").await.unwrap_err();
    assert!(err.to_string().contains("not asked again for 30 s"), "{err}");
    // A Slack that answers 5xx quickly holds nobody up: each call is tried on its own.
    let sim = common::simulator().await;
    sim.slack().inject_server_error("auth.test", 1000);
    let client = client_for(&sim);
    for _ in 0..4 {
        let err = client.auth_test().await.unwrap_err();
        assert!(!err.to_string().contains("not asked again"), "{err}");
    }
}

#[tokio::test]
async fn a_429_storm_ends_in_a_typed_error_not_a_hang() {
    let sim = common::simulator().await;
    sim.slack().inject_rate_limit("auth.test", 50, 0);
    let err = client_for(&sim).auth_test().await.unwrap_err();
    assert!(matches!(err, SlackError::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn transient_errors_and_5xx_are_retried_other_errors_are_not() {
    let sim = common::simulator().await;
    let client = client_for(&sim);
    sim.slack().inject_error("auth.test", "internal_error", 1);
    sim.slack().inject_error("auth.test", "service_unavailable", 1);
    sim.slack().inject_server_error("auth.test", 1);
    assert_eq!(client.auth_test().await.unwrap(), "U0TRIAGEBOT");
    let statuses: Vec<(u16, Option<String>)> =
        sim.slack().requests().iter().map(|r| (r.status, r.error.clone())).collect();
    assert_eq!(statuses.len(), 4, "{statuses:?}");

    sim.slack().inject_error("conversations.history", "not_in_channel", 1);
    let err = client.history_since(sim.channel(), Ts::from_micros(0), 10).await.unwrap_err();
    assert_eq!(err.api_error(), Some("not_in_channel"));
    assert!(err.to_string().contains("/invite"), "{err}");
    let calls = sim.slack().requests().iter().filter(|r| r.api == "conversations.history").count();
    assert_eq!(calls, 1, "a permanent error is not retried");
}

#[tokio::test]
async fn message_metadata_is_kept_and_returned_only_when_asked_for() {
    let sim = common::simulator().await;
    let token = sim.options.slack_token.clone();
    let parent = sim.slack().messages()[0]["ts"].as_str().unwrap().to_string();
    let metadata = json!({"event_type": "oncall_triage_reply", "event_payload": {"post_id": "p1"}});
    let (_, _, body) = call(
        &sim,
        "chat.postMessage",
        Some(&token),
        json!({"channel": sim.channel(), "thread_ts": parent, "text": "*Issue*: x", "metadata": metadata}),
    )
    .await;
    assert_eq!(body["ok"], true, "{body}");
    let replies = |all: bool| {
        let mut params = json!({"channel": sim.channel(), "ts": parent});
        if all {
            params["include_all_metadata"] = json!("true");
        }
        call(&sim, "conversations.replies", Some(&token), params)
    };
    let (_, _, plain) = replies(false).await;
    assert!(plain["messages"][1].get("metadata").is_none(), "{plain}");
    let (_, _, full) = replies(true).await;
    assert_eq!(full["messages"][1]["metadata"], metadata);
    // Our client reads it, and knows the reply by it.
    let thread = client_for(&sim).replies(sim.channel(), Ts::parse(&parent).unwrap()).await.unwrap();
    assert_eq!(oncall_triage::slack::reply::post_id(&thread[1]), Some("p1"));
    let (_, _, bad) = call(
        &sim,
        "chat.postMessage",
        Some(&token),
        json!({"channel": sim.channel(), "thread_ts": parent, "text": "x", "metadata": {"event_payload": {}}}),
    )
    .await;
    assert_eq!(bad["error"], "invalid_metadata_format");
}
