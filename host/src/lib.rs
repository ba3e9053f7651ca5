//! The outreach host: runs sandboxed WebAssembly plugins that automate lead outreach over
//! direct messages.
//!
//! The host is the only part with authority. It keeps leads and conversations in one SQLite
//! file ([`store`]), runs plugins as wasmtime components with no ambient authority
//! ([`runtime`]), checks every host call a plugin makes against the user's grants and writes
//! it to the audit log ([`consent`]), routes persisted events to plugins and delivers what
//! they decide through an outbox ([`engine`], [`channels`]), and asks an OpenAI-compatible
//! provider for AI replies ([`ai`]). A person answers and steers leads through the same
//! rules ([`operator`]), from the CLI or the web console ([`console`]). The `outreach`
//! binary is the [`cli`].

pub mod ai;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consent;
pub mod console;
pub mod domain;
pub mod engine;
pub mod figures;
pub mod leads;
pub mod operator;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod text;
