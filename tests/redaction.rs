//! The redactor on corpora: hundreds of planted secrets in the forms customer logs, events and
//! executions carry (none may survive), and hundreds of secret-looking strings of ordinary
//! evidence (none may be masked); then secrets planted in everything the simulated cluster
//! serves, a triage on each reasoner, and every sink scanned.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops at the first surprise

mod common;

use oncall_triage::redact::redact;

/// A deterministic generator of secret-looking values.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn text(&mut self, alphabet: &str, n: usize) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        (0..n).map(|_| chars[(self.next() % chars.len() as u64) as usize]).collect()
    }

    fn alnum(&mut self, n: usize) -> String {
        self.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n)
    }
}

const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// (text holding a secret, the secret itself): the secret must not survive.
fn planted() -> Vec<(String, String)> {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let keys = [
        "DB_PASSWORD",
        "PGPASSWORD",
        "db.password",
        "spring.datasource.password",
        "REDIS_PASSWD",
        "mysql_pwd",
        "AWS_SECRET_ACCESS_KEY",
        "aws_session_token",
        "api_key",
        "apiKey",
        "X_API_KEY",
        "clientSecret",
        "client_secret",
        "GITHUB_TOKEN",
        "slackToken",
        "private_key",
        "credentials",
        "azure_storage_accountkey",
        "SharedAccessKey",
        "encryption_key",
        "conductor.security.keySecret",
        "OPENAI_API_KEY",
    ];
    let forms: [fn(&str, &str) -> String; 7] = [
        |k, v| format!("{k}={v}"),
        |k, v| format!("2026-11-29 03:00:00 INFO starting with {k}: {v} on port 8080"),
        |k, v| format!("{{\"{k}\": \"{v}\", \"pod\": \"orkes-1\"}}"),
        |k, v| format!("java -D{k}={v} -jar conductor.jar"),
        |k, v| format!("export {k}={v}"),
        |k, v| format!("{k} = \"{v}\""),
        |k, v| format!("config: {{{k}: '{v}'}}"),
    ];
    for key in keys {
        for form in forms {
            let value = format!("{}{}", g.alnum(12), g.text("!#%*+", 1));
            out.push((form(key, &value), value));
        }
    }
    for _ in 0..4 {
        let shapes = [
            format!("xoxb-{}-{}-{}", g.text("0123456789", 12), g.text("0123456789", 13), g.alnum(24)),
            format!("xoxp-{}-{}-{}", g.text("0123456789", 12), g.text("0123456789", 13), g.alnum(32)),
            format!("xoxa-2-{}", g.alnum(30)),
            format!("xoxr-{}", g.alnum(30)),
            format!("xoxs-{}", g.alnum(30)),
            format!("xapp-1-A{}-{}", g.text(UPPER, 10), g.alnum(40)),
            format!("https://hooks.slack.com/services/T{}/B{}/{}", g.text(UPPER, 8), g.text(UPPER, 8), g.alnum(24)),
            format!("eyJ{}.eyJ{}.{}", g.alnum(20), g.alnum(40), g.alnum(43)),
            format!("AKIA{}", g.text(UPPER, 16)),
            format!("ASIA{}", g.text(UPPER, 16)),
            format!("ghp_{}", g.alnum(36)),
            format!("gho_{}", g.alnum(36)),
            format!("ghs_{}", g.alnum(36)),
            format!("github_pat_{}_{}", g.alnum(22), g.alnum(59)),
            format!("glpat-{}", g.alnum(20)),
            format!("sk-{}", g.alnum(48)),
            format!("sk-proj-{}", g.alnum(64)),
            format!("sk-ant-api03-{}", g.alnum(80)),
            format!("sk_live_{}", g.alnum(24)),
            format!("rk_live_{}", g.alnum(24)),
            format!("AIza{}", g.alnum(35)),
        ];
        for s in shapes {
            out.push((format!("2026-11-29 ERROR request failed with credential {s} (retrying)"), s));
        }
        let pass = g.alnum(14);
        for url in [
            format!("postgres://conductor:{pass}@db.internal:5432/conductor"),
            format!("redis://:{pass}@redis-master:6379/0"),
            format!("amqp://orkes:{pass}@rabbit:5672"),
            format!("mongodb+srv://app:{pass}@cluster0.mongodb.net/db"),
            format!("jdbc:postgresql://db:5432/conductor?user=orkes&password={pass}"),
            format!("jdbc:sqlserver://db:1433;databaseName=c;user=sa;password={pass};"),
        ] {
            out.push((format!("connecting to {url} failed"), pass.clone()));
        }
        let token = g.alnum(32);
        for header in [
            format!("Authorization: Bearer {token}"),
            format!("Authorization: Basic {token}"),
            format!("Authorization: Token {token} extra"),
            format!("authorization: Digest username=\"a\", response=\"{token}\""),
            format!("Proxy-Authorization: Basic {token}"),
            format!("curl -H 'Authorization: OrkesKey {token}' https://x"),
        ] {
            out.push((header, token.clone()));
        }
        let sig = g.alnum(43);
        out.push((format!("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2026&sig={sig}%3D"), sig));
        let body = g.alnum(64);
        out.push((
            format!("-----BEGIN RSA PRIVATE KEY-----\nMIIEow{body}\n-----END RSA PRIVATE KEY-----"),
            body.clone(),
        ));
        out.push((format!("key: -----BEGIN PRIVATE KEY-----\\nMIIEv{body}\\n"), body.clone()));
        out.push((format!("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn{body}\nAAAA"), body.clone()));
        out.push((format!("{{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n\"}}"), body));
    }
    out
}

/// Ordinary evidence that looks a little like a secret: it must come back unchanged.
fn benign() -> Vec<String> {
    let mut g = Gen(0x2545_f491_4f6c_dd1d);
    let mut out = Vec::new();
    for _ in 0..20 {
        let hex = g.text("0123456789abcdef", 10);
        let pod = format!(
            "orkes-conductor-deployment-{}-{}",
            g.text("bcdfghjklmnpqrstvwxz2456789", 9),
            g.text("bcdfghjklmnpqrstvwxz2456789", 5)
        );
        let uuid = format!(
            "{}-{}-11f0-{}-{}",
            g.text("0123456789abcdef", 8),
            g.text("0123456789abcdef", 4),
            g.text("0123456789abcdef", 4),
            g.text("0123456789abcdef", 12)
        );
        out.extend([
            format!("pod {pod} Running 1/1 restarts 3"),
            format!("execution {uuid} FAILED"),
            format!("workflowId={uuid} status=COMPLETED"),
            format!("image docker.io/orkesio/orkes-conductor@sha256:{hex}{hex}{hex}"),
            format!("Failed to pull image \"docker.io/orkesio/orkes-workers:5.3.2-hotfx\": not found ({hex})"),
            format!("Caused by: java.net.ConnectException: Connection refused: redis-master-{hex}:6379"),
            format!("node ip-10-0-{}-{}.ec2.internal NotReady", g.next() % 255, g.next() % 255),
            format!("max_tokens: {}", g.next() % 4096),
            format!("output_tokens={} input_tokens={}", g.next() % 999, g.next() % 999),
            format!("secretName: orkes-tls-{hex}"),
            format!("MountVolume.SetUp failed for volume \"certs\": secret \"orkes-{hex}\" not found"),
            format!("token refreshed for application billing-{hex}"),
        ]);
    }
    out.extend(
        [
            "The Redis instance is at 57%, above the MAJOR threshold of 50%",
            "io.lettuce.core.RedisCommandTimeoutException: Command timed out after 1 minute(s)",
            "Back-off restarting failed container conductor in pod orkes-conductor-0",
            "OOMKilled exit code 137",
            "password reset email sent to user 42",
            "token bucket refilled: 100 permits",
            "Failed to bind properties under 'conductor.redis.timeout' to java.time.Duration",
            "Value: \"30 seconds\"",
            "GET /api/workflow/search?size=100000 took 93s",
            "tokenizer warmed up in 12 ms",
            "secretRef: conductor-db",
            "tokenCount: 12",
            "password_policy: strict",
            "passwordExpiryDays = 90",
            "api_key_header: X-Api-Key",
            "Certificate for api.orkes.io expires in 6 days",
            "SELECT count(*) FROM workflow WHERE status = 'RUNNING'",
            "https://acme.orkesconductor.io/execution/3bb065a6-e49f-11f0-a1f2-4e7cd2c93ad7",
            "redis://redis-master:6379/0",
            "postgres://db.internal:5432/conductor",
            "Authorization header missing on 3 requests",
        ]
        .map(str::to_string),
    );
    out
}

#[test]
fn no_planted_secret_survives() {
    let corpus = planted();
    assert!(corpus.len() >= 200, "{} planted", corpus.len());
    let survived: Vec<String> =
        corpus.iter().filter(|(text, secret)| redact(text).contains(secret.as_str())).map(|(t, _)| t.clone()).collect();
    assert!(
        survived.is_empty(),
        "{} of {} survived, e.g. {:#?}",
        survived.len(),
        corpus.len(),
        &survived[..survived.len().min(5)]
    );
    // The key stays, so the evidence still reads.
    assert_eq!(redact("DB_PASSWORD=hunter2!x"), "DB_PASSWORD=[REDACTED]");
}

#[test]
fn ordinary_evidence_is_not_masked() {
    let corpus = benign();
    assert!(corpus.len() >= 200, "{} benign", corpus.len());
    let masked: Vec<(String, String)> = corpus
        .iter()
        .filter_map(|t| {
            let r = redact(t);
            (r != t.as_str()).then(|| (t.clone(), r.into_owned()))
        })
        .collect();
    assert!(
        masked.is_empty(),
        "{} of {} masked, e.g. {:#?}",
        masked.len(),
        corpus.len(),
        &masked[..masked.len().min(5)]
    );
}

/// The Prometheus scenario with secrets planted in its pod log (as ERROR lines, so they are
/// the dominant entries a reply quotes), in every pod event, and in the failing execution's
/// reason; and the planted secrets.
fn planted_scenario(dir: &std::path::Path) -> (Vec<oncall_triage::sim::Scenario>, Vec<String>) {
    use serde_json::{Value, json};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenarios/06-prometheus-oomkilled-wal-replay.json");
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    let corpus: Vec<(String, String)> = planted().into_iter().step_by(5).collect();
    let secrets: Vec<String> = corpus.iter().map(|(_, s)| s.clone()).collect();
    let lines: Vec<String> =
        corpus.iter().map(|(text, _)| format!("2026-11-29T03:00:00Z ERROR {}", text.replace('\n', " "))).collect();
    for c in s["commands"].as_array_mut().unwrap() {
        match c["workflow"].as_str().unwrap() {
            "pull_logs" => {
                let log = c["output"]["result"].as_str().unwrap_or("").to_string();
                c["output"]["result"] = json!(format!("{}\n{log}", lines.join("\n")));
            }
            "get_pod_events" => {
                for (e, (text, _)) in
                    c["output"]["result"].as_array_mut().unwrap().iter_mut().zip(corpus.iter().cycle())
                {
                    e["message"] = json!(format!("{} {text}", e["message"].as_str().unwrap_or("")));
                }
            }
            _ => {}
        }
    }
    for execution in s["executions"].as_object_mut().unwrap().values_mut() {
        let reason = execution["reasonForIncompletion"].as_str().unwrap_or("").to_string();
        execution["reasonForIncompletion"] = json!(format!("{reason}\n{}", corpus[0].0));
        execution["output"]["debug"] = json!(corpus[1].0);
    }
    std::fs::write(dir.join("s.json"), s.to_string()).unwrap();
    (oncall_triage::sim::scenario::load_dir(dir).unwrap(), secrets)
}

/// Every file under `dir`, as text.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path, text));
        }
    }
    out
}

#[tokio::test]
async fn no_sink_receives_a_secret_the_cluster_carried_on_any_reasoner() {
    for reasoner in ["playbook", "anthropic", "openai"] {
        let dir = tempfile::tempdir().unwrap();
        let (scenarios, secrets) = planted_scenario(dir.path());
        let sim = oncall_triage::sim::Simulator::start(scenarios, common::fast_options()).await.unwrap();
        let home = tempfile::tempdir().unwrap();
        let mut args = vec!["--no-tui", "--once", "--json"];
        if reasoner != "playbook" {
            args.extend(["--reasoner", reasoner, "--model", "sim-model"]);
        }
        let out = common::run(common::against_in(&sim, home.path()), &args).await;
        assert!(out.status.success(), "{reasoner}: {}", String::from_utf8_lossy(&out.stderr));
        let mut sinks: Vec<(String, String)> = vec![
            ("stdout".into(), String::from_utf8_lossy(&out.stdout).into_owned()),
            ("stderr".into(), String::from_utf8_lossy(&out.stderr).into_owned()),
        ];
        for p in sim.slack().posts() {
            sinks.push(("slack post".into(), format!("{}\n{}", p.text, p.blocks)));
        }
        for r in sim.model().requests() {
            sinks.push(("model request".into(), r.to_string()));
        }
        for (path, text) in files_under(home.path()) {
            sinks.push((path.display().to_string(), text));
        }
        let transcripts: Vec<std::path::PathBuf> =
            files_under(&home.path().join("transcripts")).into_iter().map(|(p, _)| p).collect();
        assert!(!transcripts.is_empty(), "{reasoner}: a transcript was written");
        for t in transcripts {
            for cmd in ["export", "replay"] {
                let o = common::run(common::binary_in(home.path()), &[cmd, t.to_str().unwrap()]).await;
                sinks.push((
                    format!("{cmd} {}", t.display()),
                    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
                ));
            }
        }
        assert!(
            sim.slack().posts().iter().any(|p| p.text.contains("[REDACTED]")),
            "{reasoner}: the reply quotes the masked evidence"
        );
        for (sink, text) in &sinks {
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{reasoner}: {secret} reached {sink}");
            }
        }
    }
}
