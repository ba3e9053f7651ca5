//! What a person does in a conversation: reply by hand, hand a lead back to automation,
//! mark them converted. The same rules as a plugin's send (do-not-contact, the channel's
//! messaging window, message limits, then the outbox and the account's safety rules), and
//! every action audited as the operator's.

use super::App;
use super::data::{OPERATOR, audit_operator};
use super::output::safe;
use crate::consent::policy;
use crate::domain::lead::{Lead, LeadStatus};
use crate::domain::sha256_hex;
use crate::runtime::host::messaging::validate_text;
use crate::store;

/// `outreach conversations reply HANDLE TEXT`: queues `text` for the lead through the outbox.
pub fn reply(app: &App, handle: &str, text: &str) -> anyhow::Result<()> {
    let now = app.now();
    // The refusal is audited, so the transaction commits either way.
    let queued = app
        .db
        .write(|tx| {
            let lead = store::leads::require_handle(tx, handle)?;
            let open = crate::channels::window_open(tx, &lead, now)?;
            let refusal = policy::conversation_open(lead.is_do_not_contact())
                .and_then(|()| policy::window(open))
                .err()
                .map(|refusal| refusal.message())
                .or_else(|| {
                    validate_text(text)
                        .err()
                        .map(|e| crate::runtime::bindings::describe(&e))
                });
            if let Some(why) = refusal {
                audit_operator(tx, "conversations.reply", Some(lead.id), false, &why, now)?;
                return Ok(Err(format!(
                    "cannot reply to @{}: {why}",
                    safe(&lead.handle)
                )));
            }
            // Typed twice on purpose in the same millisecond is the only way to lose one.
            let key = format!(
                "{OPERATOR}:{}:{now}:{}",
                lead.id,
                &sha256_hex(text.as_bytes())[..16]
            );
            store::outbox::enqueue(tx, &key, lead.id, OPERATOR, None, text, now)?;
            audit_operator(
                tx,
                "conversations.reply",
                Some(lead.id),
                true,
                "queued",
                now,
            )?;
            Ok(Ok(lead))
        })?
        .map_err(anyhow::Error::msg)?;
    println!(
        "queued a reply to @{} (sent by the next `outreach run` under the account's safety rules)",
        safe(&queued.handle)
    );
    Ok(())
}

/// `outreach leads resume HANDLE`: a lead handed to a person goes back to automation.
pub fn resume(app: &App, handle: &str) -> anyhow::Result<()> {
    change_status(app, handle, "leads.resume", |lead| {
        anyhow::ensure!(
            lead.status == LeadStatus::NeedsHuman,
            "@{} is not waiting for a person (status {})",
            safe(&lead.handle),
            lead.status
        );
        Ok(LeadStatus::Replied)
    })?;
    println!("@{handle}: automation answers their next message again");
    Ok(())
}

/// `outreach leads convert HANDLE`: the lead became a customer; their follow-ups stop.
pub fn convert(app: &App, handle: &str) -> anyhow::Result<()> {
    let stopped = change_status(app, handle, "leads.convert", |_| Ok(LeadStatus::Converted))?;
    println!("@{handle} converted; {stopped} follow-up sequence(s) stopped");
    Ok(())
}

/// Sets the status `decide` picks (never on a do-not-contact lead), stops the lead's
/// follow-ups when converted, and audits it; returns how many sequences were stopped.
fn change_status(
    app: &App,
    handle: &str,
    action: &str,
    decide: impl FnOnce(&Lead) -> anyhow::Result<LeadStatus>,
) -> anyhow::Result<usize> {
    let now = app.now();
    app.db.write(|tx| {
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
        audit_operator(tx, action, Some(lead.id), true, &detail, now)?;
        Ok(stopped)
    })
}
