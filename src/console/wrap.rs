//! Word wrapping measured in terminal cells, so the console knows how many lines a text takes
//! before it draws it (a pane's height, a scroll bound, a dialog's size). A word longer than the
//! width is broken at the width; nothing is dropped.

use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// `text` wrapped at word boundaries into lines of at most `width` cells. Each `\n` starts a new
/// line; an empty text is one empty line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in paragraph.split(' ') {
            let w = word.width();
            if used > 0 && used + 1 + w > width {
                out.push(std::mem::take(&mut line));
                used = 0;
            }
            if used > 0 {
                line.push(' ');
                used += 1;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > width && used > 0 {
                    out.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        }
        out.push(line);
    }
    out
}

/// One line wrapped like `wrap` wraps it, its indentation (leading spaces, up to half the
/// width) kept on the first line and on every continuation line: output and stack traces stay
/// readable as indented.
pub fn wrap_indented(line: &str, width: usize) -> Vec<String> {
    let body = line.trim_start_matches(' ');
    let indent = (line.len() - body.len()).min(width / 2);
    let pad = " ".repeat(indent);
    wrap(body, width.saturating_sub(indent)).into_iter().map(|l| format!("{pad}{l}")).collect()
}

/// Styled spans wrapped like `wrap` wraps their text: each line keeps the styles of the
/// characters it holds, so a styled line measures exactly as it is drawn.
pub fn wrap_spans(spans: &[Span<'static>], width: usize) -> Vec<Line<'static>> {
    let plain: String = spans.iter().map(|s| s.content.as_ref()).collect();
    let mut chars = spans.iter().flat_map(|s| s.content.chars().map(move |c| (c, s.style))).peekable();
    let mut out = Vec::new();
    for (i, wrapped) in wrap(&plain, width).into_iter().enumerate() {
        if i > 0 && chars.peek().is_some_and(|(c, _)| *c == ' ') {
            // The space a line break replaced.
            chars.next();
        }
        let mut line: Vec<Span<'static>> = Vec::new();
        for _ in wrapped.chars() {
            let Some((c, style)) = chars.next() else { break };
            match line.last_mut() {
                Some(last) if last.style == style => last.content.to_mut().push(c),
                _ => line.push(Span::styled(c.to_string(), style)),
            }
        }
        out.push(Line::from(line));
    }
    out
}

/// Styled spans cut to `width` cells: when they do not fit, the last cell shown is `…`, so a
/// cut line always says it was cut.
pub fn clip(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let total: usize = spans.iter().map(|s| s.content.width()).sum();
    if total <= width {
        return spans;
    }
    let mut room = width.saturating_sub(1);
    let mut out = Vec::new();
    for span in spans {
        if room == 0 {
            break;
        }
        let mut kept = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if w > room {
                room = 0;
                break;
            }
            room -= w;
            kept.push(c);
        }
        out.push(Span::styled(kept, span.style));
    }
    if width > 0 {
        out.push(Span::raw("…"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Span, clip, wrap, wrap_spans};

    #[test]
    fn indentation_is_kept_on_continuation_lines() {
        assert_eq!(
            super::wrap_indented("    at com.x.Y.z(Y.java:1)", 16),
            ["    at", "    com.x.Y.z(Y.", "    java:1)"]
        );
        assert_eq!(super::wrap_indented("no indent here", 8), ["no", "indent", "here"]);
    }

    #[test]
    fn a_clipped_line_ends_in_a_marker_and_a_fitting_one_is_untouched() {
        let text = |spans: &[Span]| spans.iter().map(|s| s.content.as_ref()).collect::<String>();
        let spans = vec![Span::raw("get_pods_data"), Span::raw("  0.8s")];
        assert_eq!(text(&clip(spans.clone(), 19)), "get_pods_data  0.8s");
        assert_eq!(text(&clip(spans.clone(), 10)), "get_pods_…");
        assert_eq!(text(&clip(spans, 15)), "get_pods_data …");
        assert_eq!(text(&clip(vec![Span::raw("漢字漢字")], 4)), "漢…");
    }

    #[test]
    fn wraps_at_words_and_breaks_only_what_cannot_fit() {
        assert_eq!(wrap("approve: post the draft", 10), ["approve:", "post the", "draft"]);
        assert_eq!(wrap("abcdefghijkl", 5), ["abcde", "fghij", "kl"]);
        assert_eq!(wrap("a\n\nb", 5), ["a", "", "b"]);
        assert_eq!(wrap("", 5), [""]);
        // Wide characters take two cells.
        assert_eq!(wrap("↔ 漢字漢字", 4), ["↔", "漢字", "漢字"]);
        for width in 1..30 {
            let text = "the quick brown fox jumps over the lazy dog, twice";
            let lines = wrap(text, width);
            assert!(lines.iter().all(|l| unicode_width::UnicodeWidthStr::width(l.as_str()) <= width));
            assert_eq!(
                lines.join(" ").split_whitespace().collect::<String>(),
                text.split_whitespace().collect::<String>()
            );
        }
    }

    #[test]
    fn styled_spans_wrap_as_their_text_does_and_keep_their_styles() {
        use ratatui::style::{Modifier, Style};
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let spans = vec![
            Span::raw("the cause is "),
            Span::styled("conductor.app.timeout".to_string(), bold),
            Span::raw(" set to 30 seconds"),
        ];
        let lines = wrap_spans(&spans, 16);
        let texts: Vec<String> = lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
        assert_eq!(texts, wrap("the cause is conductor.app.timeout set to 30 seconds", 16));
        assert!(lines[1].spans.iter().any(|s| s.style == bold && s.content.starts_with("conductor")), "{lines:?}");
    }
}
