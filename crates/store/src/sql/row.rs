//! Reading a result: a [`Row`] of either database, its columns read by position as any
//! [`FromColumn`] type with SQLite's conversions on both.

use super::{Error, Owned, Result, postgres_types};

/// One row of a result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// The value of column `index` (from 0) as a `T`: SQLite's conversions on both
    /// databases (an integer reads as a bool, a NULL only as an `Option`).
    pub fn get<I: ColumnIndex, T: FromColumn>(&self, index: I) -> Result<T> {
        let index = index.position();
        match self {
            Self::Sqlite(row) => T::from_sqlite(row, index),
            Self::Postgres(row) => {
                let value = postgres_types::column(row, index)?;
                T::from_owned(value).map_err(|problem| Error::Column { index, problem })
            }
        }
    }
}

/// A column's position; only `usize`, so that `row.get(0)` needs no annotation.
pub trait ColumnIndex {
    fn position(self) -> usize;
}

impl ColumnIndex for usize {
    fn position(self) -> usize {
        self
    }
}

/// What a column can be read as.
pub trait FromColumn: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self>;
    fn from_owned(value: Owned) -> std::result::Result<Self, String>;
}

fn mismatch<T>(value: &Owned) -> std::result::Result<T, String> {
    Err(format!(
        "cannot read {value:?} as {}",
        std::any::type_name::<T>()
    ))
}

macro_rules! integer_columns {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
                Ok(row.get(index)?)
            }
            fn from_owned(value: Owned) -> std::result::Result<Self, String> {
                match value {
                    Owned::Integer(i) => <$t>::try_from(i).map_err(|e| e.to_string()),
                    other => mismatch(&other),
                }
            }
        }
    )*};
}
integer_columns!(i64, i32, u32, u16, u8);

/// Read as SQLite's integer, then narrowed: rusqlite reads neither directly.
macro_rules! wide_columns {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
                let wide: i64 = row.get(index)?;
                <$t>::try_from(wide).map_err(|e| Error::Column { index, problem: e.to_string() })
            }
            fn from_owned(value: Owned) -> std::result::Result<Self, String> {
                match value {
                    Owned::Integer(i) => <$t>::try_from(i).map_err(|e| e.to_string()),
                    other => mismatch(&other),
                }
            }
        }
    )*};
}
wide_columns!(u64, usize);

impl FromColumn for bool {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        Ok(row.get(index)?)
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        match value {
            Owned::Integer(i) => Ok(i != 0),
            other => mismatch(&other),
        }
    }
}

impl FromColumn for f64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        Ok(row.get(index)?)
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        match value {
            Owned::Real(f) => Ok(f),
            Owned::Integer(i) => Ok(i as f64),
            other => mismatch(&other),
        }
    }
}

impl FromColumn for String {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        Ok(row.get(index)?)
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        match value {
            Owned::Text(s) => Ok(s),
            other => mismatch(&other),
        }
    }
}

impl FromColumn for Vec<u8> {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        Ok(row.get(index)?)
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        match value {
            Owned::Blob(b) => Ok(b),
            Owned::Text(s) => Ok(s.into_bytes()),
            other => mismatch(&other),
        }
    }
}

impl FromColumn for Owned {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        use rusqlite::types::ValueRef;
        Ok(match row.get_ref(index)? {
            ValueRef::Null => Owned::Null,
            ValueRef::Integer(i) => Owned::Integer(i),
            ValueRef::Real(f) => Owned::Real(f),
            ValueRef::Text(t) => Owned::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Owned::Blob(b.to_vec()),
        })
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        Ok(value)
    }
}

impl<T: FromColumn> FromColumn for Option<T> {
    fn from_sqlite(row: &rusqlite::Row<'_>, index: usize) -> Result<Self> {
        match row.get_ref(index)? {
            rusqlite::types::ValueRef::Null => Ok(None),
            _ => T::from_sqlite(row, index).map(Some),
        }
    }
    fn from_owned(value: Owned) -> std::result::Result<Self, String> {
        match value {
            Owned::Null => Ok(None),
            other => T::from_owned(other).map(Some),
        }
    }
}
