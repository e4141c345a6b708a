//! Turns large tool outputs into evidence a person or a model can read. A log becomes its
//! message signatures (timestamps, numbers, ids, pod suffixes and addresses masked) with counts,
//! first and last time and one full example each — every ERROR and every exception class kept;
//! a pod list becomes its abnormal pods and a count of the healthy. The raw output stays with the
//! caller (the transcript keeps it).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Tool, record};

/// Longest condensed text (the rest is said to be left out).
const MAX_CONDENSED: usize = 12_000;
/// Lines of one example entry (a whole record: a stack trace with its causes) kept.
const RECORD_LINES: usize = 120;
/// Lines of an example shown in the condensed text (then its causes and details only).
const SHOWN_LINES: usize = 12;

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(r"^\s*(?:ts=)?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)")
});
static LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    crate::patterns::regex(r"\b(ERROR|FATAL|SEVERE|WARN|WARNING|INFO|DEBUG|TRACE)\b|level=(error|warn|info|debug)")
});
static EXCEPTION: LazyLock<Regex> =
    LazyLock::new(|| crate::patterns::regex(r"\b((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))\b"));
static MASKS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"^\s*(?:ts=)?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?", "<time>"),
        (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<id>"),
        (r"-[a-z0-9]{8,10}-[a-z0-9]{5}\b", "-<pod>"),
        (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>"),
        (r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{6,}\b", "<hex>"),
        (r"\[[\w-]*-\d+\]|\[\s*[\w ]*thread[\w -]*\]", "[<thread>]"),
        (r"\d+(?:\.\d+)?", "#"),
    ]
    .into_iter()
    .map(|(re, to)| (crate::patterns::regex(re), to))
    .collect()
});

fn signature(line: &str) -> String {
    let mut s = line.to_string();
    for (re, to) in MASKS.iter() {
        s = re.replace_all(&s, *to).into_owned();
    }
    s.chars().take(240).collect()
}

fn is_continuation(line: &str) -> bool {
    line.starts_with(char::is_whitespace) || line.starts_with("Caused by") || line.starts_with("...") || line.is_empty()
}

/// One message signature of a log: its level, how often, when, and its first full entry.
#[derive(Clone, Debug, Default)]
pub struct Group {
    /// The masked message the entries share (the same in every pod's log).
    pub signature: String,
    pub level: String,
    pub count: usize,
    pub first: Option<String>,
    pub last: Option<String>,
    pub example: String,
    order: usize,
}

impl Group {
    pub fn is_error(&self) -> bool {
        level_rank(&self.level) == 0
    }

    pub fn is_warning(&self) -> bool {
        level_rank(&self.level) == 1
    }

    /// The record read for its cause (message, exception chain, details, values).
    pub fn cause(&self) -> record::Cause {
        record::read(&self.example)
    }

    /// Whether the entry is well-known noise (never a cause).
    pub fn is_benign(&self) -> bool {
        record::is_benign(&self.example)
    }

    /// The example as shown: its first lines, then only the lines that carry its causes and
    /// details (`Caused by:`, `Value:`, …), frames left out.
    fn shown(&self) -> String {
        let mut lines: Vec<&str> = self.example.lines().take(SHOWN_LINES).collect();
        let beyond = self.example.lines().skip(SHOWN_LINES).filter(|l| {
            let t = l.trim_start();
            t.starts_with("Caused by") || ["Property:", "Value:", "Reason:"].iter().any(|p| t.starts_with(p))
        });
        let extra: Vec<&str> = beyond.collect();
        if !extra.is_empty() {
            lines.push("\t…");
            lines.extend(extra);
        }
        lines.join("\n")
    }

    /// The first frame of the stack trace outside the JDK and common libraries.
    pub fn app_frame(&self) -> Option<String> {
        self.example.lines().map(str::trim).filter_map(|l| l.strip_prefix("at ")).find_map(|frame| {
            let frame = frame.split('/').next_back().unwrap_or(frame);
            let library = [
                "java.",
                "javax.",
                "jdk.",
                "sun.",
                "com.fasterxml.",
                "org.springframework.",
                "org.apache.",
                "com.zaxxer.",
                "org.postgresql.",
                "io.lettuce.",
                "io.netty.",
                "reactor.",
            ]
            .iter()
            .any(|p| frame.starts_with(p));
            (!library).then(|| frame.split('(').next().unwrap_or(frame).to_string())
        })
    }
}

/// What a log condenses to (also used by analyzers and the benchmark).
pub struct LogDigest {
    /// Signatures, errors first, then by count.
    pub groups: Vec<Group>,
    pub lines: usize,
    pub distinct: usize,
    /// Exception class → occurrences (every `…Exception`/`…Error` class, `Caused by` included).
    pub exceptions: BTreeMap<String, usize>,
    pub text: String,
}

fn level_rank(level: &str) -> u8 {
    match level {
        "ERROR" | "FATAL" | "SEVERE" => 0,
        "WARN" | "WARNING" => 1,
        "INFO" => 2,
        _ => 3,
    }
}

/// Condenses a log: signatures with counts, first/last time and one example each.
pub fn log(text: &str) -> LogDigest {
    let mut groups: HashMap<String, Group> = HashMap::new();
    let mut exceptions: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = 0;
    let mut current: Option<String> = None;
    // In a timestamped log only a timestamped line starts an entry (a stack trace's header line
    // does not); otherwise indentation and `Caused by` mark continuations.
    let timestamped = text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| TIMESTAMP.is_match(l));
    for line in text.lines() {
        lines += 1;
        for m in EXCEPTION.captures_iter(line) {
            *exceptions.entry(m[1].to_string()).or_default() += 1;
        }
        let continues = if timestamped { !TIMESTAMP.is_match(line) } else { is_continuation(line) };
        if continues
            && let Some(key) = &current
            && let Some(g) = groups.get_mut(key)
        {
            if g.count == 1 && g.example.lines().count() < RECORD_LINES {
                g.example.push('\n');
                g.example.push_str(line);
            }
            continue;
        }
        let key = signature(line);
        let time = TIMESTAMP.captures(line).map(|c| c[1].to_string());
        let order = groups.len();
        let g = groups.entry(key.clone()).or_insert_with(|| Group {
            signature: key.clone(),
            level: LEVEL
                .captures(line)
                .and_then(|c| c.get(1).or(c.get(2)))
                .map(|m| m.as_str().to_ascii_uppercase())
                .unwrap_or_default(),
            example: line.chars().take(2000).collect(),
            order,
            ..Group::default()
        });
        g.count += 1;
        if g.first.is_none() {
            g.first = time.clone();
        }
        if time.is_some() {
            g.last = time;
        }
        current = Some(key);
    }
    let distinct = groups.len();
    let mut sorted: Vec<(String, Group)> = groups.into_iter().collect();
    sorted.sort_by(|(_, a), (_, b)| {
        level_rank(&a.level).cmp(&level_rank(&b.level)).then(b.count.cmp(&a.count)).then(a.order.cmp(&b.order))
    });

    let mut out = String::new();
    let _ = writeln!(out, "{lines} log lines, {distinct} distinct messages.");
    if !exceptions.is_empty() {
        let list: Vec<String> = exceptions.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
        let _ = writeln!(out, "Exceptions: {}", list.join(", "));
    }
    let mut left_out = 0;
    for (i, (_, g)) in sorted.iter().enumerate() {
        let keep_all = level_rank(&g.level) == 0;
        if !keep_all && (i >= 40 || out.len() > MAX_CONDENSED) {
            left_out += 1;
            continue;
        }
        let when = match (&g.first, &g.last) {
            (Some(f), Some(l)) if f != l => format!(" {f} … {l}"),
            (Some(f), _) => format!(" {f}"),
            _ => String::new(),
        };
        let _ = writeln!(out, "×{}{when}:\n{}", g.count, g.shown());
    }
    if left_out > 0 {
        let _ = writeln!(out, "({left_out} less frequent non-error messages left out)");
    }
    LogDigest { groups: sorted.into_iter().map(|(_, g)| g).collect(), lines, distinct, exceptions, text: out }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The abnormal pods (not running, not ready, restarted, waiting or terminated) and how many
/// were healthy.
pub fn pods(list: &[Value]) -> String {
    let mut out = String::new();
    let mut healthy = 0;
    for p in list {
        let mut problems: Vec<String> = Vec::new();
        let phase = s(p, "phase");
        if !phase.is_empty() && phase != "Running" && phase != "Succeeded" {
            problems.push(format!("phase {phase}"));
        }
        let ready = s(p, "ready");
        if let Some((a, b)) = ready.split_once('/')
            && a != b
        {
            problems.push(format!("ready {ready}"));
        }
        let restarts = p.get("restarts").and_then(Value::as_u64).unwrap_or(0);
        if restarts > 0 {
            problems.push(format!("{restarts} restarts"));
        }
        for c in p.get("containers").and_then(Value::as_array).into_iter().flatten() {
            for (which, key) in [("now", "state"), ("last", "lastState")] {
                for kind in ["waiting", "terminated"] {
                    if let Some(st) = c.get(key).and_then(|v| v.get(kind)) {
                        let reason = s(st, "reason");
                        let code = st.get("exitCode").map(|c| format!(" exit code {c}")).unwrap_or_default();
                        if !(which == "now" && kind == "terminated" && reason == "Completed") {
                            problems.push(format!("{} {which} {kind}: {reason}{code}", s(c, "name")));
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            healthy += 1;
        } else {
            let node = match s(p, "node") {
                "" => String::new(),
                node => format!(" ({node})"),
            };
            let _ = writeln!(out, "{}{node}: {}", s(p, "name"), problems.join(", "));
        }
    }
    let _ = writeln!(out, "{healthy} of {} pods healthy (Running, ready, no restarts).", list.len());
    out
}

/// Kubernetes events, one line each, warnings first.
pub fn events(list: &[Value]) -> String {
    if list.is_empty() {
        return "No events.\n".into();
    }
    let mut sorted: Vec<&Value> = list.iter().collect();
    sorted.sort_by_key(|e| if s(e, "type") == "Warning" { 0 } else { 1 });
    let mut out = String::new();
    for e in sorted {
        let count = e.get("count").and_then(Value::as_u64).unwrap_or(1);
        let _ = writeln!(
            out,
            "{} {} ×{count} (last {}): {}",
            s(e, "type"),
            s(e, "reason"),
            s(e, "lastTimestamp"),
            s(e, "message")
        );
    }
    out
}

/// Compact JSON, cut at the condensed limit.
fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= MAX_CONDENSED {
        text
    } else {
        let cut: String = text.chars().take(MAX_CONDENSED).collect();
        format!("{cut}… ({} bytes in all)", text.len())
    }
}

/// The condensed form of a tool's result (`output.result` of its workflow), read tolerantly:
/// an unexpected shape passes through as text.
pub fn for_tool(tool: Tool, result: &Value) -> String {
    match (tool, result) {
        (Tool::PullPodLogs, Value::String(text)) => log(text).text,
        (Tool::GetPodsData, Value::Array(list)) => pods(list),
        (Tool::GetPodEvents, Value::Array(list)) => events(list),
        (_, Value::String(text)) if text.len() > MAX_CONDENSED => log(text).text,
        (_, Value::String(text)) => text.clone(),
        (_, other) => compact(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LOG: &str = "2025-11-24T10:00:07.322Z  INFO 1 --- [io-8080-exec-59] i.o.c.security.ApiKeyAuthFilter : Token refreshed for application billing-svc
2025-11-24T10:00:08.322Z  INFO 1 --- [io-8080-exec-12] i.o.c.security.ApiKeyAuthFilter : Token refreshed for application billing-svc
2025-11-24T10:00:09.000Z ERROR 1 --- [io-8080-exec-3] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception
java.lang.OutOfMemoryError: Java heap space
\tat java.base/java.util.Arrays.copyOf(Arrays.java:3541)
Caused by: com.fasterxml.jackson.databind.JsonMappingException: too big
2025-11-24T10:00:19.000Z ERROR 1 --- [io-8080-exec-4] o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception
java.lang.OutOfMemoryError: Java heap space
2025-11-24T10:00:20.000Z  WARN 1 --- [G1 Main] GcPauseMonitor : GC pause 4011M->3990M(4096M) took 2313ms
";

    #[test]
    fn a_log_becomes_signatures_with_counts_and_times_keeping_errors_and_causes() {
        let d = log(LOG);
        assert_eq!(d.lines, 9);
        assert_eq!(d.distinct, 3, "{}", d.text);
        assert_eq!(d.exceptions["java.lang.OutOfMemoryError"], 2);
        assert_eq!(d.exceptions["com.fasterxml.jackson.databind.JsonMappingException"], 1);
        let first = d.text.lines().nth(2).unwrap();
        assert!(first.starts_with("×2 2025-11-24T10:00:09.000Z … 2025-11-24T10:00:19.000Z"), "{}", d.text);
        assert!(
            d.text.contains("Caused by: com.fasterxml.jackson.databind.JsonMappingException: too big"),
            "the example keeps its trace"
        );
        assert!(d.text.contains("×2 2025-11-24T10:00:07.322Z … 2025-11-24T10:00:08.322Z"));
    }

    #[test]
    fn a_record_keeps_its_causes_past_the_lines_shown() {
        let mut text = String::from(
            "2025-11-24T10:00:09.000Z ERROR 1 --- [main] x.Y : boom\njava.lang.IllegalStateException: outer\n",
        );
        for i in 0..30 {
            text.push_str(&format!("\tat a.b.C.m{i}(C.java:{i})\n"));
        }
        text.push_str("Caused by: java.net.UnknownHostException: orkes-redis.cache.internal\n");
        let d = log(&text);
        let g = &d.groups[0];
        assert_eq!(g.cause().deepest(), Some("java.net.UnknownHostException: orkes-redis.cache.internal"));
        assert!(d.text.contains("Caused by: java.net.UnknownHostException"), "{}", d.text);
        assert!(!d.text.contains("m29("), "frames past the shown lines are left out: {}", d.text);
        let oom = &log(LOG).groups[0];
        assert_eq!(oom.app_frame(), None, "only JDK frames in this trace");
    }

    #[test]
    fn pods_show_the_abnormal_and_count_the_healthy() {
        let list = vec![
            json!({"name": "a", "phase": "Running", "ready": "1/1", "restarts": 0, "containers": [{"name": "c", "state": {"running": {}}, "lastState": {}}]}),
            json!({"name": "b", "node": "n1", "phase": "Running", "ready": "0/1", "restarts": 4,
                   "containers": [{"name": "conductor-server", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                   "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
        ];
        let text = pods(&list);
        assert_eq!(
            text,
            "b (n1): ready 0/1, 4 restarts, conductor-server now waiting: CrashLoopBackOff, conductor-server last terminated: Error exit code 1\n1 of 2 pods healthy (Running, ready, no restarts).\n"
        );
    }

    #[test]
    fn unexpected_shapes_pass_through_as_text() {
        assert_eq!(for_tool(Tool::GetPodsData, &json!("plain text")), "plain text");
        assert_eq!(for_tool(Tool::GetIngressInfo, &json!([{"address": ""}])), r#"[{"address":""}]"#);
    }
}
