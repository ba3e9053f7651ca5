//! What every inbound channel hands on, whatever its wire format: verified messages, and the
//! sink that stores them (the engine's ingest, behind `serve`).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The Instagram account: the one the message was sent to (recipient.id, else
    /// entry.id), or for an echo the one that sent it.
    pub account_id: String,
    /// The lead: who sent the message, or for an echo who it was sent to.
    pub sender_id: String,
    /// An echo: a message the account sent, through outreach or from the Instagram app.
    pub echo: bool,
    /// A story mention or reply, a tapped quick reply or ice breaker, or a comment (whose
    /// reference is the post's id).
    pub origin: Option<crate::store::events::Origin>,
    /// A comment's ids: its own, which a private reply answers, and its thread's.
    pub comment: Option<crate::store::events::CommentIds>,
    /// The channel's id for the message (a comment's id for a comment).
    pub message_id: String,
    pub text: String,
    /// When the sender sent it (messaging.timestamp), in milliseconds since the epoch.
    pub sent_at: i64,
}

/// Where verified messages go. Returns how many were new (the sink dedupes on message_id).
pub trait InboundSink: Send + Sync + 'static {
    fn receive(&self, messages: Vec<InboundMessage>) -> anyhow::Result<usize>;
}
