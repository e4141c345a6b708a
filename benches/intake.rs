//! Intake benchmark: prints figures (no pass/fail; these machines are noisy).
//!  - parser time per message, on a realistic mix (alerts of every template, chatter, digests);
//!  - alerts parsed and deduplicated per second, in memory (classify, signature, dedup by ts);
//!  - end to end over HTTP: one poll of a channel holding 5,000 alerts (paged history + parse
//!    + dedup + one state write), alerts per second.
//!
//! Run: cargo bench --bench intake

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod report;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use oncall_triage::domain::Alert;
use oncall_triage::domain::Ts;
use oncall_triage::secret::Secret;
use oncall_triage::sim::{SimOptions, Simulator, scenario};
use oncall_triage::slack::SlackClient;
use oncall_triage::slack::alert;
use oncall_triage::store::{AlertRecord, AlertStatus, StateStore};
use serde_json::{Value, json};

fn corpus() -> Vec<Value> {
    let mut out = Vec::new();
    for s in scenario::embedded().unwrap() {
        out.extend(s.messages.iter().cloned());
    }
    out.push(json!({"ts": "1.0", "text": ":x: The health-checking for the cluster *Orkes Production (Important) - shailesh-test-gcp* has failed\nFailure Status: `TIMED_OUT`\nReason: `Task poll timed out after 20 seconds.`\n<https://ah5r-prod.orkesconductor.com/execution/427e9743-85e2-11f1-b58b-5614587b91fd>"}));
    out.push(json!({"ts": "1.0", "text": ":warning: *`[MAJOR]`* The health-checking has FAILED for the _Orkes's_ prod *`orkes-prod`* cluster with the following 2 issues:\n*MAJOR:* Conductor Server CPU usage is at 100.0% and exceeded the threshold of 95.0% - orkes-conductor-deployment-f749b67d5-pvxjg\n*MAJOR:* Conductor Server CPU usage is at 97.4% and exceeded the threshold of 95.0% - orkes-conductor-deployment-f749b67d5-q9h9d\n<https://ah5r-prod.orkesconductor.com/execution/933967a4-85d1-11f1-ba93-96986d0e24f0>"}));
    out.push(json!({"ts": "1.0", "text": "1 new alert", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ":warning: *`[MINOR]`* The health-checking has FAILED for the _Contoso's_ prod *`c-1`* cluster with the following issue:\n*MINOR:* Prometheus is down\n<https://x/execution/933967a4-85d1-11f1-ba93-96986d0e24f1>"}}]}));
    out
}

fn main() {
    let corpus = corpus();
    let alerts = corpus.iter().filter(|m| alert::from_message(m).is_ok()).count();

    // Parser time per message.
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        for m in &corpus {
            black_box(alert::from_message(black_box(m)).ok());
        }
    }
    let per = started.elapsed().as_nanos() as f64 / (rounds * corpus.len()) as f64;
    println!(
        "parser: {:.1} µs per message ({} messages, {} of them alerts, {} rounds)",
        per / 1000.0,
        corpus.len(),
        alerts,
        rounds
    );

    // In memory: classify + signature + dedup by ts, with every message seen twice (re-polls).
    let n = 200_000usize;
    let started = Instant::now();
    let mut seen: BTreeMap<Ts, (Alert, String)> = BTreeMap::new();
    for i in 0..n {
        let m = &corpus[i % corpus.len()];
        let ts = Ts::from_micros((i / 2) as i64);
        if seen.contains_key(&ts) {
            continue;
        }
        if let Ok(a) = alert::from_message(m) {
            let sig = a.signature();
            seen.insert(ts, (a, sig));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "intake (in memory): {:.0} messages/s parsed and deduplicated ({} kept of {n})",
        n as f64 / secs,
        seen.len()
    );
    report::row("intake: alerts parsed and deduplicated", format!("{:.0}", n as f64 / secs), "/s", "≥ 10,000/s");

    // End to end over HTTP: one poll of 5,000 alerts.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let sim = Simulator::start(Vec::new(), SimOptions::default()).await.unwrap();
        for i in 0..5_000 {
            sim.slack().add_message(json!({"text": format!(":warning: *`[MAJOR]`* The health-checking has FAILED for the _Bench's_ prod *`bench-{i}`* cluster with the following issue:\n*MAJOR:* The Redis instance is at 57%, above the MAJOR threshold of 50%\n<https://ah5r-prod.orkesconductor.com/execution/3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7|View execution>"), "bot_id": "B1", "subtype": "bot_message"}));
        }
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(&dir.path().join("state.json")).unwrap();
        let client = SlackClient::new(&sim.slack_url, Secret::new(sim.options.slack_token.clone()));
        for page_size in [200u32, 999] {
            let started = Instant::now();
            let messages = client.history_since(sim.channel(), Ts::from_micros(0), page_size).await.unwrap();
            let fetched = started.elapsed();
            let parsed: Vec<(Ts, Alert)> = messages
                .iter()
                .filter_map(|m| Some((Ts::parse(m["ts"].as_str()?)?, alert::from_message(m).ok()?)))
                .collect();
            let count = parsed.len();
            store
                .update(|s| {
                    let c = s.channel("C");
                    c.alerts.clear();
                    for (ts, a) in parsed {
                        let signature = a.signature();
                        c.alerts.entry(ts).or_insert(AlertRecord {
                            status: AlertStatus::Pending, alert: a, signature, claimed_at: None, reply_ts: None, text: None, updated_at: 0, owner: None, attempt: 0, resolved_at: None,
                        });
                    }
                })
                .unwrap();
            let total = started.elapsed();
            println!(
                "intake (HTTP, page size {page_size}): {count} alerts in {:.0} ms ({:.0} ms paging) = {:.0} alerts/s",
                total.as_secs_f64() * 1000.0,
                fetched.as_secs_f64() * 1000.0,
                count as f64 / total.as_secs_f64()
            );
            let figure = format!("intake: one poll of {count} messages (pages of {page_size}), recorded");
            report::row(&figure, format!("{:.0}", total.as_secs_f64() * 1000.0), "ms", "< 2,000 ms");
        }
    });
}
