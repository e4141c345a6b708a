//! One log record read for its cause: the message (timestamp, level, thread and logger left
//! out), the exception chain down to its deepest `Caused by:`, the details a binder or driver
//! prints after it (`Property:`, `Value:`, `Reason:`), and the decisive values inside (host:port,
//! API path, property and value). A citation quotes those exactly; when a line must be shortened
//! it is cut between words, never inside a token, keeping the part that holds the cause.
//! Also the baseline of benign messages, which are never a cause.

use std::sync::LazyLock;

use regex::Regex;

use crate::patterns::regex;

/// Longest quoted line of a citation.
pub const MAX_QUOTE: usize = 240;

static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    // Spring Boot (`… LEVEL pid --- [thread] logger : msg`), logback/log4j (`… LEVEL [thread]
    // logger - msg`), then anything with a timestamp and a level.
    regex(
        r"^\s*(?:ts=)?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\s+(?:(?:ERROR|FATAL|SEVERE|WARN|WARNING|INFO|DEBUG|TRACE)\s+)?(?:\d+\s+---\s+)?(?:\[[^\]]*\]\s+)?(?:[\w.$\[\]/-]+\s+(?::|-)\s)?",
    )
});
static THREAD: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*\S+\s+\w+\s+(?:\d+\s+---\s+)?\[\s*([^\]]+?)\s*\]"));
static CHAIN: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"^\s*(?:Caused by:\s*)?((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable))(?::\s*(.*))?$")
});
static DETAIL: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*(Property|Value|Origin|Reason)\s*:\s*(\S.*)$"));
static HOST_PORT: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b(?:[a-zA-Z][\w-]*\.)*[a-zA-Z][\w-]*:\d{2,5}\b|\b\d{1,3}(?:\.\d{1,3}){3}:\d{2,5}\b"));
static API_PATH: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?:\b(?:GET|POST|PUT|DELETE|PATCH)\s+)?/api/[\w/{}.$-]*[\w}]"));

/// Well-known noisy messages of Spring, Tomcat, Netty, Hikari and the JVM: seen on healthy
/// servers every day, so never the cause of an alert, however often they repeat.
static BENIGN: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"Creation of SecureRandom instance for session ID generation",
        r"Thread starvation or clock leap detected",
        r"spring\.jpa\.open-in-view is enabled by default",
        r"Cannot enhance @Configuration bean definition",
        r"Resolved \[org\.springframework\.(?:web|http)\.[\w.]*(?:HttpRequestMethodNotSupported|MissingServletRequestParameter|HttpMessageNotReadable|HttpMediaTypeNotSupported|MethodArgumentTypeMismatch|NoResourceFound)Exception",
        r"Unable to load io\.netty\.resolver\.dns\.macos",
        r"An illegal reflective access operation",
        r"Using generated security password",
        r"appears to have started a thread named .* but has failed to stop it",
        r"(?i)\bis deprecated\b|has been deprecated",
        r"HHH000\d+: ",
        r"Bean '[\w.$-]+' of type .* is not eligible for getting processed by all BeanPostProcessors",
        r"Failed to validate connection .* \(This connection has been closed\.\)",
        r"Connection reset by peer",
    ]
    .into_iter()
    .map(regex)
    .collect()
});

/// Whether a record is a benign, well-known message (never a cause).
pub fn is_benign(text: &str) -> bool {
    let head = text.lines().next().unwrap_or("");
    BENIGN.iter().any(|re| re.is_match(head))
}

/// A record read for its cause.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cause {
    /// What the record says happened, without the log prefix.
    pub message: String,
    /// The exception chain, outermost first (`class: message`).
    pub chain: Vec<String>,
    /// The binder's or driver's lines after the exception (`Value: "30 seconds"`).
    pub details: Vec<String>,
    /// Decisive values found: host:port, API path.
    pub values: Vec<String>,
    pub thread: Option<String>,
}

impl Cause {
    /// The deepest cause of the chain (its last `Caused by:`), when there is one.
    pub fn deepest(&self) -> Option<&str> {
        self.chain.last().map(String::as_str)
    }

    /// The record's class of failure: the deepest exception class, if any.
    pub fn class(&self) -> Option<&str> {
        self.deepest().and_then(|d| d.split(':').next())
    }

    /// Whether the record names its cause (a chain or a binder's details), not only a symptom.
    pub fn names_a_cause(&self) -> bool {
        !self.chain.is_empty() || !self.details.is_empty() || !self.values.is_empty()
    }

    /// The quoted citation: the message, then the deepest cause, then the details, each exact
    /// (shortened between words at most), joined by " — ".
    pub fn citation(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if !self.message.is_empty() {
            parts.push(self.message.clone());
        }
        if let Some(deepest) = self.deepest()
            && !self.message.contains(deepest)
        {
            parts.push(deepest.to_string());
        }
        parts.extend(self.details.iter().filter(|d| !d.starts_with("Origin")).cloned());
        parts.iter().map(|p| quote(&shorten(p, MAX_QUOTE))).collect::<Vec<_>>().join(" — ")
    }
}

/// Inline code for Slack, a backtick inside made harmless.
pub fn quote(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

/// Reads a record (its first line is the entry's head, the rest its continuation).
pub fn read(record: &str) -> Cause {
    let mut lines = record.lines();
    let head = lines.next().unwrap_or("");
    let rest: Vec<&str> = lines.map(str::trim_end).collect();
    let message = PREFIX.replace(head, "").trim().to_string();
    let thread = THREAD.captures(head).map(|c| c[1].to_string());
    let mut chain: Vec<String> = Vec::new();
    // An exception named inside the head message ("threw exception [… java.lang.OutOfMemoryError:
    // Java heap space]") counts as the outermost of the chain.
    for line in std::iter::once(message.as_str()).chain(rest.iter().copied()) {
        let line = line.trim();
        if line.starts_with("at ") || line.starts_with("...") {
            continue;
        }
        if let Some(c) = CHAIN.captures(line) {
            let class = &c[1];
            let text = match c.get(2).map(|m| m.as_str().trim()) {
                Some(m) if !m.is_empty() => format!("{class}: {m}"),
                _ => class.to_string(),
            };
            if !chain.contains(&text) {
                chain.push(text);
            }
        }
    }
    let details: Vec<String> =
        rest.iter().filter_map(|l| DETAIL.captures(l).map(|c| format!("{}: {}", &c[1], c[2].trim()))).collect();
    let message = if message.is_empty() || message.chars().all(|c| c == '*' || c.is_whitespace()) {
        described(&rest)
    } else {
        message
    };
    let mut values: Vec<String> = Vec::new();
    let searched: Vec<&str> = std::iter::once(message.as_str()).chain(chain.iter().map(String::as_str)).collect();
    for text in searched {
        for m in HOST_PORT.find_iter(text).chain(API_PATH.find_iter(text)) {
            let v = m.as_str().to_string();
            // A class name's `Foo.java:123` is a frame, not a host.
            if !v.contains(".java:") && !values.contains(&v) {
                values.push(v);
            }
        }
    }
    Cause { message, chain, details, values, thread }
}

/// A record whose head says nothing (Spring's failure analysis): its title and description.
fn described(rest: &[&str]) -> String {
    let title = rest.iter().map(|l| l.trim()).find(|l| l.len() > 3 && l.chars().all(|c| c.is_uppercase() || c == ' '));
    let description = rest
        .iter()
        .map(|l| l.trim())
        .skip_while(|l| *l != "Description:")
        .skip(1)
        .find(|l| !l.is_empty())
        .or_else(|| rest.iter().map(|l| l.trim()).find(|l| !l.is_empty() && !l.starts_with('*')));
    match (title, description) {
        (Some(t), Some(d)) if t != d => format!("{t}: {d}"),
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.to_string(),
        (None, None) => String::new(),
    }
}

/// `text` cut to at most `max` characters between words, never inside a token. When the
/// cause (an exception class, "caused by", "refused", …) lies past the cut, the middle goes
/// instead, so that the cause stays.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"(?i)caused by|(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)|refused|timed? ?out|not found|unknown host|denied|no such",
        )
    });
    let anchor = ANCHOR.find_iter(text).last().map(|m| m.start()).filter(|at| text[..*at].chars().count() > max / 2);
    match anchor {
        Some(at) => {
            let tail = word_head(&text[at..], max * 2 / 3);
            let head_room = max.saturating_sub(tail.chars().count() + 3);
            format!("{} … {tail}", word_head(text, head_room))
        }
        None => format!("{} …", word_head(text, max.saturating_sub(2))),
    }
}

/// The longest prefix of `text` of at most `max` characters that ends between words.
fn word_head(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max + 1).collect();
    match cut.rfind(char::is_whitespace) {
        Some(at) if at > 0 => cut[..at].trim_end().to_string(),
        // One token longer than the room: kept whole rather than cut in half.
        _ => text.split_whitespace().next().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deepest_cause_and_its_host_are_read_from_a_chain() {
        let record = "2025-11-29T17:53:23.025Z ERROR 1 --- [io-8080-exec-0] c.n.c.r.c.ApplicationExceptionMapper   : Error handling request /api/workflow\norg.springframework.jdbc.CannotGetJdbcConnectionException: Failed to obtain JDBC Connection\n\tat org.springframework.jdbc.datasource.DataSourceUtils.getConnection(DataSourceUtils.java:84)\nCaused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.\nCaused by: org.postgresql.util.PSQLException: Connection to orkes-db.internal:5432 refused. Check that the hostname and port are correct\n\t... 12 more";
        let c = read(record);
        assert_eq!(c.message, "Error handling request /api/workflow");
        assert_eq!(c.thread.as_deref(), Some("io-8080-exec-0"));
        assert_eq!(c.chain.len(), 3);
        assert_eq!(
            c.deepest(),
            Some(
                "org.postgresql.util.PSQLException: Connection to orkes-db.internal:5432 refused. Check that the hostname and port are correct"
            )
        );
        assert_eq!(c.class(), Some("org.postgresql.util.PSQLException"));
        assert!(c.values.contains(&"orkes-db.internal:5432".to_string()), "{:?}", c.values);
        assert!(c.values.contains(&"/api/workflow".to_string()), "{:?}", c.values);
        assert!(c.citation().contains("orkes-db.internal:5432 refused"), "{}", c.citation());
    }

    #[test]
    fn a_binder_failure_is_cited_with_its_property_and_value() {
        let record = "2025-11-25T09:58:15.000Z ERROR 1 --- [           main] o.s.b.d.LoggingFailureAnalysisReporter   : \n\n***************************\nAPPLICATION FAILED TO START\n***************************\n\nDescription:\n\nFailed to bind properties under 'conductor.app.workflow-offset-timeout' to java.time.Duration:\n\n    Property: conductor.app.workflow-offset-timeout\n    Value: \"30 seconds\"\n    Origin: System Environment Property \"X\"\n    Reason: failed to convert java.lang.String to java.time.Duration\n\nAction:\n\nUpdate your application's configuration";
        let c = read(record);
        assert_eq!(
            c.message,
            "APPLICATION FAILED TO START: Failed to bind properties under 'conductor.app.workflow-offset-timeout' to java.time.Duration:"
        );
        assert!(c.details.contains(&"Value: \"30 seconds\"".to_string()), "{:?}", c.details);
        let cited = c.citation();
        assert!(cited.contains("`Value: \"30 seconds\"`") && !cited.contains("Origin"), "{cited}");
    }

    #[test]
    fn an_exception_inside_the_message_and_logback_lines_are_read() {
        let c = read(
            "2025-11-27T07:54:57.643Z ERROR 1 --- [io-8080-exec-75] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : Servlet.service() threw exception [Handler dispatch failed: java.lang.OutOfMemoryError: Java heap space] with root cause\njava.lang.OutOfMemoryError: Java heap space",
        );
        assert_eq!(c.deepest(), Some("java.lang.OutOfMemoryError: Java heap space"));
        let c = read(
            "2025-11-25 09:59:20,515 WARN  [pool-2-thread-1] c.n.c.c.automator.TaskPollExecutor - Task poll for llm_index_text took 1729 ms",
        );
        assert_eq!(c.message, "Task poll for llm_index_text took 1729 ms");
    }

    #[test]
    fn shortening_never_cuts_a_token_and_keeps_the_cause() {
        let long = format!(
            "{} failed to pull and unpack image \"docker.io/orkesio/orkes-workers:5.3.2-hotfx\": not found",
            "word ".repeat(60)
        );
        let short = shorten(&long, 120);
        assert!(short.chars().count() <= 120, "{short}");
        assert!(short.ends_with("not found"), "{short}");
        for token in short.split_whitespace().filter(|t| *t != "…") {
            assert!(long.split_whitespace().any(|t| t == token), "{token:?} was cut");
        }
        let plain = "alpha beta gamma delta epsilon";
        assert_eq!(shorten(plain, 14), "alpha beta …");
        assert_eq!(shorten(plain, 100), plain);
    }

    #[test]
    fn well_known_noise_is_benign_and_real_failures_are_not() {
        assert!(is_benign(
            "2025-11-25T10:00:04.529Z  WARN 1 --- [io-8080-exec-53] o.a.c.util.SessionIdGeneratorBase        : Creation of SecureRandom instance for session ID generation using [SHA1PRNG] took [221] milliseconds."
        ));
        assert!(is_benign("WARN HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=1m22s)."));
        assert!(!is_benign("ERROR HikariPool-1 - Connection is not available, request timed out after 30000ms."));
        assert!(!is_benign("ERROR OutOfMemoryError: Java heap space"));
    }
}
