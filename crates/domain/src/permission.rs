//! The permissions a plugin requests in its manifest and the user grants.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A permission a plugin requests in its manifest and the user grants: the SDK's own
/// definition, names and all, so the two cannot drift.
#[path = "../../../sdk/src/permission.rs"]
mod named;
pub use named::Permission;

impl Permission {
    pub fn describe(self) -> &'static str {
        match self {
            Self::LeadsRead => "read and query leads other than the one an event is about",
            Self::LeadsReadPii => "see personal fields: email, phone, notes, custom fields",
            Self::LeadsWrite => "change a lead's status, tags and score",
            Self::MessagesRead => "read conversation history",
            Self::MessagesSend => "queue messages to leads (through the outbox and safety rules)",
            Self::AiGenerate => "send conversation text to the configured AI provider",
            Self::Storage => "keep data in a private key-value store",
            Self::CommentsRead => {
                "see comments on the account's posts and live videos, and answer them privately"
            }
            Self::CommentsReply => "answer comments publicly, under them, as the account",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|p| p.as_str()).collect();
            format!(
                "unknown permission {s:?}; expected one of {}",
                names.join(", ")
            )
        })
    }
}
