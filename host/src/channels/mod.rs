//! Channels deliver outbox messages to leads. Every account has one: the sandbox (the
//! embedded default: a delivery is recorded in the conversation and nothing leaves the
//! machine), the Instagram Messaging API ([`instagram`], with its webhook endpoint in
//! [`instagram_webhook`]), or an HTTP bridge to a sender the user runs. [`safety`] holds
//! the send-safety rules every channel is subject to, [`account`] the accounts themselves.

pub mod account;
pub mod bridge;
pub mod instagram;
pub mod instagram_webhook;
pub mod safety;
pub mod signing;

use self::account::{Account, ChannelKind};
use crate::clock::{HOUR, Millis};
use crate::leads::Lead;
use crate::secrets::SecretKey;
use crate::store::{self, Db};

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

/// How long after a lead's last message automated messages may reach them on Instagram.
pub const INSTAGRAM_WINDOW: Millis = 24 * HOUR;

/// Whether an automated message may go to `lead` through their account's channel at `now`.
/// Instagram allows it only within 24 hours of the lead's last message *on Instagram* (a
/// message through another channel does not open it); there is no cold outreach through the
/// official API.
pub fn window_open(conn: &rusqlite::Connection, lead: &Lead, now: Millis) -> anyhow::Result<bool> {
    let channel = store::accounts::get(conn, lead.account_id)?.map(|a| a.channel);
    Ok(match channel {
        Some(ChannelKind::Instagram) => {
            store::messages::last_inbound_via(conn, lead.id, ChannelKind::Instagram.as_str())?
                .is_some_and(|at| now - at <= INSTAGRAM_WINDOW)
        }
        _ => true,
    })
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

    /// Delivers outbox message `outbox_id`.
    pub async fn send(&self, outbox_id: i64, lead: &Lead, text: &str) -> Result<(), SendError> {
        match self {
            Self::Sandbox => Ok(()),
            Self::Instagram(client) => client.send(lead, text).await,
            Self::Bridge(client) => client.send(outbox_id, lead, text).await,
        }
    }

    /// Whether a message whose send had an unknown outcome (attempted at `since`) arrived.
    pub async fn was_delivered(
        &self,
        lead: &Lead,
        text: &str,
        since: Millis,
    ) -> Result<bool, SendError> {
        match self {
            // The sandbox always answers, so it never has an unknown outcome; the bridge
            // dedupes on the Idempotency-Key, so sending again is how to find out.
            Self::Sandbox | Self::Bridge(_) => Ok(false),
            Self::Instagram(client) => client.was_delivered(lead, text, since).await,
        }
    }
}
