//! Conversations: read a lead's history (`messages:read`) and queue messages (`messages:send`).

use crate::host::with_host;
use crate::{Message, Result};

/// The last `limit` messages with a lead, oldest first (the host caps `limit` at 50).
/// Needs `messages:read`.
pub fn history(lead: u64, limit: u32) -> Result<Vec<Message>> {
    with_host(|h| h.messaging_history(lead, limit))
}

/// Queues a message to a lead. Needs `messages:send`; a do-not-contact lead gets
/// [`Error::Unavailable`](crate::Error::Unavailable). It is delivered only if the hook
/// returns `Ok`, and a retried event never sends it twice.
pub fn send(lead: u64, text: &str) -> Result<()> {
    with_host(|h| h.messaging_send(lead, text))
}
