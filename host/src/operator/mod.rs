//! What a person does in a conversation, from the CLI or the console: reply by hand, hand
//! a lead back to automation, mark them converted. The same rules as a plugin's send
//! (do-not-contact, the channel's messaging window, message limits, then the outbox and
//! the account's safety rules), every action audited under the person's name (`actor`,
//! which holds a colon so it can never be a plugin's).

pub mod admin;
pub mod lifecycle;
pub mod report;

use crate::clock::Millis;
use crate::consent::policy;
use crate::domain::lead::{Lead, LeadStatus};
use crate::domain::sha256_hex;
use crate::store::outbox::Message;
use crate::store::{self, Db};
use crate::text::terminal_safe as safe;

/// What a person answers with.
#[derive(Debug, Clone, Copy)]
pub enum Reply<'a> {
    /// Their own words, as typed.
    Typed(&'a str),
    /// The team's saved reply of this id, its variables filled in for the lead.
    Saved(i64),
}

/// Queues the reply for the lead through the outbox; `Ok(Err(why))` when the rules refuse
/// it (the refusal is audited too).
pub fn reply(
    db: &Db,
    actor: &str,
    handle: &str,
    reply: Reply<'_>,
    now: Millis,
) -> anyhow::Result<Result<Lead, String>> {
    db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        let (text, queued) = match reply {
            Reply::Typed(text) => (text.to_owned(), "queued".to_owned()),
            Reply::Saved(id) => {
                let saved = store::saved_replies::get(tx, id)?
                    .ok_or_else(|| anyhow::anyhow!("no saved reply #{id}: it was removed"))?;
                let text = crate::domain::template::render(&saved.text, &lead);
                (text, format!("queued, saved reply {:?}", saved.name))
            }
        };
        let text = text.as_str();
        // A person may answer where a plugin may not (Instagram's 7-day HUMAN_AGENT window).
        let open = crate::channels::window(tx, &lead, now)?.allows(true);
        let refusal = policy::conversation_open(lead.is_do_not_contact())
            .and_then(|()| policy::window(open))
            .err()
            .map(|refusal| refusal.message())
            .or_else(|| {
                policy::message_text(text)
                    .err()
                    .map(|refusal| format!("invalid: {}", refusal.message()))
            });
        let audit = |allowed: bool, detail: &str| {
            store::audit::record_action(
                tx,
                actor,
                "conversations.reply",
                Some(lead.id),
                allowed,
                detail,
                now,
            )
        };
        if let Some(why) = refusal {
            audit(false, &why)?;
            return Ok(Err(format!(
                "cannot reply to @{}: {why}",
                safe(&lead.handle)
            )));
        }
        // Typed twice on purpose in the same millisecond is the only way to lose one.
        let key = format!(
            "{actor}:{}:{now}:{}",
            lead.id,
            &sha256_hex(text.as_bytes())[..16]
        );
        store::outbox::enqueue(tx, &key, lead.id, actor, None, Message::text(text), now)?;
        audit(true, &queued)?;
        Ok(Ok(lead))
    })
}

/// A lead handed to a person goes back to automation.
pub fn resume(db: &Db, actor: &str, handle: &str, now: Millis) -> anyhow::Result<usize> {
    change_status(db, actor, handle, "leads.resume", now, |lead| {
        anyhow::ensure!(
            lead.status == LeadStatus::NeedsHuman,
            "@{} is not waiting for a person (status {})",
            safe(&lead.handle),
            lead.status
        );
        Ok(LeadStatus::Replied)
    })
}

/// The longest internal note, in characters.
pub const NOTE_MAX_CHARS: usize = 2000;
/// The most notes a lead keeps: a lead's page stays a page.
const NOTES_PER_LEAD: u32 = 200;

/// Adds an internal note to the lead: never sent, never shown to a plugin. Audited without
/// its text.
pub fn add_note(db: &Db, actor: &str, handle: &str, text: &str, now: Millis) -> anyhow::Result<()> {
    // A browser's textarea sends CRLF line breaks: kept as the line breaks they are.
    let text = text.replace("\r\n", "\n");
    let text = text.trim();
    anyhow::ensure!(!text.is_empty(), "the note is empty");
    let chars = text.chars().count();
    anyhow::ensure!(
        chars <= NOTE_MAX_CHARS,
        "the note has {chars} characters; the limit is {NOTE_MAX_CHARS}"
    );
    policy::reject_unsafe(text, true).map_err(|why| anyhow::anyhow!("the note {why}"))?;
    db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        let kept = store::lead_notes::count(tx, lead.id)?;
        anyhow::ensure!(
            kept < NOTES_PER_LEAD,
            "@{} has {kept} notes, the most a lead keeps",
            safe(&lead.handle)
        );
        store::lead_notes::add(tx, lead.id, actor, text, now)?;
        let detail = format!("{chars} characters");
        store::audit::record_action(tx, actor, "leads.note", Some(lead.id), true, &detail, now)?;
        Ok(())
    })
}

/// Gives the lead's conversation to console user `to` (or back to nobody), audited: a
/// team's way of saying who answers whom. Unless `overriding` (an owner may), a
/// conversation someone else has is neither taken from them nor released for them.
pub fn assign(
    db: &Db,
    actor: &str,
    handle: &str,
    to: Option<&str>,
    overriding: Option<&str>,
    now: Millis,
) -> anyhow::Result<()> {
    db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        let before = store::console::assignee(tx, lead.id)?;
        if before.as_deref() == to {
            return Ok(());
        }
        if let (Some(holder), Some(me)) = (before.as_deref(), overriding) {
            anyhow::ensure!(
                holder == me,
                "@{} is with {}: they release it, or an owner does",
                safe(&lead.handle),
                safe(holder)
            );
        }
        store::console::assign(tx, lead.id, to)?;
        let name = |who: Option<&str>| who.unwrap_or("nobody").to_owned();
        let detail = format!("{} -> {}", name(before.as_deref()), name(to));
        store::audit::record_action(tx, actor, "leads.assign", Some(lead.id), true, &detail, now)?;
        Ok(())
    })
}

/// The lead became a customer; their follow-ups stop. Returns how many were stopped.
pub fn convert(db: &Db, actor: &str, handle: &str, now: Millis) -> anyhow::Result<usize> {
    change_status(db, actor, handle, "leads.convert", now, |_| {
        Ok(LeadStatus::Converted)
    })
}

/// The lead must never be contacted again: queued messages are blocked, follow-ups stop,
/// and the handle stays suppressed even if the lead is forgotten.
pub fn block(
    db: &Db,
    actor: &str,
    handle: &str,
    reason: &str,
    now: Millis,
) -> anyhow::Result<Lead> {
    db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        store::leads::mark_do_not_contact(tx, lead.id, reason, now)?;
        let detail = format!("{} -> do-not-contact: {reason}", lead.status);
        store::audit::record_action(tx, actor, "leads.block", Some(lead.id), true, &detail, now)?;
        Ok(lead)
    })
}

/// Sets the status `decide` picks (never on a do-not-contact lead), stops the lead's
/// follow-ups when converted, and audits it; returns how many sequences were stopped.
fn change_status(
    db: &Db,
    actor: &str,
    handle: &str,
    action: &str,
    now: Millis,
    decide: impl FnOnce(&Lead) -> anyhow::Result<LeadStatus>,
) -> anyhow::Result<usize> {
    db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        anyhow::ensure!(
            !lead.is_do_not_contact(),
            "@{} is do-not-contact",
            safe(&lead.handle)
        );
        let status = decide(&lead)?;
        store::leads::set_status(tx, lead.id, status, now)?;
        let mut stopped = 0;
        if status == LeadStatus::Converted {
            for schedule in store::schedules::for_lead(tx, lead.id)? {
                if schedule.state == "active" {
                    store::schedules::stop(tx, schedule.id, "converted")?;
                    stopped += 1;
                }
            }
        }
        let detail = format!("{} -> {status}", lead.status);
        store::audit::record_action(tx, actor, action, Some(lead.id), true, &detail, now)?;
        Ok(stopped)
    })
}
