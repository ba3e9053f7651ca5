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

fn sandbox_for(server: &MockServer) -> Sandbox {
    let config = format!(
        "[ai]\nbase_url = \"{}/api/v1\"\nmodel = \"openai/gpt-4o-mini\"\nmax_tokens = 120\ntimeout_seconds = 10\n",
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
    let sandbox = sandbox_for(&server);
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
    let sandbox = sandbox_for(&server);
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
        outcome.starts_with("handed over to a human: AI unavailable"),
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
