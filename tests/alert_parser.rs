//! The alert parser on any input (it never panics) and on generated alerts (they round-trip):
//! every link form, names with apostrophes, `&` and underscores, 1–4 issue lines, both templates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

use oncall_triage::domain::{AlertKind, Severity};
use oncall_triage::slack::alert;
use proptest::prelude::*;
use serde_json::json;

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![Just(Severity::Warning), Just(Severity::Minor), Just(Severity::Major), Just(Severity::Critical)]
}

fn issue() -> impl Strategy<Value = (String, AlertKind)> {
    let pct = (1u32..100, 0u32..10);
    prop_oneof![
        pct.clone().prop_map(|(a, b)| (format!("The Redis instance is at {a}.{b}%, above the MAJOR threshold of 50%"), AlertKind::RedisHighUsage)),
        pct.prop_map(|(a, b)| (format!("The Redis instance is at {a}%, above the CRITICAL threshold of 6{b}%"), AlertKind::RedisCriticalUsage)),
        ("[a-z0-9]{9}", "[a-z0-9]{5}").prop_map(|(h, p)| (format!("Conductor Server Heap usage is at 91.2% and exceeded the threshold of 90.0% - orkes-conductor-deployment-{h}-{p}"), AlertKind::ConductorHighHeapUsage)),
        ("[a-z0-9]{9}", "[a-z0-9]{5}").prop_map(|(h, p)| (format!("Conductor Server CPU usage is at 100.0% and exceeded the threshold of 95.0% - orkes-conductor-deployment-{h}-{p}"), AlertKind::ConductorHighCpuUsage)),
        (1u32..50).prop_map(|n| (format!("Container conductor-server in the Pod orkes-conductor-deployment-g8j5pnnzrb-gbtzf has been restarted ({n}, Error)"), AlertKind::PodRestarted)),
        "[a-z]{3,10}".prop_map(|d| (format!("The certificate expires in less than 14 days for {d}.orkesconductor.io"), AlertKind::DomainCertificateWillExpire)),
        Just(("Prometheus is down".to_string(), AlertKind::PrometheusNotRunning)),
    ]
}

fn org() -> impl Strategy<Value = String> {
    // Letters, spaces, apostrophes, ampersands, dots and digits, as company names have them.
    "[A-Z][a-zA-Z0-9 .&']{0,20}[a-zA-Z0-9.]".prop_filter("no doubled spaces", |s| !s.contains("  "))
}

fn link(id: String) -> impl Strategy<Value = String> {
    let base = format!("https://ah5r-prod.orkesconductor.com/execution/{id}");
    prop_oneof![
        Just(base.clone()),
        Just(format!("<{base}>")),
        Just(format!("<{base}|View execution>")),
        Just(format!("<{base}?tab=tasks&amp;x=1|open>")),
    ]
}

fn uuid_text() -> impl Strategy<Value = String> {
    ("[0-9a-fA-F]{8}", "[0-9a-fA-F]{4}", "[0-9a-fA-F]{4}", "[0-9a-fA-F]{4}", "[0-9a-fA-F]{12}")
        .prop_map(|(a, b, c, d, e)| format!("{a}-{b}-{c}-{d}-{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_any_text(s in "\\PC{0,400}") {
        let _ = alert::parse_text(&s);
        let _ = alert::from_message(&json!({"ts": "1.0", "text": s}));
    }

    #[test]
    fn never_panics_on_alert_shaped_noise(s in "[\\*`_\\[\\]:<>|/a-zA-Z0-9 '&;\\n-]{0,300}") {
        let with_link = format!("{s} /execution/364b459a-689f-11f1-94b6-de01f12a4ed9 {s}");
        prop_assert!(alert::parse_text(&with_link).is_ok());
    }

    #[test]
    fn generated_alerts_round_trip(
        sev in severity(),
        org in org(),
        env in "(prod|staging|dev)",
        cluster in "[a-z][a-z0-9_-]{1,20}[a-z0-9]",
        issues in prop::collection::vec((severity(), issue()), 1..5),
        (id, url) in uuid_text().prop_flat_map(|id| (Just(id.clone()), link(id))),
    ) {
        let escaped_org = org.replace('&', "&amp;");
        let n = issues.len();
        let header = if n == 1 { "issue:".to_string() } else { format!("{n} issues:") };
        let mut text = format!(":warning: *`[{}]`* The health-checking has FAILED for the _{escaped_org}'s_ {env} *`{cluster}`* cluster with the following {header}\n", sev.as_str());
        for (s, (d, _)) in &issues {
            text.push_str(&format!("*{}:* {d}\n", s.as_str()));
        }
        text.push_str(&url);
        let a = alert::from_message(&json!({"ts": "1.000001", "subtype": "bot_message", "text": text})).unwrap();
        prop_assert_eq!(a.execution_id, id.to_ascii_lowercase());
        prop_assert_eq!(a.severity, Some(sev));
        prop_assert_eq!(a.organization.as_deref(), Some(org.as_str()));
        prop_assert_eq!(a.environment.as_deref(), Some(env.as_str()));
        prop_assert_eq!(a.cluster.as_deref(), Some(cluster.as_str()));
        let mut expected: Vec<(Severity, String, AlertKind)> = Vec::new();
        for (s, (d, k)) in issues {
            if !expected.iter().any(|(es, ed, _)| *es == s && *ed == d) {
                expected.push((s, d, k));
            }
        }
        let got: Vec<(Severity, String, AlertKind)> = a.issues.iter().map(|i| (i.severity.unwrap(), i.description.clone(), i.kind)).collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn telemetry_loss_alerts_round_trip(org in org(), cluster in "[a-z][a-z0-9-]{1,20}[a-z0-9]", secs in 1u32..120) {
        let text = format!(":x: The health-checking for the cluster *{} - {cluster}* has failed\nFailure Status: `TIMED_OUT`\nReason: `Task poll timed out after {secs} seconds`\n:warning: It doesn't mean the cluster is not healthy, but *we've lost telemetry and that should be addressed urgently*\n<https://ah5r-prod.orkesconductor.com/execution/427e9743-85e2-11f1-b58b-5614587b91fd>", org.replace('&', "&amp;"));
        let a = alert::parse_text(&text).unwrap();
        prop_assert_eq!(a.cluster.as_deref(), Some(cluster.as_str()));
        prop_assert_eq!(a.organization.as_deref(), Some(org.as_str()));
        prop_assert_eq!(a.kinds(), vec![AlertKind::TelemetryLoss]);
        let expected = format!("health check TIMED_OUT: Task poll timed out after {secs} seconds");
        prop_assert_eq!(a.issues[0].description.as_str(), expected.as_str());
    }
}
