//! PostgreSQL's own reading of a text: libpg_query (the parser of PostgreSQL 15.1, compiled by
//! build.rs), bound by hand. Two calls: the raw parse tree as JSON, and the lexer's tokens.
//! The library keeps its state in thread-locals, so calls from several threads are safe.

use std::ffi::{CStr, CString, c_char, c_int};

use serde_json::Value;

#[repr(C)]
struct PgQueryError {
    message: *mut c_char,
    funcname: *mut c_char,
    filename: *mut c_char,
    lineno: c_int,
    cursorpos: c_int,
    context: *mut c_char,
}

#[repr(C)]
struct PgQueryParseResult {
    parse_tree: *mut c_char,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

#[repr(C)]
struct PgQueryProtobuf {
    len: usize,
    data: *mut c_char,
}

#[repr(C)]
struct PgQueryScanResult {
    pbuf: PgQueryProtobuf,
    stderr_buffer: *mut c_char,
    error: *mut PgQueryError,
}

unsafe extern "C" {
    fn pg_query_parse_opts(input: *const c_char, parser_options: c_int) -> PgQueryParseResult;
    fn pg_query_free_parse_result(result: PgQueryParseResult);
    fn pg_query_scan(input: *const c_char) -> PgQueryScanResult;
    fn pg_query_free_scan_result(result: PgQueryScanResult);
}

const DISABLE_BACKSLASH_QUOTE: c_int = 16;
const DISABLE_STANDARD_CONFORMING_STRINGS: c_int = 32;
const DISABLE_ESCAPE_STRING_WARNING: c_int = 64;

/// The settings that change how PostgreSQL lexes a text, each of which a database or a role can
/// set: the dispatched text must mean the same under all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lexing {
    /// PostgreSQL's defaults: standard_conforming_strings on, backslash_quote safe_encoding.
    Default,
    /// standard_conforming_strings = off: a backslash escapes inside '…'.
    NonStandardStrings,
    /// backslash_quote = off: `\'` is an error.
    NoBackslashQuote,
}

impl Lexing {
    pub const ALL: [Lexing; 3] = [Lexing::Default, Lexing::NonStandardStrings, Lexing::NoBackslashQuote];

    fn options(self) -> c_int {
        DISABLE_ESCAPE_STRING_WARNING
            | match self {
                Lexing::Default => 0,
                Lexing::NonStandardStrings => DISABLE_STANDARD_CONFORMING_STRINGS,
                Lexing::NoBackslashQuote => DISABLE_BACKSLASH_QUOTE,
            }
    }
}

fn error_message(error: *mut PgQueryError) -> String {
    // SAFETY: a non-null error from libpg_query has a NUL-terminated message.
    let message = unsafe { (*error).message };
    if message.is_null() {
        return "PostgreSQL's parser failed".into();
    }
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

fn c_text(sql: &str) -> Result<CString, String> {
    CString::new(sql).map_err(|_| "a NUL byte".to_string())
}

/// The raw parse tree (`{"version": …, "stmts": [{"stmt": {...}}, …]}`), or PostgreSQL's error.
pub fn parse(sql: &str, lexing: Lexing) -> Result<Value, String> {
    let text = c_text(sql)?;
    // SAFETY: `text` is a valid C string for the call; the result is freed exactly once below,
    // after its strings were copied out.
    unsafe {
        let result = pg_query_parse_opts(text.as_ptr(), lexing.options());
        let out = if !result.error.is_null() {
            Err(error_message(result.error))
        } else if result.parse_tree.is_null() {
            Err("PostgreSQL's parser returned nothing".into())
        } else {
            let json = CStr::from_ptr(result.parse_tree).to_string_lossy();
            serde_json::from_str(&json).map_err(|e| format!("PostgreSQL's parse tree is not JSON: {e}"))
        };
        pg_query_free_parse_result(result);
        out
    }
}

/// One token as PostgreSQL's lexer reads it: byte offsets into the text, and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: u32,
}

/// Token kinds (libpg_query's protobuf `Token` enum) the guard cares about.
pub const SQL_COMMENT: u32 = 275;
pub const C_COMMENT: u32 = 276;

impl Token {
    pub fn is_comment(self) -> bool {
        self.kind == SQL_COMMENT || self.kind == C_COMMENT
    }
}

/// PostgreSQL's tokens of `sql` (with its default settings), comments included.
pub fn scan(sql: &str) -> Result<Vec<Token>, String> {
    let text = c_text(sql)?;
    // SAFETY: as in `parse`; the protobuf buffer is read before the result is freed.
    unsafe {
        let result = pg_query_scan(text.as_ptr());
        let out = if !result.error.is_null() {
            Err(error_message(result.error))
        } else if result.pbuf.data.is_null() {
            Ok(Vec::new())
        } else {
            let bytes = std::slice::from_raw_parts(result.pbuf.data as *const u8, result.pbuf.len);
            decode_scan(bytes).ok_or_else(|| "PostgreSQL's lexer gave an unreadable answer".to_string())
        };
        pg_query_free_scan_result(result);
        out
    }
}

/// Protobuf wire format, the few shapes `ScanResult { version = 1; repeated ScanToken tokens = 2 }`
/// and `ScanToken { start = 1; end = 2; token = 4; keyword_kind = 5 }` use.
struct Wire<'a> {
    bytes: &'a [u8],
}

impl<'a> Wire<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.bytes.split_first()?;
            self.bytes = rest;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field: its number and, for a length-delimited one, its bytes.
    fn field(&mut self) -> Option<(u64, Result<u64, &'a [u8]>)> {
        let key = self.varint()?;
        match key & 7 {
            0 => Some((key >> 3, Ok(self.varint()?))),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                if len > self.bytes.len() {
                    return None;
                }
                let (body, rest) = self.bytes.split_at(len);
                self.bytes = rest;
                Some((key >> 3, Err(body)))
            }
            _ => None,
        }
    }
}

fn decode_scan(bytes: &[u8]) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut outer = Wire { bytes };
    while !outer.bytes.is_empty() {
        if let (2, Err(body)) = outer.field()? {
            let mut t = Token { start: 0, end: 0, kind: 0 };
            let mut inner = Wire { bytes: body };
            while !inner.bytes.is_empty() {
                match inner.field()? {
                    (1, Ok(v)) => t.start = usize::try_from(v).ok()?,
                    (2, Ok(v)) => t.end = usize::try_from(v).ok()?,
                    (4, Ok(v)) => t.kind = u32::try_from(v).ok()?,
                    _ => {}
                }
            }
            tokens.push(t);
        }
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_reads_what_postgres_reads() {
        let tree = parse("SELECT 1 <=/* 2, ' */ 1) s; DELETE FROM workflow; -- '", Lexing::Default);
        assert!(tree.is_err(), "an unbalanced parenthesis: {tree:?}");
        let two =
            parse("SELECT * FROM (SELECT 1 <=/* 2, ' */ 1) s; DELETE FROM workflow; -- ') c", Lexing::Default).unwrap();
        assert_eq!(two["stmts"].as_array().unwrap().len(), 2, "{two}");
        assert!(two["stmts"][1]["stmt"]["DeleteStmt"].is_object());
        // The same text, two settings, two readings.
        let text = r"SELECT 'a\' AS x";
        assert!(parse(text, Lexing::Default).is_ok());
        assert!(parse(text, Lexing::NonStandardStrings).is_err());
        assert!(parse("SELEC 1", Lexing::Default).unwrap_err().contains("syntax error"));
    }

    #[test]
    fn the_lexer_ends_an_operator_where_a_comment_starts() {
        let sql = "SELECT id >/* x */10 -- tail";
        let tokens = scan(sql).unwrap();
        let texts: Vec<&str> = tokens.iter().map(|t| &sql[t.start..t.end]).collect();
        assert_eq!(texts, ["SELECT", "id", ">", "/* x */", "10", "-- tail"]);
        assert!(tokens[3].is_comment() && tokens[5].is_comment() && !tokens[2].is_comment());
        assert!(scan("SELECT 'unterminated").is_err());
    }
}
