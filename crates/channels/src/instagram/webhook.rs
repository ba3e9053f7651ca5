//! The HTTP endpoint for Meta's Instagram Messaging webhooks. This module owns Meta's
//! subscription handshake and the `X-Hub-Signature-256` check over the raw body; the payload
//! is read in [`super::payload`] into [`InboundMessage`]s for an [`InboundSink`]. Deduplicating, storing
//! and processing the messages belong to the sink and whatever runs after it.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::payload::parse_payload;
use crate::http_body::read_body;
pub use crate::inbound::{InboundMessage, InboundSink};
use crate::signing;

const PATH: &str = "/webhooks/instagram";
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

pub struct WebhookConfig {
    pub app_secret: String,
    pub verify_token: String,
    pub max_body_bytes: usize,
}

struct Webhook {
    config: WebhookConfig,
    sink: Arc<dyn InboundSink>,
}

pub fn router(config: WebhookConfig, sink: Arc<dyn InboundSink>) -> Router {
    // The body limit is enforced by `read_body`, not axum's `DefaultBodyLimit`.
    Router::new()
        .route(PATH, get(handshake).post(receive))
        .with_state(Arc::new(Webhook { config, sink }))
}

/// The `X-Hub-Signature-256` value Meta sends for `body`: `sha256=<hex>`.
pub fn signature_header(app_secret: &[u8], body: &[u8]) -> String {
    signing::sign(app_secret, body)
}

/// A refused request: the status and a plain-text reason for the body.
struct Refusal(StatusCode, String);

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Self {
        Self(status, reason.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

#[derive(Deserialize)]
struct HandshakeQuery {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn handshake(
    State(hook): State<Arc<Webhook>>,
    Query(query): Query<HandshakeQuery>,
) -> Result<Response, Refusal> {
    let challenge = check_handshake(&hook.config.verify_token, query)
        .inspect_err(|r| tracing::warn!("instagram webhook handshake refused: {}", r.1))?;
    tracing::info!("instagram webhook subscription verified");
    // The challenge is attacker-chosen text echoed back: keep browsers from sniffing it as HTML.
    Ok(([(header::X_CONTENT_TYPE_OPTIONS, "nosniff")], challenge).into_response())
}

fn check_handshake(expected_token: &str, query: HandshakeQuery) -> Result<String, Refusal> {
    if query.mode.as_deref() != Some("subscribe") {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "hub.mode must be subscribe",
        ));
    }
    // An unset token would let anyone subscribe by sending an empty one.
    if expected_token.is_empty() {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "verify token is not configured",
        ));
    }
    let given = query.verify_token.unwrap_or_default();
    if !constant_time_eq(expected_token.as_bytes(), given.as_bytes()) {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "verify token mismatch"));
    }
    query
        .challenge
        .ok_or_else(|| Refusal::new(StatusCode::BAD_REQUEST, "missing hub.challenge"))
}

/// Compares SHA-256 digests so that neither the content nor the length of the token
/// shows in the timing; the XOR fold has no early exit.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |diff, (x, y)| diff | (x ^ y))
        == 0
}

async fn receive(State(hook): State<Arc<Webhook>>, headers: HeaderMap, body: Body) -> Response {
    match accept(&hook, &headers, body).await {
        Ok(()) => (StatusCode::OK, "EVENT_RECEIVED").into_response(),
        Err(refusal) => {
            tracing::warn!(status = %refusal.0, "instagram webhook refused: {}", refusal.1);
            refusal.into_response()
        }
    }
}

async fn accept(hook: &Webhook, headers: &HeaderMap, body: Body) -> Result<(), Refusal> {
    // The body first, whatever else is wrong: an answer given while the client is still
    // sending is lost to it when the connection closes under it.
    let body = read_body(headers, body, hook.config.max_body_bytes)
        .await
        .map_err(|(status, reason)| Refusal(status, reason))?;
    let claimed = claimed_digest(headers)?;
    verify_signature(&hook.config.app_secret, &body, &claimed)?;
    let messages = parse_payload(&body).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
    store(Arc::clone(&hook.sink), messages).await
}

/// The digest Meta claims for the body, decoded from `sha256=<64 hex digits>`.
fn claimed_digest(headers: &HeaderMap) -> Result<Vec<u8>, Refusal> {
    let value = headers
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default());
    signing::claimed_digest(value, "X-Hub-Signature-256")
        .map_err(|reason| Refusal(StatusCode::UNAUTHORIZED, reason))
}

fn verify_signature(app_secret: &str, body: &[u8], claimed: &[u8]) -> Result<(), Refusal> {
    // Anybody can sign with an empty key. A server-side fault, so Meta keeps redelivering
    // until the secret is configured.
    if app_secret.is_empty() {
        return Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "app secret is not configured",
        ));
    }
    if signing::verify(app_secret.as_bytes(), body, claimed) {
        Ok(())
    } else {
        Err(Refusal::new(StatusCode::UNAUTHORIZED, "signature mismatch"))
    }
}

/// Hands the messages to the sink; an error makes Meta redeliver the whole batch.
async fn store(sink: Arc<dyn InboundSink>, messages: Vec<InboundMessage>) -> Result<(), Refusal> {
    // Deliveries of only echoes, reads or reactions have nothing to write.
    if messages.is_empty() {
        return Ok(());
    }
    let received = messages.len();
    // The sink writes to storage synchronously; keep that off the async workers.
    let stored = match tokio::task::spawn_blocking(move || sink.receive(messages)).await {
        Ok(result) => result,
        Err(join_error) => Err(anyhow::anyhow!("sink panicked: {join_error}")),
    };
    match stored {
        Ok(new) => {
            tracing::info!("instagram webhook: {new} new of {received} messages");
            Ok(())
        }
        Err(e) => {
            tracing::error!("instagram webhook: cannot store {received} messages: {e:#}");
            Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot store the messages",
            ))
        }
    }
}

#[cfg(test)]
#[path = "webhook_tests.rs"]
mod tests;
