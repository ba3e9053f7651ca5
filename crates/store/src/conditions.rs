//! A `WHERE` clause holding only the conditions a caller asked for. `?1 IS NULL OR x = ?1`
//! would keep SQLite from using the index that serves each condition, so lists filtered
//! in many ways (leads, events, the audit) build their SQL from the filters given.

use crate::sql::Param;

#[derive(Default)]
pub struct Conditions<'a> {
    sql: Vec<String>,
    values: Vec<&'a dyn Param>,
}

impl<'a> Conditions<'a> {
    /// Adds `condition`, whose every `?` is `value`.
    pub fn bind(&mut self, condition: &str, value: &'a dyn Param) {
        self.values.push(value);
        self.sql
            .push(condition.replace('?', &format!("?{}", self.values.len())));
    }

    /// Adds a condition with no value.
    pub fn fixed(&mut self, condition: &str) {
        self.sql.push(condition.to_owned());
    }

    /// `WHERE …`, or nothing when no condition was given.
    pub fn where_clause(&self) -> String {
        match self.sql.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", self.sql.join(" AND ")),
        }
    }

    /// `AND …` to follow a `WHERE` of the statement's own, or nothing.
    pub fn and_clause(&self) -> String {
        self.sql
            .iter()
            .map(|condition| format!(" AND {condition}"))
            .collect()
    }

    /// Binds one more value after the conditions (a `LIMIT`); returns its placeholder.
    pub fn then(&mut self, value: &'a dyn Param) -> String {
        self.values.push(value);
        format!("?{}", self.values.len())
    }

    pub fn values(&self) -> &[&'a dyn Param] {
        &self.values
    }
}

/// A `LIKE … ESCAPE '\'` pattern matching text that holds `text` anywhere, its own `%`,
/// `_` and `\` taken literally.
pub fn containing(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The condition that `column` is one of `ids` (none: nothing matches). The ids are numbers,
/// written into the SQL as they are.
pub fn one_of(column: &str, ids: &[i64]) -> String {
    match ids {
        [] => "0 = 1".to_owned(),
        ids => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!("{column} IN ({})", list.join(", "))
        }
    }
}
