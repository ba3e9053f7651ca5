//! The audit log: one row per host call that touched lead data or tried to send.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::clock::Millis;
use crate::domain::permission::Permission;

pub struct Entry<'a> {
    pub plugin: &'a str,
    /// The host call or host action, e.g. `leads.get`, `reply.send`, `outbox.deliver`.
    pub action: &'a str,
    pub permission: Option<Permission>,
    pub lead_id: Option<i64>,
    pub allowed: bool,
    /// Why it was denied, or who received data; never a message body or a secret.
    pub detail: Option<&'a str>,
}

pub fn record(conn: &Connection, entry: &Entry<'_>, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        // A lead forgotten while a call about them ran is not named again.
        "INSERT INTO audit (at, plugin, action, permission, lead_id, allowed, detail)
         VALUES (?1, ?2, ?3, ?4, (SELECT id FROM leads WHERE id = ?5), ?6, ?7)",
    )?
    .execute(params![
        now,
        entry.plugin,
        entry.action,
        entry.permission.map(Permission::as_str),
        entry.lead_id,
        entry.allowed,
        entry.detail
    ])?;
    Ok(())
}

/// Records an action the host or a person took (no permission involved), as `actor`.
pub fn record_action(
    conn: &Connection,
    actor: &str,
    action: &str,
    lead_id: Option<i64>,
    allowed: bool,
    detail: &str,
    now: Millis,
) -> anyhow::Result<()> {
    record(
        conn,
        &Entry {
            plugin: actor,
            action,
            permission: None,
            lead_id,
            allowed,
            detail: Some(detail),
        },
        now,
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: Millis,
    pub plugin: String,
    pub action: String,
    pub permission: Option<String>,
    pub lead: Option<String>,
    pub allowed: bool,
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
pub struct AuditFilter {
    pub plugin: Option<String>,
    pub lead_id: Option<i64>,
    pub action: Option<String>,
    pub denied_only: bool,
    pub limit: u32,
}

/// Audit rows, oldest first (the last `limit` of them).
pub fn list(conn: &Connection, filter: &AuditFilter) -> anyhow::Result<Vec<AuditRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT * FROM (
           SELECT a.id, a.at, a.plugin, a.action, a.permission, l.handle, a.allowed, a.detail
           FROM audit a LEFT JOIN leads l ON l.id = a.lead_id
           WHERE (?1 IS NULL OR a.plugin = ?1) AND (?2 IS NULL OR a.lead_id = ?2)
             AND (?3 = 0 OR a.allowed = 0) AND (?5 IS NULL OR a.action = ?5)
           ORDER BY a.id DESC LIMIT ?4)
         ORDER BY id",
    )?;
    let rows = stmt.query_map(
        params![
            filter.plugin,
            filter.lead_id,
            filter.denied_only,
            filter.limit,
            filter.action
        ],
        |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at: r.get(1)?,
                plugin: r.get(2)?,
                action: r.get(3)?,
                permission: r.get(4)?,
                lead: r.get(5)?,
                allowed: r.get(6)?,
                detail: r.get(7)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditCount {
    pub plugin: String,
    pub action: String,
    pub allowed: bool,
    pub count: u64,
}

pub fn summary(conn: &Connection) -> anyhow::Result<Vec<AuditCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT plugin, action, allowed, count(*) FROM audit GROUP BY plugin, action, allowed
         ORDER BY plugin, action, allowed DESC",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AuditCount {
            plugin: r.get(0)?,
            action: r.get(1)?,
            allowed: r.get(2)?,
            count: r.get::<_, i64>(3)? as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
