//! The SQLite file: opening it (WAL, foreign keys), versioned migrations, and one submodule of
//! queries per table group. Only the host opens it; plugins reach data through host calls.
//!
//! Query functions take a `&Connection` so that callers compose several of them inside one
//! transaction with [`Db::write`].

pub mod accounts;
pub mod audit;
pub mod events;
pub mod leads;
pub mod messages;
pub mod outbox;
pub mod plugins;
pub mod schedules;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use rusqlite::{Connection, Transaction};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_suppressed_handles.sql"),
    include_str!("migrations/0003_accounts.sql"),
    include_str!("migrations/0004_profile_lookup.sql"),
];

/// A handle to the open database, cheap to clone. One connection behind a mutex: every
/// statement is short, and a single writer is what SQLite wants anyway.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        migrate(&mut conn)
            .with_context(|| format!("cannot migrate database {}", path.display()))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_owned(),
        })
    }

    /// An in-memory database, for unit tests.
    pub fn open_in_memory() -> anyhow::Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: PathBuf::from(":memory:"),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (statements are atomic),
        // so a poisoned mutex is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs read-only or single-statement work.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> anyhow::Result<R>) -> anyhow::Result<R> {
        f(&self.lock())
    }

    /// Runs `f` in one transaction: all of it lands, or none of it.
    pub fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let result = f(&tx)?;
        tx.commit()?;
        Ok(result)
    }
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let current = conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    anyhow::ensure!(
        current <= MIGRATIONS.len(),
        "the database has schema version {current}, newer than this outreach ({}); upgrade outreach",
        MIGRATIONS.len()
    );
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("migration {}", index + 1))?;
        tx.pragma_update(None, "user_version", (index + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        Db::open(&path).unwrap();
        let db = Db::open(&path).unwrap();
        let version = db
            .read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?))
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }
}
