//! Leads, their tags and custom fields; do-not-contact and erasure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};

use super::conditions::Conditions;
use crate::clock::Millis;
use crate::domain::lead::LeadRecord;
use crate::domain::lead::{Lead, LeadStatus};

const LEAD_COLUMNS: &str = "id, handle, name, email, phone, notes, status, score, dnc_reason, \
                            created_at, last_inbound_at, last_outbound_at, account_id, channel_user_id";

fn lead_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Lead> {
    let status: String = row.get(6)?;
    Ok(Lead {
        id: row.get(0)?,
        handle: row.get(1)?,
        name: row.get(2)?,
        email: row.get(3)?,
        phone: row.get(4)?,
        notes: row.get(5)?,
        status: status.parse().unwrap_or(LeadStatus::New),
        score: row.get(7)?,
        dnc_reason: row.get(8)?,
        created_at: row.get(9)?,
        last_inbound_at: row.get(10)?,
        last_outbound_at: row.get(11)?,
        account_id: row.get(12)?,
        channel_user_id: row.get(13)?,
        tags: Vec::new(),
        custom: BTreeMap::new(),
    })
}

fn with_details(conn: &Connection, mut lead: Lead) -> anyhow::Result<Lead> {
    let mut tags =
        conn.prepare_cached("SELECT tag FROM lead_tags WHERE lead_id = ?1 ORDER BY tag")?;
    lead.tags = tags
        .query_map([lead.id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut fields =
        conn.prepare_cached("SELECT key, value FROM lead_fields WHERE lead_id = ?1 ORDER BY key")?;
    lead.custom = fields
        .query_map([lead.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(lead)
}

pub fn get(conn: &Connection, id: i64) -> anyhow::Result<Option<Lead>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = ?1"))?;
    let lead = stmt.query_row([id], lead_from_row).optional()?;
    lead.map(|l| with_details(conn, l)).transpose()
}

pub fn by_handle(conn: &Connection, handle: &str) -> anyhow::Result<Option<Lead>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LEAD_COLUMNS} FROM leads WHERE handle = ?1"
    ))?;
    let lead = stmt.query_row([handle], lead_from_row).optional()?;
    lead.map(|l| with_details(conn, l)).transpose()
}

/// The lead with this handle (as typed by a user: `@` and case are forgiven), or an error
/// naming it.
/// The lead a handle as a person types it names (`@Lena.Studio` is `lena.studio`); `None`
/// for no such lead or a handle that cannot be one.
pub fn find_handle(conn: &Connection, raw: &str) -> anyhow::Result<Option<Lead>> {
    match crate::domain::handle::normalize_handle(raw) {
        Ok(handle) => by_handle(conn, &handle),
        Err(_) => Ok(None),
    }
}

pub fn require_handle(conn: &Connection, raw: &str) -> anyhow::Result<Lead> {
    let handle = crate::domain::handle::normalize_handle(raw)
        .map_err(|reason| anyhow::anyhow!("invalid handle: {reason}"))?;
    by_handle(conn, &handle)?.with_context(|| format!("no lead with handle @{handle}"))
}

#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub tag: Option<String>,
    pub last_contact_before: Option<Millis>,
    pub limit: Option<u32>,
}

pub fn list(conn: &Connection, filter: &LeadFilter) -> anyhow::Result<Vec<Lead>> {
    // `leads.query` runs on the hot path: each condition must be able to use its index.
    let mut conditions = Conditions::default();
    let status = filter.status.map(|s| s.as_str());
    if let Some(status) = &status {
        conditions.bind("status = ?", status);
    }
    if let Some(tag) = &filter.tag {
        conditions.bind("id IN (SELECT lead_id FROM lead_tags WHERE tag = ?)", tag);
    }
    if let Some(before) = &filter.last_contact_before {
        conditions.bind(
            "max(coalesce(last_inbound_at, 0), coalesce(last_outbound_at, 0)) < ?",
            before,
        );
    }
    let limit = filter.limit.map_or(-1, i64::from);
    select_leads(conn, conditions, "ORDER BY id", &limit)
}

/// The leads `conditions` select, in `order`, at most `limit`, with their details.
fn select_leads<'a>(
    conn: &Connection,
    mut conditions: Conditions<'a>,
    order: &str,
    limit: &'a dyn rusqlite::ToSql,
) -> anyhow::Result<Vec<Lead>> {
    let limit = conditions.then(limit);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {LEAD_COLUMNS} FROM leads {} {order} LIMIT {limit}",
        conditions.where_clause()
    ))?;
    let rows = stmt
        .query_map(conditions.values(), lead_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|l| with_details(conn, l)).collect()
}

/// What the console's leads page looks for; the newest leads first, a page at a time.
#[derive(Debug, Default)]
pub struct LeadSearch {
    /// Part of the handle, name or email.
    pub text: Option<String>,
    pub status: Option<LeadStatus>,
    pub tag: Option<String>,
    pub account_id: Option<i64>,
    pub min_score: Option<u8>,
    /// Leads older than this id (the next page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub fn search(conn: &Connection, search: &LeadSearch) -> anyhow::Result<Vec<Lead>> {
    let mut conditions = Conditions::default();
    let pattern = search.text.as_ref().map(|text| {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    });
    if let Some(pattern) = &pattern {
        conditions.bind(
            "(handle LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\')",
            pattern,
        );
    }
    let status = search.status.map(|s| s.as_str());
    if let Some(status) = &status {
        conditions.bind("status = ?", status);
    }
    if let Some(tag) = &search.tag {
        conditions.bind("id IN (SELECT lead_id FROM lead_tags WHERE tag = ?)", tag);
    }
    if let Some(account_id) = &search.account_id {
        conditions.bind("account_id = ?", account_id);
    }
    if let Some(score) = &search.min_score {
        conditions.bind("score >= ?", score);
    }
    if let Some(before) = &search.before_id {
        conditions.bind("id < ?", before);
    }
    select_leads(conn, conditions, "ORDER BY id DESC", &search.limit)
}

/// What [`upsert`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(i64),
    Merged(i64),
}

impl Upserted {
    /// The lead's id, either way.
    pub fn id(self) -> i64 {
        match self {
            Self::Created(id) | Self::Merged(id) => id,
        }
    }
}

/// Stores an imported record: a new lead of `account`, or merged into the existing lead with
/// the same handle (empty fields filled, tags added; values already stored win, and the lead
/// stays with the account it belongs to).
pub fn upsert(
    conn: &Connection,
    record: &LeadRecord,
    account: i64,
    now: Millis,
) -> anyhow::Result<Upserted> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT id FROM leads WHERE handle = ?1")?
        .query_row([&record.handle], |r| r.get(0))
        .optional()?;
    let outcome = match existing {
        Some(id) => {
            conn.prepare_cached(
                "UPDATE leads SET name = coalesce(name, ?2), email = coalesce(email, ?3),
                 phone = coalesce(phone, ?4), notes = coalesce(notes, ?5), updated_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                record.name,
                record.email,
                record.phone,
                record.notes,
                now
            ])?;
            Upserted::Merged(id)
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO leads (handle, name, email, phone, notes, created_at, updated_at, account_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
            )?
            .execute(params![
                record.handle,
                record.name,
                record.email,
                record.phone,
                record.notes,
                now,
                account
            ])?;
            let id = conn.last_insert_rowid();
            keep_suppressed(conn, id, &record.handle, now)?;
            Upserted::Created(id)
        }
    };
    let id = outcome.id();
    for tag in &record.tags {
        add_tag(conn, id, tag)?;
    }
    let mut field = conn.prepare_cached(
        "INSERT OR IGNORE INTO lead_fields (lead_id, key, value) VALUES (?1, ?2, ?3)",
    )?;
    for (key, value) in &record.custom {
        field.execute(params![id, key, value])?;
    }
    Ok(outcome)
}

/// Stores a batch of imported records in file order, each exactly as [`upsert`] would (so a
/// record merges into one stored earlier in the batch), and appends what was done with each
/// to `stored`. Cheaper per record than [`upsert`]: a new handle is inserted without being
/// looked up first, and the suppression list is read only when it has entries.
///
/// (Inserting many leads per statement saved no time: SQLite then keeps a statement journal,
/// which costs what the fewer statements save.)
pub fn upsert_batch(
    conn: &Connection,
    records: &[LeadRecord],
    account: i64,
    now: Millis,
    stored: &mut Vec<Upserted>,
) -> anyhow::Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let any_suppressed: bool = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM suppressed_handles)")?
        .query_row([], |r| r.get(0))?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO leads (handle, name, email, phone, notes, created_at, updated_at, account_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) ON CONFLICT (handle) DO NOTHING",
    )?;
    let mut merge = conn.prepare_cached(
        "UPDATE leads SET name = coalesce(name, ?2), email = coalesce(email, ?3),
         phone = coalesce(phone, ?4), notes = coalesce(notes, ?5), updated_at = ?6
         WHERE handle = ?1 RETURNING id",
    )?;
    // Tags and custom fields go in afterwards, one statement per distinct tag and per
    // field name in the batch rather than one per value (those statements were most of
    // an import's time), in file order, so that the first value of a field still wins.
    let mut tagged: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut fields: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
    for record in records {
        let (handle, name, email) = (&record.handle, &record.name, &record.email);
        let (phone, notes) = (&record.phone, &record.notes);
        let created = insert.execute(params![handle, name, email, phone, notes, now, account])?;
        let outcome = if created == 1 {
            let id = conn.last_insert_rowid();
            if any_suppressed {
                keep_suppressed(conn, id, handle, now)?;
            }
            Upserted::Created(id)
        } else {
            let id = merge.query_row(params![handle, name, email, phone, notes, now], |r| {
                r.get(0)
            })?;
            Upserted::Merged(id)
        };
        let id = outcome.id();
        for tag in &record.tags {
            tagged.entry(tag).or_default().push(id);
        }
        for (key, value) in &record.custom {
            fields.entry(key).or_default().push((id, value));
        }
        stored.push(outcome);
    }
    let mut tag = conn.prepare_cached(
        "INSERT OR IGNORE INTO lead_tags (lead_id, tag) SELECT value, ?2 FROM json_each(?1)",
    )?;
    for (name, ids) in tagged {
        tag.execute(params![serde_json::to_string(&ids)?, name])?;
    }
    // An object from lead id to value: `json_each` then yields both without parsing any
    // JSON twice, and a lead named twice (merged in this batch) twice, in order.
    let mut field = conn.prepare_cached(
        "INSERT OR IGNORE INTO lead_fields (lead_id, key, value)
         SELECT CAST(key AS INTEGER), ?2, value FROM json_each(?1)",
    )?;
    for (key, values) in fields {
        let mut object = String::from("{");
        for (i, (id, value)) in values.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(object, "{comma}\"{id}\":{}", serde_json::to_string(value)?)?;
        }
        object.push('}');
        field.execute(params![object, key])?;
    }
    Ok(())
}

/// Queues the filter hooks for imported leads: a `lead-imported` event each, as
/// `engine::ingest::lead_imported` queues one, in one statement for all of them,
/// in the order of `ids` (`json_each` yields the array in order; an `ORDER BY key` would
/// sort them again in a temporary b-tree).
pub fn queue_lead_imported(conn: &Connection, ids: &[i64], now: Millis) -> anyhow::Result<()> {
    use crate::events::{EventKind, Payload};
    if ids.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO events (kind, lead_id, plugin, payload, dedupe_key, created_at, next_attempt_at)
         SELECT ?1, value, NULL, ?2, NULL, ?3, ?3 FROM json_each(?4)",
    )?
    .execute(params![
        EventKind::LeadImported.as_str(),
        serde_json::to_string(&Payload::default())?,
        now,
        serde_json::to_string(ids)?
    ])?;
    Ok(())
}

/// A lead that wrote to `account` before we knew them, by handle.
pub fn get_or_create(
    conn: &Connection,
    account: i64,
    handle: &str,
    now: Millis,
) -> anyhow::Result<Lead> {
    let created = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO leads (handle, created_at, updated_at, account_id) VALUES (?1, ?2, ?2, ?3)",
        )?
        .execute(params![handle, now, account])?;
    if created == 1 {
        keep_suppressed(conn, conn.last_insert_rowid(), handle, now)?;
    }
    by_handle(conn, handle)?.context("lead vanished while being created")
}

/// A lead known only by their id on the channel (Instagram tells us the IGSID, not the
/// handle). A new one gets the stand-in handle `ig_<id>` until the handle is known.
pub fn get_or_create_by_channel_user(
    conn: &Connection,
    account: i64,
    channel_user_id: &str,
    now: Millis,
) -> anyhow::Result<Lead> {
    let known: Option<i64> = conn
        .prepare_cached("SELECT id FROM leads WHERE account_id = ?1 AND channel_user_id = ?2")?
        .query_row(params![account, channel_user_id], |r| r.get(0))
        .optional()?;
    let id = match known {
        Some(id) => id,
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

/// Leads known only by a stand-in handle (`ig_<id>`) whose profile was not asked for since
/// `asked_before`: (lead, account, channel user id).
pub fn awaiting_profile(
    conn: &Connection,
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

pub fn mark_profile_asked(conn: &Connection, id: i64, at: Millis) -> anyhow::Result<()> {
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
    conn: &Connection,
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

/// Changes a lead's status. Never lifts do-not-contact: only [`mark_do_not_contact`] sets
/// it, and nothing undoes it.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: LeadStatus,
    now: Millis,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE leads SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status != 'do-not-contact'",
    )?
    .execute(params![id, status.as_str(), now])?;
    Ok(())
}

pub fn set_score(conn: &Connection, id: i64, score: u8, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE leads SET score = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id, score, now])?;
    Ok(())
}

pub fn add_tag(conn: &Connection, id: i64, tag: &str) -> anyhow::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO lead_tags (lead_id, tag) VALUES (?1, ?2)")?
        .execute(params![id, tag])?;
    Ok(())
}

pub fn remove_tag(conn: &Connection, id: i64, tag: &str) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM lead_tags WHERE lead_id = ?1 AND tag = ?2")?
        .execute(params![id, tag])?;
    Ok(())
}

pub fn record_contact(conn: &Connection, id: i64, inbound: bool, at: Millis) -> anyhow::Result<()> {
    let column = if inbound {
        "last_inbound_at"
    } else {
        "last_outbound_at"
    };
    conn.execute(
        &format!("UPDATE leads SET {column} = max(coalesce({column}, 0), ?2), updated_at = ?2 WHERE id = ?1"),
        params![id, at],
    )?;
    Ok(())
}

/// Marks a lead do-not-contact and withdraws everything automation had planned for them.
pub fn mark_do_not_contact(
    conn: &Connection,
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

/// Stops a lead's follow-up sequences and blocks their queued messages: all of them, or
/// with `follow_ups_only` just the queued follow-up steps (a reply still goes out when the
/// lead writes in while a follow-up waits for quiet hours to end).
pub fn withdraw_automation(
    conn: &Connection,
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

/// A lead we sent a first message to is `contacted`, unless they already moved on.
pub fn mark_contacted(conn: &Connection, id: i64, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE leads SET status = 'contacted', updated_at = ?2 WHERE id = ?1 AND status = 'new'",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Erases a lead and everything keyed to them: messages, outbox rows, events, schedules and
/// plugin storage under `lead/<id>/`. Audit rows stay (the record of processing) but lose
/// the reference to the lead. A lead who had opted out leaves a hash of their handle
/// behind, so importing them again cannot make them reachable.
pub fn forget(conn: &Connection, lead: &Lead, now: Millis) -> anyhow::Result<()> {
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
pub fn suppress(conn: &Connection, handle: &str, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO suppressed_handles (handle_sha256, at) VALUES (?1, ?2)",
    )?
    .execute(params![handle_hash(handle), now])?;
    Ok(())
}

fn handle_hash(handle: &str) -> String {
    crate::domain::sha256_hex(handle.as_bytes())
}

/// A new lead whose handle was forgotten after an opt-out starts as do-not-contact.
fn keep_suppressed(conn: &Connection, id: i64, handle: &str, now: Millis) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    #[test]
    fn a_batch_stores_tags_and_fields_as_one_record_at_a_time_would() {
        let db = Db::open_in_memory().unwrap();
        let record = |handle: &str, tags: &[&str], custom: &[(&str, &str)]| LeadRecord {
            line: 2,
            handle: handle.into(),
            name: None,
            email: None,
            phone: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            notes: None,
            custom: custom
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let odd = "say \"hi\"\\ \u{1F600}\n{\"x\":1}";
        let batch = [
            record("mara", &["vip"], &[("company", "First Co"), ("quote", odd)]),
            record("jonas", &["vip", "cold"], &[("company", "Jonas Ltd")]),
            // The same person again in the same batch: tags add up, the first value wins.
            record(
                "mara",
                &["yoga"],
                &[("company", "Second Co"), ("city", "Lyon")],
            ),
        ];
        let mut stored = Vec::new();
        db.write(|tx| upsert_batch(tx, &batch, 1, 0, &mut stored))
            .unwrap();
        let (mara, jonas) = (stored[0].id(), stored[1].id());
        assert!(matches!(stored[2], Upserted::Merged(id) if id == mara));
        let mara = db.read(|c| get(c, mara)).unwrap().unwrap();
        assert_eq!(mara.tags, ["vip", "yoga"]);
        assert_eq!(mara.custom["company"], "First Co");
        assert_eq!(mara.custom["quote"], odd);
        assert_eq!(mara.custom["city"], "Lyon");
        let jonas = db.read(|c| get(c, jonas)).unwrap().unwrap();
        assert_eq!(jonas.tags, ["cold", "vip"]);
        assert_eq!(jonas.custom.len(), 1);
        assert_eq!(jonas.custom["company"], "Jonas Ltd");
    }

    #[test]
    fn an_opt_out_follows_the_person_to_a_new_instagram_id() {
        let db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            let jane = get_or_create(tx, 1, "jane", 0)?;
            mark_do_not_contact(tx, jane.id, "said stop", 0)?;
            let newcomer = get_or_create_by_channel_user(tx, 1, "9001", 10)?;
            assert_eq!(newcomer.handle, "ig_9001");
            assert!(!newcomer.is_do_not_contact());
            assert!(
                !set_profile(tx, newcomer.id, Some("jane"), Some("Jane"), 20)?,
                "the handle stays with jane"
            );
            let newcomer = get(tx, newcomer.id)?.unwrap();
            assert!(newcomer.is_do_not_contact(), "but so does her opt-out");
            assert_eq!(newcomer.name.as_deref(), Some("Jane"));
            Ok(())
        })
        .unwrap();
    }
}
