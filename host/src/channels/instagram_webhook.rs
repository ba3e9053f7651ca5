//! The HTTP endpoint for Meta's Instagram Messaging webhooks. This module owns Meta's
//! subscription handshake, the `X-Hub-Signature-256` check over the raw body, and turning
//! Meta's payload into [`InboundMessage`]s for an [`InboundSink`]. Deduplicating, storing
//! and processing the messages belong to the sink and whatever runs after it.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use sha2::{Digest, Sha256};

use super::signing;

const PATH: &str = "/webhooks/instagram";
const SIGNATURE_HEADER: &str = "x-hub-signature-256";

pub struct WebhookConfig {
    pub app_secret: String,
    pub verify_token: String,
    pub max_body_bytes: usize,
}

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

struct Webhook {
    config: WebhookConfig,
    sink: Arc<dyn InboundSink>,
}

pub fn router(config: WebhookConfig, sink: Arc<dyn InboundSink>) -> Router {
    let limit = config.max_body_bytes;
    Router::new()
        .route(PATH, get(handshake).post(receive))
        .layer(DefaultBodyLimit::max(limit))
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

async fn receive(
    State(hook): State<Arc<Webhook>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match accept(&hook, &headers, body).await {
        Ok(()) => (StatusCode::OK, "EVENT_RECEIVED").into_response(),
        Err(refusal) => {
            tracing::warn!(status = %refusal.0, "instagram webhook refused: {}", refusal.1);
            refusal.into_response()
        }
    }
}

async fn accept(
    hook: &Webhook,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), Refusal> {
    let claimed = claimed_digest(headers)?;
    let body = body.map_err(|rejection| body_refusal(&rejection, hook.config.max_body_bytes))?;
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

fn body_refusal(rejection: &BytesRejection, limit: usize) -> Refusal {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal(
            rejection.status(),
            format!("body exceeds the {limit}-byte limit"),
        )
    } else {
        Refusal(rejection.status(), rejection.body_text())
    }
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

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    time: Option<i64>,
    // Kept raw so one malformed item is skipped instead of refusing the whole batch.
    #[serde(default)]
    messaging: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Party {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
}

#[derive(Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// The messages leads sent, from a webhook body. Echoes of our own sends, deletions and
/// non-message events (reactions, postbacks, reads) are left out.
pub fn parse_payload(body: &[u8]) -> Result<Vec<InboundMessage>, String> {
    let payload: Payload =
        serde_json::from_slice(body).map_err(|e| format!("invalid webhook payload: {e}"))?;
    if payload.object != "instagram" {
        return Err(format!(
            "object is {:?}, expected \"instagram\"",
            payload.object
        ));
    }
    Ok(payload
        .entry
        .iter()
        .flat_map(|entry| {
            entry
                .messaging
                .iter()
                .filter_map(|item| inbound(entry, item))
        })
        .collect())
}

fn inbound(entry: &Entry, item: &serde_json::Value) -> Option<InboundMessage> {
    let item = match Messaging::deserialize(item) {
        Ok(item) => item,
        Err(e) => {
            // The serde error can quote field values, so it stays below info.
            tracing::warn!("instagram webhook: skipping a malformed messaging item");
            tracing::debug!("instagram webhook: malformed messaging item: {e}");
            return None;
        }
    };
    let message = item.message.filter(|m| !m.is_echo && !m.is_deleted)?;
    let account_id =
        non_empty(item.recipient.and_then(|p| p.id)).or_else(|| non_empty(entry.id.clone()));
    Some(InboundMessage {
        account_id: required(account_id, "recipient id")?,
        sender_id: required(non_empty(item.sender.and_then(|p| p.id)), "sender id")?,
        message_id: required(non_empty(message.mid), "mid")?,
        text: message_text(message.text, &message.attachments),
        sent_at: required(item.timestamp.or(entry.time), "timestamp")?,
    })
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// Passes `value` through, logging a skipped message when it is missing.
fn required<T>(value: Option<T>, field: &str) -> Option<T> {
    if value.is_none() {
        tracing::warn!("instagram webhook: skipping a message without {field}");
    }
    value
}

/// Messages without text still need some, so the conversation shows the lead replied.
fn message_text(text: Option<String>, attachments: &[Attachment]) -> String {
    match non_empty(text) {
        Some(text) => text,
        None if attachments.is_empty() => "[empty message]".to_owned(),
        None => {
            let kinds: Vec<&str> = attachments
                .iter()
                .map(|a| a.kind.as_deref().unwrap_or("unknown"))
                .collect();
            format!("[attachment: {}]", kinds.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt as _;
    use serde_json::{Value, json};
    use tower::ServiceExt as _;

    use super::*;

    const SECRET: &str = "test-app-secret";
    const TOKEN: &str = "test-verify-token";
    const LIMIT: usize = 4096;
    const ACCOUNT: &str = "17841400000000001";

    /// Dedupes on `message_id` like the real sink; can be told to fail.
    #[derive(Default)]
    struct TestSink {
        fail: bool,
        calls: Mutex<Vec<Vec<InboundMessage>>>,
        stored: Mutex<Vec<InboundMessage>>,
    }

    impl InboundSink for TestSink {
        fn receive(&self, messages: Vec<InboundMessage>) -> anyhow::Result<usize> {
            self.calls.lock().unwrap().push(messages.clone());
            anyhow::ensure!(!self.fail, "database is locked");
            let mut stored = self.stored.lock().unwrap();
            let before = stored.len();
            for message in messages {
                if !stored.iter().any(|s| s.message_id == message.message_id) {
                    stored.push(message);
                }
            }
            Ok(stored.len() - before)
        }
    }

    impl TestSink {
        fn calls(&self) -> Vec<Vec<InboundMessage>> {
            self.calls.lock().unwrap().clone()
        }

        fn stored(&self) -> Vec<InboundMessage> {
            self.stored.lock().unwrap().clone()
        }
    }

    fn app_with(sink: &Arc<TestSink>, app_secret: &str, verify_token: &str) -> Router {
        let config = WebhookConfig {
            app_secret: app_secret.into(),
            verify_token: verify_token.into(),
            max_body_bytes: LIMIT,
        };
        router(config, sink.clone())
    }

    fn app(sink: &Arc<TestSink>) -> Router {
        app_with(sink, SECRET, TOKEN)
    }

    async fn send(app: Router, request: Request<Body>) -> (StatusCode, String) {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(
            !body.contains(SECRET),
            "response leaks the app secret: {body}"
        );
        (status, body)
    }

    fn get_request(query: &str) -> Request<Body> {
        Request::get(format!("{PATH}?{query}"))
            .body(Body::empty())
            .unwrap()
    }

    fn post(body: impl Into<String>, signature: Option<&str>) -> Request<Body> {
        let mut request = Request::post(PATH).header(header::CONTENT_TYPE, "application/json");
        if let Some(signature) = signature {
            request = request.header("X-Hub-Signature-256", signature);
        }
        request.body(Body::from(body.into())).unwrap()
    }

    fn signed(body: &str) -> Request<Body> {
        post(
            body,
            Some(&signature_header(SECRET.as_bytes(), body.as_bytes())),
        )
    }

    fn payload(messaging: Value) -> String {
        json!({
            "object": "instagram",
            "entry": [{ "id": ACCOUNT, "time": 1569262486134i64, "messaging": messaging }]
        })
        .to_string()
    }

    fn item(sender: &str, message: Value) -> Value {
        json!({
            "sender": { "id": sender },
            "recipient": { "id": ACCOUNT },
            "timestamp": 1569262485349i64,
            "message": message
        })
    }

    fn hello() -> String {
        payload(json!([item(
            "IGSID-1",
            json!({ "mid": "m-1", "text": "hi" })
        )]))
    }

    fn expected_hello() -> InboundMessage {
        InboundMessage {
            account_id: ACCOUNT.into(),
            sender_id: "IGSID-1".into(),
            message_id: "m-1".into(),
            text: "hi".into(),
            sent_at: 1569262485349,
        }
    }

    #[tokio::test]
    async fn handshake_answers_the_challenge() {
        let sink = Arc::default();
        let query = format!("hub.mode=subscribe&hub.verify_token={TOKEN}&hub.challenge=1158201444");
        let (status, body) = send(app(&sink), get_request(&query)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "1158201444"));
    }

    #[tokio::test]
    async fn handshake_with_wrong_token_is_forbidden() {
        let sink = Arc::default();
        let query = "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444";
        let (status, body) = send(app(&sink), get_request(query)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::FORBIDDEN, "verify token mismatch")
        );
    }

    #[tokio::test]
    async fn handshake_with_wrong_mode_is_forbidden() {
        let sink = Arc::default();
        let query = format!("hub.mode=unsubscribe&hub.verify_token={TOKEN}&hub.challenge=1");
        let (status, body) = send(app(&sink), get_request(&query)).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::FORBIDDEN, "hub.mode must be subscribe")
        );
    }

    #[tokio::test]
    async fn handshake_is_refused_without_a_configured_token() {
        let sink = Arc::default();
        let query = "hub.mode=subscribe&hub.verify_token=&hub.challenge=1";
        let (status, _) = send(app_with(&sink, SECRET, ""), get_request(query)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn valid_signature_hands_the_parsed_messages_to_the_sink() {
        let sink = Arc::default();
        let (status, body) = send(app(&sink), signed(&hello())).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "EVENT_RECEIVED"));
        assert_eq!(sink.calls(), vec![vec![expected_hello()]]);
    }

    async fn assert_unauthorized(request: Request<Body>, reason: &str) {
        let sink: Arc<TestSink> = Arc::default();
        let (status, body) = send(app(&sink), request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            body.contains(reason),
            "{body:?} does not mention {reason:?}"
        );
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn forged_signature_is_refused() {
        let signature = signature_header(SECRET.as_bytes(), b"{\"object\":\"instagram\"}");
        assert_unauthorized(post(hello(), Some(&signature)), "signature mismatch").await;
        let other_key = signature_header(b"not-the-secret", hello().as_bytes());
        assert_unauthorized(post(hello(), Some(&other_key)), "signature mismatch").await;
    }

    #[tokio::test]
    async fn missing_signature_header_is_refused() {
        assert_unauthorized(post(hello(), None), "missing X-Hub-Signature-256").await;
    }

    #[tokio::test]
    async fn wrong_length_signature_is_refused() {
        let full = signature_header(SECRET.as_bytes(), hello().as_bytes());
        let short = &full[..full.len() - 2];
        assert_unauthorized(post(hello(), Some(short)), "expected a 32-byte digest").await;
    }

    #[tokio::test]
    async fn non_hex_signature_is_refused() {
        let signature = format!("sha256={}", "zz".repeat(32));
        assert_unauthorized(
            post(hello(), Some(&signature)),
            "malformed signature: not hex",
        )
        .await;
    }

    #[tokio::test]
    async fn signature_without_sha256_prefix_is_refused() {
        let full = signature_header(SECRET.as_bytes(), hello().as_bytes());
        let bare = full.strip_prefix("sha256=").unwrap();
        assert_unauthorized(post(hello(), Some(bare)), "malformed signature").await;
    }

    #[tokio::test]
    async fn body_over_the_limit_is_refused_with_413() {
        let sink = Arc::default();
        let text = "x".repeat(LIMIT);
        let body = payload(json!([item(
            "IGSID-1",
            json!({ "mid": "m-big", "text": text })
        )]));
        let (status, reason) = send(app(&sink), signed(&body)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reason, format!("body exceeds the {LIMIT}-byte limit"));
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn echoes_are_not_handed_to_the_sink() {
        let sink = Arc::default();
        let echo = json!({ "mid": "m-echo", "text": "our send", "is_echo": true });
        let body = payload(json!([item(ACCOUNT, echo)]));
        let (status, _) = send(app(&sink), signed(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(sink.calls().is_empty());
    }

    #[test]
    fn deletions_and_non_message_events_are_skipped() {
        let body = payload(json!([
            item("IGSID-1", json!({ "mid": "m-gone", "is_deleted": true })),
            { "sender": { "id": "IGSID-1" }, "recipient": { "id": ACCOUNT }, "timestamp": 1,
              "reaction": { "mid": "m-1", "action": "react", "emoji": "❤" } },
            { "sender": { "id": "IGSID-1" }, "recipient": { "id": ACCOUNT }, "timestamp": 1,
              "read": { "mid": "m-1" } },
            item("IGSID-1", json!({ "mid": "m-1", "text": "hi", "unknown_field": [1, 2] })),
        ]));
        assert_eq!(parse_payload(body.as_bytes()), Ok(vec![expected_hello()]));
    }

    #[test]
    fn items_missing_sender_or_mid_are_skipped() {
        let no_sender = json!({ "recipient": { "id": ACCOUNT }, "timestamp": 1,
                                "message": { "mid": "m-2", "text": "who" } });
        let body = payload(json!([
            no_sender,
            item("IGSID-1", json!({ "text": "no mid" })),
            item(
                "IGSID-1",
                json!({ "mid": 7, "text": "mid of the wrong type" })
            ),
            item("IGSID-1", json!({ "mid": "m-1", "text": "hi" })),
        ]));
        assert_eq!(parse_payload(body.as_bytes()), Ok(vec![expected_hello()]));
    }

    #[tokio::test]
    async fn attachment_only_message_gets_placeholder_text() {
        let sink = Arc::default();
        let attachments = json!([
            { "type": "image", "payload": { "url": "https://example.com/a.jpg" } },
            { "type": "video", "payload": { "url": "https://example.com/b.mp4" } }
        ]);
        let message = json!({ "mid": "m-3", "attachments": attachments });
        let (status, _) = send(
            app(&sink),
            signed(&payload(json!([item("IGSID-1", message)]))),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(sink.stored()[0].text, "[attachment: image, video]");
    }

    #[tokio::test]
    async fn other_object_is_a_bad_request() {
        let sink = Arc::default();
        let body = hello().replace("\"instagram\"", "\"page\"");
        let (status, reason) = send(app(&sink), signed(&body)).await;
        assert_eq!(
            (status, reason.as_str()),
            (
                StatusCode::BAD_REQUEST,
                "object is \"page\", expected \"instagram\""
            )
        );
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn signed_invalid_json_is_a_bad_request() {
        let sink = Arc::default();
        let (status, reason) = send(app(&sink), signed("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(reason.starts_with("invalid webhook payload"), "{reason}");
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn sink_error_is_a_server_error_so_meta_redelivers() {
        let sink = Arc::new(TestSink {
            fail: true,
            ..TestSink::default()
        });
        let (status, body) = send(app(&sink), signed(&hello())).await;
        assert_eq!(
            (status, body.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot store the messages"
            )
        );
        assert_eq!(sink.calls().len(), 1);
    }

    #[tokio::test]
    async fn unset_app_secret_refuses_even_correctly_signed_bodies() {
        let sink = Arc::default();
        let body = hello();
        let request = post(body.clone(), Some(&signature_header(b"", body.as_bytes())));
        let (status, reason) = send(app_with(&sink, "", TOKEN), request).await;
        assert_eq!(
            (status, reason.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "app secret is not configured"
            )
        );
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn redelivery_reaches_the_sink_which_stores_once() {
        let sink = Arc::default();
        let app = app(&sink);
        for _ in 0..2 {
            let (status, _) = send(app.clone(), signed(&hello())).await;
            assert_eq!(status, StatusCode::OK);
        }
        assert_eq!(sink.calls().len(), 2);
        assert_eq!(sink.stored(), vec![expected_hello()]);
    }

    #[test]
    fn signature_header_is_hmac_sha256_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature_header(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
