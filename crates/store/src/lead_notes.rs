//! Internal notes on a lead: a team's own words about them, never sent, never shown to a
//! plugin, kept in the person's export and erased with the lead.

use serde::Serialize;

use crate::clock::Millis;
use crate::sql::{Conn, params};

#[derive(Debug, Clone, Serialize)]
pub struct Note {
    /// Who wrote it: an actor (`console:ana`, `operator:cli`).
    pub author: String,
    pub text: String,
    pub created_at: Millis,
}

pub fn add(
    conn: &Conn<'_>,
    lead_id: i64,
    author: &str,
    text: &str,
    at: Millis,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO lead_notes (lead_id, author, text, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![lead_id, author, text, at])?;
    Ok(())
}

/// How many notes the lead has.
pub fn count(conn: &Conn<'_>, lead_id: i64) -> anyhow::Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM lead_notes WHERE lead_id = ?1")?
        .query_row([lead_id], |r| r.get(0))?)
}

/// The lead's notes, oldest first.
pub fn for_lead(conn: &Conn<'_>, lead_id: i64) -> anyhow::Result<Vec<Note>> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, text, created_at FROM lead_notes WHERE lead_id = ?1 ORDER BY id",
    )?;
    Ok(stmt
        .query_map([lead_id], |r| {
            Ok(Note {
                author: r.get(0)?,
                text: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}
