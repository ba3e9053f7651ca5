//! Text as it goes into the console's pages and links: HTML-escaped, and percent-encoded as
//! one path segment. Below the pages and the session checks, which both use it.

/// `text` safe inside HTML text and attribute values. Control characters and bidirectional
/// overrides (which a lead's name or message, or a plugin's reason, may hold) are shown as
/// U+FFFD, not passed to the page.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            // Bidirectional overrides too: "rtl\u{202e} gnp.exe" must not read "rtlexe.png".
            c if crate::consent::policy::is_unsafe_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one URL path segment or query value (handles are letters, digits, '.' and
/// '_'; anything else is percent-encoded all the same).
pub fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        let hostile = "<a href='x' onclick=\"y\">&\u{1b}[2J\u{7}\r</a>\nnext";
        let shown = escape(hostile);
        assert_eq!(
            shown,
            "&lt;a href=&#39;x&#39; onclick=&quot;y&quot;&gt;&amp;\u{FFFD}[2J\u{FFFD}\u{FFFD}&lt;/a&gt;\nnext"
        );
        assert_eq!(path_segment("a b/../c?d"), "a%20b%2F..%2Fc%3Fd");
    }

    #[test]
    fn text_reads_as_it_is_stored_whatever_direction_marks_it_holds() {
        assert_eq!(escape("rtl\u{202e} gnp.exe"), "rtl\u{FFFD} gnp.exe");
        assert_eq!(escape("a\u{2066}b\u{2069}c"), "a\u{FFFD}b\u{FFFD}c");
        // Letters of right-to-left scripts are text, not overrides.
        assert_eq!(escape("שלום"), "שלום");
    }
}
