//! The bottom layer of the outreach host: the vocabulary every other crate shares — a lead
//! and its handle, a permission, a plugin's manifest and the contract versions it may be
//! built for ([`contract`]), a sending account and its send-safety
//! rules, who may reach what in the console ([`console_access`]) — and the leaves everything
//! uses: the user's settings ([`config`]), time ([`clock`]), text checks ([`text`]) and
//! sealed credentials ([`secrets`]).
//!
//! It depends on no other outreach crate; every one depends on it. So the store can hold a
//! manifest without importing the runtime that reads it, and cargo refuses an import that
//! would run the other way.

pub mod account;
pub mod clock;
pub mod config;
pub mod console_access;
pub mod contract;
pub mod handle;
pub mod lead;
pub mod manifest;
pub mod permission;
/// The rules every host call follows, and every limit a plugin can run into in one: one
/// source file that the SDK's fake host compiles too, so the two cannot disagree.
#[path = "../../../sdk/src/policy.rs"]
pub mod policy;
pub mod quick_reply;
pub mod secrets;
pub mod sending;
/// Message templates (`{first_name|there}`): the SDK's own renderer, one source file, so
/// a saved reply in the console fills in as a plugin's template does.
#[path = "../../../sdk/src/template.rs"]
pub mod template;
pub mod text;

// What the shared policy calls `super::Permission`.
use permission::Permission;

use sha2::Digest as _;

/// The lower-case hex SHA-256 of `bytes` (plugin binaries, suppressed handles).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}
