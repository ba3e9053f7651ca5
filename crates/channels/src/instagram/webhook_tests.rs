//! The webhook as Meta and an attacker would use it: handshake, signatures, limits, payloads.

use std::sync::Mutex;
use std::time::Duration;

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
        echo: false,
        origin: None,
        comment: None,
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
async fn echoes_are_handed_on_as_the_accounts_own_messages_to_the_lead() {
    let sink = Arc::default();
    // An echo goes from the account to the lead.
    let echo = json!({
        "sender": { "id": ACCOUNT }, "recipient": { "id": "IGSID-1" },
        "timestamp": 1569262485349i64,
        "message": { "mid": "m-echo", "text": "typed in the app", "is_echo": true }
    });
    let body = payload(json!([echo]));
    let (status, _) = send(app(&sink), signed(&body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sink.calls(),
        vec![vec![InboundMessage {
            account_id: ACCOUNT.into(),
            sender_id: "IGSID-1".into(),
            echo: true,
            origin: None,
            comment: None,
            message_id: "m-echo".into(),
            text: "typed in the app".into(),
            sent_at: 1569262485349,
        }]]
    );
}

#[test]
fn story_mentions_replies_and_quick_replies_keep_their_kind_and_never_the_media_url() {
    use crate::store::events::{Origin, OriginKind};
    let body = payload(json!([
        item(
            "IGSID-1",
            json!({ "mid": "m-mention", "attachments": [
                { "type": "story_mention", "payload": { "url": "https://lookaside.example/story.jpg" } }
            ]})
        ),
        item(
            "IGSID-2",
            json!({ "mid": "m-reply", "text": "love this!",
            "reply_to": { "story": { "url": "https://lookaside.example/s2.mp4", "id": "1799" } } })
        ),
        item(
            "IGSID-3",
            json!({ "mid": "m-bare", "reply_to": { "story": { "id": "1800" } } })
        ),
        // A reply to a message, not a story: an ordinary message.
        item(
            "IGSID-4",
            json!({ "mid": "m-quote", "text": "yes", "reply_to": { "mid": "m-0" } })
        ),
        // A tapped quick reply: its title as the text, our payload as the reference.
        item(
            "IGSID-5",
            json!({ "mid": "m-tap", "text": "Yes please", "quick_reply": { "payload": "yes-please" } })
        ),
    ]));
    let parsed = parse_payload(body.as_bytes()).unwrap();
    let seen: Vec<(&str, &str, Option<Origin>)> = parsed
        .iter()
        .map(|m| (m.sender_id.as_str(), m.text.as_str(), m.origin.clone()))
        .collect();
    let story = |kind, reference: Option<&str>| {
        Some(Origin {
            kind,
            reference: reference.map(str::to_owned),
        })
    };
    assert_eq!(
        seen,
        [
            (
                "IGSID-1",
                "[mentioned you in their story]",
                story(OriginKind::StoryMention, None)
            ),
            (
                "IGSID-2",
                "love this!",
                story(OriginKind::StoryReply, Some("1799"))
            ),
            (
                "IGSID-3",
                "[replied to your story]",
                story(OriginKind::StoryReply, Some("1800"))
            ),
            ("IGSID-4", "yes", None),
            (
                "IGSID-5",
                "Yes please",
                story(OriginKind::QuickReply, Some("yes-please"))
            ),
        ]
    );
    assert!(!format!("{parsed:?}").contains("lookaside"), "{parsed:?}");
}

/// A `comments` or `live_comments` change as Meta sends it (entry time in seconds).
fn comment_change(field: &str, id: &str, from: &str, text: Value) -> Value {
    json!({ "field": field, "value": {
        "from": { "id": from, "username": "ann.b" },
        "media": { "id": "MEDIA-1", "media_product_type": "FEED" },
        "id": id, "text": text
    }})
}

#[test]
fn comments_arrive_as_messages_of_their_kind_from_the_commenter() {
    use crate::store::events::{Origin, OriginKind};
    let body = json!({
        "object": "instagram",
        "entry": [{ "id": ACCOUNT, "time": 1569262486i64, "changes": [
            comment_change("comments", "C-1", "IGSID-1", json!("price?")),
            comment_change("live_comments", "C-2", "IGSID-2", json!("hello from the live")),
            // A reply under another comment: in that comment's thread.
            json!({ "field": "comments", "value": {
                "from": { "id": "IGSID-7" }, "media": { "id": "MEDIA-1" },
                "id": "C-7", "parent_id": "C-1", "text": "me too"
            }}),
            // The account's own answer under a comment: not a lead's.
            comment_change("comments", "C-3", ACCOUNT, json!("DM sent!")),
            // Wrong shapes and other fields skip only themselves.
            comment_change("comments", "C-4", "IGSID-4", json!({ "not": "text" })),
            json!({ "field": "comments", "value": { "id": "C-5", "text": "no one wrote this" } }),
            json!({ "field": "mentions", "value": { "media_id": "M", "comment_id": "C-6" } }),
            json!("not a change"),
        ]}]
    })
    .to_string();
    let parsed = parse_payload(body.as_bytes()).unwrap();
    let comment = |sender: &str, id: &str, kind, text: &str| InboundMessage {
        account_id: ACCOUNT.into(),
        sender_id: sender.into(),
        echo: false,
        origin: Some(Origin {
            kind,
            reference: Some("MEDIA-1".into()),
        }),
        comment: Some(crate::store::events::CommentIds {
            id: id.into(),
            thread: None,
        }),
        message_id: id.into(),
        text: text.into(),
        // Seconds made milliseconds.
        sent_at: 1569262486000,
    };
    assert_eq!(
        parsed,
        [
            comment("IGSID-1", "C-1", OriginKind::Comment, "price?"),
            comment(
                "IGSID-2",
                "C-2",
                OriginKind::LiveComment,
                "hello from the live"
            ),
            InboundMessage {
                comment: Some(crate::store::events::CommentIds {
                    id: "C-7".into(),
                    thread: Some("C-1".into()),
                }),
                ..comment("IGSID-7", "C-7", OriginKind::Comment, "me too")
            },
        ]
    );
}

#[test]
fn a_story_reference_of_the_wrong_shape_skips_only_its_item() {
    let body = payload(json!([
        item(
            "IGSID-1",
            json!({ "mid": "m-odd", "text": "hm", "reply_to": { "story": "1799" } })
        ),
        item("IGSID-1", json!({ "mid": "m-1", "text": "hi" })),
    ]));
    assert_eq!(parse_payload(body.as_bytes()), Ok(vec![expected_hello()]));
}

#[test]
fn an_ice_breaker_tap_arrives_as_its_question_once() {
    let tap = |mid: Option<&str>| {
        let mut postback = json!({ "title": "What do you sell?", "payload": "ice-breaker-1" });
        if let Some(mid) = mid {
            postback["mid"] = json!(mid);
        }
        json!({ "sender": { "id": "IGSID-1" }, "recipient": { "id": ACCOUNT },
                "timestamp": 1569262485349i64, "postback": postback })
    };
    let body = payload(json!([tap(Some("m-tap")), tap(None)]));
    let parsed = parse_payload(body.as_bytes()).unwrap();
    let seen: Vec<(&str, &str)> = parsed
        .iter()
        .map(|m| (m.message_id.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("m-tap", "What do you sell?"),
            // Without a mid (older API versions): known by who tapped what when, so a
            // redelivery is the same message.
            (
                "postback:IGSID-1:1569262485349:ice-breaker-1",
                "What do you sell?"
            ),
        ]
    );
    assert!(parsed.iter().all(|m| !m.echo && m.sender_id == "IGSID-1"));
    // Which ice breaker, for the plugins: the question's text alone could be any.
    let tapped = crate::store::events::Origin {
        kind: crate::store::events::OriginKind::Postback,
        reference: Some("ice-breaker-1".into()),
    };
    assert!(parsed.iter().all(|m| m.origin.as_ref() == Some(&tapped)));
}

#[test]
fn ice_breakers_are_checked_before_asking_meta() {
    use super::super::check_ice_breakers;
    let questions = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
    assert_eq!(
        check_ice_breakers(&questions(&["What do you sell?", "Hours?"])),
        Ok(())
    );
    assert_eq!(
        check_ice_breakers(&questions(&["a", "b", "c", "d", "e"])),
        Err("5 questions; Instagram shows at most 4".into())
    );
    assert_eq!(
        check_ice_breakers(&questions(&["ok", " "])),
        Err("question 2 is empty".into())
    );
    assert!(
        check_ice_breakers(&questions(&[&"x".repeat(81)]))
            .unwrap_err()
            .contains("81 characters")
    );
}

/// `body` as Meta may deliver it again: every entry stamped a second later.
fn redelivered(body: &[u8]) -> Option<Vec<u8>> {
    let mut payload: Value = serde_json::from_slice(body).ok()?;
    for entry in payload.get_mut("entry")?.as_array_mut()? {
        if let Some(time) = entry.get("time").and_then(Value::as_i64) {
            entry["time"] = json!(time + 1_000);
        }
    }
    serde_json::to_vec(&payload).ok()
}

/// The fuzz target's property (fuzz/fuzz_targets/instagram_webhook.rs) on a fixed set of
/// mutations of the corpus, so every test run checks it: never a panic, a redelivery
/// batched at another time reads the same messages by the same ids, every message read
/// names its account, lead and id.
#[test]
fn mutated_deliveries_never_panic_and_a_redelivery_reads_the_same() {
    // The hand-written seeds (`*.json`; what the fuzzer kept has hash names), in name
    // order: the same mutations every run.
    let mut seeds: Vec<_> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/instagram_webhook"
    ))
    .expect("the fuzz corpus")
    .map(|file| file.unwrap().path())
    .filter(|path| path.extension().is_some_and(|e| e == "json"))
    .collect();
    seeds.sort();
    let corpus = seeds
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect::<Vec<_>>();
    assert!(corpus.len() >= 4, "the corpus's seeds");
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut random = move |below: usize| {
        // xorshift64: the same mutations every run.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % below as u64) as usize
    };
    let interesting: &[&[u8]] = &[
        b"\"",
        b"{",
        b"}",
        b"[]",
        b"null",
        b"true",
        b"-1",
        b"1e999",
        b"\"\"",
        b"\\u0000",
        b"\"is_echo\":true,",
        b"\"message\":{}",
        "\u{202e}".as_bytes(),
    ];
    let mut read = 0;
    for round in 0..20_000 {
        let mut body = corpus[round % corpus.len()].clone();
        for _ in 0..=random(4) {
            let at = random(body.len() + 1);
            match random(3) {
                0 if at < body.len() => body[at] = random(256) as u8,
                1 if at < body.len() => {
                    body.drain(at..(at + random(8)).min(body.len()));
                }
                _ => {
                    let insert = interesting[random(interesting.len())];
                    body.splice(at..at, insert.iter().copied());
                }
            }
        }
        let first = parse_payload(&body);
        // Meta batches a redelivery differently: each entry at another time. The same
        // messages, by the same ids, so each is stored once.
        if let (Ok(messages), Some(again)) = (&first, redelivered(&body)) {
            let ids = |messages: &[InboundMessage]| {
                messages
                    .iter()
                    .map(|m| m.message_id.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(messages), ids(&parse_payload(&again).unwrap()));
        }
        if let Ok(messages) = first {
            read += messages.len();
            for m in &messages {
                assert!(!m.account_id.is_empty() && !m.sender_id.is_empty(), "{m:?}");
                assert!(!m.message_id.is_empty() && !m.text.is_empty(), "{m:?}");
            }
        }
    }
    assert!(read > 1_000, "mutations that still parse: {read}");
}

#[test]
fn an_echo_without_its_recipient_is_skipped() {
    let echo = json!({
        "sender": { "id": ACCOUNT }, "timestamp": 1,
        "message": { "mid": "m-echo", "text": "to whom?", "is_echo": true }
    });
    let body = payload(json!([echo]));
    assert_eq!(parse_payload(body.as_bytes()), Ok(vec![]));
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
