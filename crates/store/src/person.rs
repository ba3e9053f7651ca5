//! Everything the database holds about one person, for a data-subject access request
//! (GDPR Art. 15): the lead with fields and tags, messages, events that named them and
//! what plugins did with them, the outbox, follow-up sequences, consent, every plugin's
//! storage under `lead/<id>/`, the team's notes, and the audit rows naming them.
//!
//! Rows are copied column by column, so a column added by a later migration is in the
//! record without anyone remembering to add it here.

use crate::sql::{Conn, Owned, Params};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::lead::Lead;

#[derive(Debug, Serialize)]
pub struct PersonRecord {
    pub lead: Lead,
    /// The lead's stored row, every column (times of changes and look-ups included).
    pub lead_row: Value,
    pub consent: Consent,
    pub messages: Vec<Value>,
    pub events: Vec<Value>,
    pub event_results: Vec<Value>,
    pub outbox: Vec<Value>,
    pub follow_ups: Vec<Value>,
    pub plugin_storage: Vec<Value>,
    /// What the team wrote about them for itself (`lead.notes` is the imported field).
    pub team_notes: Vec<Value>,
    pub audit: Vec<Value>,
}

#[derive(Debug, Serialize)]
pub struct Consent {
    pub do_not_contact: bool,
    pub reason: Option<String>,
    /// Whether the handle is on the suppression list (kept after a forget, as a hash).
    pub suppressed: bool,
}

pub fn record(conn: &Conn<'_>, lead: Lead) -> anyhow::Result<PersonRecord> {
    let id = lead.id;
    let storage_range = [format!("lead/{id}/"), format!("lead/{id}0")];
    let suppressed = conn.query_row(
        "SELECT count(*) FROM suppressed_handles WHERE handle_sha256 = ?1",
        [crate::domain::sha256_hex(lead.handle.as_bytes())],
        |r| r.get::<_, i64>(0),
    )? > 0;
    Ok(PersonRecord {
        consent: Consent {
            do_not_contact: lead.is_do_not_contact(),
            reason: lead.dnc_reason.clone(),
            suppressed,
        },
        lead_row: rows(conn, "SELECT * FROM leads WHERE id = ?1", [id])?
            .pop()
            .unwrap_or_default(),
        messages: rows(
            conn,
            "SELECT * FROM messages WHERE lead_id = ?1 ORDER BY at, id",
            [id],
        )?,
        events: rows(
            conn,
            "SELECT * FROM events WHERE lead_id = ?1 ORDER BY id",
            [id],
        )?,
        event_results: without_column(
            rows(
                conn,
                "SELECT r.* FROM event_results r JOIN events e ON e.id = r.event_id
                 WHERE e.lead_id = ?1 ORDER BY r.event_id, r.plugin",
                [id],
            )?,
            // PostgreSQL's stand-in for SQLite's rowid: no fact about the person.
            "seq",
        ),
        outbox: rows(
            conn,
            "SELECT * FROM outbox WHERE lead_id = ?1 ORDER BY id",
            [id],
        )?,
        follow_ups: rows(
            conn,
            "SELECT * FROM schedules WHERE lead_id = ?1 ORDER BY id",
            [id],
        )?,
        plugin_storage: rows(
            conn,
            "SELECT plugin, key, value FROM plugin_kv
             WHERE plugin IN (SELECT name FROM plugins) AND key >= ?1 AND key < ?2
             ORDER BY plugin, key",
            storage_range,
        )?,
        team_notes: rows(
            conn,
            "SELECT * FROM lead_notes WHERE lead_id = ?1 ORDER BY id",
            [id],
        )?,
        audit: rows(
            conn,
            "SELECT * FROM audit WHERE lead_id = ?1 ORDER BY id",
            [id],
        )?,
        lead,
    })
}

/// Every plugin's whole storage, for the whole-database export.
pub fn all_plugin_storage(conn: &Conn<'_>) -> anyhow::Result<Vec<Value>> {
    rows(
        conn,
        "SELECT plugin, key, value FROM plugin_kv ORDER BY plugin, key",
        [],
    )
}

/// `rows` without the column `name`.
fn without_column(mut rows: Vec<Value>, name: &str) -> Vec<Value> {
    for row in &mut rows {
        if let Value::Object(object) = row {
            object.remove(name);
        }
    }
    rows
}

/// The rows of `sql` as JSON objects keyed by column name. Text stays text; a blob is
/// text when it is UTF-8 and `{"hex": …}` otherwise.
fn rows(conn: &Conn<'_>, sql: &str, params: impl Params) -> anyhow::Result<Vec<Value>> {
    let mut stmt = conn.prepare(sql)?;
    let names = stmt.column_names();
    let rows = stmt.query_map(params, |row| {
        let mut object = Map::new();
        for (index, name) in names.iter().enumerate() {
            let value = match row.get::<_, Owned>(index)? {
                Owned::Null => Value::Null,
                Owned::Integer(i) => Value::from(i),
                Owned::Real(f) => Value::from(f),
                Owned::Text(t) => Value::from(t),
                Owned::Blob(b) => match String::from_utf8(b) {
                    Ok(text) => Value::from(text),
                    Err(e) => serde_json::json!({ "hex": hex::encode(e.as_bytes()) }),
                },
            };
            object.insert(name.clone(), value);
        }
        Ok(Value::Object(object))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
