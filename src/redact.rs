//! The one redactor: removes secrets from everything that leaves the process or reaches the
//! screen. Evidence is redacted where it enters, at the Conductor boundary (`redact_value` on
//! every execution and command output the toolbox reads), so every sink downstream (posts, the
//! console, events, transcripts, export, replay, logs, model requests) sees clean text; the
//! sinks redact again as a second line.
//!
//! What is removed (the key or scheme is kept, so the evidence stays readable):
//! - the exact values of the secrets this process was configured with;
//! - private keys (PEM, OpenSSH), terminated or not;
//! - token shapes: Slack (`xox?-`, `xapp-`, webhooks), JWTs, AWS key ids (AKIA, ASIA, …),
//!   GitHub (`ghp_`, `gho_`, `github_pat_`…), GitLab (`glpat-`), OpenAI (`sk-`, `sk-proj-`),
//!   Anthropic (`sk-ant-`), Stripe (`sk_live_`…), Google (`AIza`), Azure SAS signatures;
//! - `Authorization` / `Proxy-Authorization` headers of any scheme, and bearer/basic tokens;
//! - credentials in URLs (`scheme://user:pass@`, `scheme://:pass@`);
//! - the value of any assignment whose key names a secret (`*password*`, `*passwd*`, `*pwd*`,
//!   `*secret*`, `*token*`, `*api_key*`, `*credential*`, `*private_key*`, `*accountkey*`…,
//!   with any prefix or suffix) in `KEY=v`, `key: v`, `"key": "v"` and `-Dkey=v` forms. Keys
//!   that name a secret's name, reference or size (`secretName`, `tokenCount`…) and numeric
//!   token counts are left alone.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock, RwLock};

use regex::{Captures, Regex};
use serde_json::Value;

const MASK: &str = "[REDACTED]";

/// Words that make a key name a secret.
const SECRET_WORDS: &str = r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|credential|private[_-]?key|access[_-]?key|auth[_-]?key|accountkey|sharedaccesskey|signing[_-]?key|encryption[_-]?key|session[_-]?key|connection[_-]?string";

/// Token shapes, masked wherever they appear.
static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|(?:[\sA-Za-z0-9+/=]|\\n|\\r)*)",
            "[REDACTED PRIVATE KEY]",
        ),
        (r"(?i)\b((?:proxy-)?authorization)(\s*[:=]\s*)[^\r\n]+", "$1$2[REDACTED]"),
        (r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+", MASK),
        (r"\bxox[abposrec]-[A-Za-z0-9-]{8,}", MASK),
        (r"\bxapp-[A-Za-z0-9-]{8,}", MASK),
        (r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", MASK),
        (r"\bsk-ant-[A-Za-z0-9_-]{8,}", MASK),
        (r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", MASK),
        (r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{10,}", MASK),
        (r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[0-9A-Z]{16}\b", MASK),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", MASK),
        (r"\bgithub_pat_[A-Za-z0-9_]{20,}", MASK),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", MASK),
        (r"\bAIza[0-9A-Za-z_-]{35}", MASK),
        (r"([?&]sig=)[A-Za-z0-9%+/=]{16,}", "${1}[REDACTED]"),
        (r"(?i)\b(bearer|basic|digest|negotiate)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
        (r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@", "${1}[REDACTED]@"),
    ]
    .into_iter()
    .map(|(re, to)| (crate::patterns::regex(re), to))
    .collect()
});

/// `key = value`, `key: value`, `"key": "value"`, `-Dkey=value`, for a key naming a secret.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(&format!(
        r#"(?i)(?P<key>[A-Za-z0-9_.-]*(?:{SECRET_WORDS})[A-Za-z0-9_.-]*)(?P<sep>["']?\s*[:=]\s*)(?P<value>"[^"\r\n]*"|'[^'\r\n]*'|[^\s"',;&}}\])]+)"#
    ))
});

/// A key naming something about a secret, not the secret: its name, reference, size, time.
static NOT_A_SECRET_KEY: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(
        r"(?i)(?:name|names|ref|id|ids|path|file|type|kind|count|length|size|ttl|expiry|expires|expiration|timeout|limit|url|uri|endpoint|header|field|rotation|policy|store|version|enabled|required|mode|hint|days|hours|minutes|seconds|ms|age)$|_?tokens$|^max_?tokens|tokenizer",
    )
});

fn masked_assignment(c: &Captures) -> String {
    let (key, sep, value) = (&c["key"], &c["sep"], &c["value"]);
    let inner = value.trim_matches(|q| q == '"' || q == '\'');
    let quote = if value.len() > inner.len() { &value[..1] } else { "" };
    let keep = NOT_A_SECRET_KEY.is_match(key)
        || inner.is_empty()
        || inner == MASK
        || inner.starts_with("[REDACTED")
        || matches!(inner.to_ascii_lowercase().as_str(), "true" | "false" | "null" | "none" | "***" | "****")
        || (inner.starts_with("${") && inner.ends_with('}'))
        || (inner.starts_with('<') && inner.ends_with('>'))
        // A count of tokens, not a token.
        || (key.to_ascii_lowercase().contains("token") && inner.chars().all(|c| c.is_ascii_digit()));
    if keep { c[0].to_string() } else { format!("{key}{sep}{quote}{MASK}{quote}") }
}

/// The configured secrets' values (set once at start-up; short values are not matched).
static KNOWN: OnceLock<RwLock<Vec<String>>> = OnceLock::new();

fn known() -> &'static RwLock<Vec<String>> {
    KNOWN.get_or_init(|| RwLock::new(Vec::new()))
}

/// Adds the exact values of this process's secrets to what is always removed.
pub fn register_secrets<'a>(values: impl IntoIterator<Item = &'a str>) {
    if let Ok(mut list) = known().write() {
        for v in values {
            if v.len() >= 8 && !list.iter().any(|k| k == v) {
                list.push(v.to_string());
            }
        }
    }
}

/// `text` with every secret removed.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Cow<str> = Cow::Borrowed(text);
    if let Ok(list) = known().read() {
        for secret in list.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    for (re, to) in SHAPES.iter() {
        if re.is_match(&out) {
            out = Cow::Owned(re.replace_all(&out, *to).into_owned());
        }
    }
    if ASSIGNMENT.is_match(&out) {
        let replaced = ASSIGNMENT.replace_all(&out, masked_assignment);
        if replaced != out {
            out = Cow::Owned(replaced.into_owned());
        }
    }
    out
}

/// Redacts a JSON value in place: every string, and the whole value of a field whose name
/// names a secret (`{"password": "hunter2"}`).
pub fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Cow::Owned(clean) = redact(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let names_a_secret = ASSIGNMENT.is_match(&format!("{key}=x")) && !NOT_A_SECRET_KEY.is_match(key);
                match v {
                    Value::String(s) if names_a_secret && !s.is_empty() => *s = MASK.to_string(),
                    Value::Number(_) if names_a_secret && !key.to_ascii_lowercase().contains("token") => {
                        *v = Value::String(MASK.to_string());
                    }
                    _ => redact_value(v),
                }
            }
        }
        _ => {}
    }
}

/// A log writer that redacts every line before it reaches its destination.
pub struct Redacting<W>(pub W);

impl<W: std::io::Write> std::io::Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_credential_shapes_and_keeps_the_key() {
        for (secret, shown) in [
            ("token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx here", "token [REDACTED] here"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrZXkifQ.c2lnbmF0dXJlMTIz end", "jwt [REDACTED] end"),
            ("key sk-ant-api03-abcdefghijklmnop", "key [REDACTED]"),
            ("Authorization: Bearer abc.def-ghi_12345", "Authorization: [REDACTED]"),
            ("Authorization: Token abc def ghi", "Authorization: [REDACTED]"),
            (
                "jdbc postgres://conductor:hunter2pass@db:5432/conductor",
                "jdbc postgres://conductor:[REDACTED]@db:5432/conductor",
            ),
            ("redis://:s3cretpass@redis:6379", "redis://:[REDACTED]@redis:6379"),
            ("spring.datasource.password=hunter2 next", "spring.datasource.password=[REDACTED] next"),
            ("DB_PASSWORD=hunter2", "DB_PASSWORD=[REDACTED]"),
            ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY=[REDACTED]"),
            ("-Djavax.net.ssl.keyStorePassword=changeit", "-Djavax.net.ssl.keyStorePassword=[REDACTED]"),
            ("{\"keySecret\": \"s3cr3t-value\"}", "{\"keySecret\": \"[REDACTED]\"}"),
            ("password: \"correct horse battery\"", "password: \"[REDACTED]\""),
            ("aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED]"),
            ("sts ASIAABCDEFGHIJKLMNOP", "sts [REDACTED]"),
        ] {
            assert_eq!(redact(secret), shown, "{secret}");
        }
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
        assert_eq!(redact(key), "[REDACTED PRIVATE KEY]");
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nAAAABG5vbmU=";
        assert_eq!(redact(cut), "[REDACTED PRIVATE KEY]");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "The Redis instance is at 57%",
            "pod orkes-conductor-deployment-f749b67d5-pvxjg",
            "token refreshed for application billing-svc",
            "max_tokens: 2048",
            "secretName: orkes-tls",
            "output_tokens=512",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn redacts_json_fields_that_name_a_secret() {
        let mut v = serde_json::json!({"password": "hunter2", "pod": "orkes-1", "nested": [{"apiKey": "abc123xyz"}],
            "log": "DB_PASSWORD=x1y2z3", "max_tokens": 100, "secretName": "orkes-tls"});
        redact_value(&mut v);
        assert_eq!(v["password"], MASK);
        assert_eq!(v["nested"][0]["apiKey"], MASK);
        assert_eq!(v["log"], "DB_PASSWORD=[REDACTED]");
        assert_eq!(
            (v["pod"].as_str(), v["max_tokens"].as_u64(), v["secretName"].as_str()),
            (Some("orkes-1"), Some(100), Some("orkes-tls"))
        );
    }

    #[test]
    fn removes_the_configured_values_whatever_their_shape() {
        register_secrets(["plain-looking-conductor-secret", "short"]);
        assert_eq!(redact("secret is plain-looking-conductor-secret!"), "secret is [REDACTED]!");
        assert_eq!(redact("short"), "short", "too short to match safely");
    }
}
