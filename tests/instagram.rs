//! The Instagram channel end to end: `outreach serve` takes Meta's webhooks, the engine runs
//! the plugins, and the outbox sends through a local server speaking the Graph API's wire
//! format (paths, bearer token, JSON bodies, Meta's error bodies).

mod support;

use std::time::Duration;

use outreach::channels::instagram::webhook::signature_header;
use serde_json::{Value, json};
use support::{Sandbox, Served, eventually, hostile_wasm, serve};
use wiremock::matchers::{body_partial_json, header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const APP_SECRET: &str = "test-app-secret";
const VERIFY_TOKEN: &str = "test-verify-token";
const TOKEN: &str = "IGQVJtest-access-token";
const IG_ACCOUNT: &str = "17841400000000001";
const NOW: &str = "2026-11-26T10:00:00Z";
const NOW_MS: i64 = 1_795_687_200_000;

fn sandbox(extra_config: &str) -> Sandbox {
    let mut sandbox = support::instagram_sandbox(APP_SECRET, VERIFY_TOKEN, TOKEN, extra_config);
    sandbox.at(NOW);
    sandbox
}

/// Adds the Instagram account `shop`, pointed at the fake Graph API, with `extra` options.
fn add_account_with(sandbox: &Sandbox, graph: &MockServer, extra: &[&str]) {
    let base = graph.uri();
    let mut args = vec![
        "account",
        "add",
        "shop",
        "--channel",
        "instagram",
        "--ig-user-id",
        IG_ACCOUNT,
        "--base-url",
        &base,
    ];
    args.extend_from_slice(extra);
    sandbox.ok(&args);
}

fn add_account(sandbox: &Sandbox, graph: &MockServer) {
    add_account_with(sandbox, graph, &[]);
}

fn message(sender: &str, mid: &str, text: &str, at: i64) -> Value {
    json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": at, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": IG_ACCOUNT}, "timestamp": at,
        "message": {"mid": mid, "text": text}
    }]}]})
}

async fn post(served: &Served, body: &Value, signature: Option<String>) -> u16 {
    let body = serde_json::to_vec(body).unwrap();
    let signature = signature.unwrap_or_else(|| signature_header(APP_SECRET.as_bytes(), &body));
    reqwest::Client::new()
        .post(&served.url)
        .header("X-Hub-Signature-256", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn sent_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"recipient_id": "5501", "message_id": "aWdfZAG1faW"}))
}

/// A Conversations API answer listing these texts in the lead's conversation.
fn listing(texts: &[&str]) -> ResponseTemplate {
    let messages: Vec<Value> = texts
        .iter()
        .map(|t| json!({"id": "m", "message": t, "created_time": "2026-11-26T10:00:00+0000"}))
        .collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({"data": [{"id": "conv_1", "messages": {"data": messages}}]}))
}

fn meta_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "message": message, "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "AbC"
    }}))
}

async fn sends(graph: &MockServer) -> Vec<Value> {
    let requests = graph.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|r| r.url.path().ends_with("/me/messages"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// A fake Graph API answering every send with `answer`.
async fn graph_answering_sends(answer: ResponseTemplate) -> MockServer {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(answer)
        .mount(&graph)
        .await;
    graph
}

/// The Graph API answering sends with `answer`, and the account `shop` on it with the
/// echoing test plugin installed and granted.
async fn echoing_shop(answer: ResponseTemplate) -> (MockServer, Sandbox) {
    let graph = graph_answering_sends(answer).await;
    let sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());
    (graph, sandbox)
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_verified_stored_once_and_answered_through_the_graph_api() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    let sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());
    let served = serve(&sandbox);

    // The subscription handshake.
    let client = reqwest::Client::new();
    let handshake = |token: &str| {
        client
            .get(&served.url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.verify_token", token),
                ("hub.challenge", "1158201444"),
            ])
            .send()
    };
    let ok = handshake(VERIFY_TOKEN).await.unwrap();
    assert_eq!(
        (ok.status().as_u16(), ok.text().await.unwrap()),
        (200, "1158201444".to_string())
    );
    assert_eq!(handshake("guess").await.unwrap().status().as_u16(), 403);

    // Forged, missing and malformed signatures are refused and store nothing.
    let hello = message("5501", "m_1", "hello", NOW_MS);
    assert_eq!(
        post(
            &served,
            &hello,
            Some(signature_header(b"wrong secret", b"{}"))
        )
        .await,
        401
    );
    assert_eq!(post(&served, &hello, Some("sha256=abc".into())).await, 401);
    assert_eq!(post(&served, &hello, Some(String::new())).await, 401);
    let oversized = message("5501", "m_big", &"x".repeat(300 * 1024), NOW_MS);
    assert_eq!(post(&served, &oversized, None).await, 413);

    // The message is stored once, however often Meta delivers it, and answered through
    // the Graph API.
    assert_eq!(post(&served, &hello, None).await, 200);
    assert_eq!(post(&served, &hello, None).await, 200);
    eventually("the reply to be sent", || {
        sandbox.conversation("ig_5501").len() == 2
    });
    assert_eq!(
        sandbox.conversation("ig_5501"),
        vec!["< hello", "> echo: hello"]
    );
    let events = sandbox.json(&["events"]);
    assert_eq!(
        events.as_array().unwrap().len(),
        1,
        "one event for two deliveries: {events}"
    );
    assert_eq!(
        sends(&graph).await,
        vec![json!({"recipient": {"id": "5501"}, "message": {"text": "echo: hello"}})]
    );
    let lead = sandbox.lead("ig_5501");
    assert_eq!(lead["lead"]["channel_user_id"], "5501");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_loop_webhook_ai_reply_openrouter_outbox_graph_api() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    let openrouter = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .and(header("authorization", "Bearer sk-or-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "gen-1", "object": "chat.completion", "created": 1_764_000_000, "model": "anthropic/claude-haiku",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "We open at 9."}}]
        })))
        .mount(&openrouter)
        .await;
    let mut sandbox = sandbox(&format!(
        "\n[ai]\nbase_url = \"{}/api/v1\"\n",
        openrouter.uri()
    ));
    sandbox
        .env
        .push(("OPENROUTER_API_KEY".into(), "sk-or-test".into()));
    add_account_with(&sandbox, &graph, &["--model", "anthropic/claude-haiku"]);
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    // The User Profile API tells the new lead's handle.
    Mock::given(method("GET"))
        .and(path("/v21.0/7702"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"username": "Mia.Yoga", "name": "Mia Lund", "id": "7702"})),
        )
        .mount(&graph)
        .await;
    let served = serve(&sandbox);

    assert_eq!(
        post(
            &served,
            &message("7702", "m_7", "When do you open?", NOW_MS),
            None
        )
        .await,
        200
    );
    eventually("the AI reply to go out", || {
        // The lead is renamed from its stand-in handle first.
        let shown = sandbox.run(&["conversations", "show", "mia.yoga", "--json"]);
        shown.status.success()
            && serde_json::from_slice::<Value>(&shown.stdout)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
                == 2
    });

    // Hop by hop: the event, the plugin's decision, the provider request (with the
    // account's model), the Graph API send, the conversation and the audit.
    let lead = sandbox.lead("mia.yoga")["lead"].clone();
    assert_eq!(
        (lead["name"].as_str(), lead["channel_user_id"].as_str()),
        (Some("Mia Lund"), Some("7702"))
    );
    let events = sandbox.json(&["events"]);
    assert_eq!(events[0]["kind"], "inbound");
    assert_eq!(events[0]["results"][0]["outcome"], "queued a reply");
    let asked: Value =
        serde_json::from_slice(&openrouter.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(asked["model"], "anthropic/claude-haiku");
    assert_eq!(
        asked["messages"].as_array().unwrap().last().unwrap()["content"],
        "When do you open?"
    );
    assert_eq!(
        sends(&graph).await,
        vec![json!({"recipient": {"id": "7702"}, "message": {"text": "We open at 9."}})]
    );
    assert_eq!(
        sandbox.conversation("mia.yoga"),
        vec!["< When do you open?", "> We open at 9."]
    );
    let audit = sandbox.audit();
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "outbox.deliver" && r["detail"] == "via instagram")
    );
    let ai = audit.iter().find(|r| r["action"] == "ai.generate").unwrap();
    assert!(
        ai["detail"]
            .as_str()
            .unwrap()
            .ends_with("(model anthropic/claude-haiku)"),
        "{ai}"
    );
    let export = sandbox.ok(&["export"]);
    assert!(
        !export.contains(TOKEN) && !export.contains("sk-or-test"),
        "no secret in the export"
    );
}

/// The echo Meta sends of what the account sent to `lead`: through us or from the app.
fn echo(lead: &str, mid: &str, text: &str, at: i64) -> Value {
    json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": at, "messaging": [{
        "sender": {"id": IG_ACCOUNT}, "recipient": {"id": lead}, "timestamp": at,
        "message": {"mid": mid, "text": text, "is_echo": true}
    }]}]})
}

/// Every event about `handle` is done.
fn all_done(sandbox: &Sandbox, handle: &str, count: usize) -> bool {
    let events = sandbox.json(&["events"]);
    let theirs: Vec<&Value> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["lead"] == handle)
        .collect();
    theirs.len() == count && theirs.iter().all(|e| e["status"] == "done")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_typing_in_the_instagram_app_takes_the_conversation_over() {
    let (graph, mut sandbox) = echoing_shop(sent_ok()).await;
    // The team wants to know when a lead needs them.
    Mock::given(method("POST"))
        .and(path("/hooks/team"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&graph)
        .await;
    let hook = format!("{}/hooks/team", graph.uri());
    sandbox.env.push(("OUTREACH_NOTIFY_URL".into(), hook));
    sandbox.ok(&["account", "notify", "shop"]);
    let served = serve(&sandbox);

    assert_eq!(
        post(&served, &message("5501", "m_1", "hello", NOW_MS), None).await,
        200
    );
    eventually("the plugin's reply to be sent", || {
        sandbox.conversation("ig_5501").len() == 2
    });
    // Meta echoes our own send (the Send API gave it the id "aWdfZAG1faW"): nothing new.
    let ours = echo("5501", "aWdfZAG1faW", "echo: hello", NOW_MS + 1_000);
    assert_eq!(post(&served, &ours, None).await, 200);
    assert_eq!(post(&served, &ours, None).await, 200);
    assert_eq!(
        sandbox.conversation("ig_5501"),
        ["< hello", "> echo: hello"]
    );
    assert_eq!(sandbox.lead("ig_5501")["lead"]["status"], "replied");

    // Someone answers from the phone; Meta delivers the echo twice.
    let typed = echo(
        "5501",
        "m_app_1",
        "Hi! It's Maria, I'll help you myself",
        NOW_MS + 60_000,
    );
    assert_eq!(post(&served, &typed, None).await, 200);
    assert_eq!(post(&served, &typed, None).await, 200);
    let more = echo("5501", "m_app_2", "One moment please", NOW_MS + 61_000);
    assert_eq!(post(&served, &more, None).await, 200);
    eventually("the lead to be with a person", || {
        sandbox.lead("ig_5501")["lead"]["status"] == "needs-human"
    });
    assert_eq!(
        sandbox.conversation("ig_5501"),
        [
            "< hello",
            "> echo: hello",
            "> Hi! It's Maria, I'll help you myself",
            "> One moment please"
        ],
        "stored once"
    );
    let shown = sandbox.ok(&["conversations", "show", "ig_5501"]);
    assert!(
        shown.contains("> sent from Instagram: Hi! It's Maria"),
        "{shown}"
    );
    let audit = sandbox.audit();
    assert!(
        audit.iter().any(|a| a["plugin"] == "instagram:app"
            && a["action"] == "conversations.reply"
            && a["lead"] == "ig_5501"),
        "{audit:?}"
    );
    let notified = || async {
        let requests = graph.received_requests().await.unwrap();
        (requests.into_iter())
            .filter(|r| r.url.path() == "/hooks/team")
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["text"].clone())
            .collect::<Vec<_>>()
    };
    let expected =
        json!("@ig_5501 needs a person (account shop): a person answered from the Instagram app");
    for _ in 0..200 {
        if !notified().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(notified().await, [expected], "the team is told, once");

    // The lead answers: stored, and no plugin talks over the person.
    assert_eq!(
        post(
            &served,
            &message("5501", "m_2", "great, thanks", NOW_MS + 120_000),
            None
        )
        .await,
        200
    );
    eventually("the lead's answer to be handled", || {
        all_done(&sandbox, "ig_5501", 2)
    });
    assert_eq!(
        sends(&graph).await.len(),
        1,
        "only the first reply was sent"
    );
    assert_eq!(
        sandbox.conversation("ig_5501").last().unwrap(),
        "< great, thanks"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_takeover_while_our_send_is_in_flight_keeps_the_send_and_the_persons_message() {
    // Meta takes the send, and answers after a while (within our timeout).
    let (graph, sandbox) = echoing_shop(sent_ok().set_delay(Duration::from_millis(700))).await;
    let served = serve(&sandbox);
    assert_eq!(
        post(&served, &message("5501", "m_1", "hello", NOW_MS), None).await,
        200
    );
    eventually("the plugin's reply to be in flight", || {
        sandbox.lead("ig_5501")["outbox"][0]["attempted_at"].is_i64()
    });
    // Meanwhile someone answers from the app: automation is withdrawn, the lead handed over.
    let typed = echo("5501", "m_app_1", "Maria here, one moment", NOW_MS + 1);
    assert_eq!(post(&served, &typed, None).await, 200);
    // Our send went out all the same: recorded once, with Meta's id, when its answer came.
    eventually("the send to be recorded", || {
        sandbox.lead("ig_5501")["outbox"][0]["status"] == "sent"
    });
    assert_eq!(
        sandbox.lead("ig_5501")["outbox"][0]["message_id"],
        "aWdfZAG1faW"
    );
    // Its echo is known as ours: no second takeover, no second message.
    let ours = echo("5501", "aWdfZAG1faW", "echo: hello", NOW_MS + 2);
    assert_eq!(post(&served, &ours, None).await, 200);
    drop(served);
    let mut conversation = sandbox.conversation("ig_5501");
    conversation.sort();
    assert_eq!(
        conversation,
        ["< hello", "> Maria here, one moment", "> echo: hello"]
    );
    assert_eq!(sandbox.lead("ig_5501")["lead"]["status"], "needs-human");
    let takeovers = sandbox
        .audit()
        .iter()
        .filter(|a| a["plugin"] == "instagram:app")
        .count();
    assert_eq!(takeovers, 1);
    assert_eq!(sends(&graph).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_echo_of_a_send_whose_answer_was_lost_settles_it_without_asking_meta() {
    // The send reaches Meta, but its answer comes after our timeout.
    let (graph, mut sandbox) = echoing_shop(sent_ok().set_delay(Duration::from_secs(3))).await;
    receive_and_answer(&sandbox, &graph, "3301", "hello", NOW_MS).await;
    let outbox = &sandbox.lead("ig_3301")["outbox"][0];
    assert_eq!(outbox["status"], "queued");
    assert!(outbox["attempted_at"].is_i64(), "{outbox}");

    // Its echo arrives: the send is recorded, with Meta's id, and not made again.
    let served = serve(&sandbox);
    let ours = echo("3301", "m_echo_1", "echo: hello", NOW_MS + 2_000);
    assert_eq!(post(&served, &ours, None).await, 200);
    assert_eq!(post(&served, &ours, None).await, 200);
    drop(served);
    let outbox = &sandbox.lead("ig_3301")["outbox"][0];
    assert_eq!(
        (&outbox["status"], &outbox["message_id"]),
        (&json!("sent"), &json!("m_echo_1")),
        "{outbox}"
    );
    assert_eq!(
        sandbox.conversation("ig_3301"),
        ["< hello", "> echo: hello"]
    );
    assert_eq!(
        sandbox.lead("ig_3301")["lead"]["status"],
        "replied",
        "not handed over"
    );

    graph.reset().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    sandbox.at("2026-11-26T10:05:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let requests = graph.received_requests().await.unwrap();
    assert!(
        requests.is_empty(),
        "no resend and no Conversations API question: {:?}",
        requests
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        sandbox.conversation("ig_3301"),
        ["< hello", "> echo: hello"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn story_mentions_and_replies_arrive_as_their_own_kind_and_open_the_window() {
    let (_graph, sandbox) = echoing_shop(sent_ok()).await;
    let served = serve(&sandbox);
    let mut mention = message("7701", "m_mention", "", NOW_MS);
    mention["entry"][0]["messaging"][0]["message"] = json!({"mid": "m_mention", "attachments": [
        {"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1799"}}
    ]});
    let mut reply = message("7702", "m_story_reply", "where can I buy this?", NOW_MS);
    reply["entry"][0]["messaging"][0]["message"]["reply_to"] = json!({"story": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1800", "id": "1800"}});
    for body in [&mention, &reply, &mention] {
        assert_eq!(post(&served, body, None).await, 200);
    }
    eventually("both to be answered", || sends_count(&sandbox) == 2);
    let events = sandbox.json(&["events"]);
    let kinds: Vec<(Value, Value)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["lead"].clone(), e["origin"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (
                json!("ig_7702"),
                json!({"kind": "story-reply", "reference": "1800"})
            ),
            (json!("ig_7701"), json!({"kind": "story-mention"})),
        ],
        "one event each, the redelivered mention stored once"
    );
    let listed = sandbox.ok(&["events"]);
    assert!(listed.contains("story-mention @ig_7701"), "{listed}");
    // A mention opens the window like a message: the plugin's answer went out. The plugin
    // was told the kind, and which story (Instagram names none for a mention).
    assert_eq!(
        sandbox.conversation("ig_7701"),
        [
            "< [mentioned you in their story]",
            "> echo (story-mention -): [mentioned you in their story]"
        ]
    );
    assert_eq!(
        sandbox.conversation("ig_7702")[0],
        "< where can I buy this?"
    );
    // (Its answer is read from the outbox: the fake Graph API gives every send the same
    // message id, and a conversation keeps one message per id.)
    assert_eq!(
        sandbox.lead("ig_7702")["outbox"][0]["text"],
        "echo (story-reply 1800): where can I buy this?"
    );
    drop(served);
    // The story's media address is kept nowhere: not a byte of it in the database's files.
    let mut stored = Vec::new();
    for file in std::fs::read_dir(sandbox.dir.path()).unwrap() {
        let path = file.unwrap().path();
        if path.to_string_lossy().contains("outreach.db") {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    assert!(stored.len() > 4096, "the database files were read");
    assert!(
        !stored.windows(10).any(|w| w == b"lookaside."),
        "a story's media URL was stored"
    );
    assert!(
        stored.windows(4).any(|w| w == b"1800"),
        "the story's id was"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quick_replies_go_out_under_the_message_and_a_tap_reaches_the_reply_hook() {
    let (graph, sandbox) = echoing_shop(sent_ok()).await;
    let served = serve(&sandbox);
    // Past Instagram's limit: the host refuses the reply, and nothing leaves.
    let too_many = message("9901", "m_many", "buttons 14", NOW_MS);
    assert_eq!(post(&served, &too_many, None).await, 200);
    eventually("the refusal", || {
        sandbox
            .ok(&["events"])
            .contains("14 quick replies; the limit is 13")
    });
    let sends = || async {
        let requests = graph.received_requests().await.unwrap();
        (requests.into_iter())
            .filter(|r| r.url.path() == "/v21.0/me/messages")
            .collect::<Vec<_>>()
    };
    assert!(sends().await.is_empty());

    let ask = message("9902", "m_ask", "buttons", NOW_MS + 1);
    assert_eq!(post(&served, &ask, None).await, 200);
    eventually("the question to be sent", || {
        (sandbox.lead("ig_9902")["outbox"].as_array().unwrap().iter())
            .any(|r| r["status"] == "sent")
    });
    let sent = sends().await;
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(
        body["message"],
        json!({"text": "Pick one", "quick_replies": [
            {"content_type": "text", "title": "Yes please", "payload": "yes-please"},
            {"content_type": "text", "title": "No", "payload": "no"}
        ]})
    );

    // The lead taps "Yes please": Meta sends its title as the text and our payload.
    let mut tap = message("9902", "m_tap", "Yes please", NOW_MS + 2);
    tap["entry"][0]["messaging"][0]["message"]["quick_reply"] = json!({"payload": "yes-please"});
    assert_eq!(post(&served, &tap, None).await, 200);
    eventually("the tap to be answered", || {
        sandbox.lead("ig_9902")["outbox"].as_array().unwrap().len() == 2
    });
    let texts: Vec<Value> = (sandbox.lead("ig_9902")["outbox"].as_array().unwrap().iter())
        .map(|row| row["text"].clone())
        .collect();
    assert!(
        texts.contains(&json!("echo (quick-reply yes-please): Yes please")),
        "{texts:?}"
    );
    let listed = sandbox.ok(&["events"]);
    assert!(listed.contains("quick-reply @ig_9902"), "{listed}");
}

fn sends_count(sandbox: &Sandbox) -> usize {
    ["ig_7701", "ig_7702"]
        .iter()
        .filter(|lead| {
            sandbox.lead(lead)["outbox"]
                .as_array()
                .is_some_and(|o| o.iter().any(|row| row["status"] == "sent"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn ice_breakers_are_set_through_the_graph_api_and_a_tap_is_answered() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messenger_profile"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(query_param("platform", "instagram"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": "success"})))
        .mount(&graph)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/v21.0/me/messenger_profile"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": "success"})))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    let sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());

    // Refused before Meta is asked: too many, too long, or with a right-to-left override.
    let five = ["a", "b", "c", "d", "e"];
    let mut args = vec!["account", "ice-breakers", "shop"];
    args.extend(five);
    assert!(sandbox.fails(&args).contains("at most 4"));
    let long = "x".repeat(81);
    assert!(
        sandbox
            .fails(&["account", "ice-breakers", "shop", &long])
            .contains("the limit is 80")
    );
    assert!(
        sandbox
            .fails(&["account", "ice-breakers", "shop", "rtl\u{202e} gnp.exe"])
            .contains("control character U+202E")
    );
    assert!(graph.received_requests().await.unwrap().is_empty());

    sandbox.ok(&[
        "account",
        "ice-breakers",
        "shop",
        "What do you sell?",
        "Where are you?",
    ]);
    let requests = graph.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        body,
        json!({"platform": "instagram", "ice_breakers": [{"locale": "default", "call_to_actions": [
            {"question": "What do you sell?", "payload": "ice-breaker-1"},
            {"question": "Where are you?", "payload": "ice-breaker-2"}
        ]}]})
    );

    // Someone taps the first one: it arrives as that question, once, and is answered.
    let served = serve(&sandbox);
    let tap = json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": NOW_MS, "messaging": [{
        "sender": {"id": "8801"}, "recipient": {"id": IG_ACCOUNT}, "timestamp": NOW_MS,
        "postback": {"mid": "m_tap", "title": "What do you sell?", "payload": "ice-breaker-1"}
    }]}]});
    assert_eq!(post(&served, &tap, None).await, 200);
    assert_eq!(post(&served, &tap, None).await, 200);
    eventually("the tap to be answered", || {
        sandbox.conversation("ig_8801").len() == 2
    });
    // The plugin was told which ice breaker: the question's text alone could be any.
    assert_eq!(
        sandbox.conversation("ig_8801"),
        [
            "< What do you sell?",
            "> echo (postback ice-breaker-1): What do you sell?"
        ]
    );
    drop(served);

    sandbox.ok(&["account", "ice-breakers", "shop", "--clear"]);
    let deleted = graph.received_requests().await.unwrap();
    let delete = deleted
        .iter()
        .find(|r| r.method.as_str() == "DELETE")
        .expect("a DELETE of the ice breakers");
    assert_eq!(
        serde_json::from_slice::<Value>(&delete.body).unwrap(),
        json!({"fields": ["ice_breakers"]})
    );
    let audit = sandbox.audit();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a["action"] == "account.ice-breakers")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_may_answer_for_seven_days_tagged_human_agent_and_a_plugin_may_not() {
    // The plugin's reply meets a rate limit and waits.
    let (graph, mut sandbox) = echoing_shop(meta_error(
        429,
        4,
        None,
        "Application request limit reached",
    ))
    .await;
    receive_and_answer(&sandbox, &graph, "5501", "hello", NOW_MS).await;
    graph.reset().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;

    // Three days later: without the Human Agent feature nobody may write.
    sandbox.at("2026-11-29T10:00:00Z");
    let refused = sandbox.fails(&["conversations", "reply", "ig_5501", "Sorry for the wait"]);
    assert!(refused.contains("messaging window closed"), "{refused}");
    // Meta granted it: a person's reply goes out tagged, the plugin's waiting one does not.
    sandbox.ok(&["account", "human-agent", "shop", "on"]);
    sandbox.ok(&[
        "conversations",
        "reply",
        "ig_5501",
        "Sorry for the wait, Maria here",
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sends(&graph).await,
        [json!({
            "recipient": {"id": "5501"},
            "message": {"text": "Sorry for the wait, Maria here"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT"
        })]
    );
    let outbox = sandbox.lead("ig_5501")["outbox"].clone();
    let plugins = &outbox[0];
    assert_eq!(plugins["text"], "echo: hello");
    assert_eq!(plugins["status"], "blocked", "{outbox}");
    assert!(
        plugins["detail"]
            .as_str()
            .unwrap()
            .contains("closed to automated messages"),
        "{outbox}"
    );
    assert_eq!(outbox[1]["status"], "sent");

    // After seven days, not even a person.
    sandbox.at("2026-12-03T10:00:01Z");
    let refused = sandbox.fails(&["conversations", "reply", "ig_5501", "Still there?"]);
    assert!(refused.contains("messaging window closed"), "{refused}");
    let audit = sandbox.audit();
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "account.human-agent" && a["detail"] == "shop: on"),
        "{audit:?}"
    );
}

/// Receives one message through `serve`, lets the engine answer it, then stops serving.
async fn receive_and_answer(
    sandbox: &Sandbox,
    graph: &MockServer,
    sender: &str,
    text: &str,
    at: i64,
) {
    let served = serve(sandbox);
    assert_eq!(
        post(
            &served,
            &message(sender, &format!("m_{sender}"), text, at),
            None
        )
        .await,
        200
    );
    let handle = format!("ig_{sender}");
    eventually("the reply to be handled", || {
        let events = sandbox.json(&["events"]);
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["lead"] == handle.as_str() && e["status"] == "done")
            && sandbox.lead(&handle)["outbox"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["detail"] != Value::Null || o["status"] != "queued")
    });
    drop(served);
    let _ = graph;
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_retried_later_and_never_in_a_tight_loop() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(meta_error(
            429,
            4,
            None,
            "Application request limit reached",
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    let mut sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());
    receive_and_answer(&sandbox, &graph, "6601", "hello", NOW_MS).await;
    assert_eq!(
        sends(&graph).await.len(),
        1,
        "one attempt, then the account waits"
    );
    assert!(sandbox.conversation("ig_6601").len() == 1);
    let outbox = &sandbox.lead("ig_6601")["outbox"][0];
    assert!(
        outbox["detail"]
            .as_str()
            .unwrap()
            .starts_with("rate limited"),
        "{outbox}"
    );

    sandbox.at("2026-11-26T10:05:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sends(&graph).await.len(), 1, "still waiting");
    sandbox.at("2026-11-26T10:16:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sends(&graph).await.len(), 2);
    assert_eq!(
        sandbox.conversation("ig_6601"),
        vec!["< hello", "> echo: hello"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_window_an_invalid_token_and_an_oversized_text_are_handled_without_sending() {
    let graph = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .and(body_partial_json(json!({"recipient": {"id": "4402"}})))
        .respond_with(meta_error(
            400,
            10,
            Some(2534022),
            "(#10) This message is sent outside of allowed window.",
        ))
        .mount(&graph)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .and(body_partial_json(json!({"recipient": {"id": "4403"}})))
        .respond_with(meta_error(
            401,
            190,
            Some(463),
            "Error validating access token: Session has expired",
        ))
        .mount(&graph)
        .await;
    let sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());

    // Our own rule: the lead's last message is 25 hours old, so no automated send is tried.
    receive_and_answer(&sandbox, &graph, "4401", "hello", NOW_MS - 25 * 3_600_000).await;
    let events = sandbox.json(&["events"]);
    assert_eq!(
        events[0]["results"][0]["outcome"],
        "reply not sent: messaging window closed"
    );
    // Meta's rule, when it disagrees with ours: the row is set aside with the reason.
    receive_and_answer(&sandbox, &graph, "4402", "hello", NOW_MS).await;
    assert_eq!(sandbox.lead("ig_4402")["outbox"][0]["status"], "blocked");
    assert_eq!(
        sandbox.lead("ig_4402")["outbox"][0]["detail"],
        "messaging window closed"
    );
    // Too long for Instagram: refused before anything is sent.
    receive_and_answer(&sandbox, &graph, "4404", &"y".repeat(1000), NOW_MS).await;
    let events = sandbox.json(&["events"]);
    let outcome = events[0]["results"][0]["outcome"].as_str().unwrap();
    assert!(
        outcome.contains("1006 bytes; the limit is 1000"),
        "{outcome}"
    );
    // An expired token pauses the account; the message waits for the user to fix it.
    receive_and_answer(&sandbox, &graph, "4403", "hello", NOW_MS).await;
    let accounts = sandbox.json(&["account", "list"]);
    let shop = accounts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "shop")
        .unwrap();
    assert_eq!(shop["paused"], true);
    assert!(
        shop["pause_reason"]
            .as_str()
            .unwrap()
            .contains("Session has expired"),
        "{shop}"
    );
    assert_eq!(sandbox.lead("ig_4403")["outbox"][0]["status"], "queued");

    let recipients: Vec<Value> = sends(&graph)
        .await
        .iter()
        .map(|s| s["recipient"]["id"].clone())
        .collect();
    assert_eq!(
        recipients,
        vec![json!("4402"), json!("4403")],
        "nothing else reached the Graph API"
    );
    let text = serde_json::to_string(&sandbox.json(&["account", "list"])).unwrap();
    assert!(!text.contains(TOKEN), "the token is never shown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_send_with_an_unknown_outcome_is_reconciled_before_any_retry() {
    // The first sends reach Meta but their answers come after our timeout.
    let (graph, mut sandbox) = echoing_shop(sent_ok().set_delay(Duration::from_secs(3))).await;
    for lead in ["3301", "3302"] {
        receive_and_answer(&sandbox, &graph, lead, "hello", NOW_MS).await;
    }
    assert_eq!(
        sends(&graph).await.len(),
        2,
        "each went out once, and no answer came back"
    );
    for lead in ["ig_3301", "ig_3302"] {
        let outbox = &sandbox.lead(lead)["outbox"][0];
        assert_eq!(outbox["status"], "queued");
        assert!(outbox["attempted_at"].is_i64(), "{outbox}");
    }

    graph.reset().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/me/messages"))
        .respond_with(sent_ok())
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me/conversations"))
        .and(query_param("user_id", "3301"))
        .respond_with(listing(&["hello", "echo: hello"]))
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me/conversations"))
        .and(query_param("user_id", "3302"))
        .respond_with(listing(&["hello"]))
        .mount(&graph)
        .await;
    sandbox.at("2026-11-26T10:05:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    // Lead 3301: Meta has our message, so it is recorded as sent and not sent again.
    assert_eq!(sandbox.lead("ig_3301")["outbox"][0]["status"], "sent");
    let posted: Vec<Value> = sends(&graph)
        .await
        .iter()
        .map(|s| s["recipient"]["id"].clone())
        .collect();
    assert_eq!(
        posted,
        vec![json!("3302")],
        "only the other lead's message was posted"
    );
    assert_eq!(
        sandbox.conversation("ig_3301"),
        vec!["< hello", "> echo: hello"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_tokens_the_ai_key_and_the_webhook_secrets() {
    let graph = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user_id": IG_ACCOUNT, "username": "studio.shop"})),
        )
        .mount(&graph)
        .await;
    let openrouter = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .and(header("authorization", "Bearer sk-or-good"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .mount(&openrouter)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/models"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"code": 401, "message": "No auth"}})),
        )
        .mount(&openrouter)
        .await;
    let mut sandbox = sandbox(&format!(
        "\n[ai]\nbase_url = \"{}/api/v1\"\n",
        openrouter.uri()
    ));
    sandbox
        .env
        .push(("OPENROUTER_API_KEY".into(), "sk-or-good".into()));
    add_account(&sandbox, &graph);
    let out = sandbox.ok(&["doctor"]);
    assert!(
        out.contains("ok    account shop (instagram): token accepted for @studio.shop"),
        "{out}"
    );
    assert!(out.contains("reachable, key accepted"), "{out}");
    assert!(out.contains("ok    webhook app secret: set"), "{out}");

    // A refused token, a refused AI key and missing webhook secrets all fail, by name.
    graph.reset().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me"))
        .respond_with(meta_error(
            400,
            190,
            Some(460),
            "The session has been invalidated",
        ))
        .mount(&graph)
        .await;
    sandbox.env.retain(|(k, _)| k != "OPENROUTER_API_KEY");
    sandbox
        .env
        .push(("OPENROUTER_API_KEY".into(), "sk-or-bad".into()));
    sandbox.write(
        "outreach.toml",
        &format!("[ai]\nbase_url = \"{}/api/v1\"\n", openrouter.uri()),
    );
    let out = sandbox.run(&["doctor"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "FAIL  account shop (instagram): token refused: The session has been invalidated"
        ),
        "{text}"
    );
    assert!(text.contains("the key is refused"), "{text}");
    assert!(text.contains("FAIL  webhook app secret: not set"), "{text}");
    for secret in [TOKEN, "sk-or-bad"] {
        assert!(!text.contains(secret) && !String::from_utf8_lossy(&out.stderr).contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivery_for_an_account_not_set_up_is_kept_until_the_account_is_added() {
    let graph = graph_answering_sends(sent_ok()).await;
    let sandbox = sandbox("");
    sandbox.install_unsigned(&hostile_wasm());

    // Meta delivers (and redelivers) a message for an account id nobody added: answered,
    // so Meta will not send it again, and kept once.
    let served = serve(&sandbox);
    let hello = message("5501", "m_early", "hello", NOW_MS);
    assert_eq!(post(&served, &hello, None).await, 200);
    assert_eq!(post(&served, &hello, None).await, 200);
    drop(served);
    assert!(sandbox.json(&["events"]).as_array().unwrap().is_empty());
    let failed = sandbox.ok(&["events", "--failed"]);
    assert!(
        failed.contains(&format!(
            "1 webhook message(s) for Instagram account {IG_ACCOUNT} that is not set up here"
        )),
        "{failed}"
    );
    let doctor = sandbox.run(&["doctor"]);
    assert!(!doctor.status.success());
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        report.contains(&format!(
            "FAIL  webhook messages for Instagram account {IG_ACCOUNT}: 1 kept"
        )),
        "{report}"
    );

    // Adding the account routes it: an inbound event for a lead of that account, which the
    // engine then answers like any other.
    let added = sandbox.ok(&[
        "account",
        "add",
        "shop",
        "--channel",
        "instagram",
        "--ig-user-id",
        IG_ACCOUNT,
        "--base-url",
        &graph.uri(),
    ]);
    assert!(
        added.contains(&format!(
            "routed 1 webhook message(s) kept for Instagram account {IG_ACCOUNT} to account shop"
        )),
        "{added}"
    );
    let events = sandbox.json(&["events"]);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["kind"], &events[0]["lead"], &events[0]["status"]),
        (&json!("inbound"), &json!("ig_5501"), &json!("pending"))
    );
    let shop = sandbox
        .json(&["account", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "shop")
        .unwrap()["id"]
        .clone();
    let lead = sandbox.lead("ig_5501")["lead"].clone();
    assert_eq!(
        (&lead["account_id"], &lead["channel_user_id"]),
        (&shop, &json!("5501"))
    );
    assert!(
        !sandbox
            .ok(&["events", "--failed"])
            .contains("webhook message")
    );
    let doctor = sandbox.run(&["doctor"]);
    assert!(
        !String::from_utf8_lossy(&doctor.stdout).contains("webhook messages for"),
        "{doctor:?}"
    );

    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sandbox.json(&["events"])[0]["status"], "done");
    assert_eq!(
        sandbox.conversation("ig_5501"),
        vec!["< hello", "> echo: hello"]
    );
    assert_eq!(
        sends(&graph).await,
        vec![json!({"recipient": {"id": "5501"}, "message": {"text": "echo: hello"}})]
    );

    // Meta redelivering it after it was routed changes nothing.
    let served = serve(&sandbox);
    assert_eq!(post(&served, &hello, None).await, 200);
    drop(served);
    assert_eq!(sandbox.json(&["events"]).as_array().unwrap().len(), 1);
    assert_eq!(sandbox.conversation("ig_5501").len(), 2);
    assert!(
        !sandbox
            .ok(&["events", "--failed"])
            .contains("webhook message")
    );
}

/// POSTs `body` (signed, with its Content-Length) to `url_path` on `served` over a plain TCP
/// connection, in pieces a little apart as over a network, and reads the answer once all is
/// sent; returns the answer's status line, or the error that came instead (a connection
/// reset shows as one while sending).
fn post_over_tcp(served: &Served, url_path: &str, body: &[u8]) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let address = served.base().trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let signature = signature_header(APP_SECRET.as_bytes(), body);
    write!(
        stream,
        "POST {url_path} HTTP/1.1\r\nHost: {address}\r\nX-Hub-Signature-256: {signature}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )?;
    for piece in body.chunks(16 * 1024) {
        stream.write_all(piece)?;
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned())
}

#[test]
fn a_webhook_body_over_the_limit_gets_413_not_a_connection_reset() {
    let sandbox = sandbox("max_body_bytes = 65536\n");
    let served = serve(&sandbox);
    let body = message("5501", "m_big", &"x".repeat(2 * 65536), NOW_MS).to_string();
    for url_path in ["/webhooks/instagram", "/webhooks/bridge/wa"] {
        for _ in 0..3 {
            let status = post_over_tcp(&served, url_path, body.as_bytes())
                .unwrap_or_else(|e| panic!("{url_path}: no HTTP answer: {e}"));
            assert_eq!(status, "HTTP/1.1 413 Payload Too Large", "{url_path}");
        }
    }
    // A body within the limit on the same server is still taken.
    let small = message("5501", "m_small", "hello", NOW_MS).to_string();
    let status = post_over_tcp(&served, "/webhooks/instagram", small.as_bytes()).unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
}

/// A comment webhook (the `comments` field, or `live_comments`) as Meta sends it: the entry's
/// time in seconds.
fn comment(field: &str, commenter: &str, id: &str, media: &str, text: &str, at_ms: i64) -> Value {
    json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": at_ms / 1000, "changes": [{
        "field": field,
        "value": {"from": {"id": commenter, "username": "commenter"}, "id": id, "text": text,
                  "media": {"id": media, "media_product_type": "FEED"}}
    }]}]})
}

/// The account `shop` on `graph` with the bundled comment-to-dm installed, granted and
/// configured with `settings`.
fn comment_to_dm_shop(graph: &MockServer, settings: &[&str]) -> Sandbox {
    let sandbox = sandbox("");
    add_account(&sandbox, graph);
    sandbox.ok(&["plugin", "install", "comment-to-dm", "--grant-requested"]);
    let mut config = vec!["plugin", "config", "comment-to-dm"];
    config.extend_from_slice(settings);
    sandbox.ok(&config);
    sandbox
}

/// What each event about `handle` ended as, oldest first: its results' summaries.
fn outcomes(sandbox: &Sandbox, handle: &str) -> Vec<String> {
    let events = sandbox.json(&["events"]);
    let mut outcomes: Vec<String> = (events.as_array().unwrap().iter())
        .filter(|e| e["lead"] == handle)
        .map(|e| {
            let results = e["results"].as_array().unwrap();
            let summaries: Vec<String> = (results.iter())
                .map(|r| format!("{} {}", r["plugin"], r["outcome"]))
                .collect();
            format!("{} {}", e["status"], summaries.join("; "))
        })
        .collect();
    outcomes.reverse();
    outcomes
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyword_comment_gets_exactly_one_private_reply_and_an_old_one_none() {
    let graph = graph_answering_sends(sent_ok()).await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v21\.0/C-\d+/replies$"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "R-1"})))
        .mount(&graph)
        .await;
    let sandbox = comment_to_dm_shop(
        &graph,
        &[
            "keywords=price",
            "messages=Here is the price list: example.com/p",
            "follow_up=Great! Want to book a call?",
            "public_reply=Sent you a DM!",
        ],
    );
    let served = serve(&sandbox);

    // Without `comments:read` no plugin sees a comment: nobody may, so it is not even kept
    // (the webhook is answered once it is stored, or not).
    sandbox.ok(&["plugin", "revoke", "comment-to-dm", "comments:read"]);
    let unseen = comment("comments", "8800", "C-0", "POST-1", "price?", NOW_MS);
    assert_eq!(post(&served, &unseen, None).await, 200);
    sandbox.fails(&["leads", "show", "ig_8800"]);
    sandbox.ok(&["plugin", "grant", "comment-to-dm", "comments:read"]);
    // A plugin that did not ask for comments (it echoes every message) is not called.
    sandbox.install_unsigned(&hostile_wasm());

    // A keyword comment, delivered twice, then the same person again under the same post.
    let first = comment(
        "comments",
        "8801",
        "C-1",
        "POST-1",
        "What's the price?",
        NOW_MS,
    );
    let again = comment(
        "comments",
        "8801",
        "C-2",
        "POST-1",
        "price??",
        NOW_MS + 1000,
    );
    for body in [&first, &first, &again] {
        assert_eq!(post(&served, body, None).await, 200);
    }
    // Eight days old: the plugin answers, the host refuses (7 days at most).
    let old = NOW_MS - 8 * 24 * 3_600_000;
    let stale = comment("comments", "8802", "C-3", "POST-1", "price", old);
    assert_eq!(post(&served, &stale, None).await, 200);
    // Someone else answers under the first comment: a private reply to them, but the
    // thread has its public answer already (Instagram puts answers to a reply under the
    // comment it answers).
    let mut under = comment(
        "comments",
        "8803",
        "C-8",
        "POST-1",
        "price for me too?",
        NOW_MS,
    );
    under["entry"][0]["changes"][0]["value"]["parent_id"] = json!("C-1");
    assert_eq!(post(&served, &under, None).await, 200);
    eventually("the comments to be handled", || {
        outcomes(&sandbox, "ig_8801").len() == 2
            && outcomes(&sandbox, "ig_8802").len() == 1
            && outcomes(&sandbox, "ig_8803").len() == 1
    });
    assert_eq!(
        outcomes(&sandbox, "ig_8803"),
        [
            r#""done" "comment-to-dm" "queued a reply; public answer not queued: the comment has one already""#
        ]
    );
    eventually("the private reply to go out", || {
        (sandbox.lead("ig_8801")["outbox"].as_array().unwrap().iter())
            .any(|r| r["status"] == "sent")
    });
    assert_eq!(
        outcomes(&sandbox, "ig_8801"),
        [
            r#""done" "comment-to-dm" "queued a reply; queued a public answer under the comment""#,
            r#""done" "comment-to-dm" "no reply""#
        ]
    );
    let refused = &outcomes(&sandbox, "ig_8802")[0];
    assert!(
        refused.contains("reply not sent: private reply window closed: the comment is 8 days old"),
        "{refused}"
    );
    // (The comment counts as no message from them: nothing marks them as having written.)
    let lead = sandbox.lead("ig_8802");
    assert_eq!(
        lead["lead"].get("last_inbound_at"),
        Some(&Value::Null),
        "{lead}"
    );
    // Answered publicly too: under the first comment, and (no 7 days for that) under the
    // old one, each once.
    eventually("the answers to go out", || {
        sends_to(&sandbox, "ig_8801") == 2
            && sends_to(&sandbox, "ig_8802") == 1
            && sends_to(&sandbox, "ig_8803") == 1
    });
    let mut sent = sends(&graph).await;
    sent.sort_by_key(|s| s["recipient"]["comment_id"].to_string());
    let private = |comment: &str| {
        json!({"recipient": {"comment_id": comment},
               "message": {"text": "Here is the price list: example.com/p"}})
    };
    assert_eq!(
        sent,
        [private("C-1"), private("C-8")],
        "one private reply per keyword comment in the window, and nothing else"
    );
    let requests = graph.received_requests().await.unwrap();
    let mut public: Vec<(String, Value)> = (requests.iter())
        .filter(|r| r.url.path().ends_with("/replies"))
        .map(|r| {
            (
                r.url.path().into(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    public.sort_by(|a, b| a.0.cmp(&b.0));
    let answer = json!({"message": "Sent you a DM!"});
    assert_eq!(
        public,
        [
            ("/v21.0/C-1/replies".to_owned(), answer.clone()),
            ("/v21.0/C-3/replies".to_owned(), answer)
        ]
    );
    // The comment and the answer are in the conversation as what they are; they opened no
    // window for anything else.
    let conversation = sandbox.conversation("ig_8801");
    assert_eq!(conversation[0], "< What's the price?");
    assert!(
        conversation.contains(&"> Sent you a DM!".to_owned()),
        "{conversation:?}"
    );

    // They answer the private reply: a direct message, which opens the window; the plugin
    // follows up, once, to them (no longer to the comment), and the echoing one answers too.
    let answer = message("8801", "m_answer", "thanks!", NOW_MS + 2000);
    assert_eq!(post(&served, &answer, None).await, 200);
    eventually("the answers to go out", || {
        sends_to(&sandbox, "ig_8801") == 4
    });
    let sent = sends(&graph).await;
    assert_eq!(sent.len(), 4);
    let follow_up =
        json!({"recipient": {"id": "8801"}, "message": {"text": "Great! Want to book a call?"}});
    assert!(sent[2..].contains(&follow_up), "{sent:?}");
}

/// How many of the lead's outbox rows went out.
fn sends_to(sandbox: &Sandbox, handle: &str) -> usize {
    (sandbox.lead(handle)["outbox"].as_array().unwrap().iter())
        .filter(|r| r["status"] == "sent")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_comment_gets_its_private_reply_only_while_the_broadcast_lasts() {
    let graph = graph_answering_sends(sent_ok()).await;
    // One live video on the air; LIVE-OFF ended.
    Mock::given(method("GET"))
        .and(path("/v21.0/me/live_media"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": "LIVE-ON"}]})),
        )
        .mount(&graph)
        .await;
    // A public answer too, which Instagram takes under no live video: refused by the host.
    let sandbox = comment_to_dm_shop(
        &graph,
        &[
            "keywords=*",
            "messages=Hi from the live!",
            "public_reply=Thanks!",
        ],
    );
    sandbox.ok(&[
        "plugin",
        "config",
        "comment-to-dm",
        "keywords=*",
        "messages=Hi from the live!",
    ]);
    let served = serve(&sandbox);
    for (commenter, id, media) in [("8901", "LC-1", "LIVE-ON"), ("8902", "LC-2", "LIVE-OFF")] {
        let body = comment("live_comments", commenter, id, media, "hello", NOW_MS);
        assert_eq!(post(&served, &body, None).await, 200);
    }
    eventually("the live comments' replies to be settled", || {
        [("ig_8901", "sent"), ("ig_8902", "blocked")]
            .iter()
            .all(|(lead, status)| {
                (sandbox.lead(lead)["outbox"].as_array().unwrap().iter())
                    .any(|r| r["status"] == *status)
            })
    });
    assert_eq!(
        sends(&graph).await,
        [json!({"recipient": {"comment_id": "LC-1"}, "message": {"text": "Hi from the live!"}})]
    );
    let blocked = &sandbox.lead("ig_8902")["outbox"][0];
    assert!(
        blocked["detail"]
            .as_str()
            .unwrap()
            .contains("the live video has ended"),
        "{blocked}"
    );
    assert_eq!(blocked["answering"]["live_media_id"], "LIVE-OFF");
    let requests = graph.received_requests().await.unwrap();
    assert!(
        !requests.iter().any(|r| r.url.path().ends_with("/replies")),
        "nothing posted under a live video"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_answer_whose_outcome_is_unknown_is_found_under_the_comment_not_posted_again() {
    let graph = graph_answering_sends(sent_ok()).await;
    // Meta takes the answer, and its reply is lost: a server error.
    Mock::given(method("POST"))
        .and(path("/v21.0/C-7/replies"))
        .respond_with(meta_error(
            500,
            2,
            None,
            "An unexpected error has occurred.",
        ))
        .mount(&graph)
        .await;
    let mut sandbox = comment_to_dm_shop(
        &graph,
        &["keywords=*", "messages=Hi!", "public_reply=Answered!"],
    );
    let served = serve(&sandbox);
    let body = comment("comments", "7001", "C-7", "POST-1", "nice", NOW_MS);
    assert_eq!(post(&served, &body, None).await, 200);
    let public_row = |sandbox: &Sandbox| {
        (sandbox.lead("ig_7001")["outbox"].as_array().unwrap().iter())
            .find(|r| r["answering"]["public"] == true)
            .cloned()
    };
    eventually("the public answer to be attempted", || {
        public_row(&sandbox).is_some_and(|r| r["attempted_at"].is_i64())
    });
    drop(served);
    assert_eq!(public_row(&sandbox).unwrap()["status"], "queued");

    graph.reset().await;
    Mock::given(method("GET"))
        .and(path("/v21.0/C-7/replies"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": "R-7", "text": "Answered!", "timestamp": "2026-11-26T10:00:00+0000"}
        ]})))
        .mount(&graph)
        .await;
    sandbox.at("2026-11-26T10:05:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let row = public_row(&sandbox).unwrap();
    assert_eq!(
        (&row["status"], &row["message_id"]),
        (&json!("sent"), &json!("R-7"))
    );
    let posted = graph.received_requests().await.unwrap();
    assert!(
        posted.iter().all(|r| r.method.as_str() == "GET"),
        "nothing posted again: {:?}",
        posted.iter().map(|r| r.url.path()).collect::<Vec<_>>()
    );
}
