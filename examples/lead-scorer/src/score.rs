//! The score: up to 45 points for keywords, 45 for followers and 10 for a name.

use outreach_sdk::{Lead, log};

const POINTS_PER_KEYWORD: u32 = 15;
const MAX_KEYWORD_POINTS: u32 = 45;
const MAX_FOLLOWER_POINTS: f64 = 45.0;
const NAME_POINTS: u32 = 10;

/// The lead's score, 0–100, with `keywords` a comma-separated list.
pub(crate) fn score(lead: &Lead, keywords: &str) -> u8 {
    let text = [lead.field("bio"), lead.notes.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    // Substrings rather than whole words: bios are full of hashtags like #fitnesscoach.
    let matched = keywords
        .split(',')
        .map(|k| k.trim().to_lowercase())
        .filter(|k| !k.is_empty() && text.contains(k.as_str()))
        .count() as u32;
    let keyword_points = (matched * POINTS_PER_KEYWORD).min(MAX_KEYWORD_POINTS);
    let name_points = if lead.name.as_deref().is_some_and(|n| !n.trim().is_empty()) {
        NAME_POINTS
    } else {
        0
    };
    (keyword_points + follower_points(lead) + name_points).min(100) as u8
}

/// Log-scale points: nothing up to 100 followers, then 15 per tenfold (1k = 15, 10k = 30,
/// 100k or more = 45), so a big account cannot drown out what the bio says.
fn follower_points(lead: &Lead) -> u32 {
    let Some(raw) = lead.field("followers") else {
        return 0;
    };
    let Some(followers) = parse_count(raw) else {
        log::debug(&format!(
            "lead {}: followers {raw:?} is not a count",
            lead.id
        ));
        return 0;
    };
    let points = (followers.max(1.0).log10() - 2.0) * 15.0;
    points.clamp(0.0, MAX_FOLLOWER_POINTS).round() as u32
}

/// Parses counts as people write them: "800", "12,300", "12.3k", "12,3k", "1.2M".
fn parse_count(raw: &str) -> Option<f64> {
    let raw = raw.trim().to_lowercase();
    let (number, scale) = if let Some(n) = raw.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = raw.strip_suffix('m') {
        (n, 1e6)
    } else {
        (raw.as_str(), 1.0)
    };
    // Before a suffix a comma is a decimal mark ("12,3k"); in a plain number it groups
    // thousands ("12,300").
    let number = if scale > 1.0 {
        number.replace(',', ".")
    } else {
        number.replace(',', "")
    };
    let count: f64 = number.trim().parse().ok()?;
    (count.is_finite() && count >= 0.0).then_some(count * scale)
}

#[cfg(test)]
mod tests {
    use super::parse_count;

    #[test]
    fn parses_counts_as_people_write_them() {
        assert_eq!(parse_count("800"), Some(800.0));
        assert_eq!(parse_count(" 12,300 "), Some(12_300.0));
        assert_eq!(parse_count("12.3k"), Some(12_300.0));
        assert_eq!(parse_count("12,3K"), Some(12_300.0));
        assert_eq!(parse_count("1.5M"), Some(1_500_000.0));
        assert_eq!(parse_count("lots"), None);
        assert_eq!(parse_count("-5"), None);
        assert_eq!(parse_count("k"), None);
    }
}
