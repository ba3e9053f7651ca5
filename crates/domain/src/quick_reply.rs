//! Quick replies: buttons under an outgoing message that the lead can tap instead of typing.
//! A plugin's decision carries them, the outbox keeps them with the message, and the
//! channel shows them (Instagram's `quick_replies`); a tap comes back as an inbound message
//! whose origin names the payload. Their limits are in [`crate::policy::quick_replies`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReply {
    /// What the button says.
    pub title: String,
    /// What comes back when the lead taps it.
    pub payload: String,
}

/// The quick replies of an outbox row as stored: a JSON array, or nothing for none.
pub fn to_column(replies: &[QuickReply]) -> Option<String> {
    (!replies.is_empty()).then(|| serde_json::to_string(replies).expect("plain strings"))
}

/// The quick replies stored as [`to_column`] wrote them (none for a missing or unreadable
/// column: the message still goes out, without buttons).
pub fn from_column(column: Option<&str>) -> Vec<QuickReply> {
    column
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}
