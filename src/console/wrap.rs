//! Word wrapping measured in terminal cells, so the console knows how many lines a text takes
//! before it draws it (a pane's height, a scroll bound, a dialog's size). A word longer than the
//! width is broken at the width; nothing is dropped.

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

#[cfg(test)]
mod tests {
    use super::wrap;

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
}
