//! Server-sent events, parsed incrementally from chunks split anywhere (mid-line, mid-UTF-8).
//! Written here rather than taken from a crate: the format is a few rules, and this keeps the
//! model clients free of a stream adapter stack.

/// One event: its `event:` name (empty when absent) and its `data:` lines joined by `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

#[derive(Default)]
pub struct SseParser {
    bytes: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds a chunk; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.bytes.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.bytes.iter().position(|b| *b == b'\n') {
            let raw: Vec<u8> = self.bytes.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() || !self.event.is_empty() {
                    out.push(SseEvent { event: std::mem::take(&mut self.event), data: self.data.join("\n") });
                    self.data.clear();
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_string(),
                "data" => self.data.push(value.to_string()),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n: keep-alive\n\nevent: content_block_delta\r\ndata: {\"delta\":{\"text\":\"héllo\"}}\r\n\r\nevent: ping\ndata: {}\n\n";

    #[test]
    fn events_come_out_whole_however_the_bytes_are_split() {
        let whole = SseParser::default().push(STREAM.as_bytes());
        assert_eq!(whole.len(), 3);
        assert_eq!(
            whole[1],
            SseEvent { event: "content_block_delta".into(), data: "{\"delta\":{\"text\":\"héllo\"}}".into() }
        );
        for size in 1..12 {
            let mut p = SseParser::default();
            let got: Vec<SseEvent> = STREAM.as_bytes().chunks(size).flat_map(|c| p.push(c)).collect();
            assert_eq!(got, whole, "chunks of {size} bytes");
        }
    }
}
