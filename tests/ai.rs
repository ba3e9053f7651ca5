//! The AI path: the real async-openai client against a local server speaking the
//! chat-completions wire format, the offline fallback, and hand-over when the provider fails.

mod support;

use serde_json::{Value, json};
use support::Sandbox;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-or-v1-test-secret-key";

fn completion(text: &str) -> Value {
    json!({
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "openai/gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
    })
}

/// A sandbox whose AI provider is `server`, with `extra_ai` lines added to the `[ai]` section.
fn sandbox_for(server: &MockServer, extra_ai: &str) -> Sandbox {
    let config = format!(
        "[ai]\nbase_url = \"{}/api/v1\"\nmodel = \"openai/gpt-4o-mini\"\nmax_tokens = 120\ntimeout_seconds = 10\n{extra_ai}",
        server.uri()
    );
    let mut sandbox = Sandbox::new(&config);
    sandbox.env.push(("OPENROUTER_API_KEY".into(), KEY.into()));
    sandbox
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_come_from_the_openai_compatible_provider() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(completion("It costs 49 EUR a month.")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let sandbox = sandbox_for(&server, "");
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&[
        "plugin",
        "config",
        "ai-reply",
        "system_prompt=You sell yoga classes. Be brief.",
    ]);
    sandbox.ok(&["inbox", "push", "nina", "How much is it?"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sandbox.conversation("nina"),
        vec!["< How much is it?", "> It costs 49 EUR a month."]
    );

    let requests = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["model"], "openai/gpt-4o-mini");
    assert_eq!(body["max_completion_tokens"], 120);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You sell yoga classes. Be brief."})
    );
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap(),
        &json!({"role": "user", "content": "How much is it?"})
    );

    // The audit names the recipient; the key appears nowhere the user or an export sees.
    let audit = sandbox.audit();
    let ai = audit.iter().find(|r| r["action"] == "ai.generate").unwrap();
    assert!(ai["detail"].as_str().unwrap().contains("127.0.0.1"), "{ai}");
    let export = sandbox.ok(&["export"]);
    let run = sandbox.run(&["run", "--until-idle"]);
    for text in [
        export,
        serde_json::to_string(&audit).unwrap(),
        String::from_utf8_lossy(&run.stderr).into_owned(),
    ] {
        assert!(!text.contains(KEY), "the API key leaked");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_provider_hands_the_lead_over_to_a_human() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": "User not found.", "type": "invalid_request_error", "param": null, "code": 401}
        })))
        .mount(&server)
        .await;
    let sandbox = sandbox_for(&server, "");
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&["inbox", "push", "omar", "Do you ship to Spain?"]);
    let run = sandbox.run(&["run", "--until-idle"]);
    assert!(run.status.success());
    assert!(
        !String::from_utf8_lossy(&run.stderr).contains(KEY),
        "the API key leaked into the log"
    );
    assert_eq!(sandbox.lead("omar")["lead"]["status"], "needs-human");
    assert_eq!(
        sandbox.conversation("omar"),
        vec!["< Do you ship to Spain?"],
        "no silent or broken reply"
    );
    let events = sandbox.json(&["events"]);
    let outcome = events[0]["results"][0]["outcome"].as_str().unwrap();
    assert!(
        outcome.starts_with("handed over to a human: AI unavailable")
            && outcome.contains("HTTP 401"),
        "{outcome}"
    );
}

#[test]
fn without_a_key_the_offline_provider_answers_and_says_so() {
    let sandbox =
        Sandbox::new("[ai]\noffline_reply = \"We got your message and will answer soon.\"\n");
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&["inbox", "push", "pia", "Hello?"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sandbox.conversation("pia"),
        vec!["< Hello?", "> We got your message and will answer soon."]
    );
    let audit = sandbox.audit();
    let ai = audit.iter().find(|r| r["action"] == "ai.generate").unwrap();
    assert!(
        ai["detail"].as_str().unwrap().contains("offline template"),
        "{ai}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_provider_gets_no_personal_data_the_plugin_was_not_granted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Noted, thanks!")))
        .mount(&server)
        .await;
    let sandbox = sandbox_for(&server, "max_context_messages = 2\n");
    let leads = sandbox.write(
        "leads.csv",
        "handle,email,phone,notes\nrosa,rosa.m@example.com,+34 600 123 456,Owes us for the March invoice\n",
    );
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&["inbox", "push", "rosa", "Hello there"]);
    sandbox.ok(&["run", "--until-idle"]);
    sandbox.ok(&[
        "inbox",
        "push",
        "rosa",
        "Write to ROSA.M@EXAMPLE.COM or call +34 600 123 456. Owes us for the March invoice? No!",
    ]);
    sandbox.ok(&["run", "--until-idle"]);

    let requests = server.received_requests().await.unwrap();
    let last: Value = serde_json::from_slice(&requests.last().unwrap().body).unwrap();
    let messages = last["messages"].as_array().unwrap();
    assert_eq!(
        messages.len(),
        3,
        "the system prompt and the last two messages: {last}"
    );
    let sent = serde_json::to_string(&last).unwrap();
    for secret in [
        "rosa.m@example.com",
        "ROSA.M@EXAMPLE.COM",
        "600 123 456",
        "March invoice",
    ] {
        assert!(
            !sent.contains(secret),
            "{secret:?} reached the provider: {sent}"
        );
    }
    assert_eq!(
        messages[2]["content"],
        "Write to [redacted] or call [redacted]. [redacted]? No!"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_retried_and_attribution_is_sent_when_configured() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "error": {"message": "Rate limit exceeded", "type": "rate_limit_error", "param": null, "code": 429}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("Happy to help.")))
        .mount(&server)
        .await;
    let sandbox = sandbox_for(
        &server,
        "retry_backoff_ms = 10\napp_url = \"https://studio.example\"\napp_title = \"Studio Outreach\"\n",
    );
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&["inbox", "push", "tara", "Are you open on Sundays?"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sandbox.conversation("tara"),
        vec!["< Are you open on Sundays?", "> Happy to help."],
        "{}",
        sandbox.ok(&["events"])
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2, "one rate-limited attempt, one retry");
    let headers = &requests[1].headers;
    assert_eq!(
        headers.get("http-referer").unwrap(),
        "https://studio.example"
    );
    assert_eq!(
        headers.get("x-openrouter-title").unwrap(),
        "Studio Outreach"
    );
}
