//! The one redactor: removes secrets from everything that leaves the process or reaches the
//! screen — posts, events, logs, and (with the model agents) model requests. It knows credential
//! shapes (Slack tokens, JWTs, API keys, bearer tokens, passwords in URLs and key=value pairs,
//! private keys) and the exact values of the secrets this process was configured with.

use std::borrow::Cow;
use std::sync::{LazyLock, OnceLock, RwLock};

use regex::Regex;

const MASK: &str = "[REDACTED]";

static SHAPES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----", "[REDACTED PRIVATE KEY]"),
        (r"\bxox[abposre]-[A-Za-z0-9-]{8,}", MASK),
        (r"\bxapp-[A-Za-z0-9-]{8,}", MASK),
        (r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}", MASK),
        (r"\bsk-ant-[A-Za-z0-9_-]{8,}", MASK),
        (r"\bsk-[A-Za-z0-9_-]{20,}", MASK),
        (r"\bAKIA[0-9A-Z]{16}\b", MASK),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}", MASK),
        (r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", "$1 [REDACTED]"),
        (r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", "${1}[REDACTED]@"),
        (
            r#"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|client[_-]?secret|keysecret|authorization|x-authorization)["']?\s*[:=]\s*["']?)[^\s"',;&}]+"#,
            "${1}[REDACTED]",
        ),
    ]
    .into_iter()
    .map(|(re, to)| (crate::patterns::regex(re), to))
    .collect()
});

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
    out
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
    fn removes_credential_shapes() {
        for (secret, shown) in [
            ("token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx here", "token [REDACTED] here"),
            ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrZXkifQ.c2lnbmF0dXJlMTIz end", "jwt [REDACTED] end"),
            ("key sk-ant-api03-abcdefghijklmnop", "key [REDACTED]"),
            ("Authorization: Bearer abc.def-ghi_12345", "Authorization: [REDACTED] [REDACTED]"),
            (
                "jdbc postgres://conductor:hunter2pass@db:5432/conductor",
                "jdbc postgres://conductor:[REDACTED]@db:5432/conductor",
            ),
            ("spring.datasource.password=hunter2 next", "spring.datasource.password=[REDACTED] next"),
            ("{\"keySecret\": \"s3cr3t-value\"}", "{\"keySecret\": \"[REDACTED]\"}"),
            ("aws AKIAABCDEFGHIJKLMNOP", "aws [REDACTED]"),
        ] {
            assert_eq!(redact(secret), shown, "{secret}");
        }
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
        assert_eq!(redact(key), "[REDACTED PRIVATE KEY]");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "The Redis instance is at 57%",
            "pod orkes-conductor-deployment-f749b67d5-pvxjg",
            "token refreshed for application billing-svc",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn removes_the_configured_values_whatever_their_shape() {
        register_secrets(["plain-looking-conductor-secret", "short"]);
        assert_eq!(redact("secret is plain-looking-conductor-secret!"), "secret is [REDACTED]!");
        assert_eq!(redact("short"), "short", "too short to match safely");
    }
}
