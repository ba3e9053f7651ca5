//! The outbox: every message the host decided to send, keyed for idempotency, waiting for the
//! channel worker to deliver it under the account's safety rules.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock::Millis;

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: i64,
    pub lead_id: i64,
    pub plugin: String,
    pub text: String,
    pub status: String,
    pub not_before: Millis,
    pub sent_at: Option<Millis>,
    pub detail: Option<String>,
    /// Set when the last send's outcome is unknown (see [`mark_attempted`]).
    pub attempted_at: Option<Millis>,
}

/// Queues a message unless one with the same key exists; returns whether it was queued.
pub fn enqueue(
    conn: &Connection,
    key: &str,
    lead_id: i64,
    plugin: &str,
    event_id: i64,
    text: &str,
    now: Millis,
) -> anyhow::Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO outbox
               (idempotency_key, account_id, lead_id, plugin, event_id, text, created_at, not_before)
             VALUES (?1, (SELECT account_id FROM leads WHERE id = ?2), ?2, ?3, ?4, ?5, ?6, ?6)",
        )?
        .execute(params![key, lead_id, plugin, event_id, text, now])?;
    Ok(inserted == 1)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        lead_id: r.get(1)?,
        plugin: r.get(2)?,
        text: r.get(3)?,
        status: r.get(4)?,
        not_before: r.get(5)?,
        sent_at: r.get(6)?,
        detail: r.get(7)?,
        account_id: r.get(8)?,
        attempted_at: r.get(9)?,
    })
}

const COLUMNS: &str =
    "id, lead_id, plugin, text, status, not_before, sent_at, detail, account_id, attempted_at";

/// Queued messages that may go out now, oldest first.
pub fn due(conn: &Connection, now: Millis) -> anyhow::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE status = 'queued' AND not_before <= ?1 ORDER BY id"
    ))?;
    Ok(stmt.query_map([now], row)?.collect::<Result<_, _>>()?)
}

pub fn for_lead(conn: &Connection, lead_id: i64) -> anyhow::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE lead_id = ?1 ORDER BY id"
    ))?;
    Ok(stmt.query_map([lead_id], row)?.collect::<Result<_, _>>()?)
}

pub fn mark_sent(conn: &Connection, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE outbox SET status = 'sent', sent_at = ?2 WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

pub fn block(conn: &Connection, id: i64, reason: &str) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE outbox SET status = 'blocked', detail = ?2 WHERE id = ?1")?
        .execute(params![id, reason])?;
    Ok(())
}

/// Holds back an account's queued messages until `until` (it may not send before then).
pub fn defer_account(
    conn: &Connection,
    account: i64,
    until: Millis,
    reason: &str,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET not_before = ?2, detail = ?3
         WHERE account_id = ?1 AND status = 'queued' AND not_before < ?2",
    )?
    .execute(params![account, until, reason])?;
    Ok(())
}

/// Holds back one message until `until`.
pub fn defer(conn: &Connection, id: i64, until: Millis, reason: &str) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE outbox SET not_before = ?2, detail = ?3 WHERE id = ?1")?
        .execute(params![id, until, reason])?;
    Ok(())
}

/// Records that a send went out with no answer: its outcome must be reconciled before the
/// message is ever sent again.
pub fn mark_attempted(conn: &Connection, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE outbox SET attempted_at = coalesce(attempted_at, ?2), detail = 'outcome unknown, to be reconciled' WHERE id = ?1")?
        .execute(params![id, at])?;
    Ok(())
}

/// How many messages an account sent (or may have sent) in `[from, to)`.
pub fn sent_between(
    conn: &Connection,
    account: i64,
    from: Millis,
    to: Millis,
) -> anyhow::Result<u32> {
    Ok(conn
        .prepare_cached(
            // An attempt with an unknown outcome may have arrived: it counts until reconciled.
            "SELECT count(*) FROM outbox WHERE account_id = ?1 AND (
               (status = 'sent' AND sent_at >= ?2 AND sent_at < ?3)
               OR (status = 'queued' AND attempted_at >= ?2 AND attempted_at < ?3))",
        )?
        .query_row(params![account, from, to], |r| r.get(0))?)
}

pub fn queued_count(conn: &Connection) -> anyhow::Result<u32> {
    Ok(conn.query_row(
        "SELECT count(*) FROM outbox WHERE status = 'queued'",
        [],
        |r| r.get(0),
    )?)
}
