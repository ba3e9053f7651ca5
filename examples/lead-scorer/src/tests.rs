//! The filter hook against a fake host: scoring, the minimum and the `hot` tag.

use outreach_sdk::testing::{FakeHost, lead};
use outreach_sdk::{Error, FilterDecision, Lead, Level, Plugin};

use crate::LeadScorer;

fn lead_with(name: Option<&str>, bio: &str, followers: &str) -> Lead {
    let mut l = lead(1, "ana.fit");
    l.name = name.map(Into::into);
    l.custom_fields = vec![
        ("bio".into(), bio.into()),
        ("followers".into(), followers.into()),
    ];
    l
}

fn decision(
    keep: bool,
    score: u8,
    reason: &str,
    tags: &[&str],
) -> outreach_sdk::Result<FilterDecision> {
    Ok(FilterDecision {
        keep,
        reason: Some(reason.into()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        score: Some(score),
    })
}

#[test]
fn strong_lead_is_kept_and_tagged_hot() {
    FakeHost::for_plugin::<LeadScorer>().install();
    let ana = lead_with(Some("Ana Lima"), "Founder of a #fitness STUDIO", "12.3k");
    // 3 keywords (45) + 12.3k followers (31) + name (10).
    assert_eq!(
        LeadScorer::filter(ana),
        decision(true, 86, "score 86 meets minimum 20", &["hot"])
    );
}

#[test]
fn weak_lead_is_dropped_with_the_reason() {
    FakeHost::for_plugin::<LeadScorer>().install();
    let nobody = lead_with(None, "just vibes", "120");
    assert_eq!(
        LeadScorer::filter(nobody),
        decision(false, 1, "score 1 below minimum 20", &[])
    );
}

#[test]
fn notes_count_and_keyword_points_are_capped() {
    FakeHost::for_plugin::<LeadScorer>().install();
    let mut busy = lead_with(None, "coach founder", "0");
    busy.notes = Some("Runs a shop and an agency".into());
    assert_eq!(
        LeadScorer::filter(busy),
        decision(true, 45, "score 45 meets minimum 20", &[])
    );
}

#[test]
fn settings_change_keywords_and_minimum() {
    FakeHost::for_plugin::<LeadScorer>()
        .with_setting("keywords", "bakery")
        .with_setting("min_score", "50")
        .install();
    let baker = lead_with(Some("Bo"), "Family BAKERY", "1,000");
    assert_eq!(
        LeadScorer::filter(baker),
        decision(false, 40, "score 40 below minimum 50", &[])
    );
}

#[test]
fn unreadable_followers_score_nothing_and_are_logged() {
    let host = FakeHost::for_plugin::<LeadScorer>().install();
    let odd = lead_with(Some("Ana"), "", "many");
    assert_eq!(
        LeadScorer::filter(odd),
        decision(false, 10, "score 10 below minimum 20", &[])
    );
    assert_eq!(
        host.logs(),
        vec![(
            Level::Debug,
            "lead 1: followers \"many\" is not a count".into()
        )]
    );
}

#[test]
fn invalid_minimum_is_an_error() {
    FakeHost::for_plugin::<LeadScorer>()
        .with_setting("min_score", "high")
        .install();
    let result = LeadScorer::filter(lead(1, "ana.fit"));
    assert!(matches!(result, Err(Error::Invalid(why)) if why.starts_with("setting `min_score`")));
}
