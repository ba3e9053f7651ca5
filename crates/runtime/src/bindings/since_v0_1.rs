//! `outreach:plugin@0.1.0`, frozen in `wit/since_v0.1.0/`: plugins built against it run
//! unchanged. Its hooks are called with the host's inputs in 0.1's shapes; the conversions
//! here also serve its host functions (`crate::host::since_v0_1`), which call the newest
//! contract's, so every check, limit and audit is the same code.
//!
//! What 0.1 cannot say: a permission is an enum (0.2 names it), and an inbound message has
//! no kind (a 0.1 plugin sees a story mention or reply as its text, as it always did).

use wasmtime::Store;
use wasmtime::component::Instance;

use super::hook_exports::Hooks;
use super::wit as new;
use crate::consent::Permission;
use crate::hooks::{self, HookInput, HookOutput};
use crate::manifest::Declared;

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../../wit/since_v0.1.0",
    imports: { default: async },
    exports: { default: async },
});

use self::exports::outreach::plugin::hooks as old_hooks;
use self::outreach::plugin::types as old;

/// 0.1's hook types.
pub(crate) enum Contract {}

impl super::hook_exports::Contract for Contract {
    type Manifest = old::PluginManifest;
    type Lead = old::Lead;
    type Inbound = old_hooks::Inbound;
    type FollowUpDue = old_hooks::FollowUpDue;
    type Filtered = Result<old_hooks::FilterDecision, old::Error>;
    type Replied = Result<old_hooks::ReplyAction, old::Error>;
    type FollowedUp = Result<old_hooks::FollowUpAction, old::Error>;
}

/// Runs one hook of a 0.1 plugin in `instance`: the input in 0.1's shapes, the decision in
/// the host's.
pub(super) async fn call<T: Send>(
    exports: &Hooks<Contract>,
    store: &mut Store<T>,
    instance: &Instance,
    input: HookInput,
) -> wasmtime::Result<Result<HookOutput, String>> {
    let returned = match input {
        HookInput::Filter(lead) => {
            let lead = to_old_lead(lead.into());
            let (returned,) = exports.filter.call(store, instance, (lead,)).await?;
            returned.map(|d| {
                HookOutput::Filter(hooks::FilterDecision {
                    keep: d.keep,
                    reason: d.reason,
                    tags: d.tags,
                    score: d.score,
                })
            })
        }
        HookInput::Reply(event) => {
            let event = old_hooks::Inbound {
                event_id: event.event_id as u64,
                lead: to_old_lead(event.lead.into()),
                text: event.text,
                at: event.at,
            };
            let (returned,) = exports.reply.call(store, instance, (event,)).await?;
            returned.map(|action| {
                HookOutput::Reply(match action {
                    old_hooks::ReplyAction::NoReply => hooks::ReplyAction::NoReply,
                    old_hooks::ReplyAction::Send(text) => hooks::ReplyAction::Send(text.into()),
                    old_hooks::ReplyAction::HandOver(why) => hooks::ReplyAction::HandOver(why),
                })
            })
        }
        HookInput::FollowUp(event) => {
            let event = old_hooks::FollowUpDue {
                event_id: event.event_id as u64,
                lead: to_old_lead(event.lead.into()),
                step: event.step,
                started_at: event.started_at,
            };
            let (returned,) = exports.follow_up.call(store, instance, (event,)).await?;
            returned.map(|action| {
                HookOutput::FollowUp(match action {
                    old_hooks::FollowUpAction::Send(send) => {
                        hooks::FollowUpAction::Send(hooks::FollowUpSend {
                            message: send.text.into(),
                            next_at: send.next_at,
                        })
                    }
                    old_hooks::FollowUpAction::WaitUntil(at) => {
                        hooks::FollowUpAction::WaitUntil(at)
                    }
                    old_hooks::FollowUpAction::Stop(why) => hooks::FollowUpAction::Stop(why),
                })
            })
        }
    };
    Ok(returned.map_err(|e| super::describe(&to_new_error(e))))
}

impl From<old::PluginManifest> for Declared {
    fn from(m: old::PluginManifest) -> Self {
        Self {
            name: m.name,
            version: m.version,
            description: m.description,
            hooks: (m.hooks.iter())
                .map(|hook| {
                    match hook {
                        old::Hook::Filter => crate::manifest::Hook::Filter,
                        old::Hook::Reply => crate::manifest::Hook::Reply,
                        old::Hook::FollowUp => crate::manifest::Hook::FollowUp,
                    }
                    .as_str()
                    .into()
                })
                .collect(),
            permissions: (m.permissions.into_iter())
                .map(|p| permission(p).as_str().into())
                .collect(),
        }
    }
}

fn permission(p: old::Permission) -> Permission {
    match p {
        old::Permission::LeadsRead => Permission::LeadsRead,
        old::Permission::LeadsReadPii => Permission::LeadsReadPii,
        old::Permission::LeadsWrite => Permission::LeadsWrite,
        old::Permission::MessagesRead => Permission::MessagesRead,
        old::Permission::MessagesSend => Permission::MessagesSend,
        old::Permission::AiGenerate => Permission::AiGenerate,
        old::Permission::Storage => Permission::Storage,
    }
}

fn to_new_error(e: old::Error) -> new::Error {
    match e {
        old::Error::PermissionDenied(p) => super::permission_denied(permission(p)),
        old::Error::NotFound => new::Error::NotFound,
        old::Error::Invalid(why) => new::Error::Invalid(why),
        old::Error::LimitExceeded(what) => new::Error::LimitExceeded(what),
        old::Error::Unavailable(why) => new::Error::Unavailable(why),
    }
}

pub(crate) fn to_old_error(e: new::Error) -> old::Error {
    match e {
        new::Error::PermissionDenied(name) => match name.parse::<Permission>() {
            Ok(Permission::LeadsRead) => old::Error::PermissionDenied(old::Permission::LeadsRead),
            Ok(Permission::LeadsReadPii) => {
                old::Error::PermissionDenied(old::Permission::LeadsReadPii)
            }
            Ok(Permission::LeadsWrite) => old::Error::PermissionDenied(old::Permission::LeadsWrite),
            Ok(Permission::MessagesRead) => {
                old::Error::PermissionDenied(old::Permission::MessagesRead)
            }
            Ok(Permission::MessagesSend) => {
                old::Error::PermissionDenied(old::Permission::MessagesSend)
            }
            Ok(Permission::AiGenerate) => old::Error::PermissionDenied(old::Permission::AiGenerate),
            Ok(Permission::Storage) => old::Error::PermissionDenied(old::Permission::Storage),
            // A permission 0.1 has no name for: still a refusal, in words, and one that
            // retrying will not lift (`unavailable` would say it might).
            Ok(Permission::CommentsRead | Permission::CommentsReply) | Err(_) => {
                old::Error::Invalid(format!("permission denied: {name}"))
            }
        },
        new::Error::NotFound => old::Error::NotFound,
        new::Error::Invalid(why) => old::Error::Invalid(why),
        new::Error::LimitExceeded(what) => old::Error::LimitExceeded(what),
        new::Error::Unavailable(why) => old::Error::Unavailable(why),
    }
}

pub(crate) fn to_new_status(s: old::LeadStatus) -> new::LeadStatus {
    match s {
        old::LeadStatus::New => new::LeadStatus::New,
        old::LeadStatus::Contacted => new::LeadStatus::Contacted,
        old::LeadStatus::Replied => new::LeadStatus::Replied,
        old::LeadStatus::NeedsHuman => new::LeadStatus::NeedsHuman,
        old::LeadStatus::Converted => new::LeadStatus::Converted,
        old::LeadStatus::DoNotContact => new::LeadStatus::DoNotContact,
    }
}

fn to_old_status(s: new::LeadStatus) -> old::LeadStatus {
    match s {
        new::LeadStatus::New => old::LeadStatus::New,
        new::LeadStatus::Contacted => old::LeadStatus::Contacted,
        new::LeadStatus::Replied => old::LeadStatus::Replied,
        new::LeadStatus::NeedsHuman => old::LeadStatus::NeedsHuman,
        new::LeadStatus::Converted => old::LeadStatus::Converted,
        new::LeadStatus::DoNotContact => old::LeadStatus::DoNotContact,
    }
}

pub(crate) fn to_old_lead(l: new::Lead) -> old::Lead {
    old::Lead {
        id: l.id,
        handle: l.handle,
        name: l.name,
        status: to_old_status(l.status),
        tags: l.tags,
        score: l.score,
        email: l.email,
        phone: l.phone,
        notes: l.notes,
        custom_fields: l.custom_fields,
        created_at: l.created_at,
        last_inbound_at: l.last_inbound_at,
        last_outbound_at: l.last_outbound_at,
    }
}

pub(crate) fn to_old_message(m: new::Message) -> old::Message {
    old::Message {
        direction: match m.direction {
            new::Direction::Inbound => old::Direction::Inbound,
            new::Direction::Outbound => old::Direction::Outbound,
        },
        text: m.text,
        at: m.at,
    }
}

pub(crate) fn to_new_message(m: old::Message) -> new::Message {
    new::Message {
        direction: match m.direction {
            old::Direction::Inbound => new::Direction::Inbound,
            old::Direction::Outbound => new::Direction::Outbound,
        },
        text: m.text,
        at: m.at,
    }
}
