//! Console users and their sessions.

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::clock::Millis;

pub fn add_user(
    conn: &Connection,
    name: &str,
    password_hash: &str,
    now: Millis,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO console_users (name, password_hash, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
        params![name, password_hash, now],
    )?;
    // A new password ends every session of the old one; once someone has a password,
    // the login links and the sessions they opened (users without one) end too.
    conn.execute(
        "DELETE FROM console_sessions
         WHERE user = ?1 OR user IN (SELECT name FROM console_users WHERE password_hash = '')",
        [name],
    )?;
    conn.execute("DELETE FROM console_login_links", [])?;
    Ok(())
}

pub fn password_hash(conn: &Connection, name: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM console_users WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Whether some console user can log in with a password (a user made for a one-time
/// login link has none).
pub fn has_password_users(conn: &Connection) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM console_users WHERE password_hash != '' LIMIT 1")?
        .exists([])?)
}

/// A one-time login link for `user` (created without a password if new); earlier links
/// stop working.
pub fn add_login_link(
    conn: &Connection,
    token_sha256: &str,
    user: &str,
    now: Millis,
    expires_at: Millis,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO console_users (name, password_hash, created_at) VALUES (?1, '', ?2)
         ON CONFLICT DO NOTHING",
        params![user, now],
    )?;
    conn.execute("DELETE FROM console_login_links", [])?;
    conn.execute(
        "INSERT INTO console_login_links (token_sha256, user, expires_at) VALUES (?1, ?2, ?3)",
        params![token_sha256, user, expires_at],
    )?;
    Ok(())
}

/// The user a login link is for, if it is valid at `now`; the link is used up either way.
pub fn take_login_link(
    conn: &Connection,
    token_sha256: &str,
    now: Millis,
) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM console_login_links WHERE token_sha256 = ?1 RETURNING user, expires_at",
        )?
        .query_row([token_sha256], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Millis>(1)?))
        })
        .optional()?
        .filter(|(_, expires_at)| *expires_at > now)
        .map(|(user, _)| user))
}

pub fn start_session(
    conn: &Connection,
    token_sha256: &str,
    user: &str,
    csrf: &str,
    expires_at: Millis,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO console_sessions (token_sha256, user, csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![token_sha256, user, csrf, expires_at])?;
    Ok(())
}

/// The user and CSRF token of a session still valid at `now`.
pub fn session(
    conn: &Connection,
    token_sha256: &str,
    now: Millis,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT user, csrf FROM console_sessions WHERE token_sha256 = ?1 AND expires_at > ?2",
        )?
        .query_row(params![token_sha256, now], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn end_session(conn: &Connection, token_sha256: &str, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "DELETE FROM console_sessions WHERE token_sha256 = ?1 OR expires_at <= ?2",
    )?
    .execute(params![token_sha256, now])?;
    Ok(())
}

/// One line of the inbox: a lead with their newest message.
pub struct InboxRow {
    pub handle: String,
    pub name: Option<String>,
    pub status: String,
    pub last_at: Option<Millis>,
    pub last_text: Option<String>,
}

/// Conversations newest first, the leads waiting for a person on top. Two index walks
/// (the partial index of leads waiting for a person, then last contact), so its cost
/// follows `limit`, not the number of leads. (`INDEXED BY`: SQLite's statistics would
/// rather sort every waiting lead, and this fails loudly if the index goes missing.)
pub fn inbox(conn: &Connection, limit: u32) -> anyhow::Result<Vec<InboxRow>> {
    const COLUMNS: &str = "l.handle, l.name, l.status,
        max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0)),
        (SELECT text FROM messages m WHERE m.lead_id = l.id ORDER BY m.at DESC, m.id DESC LIMIT 1)";
    let waiting = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM leads l INDEXED BY leads_needing_a_person
         WHERE l.status = 'needs-human'
         ORDER BY max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0)) DESC
         LIMIT ?1"
        ))?
        .query_map([limit], inbox_row)?
        .collect::<Result<Vec<_>, _>>()?;
    let rest = limit.saturating_sub(waiting.len() as u32);
    let recent = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM leads l
         WHERE max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0)) > 0
           AND l.status != 'needs-human'
         ORDER BY max(coalesce(l.last_inbound_at, 0), coalesce(l.last_outbound_at, 0)) DESC
         LIMIT ?1"
        ))?
        .query_map([rest], inbox_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(waiting.into_iter().chain(recent).collect())
}

fn inbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<InboxRow> {
    Ok(InboxRow {
        handle: r.get(0)?,
        name: r.get(1)?,
        status: r.get(2)?,
        last_at: r.get::<_, Option<Millis>>(3)?.filter(|&at| at > 0),
        last_text: r.get(4)?,
    })
}
