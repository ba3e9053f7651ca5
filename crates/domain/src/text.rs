//! Text that came from outside the host — a plugin, a lead, a CSV file — on its way into the
//! database or onto the operator's terminal. Control characters and bidi overrides are what
//! let such text rewrite a terminal (hide a line, forge another), so the host refuses them
//! where it validates plugin text and escapes them wherever it prints stored text.

use std::borrow::Cow;

pub use crate::policy::{is_unsafe_char, reject_unsafe};

/// `text` safe to print on one terminal line: every unsafe character is shown as an escape
/// (`\n`, `\u{1b}`), so nothing is hidden and nothing acts on the terminal.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max_chars` characters of `text`, marked with `…` where it was cut.
pub fn cap_chars(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} more bytes)",
            &text[..end],
            text.len() - end
        )),
    }
}

/// At most `max_chars` characters of `text` for a narrow column: cut with `…`, nothing more.
pub fn ellipsize(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars.saturating_sub(1)) {
        Some((end, _)) if text[end..].chars().nth(1).is_some() => {
            Cow::Owned(format!("{}…", &text[..end]))
        }
        _ => Cow::Borrowed(text),
    }
}

/// Plugin-supplied text the host keeps: cut to `max_chars` and with every unsafe character
/// escaped, so a stored reason can neither fill the disk nor act on a terminal later.
pub fn from_plugin(text: &str, max_chars: usize) -> String {
    terminal_safe(&cap_chars(text, max_chars)).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ellipsize_cuts_to_the_width_with_an_ellipsis() {
        assert_eq!(super::ellipsize("abcdef", 4), "abc…");
        assert_eq!(super::ellipsize("abcd", 4), "abcd");
        assert_eq!(super::ellipsize("äöüß€x", 5), "äöüß…");
    }

    use super::*;

    #[test]
    fn terminal_sequences_and_bidi_overrides_are_refused_and_escaped() {
        for hostile in [
            "a\u{1b}[8mhidden",
            "nul\0byte",
            "\u{202E}gnp.exe",
            "c1\u{9b}31m",
            "del\u{7f}",
            "iso\u{2067}late",
        ] {
            assert!(reject_unsafe(hostile, true).is_err(), "{hostile:?}");
            let shown = terminal_safe(hostile);
            assert!(!shown.chars().any(is_unsafe_char), "{shown:?}");
        }
        assert_eq!(terminal_safe("a\u{1b}[8m"), "a\\u{1b}[8m");
        assert_eq!(terminal_safe("two\nlines"), "two\\nlines");
        assert!(reject_unsafe("two\nlines", true).is_ok());
        assert_eq!(
            reject_unsafe("two\nlines", false).unwrap_err(),
            "contains the control character U+000A at character 4"
        );
        assert!(reject_unsafe("Grüße 👋 مرحبا 你好", false).is_ok());
        assert!(matches!(terminal_safe("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        assert_eq!(cap_chars("short", 10), "short");
        assert_eq!(cap_chars("ääääää", 2), "ää… (8 more bytes)");
        let huge = "x".repeat(50 << 20);
        assert!(from_plugin(&huge, 500).len() < 600);
    }
}
