//! `outreach serve`: the webhook endpoint Meta delivers Instagram messages to, and the
//! engine working alongside it. A delivery is answered as soon as its messages are stored;
//! the engine picks them up from the database.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::App;
use crate::channels::account::ChannelKind;
use crate::channels::bridge::{self, BridgeInbox, BridgeMessage};
use crate::channels::instagram_webhook::{self, InboundMessage, InboundSink, WebhookConfig};
use crate::channels::open_credentials;
use crate::clock::Clock;
use crate::config::ConsentConfig;
use crate::engine::ingest::{self, Sender};
use crate::store::{self, Db};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: instagram.listen from the config, 127.0.0.1:8787].
    #[arg(long)]
    listen: Option<String>,
}

/// Stores verified webhook messages as inbound events, once each (Meta redelivers).
struct StoreInbound {
    db: Db,
    consent: ConsentConfig,
    clock: Arc<dyn Clock>,
}

impl InboundSink for StoreInbound {
    fn receive(&self, messages: Vec<InboundMessage>) -> anyhow::Result<usize> {
        let mut new = 0;
        for m in messages {
            let Some(account) = self
                .db
                .read(|c| store::accounts::by_instagram_id(c, &m.account_id))?
            else {
                tracing::warn!(
                    "webhook message for an Instagram account that is not set up here; ignored"
                );
                continue;
            };
            let message = ingest::InboundMessage {
                account: account.id,
                from: Sender::ChannelUser(&m.sender_id),
                text: &m.text,
                at: m.sent_at,
                source: "instagram",
                dedupe_key: Some(format!("instagram:{}", m.message_id)),
            };
            let received = ingest::inbound(&self.db, &self.consent, &message, self.clock.now())?;
            new += usize::from(received.event_id.is_some());
        }
        Ok(new)
    }
}

impl BridgeInbox for StoreInbound {
    fn secret(&self, account: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let account = self.db.read(|c| store::accounts::find(c, account))?;
        match account {
            Some(account) if account.channel == ChannelKind::Bridge => {
                Ok(Some(open_credentials(&self.db, &account)?))
            }
            _ => Ok(None),
        }
    }

    fn receive(&self, account: &str, m: BridgeMessage) -> anyhow::Result<bool> {
        let account = self.db.read(|c| store::accounts::require(c, account))?;
        let handle = crate::leads::csv_import::normalize_handle(&m.handle).map_err(|reason| {
            anyhow::anyhow!("bridge message {}: invalid handle: {reason}", m.id)
        })?;
        let now = self.clock.now();
        let message = ingest::InboundMessage {
            account: account.id,
            from: Sender::Handle(&handle),
            text: &m.text,
            at: m.sent_at.unwrap_or(now),
            source: "bridge",
            dedupe_key: Some(format!("bridge:{}:{}", account.id, m.id)),
        };
        Ok(ingest::inbound(&self.db, &self.consent, &message, now)?
            .event_id
            .is_some())
    }
}

pub async fn run(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    let instagram = &app.config.instagram;
    let config = WebhookConfig {
        app_secret: instagram
            .webhook_app_secret()
            .context("the webhook needs the app secret: set instagram.app_secret in the config or $INSTAGRAM_APP_SECRET")?,
        verify_token: instagram.webhook_verify_token().context(
            "the webhook needs the verify token: set instagram.verify_token in the config or $INSTAGRAM_VERIFY_TOKEN",
        )?,
        max_body_bytes: instagram.max_body_bytes,
    };
    let inbound = Arc::new(StoreInbound {
        db: app.db.clone(),
        consent: app.config.consent.clone(),
        clock: app.clock.clone(),
    });
    let router = instagram_webhook::router(config, inbound.clone())
        .merge(bridge::router(inbound, instagram.max_body_bytes));
    let address = args.listen.unwrap_or_else(|| instagram.listen.clone());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let engine = app.engine()?;
    let address = listener.local_addr()?;
    println!(
        "listening on http://{address}/webhooks/instagram and http://{address}/webhooks/bridge/<account>"
    );
    tokio::select! {
        served = axum::serve(listener, router) => served.context("the webhook server stopped"),
        worked = engine.run_forever() => worked,
    }
}
