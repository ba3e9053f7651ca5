//! `outreach:plugin/comments`: answering the event's comment publicly (staged until the
//! hook returns, then put in the outbox, once per comment).

use super::{HostState, refused};
use crate::bindings::outreach::plugin::comments::Host;
use crate::bindings::wit;
use crate::consent::Permission;
use crate::consent::policy::{self, Call, Refusal};

impl Host for HostState {
    async fn reply_publicly(&mut self, text: String) -> Result<(), wit::Error> {
        const ACTION: &str = "comments.reply-publicly";
        self.enter()?;
        let permission = Self::own_permission(Call::CommentsReplyPublicly);
        let lead = self.call.event_lead;
        self.require(ACTION, permission, lead)?;
        let (Some(lead), true) = (lead, self.call.answering_comment) else {
            return Err(refused(Refusal::Invalid(
                "the event is not a comment on a post or reel: only those can be answered \
                 publicly (Instagram takes none under a live video)"
                    .into(),
            )));
        };
        self.contactable_lead(ACTION, permission, lead)?;
        policy::message_text(&text).map_err(refused)?;
        if self.call.staged_public_reply.is_some() {
            return Err(refused(Refusal::Invalid(
                "the comment is answered publicly once".into(),
            )));
        }
        // Allowed only now that nothing refuses it any more.
        self.audit(
            ACTION,
            Some(Permission::CommentsReply),
            Some(lead),
            true,
            None,
        );
        self.call.staged_public_reply = Some(text);
        Ok(())
    }
}
