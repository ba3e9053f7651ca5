//! The SDK for writing outreach plugins in Rust.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) that implements [`Plugin`] and
//! exports it with [`export_plugin!`]. It sees data and acts only through the host
//! functions in [`leads`], [`messaging`], [`ai`], [`storage`], [`settings`], [`log`] and
//! [`clock`], each checked by the host against the permissions the user granted; a call
//! outside them returns [`Error::PermissionDenied`].
//!
//! ```
//! use outreach_sdk::{Hook, Inbound, Manifest, Permission, Plugin, ReplyAction, Result};
//!
//! pub struct Greeter;
//!
//! impl Plugin for Greeter {
//!     fn manifest() -> Manifest {
//!         Manifest {
//!             name: "greeter".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Says hello back.".into(),
//!             hooks: vec![Hook::Reply],
//!             permissions: vec![Permission::MessagesSend],
//!         }
//!     }
//!
//!     fn reply(event: Inbound) -> Result<ReplyAction> {
//!         let greeting = outreach_sdk::settings::get_or("greeting", String::from("Hi"))?;
//!         let template = format!("{greeting} {{first_name|there}}!");
//!         Ok(ReplyAction::Send(outreach_sdk::template::render(&template, &event.lead)))
//!     }
//! }
//!
//! outreach_sdk::export_plugin!(Greeter);
//! # #[cfg(not(feature = "testing"))] fn main() {}
//! # #[cfg(feature = "testing")] fn main() {
//!
//! // Unit tests run natively against a fake host (dev-dependency on `outreach-sdk` with
//! // feature `testing`):
//! use outreach_sdk::testing::{FakeHost, lead, message};
//!
//! FakeHost::new().with_setting("greeting", "Hello").install();
//! let mut ana = lead(7, "ana.fit");
//! ana.name = Some("Ana Lima".into());
//! let event = message(ana, "hey");
//! assert_eq!(Greeter::reply(event), Ok(ReplyAction::Send("Hello Ana!".into())));
//! # }
//! ```
//!
//! Build the component with `cargo build --release --target wasm32-wasip2`; the host
//! installs the `.wasm` file from `target/wasm32-wasip2/release/`.

#[doc(hidden)]
pub mod bindings;

pub mod ai;
pub mod clock;
pub mod comments;
mod hook;
mod host;
mod lead;
pub mod leads;
pub mod log;
mod manifest;
pub mod messaging;
mod permission;
mod plugin;
pub mod policy;
pub mod settings;
pub mod storage;
pub mod template;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
pub mod testing;
pub mod words;

pub use bindings::exports::outreach::plugin::hooks::{
    FilterDecision, FollowUpAction, FollowUpDue, FollowUpSend, Inbound, MessageWithQuickReplies,
    QuickReply, ReplyAction,
};
pub use bindings::outreach::plugin::ai::{GenerateRequest, Generated};
pub use bindings::outreach::plugin::leads::LeadQuery;
pub use bindings::outreach::plugin::log::Level;
pub use bindings::outreach::plugin::types::{Direction, Error, Lead, LeadStatus, Message};
pub use hook::Hook;
pub use lead::parse_count;
pub use manifest::Manifest;
pub use permission::Permission;
pub use plugin::Plugin;

/// The result of a host call or a hook.
pub type Result<T> = core::result::Result<T, Error>;
