//! The permissions a plugin may request in its manifest and a user may grant, by the names
//! the contract uses. The outreach host compiles this same file
//! (`crates/domain/src/permission.rs` includes it), as it does [`crate::policy`], so the
//! SDK and the host cannot disagree on a name.

/// A permission a plugin may request in its manifest and a user may grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// `leads:read`: read leads other than the one the current event is about, and query leads.
    LeadsRead,
    /// `leads:read-pii`: see personal fields: email, phone, notes and custom fields.
    LeadsReadPii,
    /// `leads:write`: change a lead's status, tags or score.
    LeadsWrite,
    /// `messages:read`: read a lead's conversation history.
    MessagesRead,
    /// `messages:send`: queue messages to leads (always through the host's outbox and safety rules).
    MessagesSend,
    /// `ai:generate`: ask the configured AI provider for a reply.
    AiGenerate,
    /// `storage`: a small key-value store private to the plugin.
    Storage,
    /// `comments:read`: see comments on the account's posts, reels and live videos (the
    /// reply hook is called for them; answering one privately needs `messages:send`).
    CommentsRead,
    /// `comments:reply`: answer a comment publicly, under it, as the account.
    CommentsReply,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Self::LeadsRead,
        Self::LeadsReadPii,
        Self::LeadsWrite,
        Self::MessagesRead,
        Self::MessagesSend,
        Self::AiGenerate,
        Self::Storage,
        Self::CommentsRead,
        Self::CommentsReply,
    ];

    /// The name manifests and errors use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadsRead => "leads:read",
            Self::LeadsReadPii => "leads:read-pii",
            Self::LeadsWrite => "leads:write",
            Self::MessagesRead => "messages:read",
            Self::MessagesSend => "messages:send",
            Self::AiGenerate => "ai:generate",
            Self::Storage => "storage",
            Self::CommentsRead => "comments:read",
            Self::CommentsReply => "comments:reply",
        }
    }

    /// The permission of this name (as a manifest or a `permission-denied` error writes
    /// it), if this side knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}
