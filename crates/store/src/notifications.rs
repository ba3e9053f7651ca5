//! Notifications that a lead needs a person, queued in the transaction that hands the lead
//! over, for the accounts that want them, and sent with retries (the engine's
//! `notify_due`). Only the reason is kept, and only until the notification is sent or given
//! up on: what one says is composed when it is sent, from the lead as they are then.

use crate::sql::{Conn, params};

use crate::clock::Millis;

/// A notification waiting to be sent.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub account_id: i64,
    pub lead_id: i64,
    pub reason: String,
    /// How many sends failed before.
    pub attempts: u32,
    pub created_at: Millis,
}

impl Notification {
    /// What names it to the receiver across retries (`Idempotency-Key`): never another's,
    /// though SQLite may give a later row the id of a deleted one.
    pub fn key(&self) -> String {
        format!("notification-{}-{}", self.created_at, self.id)
    }
}

/// Queues a notification that lead `lead_id` needs a person, if their account has a
/// notification URL; returns whether it did.
pub fn queue_if_wanted(
    conn: &Conn<'_>,
    lead_id: i64,
    reason: &str,
    now: Millis,
) -> anyhow::Result<bool> {
    let Some(lead) = crate::leads::get(conn, lead_id)? else {
        return Ok(false);
    };
    let wanted = crate::accounts::notify_url(conn, lead.account_id)?.is_some();
    if wanted {
        conn.prepare_cached(
            "INSERT INTO notifications (account_id, lead_id, reason, next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
        )?
        .run(params![lead.account_id, lead_id, reason, now])?;
    }
    Ok(wanted)
}

/// Up to `limit` notifications due at `now`, oldest first.
pub fn due(conn: &Conn<'_>, now: Millis, limit: u32) -> anyhow::Result<Vec<Notification>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account_id, lead_id, reason, attempts, created_at FROM notifications
         WHERE status = 'queued' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    Ok(stmt
        .query_map(params![now, limit], |r| {
            Ok(Notification {
                id: r.get(0)?,
                account_id: r.get(1)?,
                lead_id: r.get(2)?,
                reason: r.get(3)?,
                attempts: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// A notification that went out, or was given up on: nothing of it is kept (its reason
/// may quote the lead).
pub fn done(conn: &Conn<'_>, id: i64) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM notifications WHERE id = ?1")?
        .run([id])?;
    Ok(())
}

/// Records a failed send, to be tried again at `retry_at`.
pub fn retry_at(conn: &Conn<'_>, id: i64, retry_at: Millis, detail: &str) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE notifications SET attempts = attempts + 1, detail = ?3, next_attempt_at = ?2
         WHERE id = ?1",
    )?
    .run(params![id, retry_at, detail])?;
    Ok(())
}
