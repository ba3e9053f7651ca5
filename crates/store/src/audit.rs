//! The audit log: one row per host call that touched lead data or tried to send.

use crate::sql::{Conn, params};
use serde::Serialize;

use super::conditions::Conditions;
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

pub fn record(conn: &Conn<'_>, entry: &Entry<'_>, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        // A lead forgotten while a call about them ran is not named again.
        "INSERT INTO audit (at, plugin, action, permission, lead_id, allowed, detail)
         VALUES (?1, ?2, ?3, ?4, (SELECT id FROM leads WHERE id = ?5), ?6, ?7)",
    )?
    .run(params![
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
    conn: &Conn<'_>,
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

/// Audit rows, oldest first (the last `limit` of them); a lead's or a plugin's rows are
/// read through their index, not by walking the whole log.
pub fn list(conn: &Conn<'_>, filter: &AuditFilter) -> anyhow::Result<Vec<AuditRow>> {
    let mut conditions = Conditions::default();
    if let Some(plugin) = &filter.plugin {
        conditions.bind("a.plugin = ?", plugin);
    }
    if let Some(lead_id) = &filter.lead_id {
        conditions.bind("a.lead_id = ?", lead_id);
    }
    if let Some(action) = &filter.action {
        conditions.bind("a.action = ?", action);
    }
    if filter.denied_only {
        conditions.fixed("a.allowed = 0");
    }
    // Newest first in the order of the index that serves the filter: a plugin's rows by
    // time (its index is on plugin and time), everything else by id.
    let newest_first = match (&filter.plugin, filter.lead_id) {
        (Some(_), None) => "a.at DESC, a.id DESC",
        _ => "a.id DESC",
    };
    let limit = conditions.then(&filter.limit);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT * FROM (
           SELECT a.id, a.at, a.plugin, a.action, a.permission, l.handle, a.allowed, a.detail
           FROM audit a LEFT JOIN leads l ON l.id = a.lead_id
           {}
           ORDER BY {newest_first} LIMIT {limit}) AS newest
         ORDER BY at, id",
        conditions.where_clause()
    ))?;
    let rows = stmt.query_map(conditions.values(), |r| {
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
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditCount {
    pub plugin: String,
    pub action: String,
    pub allowed: bool,
    pub count: u64,
}

pub fn summary(conn: &Conn<'_>) -> anyhow::Result<Vec<AuditCount>> {
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
