//! Console users and their sessions.

use crate::sql::{Conn, OptionalExtension as _, params};
use anyhow::Context as _;

use crate::clock::Millis;
use crate::domain::console_access::{Access, Role};

pub fn add_user(
    conn: &Conn<'_>,
    name: &str,
    password_hash: &str,
    now: Millis,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO console_users (name, password_hash, created_at, unread_after)
         VALUES (?1, ?2, ?3, (SELECT coalesce(max(id), 0) FROM messages))
         ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash",
        params![name, password_hash, now],
    )?;
    // A new password ends every session of the old one; once someone has a password,
    // the login links and the sessions they opened (users without one) end too.
    conn.execute(
        "DELETE FROM console_sessions
         WHERE \"user\" = ?1 OR \"user\" IN (SELECT name FROM console_users WHERE password_hash = '')",
        [name],
    )?;
    conn.execute("DELETE FROM console_login_links", [])?;
    Ok(())
}

pub fn password_hash(conn: &Conn<'_>, name: &str) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM console_users WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Whether some console user can log in with a password (a user made for a one-time
/// login link has none).
pub fn has_password_users(conn: &Conn<'_>) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM console_users WHERE password_hash != '' LIMIT 1")?
        .exists([])?)
}

/// A one-time login link for `user` (created without a password if new); earlier links
/// stop working.
pub fn add_login_link(
    conn: &Conn<'_>,
    token_sha256: &str,
    user: &str,
    now: Millis,
    expires_at: Millis,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO console_users (name, password_hash, created_at, unread_after)
         VALUES (?1, '', ?2, (SELECT coalesce(max(id), 0) FROM messages))
         ON CONFLICT DO NOTHING",
        params![user, now],
    )?;
    conn.execute("DELETE FROM console_login_links", [])?;
    conn.execute(
        "INSERT INTO console_login_links (token_sha256, \"user\", expires_at) VALUES (?1, ?2, ?3)",
        params![token_sha256, user, expires_at],
    )?;
    Ok(())
}

/// The user a login link is for, if it is valid at `now`; the link is used up either way.
pub fn take_login_link(
    conn: &Conn<'_>,
    token_sha256: &str,
    now: Millis,
) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM console_login_links WHERE token_sha256 = ?1 RETURNING \"user\", expires_at",
        )?
        .query_row([token_sha256], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Millis>(1)?))
        })
        .optional()?
        .filter(|(_, expires_at)| *expires_at > now)
        .map(|(user, _)| user))
}

pub fn start_session(
    conn: &Conn<'_>,
    token_sha256: &str,
    user: &str,
    csrf: &str,
    expires_at: Millis,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO console_sessions (token_sha256, \"user\", csrf, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![token_sha256, user, csrf, expires_at])?;
    Ok(())
}

/// A session still valid: whose it is, its CSRF token and what its user may reach.
pub struct SessionRow {
    pub user: String,
    pub csrf: String,
    pub access: Access,
    /// Messages up to this id were there before the user was: none is new to them.
    pub unread_after: i64,
}

/// The session of `token_sha256` if it is still valid at `now`, with its user's access as
/// it is now (a role or accounts changed apply from the next request).
pub fn session(
    conn: &Conn<'_>,
    token_sha256: &str,
    now: Millis,
) -> anyhow::Result<Option<SessionRow>> {
    let found = conn
        .prepare_cached(
            "SELECT s.\"user\", s.csrf, u.role, u.unread_after FROM console_sessions s
             JOIN console_users u ON u.name = s.\"user\"
             WHERE s.token_sha256 = ?1 AND s.expires_at > ?2",
        )?
        .query_row(params![token_sha256, now], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get::<_, String>(2)?,
                r.get(3)?,
            ))
        })
        .optional()?;
    let Some((user, csrf, role, unread_after)) = found else {
        return Ok(None);
    };
    let access = access(conn, &user, &role)?;
    Ok(Some(SessionRow {
        user,
        csrf,
        access,
        unread_after,
    }))
}

/// What `user` may reach; `None` when there is no such user.
pub fn user_access(conn: &Conn<'_>, user: &str) -> anyhow::Result<Option<Access>> {
    let role: Option<String> = conn
        .prepare_cached("SELECT role FROM console_users WHERE name = ?1")?
        .query_row([user], |r| r.get(0))
        .optional()?;
    role.map(|role| access(conn, user, &role)).transpose()
}

fn access(conn: &Conn<'_>, user: &str, role: &str) -> anyhow::Result<Access> {
    let role = parse_role(user, role)?;
    let accounts = conn
        .prepare_cached("SELECT account_id FROM console_user_accounts WHERE \"user\" = ?1")?
        .query_map([user], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(Access { role, accounts })
}

fn parse_role(user: &str, role: &str) -> anyhow::Result<Role> {
    Role::parse(role).with_context(|| format!("console user {user} has role {role:?}"))
}

/// One console user as `console user list` shows them.
pub struct UserRow {
    pub name: String,
    pub role: Role,
    /// The names of an agent's accounts.
    pub accounts: Vec<String>,
    pub has_password: bool,
}

pub fn users(conn: &Conn<'_>) -> anyhow::Result<Vec<UserRow>> {
    let rows: Vec<(String, String, bool)> = conn
        .prepare("SELECT name, role, password_hash != '' FROM console_users ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(name, role, has_password)| {
            let accounts = conn
                .prepare_cached(
                    "SELECT a.name FROM console_user_accounts u JOIN accounts a ON a.id = u.account_id
                     WHERE u.\"user\" = ?1 ORDER BY a.name",
                )?
                .query_map([&name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(UserRow {
                role: parse_role(&name, &role)?,
                name,
                accounts,
                has_password,
            })
        })
        .collect()
}

/// Sets what an existing `user` may reach: their role and, for an agent, the accounts (an
/// owner's list is cleared).
pub fn set_access(conn: &Conn<'_>, user: &str, role: Role, accounts: &[i64]) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE console_users SET role = ?2 WHERE name = ?1",
        params![user, role.as_str()],
    )?;
    conn.execute(
        "DELETE FROM console_user_accounts WHERE \"user\" = ?1",
        [user],
    )?;
    if role == Role::Agent {
        for account in accounts {
            conn.execute(
                "INSERT INTO console_user_accounts (\"user\", account_id) VALUES (?1, ?2)",
                params![user, account],
            )?;
        }
        // The conversations of accounts they no longer have go back to the team.
        conn.execute(
            "UPDATE leads SET assigned_to = NULL WHERE assigned_to = ?1 AND account_id NOT IN
               (SELECT account_id FROM console_user_accounts WHERE \"user\" = ?1)",
            [user],
        )?;
    }
    Ok(())
}

/// Removes a console user; their sessions end with them. Returns `false` when there was none.
pub fn remove_user(conn: &Conn<'_>, user: &str) -> anyhow::Result<bool> {
    // Their conversations go back to the team: no one else inherits them by the name.
    conn.execute(
        "UPDATE leads SET assigned_to = NULL WHERE assigned_to = ?1",
        [user],
    )?;
    Ok(conn.execute("DELETE FROM console_users WHERE name = ?1", [user])? == 1)
}

pub fn end_session(conn: &Conn<'_>, token_sha256: &str, now: Millis) -> anyhow::Result<()> {
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
    /// The console user the conversation is with.
    pub assigned_to: Option<String>,
    /// Messages from the lead the reader has not seen, up to [`UNREAD_COUNTED`].
    pub unread: u32,
}

/// Unread messages are counted up to this many per conversation ("99+"), so a lead who
/// wrote a thousand times costs no more than one who wrote a hundred.
pub const UNREAD_COUNTED: u32 = 100;

/// Whose conversations the inbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assigned<'a> {
    /// Everyone's, and nobody's.
    Anyone,
    /// Those with this console user.
    To(&'a str),
    /// Those with nobody yet.
    Nobody,
}

/// What the inbox shows, and to whom.
#[derive(Debug, Clone, Copy)]
pub struct InboxQuery<'a> {
    /// The console user reading it: the unread counts are theirs.
    pub reader: &'a str,
    /// Messages up to this id are not new to the reader (they were added after them).
    pub unread_after: i64,
    pub limit: u32,
    /// Only these accounts' leads (an agent's); `None`: all.
    pub within_accounts: Option<&'a [i64]>,
    pub assigned: Assigned<'a>,
    /// Only conversations whose handle, name or any message holds this text (any case).
    pub search: Option<&'a str>,
}

/// The console user lead `lead_id`'s conversation is with, if anyone.
pub fn assignee(conn: &Conn<'_>, lead_id: i64) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT assigned_to FROM leads WHERE id = ?1")?
        .query_row([lead_id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Gives lead `lead_id`'s conversation to console user `to`, or to nobody.
pub fn assign(conn: &Conn<'_>, lead_id: i64, to: Option<&str>) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE leads SET assigned_to = ?2 WHERE id = ?1")?
        .execute(params![lead_id, to])?;
    Ok(())
}

/// The newest message of lead `lead_id` console user `user` has been shown, if any.
pub fn last_read(conn: &Conn<'_>, user: &str, lead_id: i64) -> anyhow::Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT last_read_id FROM lead_reads WHERE user_name = ?1 AND lead_id = ?2",
        )?
        .query_row(params![user, lead_id], |r| r.get(0))
        .optional()?)
}

/// Console user `user` has been shown lead `lead_id`'s conversation up to message
/// `message_id` (never back: an older page open in another tab unreads nothing).
pub fn mark_read(conn: &Conn<'_>, user: &str, lead_id: i64, message_id: i64) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO lead_reads (user_name, lead_id, last_read_id) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_name, lead_id) DO UPDATE SET last_read_id = excluded.last_read_id
         WHERE excluded.last_read_id > lead_reads.last_read_id",
    )?
    .execute(params![user, lead_id, message_id])?;
    Ok(())
}

/// The leads waiting for a person (within `within_accounts`, `None`: all), newest first:
/// handle and name. A walk of the partial index of waiting leads.
pub fn waiting(
    conn: &Conn<'_>,
    limit: u32,
    within_accounts: Option<&[i64]>,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let scope = within_accounts
        .map(|accounts| {
            format!(
                "AND {}",
                crate::conditions::one_of("l.account_id", accounts)
            )
        })
        .unwrap_or_default();
    let last = conn.greatest(
        "coalesce(l.last_inbound_at, 0)",
        "coalesce(l.last_outbound_at, 0)",
    );
    let mut statement = conn.prepare_cached(&format!(
        "SELECT l.handle, l.name FROM leads l {}
         WHERE l.status = 'needs-human' {scope}
         ORDER BY {last} DESC
         LIMIT ?1",
        conn.indexed_by("leads_needing_a_person")
    ))?;
    let rows = statement.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Conversations newest first, the leads waiting for a person on top. Two index walks
/// (the partial index of leads waiting for a person, then last contact), so its cost
/// follows `limit`, not the number of leads. A search walks the same way, testing each
/// conversation's messages until `limit` match: one that few match reads every message
/// once. (`INDEXED BY`: SQLite's statistics would rather sort every waiting lead, and this
/// fails loudly if the index goes missing.)
pub fn inbox(conn: &Conn<'_>, query: &InboxQuery<'_>) -> anyhow::Result<Vec<InboxRow>> {
    let mut conditions = crate::conditions::Conditions::default();
    let reader = conditions.then(&query.reader);
    let unread_after = conditions.then(&query.unread_after);
    if let Some(accounts) = query.within_accounts {
        conditions.fixed(&crate::conditions::one_of("l.account_id", accounts));
    }
    // One statement per filter, so each is planned for what it asks: a user's own reads the
    // index of assignees, not every lead's last contact.
    match &query.assigned {
        Assigned::Anyone => {}
        Assigned::To(name) => conditions.bind("l.assigned_to = ?", name),
        Assigned::Nobody => conditions.fixed("l.assigned_to IS NULL"),
    }
    let pattern = query.search.map(crate::conditions::containing);
    if let Some(pattern) = &pattern {
        let like = conn.like_ignoring_case();
        conditions.bind(
            &format!(
                "(l.handle {like} ? ESCAPE '\\' OR l.name {like} ? ESCAPE '\\'
                  OR EXISTS (SELECT 1 FROM messages m WHERE m.lead_id = l.id AND m.text {like} ? ESCAPE '\\'))"
            ),
            pattern,
        );
    }
    let last = conn.greatest(
        "coalesce(l.last_inbound_at, 0)",
        "coalesce(l.last_outbound_at, 0)",
    );
    let columns = format!(
        "l.handle, l.name, l.status, {last},
        (SELECT text FROM messages m WHERE m.lead_id = l.id ORDER BY m.at DESC, m.id DESC LIMIT 1),
        l.assigned_to,
        (SELECT count(*) FROM (
            SELECT 1 FROM messages m
            WHERE m.lead_id = l.id AND m.direction = 'inbound'
              AND m.id > coalesce((SELECT r.last_read_id FROM lead_reads r WHERE r.user_name = {reader} AND r.lead_id = l.id), {unread_after})
            LIMIT {UNREAD_COUNTED}) AS unread)"
    );
    let filters = conditions.and_clause();
    // The limit is the last value: the second walk asks only for what the first left.
    let limit = conditions.then(&query.limit);
    let rows = |sql: &str, limit: &u32| -> anyhow::Result<Vec<InboxRow>> {
        let mut values = conditions.values().to_vec();
        *values.last_mut().expect("the limit") = limit;
        let mut statement = conn.prepare_cached(sql)?;
        let rows = statement.query_map(values.as_slice(), inbox_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    };
    let mut shown = rows(
        &format!(
            "SELECT {columns} FROM leads l {}
             WHERE l.status = 'needs-human' {filters}
             ORDER BY {last} DESC
             LIMIT {limit}",
            conn.indexed_by("leads_needing_a_person")
        ),
        &query.limit,
    )?;
    let rest = query.limit.saturating_sub(shown.len() as u32);
    if rest > 0 {
        shown.extend(rows(
            &format!(
                "SELECT {columns} FROM leads l
                 WHERE {last} > 0
                   AND l.status != 'needs-human' {filters}
                 ORDER BY {last} DESC
                 LIMIT {limit}"
            ),
            &rest,
        )?);
    }
    Ok(shown)
}

fn inbox_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<InboxRow> {
    Ok(InboxRow {
        handle: r.get(0)?,
        name: r.get(1)?,
        status: r.get(2)?,
        last_at: r.get::<_, Option<Millis>>(3)?.filter(|&at| at > 0),
        last_text: r.get(4)?,
        assigned_to: r.get(5)?,
        unread: r.get(6)?,
    })
}
