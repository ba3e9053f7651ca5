//! The domain types every layer shares — a lead, a permission, a plugin's manifest, a
//! sending account and its send-safety rules — with no dependency on the store, the
//! runtime, the channels or the config. Modules above depend on this one, never the other
//! way, so the store can hold a manifest without importing the runtime that reads it.

pub mod account;
pub mod lead;
pub mod manifest;
pub mod permission;
pub mod sending;

use sha2::Digest as _;

/// The lower-case hex SHA-256 of `bytes` (plugin binaries, suppressed handles).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}
