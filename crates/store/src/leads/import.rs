//! Imported records into leads: one at a time or a batch in file order, merged into the lead
//! with the same handle, and the filter events that follow.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::sql::{Conn, OptionalExtension, params};

use super::add_tag;
use super::opt_out::keep_suppressed;
use crate::clock::Millis;
use crate::domain::lead::LeadRecord;

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
    conn: &Conn<'_>,
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
            let id = conn
                .prepare_cached(
                    "INSERT INTO leads (handle, name, email, phone, notes, created_at, updated_at, account_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) RETURNING id",
                )?
                .query_row(
                    params![
                record.handle,
                record.name,
                record.email,
                record.phone,
                record.notes,
                now,
                account
                    ],
                    |r| r.get(0),
                )?;
            keep_suppressed(conn, id, &record.handle, now)?;
            Upserted::Created(id)
        }
    };
    let id = outcome.id();
    for tag in &record.tags {
        add_tag(conn, id, tag)?;
    }
    let mut field = conn.prepare_cached(
        "INSERT INTO lead_fields (lead_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
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
    conn: &Conn<'_>,
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) ON CONFLICT (handle) DO NOTHING RETURNING id",
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
        let created = insert
            .query_row(
                params![handle, name, email, phone, notes, now, account],
                |r| r.get(0),
            )
            .optional()?;
        let outcome = if let Some(id) = created {
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
    let mut tag = conn.prepare_cached(&format!(
        // `WHERE true`: without it SQLite reads the ON of ON CONFLICT as a join's.
        "INSERT INTO lead_tags (lead_id, tag) SELECT CAST(value AS BIGINT), ?2 FROM {}
         WHERE true ON CONFLICT DO NOTHING",
        conn.json_array_rows("?1")
    ))?;
    for (name, ids) in tagged {
        tag.execute(params![serde_json::to_string(&ids)?, name])?;
    }
    // An object from lead id to value: `json_each` then yields both without parsing any
    // JSON twice, and a lead named twice (merged in this batch) twice, in order.
    let mut field = conn.prepare_cached(&format!(
        "INSERT INTO lead_fields (lead_id, key, value)
         SELECT CAST(key AS BIGINT), ?2, value FROM {} WHERE true ON CONFLICT DO NOTHING",
        conn.json_object_rows("?1")
    ))?;
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
pub fn queue_lead_imported(conn: &Conn<'_>, ids: &[i64], now: Millis) -> anyhow::Result<()> {
    use crate::events::{EventKind, Payload};
    if ids.is_empty() {
        return Ok(());
    }
    conn.prepare_cached(&format!(
        "INSERT INTO events (kind, lead_id, plugin, payload, dedupe_key, created_at, next_attempt_at)
         SELECT ?1, CAST(value AS BIGINT), NULL, ?2, NULL, ?3, ?3 FROM {}",
        conn.json_array_rows("?4")
    ))?
    .execute(params![
        EventKind::LeadImported.as_str(),
        serde_json::to_string(&Payload::default())?,
        now,
        serde_json::to_string(ids)?
    ])?;
    Ok(())
}
