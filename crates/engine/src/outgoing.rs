//! What every message a plugin sends must pass before it is queued, whichever hook it came
//! from (a reply, a follow-up, a private reply to a comment): its content within the
//! channel's limits, the grant it was sent under still held when it lands, and the
//! account's disclosure in front of the first automated message.

use crate::clock::Millis;
use crate::consent::Permission;
use crate::consent::policy::{self, Refusal};
use crate::runtime::hooks::Outgoing;
use crate::store::events::Event;
use crate::store::{self, Conn};

/// Whether `permission`, which the call's `action` was allowed under as it ran, is no longer
/// granted as its effect lands: then the effect is dropped, and the audit says so.
pub(super) fn revoked_while_running(
    tx: &Conn<'_>,
    plugin: &str,
    action: &str,
    permission: Permission,
    event: &Event,
    now: Millis,
) -> anyhow::Result<bool> {
    if store::plugins::is_granted(tx, plugin, permission)? {
        return Ok(false);
    }
    let entry = store::audit::Entry {
        plugin,
        action,
        permission: Some(permission),
        lead_id: Some(event.lead_id),
        allowed: false,
        detail: Some("revoked while the call ran: not queued"),
    };
    store::audit::record(tx, &entry, now)?;
    Ok(true)
}

/// Why `text` (the message's, or it with the disclosure in front) with `message`'s quick
/// replies cannot be sent, if it cannot: the channel's limits, as the shared policy says.
pub(super) fn content_refused(text: &str, message: &Outgoing) -> Option<Refusal> {
    let quick_replies =
        (message.quick_replies.iter()).map(|q| (q.title.as_str(), q.payload.as_str()));
    policy::message_text(text)
        .and_then(|()| policy::quick_replies(quick_replies))
        .err()
}

/// The account's disclosure in front of a plugin's text, in one message.
pub(super) fn with_disclosure(disclosure: &str, text: &str) -> String {
    format!("{}\n\n{text}", disclosure.trim())
}
