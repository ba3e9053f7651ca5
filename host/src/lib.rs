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

// The layers below, under the names the host's modules have always used for them.
pub use outreach_ai as ai;
pub use outreach_channels as channels;
pub use outreach_domain as domain;
pub use outreach_domain::{clock, config, secrets, text};
pub use outreach_engine as engine;
pub use outreach_runtime as runtime;
pub use outreach_runtime::consent;
pub use outreach_store as store;

pub mod cli;
pub mod console;
pub mod figures;
pub mod leads;
pub mod operator;
