//! The `steps` setting: when each follow-up message is due and the texts it may send.
//!
//! The value is a JSON array, one object per message:
//! `[{"after_hours": 0, "variants": ["Hi {first_name|there}! ..."]}, {"after_hours": 48, ...}]`.
//! `after_hours` is how long after the previous message a step is due (the first step's
//! is unused: the host starts the sequence); `variants` are
//! [templates](outreach_sdk::template::render), one picked per lead.

use outreach_sdk::{Error, Result, settings};
use serde::Deserialize;

/// The sequence used when `steps` is not set.
const DEFAULT_STEPS: &str = r#"[
  {"after_hours": 0, "variants": [
    "Hi {first_name|there}! I came across @{handle} and love what you're doing. Would you be open to a quick chat about bringing in more clients?",
    "Hey {first_name|there}, your page @{handle} caught my eye. Mind if I share an idea that could bring you more customers?"
  ]},
  {"after_hours": 48, "variants": [
    "Hi {first_name|there}, just floating this back up in case it got buried. Happy to share the idea whenever suits you.",
    "Hey {first_name|there}, following up on my last message. Would a short chat this week work for you?"
  ]},
  {"after_hours": 96, "variants": [
    "Last note from me, {first_name|there}: if now isn't the right time, no worries at all. Just reply whenever you'd like to talk.",
    "Hi {first_name|there}, I'll leave it here so I don't clutter your inbox. My door is open if you ever want to chat."
  ]}
]"#;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    pub after_hours: u32,
    variants: Vec<String>,
}

/// The configured steps, or the default sequence.
pub(crate) fn load() -> Result<Vec<Step>> {
    parse(settings::get("steps").as_deref().unwrap_or(DEFAULT_STEPS))
}

fn parse(json: &str) -> Result<Vec<Step>> {
    let steps: Vec<Step> = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
    match steps.iter().position(|step| step.variants.is_empty()) {
        Some(i) => Err(invalid(format!("step {} has no variants", i + 1))),
        None => Ok(steps),
    }
}

pub(crate) fn invalid(why: String) -> Error {
    Error::Invalid(format!("setting `steps`: {why}"))
}

impl Step {
    /// The variant this lead gets at this step.
    ///
    /// Chosen by a hash of (lead, step) rather than at random: the host retries and
    /// replays events, and a retried event must queue the very same text, both so the
    /// host's per-event deduplication sees one message and so the record of what was sent
    /// stays true.
    pub(crate) fn variant(&self, lead_id: u64, step: u32) -> &str {
        let index = mix(lead_id.rotate_left(32) ^ u64::from(step)) % self.variants.len() as u64;
        &self.variants[index as usize]
    }
}

/// The SplitMix64 finaliser: spreads nearby lead ids over the variants.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_STEPS, parse};

    #[test]
    fn default_sequence_is_three_valid_steps() {
        let hours: Vec<u32> = parse(DEFAULT_STEPS)
            .unwrap()
            .iter()
            .map(|s| s.after_hours)
            .collect();
        assert_eq!(hours, vec![0, 48, 96]);
    }

    #[test]
    fn variant_choice_is_stable_and_spread() {
        let steps = parse(DEFAULT_STEPS).unwrap();
        assert_eq!(steps[0].variant(7, 0), steps[0].variant(7, 0));
        let picks: std::collections::HashSet<&str> =
            (0..20).map(|id| steps[0].variant(id, 0)).collect();
        assert_eq!(picks.len(), 2);
    }

    #[test]
    fn steps_without_variants_are_rejected() {
        let err = parse(r#"[{"after_hours": 0, "variants": []}]"#).unwrap_err();
        assert_eq!(
            err,
            outreach_sdk::Error::Invalid("setting `steps`: step 1 has no variants".into())
        );
    }
}
