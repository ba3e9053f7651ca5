//! `lead-scorer`, an example of a plugin a user writes: a filter that scores each lead
//! 0–100 and keeps only those scoring at least `min_score`.
//!
//! Settings: `keywords` (comma separated, looked for in the custom field `bio` and the
//! notes) and `min_score`. It reads personal fields, so it asks for `leads:read-pii`;
//! without that grant it sees no bio, notes or follower count and scores on the name alone.

mod score;
#[cfg(test)]
mod tests;

use outreach_sdk::{FilterDecision, Hook, Lead, Manifest, Permission, Plugin, Result, settings};

const DEFAULT_KEYWORDS: &str = "coach,founder,shop,studio,agency,fitness";
const DEFAULT_MIN_SCORE: u8 = 20;
const HOT_SCORE: u8 = 70;

pub struct LeadScorer;

impl Plugin for LeadScorer {
    fn manifest() -> Manifest {
        Manifest {
            name: "lead-scorer".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Scores leads from bio keywords, followers and name; drops weak ones."
                .into(),
            hooks: vec![Hook::Filter],
            permissions: vec![Permission::LeadsReadPii],
        }
    }

    fn filter(lead: Lead) -> Result<FilterDecision> {
        let keywords = settings::get_or("keywords", DEFAULT_KEYWORDS.to_string())?;
        let min_score = settings::get_or("min_score", DEFAULT_MIN_SCORE)?;
        let score = score::score(&lead, &keywords);
        let keep = score >= min_score;
        let reason = if keep {
            format!("score {score} meets minimum {min_score}")
        } else {
            format!("score {score} below minimum {min_score}")
        };
        let tags = if score >= HOT_SCORE {
            vec!["hot".into()]
        } else {
            Vec::new()
        };
        Ok(FilterDecision {
            keep,
            reason: Some(reason),
            tags,
            score: Some(score),
        })
    }
}

outreach_sdk::export_plugin!(LeadScorer);
