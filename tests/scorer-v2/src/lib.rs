//! Test fixture: `lead-scorer` 0.2.0, as its author might ship it. The same score (the
//! example's own `score.rs`), a stricter default minimum (40 instead of 20), and a newly
//! requested permission (`storage`, where it notes the last lead it scored), so that a
//! shadow run has decisions to compare and a write to keep out of the database, and an
//! upgrade has a permission to ask for.

#[path = "../../../examples/lead-scorer/src/score.rs"]
mod score;

use outreach_sdk::{
    FilterDecision, Hook, Lead, Manifest, Permission, Plugin, Result, settings, storage,
};

const DEFAULT_KEYWORDS: &str = "coach,founder,shop,studio,agency,fitness";
/// What changed: lead-scorer 0.1.0 keeps leads scoring 20 or more.
const DEFAULT_MIN_SCORE: u8 = 40;
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
            permissions: vec![Permission::LeadsReadPii, Permission::Storage],
        }
    }

    fn filter(lead: Lead) -> Result<FilterDecision> {
        let keywords = settings::get_or("keywords", DEFAULT_KEYWORDS.to_string())?;
        let min_score = settings::get_or("min_score", DEFAULT_MIN_SCORE)?;
        let score = score::score(&lead, &keywords);
        // Refused (and audited) until `storage` is granted; the decision does not need it.
        let _ = storage::set("last-scored", lead.handle.as_bytes());
        let tags = match score >= HOT_SCORE {
            true => vec!["hot".into()],
            false => Vec::new(),
        };
        Ok(FilterDecision {
            keep: score >= min_score,
            reason: Some(format!("score {score}, minimum {min_score}")),
            tags,
            score: Some(score),
        })
    }
}

outreach_sdk::export_plugin!(LeadScorer);
