//! What a statement binds: a [`Value`] per placeholder, from any [`Param`] (integers,
//! floats, text, bytes, flags, `Option`s of them), in a [`Params`] list (`[id]`, a
//! `Vec`, or `params![id, name, now]` for values of different types).

/// A value bound to a placeholder, in SQLite's four types (and NULL).
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What can be bound to a placeholder.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! integer_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Integer(*self as i64)
            }
        }
    )*};
}
integer_params!(i64, i32, u32, u16, u8);

impl Param for usize {
    fn value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for u64 {
    fn value(&self) -> Value<'_> {
        Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Integer(i64::from(*self))
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl Param for Value<'_> {
    fn value(&self) -> Value<'_> {
        *self
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::ValueRef;
        Ok(rusqlite::types::ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(i),
            Value::Real(f) => ValueRef::Real(f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The values bound to one statement, in placeholder order.
pub trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}

/// A fixed list of one type (`[id]`, `[a, b]`, or what `params!` makes).
macro_rules! array_params {
    ($($n:literal),*) => {$(
        impl<T: Param> Params for [T; $n] {
            fn values(&self) -> Vec<Value<'_>> {
                self.iter().map(Param::value).collect()
            }
        }
    )*};
}
array_params!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

/// Nothing to bind, as `[]`.
impl Params for [&dyn Param; 0] {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}

impl<T: Param> Params for [T] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(Param::value).collect()
    }
}

impl<T: Param> Params for Vec<T> {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(Param::value).collect()
    }
}

impl<P: Params + ?Sized> Params for &P {
    fn values(&self) -> Vec<Value<'_>> {
        (**self).values()
    }
}

/// Values of different types bound in order: `params![id, name, now]`.
#[macro_export]
macro_rules! params {
    () => { [] };
    ($($p:expr),+ $(,)?) => {
        [$(&$p as &dyn $crate::sql::Param),+]
    };
}
