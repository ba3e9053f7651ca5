//! The follow-up hook against a fake host: rendering, stopping and scheduling.

use outreach_sdk::testing::{DEFAULT_NOW, FakeHost, lead};
use outreach_sdk::{Error, FollowUpAction, FollowUpDue, FollowUpSend, Lead, LeadStatus, Plugin};

use crate::{FollowUp, HOUR_MS};

const STEPS: &str = r#"[
  {"after_hours": 0, "variants": ["Hi {first_name|there}, saw @{handle}!"]},
  {"after_hours": 24, "variants": ["Bumping this, {name|friend}."]},
  {"after_hours": 72, "variants": ["Last one{city|}."]}
]"#;

fn due(lead: Lead, step: u32) -> FollowUpDue {
    FollowUpDue {
        event_id: 1,
        lead,
        step,
        started_at: DEFAULT_NOW - HOUR_MS,
    }
}

fn run(lead: Lead, step: u32) -> outreach_sdk::Result<FollowUpAction> {
    FakeHost::for_plugin::<FollowUp>()
        .with_setting("steps", STEPS)
        .install();
    FollowUp::follow_up(due(lead, step))
}

fn send(text: &str, next_at: Option<i64>) -> outreach_sdk::Result<FollowUpAction> {
    Ok(FollowUpAction::Send(FollowUpSend {
        text: text.into(),
        quick_replies: Vec::new(),
        next_at,
    }))
}

fn stop(reason: &str) -> outreach_sdk::Result<FollowUpAction> {
    Ok(FollowUpAction::Stop(reason.into()))
}

#[test]
fn first_step_renders_with_and_without_a_name() {
    let next = Some(DEFAULT_NOW + 24 * HOUR_MS);
    assert_eq!(
        run(lead(1, "ana.fit"), 0),
        send("Hi there, saw @ana.fit!", next)
    );
    let mut named = lead(1, "ana.fit");
    named.name = Some("Ana Lima".into());
    assert_eq!(run(named, 0), send("Hi Ana, saw @ana.fit!", next));
}

#[test]
fn schedules_each_step_after_the_previous_one() {
    FakeHost::for_plugin::<FollowUp>()
        .with_setting("steps", STEPS)
        .with_now(5_000)
        .install();
    let action = FollowUp::follow_up(due(lead(1, "ana.fit"), 1));
    assert_eq!(
        action,
        send("Bumping this, friend.", Some(5_000 + 72 * HOUR_MS))
    );
}

#[test]
fn last_step_has_no_next_and_then_the_sequence_is_complete() {
    assert_eq!(run(lead(1, "ana.fit"), 2), send("Last one.", None));
    assert_eq!(run(lead(1, "ana.fit"), 3), stop("sequence complete"));
}

#[test]
fn stops_when_the_lead_replied_was_handed_over_or_opted_out() {
    let with_status = |status| Lead {
        status,
        ..lead(1, "ana.fit")
    };
    assert_eq!(
        run(with_status(LeadStatus::Replied), 1),
        stop("lead replied")
    );
    assert_eq!(
        run(with_status(LeadStatus::NeedsHuman), 1),
        stop("handed over to a human")
    );
    assert_eq!(
        run(with_status(LeadStatus::Converted), 1),
        stop("lead converted")
    );
    assert_eq!(
        run(with_status(LeadStatus::DoNotContact), 1),
        stop("lead is do-not-contact")
    );
}

#[test]
fn an_answer_since_the_start_stops_even_before_the_status_changes() {
    let answered = |at| Lead {
        last_inbound_at: Some(at),
        ..lead(1, "ana.fit")
    };
    assert_eq!(run(answered(DEFAULT_NOW), 1), stop("lead replied"));
    let before_start = run(answered(DEFAULT_NOW - 2 * HOUR_MS), 1);
    assert!(matches!(before_start, Ok(FollowUpAction::Send(_))));
}

#[test]
fn uses_the_default_sequence_without_a_setting() {
    FakeHost::for_plugin::<FollowUp>().install();
    let Ok(FollowUpAction::Send(first)) = FollowUp::follow_up(due(lead(1, "ana.fit"), 0)) else {
        panic!("the default sequence sends a first message");
    };
    assert!(first.text.contains("there"), "{}", first.text);
    assert_eq!(first.next_at, Some(DEFAULT_NOW + 48 * HOUR_MS));
}

#[test]
fn invalid_steps_setting_is_an_error() {
    FakeHost::for_plugin::<FollowUp>()
        .with_setting("steps", "[{\"after_hours\": 0")
        .install();
    let Err(Error::Invalid(why)) = FollowUp::follow_up(due(lead(1, "ana.fit"), 0)) else {
        panic!("expected an invalid-setting error");
    };
    assert!(why.starts_with("setting `steps`: "), "{why}");
}

#[test]
fn a_message_that_renders_empty_is_an_error() {
    FakeHost::for_plugin::<FollowUp>()
        .with_setting("steps", r#"[{"after_hours": 0, "variants": ["{name}"]}]"#)
        .install();
    let result = FollowUp::follow_up(due(lead(1, "ana.fit"), 0));
    assert_eq!(
        result,
        Err(Error::Invalid(
            "setting `steps`: step 1 renders to an empty message".into()
        ))
    );
}

#[test]
fn manifest_asks_only_to_send() {
    let manifest = FollowUp::manifest();
    assert_eq!(manifest.name, "followup");
    assert_eq!(
        manifest.permissions,
        vec![outreach_sdk::Permission::MessagesSend]
    );
}
