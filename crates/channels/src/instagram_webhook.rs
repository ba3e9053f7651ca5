//! The HTTP endpoint for Meta's Instagram Messaging webhooks. This module owns Meta's
//! subscription handshake, the `X-Hub-Signature-256` check over the raw body, and turning
//! Meta's payload into [`InboundMessage`]s for an [`InboundSink`]. Deduplicating, storing
//! and processing the messages belong to the sink and whatever runs after it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::{Query, State};
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

/// How much of a refused body is still read (and thrown away) behind the 413, and for how
/// long, so that a client still sending it gets to read the answer.
const DRAIN_MAX_BYTES: u64 = 64 << 20;
const DRAIN_MAX_TIME: Duration = Duration::from_secs(30);

/// Reads a request body of at most `limit` bytes; a larger one is refused with 413.
///
/// A body that declares a larger Content-Length is refused before any of it is read; a
/// chunked one once more than `limit` bytes have come. Either way the answer goes out at
/// once and the rest of the body is read and thrown away behind it (up to
/// [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`]). Dropping the body instead, as axum's
/// `DefaultBodyLimit` does, makes hyper read only what has already arrived and then close
/// the connection with the client still sending: the client gets a connection reset
/// instead of the answer. A client that sent `Expect: 100-continue` is answered without
/// being asked for the body at all.
pub(super) async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, (StatusCode, String)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let waits_for_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !waits_for_continue && declared.is_some_and(|length| length <= DRAIN_MAX_BYTES) {
            drain_behind_answer(body);
        }
        return Err(too_large());
    }
    let mut read = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    while let Some(data) = next_data(&mut body).await {
        let data = data.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        })?;
        if read.len() + data.len() > limit {
            drain_behind_answer(body);
            return Err(too_large());
        }
        read.extend_from_slice(&data);
    }
    Ok(Bytes::from(read))
}

/// The next piece of `body` (trailers are skipped), or `None` at its end.
async fn next_data(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let frame =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Reads the rest of a refused body in the background, throwing it away, so the client can
/// finish sending it and read the answer; the connection closes if it goes on for too long.
fn drain_behind_answer(mut body: Body) {
    tokio::spawn(async move {
        let drain = async {
            let mut drained = 0u64;
            while let Some(Ok(data)) = next_data(&mut body).await {
                drained += data.len() as u64;
                if drained > DRAIN_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain).await;
    });
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

    /// Serves `app` on a loopback port, like `outreach serve` does.
    async fn listen(app: Router) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    }

    /// Sends a POST with `headers` and then `body` in small pieces over a real connection,
    /// as a client on a network does (a body sent in one go lands in the server's buffers
    /// at once), reads the answer only once all is sent, and returns the answer's status
    /// line, or the error that came instead (a reset shows as one while sending).
    async fn post_slowly(
        address: std::net::SocketAddr,
        headers: &str,
        body: &[u8],
        chunked: bool,
    ) -> std::io::Result<String> {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let framing = if chunked {
            "Transfer-Encoding: chunked".to_owned()
        } else {
            format!("Content-Length: {}", body.len())
        };
        let head = format!("POST {PATH} HTTP/1.1\r\nHost: localhost\r\n{headers}{framing}\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        for piece in body.chunks(1024) {
            if chunked {
                let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
                stream.write_all(&chunk).await?;
            } else {
                stream.write_all(piece).await?;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if chunked {
            stream.write_all(b"0\r\n\r\n").await?;
        }
        read_status_line(&mut stream).await
    }

    async fn read_status_line(stream: &mut tokio::net::TcpStream) -> std::io::Result<String> {
        use tokio::io::AsyncReadExt as _;
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer).into_owned();
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    }

    fn signed_header(body: &[u8]) -> String {
        format!(
            "X-Hub-Signature-256: {}\r\n",
            signature_header(SECRET.as_bytes(), body)
        )
    }

    async fn assert_413_over_tcp(chunked: bool) {
        let sink: Arc<TestSink> = Arc::default();
        let address = listen(app(&sink)).await;
        let body = vec![b'x'; 2 * LIMIT];
        for _ in 0..5 {
            let answer = tokio::time::timeout(
                Duration::from_secs(20),
                post_slowly(address, &signed_header(&body), &body, chunked),
            )
            .await
            .expect("an answer in time");
            let status = answer.expect("an HTTP answer, not a connection reset");
            assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
        }
        assert!(sink.calls().is_empty());
    }

    #[tokio::test]
    async fn oversized_body_with_content_length_gets_413_over_tcp_not_a_reset() {
        assert_413_over_tcp(false).await;
    }

    #[tokio::test]
    async fn oversized_chunked_body_gets_413_over_tcp_not_a_reset() {
        assert_413_over_tcp(true).await;
    }

    #[tokio::test]
    async fn oversized_body_awaiting_100_continue_is_refused_before_it_is_sent() {
        use tokio::io::AsyncWriteExt as _;
        let sink: Arc<TestSink> = Arc::default();
        let address = listen(app(&sink)).await;
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST {PATH} HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            2 * LIMIT
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), read_status_line(&mut stream))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    }

    #[tokio::test]
    async fn a_body_within_the_limit_still_arrives_over_tcp() {
        let sink: Arc<TestSink> = Arc::default();
        let address = listen(app(&sink)).await;
        let body = hello();
        for chunked in [false, true] {
            let status = post_slowly(
                address,
                &signed_header(body.as_bytes()),
                body.as_bytes(),
                chunked,
            )
            .await
            .unwrap();
            assert_eq!(status, "HTTP/1.1 200 OK");
        }
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
