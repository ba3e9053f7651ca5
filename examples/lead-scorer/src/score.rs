//! The score: up to 45 points for keywords, 45 for followers and 10 for a name.

use outreach_sdk::{Lead, log, parse_count};

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
