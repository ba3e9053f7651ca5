//! Finding configured words in what a lead wrote: trigger words that hand a conversation to
//! a person, keywords in a comment.

/// The first of the comma-separated `triggers` that occurs in `text` as whole words,
/// ignoring case, as configured. Whole words so that "personal" does not match "person";
/// a trigger may be a phrase ("speak to someone").
pub fn find<'a>(text: &str, triggers: &'a str) -> Option<&'a str> {
    let text = words(text);
    triggers.split(',').map(str::trim).find(|trigger| {
        let phrase = words(trigger);
        !phrase.is_empty() && text.windows(phrase.len()).any(|w| w == phrase)
    })
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::find;

    const WORDS: &str = "human, Refund ,speak to someone,,";

    #[test]
    fn matches_whole_words_and_phrases_ignoring_case() {
        assert_eq!(find("I want a REFUND!", WORDS), Some("Refund"));
        assert_eq!(
            find("can I speak  to someone?", WORDS),
            Some("speak to someone")
        );
        assert_eq!(find("are you a human-being", WORDS), Some("human"));
    }

    #[test]
    fn ignores_parts_of_words_and_empty_triggers() {
        assert_eq!(find("humane refunds", WORDS), None);
        assert_eq!(find("", WORDS), None);
        assert_eq!(find("anything", ""), None);
    }
}
