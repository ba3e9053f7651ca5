//! Meta's webhook payload for Instagram messaging, read leniently: one malformed item is
//! skipped, not the whole batch; echoes, reads and reactions carry no message.

use serde::Deserialize;

use crate::inbound::InboundMessage;

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
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
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

/// The messages leads sent, from a webhook body. Echoes of our own sends, deletions and
/// non-message events (reactions, postbacks, reads) are left out.
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
            entry
                .messaging
                .iter()
                .filter_map(|item| inbound(entry, item))
        })
        .collect())
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
    let message = item.message.filter(|m| !m.is_echo && !m.is_deleted)?;
    let account_id =
        non_empty(item.recipient.and_then(|p| p.id)).or_else(|| non_empty(entry.id.clone()));
    Some(InboundMessage {
        account_id: required(account_id, "recipient id")?,
        sender_id: required(non_empty(item.sender.and_then(|p| p.id)), "sender id")?,
        message_id: required(non_empty(message.mid), "mid")?,
        text: message_text(message.text, &message.attachments),
        sent_at: required(item.timestamp.or(entry.time), "timestamp")?,
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
