//! What every inbound channel hands on, whatever its wire format: verified messages, and the
//! sink that stores them (the engine's ingest, behind `serve`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The Instagram account the message was sent to (recipient.id, else entry.id).
    pub account_id: String,
    pub sender_id: String,
    pub message_id: String,
    pub text: String,
    /// When the sender sent it (messaging.timestamp), in milliseconds since the epoch.
    pub sent_at: i64,
}

/// Where verified messages go. Returns how many were new (the sink dedupes on message_id).
pub trait InboundSink: Send + Sync + 'static {
    fn receive(&self, messages: Vec<InboundMessage>) -> anyhow::Result<usize>;
}
