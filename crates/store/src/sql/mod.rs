//! One way to run a statement on either database: the store's query functions take a
//! [`Conn`] and do not know whether SQLite or PostgreSQL is behind it.
//!
//! The API follows rusqlite's, which the store was written against: `prepare_cached`, then
//! `execute`, `query_row` or `query_map` with [`params!`], rows read by column index with
//! [`Row::get`], `.optional()` for a row that may be missing. A statement is written once,
//! with SQLite's `?1` placeholders; on PostgreSQL they become `$1` (`postgres_types.rs`), and a
//! bound value takes the type the server expects for it (a flag bound as `true` lands in a
//! BIGINT column as 1, as on SQLite).

mod params;
mod postgres;
mod postgres_tls;
mod postgres_tls_stream;
mod postgres_types;
mod row;

use std::cell::RefCell;

pub use self::params::{Param, Params, Value};
pub use self::postgres::{PgConn, PgPool, has_password};
pub use self::postgres_types::Owned;
pub use self::row::{ColumnIndex, FromColumn, Row};

/// Which database a connection talks to, for the few places that differ (SQLite's pragmas
/// and write-ahead log; PostgreSQL's locks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong running a statement. Converts into `anyhow::Error` at the store's
/// boundary; [`Error::NoRows`] is what `.optional()` turns into `None`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the query returned no rows")]
    NoRows,
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's own message; not a `source`, whose text would only repeat it.
    #[error("{}", postgres::describe(.0))]
    Postgres(tokio_postgres::Error),
    #[error("column {index}: {problem}")]
    Column { index: usize, problem: String },
}

impl Error {
    /// Whether the statement broke a unique, foreign-key or check constraint.
    pub fn is_constraint_violation(&self) -> bool {
        match self {
            Self::Sqlite(e) => {
                e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
            }
            Self::Postgres(e) => e.code().is_some_and(|code| code.code().starts_with("23")),
            _ => false,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Postgres(error)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// `.optional()` on a single-row result: no row is `None`, any other error stays one.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(Error::NoRows) => Ok(None),
            Err(Error::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

pub use crate::params;

/// A connection (on PostgreSQL, a connection inside its transaction), borrowed for one
/// [`crate::Db::read`] or [`crate::Db::write`].
pub struct Conn<'c> {
    inner: Inner<'c>,
}

enum Inner<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c RefCell<PgConn>),
}

impl<'c> Conn<'c> {
    pub(crate) fn sqlite(conn: &'c rusqlite::Connection) -> Self {
        Self {
            inner: Inner::Sqlite(conn),
        }
    }

    pub(crate) fn postgres(conn: &'c RefCell<PgConn>) -> Self {
        Self {
            inner: Inner::Postgres(conn),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, its schema table).
    pub fn as_sqlite(&self) -> Option<&'c rusqlite::Connection> {
        match self.inner {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// SQL for the text of `column`'s JSON field `key`. (PostgreSQL's form is what its
    /// index on accounts' Instagram id is built on.)
    pub fn json_text(&self, column: &str, key: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Backend::Postgres => format!("(({column})::jsonb ->> '{key}')"),
        }
    }

    /// SQL for a table of the elements of the JSON array bound to `param`, in order, as
    /// text in a column `value`.
    pub fn json_array_rows(&self, param: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("json_each({param})"),
            Backend::Postgres => format!("json_array_elements_text(({param})::json) AS j(value)"),
        }
    }

    /// SQL for a table of the members of the JSON object bound to `param`, in order, as
    /// columns `key` and `value`.
    pub fn json_object_rows(&self, param: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("json_each({param})"),
            Backend::Postgres => format!("json_each_text(({param})::json) AS j(key, value)"),
        }
    }

    /// SQL for a JSON array, as text, of `expr` over the rows of `from_where` (a table and
    /// its `WHERE`, which may name the outer query's columns); `[]` for no rows. The order
    /// of the elements is the database's: sort them after reading.
    pub fn json_array_of(&self, expr: &str, from_where: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("(SELECT json_group_array({expr}) FROM {from_where})"),
            Backend::Postgres => {
                format!("(SELECT coalesce(json_agg({expr}), '[]')::text FROM {from_where})")
            }
        }
    }

    /// SQL for a JSON object, as text, of `key` to `value` over the rows of `from_where`;
    /// `{}` for no rows.
    pub fn json_object_of(&self, key: &str, value: &str, from_where: &str) -> String {
        match self.backend() {
            Backend::Sqlite => {
                format!("(SELECT json_group_object({key}, {value}) FROM {from_where})")
            }
            Backend::Postgres => format!(
                "(SELECT coalesce(json_object_agg({key}, {value}), '{{}}')::text FROM {from_where})"
            ),
        }
    }

    /// The column that orders a table's rows as they were inserted: SQLite's rowid, or the
    /// `seq` identity PostgreSQL's tables without one of their own have.
    pub fn insertion_order(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "seq",
        }
    }

    /// SQL for the larger of two values (SQLite's two-argument `max`, PostgreSQL's
    /// `greatest`), as the indexes over such an expression are written on each.
    pub fn greatest(&self, a: &str, b: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("max({a}, {b})"),
            Backend::Postgres => format!("greatest({a}, {b})"),
        }
    }

    /// SQLite's `INDEXED BY index` (where its planner needs telling); nothing on PostgreSQL.
    pub fn indexed_by(&self, index: &str) -> String {
        match self.backend() {
            Backend::Sqlite => format!("INDEXED BY {index}"),
            Backend::Postgres => String::new(),
        }
    }

    /// The operator that matches a pattern without regard to case, as SQLite's `LIKE` does.
    pub fn like_ignoring_case(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }

    /// A statement, prepared once per connection and kept for the next call.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            inner: match self.inner {
                Inner::Sqlite(conn) => StatementInner::Sqlite(conn.prepare_cached(sql)?),
                Inner::Postgres(conn) => {
                    let statement = conn.borrow_mut().prepare(sql)?;
                    StatementInner::Postgres(conn, statement)
                }
            },
        })
    }

    /// A statement built for this one call (its text varies), not kept.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        match self.inner {
            Inner::Sqlite(conn) => Ok(Statement {
                inner: StatementInner::SqliteOnce(conn.prepare(sql)?),
            }),
            Inner::Postgres(_) => self.prepare_cached(sql),
        }
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// [`Statement::run`] of a cached statement.
    pub fn run(&self, sql: &str, params: impl Params) -> Result<()> {
        self.prepare_cached(sql)?.run(params)
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// Runs several statements separated by `;`, with nothing bound.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match self.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(conn) => conn.borrow_mut().batch(sql),
        }
    }
}

/// A prepared statement of a [`Conn`].
pub struct Statement<'c> {
    inner: StatementInner<'c>,
}

enum StatementInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    SqliteOnce(rusqlite::Statement<'c>),
    Postgres(&'c RefCell<PgConn>, tokio_postgres::Statement),
}

impl<'c> Statement<'c> {
    /// Runs the statement; returns how many rows it changed.
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match &mut self.inner {
            StatementInner::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(values))?),
            StatementInner::SqliteOnce(s) => Ok(s.execute(rusqlite::params_from_iter(values))?),
            StatementInner::Postgres(conn, statement) => {
                conn.borrow_mut().execute(statement, &values)
            }
        }
    }

    /// Runs a statement whose count of changed rows nobody reads. On PostgreSQL it is sent
    /// without waiting for its answer, which comes with the answer to the transaction's
    /// next statement or commit, in the same round trip; an error in it is then theirs
    /// (and the commit rolls back). On SQLite it runs at once, as [`Statement::execute`].
    pub fn run(&mut self, params: impl Params) -> Result<()> {
        match &mut self.inner {
            StatementInner::Postgres(conn, statement) => {
                conn.borrow_mut().run(statement, &params.values())
            }
            _ => self.execute(params).map(|_| ()),
        }
    }

    /// The first row, mapped by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let values = params.values();
        let s: &mut rusqlite::Statement<'_> = match &mut self.inner {
            StatementInner::Sqlite(s) => s,
            StatementInner::SqliteOnce(s) => s,
            StatementInner::Postgres(conn, statement) => {
                let rows = conn.borrow_mut().query(statement, &values)?;
                return f(&Row::Postgres(rows.first().ok_or(Error::NoRows)?));
            }
        };
        let mut rows = s.query(rusqlite::params_from_iter(values.iter()))?;
        let row = rows.next()?.ok_or(Error::NoRows)?;
        f(&Row::Sqlite(row))
    }

    /// Every row, mapped by `f`, in order. SQLite's rows are read as the caller iterates;
    /// PostgreSQL's arrive all at once.
    pub fn query_map<T, F>(&mut self, params: impl Params, f: F) -> Result<MappedRows<'_, F>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let values = params.values();
        let rows = match &mut self.inner {
            StatementInner::Sqlite(s) => {
                RowsInner::Sqlite(s.query(rusqlite::params_from_iter(values))?)
            }
            StatementInner::SqliteOnce(s) => {
                RowsInner::Sqlite(s.query(rusqlite::params_from_iter(values))?)
            }
            StatementInner::Postgres(conn, statement) => {
                RowsInner::Postgres(conn.borrow_mut().query(statement, &values)?.into_iter())
            }
        };
        Ok(MappedRows { rows, f })
    }

    /// The names of the columns it returns, in order.
    pub fn column_names(&self) -> Vec<String> {
        match &self.inner {
            StatementInner::Sqlite(s) => s.column_names().map(String::from).collect(),
            StatementInner::SqliteOnce(s) => s.column_names().map(String::from).collect(),
            StatementInner::Postgres(_, statement) => statement
                .columns()
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
        }
    }

    /// Whether the statement returns at least one row.
    pub fn exists(&mut self, params: impl Params) -> Result<bool> {
        self.query_row(params, |_| Ok(()))
            .optional()
            .map(|row| row.is_some())
    }
}

/// The rows of [`Statement::query_map`], each mapped as it is read.
pub struct MappedRows<'s, F> {
    rows: RowsInner<'s>,
    f: F,
}

enum RowsInner<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(std::vec::IntoIter<tokio_postgres::Row>),
}

impl<T, F: FnMut(&Row<'_>) -> Result<T>> Iterator for MappedRows<'_, F> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match &mut self.rows {
            RowsInner::Sqlite(rows) => match rows.next() {
                Ok(Some(row)) => Some((self.f)(&Row::Sqlite(row))),
                Ok(None) => None,
                Err(e) => Some(Err(e.into())),
            },
            RowsInner::Postgres(rows) => rows.next().map(|row| (self.f)(&Row::Postgres(&row))),
        }
    }
}
