//! Do-not-contact and erasure: what opting out withdraws, what forgetting a lead deletes,
//! and the hash that keeps a forgotten opted-out handle unreachable.

use crate::sql::{Conn, OptionalExtension, params};

use crate::clock::Millis;
use crate::domain::lead::{Lead, LeadStatus};

/// Marks a lead do-not-contact and withdraws everything automation had planned for them.
pub fn mark_do_not_contact(
    conn: &Conn<'_>,
    id: i64,
    reason: &str,
    now: Millis,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE leads SET status = 'do-not-contact', dnc_reason = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, reason, now],
    )?;
    withdraw_automation(conn, id, "lead is do-not-contact", false)
}

/// Hands a lead to a person: needs-human (never over do-not-contact), and every queued
/// automated message and follow-up withdrawn, so no plugin talks over them until someone
/// hands them back.
pub fn hand_to_person(conn: &Conn<'_>, id: i64, reason: &str, now: Millis) -> anyhow::Result<()> {
    super::set_status(conn, id, LeadStatus::NeedsHuman, now)?;
    withdraw_automation(conn, id, reason, false)
}

/// Stops a lead's follow-up sequences and blocks their queued messages: all of them, or
/// with `follow_ups_only` just the queued follow-up steps (a reply still goes out when the
/// lead writes in while a follow-up waits for quiet hours to end).
pub fn withdraw_automation(
    conn: &Conn<'_>,
    id: i64,
    reason: &str,
    follow_ups_only: bool,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE outbox SET status = 'blocked', detail = 'withdrawn: ' || ?2
         WHERE lead_id = ?1 AND status = 'queued'
           AND (?3 = 0 OR EXISTS (SELECT 1 FROM events
                                  WHERE events.id = outbox.event_id AND kind = 'follow-up'))",
        params![id, reason, follow_ups_only],
    )?;
    conn.execute(
        "UPDATE schedules SET state = 'stopped', reason = ?2 WHERE lead_id = ?1 AND state = 'active'",
        params![id, reason],
    )?;
    Ok(())
}

/// Erases a lead and everything keyed to them: messages, outbox rows, events, schedules and
/// plugin storage under `lead/<id>/`. Audit rows stay (the record of processing) but lose
/// the reference to the lead. A lead who had opted out leaves a hash of their handle
/// behind, so importing them again cannot make them reachable.
pub fn forget(conn: &Conn<'_>, lead: &Lead, now: Millis) -> anyhow::Result<()> {
    if lead.is_do_not_contact() {
        suppress(conn, &lead.handle, now)?;
    }
    // Every key under `lead/<id>/`, as a range on each plugin's keys (a LIKE would read
    // every plugin's every key).
    conn.execute(
        "DELETE FROM plugin_kv
         WHERE plugin IN (SELECT name FROM plugins) AND key >= ?1 AND key < ?2",
        [format!("lead/{}/", lead.id), format!("lead/{}0", lead.id)],
    )?;
    conn.execute(
        "UPDATE audit SET lead_id = NULL WHERE lead_id = ?1",
        [lead.id],
    )?;
    // Messages, fields, tags, outbox rows, events and schedules go by ON DELETE CASCADE.
    conn.execute("DELETE FROM leads WHERE id = ?1", [lead.id])?;
    Ok(())
}

/// Keeps an opted-out handle on the suppression list (as a hash) for when the lead is gone.
pub fn suppress(conn: &Conn<'_>, handle: &str, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO suppressed_handles (handle_sha256, at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![handle_hash(handle), now])?;
    Ok(())
}

fn handle_hash(handle: &str) -> String {
    crate::domain::sha256_hex(handle.as_bytes())
}

/// A new lead whose handle was forgotten after an opt-out starts as do-not-contact.
pub(super) fn keep_suppressed(
    conn: &Conn<'_>,
    id: i64,
    handle: &str,
    now: Millis,
) -> anyhow::Result<()> {
    let suppressed = conn
        .prepare_cached("SELECT 1 FROM suppressed_handles WHERE handle_sha256 = ?1")?
        .query_row([handle_hash(handle)], |_| Ok(()))
        .optional()?
        .is_some();
    if suppressed {
        mark_do_not_contact(conn, id, "opted out before (suppression list)", now)?;
    }
    Ok(())
}
