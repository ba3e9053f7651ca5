//! `outreach serve`: the webhook endpoint Meta delivers Instagram messages to, and the
//! engine working alongside it. A delivery is answered as soon as its messages are stored;
//! the engine picks them up from the database.

use std::sync::Arc;

use anyhow::Context as _;

use crate::engine::shadow::ShadowRunner;
use clap::Args;

use super::App;
use crate::channels::bridge::{self, BridgeInbox, BridgeMessage};
use crate::channels::inbound::{InboundMessage, InboundSink};
use crate::channels::instagram::webhook::{self as instagram_webhook, WebhookConfig};
use crate::channels::open_credentials;
use crate::clock::Clock;
use crate::config::ConsentConfig;
use crate::domain::account::ChannelKind;
use crate::engine::ingest::{self, InstagramReceived, Sender};
use crate::store::cipher::DbKey;
use crate::store::{self, Db};
use crate::text::terminal_safe;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: instagram.listen from the config, 127.0.0.1:8787].
    #[arg(long)]
    listen: Option<String>,
}

/// Stores verified webhook messages as inbound events, once each (Meta redelivers). A
/// message for an Instagram account id that is not set up here is kept aside until the
/// account is added: Meta does not redeliver a delivery that was answered.
struct StoreInbound {
    db: Db,
    consent: ConsentConfig,
    clock: Arc<dyn Clock>,
}

impl InboundSink for StoreInbound {
    fn receive(&self, messages: Vec<InboundMessage>) -> anyhow::Result<usize> {
        let mut new = 0;
        for m in messages {
            match ingest::instagram_webhook(&self.db, &self.consent, &m, self.clock.now())? {
                InstagramReceived::New
                | InstagramReceived::FromTheApp { new: true }
                | InstagramReceived::OwnEcho { confirmed: true } => new += 1,
                InstagramReceived::Duplicate
                | InstagramReceived::FromTheApp { new: false }
                | InstagramReceived::OwnEcho { confirmed: false }
                | InstagramReceived::EchoUnrouted
                | InstagramReceived::CommentUnseen => {}
                InstagramReceived::CommentUnrouted => tracing::warn!(
                    "webhook comment for Instagram account {} that is not set up here: not \
                     kept (it stays on Instagram)",
                    terminal_safe(&m.account_id)
                ),
                InstagramReceived::Unrouted { new: kept } => {
                    new += usize::from(kept);
                    // The account id is not personal; the sender and text stay out of logs.
                    tracing::warn!(
                        "webhook message for Instagram account {} that is not set up here: kept \
                         until it is added (`outreach account add NAME --channel instagram \
                         --ig-user-id {}`)",
                        terminal_safe(&m.account_id),
                        terminal_safe(&m.account_id)
                    );
                }
            }
        }
        Ok(new)
    }
}

impl StoreInbound {
    /// Routes messages kept aside to accounts added since, saying so.
    fn route_unrouted(&self) -> anyhow::Result<()> {
        let routed = ingest::route_unrouted(&self.db, &self.consent, self.clock.now())?;
        for r in routed {
            println!(
                "routed {} webhook message(s) kept for Instagram account {} to account {}",
                r.messages,
                terminal_safe(&r.ig_user_id),
                terminal_safe(&r.account)
            );
        }
        Ok(())
    }

    /// Routes kept messages now and then, for an account added by a command that could not
    /// route them itself (one that stopped halfway, say). `account add` routes at once.
    async fn route_forever(self: Arc<Self>) -> anyhow::Result<()> {
        loop {
            tokio::time::sleep(ROUTE_EVERY).await;
            let this = Arc::clone(&self);
            match tokio::task::spawn_blocking(move || this.route_unrouted()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!("cannot route kept webhook messages: {e:#}"),
                Err(e) => tracing::error!("routing kept webhook messages panicked: {e}"),
            }
        }
    }
}

/// How often `serve` looks for kept webhook messages whose account was added since.
const ROUTE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

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
        let handle = crate::domain::handle::normalize_handle(&m.handle).map_err(|reason| {
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
            origin: None,
            comment: None,
        };
        Ok(ingest::inbound(&self.db, &self.consent, &message, now)?
            .event_id
            .is_some())
    }
}

pub async fn run(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    let instagram = &app.config.instagram;
    let inbound = Arc::new(StoreInbound {
        db: app.db.clone(),
        consent: app.config.consent.clone(),
        clock: app.clock.clone(),
    });
    // The Instagram webhook needs both secrets; without them the console and the bridge
    // still serve (trying the console after `demo` needs no Meta app).
    let webhook = match (
        instagram.webhook_app_secret(),
        instagram.webhook_verify_token(),
    ) {
        (Some(app_secret), Some(verify_token)) => Some(WebhookConfig {
            app_secret,
            verify_token,
            max_body_bytes: instagram.max_body_bytes,
        }),
        _ => None,
    };
    // The console works on connections of its own (one for pages and changes, one for
    // long reports and exports): none of its reads holds the connection the engine and
    // the webhooks write through, nor do its reports hold up its pages.
    let key = DbKey::from_env()?;
    let console_db = || {
        app.db
            .another(key.as_ref())
            .context("cannot open the database for the console")
    };
    let engine = app.engine()?;
    // Shadow runs from the plugin page: the engine's sandbox, on the console's connection
    // for long work (where nothing they write is kept).
    let background = console_db()?;
    let shadow = ShadowRunner::new(
        app.runtime()?,
        &background,
        app.clock.clone(),
        app.config.clone(),
        None,
    );
    let mut router =
        bridge::router(inbound.clone(), instagram.max_body_bytes).merge(crate::console::router(
            console_db()?,
            background,
            app.clock.clone(),
            app.config.sending.clone(),
            engine.calls_in_flight(),
            Some(shadow),
        ));
    let webhook_on = webhook.is_some();
    if let Some(config) = webhook {
        router = router.merge(instagram_webhook::router(config, inbound.clone()));
    }
    let address = args.listen.unwrap_or_else(|| instagram.listen.clone());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let address = listener.local_addr()?;
    if webhook_on {
        println!(
            "listening on http://{address}/webhooks/instagram and http://{address}/webhooks/bridge/<account>; console at http://{address}/console"
        );
    } else {
        println!(
            "listening on http://{address}/console (the console) and http://{address}/webhooks/bridge/<account>; the Instagram webhook is off: set instagram.app_secret and instagram.verify_token (or INSTAGRAM_APP_SECRET and INSTAGRAM_VERIFY_TOKEN)"
        );
    }
    // Until someone has a password, each start prints a link that logs in once: trying
    // the console after `demo` is this one command.
    if !app.db.read(store::console::has_password_users)? {
        let link = crate::console::new_login_link(&app.db, app.now())?;
        eprintln!(
            "no console user has a password yet: open http://{address}{link} to log in once as `{}` (valid 15 minutes), then add yourself with `outreach console user add NAME`",
            crate::console::LINK_USER
        );
    }
    // Messages kept aside while their account was not set up, if it has been added since.
    inbound.route_unrouted()?;
    tokio::select! {
        // With each peer's address: the console's login throttle counts failures per client.
        served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        ) => served.context("the webhook server stopped"),
        worked = engine.run_forever() => worked,
        routed = inbound.route_forever() => routed,
    }
}
