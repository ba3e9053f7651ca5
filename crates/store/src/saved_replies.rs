//! Saved replies: a team's answers to what people ask again and again, by name, with the
//! lead's variables (`{first_name|there}`) filled in when a person sends one. Owners keep
//! them; every console user sends them.

use crate::clock::Millis;
use crate::sql::{Conn, OptionalExtension as _, params};

#[derive(Debug, Clone)]
pub struct SavedReply {
    pub id: i64,
    pub name: String,
    pub text: String,
    /// Who saved it last: an actor (`console:ana`).
    pub saved_by: String,
}

/// Saves a reply under `name`, or changes the text of the one saved under it.
pub fn save(conn: &Conn<'_>, name: &str, text: &str, by: &str, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO saved_replies (name, text, saved_by, saved_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET text = excluded.text, saved_by = excluded.saved_by,
           saved_at = excluded.saved_at",
    )?
    .execute(params![name, text, by, at])?;
    Ok(())
}

/// Removes the reply saved as `id`; whether there was one.
pub fn remove(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<String>> {
    let name = get(conn, id)?.map(|reply| reply.name);
    conn.prepare_cached("DELETE FROM saved_replies WHERE id = ?1")?
        .execute([id])?;
    Ok(name)
}

pub fn get(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<SavedReply>> {
    Ok(conn
        .prepare_cached("SELECT id, name, text, saved_by FROM saved_replies WHERE id = ?1")?
        .query_row([id], saved_reply)
        .optional()?)
}

/// Every saved reply, by name.
pub fn all(conn: &Conn<'_>) -> anyhow::Result<Vec<SavedReply>> {
    let mut statement =
        conn.prepare_cached("SELECT id, name, text, saved_by FROM saved_replies ORDER BY name")?;
    Ok(statement
        .query_map([], saved_reply)?
        .collect::<Result<_, _>>()?)
}

/// How many replies are saved.
pub fn count(conn: &Conn<'_>) -> anyhow::Result<u32> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM saved_replies")?
        .query_row([], |r| r.get(0))?)
}

fn saved_reply(r: &crate::sql::Row<'_>) -> crate::sql::Result<SavedReply> {
    Ok(SavedReply {
        id: r.get(0)?,
        name: r.get(1)?,
        text: r.get(2)?,
        saved_by: r.get(3)?,
    })
}
