//! Meta's webhook payload for Instagram messaging, read leniently: one malformed item is
//! skipped, not the whole batch; reads, reactions and deletions carry no message. Echoes
//! (what the account itself sent) are handed on as such: one of ours confirms a send, any
//! other is a person answering from the Instagram app. Comments on the account's posts and
//! live videos (the `comments` and `live_comments` fields, in `changes` rather than
//! `messaging`) are handed on as messages of their own kind.

use serde::Deserialize;

use crate::inbound::InboundMessage;
use crate::store::events::{CommentIds, Origin, OriginKind};

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    time: Option<i64>,
    // Kept raw so one malformed item is skipped instead of refusing the whole batch.
    #[serde(default)]
    messaging: Vec<serde_json::Value>,
    /// Comments, among other changes to the account's objects. Kept raw, as one value: a
    /// `changes` of the wrong shape skips itself, not the entry's messages.
    #[serde(default)]
    changes: serde_json::Value,
}

/// A change to one of the account's objects: `field` names which.
#[derive(Deserialize)]
struct Change {
    field: String,
    value: serde_json::Value,
}

/// A comment, as the `comments` and `live_comments` fields carry it.
#[derive(Deserialize)]
struct Comment {
    id: Option<String>,
    /// For a reply under another comment: that comment.
    parent_id: Option<String>,
    text: Option<String>,
    from: Option<Commenter>,
    media: Option<Media>,
}

#[derive(Deserialize)]
struct Commenter {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Media {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
}

/// A tap on an ice breaker (or a button): the question's text and our payload for it.
#[derive(Deserialize)]
struct Postback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Party {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    reply_to: Option<ReplyTo>,
    /// Set when the lead tapped one of the quick replies under the account's message.
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// A tapped quick reply: the payload the account gave it.
#[derive(Deserialize)]
struct QuickReply {
    payload: Option<String>,
}

/// What a message answers: another message (`mid`) or one of the account's stories.
#[derive(Deserialize)]
struct ReplyTo {
    story: Option<StoryRef>,
}

#[derive(Deserialize)]
struct StoryRef {
    id: Option<String>,
    // `url` (the story's media) is not read: it is never stored.
}

/// The attachment type Meta gives a mention of the account in a story.
const STORY_MENTION: &str = "story_mention";

/// The messages leads sent (an ice breaker they tapped among them) and the echoes of what
/// the account sent, from a webhook body. Deletions and other events (reactions, reads)
/// are left out.
pub fn parse_payload(body: &[u8]) -> Result<Vec<InboundMessage>, String> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| format!("invalid webhook payload: {e}"))?;
    if payload.object != "instagram" {
        return Err(format!(
            "object is {:?}, expected \"instagram\"",
            payload.object
        ));
    }
    Ok(payload
        .entry
        .iter()
        .flat_map(|entry| {
            let messages = entry
                .messaging
                .iter()
                .filter_map(|item| inbound(entry, item));
            let changes = entry.changes.as_array().into_iter().flatten();
            let comments = changes.filter_map(|item| comment(entry, item));
            messages.chain(comments)
        })
        .collect())
}

/// A comment on one of the account's posts or reels (`comments`) or on its live video
/// (`live_comments`), as a message of that kind from the commenter: its reference is the
/// post's id, and its own id, which a private reply answers, names it once. The account's
/// own comments (its public answers) and other changes are left out.
fn comment(entry: &Entry, item: &serde_json::Value) -> Option<InboundMessage> {
    let change = Change::deserialize(item).ok()?;
    let kind = match change.field.as_str() {
        "comments" => OriginKind::Comment,
        "live_comments" => OriginKind::LiveComment,
        _ => return None,
    };
    let comment = match Comment::deserialize(&change.value) {
        Ok(comment) => comment,
        Err(e) => {
            tracing::warn!("instagram webhook: skipping a malformed comment");
            tracing::debug!("instagram webhook: malformed comment: {e}");
            return None;
        }
    };
    let account_id = required(non_empty(entry.id.clone()), "entry id of a comment")?;
    let sender_id = required(
        non_empty(comment.from.and_then(|f| f.id)),
        "commenter id (from.id)",
    )?;
    if sender_id == account_id {
        return None;
    }
    let comment_id = required(non_empty(comment.id), "comment id")?;
    let media_id = required(non_empty(comment.media.and_then(|m| m.id)), "media id")?;
    Some(InboundMessage {
        account_id,
        sender_id,
        echo: false,
        origin: Some(Origin {
            kind,
            reference: Some(media_id),
        }),
        message_id: comment_id.clone(),
        comment: Some(CommentIds {
            id: comment_id,
            thread: non_empty(comment.parent_id),
        }),
        text: non_empty(comment.text).unwrap_or_else(|| "[empty comment]".to_owned()),
        sent_at: required(entry.time.map(millis), "entry time of a comment")?,
    })
}

/// A Graph time in milliseconds: change notifications give `entry.time` in seconds,
/// messaging ones in milliseconds. (Milliseconds since 1973 and seconds until the year 5138
/// cannot be told apart any other way.)
fn millis(time: i64) -> i64 {
    if time < 100_000_000_000 {
        time.saturating_mul(1000)
    } else {
        time
    }
}

fn inbound(entry: &Entry, item: &serde_json::Value) -> Option<InboundMessage> {
    let item = match Messaging::deserialize(item) {
        Ok(item) => item,
        Err(e) => {
            // The serde error can quote field values, so it stays below info.
            tracing::warn!("instagram webhook: skipping a malformed messaging item");
            tracing::debug!("instagram webhook: malformed messaging item: {e}");
            return None;
        }
    };
    if item.message.is_none()
        && let Some(postback) = item.postback
    {
        return tapped(entry, item.sender, item.recipient, item.timestamp, postback);
    }
    let message = item.message.filter(|m| !m.is_deleted)?;
    let sender = non_empty(item.sender.and_then(|p| p.id));
    let recipient = non_empty(item.recipient.and_then(|p| p.id));
    // An echo goes from the account to the lead: the parties the other way round.
    let (account, lead) = match message.is_echo {
        false => (recipient, sender),
        true => (sender, recipient),
    };
    let account_id = account.or_else(|| non_empty(entry.id.clone()));
    let (account_field, lead_field) = match message.is_echo {
        false => ("recipient id", "sender id"),
        true => ("sender id of the echo", "recipient id of the echo"),
    };
    let origin = origin(&message);
    let text = match &origin {
        // The story's media is not stored, nor shown: a placeholder says what happened.
        Some(Origin {
            kind: OriginKind::StoryMention,
            ..
        }) => "[mentioned you in their story]".to_owned(),
        Some(Origin {
            kind: OriginKind::StoryReply,
            ..
        }) if non_empty(message.text.clone()).is_none() => "[replied to your story]".to_owned(),
        _ => message_text(message.text, &message.attachments),
    };
    Some(InboundMessage {
        account_id: required(account_id, account_field)?,
        sender_id: required(lead, lead_field)?,
        echo: message.is_echo,
        origin,
        comment: None,
        message_id: required(non_empty(message.mid), "mid")?,
        text,
        sent_at: required(item.timestamp.or(entry.time), "timestamp")?,
    })
}

/// A tap on one of the account's ice breakers, as the message the lead chose: its text is
/// the question. Older API versions give no `mid`; the tap is then known by who tapped what
/// when, so a redelivery is still stored once.
fn tapped(
    entry: &Entry,
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    postback: Postback,
) -> Option<InboundMessage> {
    let sender_id = required(non_empty(sender.and_then(|p| p.id)), "sender id")?;
    let sent_at = required(timestamp.or(entry.time), "timestamp")?;
    let payload = non_empty(postback.payload).unwrap_or_default();
    // Without a mid, the tap's own time names it; the entry's time changes from one
    // delivery to the next, so a tap with neither cannot be stored once and is skipped.
    let message_id = match non_empty(postback.mid) {
        Some(mid) => mid,
        None => format!(
            "postback:{sender_id}:{}:{payload}",
            required(timestamp, "mid or timestamp of a postback")?
        ),
    };
    let text = non_empty(postback.title).unwrap_or_else(|| format!("[tapped: {payload}]"));
    Some(InboundMessage {
        account_id: required(
            non_empty(recipient.and_then(|p| p.id)).or_else(|| non_empty(entry.id.clone())),
            "recipient id",
        )?,
        sender_id,
        echo: false,
        // What the lead tapped, for the plugins: the text alone may be any question.
        origin: non_empty(Some(payload.clone())).map(|payload| Origin {
            kind: OriginKind::Postback,
            reference: Some(payload),
        }),
        comment: None,
        message_id,
        text,
        sent_at,
    })
}

/// What a message was beyond its text: a mention of the account in the lead's story, the
/// lead's reply to one of the account's stories, or a quick reply they tapped.
fn origin(message: &Message) -> Option<Origin> {
    if let Some(reply_to) = &message.reply_to
        && let Some(story) = &reply_to.story
    {
        return Some(Origin {
            kind: OriginKind::StoryReply,
            reference: non_empty(story.id.clone()),
        });
    }
    if let Some(payload) = message.quick_reply.as_ref().and_then(|q| q.payload.clone()) {
        return Some(Origin {
            kind: OriginKind::QuickReply,
            reference: non_empty(Some(payload)),
        });
    }
    message
        .attachments
        .iter()
        .any(|a| a.kind.as_deref() == Some(STORY_MENTION))
        .then_some(Origin {
            kind: OriginKind::StoryMention,
            reference: None,
        })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Passes `value` through, logging a skipped message when it is missing.
fn required<T>(value: Option<T>, field: &str) -> Option<T> {
    if value.is_none() {
        tracing::warn!("instagram webhook: skipping a message without {field}");
    }
    value
}

/// Messages without text still need some, so the conversation shows the lead replied.
fn message_text(text: Option<String>, attachments: &[Attachment]) -> String {
    match non_empty(text) {
        Some(text) => text,
        None if attachments.is_empty() => "[empty message]".to_owned(),
        None => {
            let kinds: Vec<&str> = attachments
                .iter()
                .map(|a| a.kind.as_deref().unwrap_or("unknown"))
                .collect();
            format!("[attachment: {}]", kinds.join(", "))
        }
    }
}
