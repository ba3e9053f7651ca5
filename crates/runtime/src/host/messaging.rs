//! `outreach:plugin/messaging`: conversation history and queuing messages (staged until the
//! hook returns, then put in the outbox under an idempotency key).

use super::{HostState, StagedSend, refused, storage_failure, to_id};
use crate::bindings::outreach::plugin::messaging::Host;
use crate::bindings::wit;
use crate::consent::policy::{self, Call, HISTORY_CAP};
use crate::consent::{Permission, redact_personal};
use crate::store;

pub use crate::consent::policy::TEXT_MAX_BYTES;

/// Checks a message text against the channel limits (the shared policy's rule).
pub fn validate_text(text: &str) -> Result<(), wit::Error> {
    policy::message_text(text).map_err(refused)
}

impl Host for HostState {
    async fn history(&mut self, lead: u64, limit: u32) -> Result<Vec<wit::Message>, wit::Error> {
        self.enter()?;
        let id = to_id(lead)?;
        let permission = Self::own_permission(Call::MessagingHistory);
        self.reach("messaging.history", Call::MessagingHistory, id)?;
        self.check("messaging.history", permission, Some(id))?;
        let target = self.contactable_lead("messaging.history", permission, id)?;
        let mut messages = self
            .services
            .db
            .read(|c| store::messages::recent(c, id, limit.min(HISTORY_CAP)))
            .map_err(storage_failure)?;
        self.call.saw_lead(id);
        // Comments are shown to plugins that may see comments, in history as in events.
        if !self.granted(Permission::CommentsRead) {
            messages.retain(|m| !store::messages::under_a_post(&m.source));
        }
        // Leads write their email and phone into messages: without `leads:read-pii` the
        // conversation must not show what the lead's record would not.
        if !self.granted(Permission::LeadsReadPii) {
            for message in &mut messages {
                message.text = redact_personal(&message.text, std::slice::from_ref(&target));
            }
        }
        Ok(messages.into_iter().map(Into::into).collect())
    }

    async fn send(&mut self, lead: u64, text: String) -> Result<(), wit::Error> {
        self.enter()?;
        let id = to_id(lead)?;
        let permission = Self::own_permission(Call::MessagingSend);
        self.reach("messaging.send", Call::MessagingSend, id)?;
        self.require("messaging.send", permission, Some(id))?;
        let target = self.contactable_lead("messaging.send", permission, id)?;
        self.check_window("messaging.send", &target)?;
        validate_text(&text)?;
        policy::send_room(self.call.staged_sends.len()).map_err(refused)?;
        // Allowed only now that nothing refuses it any more.
        self.audit(
            "messaging.send",
            Some(Permission::MessagesSend),
            Some(id),
            true,
            None,
        );
        self.call
            .staged_sends
            .push(StagedSend { lead_id: id, text });
        Ok(())
    }
}
