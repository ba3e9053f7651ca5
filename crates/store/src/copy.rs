//! Moving a SQLite database to PostgreSQL (`outreach db migrate-to`): every table's rows,
//! in the order their references need, in one PostgreSQL transaction, then each table's
//! row count checked on both sides. Column by column, so a column added by a later
//! migration is copied without anyone remembering to add it here.

use std::collections::BTreeMap;

use anyhow::Context as _;

use crate::sql::{Conn, Owned, Param, Value};
use crate::{Backend, Db};

/// Kept up by triggers on `plugin_kv` as its rows arrive; compared, not copied.
const DERIVED: &[&str] = &["plugin_kv_usage"];

/// What was copied: rows per table.
pub struct Copied {
    pub rows: BTreeMap<String, u64>,
}

/// Copies everything in `source` (SQLite) into `target` (PostgreSQL, freshly migrated and
/// holding nothing but the default account), and checks the row counts of both.
pub fn sqlite_to_postgres(source: &Db, target: &Db) -> anyhow::Result<Copied> {
    anyhow::ensure!(
        source.backend() == Backend::Sqlite && target.backend() == Backend::Postgres,
        "a copy goes from a SQLite file to a PostgreSQL database"
    );
    let tables = source.read(|c| tables_in_reference_order(c.as_sqlite().expect("SQLite")))?;
    let occupied: Vec<String> = target.read(|t| {
        let mut occupied = Vec::new();
        for table in &tables {
            let rows: i64 =
                t.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
            let default_account = table == "accounts" && rows == 1;
            if rows > 0 && !default_account {
                occupied.push(format!("{table} ({rows} rows)"));
            }
        }
        Ok(occupied)
    })?;
    anyhow::ensure!(
        occupied.is_empty(),
        "{} is not empty: {}; copy into a new database",
        target.location(),
        occupied.join(", ")
    );
    target.write(|t| {
        // The default account comes with the source's accounts.
        t.execute("DELETE FROM accounts", [])?;
        source.read(|s| {
            for table in tables.iter().filter(|t| !DERIVED.contains(&t.as_str())) {
                copy_table(s, t, table).with_context(|| format!("cannot copy table {table}"))?;
            }
            Ok(())
        })?;
        // Identities that number new rows go on after the highest id copied.
        let numbered: Vec<String> = t
            .prepare_cached(
                "SELECT table_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for table in numbered {
            t.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 0) + 1, false) FROM {table}"
                ),
                [],
            )?;
        }
        Ok(())
    })?;
    let count = |db: &Db, table: &str| -> anyhow::Result<u64> {
        db.read(|c| {
            Ok(
                c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    };
    let mut rows = BTreeMap::new();
    for table in &tables {
        let (from, to) = (count(source, table)?, count(target, table)?);
        anyhow::ensure!(
            from == to,
            "table {table} has {from} rows in {} and {to} in {} after the copy",
            source.location(),
            target.location()
        );
        rows.insert(table.clone(), to);
    }
    Ok(Copied { rows })
}

/// The tables of the SQLite file, each after the tables it references.
fn tables_in_reference_order(conn: &rusqlite::Connection) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut ordered: Vec<String> = Vec::new();
    while !names.is_empty() {
        let before = names.len();
        let mut rest = Vec::new();
        for name in names {
            let references: Vec<String> = conn
                .prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?
                .query_map([&name], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            match references.iter().all(|r| r == &name || ordered.contains(r)) {
                true => ordered.push(name),
                false => rest.push(name),
            }
        }
        anyhow::ensure!(
            rest.len() < before,
            "the tables {rest:?} reference each other in a circle"
        );
        names = rest;
    }
    Ok(ordered)
}

/// Copies one table's rows, every column the SQLite table has.
fn copy_table(source: &Conn<'_>, target: &Conn<'_>, table: &str) -> anyhow::Result<()> {
    let mut select = source.prepare(&format!("SELECT * FROM {table}"))?;
    let columns = select.column_names();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        quoted.join(", "),
        placeholders.join(", ")
    );
    let rows = select.query_map([], |row| {
        (0..columns.len())
            .map(|i| row.get::<_, Owned>(i))
            .collect::<Result<Vec<_>, _>>()
    })?;
    for row in rows {
        let row = row?;
        let values: Vec<Value<'_>> = row.iter().map(Owned::as_value).collect();
        let params: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
        target.execute(&insert, params.as_slice())?;
    }
    Ok(())
}
