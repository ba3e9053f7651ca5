//! Channels deliver outbox messages to leads. Every account has one: the sandbox (the
//! embedded default: a delivery is recorded in the conversation and nothing leaves the
//! machine), the Instagram Messaging API ([`instagram`], with its webhook endpoint in
//! [`instagram::webhook`]), or an HTTP bridge to a sender the user runs. [`safety`] holds
//! the send-safety rules every channel is subject to (from the domain crate, as are accounts).

// The layers below under the names the module paths use.
use outreach_domain as domain;
use outreach_domain::{clock, secrets};
use outreach_store as store;

pub mod bridge;
mod http_body;
pub mod inbound;
pub mod instagram;
pub mod notify;
pub use crate::domain::sending as safety;
pub mod signing;

use std::collections::HashSet;

use crate::clock::{DAY, HOUR, Millis};
use crate::domain::account::{Account, ChannelKind};
use crate::domain::lead::Lead;
use crate::secrets::SecretKey;
use crate::store::Db;
use crate::store::outbox::Message;

/// Why a message did not go out, and so what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Nothing was sent; try again after a pause.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The channel asks us to slow down: the whole account waits.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The request went out and no answer came back: it may or may not have been
    /// delivered, so it is reconciled before any retry.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The channel's messaging window for this lead is closed.
    #[error("messaging window closed")]
    WindowClosed,
    /// The account's credentials are refused: the account is paused.
    #[error("credentials refused: {0}")]
    Credentials(String),
    /// This message will never go out (it is set aside with the reason).
    #[error("{0}")]
    Permanent(String),
}

/// What a channel said when it took a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The channel's own id for the message, when it gives one (Instagram's `message_id`).
    pub message_id: Option<String>,
}

/// A send whose outcome is unknown, as reconciliation must judge it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    /// When the row's first unanswered send began (the host's clock).
    pub started_at: Millis,
    /// Channel message ids attributed to the lead's other outbox rows: never this one's.
    pub taken: HashSet<String>,
    /// When another row last delivered the same text to the lead without a known id: a
    /// message created then or earlier may be that one, so clock skew is never allowed to
    /// reach back that far.
    pub unidentified_before: Option<Millis>,
}

/// How long after a lead's last message automated messages may reach them on Instagram.
pub const INSTAGRAM_WINDOW: Millis = 24 * HOUR;

/// How long after a lead's last message a person may still answer on Instagram, with the
/// `HUMAN_AGENT` tag (for accounts Meta granted the Human Agent feature).
pub const INSTAGRAM_HUMAN_WINDOW: Millis = 7 * DAY;

/// How long after a comment Instagram lets the account answer it with a private reply.
pub const PRIVATE_REPLY_WINDOW: Millis = 7 * DAY;

/// How many private replies Instagram lets an account send in an hour.
pub const PRIVATE_REPLIES_PER_HOUR: u32 = 750;

/// Why a private reply to a comment made at `comment_at` may not go out at `now`, if it
/// may not: only within 7 days of the comment.
pub fn private_reply_closed(comment_at: Millis, now: Millis) -> Option<String> {
    let age = now.saturating_sub(comment_at);
    (age > PRIVATE_REPLY_WINDOW).then(|| {
        format!(
            "private reply window closed: the comment is {} days old, and Instagram allows a \
             private reply within 7 days of it",
            age / DAY
        )
    })
}

/// Who may write to a lead now through their account's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Anyone: plugins and people (Instagram: within 24 h of the lead's last message).
    Open,
    /// Only a person, tagged `HUMAN_AGENT` (Instagram: within 7 days, where the account
    /// has the Human Agent feature). Automated messages are not allowed.
    PersonOnly,
    /// Nobody until the lead writes again.
    Closed,
}

impl Window {
    /// Whether a message may go out now: a person's (`by_a_person`) or a plugin's.
    pub fn allows(self, by_a_person: bool) -> bool {
        match self {
            Self::Open => true,
            Self::PersonOnly => by_a_person,
            Self::Closed => false,
        }
    }

    /// What it means, for people.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Open => "open (24 h: automated messages and people)",
            Self::PersonOnly => {
                "open to a person only (HUMAN_AGENT, up to 7 days after the lead's last message)"
            }
            Self::Closed => "closed: nothing can be sent until the lead writes again",
        }
    }
}

/// Who may write to `lead` through their account's channel at `now`. Instagram allows
/// automated messages only within 24 hours of the lead's last message *on Instagram* (a
/// message through another channel does not open it), and a person's for 7 days where the
/// account has the Human Agent feature; there is no cold outreach through the official API.
pub fn window(conn: &crate::store::Conn<'_>, lead: &Lead, now: Millis) -> anyhow::Result<Window> {
    let Some(account) = store::accounts::get(conn, lead.account_id)? else {
        return Ok(Window::Open);
    };
    if account.channel != ChannelKind::Instagram {
        return Ok(Window::Open);
    }
    let since = store::messages::last_inbound_via(conn, lead.id, ChannelKind::Instagram.as_str())?
        .map(|at| now - at);
    Ok(match since {
        Some(since) if since <= INSTAGRAM_WINDOW => Window::Open,
        Some(since)
            if since <= INSTAGRAM_HUMAN_WINDOW && account.settings.human_agent == Some(true) =>
        {
            Window::PersonOnly
        }
        _ => Window::Closed,
    })
}

/// Whether an automated message may go to `lead` now ([`window`]).
pub fn window_open(
    conn: &crate::store::Conn<'_>,
    lead: &Lead,
    now: Millis,
) -> anyhow::Result<bool> {
    Ok(window(conn, lead, now)? == Window::Open)
}

/// An account's credentials, opened with the key from the environment.
pub fn open_credentials(db: &Db, account: &Account) -> anyhow::Result<Vec<u8>> {
    let sealed = db
        .read(|c| store::accounts::credentials(c, account.id))?
        .ok_or_else(|| anyhow::anyhow!("account {} has no credentials", account.name))?;
    Ok(SecretKey::from_env()?.open(&sealed)?)
}

/// An account's connection, ready to send.
pub enum Channel {
    Sandbox,
    Instagram(instagram::InstagramClient),
    Bridge(bridge::BridgeClient),
}

impl Channel {
    /// Opens the account's credentials and builds its client.
    pub fn for_account(
        db: &Db,
        account: &Account,
        timeout: std::time::Duration,
    ) -> anyhow::Result<Self> {
        Ok(match account.channel {
            ChannelKind::Sandbox => Self::Sandbox,
            ChannelKind::Instagram => {
                let token = String::from_utf8(open_credentials(db, account)?)?;
                Self::Instagram(instagram::InstagramClient::new(
                    &account.settings,
                    token,
                    timeout,
                )?)
            }
            ChannelKind::Bridge => {
                let url = account.settings.bridge_url.as_deref().unwrap_or_default();
                Self::Bridge(bridge::BridgeClient::new(
                    url,
                    open_credentials(db, account)?,
                    timeout,
                )?)
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Instagram(_) => "instagram",
            Self::Bridge(_) => "bridge",
        }
    }

    /// Whether a send leaves the machine, so that its attempt must be recorded (committed)
    /// before the request: a crash mid-request then leaves a row to reconcile. A sandbox
    /// delivery is the database write that records it, so it can never be half done.
    pub fn sends_remotely(&self) -> bool {
        !matches!(self, Self::Sandbox)
    }

    /// How long after an unanswered send began it may still arrive (a request in flight
    /// when the engine stopped): reconciling earlier could miss it and send it twice.
    pub fn settle_time(&self) -> Millis {
        match self {
            // Sending again is how to find out, and it is deduplicated.
            Self::Sandbox | Self::Bridge(_) => 0,
            Self::Instagram(client) => client.settle_time(),
        }
    }

    /// Delivers outbox message `outbox_id`; `human_agent` for a person's message in the
    /// window only a person may use ([`Window::PersonOnly`]).
    pub async fn send(
        &self,
        outbox_id: i64,
        lead: &Lead,
        message: Message<'_>,
        human_agent: bool,
    ) -> Result<Delivery, SendError> {
        match self {
            Self::Sandbox => Ok(Delivery::default()),
            Self::Instagram(client) => client.send(lead, message, human_agent).await,
            // Comments are Instagram's: nothing answering one goes elsewhere.
            Self::Bridge(_) if message.answering.is_some() => Err(SendError::Permanent(
                "the bridge channel has no comments to answer".into(),
            )),
            Self::Bridge(client) => client.send(outbox_id, lead, message).await,
        }
    }

    /// Whether the live video `media_id` is being broadcast now. Only Instagram has live
    /// videos to ask about; elsewhere the answer does not hold anything back.
    pub async fn broadcast_live(&self, media_id: &str) -> Result<bool, SendError> {
        match self {
            Self::Sandbox | Self::Bridge(_) => Ok(true),
            Self::Instagram(client) => client.is_live(media_id).await,
        }
    }

    /// Whether a message whose send had an unknown outcome arrived, and as what; `None`
    /// when it did not, so sending it now cannot make two.
    pub async fn was_delivered(
        &self,
        lead: &Lead,
        message: Message<'_>,
        attempt: &Attempt,
    ) -> Result<Option<Delivery>, SendError> {
        match self {
            // A sandbox delivery is recorded in the same transaction that marks the row
            // sent, so a row still queued never arrived. The bridge dedupes on the
            // Idempotency-Key (`outbox-<id>`), so sending again is how to find out.
            Self::Sandbox | Self::Bridge(_) => Ok(None),
            Self::Instagram(client) => client.was_delivered(lead, message, attempt).await,
        }
    }
}
