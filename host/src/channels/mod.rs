//! Channels deliver outbox messages to leads. The sandbox channel is the embedded default:
//! a delivery is recorded in the conversation and nothing leaves the machine; inbound
//! messages come from `outreach inbox push`. [`safety`] holds the send-safety rules every
//! channel is subject to.

pub mod safety;

use crate::leads::Lead;

/// Where messages go. Each variant is one transport; the outbox worker treats them alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sandbox,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (rate limit, network).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will never work for this message (the row is set aside with the reason).
    #[error("{0}")]
    Permanent(String),
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
        }
    }

    /// Delivers one message. The sandbox accepts everything the host lets through.
    pub async fn send(self, _lead: &Lead, _text: &str) -> Result<(), SendError> {
        match self {
            Self::Sandbox => Ok(()),
        }
    }
}
