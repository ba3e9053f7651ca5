//! The store layer of the outreach host, above the domain and below everything else.
//!
//! The data, in a SQLite file (opening it: SQLCipher key, WAL, foreign keys, secure delete;
//! clearing erased data out of the write-ahead log) or a PostgreSQL database that several
//! workers share ([`sql`] runs each statement on either); versioned migrations for both,
//! claims on leads for the workers, and one submodule of queries per table group. Only the
//! host opens it; plugins reach data through host calls.
//!
//! Query functions take a [`Conn`] so that callers compose several of them inside one
//! transaction with [`Db::write`].

// The domain crate under the names the store's modules use for it.
use outreach_domain as domain;
use outreach_domain::{clock, config};

pub mod accounts;
pub mod audit;
pub mod cipher;
pub mod claims;
pub mod conditions;
pub mod console;
pub mod copy;
pub mod events;
pub mod lead_notes;
pub mod leads;
pub mod messages;
pub mod notifications;
pub mod outbox;
pub mod person;
pub mod plugins;
pub mod publishers;
pub mod retention;
pub mod saved_replies;
pub mod schedules;
pub mod sql;
pub mod stats;
#[cfg(feature = "testing")]
pub mod testing;
mod trace;
pub mod unrouted;
pub mod usage;

mod engine_lock;
mod migrations;
mod open;

pub use engine_lock::{EngineLock, engine_file_lock};
pub use migrations::POSTGRES_MIGRATIONS;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Context as _;
use rusqlite::{Connection, TransactionBehavior, TransactionState};

pub use sql::{Backend, Conn};

/// A handle to the open database, cheap to clone: the SQLite file (one connection behind a
/// mutex: every statement is short, and a single writer is what SQLite wants anyway) or a
/// PostgreSQL server (a bounded pool).
#[derive(Clone)]
pub struct Db {
    place: Place,
    /// On PostgreSQL, what a console agent's transactions begin with: the agent's role and
    /// accounts, which row-level security narrows every lead's data to ([`Db::for_user`]).
    agent_scope: Option<Arc<str>>,
    /// Every write is rolled back at its end ([`Db::discarding_writes`]).
    discard_writes: bool,
}

#[derive(Clone)]
enum Place {
    Sqlite {
        conn: Arc<Mutex<Connection>>,
        path: PathBuf,
        encrypted: bool,
    },
    Postgres(Arc<sql::PgPool>),
}

/// Taken per transaction by every write on PostgreSQL (see [`Db::write`]).
const WRITE_LOCK: i64 = 0x6f75_7472_6561_6377;

impl Db {
    /// The database as console user `user` with `access` may see it. For an agent on
    /// PostgreSQL every transaction runs as the role `outreach_agent` with the agent's
    /// accounts and name set (`SET LOCAL`, so they end with it), and row-level security
    /// hides every other account's leads, messages, events and sends, and every other
    /// user's read marks, even from a query that forgets to filter. On SQLite, and for an owner, the same database.
    pub fn for_user(&self, user: &str, access: &domain::console_access::Access) -> Db {
        let Some(accounts) = access.account_filter() else {
            return self.clone();
        };
        let Place::Postgres(_) = &self.place else {
            return self.clone();
        };
        let accounts: Vec<String> = accounts.iter().map(i64::to_string).collect();
        // The name as a string literal: console user names are letters, digits and `._-`,
        // but a quote is doubled all the same.
        let user = user.replace('\'', "''");
        Db {
            place: self.place.clone(),
            agent_scope: Some(Arc::from(format!(
                "SET LOCAL ROLE outreach_agent; SET LOCAL outreach.accounts = '{}'; \
                 SET LOCAL outreach.console_user = '{user}'",
                accounts.join(",")
            ))),
            discard_writes: self.discard_writes,
        }
    }

    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite { .. } => Backend::Sqlite,
            Place::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite file; `None` on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.place {
            Place::Sqlite { path, .. } => Some(path),
            Place::Postgres(_) => None,
        }
    }

    /// Where the data is, for messages: the file, or PostgreSQL's server and database
    /// (never its password).
    pub fn location(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } => path.display().to_string(),
            Place::Postgres(pool) => format!("postgres://{}", pool.name),
        }
    }

    /// What the database is, for `outreach doctor`: its engine and version, the schema
    /// version, and on PostgreSQL how many workers hold claims on leads now.
    pub fn describe(&self) -> anyhow::Result<String> {
        match &self.place {
            Place::Sqlite { .. } => self.read(|c| {
                let sqlite = c.as_sqlite().expect("a SQLite store");
                let version: String = sqlite.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
                let schema: i64 = sqlite.pragma_query_value(None, "user_version", |r| r.get(0))?;
                Ok(format!("SQLite {version}, schema version {schema}"))
            }),
            Place::Postgres(_) => self.read(|c| {
                let version: String = c.query_row("SHOW server_version", [], |r| r.get(0))?;
                let schema: i64 = c.query_row("SELECT version FROM outreach_schema", [], |r| r.get(0))?;
                let (workers, leads): (i64, i64) = c.query_row(
                    "SELECT count(DISTINCT worker), count(*) FROM lead_claims",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                // Every table of a lead's data has it, from the same migration.
                let row_security: bool = c.query_row(
                    "SELECT coalesce(bool_and(relrowsecurity AND relforcerowsecurity), false)
                     FROM pg_class WHERE oid IN ('leads'::regclass, 'messages'::regclass)",
                    [],
                    |r| r.get(0),
                )?;
                let row_security = match row_security {
                    true => "on: a console agent reads only their accounts' leads",
                    false => "OFF: a console agent is held to their accounts by the console alone",
                };
                let tls: Option<String> = c.query_row(
                    "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    [],
                    |r| r.get(0),
                )?;
                let connection = match tls {
                    Some(protocol) => format!("connected over {protocol}"),
                    None => "connection not encrypted (sslmode=verify-full to require it)".into(),
                };
                Ok(format!(
                    "PostgreSQL {version}, {connection}, schema version {schema}; row-level security {row_security}; \
                     {workers} worker(s) handling {leads} lead(s) now"
                ))
            }),
        }
    }

    /// Whether the file is encrypted (opened with a key). PostgreSQL's encryption at rest
    /// is the server's.
    pub fn is_encrypted(&self) -> bool {
        matches!(
            self.place,
            Place::Sqlite {
                encrypted: true,
                ..
            }
        )
    }

    /// Copies everything in the write-ahead log into the file and truncates the log to
    /// nothing, so that the old copies of rows just erased are gone from both. A reader in
    /// another process (the engine, a listing) can hold the log; this waits for it up to
    /// `patience` and otherwise fails, so an erasure never reports success with data left.
    pub fn clear_log(&self, patience: std::time::Duration) -> anyhow::Result<()> {
        let Place::Sqlite { path, .. } = &self.place else {
            // The server's own log is the server's (its WAL recycles; VACUUM reclaims).
            return Ok(());
        };
        if path == Path::new(":memory:") {
            return Ok(());
        }
        let conn = self.lock();
        let started = std::time::Instant::now();
        loop {
            let busy: i64 = conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                .context("cannot checkpoint the write-ahead log")?;
            let log_left =
                std::fs::metadata(cipher::sibling(path, "wal")).map_or(0, |log| log.len());
            if busy == 0 && log_left == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < patience,
                "the erased data is gone from {}, but its old copy in {}-wal could not be cleared: another process keeps reading the database; stop it and run the command again",
                path.display(),
                path.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The SQLite connection. Only for what SQLite alone has (tracing, the log).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        let Place::Sqlite { conn, .. } = &self.place else {
            panic!("SQLite's connection asked of a PostgreSQL store")
        };
        // A panic while holding the lock leaves SQLite consistent (statements are atomic),
        // so a poisoned mutex is still safe to use.
        conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs queries that change nothing, in one read transaction: they all see the same
    /// snapshot of the data. A write slipped in here is undone and fails loudly instead of
    /// landing outside a write transaction.
    ///
    /// (On SQLite not `PRAGMA query_only`: toggling it expires every prepared statement, so
    /// each read parsed all its SQL again.)
    pub fn read<R>(&self, f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>) -> anyhow::Result<R> {
        let Place::Sqlite { .. } = &self.place else {
            return self.in_postgres_transaction(Commit::ReadOnly, f);
        };
        let (result, wrote) = self.sqlite_rolled_back("BEGIN DEFERRED", f)?;
        anyhow::ensure!(
            !wrote,
            "a write was attempted inside a read of the database"
        );
        result
    }

    /// Runs `f` on SQLite in a transaction begun by `begin` and rolled back whatever `f`
    /// did; says whether it wrote.
    fn sqlite_rolled_back<R>(
        &self,
        begin: &str,
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<(anyhow::Result<R>, bool)> {
        let conn = self.lock();
        end_left_transaction(&conn)?;
        conn.prepare_cached(begin)?.execute([])?;
        let result = f(&Conn::sqlite(&conn));
        let wrote = conn.transaction_state(None::<&str>)? == TransactionState::Write;
        conn.prepare_cached("ROLLBACK")?.execute([])?;
        Ok((result, wrote))
    }

    /// Runs `f` in one transaction: all of it lands, or none of it. The transaction takes
    /// the write lock when it begins, so writes happen one at a time, on PostgreSQL across
    /// every worker too (a transaction-scoped advisory lock): the engine's rules (a send
    /// claimed once, a daily cap counted exactly) hold as they do on one SQLite file. On
    /// SQLite (`BEGIN IMMEDIATE`) another process writing to the file makes it wait, up to
    /// the busy timeout, rather than fail halfway with "database is locked".
    pub fn write<R>(&self, f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>) -> anyhow::Result<R> {
        if self.discard_writes {
            return self.discarded(f);
        }
        match &self.place {
            Place::Sqlite { .. } => in_write_transaction(&mut self.lock(), f),
            Place::Postgres(_) => self.in_postgres_transaction(Commit::Flushed, f),
        }
    }

    /// Like [`Db::write`], for the engine's own bookkeeping, whose loss only means doing
    /// work again (a lead's claim, an event's ending, a send's record, a host call's audit
    /// row that nothing leaving the machine follows): on PostgreSQL the
    /// commit does not wait for the server's disk (`synchronous_commit = off` for this
    /// transaction only). A crash of the *server* may then lose the last of these commits,
    /// never a part of one, and never one that a later flushed commit (one that wrote
    /// something) follows, the log being written in order: nothing leaves the machine on
    /// their strength before such a commit,
    /// since a send's attempt record ([`outbox::begin_attempt`], through
    /// [`Db::write_durable`]), an AI request's audit and an accepted webhook are flushed
    /// writes. A worker killed half-way loses nothing:
    /// the server has what it committed. Close to what SQLite's WAL gives with
    /// `synchronous = NORMAL`, which this store uses (it loses commits only when the machine
    /// itself goes down); on SQLite this is [`Db::write`].
    pub fn write_flushed_later<R>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        if self.discard_writes {
            return self.discarded(f);
        }
        match &self.place {
            Place::Sqlite { .. } => in_write_transaction(&mut self.lock(), f),
            Place::Postgres(_) => self.in_postgres_transaction(Commit::FlushedLater, f),
        }
    }

    /// Like [`Db::write`], on disk when it returns even if the machine then loses power: for
    /// the record that something is about to leave the machine and must not leave twice (a
    /// send's attempt, [`outbox::begin_attempt`]). On SQLite this commit syncs the
    /// write-ahead log (`synchronous = FULL` for this transaction only; the store's other
    /// commits are `NORMAL`, which a power cut may lose, never half-done). On PostgreSQL
    /// every [`Db::write`] is flushed already.
    pub fn write_durable<R>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        self.write_with_pragma(("synchronous", "FULL", "NORMAL"), f)
    }

    /// Like [`Db::write`] without checking foreign keys, for bulk writes whose every
    /// reference holds by construction: checking them is a lookup per row, half the time
    /// of a lead import. Only for rows that name what the same transaction stored or what
    /// it checked exists; the checks are back on for whatever runs next, also after an
    /// error or a panic in `f`. (PostgreSQL checks them always.)
    pub fn write_unchecked<R>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        self.write_with_pragma(("foreign_keys", "OFF", "ON"), f)
    }

    /// [`Db::write`] with SQLite's pragma `name` at `during` for this transaction and back
    /// at `after` for whatever runs next, also after an error or a panic in `f`; on
    /// PostgreSQL, [`Db::write`].
    fn write_with_pragma<R>(
        &self,
        (name, during, after): (&'static str, &'static str, &'static str),
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        struct Restore<'c>(MutexGuard<'c, Connection>, &'static str, &'static str);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                // Outside any transaction (`f`'s was committed or rolled back by now), so
                // the pragma takes effect.
                let _ = end_left_transaction(&self.0);
                let _ = self.0.pragma_update(None, self.1, self.2);
            }
        }
        let (Place::Sqlite { .. }, false) = (&self.place, self.discard_writes) else {
            return self.write(f);
        };
        let mut conn = Restore(self.lock(), name, after);
        end_left_transaction(&conn.0)?;
        // Only outside a transaction does the pragma take effect.
        conn.0.pragma_update(None, name, during)?;
        in_write_transaction(&mut conn.0, f)
    }

    /// The same data, where every write transaction is rolled back at its end instead of
    /// committed: what is written is seen by the rest of that transaction and by nothing
    /// else, and the database is left as it was (a shadow run of a plugin's new version).
    pub fn discarding_writes(&self) -> Db {
        Db {
            discard_writes: true,
            ..self.clone()
        }
    }

    /// Whether every write through this handle is rolled back.
    pub fn discards_writes(&self) -> bool {
        self.discard_writes
    }

    /// Runs `f` in a transaction that is rolled back whatever it did.
    fn discarded<R>(&self, f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>) -> anyhow::Result<R> {
        let Place::Sqlite { .. } = &self.place else {
            return self.in_postgres_transaction(Commit::Discarded, f);
        };
        // Immediate, as a write would be: on a file other connections write to, a write
        // after a read in a deferred transaction fails at once instead of waiting its turn.
        self.sqlite_rolled_back("BEGIN IMMEDIATE", f)?.0
    }

    fn in_postgres_transaction<R>(
        &self,
        commit: Commit,
        f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        let Place::Postgres(pool) = &self.place else {
            unreachable!("only called for PostgreSQL")
        };
        let pooled = pool.take()?;
        let cell = pooled.conn();
        let read_only = commit == Commit::ReadOnly;
        let lock = matches!(commit, Commit::Flushed | Commit::FlushedLater)
            .then(|| format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"));
        // Said either way: a server, database or role whose default is `off` must not make
        // the commits that something leaving the machine relies on lazy.
        let flush = match commit {
            Commit::FlushedLater => Some("SET LOCAL synchronous_commit = off"),
            Commit::Flushed => Some("SET LOCAL synchronous_commit = on"),
            Commit::ReadOnly | Commit::Discarded => None,
        };
        let first: Vec<&str> = lock
            .iter()
            .map(String::as_str)
            .chain(flush)
            .chain(self.agent_scope.as_deref())
            .collect();
        cell.borrow_mut().begin(read_only, &first.join("; "));
        let conn = Conn::postgres(cell);
        let result = f(&conn);
        let ended = cell
            .borrow_mut()
            .finish(result.is_ok() && commit != Commit::Discarded);
        let value = result?;
        ended?;
        Ok(value)
    }
}

/// How a PostgreSQL transaction ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Nothing to commit: a read.
    ReadOnly,
    /// The commit waits until the server has it on disk.
    Flushed,
    /// The commit returns before that ([`Db::write_flushed_later`]).
    FlushedLater,
    /// Rolled back at its end ([`Db::discarding_writes`]).
    Discarded,
}

/// Rolls back a transaction an earlier read or write left open by panicking.
fn end_left_transaction(conn: &Connection) -> anyhow::Result<()> {
    if !conn.is_autocommit() {
        conn.prepare_cached("ROLLBACK")?.execute([])?;
    }
    Ok(())
}

/// Runs `f` in one write transaction on `conn`, taking the write lock as it begins.
fn in_write_transaction<R>(
    conn: &mut Connection,
    f: impl FnOnce(&Conn<'_>) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    end_left_transaction(conn)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let result = f(&Conn::sqlite(&tx))?;
    tx.commit()?;
    Ok(result)
}

/// Whether `error` is the database saying another connection is in the way (SQLite's
/// busy or locked; PostgreSQL's serialization failure, deadlock or lock timeout): worth
/// trying again after a pause, unlike any other store error.
pub fn is_busy(error: &anyhow::Error) -> bool {
    let sqlite_busy = |e: &rusqlite::Error| {
        matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    };
    let postgres_busy = |e: &tokio_postgres::Error| {
        e.code()
            .is_some_and(|code| matches!(code.code(), "40001" | "40P01" | "55P03"))
    };
    error.chain().any(|cause| {
        cause
            .downcast_ref::<rusqlite::Error>()
            .is_some_and(sqlite_busy)
            || cause
                .downcast_ref::<tokio_postgres::Error>()
                .is_some_and(postgres_busy)
            || cause.downcast_ref::<sql::Error>().is_some_and(|e| match e {
                sql::Error::Sqlite(e) => sqlite_busy(e),
                sql::Error::Postgres(e) => postgres_busy(e),
                _ => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::MIGRATIONS;

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        Db::open(&path, None).unwrap();
        let db = Db::open(&path, None).unwrap();
        let version = db
            .read(|c| {
                let c = c.as_sqlite().unwrap();
                Ok(c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?)
            })
            .unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }

    #[test]
    fn a_database_from_before_secure_delete_is_vacuumed_once_on_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        Db::open(&path, None).unwrap();
        {
            // As version 10 left it (what later migrations add taken out again): a deleted
            // lead's bytes still in a free page.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "PRAGMA secure_delete = OFF;
                 INSERT INTO leads (handle, name, created_at, updated_at)
                   VALUES ('old-lead', 'Erased-Long-Ago Name', 0, 0);
                 DELETE FROM leads WHERE handle = 'old-lead';
                 DROP TABLE plugin_previous;
                 ALTER TABLE plugins DROP COLUMN publisher;
                 DROP TABLE publisher_keys;
                 DROP TABLE saved_replies;
                 DROP TABLE lead_reads;
                 DROP INDEX leads_by_assignee;
                 DROP TABLE lead_notes;
                 ALTER TABLE leads DROP COLUMN assigned_to;
                 DROP TABLE notifications;
                 ALTER TABLE accounts DROP COLUMN notify_url_sealed;
                 DROP INDEX outbox_comment_reply;
                 ALTER TABLE outbox DROP COLUMN public_reply;
                 ALTER TABLE outbox DROP COLUMN comment_id;
                 ALTER TABLE outbox DROP COLUMN comment_at;
                 ALTER TABLE outbox DROP COLUMN live_media_id;
                 ALTER TABLE outbox DROP COLUMN quick_replies;
                 DROP INDEX outbox_queued_by_event;
                 DROP INDEX leads_needing_a_person;
                 DROP INDEX leads_by_account;
                 DROP TABLE lead_claims;
                 DROP INDEX messages_by_channel_id;
                 ALTER TABLE messages DROP COLUMN channel_message_id;
                 ALTER TABLE leads DROP COLUMN disclosed_at;
                 DROP TABLE console_user_accounts;
                 DROP TABLE console_login_links;
                 DROP TABLE console_sessions;
                 DROP TABLE console_users;
                 PRAGMA user_version = 10;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
        }
        let raw = || std::fs::read(&path).unwrap();
        let holds = |bytes: Vec<u8>| bytes.windows(10).any(|w| w == b"Erased-Lon");
        assert!(
            holds(raw()),
            "the test needs the old bytes in the file first"
        );
        drop(Db::open(&path, None).unwrap());
        assert!(!holds(raw()), "the upgrade rewrote the file without them");
    }

    #[test]
    fn tags_fields_and_events_keep_every_row_and_reference_through_migration_14() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        {
            // A file as version 13 left it, written with foreign keys enforced.
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", "ON").unwrap();
            for sql in &MIGRATIONS[..13] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 13;
                 INSERT INTO leads (id, handle, created_at, updated_at) VALUES (7, 'mara', 0, 0);
                 INSERT INTO lead_tags (lead_id, tag) VALUES (7, 'vip'), (7, 'yoga');
                 INSERT INTO lead_fields (lead_id, key, value) VALUES (7, 'followers', '12,400');
                 INSERT INTO events (id, kind, lead_id, payload, dedupe_key, created_at, next_attempt_at)
                   VALUES (40, 'inbound', 7, '{}', 'ig:m1', 0, 0),
                          (41, 'lead-imported', 7, '{}', NULL, 0, 0);
                 INSERT INTO event_results (event_id, plugin, status, attempts, updated_at)
                   VALUES (40, 'ai-reply', 'done', 1, 0);",
            )
            .unwrap();
        }
        let db = Db::open(&path, None).unwrap();
        let count = |sql: &str| db.read(|c| Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?));
        assert_eq!(
            count("SELECT count(*) FROM lead_tags WHERE lead_id = 7").unwrap(),
            2
        );
        assert_eq!(
            count("SELECT count(*) FROM lead_fields WHERE lead_id = 7").unwrap(),
            1
        );
        assert_eq!(
            count("SELECT count(*) FROM events WHERE lead_id = 7").unwrap(),
            2
        );
        // Rebuilding `events` did not cascade into the results that name its rows.
        assert_eq!(count("SELECT count(*) FROM event_results").unwrap(), 1);
        assert_eq!(
            count(
                "SELECT count(*) FROM sqlite_schema
                 WHERE name IN ('lead_tags', 'lead_fields') AND sql LIKE '%WITHOUT ROWID'"
            )
            .unwrap(),
            2
        );
        db.write(|tx| {
            // Dedupe keys are still unique; events without one still are not.
            let again = tx.execute(
                "INSERT OR IGNORE INTO events (kind, lead_id, payload, dedupe_key, created_at, next_attempt_at)
                 VALUES ('inbound', 7, '{}', 'ig:m1', 1, 1), ('lead-imported', 7, '{}', NULL, 1, 1)",
                [],
            )?;
            assert_eq!(again, 1);
            // A tag for a lead that does not exist is refused: references are checked again.
            let orphan = tx.execute("INSERT INTO lead_tags (lead_id, tag) VALUES (99, 'x')", []);
            assert!(orphan.is_err(), "{orphan:?}");
            // An event of no known kind is refused, as before.
            let unknown = tx.execute(
                "INSERT INTO events (kind, lead_id, payload, created_at, next_attempt_at)
                 VALUES ('lead-imported ', 7, '{}', 1, 1)",
                [],
            );
            assert!(unknown.is_err(), "{unknown:?}");
            tx.execute("DELETE FROM leads WHERE id = 7", [])?;
            Ok(())
        })
        .unwrap();
        for table in ["lead_tags", "lead_fields", "events", "event_results"] {
            assert_eq!(
                count(&format!("SELECT count(*) FROM {table}")).unwrap(),
                0,
                "{table}"
            );
        }
    }

    #[test]
    fn a_statement_is_planned_once_whatever_is_bound_to_it() {
        let db = Db::open_in_memory().unwrap();
        let reprepared = db
            .read(|c| {
                let c = c.as_sqlite().unwrap();
                let mut statement = c.prepare_cached("SELECT id FROM leads WHERE status = ?1")?;
                for status in ["new", "needs-human", "contacted", "new"] {
                    statement
                        .query_map([status], |r| r.get::<_, i64>(0))?
                        .count();
                }
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .unwrap();
        assert_eq!(reprepared, 0);
    }

    #[test]
    fn references_are_checked_again_after_an_unchecked_write_fails_or_panics() {
        let db = Db::open_in_memory().unwrap();
        let orphan_tag = |tx: &Conn<'_>| -> anyhow::Result<()> {
            tx.execute("INSERT INTO lead_tags (lead_id, tag) VALUES (99, 'x')", [])?;
            Ok(())
        };
        db.write_unchecked(|tx| -> anyhow::Result<()> {
            orphan_tag(tx)?;
            anyhow::bail!("the import failed")
        })
        .unwrap_err();
        assert!(db.write(orphan_tag).is_err(), "checked after an error");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.write_unchecked(|tx| -> anyhow::Result<()> {
                orphan_tag(tx)?;
                panic!("in an import")
            })
        }));
        assert!(panicked.is_err());
        assert!(db.write(orphan_tag).is_err(), "checked after a panic");
        let kept: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM lead_tags", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(kept, 0, "neither unchecked write landed");
    }

    #[test]
    fn a_write_inside_a_read_fails_and_is_undone() {
        let db = Db::open_in_memory().unwrap();
        let error = db
            .read(|c| {
                c.execute(
                    "INSERT INTO suppressed_handles (handle_sha256, at) VALUES ('x', 0)",
                    [],
                )?;
                Ok(())
            })
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("write was attempted inside a read"),
            "{error}"
        );
        let rows: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM suppressed_handles", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_panic_inside_a_read_leaves_the_connection_usable() {
        let db = Db::open_in_memory().unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.read(|_| -> anyhow::Result<()> { panic!("in a read") })
        }));
        assert!(panicked.is_err());
        db.write(|tx| {
            Ok(tx.execute(
                "INSERT INTO suppressed_handles (handle_sha256, at) VALUES ('x', 0)",
                [],
            )?)
        })
        .unwrap();
    }
}
