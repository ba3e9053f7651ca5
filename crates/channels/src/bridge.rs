//! The bridge channel: for senders outreach does not implement, the host POSTs each outbox
//! message as JSON to a URL the user runs, and accepts inbound messages from it on
//! `/webhooks/bridge/<account>`. Both directions are signed with the account's shared
//! secret (`X-Outreach-Signature: sha256=<hex HMAC of the body>`), and every outbound
//! message carries an `Idempotency-Key`, so a retry after an unknown outcome cannot become
//! a second message at a bridge that honours it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::{Delivery, SendError, signing};
use crate::domain::lead::Lead;
use crate::http_body::read_body;
use crate::store::outbox::Message;

pub const SIGNATURE_HEADER: &str = "X-Outreach-Signature";

pub struct BridgeClient {
    http: reqwest::Client,
    url: String,
    secret: Vec<u8>,
}

impl BridgeClient {
    pub fn new(url: &str, secret: Vec<u8>, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder().timeout(timeout).build()?,
            url: url.to_owned(),
            secret,
        })
    }

    /// POSTs one message. Sending it again after an unknown outcome reuses its
    /// Idempotency-Key, so a bridge that honours the key delivers it once.
    pub async fn send(
        &self,
        outbox_id: i64,
        lead: &Lead,
        message: Message<'_>,
    ) -> Result<Delivery, SendError> {
        let mut body = json!({
            "id": format!("outbox-{outbox_id}"),
            "to": { "handle": lead.handle, "channel_user_id": lead.channel_user_id },
            "text": message.text,
        });
        // Only when there are some: a bridge written before quick replies sees what it knew.
        if !message.quick_replies.is_empty() {
            body["quick_replies"] = json!(message.quick_replies);
        }
        let body = serde_json::to_vec(&body).expect("a JSON value serializes");
        let response = self
            .http
            .post(&self.url)
            .header(SIGNATURE_HEADER, signing::sign(&self.secret, &body))
            .header("Idempotency-Key", format!("outbox-{outbox_id}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    SendError::Transient("cannot connect to the bridge".into())
                } else {
                    SendError::Unknown("no answer from the bridge".into())
                }
            })?;
        match response.status().as_u16() {
            200..=299 => Ok(Delivery::default()),
            429 => Err(SendError::RateLimited(
                "the bridge asks to slow down".into(),
            )),
            401 | 403 => Err(SendError::Credentials(format!(
                "the bridge refused our signature ({})",
                response.status()
            ))),
            status if status >= 500 => Err(SendError::Transient(format!(
                "the bridge answered {status}"
            ))),
            status => {
                let reason: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                Err(SendError::Permanent(format!(
                    "the bridge refused the message ({status}): {reason}"
                )))
            }
        }
    }
}

/// A message the bridge received for us.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeMessage {
    /// The bridge's id for the message: redelivering it stores nothing new.
    pub id: String,
    pub handle: String,
    pub text: String,
    /// When the lead sent it, Unix milliseconds [default: when it arrives].
    #[serde(default)]
    pub sent_at: Option<i64>,
}

/// What the bridge endpoint needs from the host.
pub trait BridgeInbox: Send + Sync + 'static {
    /// The shared secret of the bridge account called `account`, if there is one.
    fn secret(&self, account: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Stores one message; false when it was stored before.
    fn receive(&self, account: &str, message: BridgeMessage) -> anyhow::Result<bool>;
}

pub fn router(inbox: Arc<dyn BridgeInbox>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/webhooks/bridge/{account}",
            // The limit is enforced by `read_body`, which answers 413 without resetting
            // the connection under a client still sending (axum's `DefaultBodyLimit` does).
            post(
                move |inbox: State<Arc<dyn BridgeInbox>>,
                      account: Path<String>,
                      headers: HeaderMap,
                      body: Body| {
                    receive(inbox, account, headers, body, max_body_bytes)
                },
            ),
        )
        .with_state(inbox)
}

async fn receive(
    State(inbox): State<Arc<dyn BridgeInbox>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
    max_body_bytes: usize,
) -> (StatusCode, String) {
    let body = match read_body(&headers, body, max_body_bytes).await {
        Ok(body) => body,
        Err(refusal) => {
            tracing::warn!(status = %refusal.0, "bridge delivery refused: {}", refusal.1);
            return refusal;
        }
    };
    let result =
        tokio::task::spawn_blocking(move || accept(&*inbox, &account, &headers, &body)).await;
    match result {
        Ok(Ok(stored)) => (StatusCode::OK, json!({ "stored": stored }).to_string()),
        Ok(Err(refusal)) => {
            tracing::warn!(status = %refusal.0, "bridge delivery refused: {}", refusal.1);
            refusal
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the host failed to store the message".into(),
        ),
    }
}

fn accept(
    inbox: &dyn BridgeInbox,
    account: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<bool, (StatusCode, String)> {
    // Callers are not authenticated yet: they learn neither which accounts exist nor what
    // went wrong inside the host.
    let refused = || {
        (
            StatusCode::UNAUTHORIZED,
            "signature mismatch or unknown account".to_string(),
        )
    };
    let internal = |e: anyhow::Error| {
        tracing::error!("bridge delivery for {account}: {e:#}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the host could not store the message".to_string(),
        )
    };
    let secret = inbox
        .secret(account)
        .map_err(internal)?
        .ok_or_else(refused)?;
    let value = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    let claimed = signing::claimed_digest(value, SIGNATURE_HEADER)
        .map_err(|reason| (StatusCode::UNAUTHORIZED, reason))?;
    if !signing::verify(&secret, body, &claimed) {
        return Err(refused());
    }
    // Redelivering would not fix a message that does not read: refused for good.
    let message = read_message(body).map_err(|reason| (StatusCode::BAD_REQUEST, reason))?;
    inbox.receive(account, message).map_err(internal)
}

/// The message in a bridge delivery's (signed) body, or why it is not one.
pub fn read_message(body: &[u8]) -> Result<BridgeMessage, String> {
    let message: BridgeMessage =
        serde_json::from_slice(body).map_err(|e| format!("not a bridge message: {e}"))?;
    if let Err(reason) = crate::domain::handle::normalize_handle(&message.handle) {
        return Err(format!("message {}: invalid handle: {reason}", message.id));
    }
    Ok(message)
}
