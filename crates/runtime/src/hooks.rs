//! The hooks as the host speaks of them: what a hook is handed and what it decides, in the
//! host's own types. The engine, the CLI, the benches and the tests use these; the
//! conversions to and from a contract's generated types are in [`crate::bindings`], one
//! place per contract version, so a new version changes no caller.

use crate::clock::Millis;
use crate::domain::lead::Lead;
use crate::domain::quick_reply::QuickReply;
use crate::manifest::Hook;
use crate::store::events::Origin;

/// The input of one hook call. The lead is as the plugin may see it (already trimmed by
/// `consent::project_lead`).
#[derive(Debug, Clone)]
pub enum HookInput {
    Filter(Lead),
    Reply(Inbound),
    FollowUp(FollowUpDue),
}

/// A message (or a burst of them, one per line) the lead sent.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub event_id: i64,
    pub lead: Lead,
    pub text: String,
    /// When the newest message was sent.
    pub at: Millis,
    /// What the newest message was beyond its text (a story mention or reply, a tap).
    pub origin: Option<Origin>,
}

/// A follow-up step that is due.
#[derive(Debug, Clone)]
pub struct FollowUpDue {
    pub event_id: i64,
    pub lead: Lead,
    pub step: u32,
    /// When the sequence started.
    pub started_at: Millis,
}

/// What an event hands the hook that handles it.
pub struct HookEvent<'a> {
    pub id: i64,
    pub text: &'a str,
    pub at: Millis,
    pub step: u32,
    pub started_at: Millis,
    pub origin: Option<&'a Origin>,
}

impl HookInput {
    /// The input of `hook` about `lead` (as the plugin may see it) for `event`.
    pub fn new(hook: Hook, lead: Lead, event: HookEvent<'_>) -> Self {
        match hook {
            Hook::Filter => Self::Filter(lead),
            Hook::Reply => Self::Reply(Inbound {
                event_id: event.id,
                lead,
                text: event.text.to_owned(),
                at: event.at,
                origin: event.origin.cloned(),
            }),
            Hook::FollowUp => Self::FollowUp(FollowUpDue {
                event_id: event.id,
                lead,
                step: event.step,
                started_at: event.started_at,
            }),
        }
    }
}

/// What a hook returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOutput {
    Filter(FilterDecision),
    Reply(ReplyAction),
    FollowUp(FollowUpAction),
}

/// Keep or drop an imported lead, with tags and a score to set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilterDecision {
    pub keep: bool,
    pub reason: Option<String>,
    pub tags: Vec<String>,
    pub score: Option<u8>,
}

/// A message a hook decided to send, with the quick replies under it (none: plain text).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outgoing {
    pub text: String,
    pub quick_replies: Vec<QuickReply>,
}

impl From<&str> for Outgoing {
    fn from(text: &str) -> Self {
        Self {
            text: text.into(),
            quick_replies: Vec::new(),
        }
    }
}

impl From<String> for Outgoing {
    fn from(text: String) -> Self {
        Self {
            text,
            quick_replies: Vec::new(),
        }
    }
}

/// The answer to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyAction {
    NoReply,
    Send(Outgoing),
    /// Stop automation and let a person answer, for this reason.
    HandOver(String),
}

/// A follow-up message, and when the next step is due (none: the sequence ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpSend {
    pub message: Outgoing,
    pub next_at: Option<Millis>,
}

/// What to do at a due follow-up step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUpAction {
    Send(FollowUpSend),
    WaitUntil(Millis),
    Stop(String),
}
