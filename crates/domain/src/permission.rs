//! The permissions a plugin requests in its manifest and the user grants.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// A permission a plugin requests in its manifest and the user grants (the WIT `permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    LeadsRead,
    LeadsReadPii,
    LeadsWrite,
    MessagesRead,
    MessagesSend,
    AiGenerate,
    Storage,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Self::LeadsRead,
        Self::LeadsReadPii,
        Self::LeadsWrite,
        Self::MessagesRead,
        Self::MessagesSend,
        Self::AiGenerate,
        Self::Storage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadsRead => "leads:read",
            Self::LeadsReadPii => "leads:read-pii",
            Self::LeadsWrite => "leads:write",
            Self::MessagesRead => "messages:read",
            Self::MessagesSend => "messages:send",
            Self::AiGenerate => "ai:generate",
            Self::Storage => "storage",
        }
    }

    /// What granting it allows, in words shown at install time.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LeadsRead => "read and query leads other than the one an event is about",
            Self::LeadsReadPii => "see personal fields: email, phone, notes, custom fields",
            Self::LeadsWrite => "change a lead's status, tags and score",
            Self::MessagesRead => "read conversation history",
            Self::MessagesSend => "queue messages to leads (through the outbox and safety rules)",
            Self::AiGenerate => "send conversation text to the configured AI provider",
            Self::Storage => "keep data in a private key-value store",
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
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|p| p.as_str()).collect();
                format!(
                    "unknown permission {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}
