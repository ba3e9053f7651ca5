//! The hooks a plugin may implement, by the names the contract uses. The outreach host
//! compiles this same file (`crates/domain/src/manifest.rs` includes it), as it does
//! `permission.rs` and the policy, so the SDK and the host cannot disagree on a name.

/// A hook a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Decides whether an imported or updated lead enters automation.
    Filter,
    /// Answers an inbound message.
    Reply,
    /// Runs a follow-up step.
    FollowUp,
}

impl Hook {
    pub const ALL: [Hook; 3] = [Self::Filter, Self::Reply, Self::FollowUp];

    /// The name manifests use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Filter => "filter",
            Self::Reply => "reply",
            Self::FollowUp => "follow-up",
        }
    }

    /// The hook of this name, if this side knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.as_str() == name)
    }
}
