//! The values the user set for this plugin with `outreach plugin config`. Always readable.

use std::fmt::Display;
use std::str::FromStr;

use crate::host::with_host;
use crate::{Error, Result};

/// The value of one setting, if set.
pub fn get(key: &str) -> Option<String> {
    with_host(|h| h.settings_get(key))
}

/// Every setting, sorted by key.
pub fn all() -> Vec<(String, String)> {
    with_host(|h| h.settings_all())
}

/// The setting `key` parsed as `T` (surrounding whitespace ignored), or `default` when it
/// is not set. A value that does not parse is [`Error::Invalid`] naming the key, so the
/// user sees which setting to fix instead of the plugin silently using the default.
pub fn get_or<T>(key: &str, default: T) -> Result<T>
where
    T: FromStr,
    T::Err: Display,
{
    match get(key) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|e| Error::Invalid(format!("setting `{key}`: {value:?}: {e}"))),
    }
}
