//! Who works on a database: one engine per SQLite file (a lock file beside it), any number
//! of workers on PostgreSQL, and among those the one that does the work done once for all.

use std::path::Path;

use anyhow::Context as _;

use crate::{Backend, Db, Place};

/// Held by the worker that does the duties done once for all ([`Db::holds_duties`]).
const DUTIES_LOCK: i64 = 0x6f75_7472_6561_6364;

/// Held while this process runs the engine, so that a second engine keeps off the same
/// data. Released when dropped or when the process ends, however it ends.
pub struct EngineLock {
    _held: HeldLock,
}

/// Held for what dropping it releases, never read.
#[allow(dead_code)]
enum HeldLock {
    File(std::fs::File),
    /// Nothing: any number of engines share a PostgreSQL database.
    Shared,
}

impl Db {
    /// The engine's lock: on SQLite a lock file beside the database
    /// ([`engine_file_lock`]), so one engine works on a file; on PostgreSQL none, since
    /// workers share the work there (claims on leads, [`Db::holds_duties`] for the rest).
    pub fn hold_engine_lock(&self) -> anyhow::Result<EngineLock> {
        let held = match &self.place {
            Place::Sqlite { path, .. } => HeldLock::File(engine_file_lock(path)?),
            Place::Postgres(_) => HeldLock::Shared,
        };
        Ok(EngineLock { _held: held })
    }

    /// Whether several engines may work on this database at once (PostgreSQL): they then
    /// claim leads before handing out their events ([`crate::claims`]).
    pub fn is_shared(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Whether this process does the work done once for all workers: delivering the
    /// outbox (so that caps, gaps and quiet hours hold exactly), queueing due follow-ups,
    /// profile look-ups and retention. Always on SQLite; on PostgreSQL one worker at a time
    /// holds it (an advisory lock), and another takes over once that worker is gone.
    pub fn holds_duties(&self) -> anyhow::Result<bool> {
        match &self.place {
            Place::Sqlite { .. } => Ok(true),
            Place::Postgres(pool) => pool.hold_session_lock(DUTIES_LOCK),
        }
    }
}

/// The lock only one engine on the SQLite database at `db` holds; also taken by commands
/// that replace the file. Keyed on the file itself, so a symlink or another spelling of
/// the path finds the same lock. Released when the file is dropped or the process exits.
pub fn engine_file_lock(db: &Path) -> anyhow::Result<std::fs::File> {
    let db_file =
        std::fs::canonicalize(db).with_context(|| format!("cannot resolve {}", db.display()))?;
    let path = db_file.with_extension("db-engine.lock");
    let lock = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "another outreach process is running the engine on {}; wait for it to finish or stop it",
            db.display()
        )
    })?;
    Ok(lock)
}
