//! Opening a database: a SQLite file (its key, WAL, secure delete, the page and statement
//! caches), one only to read, one in memory for tests, or a PostgreSQL pool; each brought
//! up to the current schema as it opens.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rusqlite::Connection;

use crate::cipher::{self, DbKey};
use crate::migrations::{MIGRATIONS, SECURE_DELETE_SINCE, migrate, migrate_postgres};
use crate::{Db, Place, sql};

/// Prepared statements kept per connection. rusqlite keeps 16 by default, fewer than the
/// engine's hot path uses: statements pushed each other out and every event parsed its SQL
/// again (a fifth of the engine's time).
const STATEMENT_CACHE: usize = 256;

/// The page cache of the connection, in KiB (an upper bound: pages are taken as needed).
const PAGE_CACHE_KIB: i64 = 64 * 1024;

/// Connections a worker opens to PostgreSQL at most: the engine's loop, the console and
/// webhooks each hold one for a transaction at a time.
const POSTGRES_CONNECTIONS: usize = 8;

impl Db {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    /// With a key, a new file is created encrypted and an existing one must be encrypted
    /// with that key.
    pub fn open(path: &Path, key: Option<&DbKey>) -> anyhow::Result<Self> {
        let mut conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        cipher::unlock(&conn, path, key)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Deleted rows are overwritten with zeros, not left in free space for `strings`
        // to find; [`Db::clear_log`] then takes their old copies out of the WAL.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // SQLite's default page cache is 2 MiB; the hot path's indexes over 100k leads'
        // history are larger, and a page not cached is a system call and a WAL lookup.
        conn.pragma_update(None, "cache_size", -PAGE_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10000)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        reuse_statements(&conn)?;
        let from = migrate(&mut conn)
            .with_context(|| format!("cannot migrate database {}", path.display()))?;
        if (1..SECURE_DELETE_SINCE).contains(&from) {
            // Once: rewrite the file without what earlier versions left in free pages.
            conn.execute_batch("VACUUM")
                .with_context(|| format!("cannot vacuum database {}", path.display()))?;
        }
        Ok(Self::sqlite(conn, path.to_owned(), key.is_some()))
    }

    /// Opens an existing database the user may only read (a file or folder without write
    /// permission, a read-only mount), for the commands that only look. Any write then
    /// fails with SQLite's "attempt to write a readonly database". In WAL mode SQLite needs
    /// to create the `-shm` file even to read; where it cannot, the file is read as
    /// immutable (fine for a listing; a writer elsewhere could make such a read fail).
    pub fn open_read_only(path: &Path, key: Option<&DbKey>) -> anyhow::Result<Self> {
        use rusqlite::OpenFlags;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let readable = |conn: Connection| -> anyhow::Result<Connection> {
            cipher::unlock(&conn, path, key)?;
            Ok(conn)
        };
        let conn = Connection::open_with_flags(path, flags)
            .map_err(anyhow::Error::from)
            .and_then(readable)
            .or_else(|_| {
                let uri = format!("file:{}?immutable=1", uri_escape(path));
                Connection::open_with_flags(uri, flags)
                    .map_err(anyhow::Error::from)
                    .and_then(readable)
            })
            .with_context(|| format!("cannot open database {} to read it", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        reuse_statements(&conn)?;
        let version =
            conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
        anyhow::ensure!(
            version == MIGRATIONS.len(),
            "database {} has schema version {version} and this outreach needs {}; it is read-only here, so run `outreach init` where it can be written",
            path.display(),
            MIGRATIONS.len()
        );
        Ok(Self::sqlite(conn, path.to_owned(), key.is_some()))
    }

    /// An in-memory database, for unit tests.
    pub fn open_in_memory() -> anyhow::Result<Self> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        reuse_statements(&conn)?;
        migrate(&mut conn)?;
        Ok(Self::sqlite(conn, PathBuf::from(":memory:"), false))
    }

    /// A handle with a connection of its own to the same data, for work that must not wait
    /// behind this handle's (the console beside the engine). PostgreSQL's pool serves both.
    pub fn another(&self, key: Option<&DbKey>) -> anyhow::Result<Self> {
        match &self.place {
            Place::Sqlite { path, .. } => Ok(Db {
                discard_writes: self.discard_writes,
                ..Self::open(path, key)?
            }),
            Place::Postgres(_) => Ok(self.clone()),
        }
    }

    fn sqlite(conn: Connection, path: PathBuf, encrypted: bool) -> Self {
        Self {
            place: Place::Sqlite {
                conn: Arc::new(Mutex::new(conn)),
                path,
                encrypted,
            },
            agent_scope: None,
            discard_writes: false,
        }
    }

    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL or a libpq
    /// `key=value` string) and brings its schema up to date.
    pub fn open_postgres(url: &str) -> anyhow::Result<Self> {
        let pool = sql::PgPool::connect(url, POSTGRES_CONNECTIONS)?;
        migrate_postgres(&pool)
            .with_context(|| format!("cannot migrate the PostgreSQL database {}", pool.name))?;
        Ok(Self {
            place: Place::Postgres(Arc::new(pool)),
            agent_scope: None,
            discard_writes: false,
        })
    }
}

/// Keeps prepared statements for reuse, and reuses them whatever is bound to them. By
/// default SQLite prepares a statement again whenever a new value is bound to a parameter
/// the plan might depend on: `status = ?` on leads (a partial index covers one status)
/// was parsed and planned anew on every call. With the query planner stability guarantee
/// the plan is chosen once, without looking at the values.
fn reuse_statements(conn: &Connection) -> anyhow::Result<()> {
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// `path` as the path part of a `file:` URI.
fn uri_escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
