//! Leads a channel knows before we do: created when they write in, by handle or by their id
//! on the channel (a stand-in handle until their profile is looked up).

use crate::sql::{Conn, OptionalExtension, params};
use anyhow::Context as _;

use super::opt_out::{keep_suppressed, mark_do_not_contact};
use super::{by_handle, get};
use crate::clock::Millis;
use crate::domain::lead::Lead;

/// A lead that wrote to `account` before we knew them, by handle.
pub fn get_or_create(
    conn: &Conn<'_>,
    account: i64,
    handle: &str,
    now: Millis,
) -> anyhow::Result<Lead> {
    let created: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO leads (handle, created_at, updated_at, account_id) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT DO NOTHING RETURNING id",
        )?
        .query_row(params![handle, now, account], |row| row.get(0))
        .optional()?;
    if let Some(id) = created {
        keep_suppressed(conn, id, handle, now)?;
    }
    by_handle(conn, handle)?.context("lead vanished while being created")
}

/// A lead known only by their id on the channel (Instagram tells us the IGSID, not the
/// handle). A new one gets the stand-in handle `ig_<id>` until the handle is known.
pub fn get_or_create_by_channel_user(
    conn: &Conn<'_>,
    account: i64,
    channel_user_id: &str,
    now: Millis,
) -> anyhow::Result<Lead> {
    let id = match by_channel_user(conn, account, channel_user_id)? {
        Some(lead) => return Ok(lead),
        None => {
            let handle = format!("ig_{channel_user_id}");
            let lead = get_or_create(conn, account, &handle, now)?;
            conn.execute(
                "UPDATE leads SET channel_user_id = ?2 WHERE id = ?1",
                params![lead.id, channel_user_id],
            )?;
            lead.id
        }
    };
    get(conn, id)?.context("lead vanished while being created")
}

/// The lead of `account` with the channel's id `channel_user_id`, if there is one.
fn by_channel_user(
    conn: &Conn<'_>,
    account: i64,
    channel_user_id: &str,
) -> anyhow::Result<Option<Lead>> {
    let known: Option<i64> = conn
        .prepare_cached("SELECT id FROM leads WHERE account_id = ?1 AND channel_user_id = ?2")?
        .query_row(params![account, channel_user_id], |r| r.get(0))
        .optional()?;
    known
        .map(|id| get(conn, id))
        .transpose()
        .map(Option::flatten)
}

/// Leads known only by a stand-in handle (`ig_<id>`) whose profile was not asked for since
/// `asked_before`: (lead, account, channel user id).
pub fn awaiting_profile(
    conn: &Conn<'_>,
    asked_before: Millis,
) -> anyhow::Result<Vec<(i64, i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account_id, channel_user_id FROM leads
         WHERE channel_user_id IS NOT NULL AND handle = 'ig_' || channel_user_id
           AND coalesce(profile_asked_at, 0) < ?1
         ORDER BY id LIMIT 50",
    )?;
    Ok(stmt
        .query_map([asked_before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?)
}

pub fn mark_profile_asked(conn: &Conn<'_>, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE leads SET profile_asked_at = ?2 WHERE id = ?1",
        params![id, at],
    )?;
    Ok(())
}

/// Gives a lead their real handle and, if they have none, a name; returns whether the
/// handle changed. A handle another lead has stays with that lead, but if that lead (or a
/// forgotten one with this handle) opted out, this one is do-not-contact too: opting out
/// holds for the person, whichever id they write from.
pub fn set_profile(
    conn: &Conn<'_>,
    id: i64,
    handle: Option<&str>,
    name: Option<&str>,
    now: Millis,
) -> anyhow::Result<bool> {
    conn.execute(
        "UPDATE leads SET name = coalesce(name, ?2) WHERE id = ?1",
        params![id, name],
    )?;
    let Some(handle) = handle else {
        return Ok(false);
    };
    keep_suppressed(conn, id, handle, now)?;
    if let Some(other) = by_handle(conn, handle)?.filter(|other| other.id != id) {
        if other.is_do_not_contact() {
            mark_do_not_contact(conn, id, "opted out under their handle", now)?;
        }
        tracing::warn!(
            "lead #{id}: their Instagram handle belongs to lead #{} already; keeping the stand-in",
            other.id
        );
        return Ok(false);
    }
    Ok(conn.execute(
        "UPDATE leads SET handle = ?2 WHERE id = ?1 AND handle != ?2",
        params![id, handle],
    )? == 1)
}
