//! PostgreSQL behind [`super::Conn`]: a bounded pool of connections, statements prepared
//! once per connection, transactions. SQLite's placeholders and types are translated in
//! `postgres_types.rs`.
//!
//! The client is tokio-postgres; its connections run on a runtime of their own (one thread
//! the pool owns), and the store's callers, synchronous like SQLite's, wait on each reply.
//! So a query made from inside the engine's runtime never blocks that runtime's reactor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::Context as _;
use tokio_postgres::types::ToSql;

use super::postgres_types::{column, placeholders};
use super::{Owned, Result, Value, postgres_tls, postgres_tls_stream};

/// Statements kept prepared per connection. A statement whose text varies (a list of ids
/// written into it) would otherwise make the cache, and the server's memory, grow forever.
const STATEMENT_CACHE: usize = 512;

/// How long a caller waits for a free connection before the pool says so.
const WAIT_FOR_CONNECTION: std::time::Duration = std::time::Duration::from_secs(30);

/// A statement sent and not waited for ([`PgConn::run`]): its answer comes before the answer
/// to whatever the connection waits for next, and is read then.
type Unanswered =
    Pin<Box<dyn Future<Output = std::result::Result<u64, tokio_postgres::Error>> + Send>>;

/// One connection and the statements prepared on it.
///
/// Round trips are what a statement costs here (on a 2-core VM, 70 µs each against 5 µs of
/// the server's work when statements are pipelined), so a connection waits for an answer
/// only when the caller needs one: a transaction's start goes out with its first
/// statement, a statement whose count nobody reads ([`super::Conn::run`]) goes out at once
/// and is answered together with the next statement or the commit, a transaction that ran
/// no statement sends nothing, and a read's end is sent without waiting for the answer (the
/// connection's next request queues behind it).
pub struct PgConn {
    client: Arc<tokio_postgres::Client>,
    statements: HashMap<String, tokio_postgres::Statement>,
    in_transaction: bool,
    /// What the transaction starts with, not sent yet.
    unsent_begin: Option<String>,
    /// Sent in this transaction and not answered yet, in the order they were sent.
    unanswered: Vec<Unanswered>,
    read_only: bool,
}

impl PgConn {
    fn new(client: tokio_postgres::Client) -> Self {
        Self {
            client: Arc::new(client),
            statements: HashMap::new(),
            in_transaction: false,
            unsent_begin: None,
            unanswered: Vec::new(),
            read_only: false,
        }
    }

    pub(super) fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let text = placeholders(sql);
        let earlier = self.sent_so_far()?;
        let statement = after(earlier, self.client.prepare(&text))?;
        if self.statements.len() >= STATEMENT_CACHE {
            // Dropped statements are closed on the server.
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    pub(super) fn execute(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<usize> {
        let earlier = self.sent_so_far()?;
        Ok(after(earlier, self.client.execute(statement, &bound(values)))? as usize)
    }

    /// Sends the statement and returns without its answer: an error in it is the error of
    /// the transaction's next statement or of its commit (which then rolls back). One
    /// refused before it went out (a value its parameter's type cannot take) is returned
    /// here, as SQLite would.
    pub(super) fn run(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<()> {
        debug_assert!(
            self.in_transaction,
            "a statement sent outside a transaction"
        );
        self.send_begin()?;
        let client = self.client.clone();
        let statement = statement.clone();
        let values: Vec<Owned> = values.iter().map(Owned::of).collect();
        self.send(Box::pin(async move {
            let values: Vec<Value<'_>> = values.iter().map(Owned::as_value).collect();
            client.execute(&statement, &bound(&values)).await
        }))
    }

    pub(super) fn query(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let earlier = self.sent_so_far()?;
        after(earlier, self.client.query(statement, &bound(values)))
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        let earlier = self.sent_so_far()?;
        after(earlier, self.client.batch_execute(sql))
    }

    /// Starts a transaction; `read_only` ones refuse every write. `then` runs first in it
    /// (a write's lock, a console agent's scope). Nothing is sent until the transaction's
    /// first statement.
    pub(crate) fn begin(&mut self, read_only: bool, then: &str) {
        let begin = if read_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        };
        self.unsent_begin = Some(format!("{begin}; {then}"));
        self.in_transaction = true;
        self.read_only = read_only;
    }

    /// Ends the transaction. Whatever it sent without waiting is answered first: its first
    /// error is returned (a commit after it rolled back; the caller's own error, if it has
    /// one, comes first).
    pub(crate) fn finish(&mut self, commit: bool) -> Result<()> {
        self.in_transaction = false;
        if self.unsent_begin.take().is_some() {
            // Nothing was sent: there is nothing to end.
            return Ok(());
        }
        let earlier = std::mem::take(&mut self.unanswered);
        if self.read_only && commit && earlier.is_empty() {
            // A read has nothing to commit and nothing to wait for.
            send_without_waiting(self.client.batch_execute("COMMIT"));
            return Ok(());
        }
        after(
            earlier,
            self.client
                .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }),
        )
    }

    /// The transaction's start, if it has not gone out yet, and what was sent after it
    /// without waiting: to be answered before the next request.
    fn sent_so_far(&mut self) -> Result<Vec<Unanswered>> {
        self.send_begin()?;
        Ok(std::mem::take(&mut self.unanswered))
    }

    /// Sends the transaction's start if it has not gone out yet. Refused, it stays unsent,
    /// so that no statement of the transaction ever runs outside it (without its lock or
    /// a console agent's scope): each one fails the same way.
    fn send_begin(&mut self) -> Result<()> {
        let Some(begin) = self.unsent_begin.take() else {
            return Ok(());
        };
        let client = self.client.clone();
        let text = begin.clone();
        let sent = self.send(Box::pin(async move {
            client.batch_execute(&text).await.map(|()| 0)
        }));
        if sent.is_err() {
            self.unsent_begin = Some(begin);
        }
        sent
    }

    /// Queues `request` on the connection (its first poll sends it) and keeps it for its
    /// answer.
    fn send(&mut self, mut request: Unanswered) -> Result<()> {
        match first_poll(request.as_mut()) {
            std::task::Poll::Pending => self.unanswered.push(request),
            // Answered already: the connection's thread was quicker than this one.
            std::task::Poll::Ready(Ok(_)) => {}
            // Refused before it went out, or answered already with an error: the caller
            // hears it now. An earlier statement's error, if there is one, is the cause.
            std::task::Poll::Ready(Err(error)) => {
                let earlier = std::mem::take(&mut self.unanswered);
                after(earlier, std::future::ready(Err::<u64, _>(error)))?;
            }
        }
        Ok(())
    }
}

/// The values as tokio-postgres binds them.
fn bound<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values.iter().map(|v| v as _).collect()
}

/// Waits for `request` after the answers to `earlier` (sent before it, so answered before
/// it, in one round trip with it); the first error among them is the result.
fn after<T>(
    earlier: Vec<Unanswered>,
    request: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> Result<T> {
    if earlier.is_empty() {
        return wait(request);
    }
    let (earlier, answer) = futures_executor::block_on(futures_util::future::join(
        futures_util::future::join_all(earlier),
        request,
    ));
    // After a failed statement the server refuses the rest of the transaction: the first
    // error is the one that says why.
    for answered in earlier {
        answered?;
    }
    Ok(answer?)
}

/// Sends a request and leaves its answer to be discarded.
fn send_without_waiting(request: impl Future) {
    let _ = first_poll(std::pin::pin!(request));
}

/// Polls a request once, which queues it on the connection: tokio-postgres sends before
/// it first waits.
/// It may come back answered already: the connection's thread can run, and the answer
/// arrive, before this thread is back from handing the request over.
fn first_poll<F: Future + ?Sized>(request: Pin<&mut F>) -> std::task::Poll<F::Output> {
    let waker = futures_util::task::noop_waker();
    request.poll(&mut std::task::Context::from_waker(&waker))
}

/// Waits for a reply. Not tokio's `block_on`, which refuses to run on a thread of a
/// runtime: the engine calls the store from its tasks, as it does SQLite's.
fn wait<T>(
    future: impl Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> Result<T> {
    Ok(futures_executor::block_on(future)?)
}

/// Connections to one database, at most `max` open at once.
pub struct PgPool {
    config: tokio_postgres::Config,
    /// TLS as the connection string's `sslmode` asks; `None` for none.
    tls: Option<postgres_tls_stream::MakeRustlsConnect>,
    runtime: tokio::runtime::Handle,
    stop: Option<std::sync::mpsc::Sender<()>>,
    idle: Mutex<Vec<PgConn>>,
    open: Mutex<usize>,
    freed: Condvar,
    max: usize,
    /// The connection that holds this process's session-level advisory lock, if any.
    session_lock: Mutex<SessionLock>,
    /// The server, for messages (no password).
    pub(crate) name: String,
}

impl PgPool {
    /// Checks `url` (a `postgres://` URL or libpq `key=value` string) and connects once.
    pub fn connect(url: &str, max: usize) -> anyhow::Result<Self> {
        let (mut config, tls) = parse(url)?;
        let over_tcp = config
            .get_hosts()
            .iter()
            .any(|host| matches!(host, tokio_postgres::config::Host::Tcp(_)));
        // The server offers no TLS on a Unix socket; libpq ignores sslmode there too.
        let tls = match over_tcp {
            true => {
                config.ssl_mode(tls.ssl_mode());
                tls.client_config()?
                    .map(postgres_tls_stream::MakeRustlsConnect::new)
            }
            false => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                None
            }
        };
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        let name = describe_server(&config);
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the PostgreSQL connections");
                let _ = handle_tx.send(runtime.handle().clone());
                // Runs the connections until the pool is dropped.
                runtime.block_on(async move {
                    let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
                });
            })
            .context("cannot start the PostgreSQL connection thread")?;
        let runtime = handle_rx
            .recv()
            .context("the PostgreSQL connection thread ended")?;
        let pool = Self {
            config,
            tls,
            runtime,
            stop: Some(stop),
            idle: Mutex::new(Vec::new()),
            open: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
            session_lock: Mutex::new(SessionLock::default()),
            name,
        };
        let first = pool.open_one()?;
        pool.idle.lock().unwrap().push(first);
        *pool.open.lock().unwrap() = 1;
        Ok(pool)
    }

    /// A connection outside the pool, for a lock held as long as the process runs.
    pub(crate) fn open_one(&self) -> anyhow::Result<PgConn> {
        let config = self.config.clone();
        let tls = self.tls.clone();
        let connecting = self.runtime.spawn(async move {
            match tls {
                Some(tls) => connect(config, tls).await,
                None => connect(config, tokio_postgres::NoTls).await,
            }
        });
        let client = futures_executor::block_on(connecting)
            .context("the PostgreSQL connection thread ended")?
            .map_err(|e| anyhow::anyhow!("{}", describe(&e)))
            .with_context(|| format!("cannot connect to PostgreSQL at {}", self.name))?;
        Ok(PgConn::new(client))
    }

    /// A connection of its own until the guard is dropped; waits while `max` are in use.
    pub(crate) fn take(&self) -> anyhow::Result<Pooled<'_>> {
        let deadline = std::time::Instant::now() + WAIT_FOR_CONNECTION;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(mut conn) = idle.pop() {
                if conn.client.is_closed() {
                    *self.open() -= 1;
                    continue;
                }
                // A panic left it inside a transaction: rolled back, or, where that fails
                // (or a statement sent before the panic failed), closed and replaced.
                if conn.in_transaction && conn.finish(false).is_err() {
                    *self.open() -= 1;
                    continue;
                }
                return Ok(Pooled {
                    pool: self,
                    conn: Some(RefCell::new(conn)),
                });
            }
            if *self.open() < self.max {
                *self.open() += 1;
                drop(idle);
                return match self.open_one() {
                    Ok(conn) => Ok(Pooled {
                        pool: self,
                        conn: Some(RefCell::new(conn)),
                    }),
                    Err(e) => {
                        *self.open() -= 1;
                        Err(e)
                    }
                };
            }
            let now = std::time::Instant::now();
            anyhow::ensure!(
                now < deadline,
                "all {} connections to PostgreSQL at {} stayed busy for {}s",
                self.max,
                self.name,
                WAIT_FOR_CONNECTION.as_secs()
            );
            idle = self
                .freed
                .wait_timeout(idle, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Whether this process holds the session-level advisory lock `key`: taken on a
    /// connection of its own the first time it is free, held until the process ends or
    /// the connection breaks (then another process takes it).
    pub(crate) fn hold_session_lock(&self, key: i64) -> anyhow::Result<bool> {
        let mut lock = self.session_lock.lock().unwrap_or_else(|p| p.into_inner());
        if lock.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            *lock = SessionLock::default();
        }
        if lock.held {
            return Ok(true);
        }
        if lock.conn.is_none() {
            lock.conn = Some(self.open_one()?);
        }
        let conn = lock.conn.as_mut().expect("opened above");
        let statement = conn.prepare("SELECT pg_try_advisory_lock(?1)")?;
        let rows = conn.query(&statement, &[Value::Integer(key)])?;
        lock.held = rows
            .first()
            .map(|row| column(row, 0))
            .transpose()?
            .is_some_and(|got| got == Owned::Integer(1));
        Ok(lock.held)
    }

    fn open(&self) -> MutexGuard<'_, usize> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        drop(self.stop.take());
    }
}

#[derive(Default)]
struct SessionLock {
    conn: Option<PgConn>,
    held: bool,
}

/// A connection taken from the pool; goes back when dropped.
pub(crate) struct Pooled<'p> {
    pool: &'p PgPool,
    conn: Option<RefCell<PgConn>>,
}

impl Pooled<'_> {
    pub(crate) fn conn(&self) -> &RefCell<PgConn> {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn.into_inner());
            self.pool.freed.notify_one();
        }
    }
}

/// Opens one connection and leaves it running on the current runtime.
async fn connect<T>(
    config: tokio_postgres::Config,
    tls: T,
) -> std::result::Result<tokio_postgres::Client, tokio_postgres::Error>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection closed: {}", describe(&e));
        }
    });
    Ok(client)
}

fn parse(url: &str) -> anyhow::Result<(tokio_postgres::Config, postgres_tls::TlsSettings)> {
    let (rest, tls) = postgres_tls::split(url)?;
    // The parser's own message could quote the string, password and all.
    let config = rest
        .parse()
        .map_err(|_| anyhow::anyhow!("the PostgreSQL connection string is not valid (expected postgres://user@host/database or host=… dbname=…)"))?;
    Ok((config, tls))
}

/// Whether the connection string carries a password.
pub fn has_password(url: &str) -> anyhow::Result<bool> {
    Ok(parse(url)?.0.get_password().is_some())
}

/// Where the pool connects, without the password.
fn describe_server(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|host| match host {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let db = config.get_dbname().or(config.get_user()).unwrap_or("");
    format!("{host}/{db}")
}

/// PostgreSQL's own message for a server error (its `Display` says only "db error").
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!("PostgreSQL: {}", db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            text
        }
        None => {
            // Its `Display` leaves out the cause ("error performing TLS handshake", not
            // which certificate was refused and why).
            let mut text = format!("PostgreSQL: {error}");
            let mut cause = std::error::Error::source(error);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            text
        }
    }
}
