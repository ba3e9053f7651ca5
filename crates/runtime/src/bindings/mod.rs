//! The contract versions this host speaks, and the one place that converts between the
//! host's own types (leads, permissions, [`crate::hooks`]) and the WIT types a plugin sees.
//!
//! The host functions implement the newest contract, `wit/plugin.wit` (generated here).
//! Each older version keeps its frozen WIT (`wit/since_v0.1.0/`) and a module of its own
//! ([`since_v0_1`]) whose host functions convert and call the newest ones, as Zed keeps its
//! extensions working. [`Prepared`] is a component ready to run, whichever version it was
//! built for: the engine and the CLI see only [`crate::hooks`] types.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::InstancePre;

use self::hook_exports::Hooks;
use crate::consent::Permission;
use crate::contract::Version;
use crate::domain::lead::{Lead, LeadStatus};
use crate::domain::quick_reply::QuickReply;
use crate::hooks::{self, HookInput, HookOutput};
use crate::manifest::Declared;
use crate::store::messages::{Direction, Message};

mod hook_exports;
pub mod since_v0_1;

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit",
    imports: { default: async },
    exports: { default: async },
    additional_derives: [PartialEq],
});

pub use self::exports::outreach::plugin::hooks as wit_hooks;
/// The newest contract's interfaces, which the older versions' host functions call.
pub use self::outreach::plugin as latest;
pub use self::outreach::plugin::types as wit;

/// A component compiled and linked, ready to instantiate for one call, with the hooks of
/// the contract version it was built for.
pub struct Prepared<T: 'static> {
    pre: InstancePre<T>,
    hooks: Arc<VersionedHooks>,
}

enum VersionedHooks {
    V0_1(Hooks<since_v0_1::Contract>),
    Newest(Hooks<Newest>),
}

// Not derived: a derive would ask `T: Clone` of the store's data, which the handles need not.
impl<T: 'static> Clone for Prepared<T> {
    fn clone(&self) -> Self {
        Self {
            pre: self.pre.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

/// The newest contract's hook types.
pub(crate) enum Newest {}

impl hook_exports::Contract for Newest {
    type Manifest = wit::PluginManifest;
    type Lead = wit::Lead;
    type Inbound = wit_hooks::Inbound;
    type FollowUpDue = wit_hooks::FollowUpDue;
    type Filtered = Result<wit_hooks::FilterDecision, wit::Error>;
    type Replied = Result<wit_hooks::ReplyAction, wit::Error>;
    type FollowedUp = Result<wit_hooks::FollowUpAction, wit::Error>;
}

impl<T: Send + 'static> Prepared<T> {
    /// Binds `pre` as a component built for `contract` (one this host speaks).
    pub fn new(pre: InstancePre<T>, contract: Version) -> wasmtime::Result<Self> {
        let hooks = match contract {
            Version(0, 1, _) => VersionedHooks::V0_1(Hooks::find(pre.component(), contract)?),
            _ => VersionedHooks::Newest(Hooks::find(pre.component(), contract)?),
        };
        Ok(Self {
            pre,
            hooks: Arc::new(hooks),
        })
    }

    /// The engine the component was compiled for.
    pub fn engine(&self) -> &wasmtime::Engine {
        self.pre.engine()
    }

    /// Instantiates the component in `store`, checks its hooks' types and reads its
    /// manifest, as the newest contract spells it.
    pub async fn manifest(&self, store: &mut Store<T>) -> wasmtime::Result<Declared> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        match &*self.hooks {
            VersionedHooks::V0_1(exports) => exports.read_manifest(store, &instance).await,
            VersionedHooks::Newest(exports) => exports.read_manifest(store, &instance).await,
        }
    }

    /// Instantiates the component in `store` and runs one hook. The inner error is the
    /// plugin's own, as a sentence.
    pub async fn call(
        &self,
        store: &mut Store<T>,
        input: HookInput,
    ) -> wasmtime::Result<Result<HookOutput, String>> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let exports = match &*self.hooks {
            VersionedHooks::V0_1(exports) => {
                return since_v0_1::call(exports, store, &instance, input).await;
            }
            VersionedHooks::Newest(exports) => exports,
        };
        let returned = match input {
            HookInput::Filter(lead) => {
                let (returned,) = exports
                    .filter
                    .call(store, &instance, (lead.into(),))
                    .await?;
                returned.map(|d| HookOutput::Filter(d.into()))
            }
            HookInput::Reply(event) => {
                let (returned,) = exports
                    .reply
                    .call(store, &instance, (event.into(),))
                    .await?;
                returned.map(|a| HookOutput::Reply(a.into()))
            }
            HookInput::FollowUp(event) => {
                let follow_up = &exports.follow_up;
                let (returned,) = follow_up.call(store, &instance, (event.into(),)).await?;
                returned.map(|a| HookOutput::FollowUp(a.into()))
            }
        };
        Ok(returned.map_err(|e| describe(&e)))
    }
}

impl From<wit::PluginManifest> for Declared {
    fn from(m: wit::PluginManifest) -> Self {
        Self {
            name: m.name,
            version: m.version,
            description: m.description,
            hooks: m.hooks,
            permissions: m.permissions,
        }
    }
}

/// The error a host call returns when `permission` is not granted.
pub fn permission_denied(permission: Permission) -> wit::Error {
    wit::Error::PermissionDenied(permission.as_str().into())
}

impl From<wit::LeadStatus> for LeadStatus {
    fn from(s: wit::LeadStatus) -> Self {
        match s {
            wit::LeadStatus::New => Self::New,
            wit::LeadStatus::Contacted => Self::Contacted,
            wit::LeadStatus::Replied => Self::Replied,
            wit::LeadStatus::NeedsHuman => Self::NeedsHuman,
            wit::LeadStatus::Converted => Self::Converted,
            wit::LeadStatus::DoNotContact => Self::DoNotContact,
        }
    }
}

impl From<LeadStatus> for wit::LeadStatus {
    fn from(s: LeadStatus) -> Self {
        match s {
            LeadStatus::New => Self::New,
            LeadStatus::Contacted => Self::Contacted,
            LeadStatus::Replied => Self::Replied,
            LeadStatus::NeedsHuman => Self::NeedsHuman,
            LeadStatus::Converted => Self::Converted,
            LeadStatus::DoNotContact => Self::DoNotContact,
        }
    }
}

/// The WIT view of a lead that [`crate::consent::project_lead`] already trimmed.
impl From<Lead> for wit::Lead {
    fn from(l: Lead) -> Self {
        Self {
            id: l.id as u64,
            handle: l.handle,
            name: l.name,
            status: l.status.into(),
            tags: l.tags,
            score: l.score,
            email: l.email,
            phone: l.phone,
            notes: l.notes,
            custom_fields: l.custom.into_iter().collect(),
            created_at: l.created_at,
            last_inbound_at: l.last_inbound_at,
            last_outbound_at: l.last_outbound_at,
        }
    }
}

impl From<Message> for wit::Message {
    fn from(m: Message) -> Self {
        Self {
            direction: match m.direction {
                Direction::Inbound => wit::Direction::Inbound,
                Direction::Outbound => wit::Direction::Outbound,
            },
            text: m.text,
            at: m.at,
        }
    }
}

/// The error as a sentence for people (the generated `Display` prints the Rust debug form).
pub fn describe(error: &wit::Error) -> String {
    {
        match error {
            wit::Error::PermissionDenied(name) => format!("permission denied: {name}"),
            wit::Error::NotFound => "not found".into(),
            wit::Error::Invalid(why) => format!("invalid: {why}"),
            wit::Error::LimitExceeded(what) => format!("limit exceeded: {what}"),
            wit::Error::Unavailable(why) => format!("unavailable: {why}"),
        }
    }
}

impl From<hooks::Inbound> for wit_hooks::Inbound {
    fn from(e: hooks::Inbound) -> Self {
        Self {
            event_id: e.event_id as u64,
            lead: e.lead.into(),
            text: e.text,
            at: e.at,
            kind: e
                .origin
                .as_ref()
                .map_or("message", |s| s.kind.as_str())
                .into(),
            reference: e.origin.and_then(|o| o.reference),
        }
    }
}

impl From<hooks::FollowUpDue> for wit_hooks::FollowUpDue {
    fn from(e: hooks::FollowUpDue) -> Self {
        Self {
            event_id: e.event_id as u64,
            lead: e.lead.into(),
            step: e.step,
            started_at: e.started_at,
        }
    }
}

impl From<wit_hooks::FilterDecision> for hooks::FilterDecision {
    fn from(d: wit_hooks::FilterDecision) -> Self {
        Self {
            keep: d.keep,
            reason: d.reason,
            tags: d.tags,
            score: d.score,
        }
    }
}

impl From<wit_hooks::ReplyAction> for hooks::ReplyAction {
    fn from(a: wit_hooks::ReplyAction) -> Self {
        match a {
            wit_hooks::ReplyAction::NoReply => Self::NoReply,
            wit_hooks::ReplyAction::Send(text) => Self::Send(text.into()),
            wit_hooks::ReplyAction::SendWithQuickReplies(message) => {
                Self::Send(outgoing(message.text, message.quick_replies))
            }
            wit_hooks::ReplyAction::HandOver(reason) => Self::HandOver(reason),
        }
    }
}

impl From<wit_hooks::FollowUpAction> for hooks::FollowUpAction {
    fn from(a: wit_hooks::FollowUpAction) -> Self {
        match a {
            wit_hooks::FollowUpAction::Send(send) => Self::Send(hooks::FollowUpSend {
                message: outgoing(send.text, send.quick_replies),
                next_at: send.next_at,
            }),
            wit_hooks::FollowUpAction::WaitUntil(at) => Self::WaitUntil(at),
            wit_hooks::FollowUpAction::Stop(reason) => Self::Stop(reason),
        }
    }
}

fn outgoing(text: String, quick_replies: Vec<wit_hooks::QuickReply>) -> hooks::Outgoing {
    hooks::Outgoing {
        text,
        quick_replies: (quick_replies.into_iter())
            .map(|q| QuickReply {
                title: q.title,
                payload: q.payload,
            })
            .collect(),
    }
}
