//! SQLite's statements and types on PostgreSQL: `?1` placeholders numbered as `$1`, a bound
//! [`Value`] written as the type the server asks for, and a column read back as one of
//! SQLite's four types ([`Owned`]), PostgreSQL's NUMERIC included.

use bytes::{BufMut as _, BytesMut};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{Error, Result, Value};

/// A column's value read from PostgreSQL, in SQLite's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Owned {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    /// `value`, kept past the borrow it was bound from: for a statement sent now and
    /// answered later ([`super::Conn::run`]).
    pub(super) fn of(value: &Value<'_>) -> Self {
        match *value {
            Value::Null => Self::Null,
            Value::Integer(i) => Self::Integer(i),
            Value::Real(f) => Self::Real(f),
            Value::Text(s) => Self::Text(s.to_owned()),
            Value::Blob(b) => Self::Blob(b.to_vec()),
        }
    }

    /// The value to bind.
    pub fn as_value(&self) -> Value<'_> {
        match self {
            Self::Null => Value::Null,
            Self::Integer(i) => Value::Integer(*i),
            Self::Real(f) => Value::Real(*f),
            Self::Text(s) => Value::Text(s),
            Self::Blob(b) => Value::Blob(b),
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
