//! Answers to comments, as the engine holds them to Instagram's rules: a private reply (the
//! one direct message a commenter may get, within 7 days, 750 an hour, to a live comment
//! while the broadcast lasts) and a public answer under the comment (once per thread, none
//! under a live video). Checked as they are queued here, and again as they go out.

use super::Engine;
use super::deliver::{Sender, TRANSIENT_WAIT};
use super::outgoing::{content_refused, revoked_while_running, with_disclosure};
use crate::channels::{PRIVATE_REPLIES_PER_HOUR, private_reply_closed};
use crate::clock::{HOUR, Millis};
use crate::consent::Permission;
use crate::domain::lead::Lead;
use crate::runtime::hooks::Outgoing;
use crate::store::events::{Event, OriginKind};
use crate::store::outbox::{Answering, Message, OutboxRow};
use crate::store::{self, Conn};

/// The comment a reply to `event` answers, when the event is a comment: the reply goes out
/// as a private reply to it.
pub(super) fn answering(event: &Event) -> Option<Answering> {
    let origin = event.payload.origin.as_ref()?;
    let comment_id = event.payload.comment_id.clone()?;
    origin.kind.is_comment().then(|| Answering {
        comment_id,
        comment_at: event.payload.at.unwrap_or(event.created_at),
        live_media_id: match origin.kind {
            OriginKind::LiveComment => origin.reference.clone(),
            _ => None,
        },
        public: false,
    })
}

/// Why a private reply may not be queued, if it may not: one per comment (whichever plugin
/// answered it first; the same key is a replay), within 7 days of it, and all of it in one
/// message: the account's disclosure, when due, cannot go in a message of its own.
pub(super) fn private_reply_refused(
    tx: &Conn<'_>,
    plugin: &str,
    lead: &Lead,
    answering: &Answering,
    key: &str,
    message: &Outgoing,
    now: Millis,
) -> anyhow::Result<Option<String>> {
    // Like `messages:send`, asked again as the reply lands: revoked while the call ran, the
    // comment is not answered.
    if !store::plugins::is_granted(tx, plugin, Permission::CommentsRead)? {
        return Ok(Some(format!(
            "permission {} not granted",
            Permission::CommentsRead
        )));
    }
    if let Some(why) = crate::channels::private_reply_closed(answering.comment_at, now) {
        return Ok(Some(why));
    }
    if store::outbox::comment_reply_key(tx, lead.id, &answering.comment_id, false)?
        .is_some_and(|queued| queued != key)
    {
        return Ok(Some(
            "the comment has its private reply already: Instagram allows one per comment".into(),
        ));
    }
    let text = match store::leads::disclosure_due(tx, lead.id)? {
        Some(disclosure) => with_disclosure(&disclosure, &message.text),
        None => message.text.clone(),
    };
    Ok(content_refused(&text, message).map(|refusal| {
        let why = refusal.message();
        match text.len() == message.text.len() {
            true => format!("invalid: {why}"),
            false => format!(
                "invalid: with the account's disclosure in front, {why} (a private reply is one \
                 message)"
            ),
        }
    }))
}

/// Queues the public answer the hook gave its event's comment with
/// `comments.reply-publicly`, keyed to the event: one per comment, whichever plugin gave
/// it. `comments:reply` is asked again as it lands, like `messages:send`. Returns what to
/// add to the summary.
pub fn queue_public_reply(
    tx: &Conn<'_>,
    plugin: &str,
    event: &Event,
    text: Option<&str>,
    now: Millis,
) -> anyhow::Result<String> {
    let (Some(text), Some(answering)) = (text, answering(event)) else {
        return Ok(String::new());
    };
    let action = "comments.reply-publicly";
    for permission in [Permission::CommentsRead, Permission::CommentsReply] {
        if revoked_while_running(tx, plugin, action, permission, event, now)? {
            return Ok(format!(
                "; public answer not queued: {permission} was revoked"
            ));
        }
    }
    // Under the thread's top comment: Instagram puts answers to a reply there.
    let answering = Answering {
        comment_id: event
            .payload
            .comment_thread
            .clone()
            .unwrap_or(answering.comment_id),
        public: true,
        live_media_id: None,
        ..answering
    };
    let key = format!("{plugin}:{}:public-reply", event.id);
    let queued = store::outbox::comment_reply_key(tx, event.lead_id, &answering.comment_id, true)?;
    if queued.is_some_and(|queued| queued != key) {
        return Ok("; public answer not queued: the comment has one already".into());
    }
    let message = Message {
        answering: Some(&answering),
        ..Message::text(text)
    };
    Ok(
        match store::outbox::enqueue(
            tx,
            &key,
            event.lead_id,
            plugin,
            Some(event.id),
            message,
            now,
        )? {
            true => "; queued a public answer under the comment".into(),
            false => String::new(),
        },
    )
}

impl Engine {
    /// Whether a private reply may go out now: within 7 days of its comment (else it is set
    /// aside, saying why), and under the account's hourly limit of private replies (else it
    /// waits, alone: other messages still go).
    pub(super) async fn private_reply_may_go(
        &self,
        sender: &Sender,
        row: &OutboxRow,
        answering: &Answering,
        now: Millis,
    ) -> anyhow::Result<bool> {
        if let Some(why) = private_reply_closed(answering.comment_at, now) {
            self.set_aside(row, &why, now)?;
            return Ok(false);
        }
        let hour_ago = now - HOUR;
        let (sent, earliest) = self
            .db()
            .read(|c| store::outbox::private_replies_since(c, sender.account.id, hour_ago))?;
        if sent >= PRIVATE_REPLIES_PER_HOUR {
            let until = earliest.unwrap_or(now) + HOUR;
            let reason =
                format!("Instagram's limit of {PRIVATE_REPLIES_PER_HOUR} private replies an hour");
            self.db()
                .write(|c| store::outbox::defer(c, row.id, until, &reason))?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Whether a private reply to a live comment may go now: while the broadcast lasts.
    /// Asked last, just before sending, so the gap and quiet hours are not waited out with
    /// an answer that is stale by then.
    pub(super) async fn broadcast_still_on(
        &self,
        sender: &Sender,
        row: &OutboxRow,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let Some(media_id) = row
            .answering
            .as_ref()
            .and_then(|a| a.live_media_id.as_ref())
        else {
            return Ok(true);
        };
        match sender.channel.broadcast_live(media_id).await {
            Ok(true) => Ok(true),
            Ok(false) => {
                let why = "the live video has ended: a live comment gets its private reply only \
                           while the broadcast lasts";
                self.set_aside(row, why, now)?;
                Ok(false)
            }
            Err(e) => {
                // Not known: asked again in a while; nothing was sent.
                let reason = format!("cannot tell whether the live video is still on: {e}");
                self.db()
                    .write(|c| store::outbox::defer(c, row.id, now + TRANSIENT_WAIT, &reason))?;
                Ok(false)
            }
        }
    }
}
