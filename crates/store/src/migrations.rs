//! The schema's history: SQLite's migrations and PostgreSQL's, each applied once and in
//! order as a database is opened, and the version each database is at.

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension as _};

use crate::{Conn, sql};

pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/sqlite/0001_initial.sql"),
    include_str!("migrations/sqlite/0002_suppressed_handles.sql"),
    include_str!("migrations/sqlite/0003_accounts.sql"),
    include_str!("migrations/sqlite/0004_profile_lookup.sql"),
    include_str!("migrations/sqlite/0005_kv_usage.sql"),
    include_str!("migrations/sqlite/0006_unrouted_webhooks.sql"),
    include_str!("migrations/sqlite/0007_send_attempts.sql"),
    include_str!("migrations/sqlite/0008_hot_path_indexes.sql"),
    include_str!("migrations/sqlite/0009_call_costs.sql"),
    include_str!("migrations/sqlite/0010_plugin_contract.sql"),
    include_str!("migrations/sqlite/0011_retention_and_vacuum.sql"),
    include_str!("migrations/sqlite/0012_console.sql"),
    include_str!("migrations/sqlite/0013_console_queue_and_links.sql"),
    include_str!("migrations/sqlite/0014_lean_import_tables.sql"),
    include_str!("migrations/sqlite/0015_console_roles.sql"),
    include_str!("migrations/sqlite/0016_lead_claims.sql"),
    include_str!("migrations/sqlite/0017_message_channel_ids.sql"),
    include_str!("migrations/sqlite/0018_automation_disclosure.sql"),
    include_str!("migrations/sqlite/0019_outbox_quick_replies.sql"),
    include_str!("migrations/sqlite/0020_private_replies.sql"),
    include_str!("migrations/sqlite/0021_public_replies.sql"),
    include_str!("migrations/sqlite/0022_notifications.sql"),
    include_str!("migrations/sqlite/0023_lead_assignment.sql"),
    include_str!("migrations/sqlite/0024_lead_notes.sql"),
    include_str!("migrations/sqlite/0025_lead_assignee_index.sql"),
    include_str!("migrations/sqlite/0026_reads_and_saved_replies.sql"),
    include_str!("migrations/sqlite/0027_plugin_lifecycle.sql"),
];

/// PostgreSQL's migrations, in order: its history starts at SQLite's version 14 with one
/// script of the whole schema (`tests/postgres_schema.rs` holds the two equal).
pub const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_schema.sql"),
    include_str!("migrations/postgres/0002_console_roles.sql"),
    include_str!("migrations/postgres/0003_default_account.sql"),
    include_str!("migrations/postgres/0004_event_results_order.sql"),
    include_str!("migrations/postgres/0005_lead_claims.sql"),
    include_str!("migrations/postgres/0006_row_level_security.sql"),
    include_str!("migrations/postgres/0007_message_channel_ids.sql"),
    include_str!("migrations/postgres/0008_automation_disclosure.sql"),
    include_str!("migrations/postgres/0009_agent_privileges.sql"),
    include_str!("migrations/postgres/0010_agent_privileges_narrower.sql"),
    include_str!("migrations/postgres/0011_outbox_quick_replies.sql"),
    include_str!("migrations/postgres/0012_private_replies.sql"),
    include_str!("migrations/postgres/0013_public_replies.sql"),
    include_str!("migrations/postgres/0014_notifications.sql"),
    include_str!("migrations/postgres/0015_lead_assignment.sql"),
    include_str!("migrations/postgres/0016_lead_notes.sql"),
    include_str!("migrations/postgres/0017_lead_assignee_index.sql"),
    include_str!("migrations/postgres/0018_reads_and_saved_replies.sql"),
    include_str!("migrations/postgres/0019_plugin_lifecycle.sql"),
];

/// The first schema version whose deletions were all zeroed (`secure_delete`).
pub(crate) const SECURE_DELETE_SINCE: usize = 11;

/// Held while migrating PostgreSQL, so that workers starting together migrate once.
const MIGRATION_LOCK: i64 = 0x6f75_7472_6561_6368; // "outreach"

/// Brings PostgreSQL's schema up to date, one worker at a time; the version is kept in
/// `outreach_schema` (SQLite keeps it in `user_version`).
pub(crate) fn migrate_postgres(pool: &sql::PgPool) -> anyhow::Result<()> {
    let pooled = pool.take()?;
    let cell = pooled.conn();
    let conn = Conn::postgres(cell);
    conn.execute("SELECT pg_advisory_lock(?1)", [MIGRATION_LOCK])?;
    let migrated = (|| -> anyhow::Result<()> {
        conn.execute_batch(
            "SET client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS outreach_schema (version BIGINT NOT NULL);
             INSERT INTO outreach_schema (version)
               SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM outreach_schema)",
        )?;
        let current: i64 =
            conn.query_row("SELECT version FROM outreach_schema", [], |r| r.get(0))?;
        let current = current as usize;
        anyhow::ensure!(
            current <= POSTGRES_MIGRATIONS.len(),
            "the database has schema version {current}, newer than this outreach ({}); upgrade outreach",
            POSTGRES_MIGRATIONS.len()
        );
        for (index, migration) in POSTGRES_MIGRATIONS.iter().enumerate().skip(current) {
            cell.borrow_mut().begin(false, "");
            let applied = conn.execute_batch(migration).and_then(|()| {
                conn.execute(
                    "UPDATE outreach_schema SET version = ?1",
                    [index as i64 + 1],
                )
            });
            cell.borrow_mut().finish(applied.is_ok())?;
            applied.with_context(|| format!("PostgreSQL migration {}", index + 1))?;
        }
        Ok(())
    })();
    conn.execute("SELECT pg_advisory_unlock(?1)", [MIGRATION_LOCK])?;
    migrated
}

/// Brings the schema up to date; returns the version it found.
pub(crate) fn migrate(conn: &mut Connection) -> anyhow::Result<usize> {
    let current = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    anyhow::ensure!(
        current <= MIGRATIONS.len(),
        "the database has schema version {current}, newer than this outreach ({}); upgrade outreach",
        MIGRATIONS.len()
    );
    if current == MIGRATIONS.len() {
        return Ok(current);
    }
    // A migration rebuilds a table by copying it and dropping the old one, which with
    // foreign keys enforced would delete every row referencing it (ON DELETE CASCADE).
    // So they are off while migrating, and each migration must leave no reference broken.
    let enforced: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = (|| {
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)
                .with_context(|| format!("migration {}", index + 1))?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                anyhow::bail!("migration {} left a broken reference in {table}", index + 1);
            }
            tx.pragma_update(None, "user_version", (index + 1) as i64)?;
            tx.commit()?;
        }
        Ok(current)
    })();
    conn.pragma_update(None, "foreign_keys", enforced)?;
    migrated
}
