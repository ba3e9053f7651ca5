//! Follow-up sequences: one row per plugin and lead, with the next step's due time.

use crate::sql::{Conn, OptionalExtension, params};
use serde::Serialize;

use crate::clock::Millis;

#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: i64,
    pub plugin: String,
    pub lead_id: i64,
    pub step: u32,
    pub started_at: Millis,
    pub due_at: Millis,
    pub state: String,
    pub reason: Option<String>,
}

const COLUMNS: &str = "id, plugin, lead_id, step, started_at, due_at, state, reason";

fn row(r: &crate::sql::Row<'_>) -> crate::sql::Result<Schedule> {
    Ok(Schedule {
        id: r.get(0)?,
        plugin: r.get(1)?,
        lead_id: r.get(2)?,
        step: r.get(3)?,
        started_at: r.get(4)?,
        due_at: r.get(5)?,
        state: r.get(6)?,
        reason: r.get(7)?,
    })
}

/// Starts a plugin's sequence for a lead, due now; a sequence that exists is left alone.
pub fn start(conn: &Conn<'_>, plugin: &str, lead_id: i64, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO schedules (plugin, lead_id, started_at, due_at) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT DO NOTHING",
    )?
    .run(params![plugin, lead_id, now])?;
    Ok(())
}

/// Up to `limit` active steps due by `now` and not yet waiting in an event, earliest first.
pub fn due(conn: &Conn<'_>, now: Millis, limit: u32) -> anyhow::Result<Vec<Schedule>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM schedules
         WHERE state = 'active' AND pending_event IS NULL AND due_at <= ?1
         ORDER BY due_at LIMIT ?2"
    ))?;
    Ok(stmt
        .query_map(params![now, limit], row)?
        .collect::<Result<_, _>>()?)
}

/// Records that the step due now waits in `event`, so it is not offered again.
pub fn mark_pending(conn: &Conn<'_>, id: i64, event: i64) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE schedules SET pending_event = ?2 WHERE id = ?1")?
        .run(params![id, event])?;
    Ok(())
}

/// The event is handled: a step it left untouched is due again (every change below clears
/// the mark too).
pub fn clear_pending(conn: &Conn<'_>, event: i64) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE schedules SET pending_event = NULL WHERE pending_event = ?1")?
        .run([event])?;
    Ok(())
}

pub fn get(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Schedule>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM schedules WHERE id = ?1"))?
        .query_row([id], row)
        .optional()?)
}

pub fn for_lead(conn: &Conn<'_>, lead_id: i64) -> anyhow::Result<Vec<Schedule>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM schedules WHERE lead_id = ?1 ORDER BY id"
    ))?;
    Ok(stmt.query_map([lead_id], row)?.collect::<Result<_, _>>()?)
}

/// Moves from step `from` to the next, due at `next` (or ends the sequence when `None`).
/// A sequence no longer at `from` is left alone.
pub fn advance(conn: &Conn<'_>, id: i64, from: u32, next: Option<Millis>) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE schedules SET step = step + 1, due_at = coalesce(?3, due_at), pending_event = NULL,
           state = CASE WHEN ?3 IS NULL THEN 'done' ELSE state END,
           reason = CASE WHEN ?3 IS NULL THEN 'sequence complete' ELSE reason END
         WHERE id = ?1 AND step = ?2 AND state = 'active'",
    )?
    .run(params![id, from, next])?;
    Ok(())
}

pub fn postpone(conn: &Conn<'_>, id: i64, due: Millis) -> anyhow::Result<()> {
    conn.run(
        "UPDATE schedules SET due_at = ?2, pending_event = NULL WHERE id = ?1",
        params![id, due],
    )?;
    Ok(())
}

pub fn stop(conn: &Conn<'_>, id: i64, reason: &str) -> anyhow::Result<()> {
    conn.run(
        "UPDATE schedules SET state = 'stopped', reason = ?2 WHERE id = ?1 AND state = 'active'",
        params![id, reason],
    )?;
    Ok(())
}
