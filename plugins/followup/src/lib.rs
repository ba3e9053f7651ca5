//! `followup`: sends a sequence of templated follow-up messages to a lead and stops as
//! soon as the lead answers, is handed to a person, converts or opts out.
//!
//! Setting `steps` (a JSON array, format in `src/steps.rs`) defines when each message is due
//! and the texts it may send; without it a built-in three-step sequence is used.

mod steps;
#[cfg(test)]
mod tests;

use outreach_sdk::{
    FollowUpAction, FollowUpDue, FollowUpSend, Hook, LeadStatus, Manifest, Permission, Plugin,
    Result, clock, template,
};

const HOUR_MS: i64 = 3_600_000;

pub struct FollowUp;

impl Plugin for FollowUp {
    fn manifest() -> Manifest {
        Manifest {
            name: "followup".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Follows up with leads who have not answered, in a few templated steps."
                .into(),
            hooks: vec![Hook::FollowUp],
            permissions: vec![Permission::MessagesSend],
        }
    }

    fn follow_up(event: FollowUpDue) -> Result<FollowUpAction> {
        if let Some(reason) = stop_reason(&event) {
            return Ok(FollowUpAction::Stop(reason.into()));
        }
        let steps = steps::load()?;
        let n = event.step as usize;
        let Some(step) = steps.get(n) else {
            return Ok(FollowUpAction::Stop("sequence complete".into()));
        };
        let text = template::render(step.variant(event.lead.id, event.step), &event.lead);
        if text.trim().is_empty() {
            return Err(steps::invalid(format!(
                "step {} renders to an empty message",
                n + 1
            )));
        }
        let next_at = steps
            .get(n + 1)
            .map(|next| clock::now() + i64::from(next.after_hours) * HOUR_MS);
        Ok(FollowUpAction::Send(FollowUpSend {
            text,
            quick_replies: Vec::new(),
            next_at,
        }))
    }
}

outreach_sdk::export_plugin!(FollowUp);

/// Why the sequence must end before sending anything, if it must.
fn stop_reason(event: &FollowUpDue) -> Option<&'static str> {
    match event.lead.status {
        LeadStatus::Replied => Some("lead replied"),
        LeadStatus::NeedsHuman => Some("handed over to a human"),
        LeadStatus::Converted => Some("lead converted"),
        LeadStatus::DoNotContact => Some("lead is do-not-contact"),
        // The status may lag behind the conversation, so an answer since the sequence
        // started counts as a reply too.
        LeadStatus::New | LeadStatus::Contacted => event
            .lead
            .last_inbound_at
            .filter(|&at| at > event.started_at)
            .map(|_| "lead replied"),
    }
}
