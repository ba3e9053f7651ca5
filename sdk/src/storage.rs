//! A small key-value store private to the plugin, bounded by a host quota (`storage`).

use crate::Result;
use crate::host::with_host;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    with_host(|h| h.storage_get(key))
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<()> {
    with_host(|h| h.storage_set(key, value))
}

/// Removes `key`.
pub fn delete(key: &str) -> Result<()> {
    with_host(|h| h.storage_delete(key))
}
