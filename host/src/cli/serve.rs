//! `outreach serve`: the webhook endpoint Meta delivers Instagram messages to, and the
//! engine working alongside it. A delivery is answered as soon as its messages are stored;
//! the engine picks them up from the database.

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use super::App;
use crate::channels::instagram_webhook::{self, InboundMessage, InboundSink, WebhookConfig};
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

fn secret(configured: &Option<String>, env: &str, what: &str) -> anyhow::Result<String> {
    configured
        .clone()
        .or_else(|| std::env::var(env).ok())
        .filter(|s| !s.is_empty())
        .with_context(|| {
            format!(
                "the webhook needs the {what}: set instagram.{} in the config or ${env}",
                what.replace(' ', "_")
            )
        })
}

pub async fn run(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    let instagram = &app.config.instagram;
    let config = WebhookConfig {
        app_secret: secret(&instagram.app_secret, "INSTAGRAM_APP_SECRET", "app secret")?,
        verify_token: secret(
            &instagram.verify_token,
            "INSTAGRAM_VERIFY_TOKEN",
            "verify token",
        )?,
        max_body_bytes: instagram.max_body_bytes,
    };
    let sink = StoreInbound {
        db: app.db.clone(),
        consent: app.config.consent.clone(),
        clock: app.clock.clone(),
    };
    let router = instagram_webhook::router(config, Arc::new(sink));
    let address = args.listen.unwrap_or_else(|| instagram.listen.clone());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let engine = app.engine()?;
    println!(
        "listening on http://{}/webhooks/instagram",
        listener.local_addr()?
    );
    tokio::select! {
        served = axum::serve(listener, router) => served.context("the webhook server stopped"),
        worked = engine.run_forever() => worked,
    }
}
