//! Applying what a hook returned. Runs inside the transaction that records the hook's
//! result, so a crash never leaves a decision half applied, and every queued message is
//! keyed to its event so replaying the event never queues it twice.

use std::collections::BTreeSet;

use crate::store::Conn;

use crate::clock::{MINUTE, Millis};
use crate::config::LimitsConfig;
use crate::consent::Permission;
use crate::consent::policy::{self, Call, Reach, Refusal};
use crate::domain::lead::{Lead, valid_tag};
use crate::runtime::HookOutput;
use crate::runtime::hooks::{FilterDecision, FollowUpAction, Outgoing, ReplyAction};
use crate::runtime::host::StagedSend;
use crate::store::events::{Event, EventKind};
use crate::store::outbox::Message;
use crate::store::{self};
use crate::text;

use super::outgoing::{content_refused, revoked_while_running, with_disclosure};

/// The tag a lead gets when a filter drops it.
pub const FILTERED_OUT: &str = "filtered-out";

/// The earliest a follow-up step may be due again after being handled, so a plugin that asks
/// for "now" cannot spin.
const MIN_FOLLOW_UP_WAIT: Millis = MINUTE;

/// Applies a hook's output; returns a one-line summary of what was done.
pub fn apply(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    lead: &Lead,
    output: HookOutput,
    limits: &LimitsConfig,
    now: Millis,
) -> anyhow::Result<String> {
    match output {
        HookOutput::Filter(decision) => apply_filter(tx, plugin, lead, decision, limits, now),
        HookOutput::Reply(action) => apply_reply(tx, plugin, event, lead, action, limits, now),
        HookOutput::FollowUp(action) => {
            apply_follow_up(tx, plugin, event, lead, action, limits, now)
        }
    }
}

/// Queues what the hook sent with `messaging.send`, each keyed to the event and its place
/// in the call; returns what to add to the summary. A call answers its checks from the
/// grants it started with, so `messages:send` is asked again here, as the messages land:
/// revoked while the call ran, none of them goes out.
pub fn queue_staged(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    staged: &[StagedSend],
    now: Millis,
) -> anyhow::Result<String> {
    if staged.is_empty() {
        return Ok(String::new());
    }
    if revoked_while_running(
        tx,
        plugin,
        "messaging.send",
        Permission::MessagesSend,
        event,
        now,
    )? {
        return Ok(format!(
            "; {} message(s) via messaging.send not queued: messages:send was revoked",
            staged.len()
        ));
    }
    for (n, send) in staged.iter().enumerate() {
        let key = format!("{plugin}:{}:send:{n}", event.id);
        let message = Message::text(&send.text);
        queue_automated(tx, &key, send.lead_id, plugin, event.id, message, now)?;
    }
    Ok(match staged.len() {
        0 => String::new(),
        queued => format!("; queued {queued} message(s) via messaging.send"),
    })
}

fn apply_filter(
    tx: &Conn<'_>,
    plugin: &str,
    lead: &Lead,
    d: FilterDecision,
    limits: &LimitsConfig,
    now: Millis,
) -> anyhow::Result<String> {
    let mut tags: BTreeSet<&str> = lead.tags.iter().map(String::as_str).collect();
    let mut refused = Vec::new();
    for tag in &d.tags {
        match valid_tag(tag) {
            Ok(tag) if tags.contains(tag) => {}
            Ok(tag) if tags.len() < limits.tags_per_lead as usize => {
                store::leads::add_tag(tx, lead.id, tag)?;
                tags.insert(tag);
            }
            Ok(_) => refused.push(format!(
                "the lead carries the most tags allowed ({})",
                limits.tags_per_lead
            )),
            Err(why) => refused.push(why),
        }
    }
    if let Some(score) = d.score {
        store::leads::set_score(tx, lead.id, score.min(100), now)?;
    }
    let mut summary = if d.keep { "kept" } else { "dropped" }.to_string();
    if let Some(score) = d.score {
        summary.push_str(&format!(" (score {score})"));
    }
    if !d.keep {
        store::leads::add_tag(tx, lead.id, FILTERED_OUT)?;
    }
    // Why, whichever way it went: a reason for keeping a lead is as useful to read later.
    let reason = match d.reason {
        Some(reason) => Some(reason),
        None if !d.keep => Some(format!("dropped by {plugin}")),
        None => None,
    };
    if let Some(reason) = reason {
        summary.push_str(&format!(
            ": {}",
            text::from_plugin(&reason, limits.text_chars as usize)
        ));
    }
    if let Some(first) = refused.first() {
        summary.push_str(&format!("; {} tag(s) not added: {first}", refused.len()));
    }
    Ok(summary)
}

/// Checks that a message returned by a hook may be queued, and queues it. `Ok(false)`: it
/// was queued before (the event is being replayed).
fn queue_returned_message(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    lead: &Lead,
    action: &str,
    message: &Outgoing,
    now: Millis,
) -> anyhow::Result<Result<bool, String>> {
    // The rules of `messaging.send`, for the event's own lead.
    let granted = store::plugins::is_granted(tx, plugin, Permission::MessagesSend)?;
    let rules = policy::check_grants(Call::MessagingSend, Reach::EventLead, |_| granted)
        .and_then(|()| policy::conversation_open(lead.is_do_not_contact()));
    let key = format!("{plugin}:{}:{}", event.id, event.kind.as_str());
    // Answering a comment is a private reply, with windows and limits of its own.
    let answering = super::comments::answering(event);
    let denial = match (rules, &answering) {
        (Err(Refusal::NotGranted(permission)), _) => {
            Some(format!("permission {permission} not granted"))
        }
        (Err(refusal), _) => Some(refusal.message()),
        (Ok(()), None) if !crate::channels::window_open(tx, lead, now)? => {
            Some(Refusal::WindowClosed.message())
        }
        (Ok(()), Some(answering)) => {
            super::comments::private_reply_refused(tx, plugin, lead, answering, &key, message, now)?
        }
        (Ok(()), None) => content_refused(&message.text, message)
            .map(|refusal| format!("invalid: {}", refusal.message())),
    };
    let entry = store::audit::Entry {
        plugin,
        action,
        permission: Some(Permission::MessagesSend),
        lead_id: Some(lead.id),
        allowed: denial.is_none(),
        detail: denial.as_deref(),
    };
    store::audit::record(tx, &entry, now)?;
    if let Some(denial) = denial {
        return Ok(Err(denial));
    }
    let message = Message {
        text: &message.text,
        quick_replies: &message.quick_replies,
        answering: answering.as_ref(),
    };
    Ok(Ok(queue_automated(
        tx, &key, lead.id, plugin, event.id, message, now,
    )?))
}

/// Queues a plugin's message; the first automated message to a lead (and the first after
/// a person handed them back) carries the account's disclosure in front, added here so
/// that no plugin can leave it out; where both do not fit in one message, the disclosure
/// goes first on its own. The quick replies stay under the plugin's text. Returns whether
/// it was queued (not a replay's).
fn queue_automated(
    tx: &Conn<'_>,
    key: &str,
    lead_id: i64,
    plugin: &str,
    event_id: i64,
    message: Message<'_>,
    now: Millis,
) -> anyhow::Result<bool> {
    let disclosure = store::leads::disclosure_due(tx, lead_id)?;
    let queue = |key: &str, message: Message<'_>| {
        store::outbox::enqueue(tx, key, lead_id, plugin, Some(event_id), message, now)
    };
    let Some(disclosure) = disclosure else {
        return queue(key, message);
    };
    let together = with_disclosure(&disclosure, message.text);
    let queued = match policy::message_text(&together) {
        Ok(()) => queue(
            key,
            Message {
                text: &together,
                ..message
            },
        )?,
        Err(_) => {
            queue(
                &format!("{key}:disclosure"),
                Message::text(disclosure.trim()),
            )? & queue(key, message)?
        }
    };
    if queued {
        store::leads::mark_automation_disclosed(tx, lead_id, now)?;
    }
    Ok(queued)
}

fn apply_reply(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    lead: &Lead,
    action: ReplyAction,
    limits: &LimitsConfig,
    now: Millis,
) -> anyhow::Result<String> {
    Ok(match action {
        ReplyAction::NoReply => "no reply".into(),
        ReplyAction::Send(message) => {
            match queue_returned_message(tx, plugin, event, lead, "reply.send", &message, now)? {
                Ok(true) => "queued a reply".into(),
                Ok(false) => "reply already queued before (replay)".into(),
                Err(denial) => format!("reply not sent: {denial}"),
            }
        }
        ReplyAction::HandOver(reason) => {
            store::leads::hand_to_person(tx, lead.id, "handed over to a human", now)?;
            let reason = text::from_plugin(&reason, limits.text_chars as usize);
            // Someone is needed: told so, where the account wants to be.
            let why = format!("{plugin} handed them over: {reason}");
            store::notifications::queue_if_wanted(tx, lead.id, &why, now)?;
            format!("handed over to a human: {reason}")
        }
    })
}

fn apply_follow_up(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    lead: &Lead,
    action: FollowUpAction,
    limits: &LimitsConfig,
    now: Millis,
) -> anyhow::Result<String> {
    let Some(schedule) = event.payload.schedule_id else {
        return Ok("no sequence to follow up".into());
    };
    let not_before = |t: Millis| t.max(now + MIN_FOLLOW_UP_WAIT);
    Ok(match action {
        FollowUpAction::Send(send) => {
            match queue_returned_message(
                tx,
                plugin,
                event,
                lead,
                "follow-up.send",
                &send.message,
                now,
            )? {
                Ok(queued) => {
                    let step = event.payload.step.unwrap_or(0);
                    let next = send.next_at.map(not_before);
                    // Guarded by the step, so a replayed event cannot skip one.
                    store::schedules::advance(tx, schedule, step, next)?;
                    let what = if queued {
                        "queued"
                    } else {
                        "already queued (replay)"
                    };
                    let then = next.map_or_else(
                        || "sequence complete".to_string(),
                        |at| format!("next due {}", crate::clock::format(at)),
                    );
                    format!("step {}: {what}; {then}", step + 1)
                }
                Err(denial) => {
                    store::schedules::stop(tx, schedule, &denial)?;
                    format!("follow-up not sent, sequence stopped: {denial}")
                }
            }
        }
        FollowUpAction::WaitUntil(at) => {
            store::schedules::postpone(tx, schedule, not_before(at))?;
            format!("waiting until {}", crate::clock::format(not_before(at)))
        }
        FollowUpAction::Stop(reason) => {
            let reason = text::from_plugin(&reason, limits.text_chars as usize);
            store::schedules::stop(tx, schedule, &reason)?;
            format!("sequence stopped: {reason}")
        }
    })
}

/// Ends the follow-up sequence an event belongs to, when it is a follow-up event.
pub fn stop_sequence(tx: &Conn<'_>, event: &Event, reason: &str) -> anyhow::Result<()> {
    if let (EventKind::FollowUp, Some(id)) = (event.kind, event.payload.schedule_id) {
        store::schedules::stop(tx, id, reason)?;
    }
    Ok(())
}

/// After the filters: a lead that every filter kept (none failed, none dropped it) starts
/// every follow-up plugin's sequence. A failed filter keeps the lead out: automation never
/// starts on a decision that was not made.
pub fn start_sequences_if_kept<'p>(
    tx: &Conn<'_>,
    event: &Event,
    follow_up_plugins: impl IntoIterator<Item = &'p str>,
    now: Millis,
) -> anyhow::Result<()> {
    let Some(lead) = store::leads::get(tx, event.lead_id)? else {
        return Ok(());
    };
    let failed = store::events::results(tx, event.id)?
        .iter()
        .any(|r| r.status != store::events::ResultStatus::Done);
    if failed || lead.is_do_not_contact() || lead.tags.iter().any(|t| t == FILTERED_OUT) {
        return Ok(());
    }
    for plugin in follow_up_plugins {
        store::schedules::start(tx, plugin, lead.id, now)?;
    }
    Ok(())
}
