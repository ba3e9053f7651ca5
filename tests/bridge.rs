//! The bridge channel: outbox messages POSTed, signed, to a sender the user runs, and
//! inbound messages accepted from it, signed, on `/webhooks/bridge/<account>`.

mod support;

use outreach::channels::signing;
use serde_json::{Value, json};
use support::{Sandbox, deliver_to_bridge as deliver, eventually, hostile_wasm, serve};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "bridge-shared-secret";

#[tokio::test(flavor = "multi_thread")]
async fn messages_go_out_signed_and_come_in_verified_through_the_bridge() {
    let bridge = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/outbox"))
        .and(header("idempotency-key", "outbox-1"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&bridge)
        .await;
    let mut sandbox = Sandbox::new(
        "[engine]\npoll_ms = 20\n\n[instagram]\napp_secret = \"unused\"\nverify_token = \"unused\"\n",
    );
    sandbox.env.push((
        "OUTREACH_SECRET_KEY".into(),
        "a long test key for sealing secrets".into(),
    ));
    sandbox
        .env
        .push(("OUTREACH_BRIDGE_SECRET".into(), SECRET.into()));
    let url = format!("{}/outbox", bridge.uri());
    sandbox.ok(&[
        "account",
        "add",
        "wa",
        "--channel",
        "bridge",
        "--bridge-url",
        &url,
    ]);
    sandbox.install_unsigned(&hostile_wasm());
    let served = serve(&sandbox);

    let hello = json!({"id": "wamid.1", "handle": "nora", "text": "hello"});
    assert_eq!(deliver(served.base(), "wa", &hello, "forged").await, 401);
    assert_eq!(
        deliver(served.base(), "nobody", &hello, SECRET).await,
        401,
        "account names are not revealed"
    );
    let bad_handle = json!({"id": "wamid.0", "handle": "no spaces allowed", "text": "hi"});
    assert_eq!(deliver(served.base(), "wa", &bad_handle, SECRET).await, 400);
    assert_eq!(deliver(served.base(), "wa", &hello, SECRET).await, 200);
    assert_eq!(
        deliver(served.base(), "wa", &hello, SECRET).await,
        200,
        "a redelivery is accepted…"
    );
    eventually("the reply to go out", || {
        sandbox.conversation("nora").len() == 2
    });
    assert_eq!(
        sandbox.json(&["events"]).as_array().unwrap().len(),
        1,
        "…and stored once"
    );

    let requests = bridge.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    let signature = sent
        .headers
        .get("x-outreach-signature")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        signature,
        signing::sign(SECRET.as_bytes(), &sent.body),
        "signed with the shared secret"
    );
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(body["text"], "echo: hello");
    assert_eq!(body["to"]["handle"], "nora");
    assert!(
        body.get("quick_replies").is_none(),
        "a plain text is as before quick replies: {body}"
    );
    assert_eq!(sandbox.lead("nora")["lead"]["account_id"], 2);
    let listing = serde_json::to_string(&sandbox.json(&["account", "list"])).unwrap();
    assert!(!listing.contains(SECRET), "the secret is never shown");

    // A reply with quick replies: the bridge gets them beside the text.
    Mock::given(method("POST"))
        .and(path("/outbox"))
        .and(header("idempotency-key", "outbox-2"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&bridge)
        .await;
    let ask = json!({"id": "wamid.2", "handle": "nora", "text": "buttons"});
    assert_eq!(deliver(served.base(), "wa", &ask, SECRET).await, 200);
    eventually("the question to go out", || {
        sandbox.conversation("nora").len() == 4
    });
    let requests = bridge.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        body["quick_replies"],
        json!([{"title": "Yes please", "payload": "yes-please"}, {"title": "No", "payload": "no"}])
    );
}
