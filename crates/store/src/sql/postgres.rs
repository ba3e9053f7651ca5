//! PostgreSQL behind [`super::Conn`]: a bounded pool of connections, statements prepared
//! once per connection, SQLite's `?1` placeholders turned into `$1`, values converted to
//! the types the server asks for and back into SQLite's four.
//!
//! The client is tokio-postgres; its connections run on a runtime of their own (one thread
//! the pool owns), and the store's callers, synchronous like SQLite's, wait on each reply.
//! So a query made from inside the engine's runtime never blocks that runtime's reactor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use anyhow::Context as _;
use bytes::{BufMut as _, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{Error, Owned, Result, Value, postgres_tls, postgres_tls_stream};

/// Statements kept prepared per connection. A statement whose text varies (a list of ids
/// written into it) would otherwise make the cache, and the server's memory, grow forever.
const STATEMENT_CACHE: usize = 512;

/// How long a caller waits for a free connection before the pool says so.
const WAIT_FOR_CONNECTION: std::time::Duration = std::time::Duration::from_secs(30);

/// One connection and the statements prepared on it.
///
/// Round trips are what a statement costs here, so a transaction's start is not sent on its
/// own: it goes out with the transaction's first statement (pipelined, one round trip), a
/// transaction that ran no statement sends nothing, and a read's end is sent without waiting
/// for the answer (the connection's next request queues behind it).
pub struct PgConn {
    client: tokio_postgres::Client,
    statements: HashMap<String, tokio_postgres::Statement>,
    in_transaction: bool,
    /// What the transaction starts with, not sent yet.
    unsent_begin: Option<String>,
    read_only: bool,
}

impl PgConn {
    fn new(client: tokio_postgres::Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
            in_transaction: false,
            unsent_begin: None,
            read_only: false,
        }
    }

    pub(super) fn prepare(&mut self, sql: &str) -> Result<tokio_postgres::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let text = placeholders(sql);
        let begin = self.unsent_begin.take();
        let statement = after_begin(&self.client, begin, self.client.prepare(&text))?;
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
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let begin = self.unsent_begin.take();
        Ok(after_begin(&self.client, begin, self.client.execute(statement, &params))? as usize)
    }

    pub(super) fn query(
        &mut self,
        statement: &tokio_postgres::Statement,
        values: &[Value<'_>],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let begin = self.unsent_begin.take();
        after_begin(&self.client, begin, self.client.query(statement, &params))
    }

    pub(super) fn batch(&mut self, sql: &str) -> Result<()> {
        match self.unsent_begin.take() {
            Some(begin) => wait(self.client.batch_execute(&format!("{begin}; {sql}"))),
            None => wait(self.client.batch_execute(sql)),
        }
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

    pub(crate) fn finish(&mut self, commit: bool) -> Result<()> {
        self.in_transaction = false;
        if self.unsent_begin.take().is_some() {
            // Nothing was sent: there is nothing to end.
            return Ok(());
        }
        if self.read_only && commit {
            // A read has nothing to commit and nothing to wait for.
            send_without_waiting(self.client.batch_execute("COMMIT"));
            return Ok(());
        }
        wait(
            self.client
                .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }),
        )
    }
}

/// Waits for `request`, sent together with the transaction's start (`begin`) if that has
/// not gone out yet.
fn after_begin<T>(
    client: &tokio_postgres::Client,
    begin: Option<String>,
    request: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
) -> Result<T> {
    let Some(begin) = begin else {
        return wait(request);
    };
    // Both are queued on the connection in this order before either is answered.
    let (began, answered) = futures_executor::block_on(futures_util::future::join(
        client.batch_execute(&begin),
        request,
    ));
    began?;
    Ok(answered?)
}

/// Sends a request and leaves its answer to be discarded: the first poll queues it on the
/// connection.
fn send_without_waiting(request: impl std::future::Future) {
    let mut request = std::pin::pin!(request);
    let waker = futures_util::task::noop_waker();
    let _ = request
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker));
}

/// Waits for a reply. Not tokio's `block_on`, which refuses to run on a thread of a
/// runtime: the engine calls the store from its tasks, as it does SQLite's.
fn wait<T>(
    future: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
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
                if conn.in_transaction {
                    // A panic left it inside a transaction.
                    conn.finish(false)?;
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

/// SQLite's placeholders as PostgreSQL's: `?3` → `$3`, a bare `?` → the next number.
/// Quoted strings, quoted names and comments are left as they are.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut highest = 0u32;
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for inner in chars.by_ref() {
                    out.push(inner);
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let number = digits.parse().unwrap_or(highest + 1);
                highest = highest.max(number);
                out.push_str(&format!("${number}"));
            }
            c => out.push(c),
        }
    }
    out
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let text_like = matches!(
            *ty,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON
        );
        match *self {
            Value::Null => return Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => out.put_i64(i),
                Type::INT4 => out.put_i32(i32::try_from(i)?),
                Type::INT2 => out.put_i16(i16::try_from(i)?),
                Type::BOOL => out.put_u8(u8::from(i != 0)),
                Type::FLOAT8 => out.put_f64(i as f64),
                Type::FLOAT4 => out.put_f32(i as f32),
                _ if text_like => out.put_slice(i.to_string().as_bytes()),
                _ => return Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => out.put_f64(f),
                Type::FLOAT4 => out.put_f32(f as f32),
                _ if text_like => out.put_slice(f.to_string().as_bytes()),
                _ => return Err(format!("a number cannot be bound to a {ty} parameter").into()),
            },
            Value::Text(s) => match *ty {
                Type::JSONB => {
                    out.put_u8(1);
                    out.put_slice(s.as_bytes());
                }
                Type::BYTEA => out.put_slice(s.as_bytes()),
                _ if text_like => out.put_slice(s.as_bytes()),
                _ => return Err(format!("text cannot be bound to a {ty} parameter").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => out.put_slice(b),
                _ => return Err(format!("bytes cannot be bound to a {ty} parameter").into()),
            },
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column as the server sent it, decoded by [`column`].
struct Raw<'a>(Type, Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(ty.clone(), Some(raw)))
    }

    fn from_sql_null(
        ty: &Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(ty.clone(), None))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Column `index` of `row` in SQLite's types: flags and integers as integers, NUMERIC (what
/// `sum` of integers gives) as an integer when it has no fraction.
pub(super) fn column(row: &tokio_postgres::Row, index: usize) -> Result<Owned> {
    let Raw(ty, raw) = row.try_get::<_, Raw<'_>>(index)?;
    let Some(raw) = raw else {
        return Ok(Owned::Null);
    };
    let bad = |problem: String| Error::Column { index, problem };
    let wrong_size = || bad(format!("a {ty} of {} bytes", raw.len()));
    Ok(match ty {
        Type::BOOL => Owned::Integer(i64::from(raw.first() == Some(&1))),
        Type::INT2 => Owned::Integer(i16::from_be_bytes(sized(raw).ok_or_else(wrong_size)?).into()),
        Type::INT4 => Owned::Integer(i32::from_be_bytes(sized(raw).ok_or_else(wrong_size)?).into()),
        Type::INT8 => Owned::Integer(i64::from_be_bytes(sized(raw).ok_or_else(wrong_size)?)),
        Type::OID => Owned::Integer(u32::from_be_bytes(sized(raw).ok_or_else(wrong_size)?).into()),
        Type::FLOAT4 => Owned::Real(f32::from_be_bytes(sized(raw).ok_or_else(wrong_size)?).into()),
        Type::FLOAT8 => Owned::Real(f64::from_be_bytes(sized(raw).ok_or_else(wrong_size)?)),
        Type::NUMERIC => numeric(raw).ok_or_else(|| bad("a NUMERIC out of range".into()))?,
        Type::BYTEA => Owned::Blob(raw.to_vec()),
        Type::JSONB => Owned::Text(text(raw.get(1..).unwrap_or_default()).map_err(bad)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            Owned::Text(text(raw).map_err(bad)?)
        }
        other => return Err(bad(format!("type {other} is not read by the store"))),
    })
}

fn sized<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
    raw.try_into().ok()
}

fn text(raw: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(raw.to_vec()).map_err(|e| e.to_string())
}

/// NUMERIC's binary form: digit count, weight, sign, scale, then base-10000 digits.
fn numeric(raw: &[u8]) -> Option<Owned> {
    let word = |at: usize| -> Option<i16> {
        Some(i16::from_be_bytes(raw.get(at..at + 2)?.try_into().ok()?))
    };
    let (count, weight, sign, scale) = (word(0)?, word(2)?, word(4)? as u16, word(6)?);
    if sign == 0xC000 {
        return Some(Owned::Real(f64::NAN));
    }
    let digits: Vec<i16> = (0..count as usize)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<_>>()?;
    let negative = sign == 0x4000;
    if scale == 0 {
        let mut whole: i128 = 0;
        for place in 0..=weight.max(-1) as i32 {
            let digit = digits.get(place as usize).copied().unwrap_or(0);
            whole = whole.checked_mul(10_000)?.checked_add(digit.into())?;
        }
        let whole = if negative { -whole } else { whole };
        return i64::try_from(whole).ok().map(Owned::Integer);
    }
    let value: f64 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| f64::from(*d) * 10_000f64.powi(i32::from(weight) - i as i32))
        .sum();
    Some(Owned::Real(if negative { -value } else { value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_quotes_and_comments() {
        assert_eq!(
            placeholders(
                "SELECT a FROM t WHERE b = ?1 AND c = ?12 -- what?\n AND d = '?' AND e = ?"
            ),
            "SELECT a FROM t WHERE b = $1 AND c = $12 -- what?\n AND d = '?' AND e = $13"
        );
        assert_eq!(
            placeholders("VALUES (?, ?, \"?\")"),
            "VALUES ($1, $2, \"?\")"
        );
    }

    #[test]
    fn numerics_read_as_integers_when_whole() {
        // 123456789 = 1|2345|6789 in base 10000, weight 2.
        let mut raw = vec![];
        for word in [3i16, 2, 0, 0, 1, 2345, 6789] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(numeric(&raw), Some(Owned::Integer(123_456_789)));
        // 20000 = 2|0000 with the trailing zero digit left out: count 1, weight 1.
        let mut raw = vec![];
        for word in [1i16, 1, 0x4000u16 as i16, 0, 2] {
            raw.extend_from_slice(&word.to_be_bytes());
        }
        assert_eq!(numeric(&raw), Some(Owned::Integer(-20_000)));
        // zero: no digits.
        let raw: Vec<u8> = [0i16, 0, 0, 0]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric(&raw), Some(Owned::Integer(0)));
    }
}
