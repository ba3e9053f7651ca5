//! Telling a team that a lead needs a person: a hand-over queues a notification in the
//! same transaction, and the engine POSTs it to the account's URL (sealed, never shown),
//! signed, with retries, without the lead's words unless asked, and never once the lead
//! is forgotten.

mod support;

use serde_json::Value;
use support::{Backend, Sandbox};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "the team's notification secret";

/// A sandbox whose default account notifies `hook` (`notify_args` after the name), with
/// ai-reply answering: "human" hands a lead over.
fn team(backend: Backend, label: &str, hook: &MockServer, notify_args: &[&str]) -> Sandbox {
    let mut sandbox = Sandbox::on(backend, label, "");
    sandbox.at("2026-11-27T10:00:00Z");
    let url = format!("{}/hooks/team", hook.uri());
    sandbox.env.extend([
        (
            "OUTREACH_SECRET_KEY".into(),
            "a long test key for sealing urls".into(),
        ),
        ("OUTREACH_NOTIFY_SECRET".into(), SECRET.into()),
        ("OUTREACH_NOTIFY_URL".into(), url),
    ]);
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    let mut args = vec!["account", "notify", "default"];
    args.extend_from_slice(notify_args);
    sandbox.ok(&args);
    sandbox
}

/// The hook answering `status`, the first `times` requests (all, with `None`).
async fn answering(hook: &MockServer, status: u16, times: Option<u64>) {
    let mock = Mock::given(method("POST"))
        .and(path("/hooks/team"))
        .respond_with(ResponseTemplate::new(status));
    match times {
        Some(n) => mock.up_to_n_times(n).mount(hook).await,
        None => mock.mount(hook).await,
    }
}

async fn received(hook: &MockServer) -> Vec<Request> {
    hook.received_requests().await.unwrap()
}

async fn a_hand_over_is_notified_signed_retried_and_sent_once(backend: Backend) {
    let hook = MockServer::start().await;
    answering(&hook, 500, Some(1)).await;
    answering(&hook, 200, None).await;
    let mut sandbox = team(backend, "a_hand_over_is_notified_signed_retrie", &hook, &[]);
    // The URL is a credential: in no listing, export or audit row.
    for shown in [
        sandbox.ok(&["account", "list", "--json"]),
        serde_json::to_string(&sandbox.audit()).unwrap(),
    ] {
        assert!(!shown.contains("/hooks/team"), "{shown}");
    }

    sandbox.ok(&[
        "inbox",
        "push",
        "anna",
        "I was charged twice, I want a human",
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(received(&hook).await.len(), 1, "tried once, refused");
    // A minute on, tried again, and taken.
    sandbox.at("2026-11-27T10:01:30Z");
    sandbox.ok(&["run", "--until-idle"]);
    let requests = received(&hook).await;
    assert_eq!(requests.len(), 2);
    let sent = &requests[1];
    let body: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(
        (&body["event"], &body["lead"], &body["account"]),
        (&"needs-person".into(), &"anna".into(), &"default".into())
    );
    assert_eq!(
        body["text"],
        "@anna needs a person (account default): ai-reply handed them over: trigger word 'human'"
    );
    // The lead's words stay out unless the account asks for them.
    assert!(body.get("message").is_none());
    assert!(!String::from_utf8_lossy(&sent.body).contains("charged"));
    let signature = sent.headers.get("x-outreach-signature").unwrap();
    assert_eq!(
        signature.to_str().unwrap(),
        outreach::channels::signing::sign(SECRET.as_bytes(), &sent.body)
    );
    assert_eq!(
        requests[0].headers.get("idempotency-key"),
        sent.headers.get("idempotency-key"),
        "a retry is the same notification"
    );
    // Sent once: later passes send nothing more.
    sandbox.at("2026-11-27T12:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(received(&hook).await.len(), 2);
}

async fn the_last_message_goes_only_when_asked_and_nothing_once_the_lead_is_forgotten(
    backend: Backend,
) {
    let hook = MockServer::start().await;
    answering(&hook, 503, Some(1)).await;
    answering(&hook, 200, None).await;
    let mut sandbox = team(
        backend,
        "the_last_message_goes_only_when_aske",
        &hook,
        &["--with-text"],
    );
    // Refused at first, then the lead is forgotten before the retry: nothing about them
    // may go out any more.
    sandbox.ok(&["inbox", "push", "carl", "human please <!channel>"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(received(&hook).await.len(), 1);
    sandbox.ok(&["leads", "forget", "carl"]);
    sandbox.ok(&["inbox", "push", "dora", "a human, please: <!channel>"]);
    sandbox.at("2026-11-27T10:05:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let requests = received(&hook).await;
    assert_eq!(requests.len(), 2, "dora's, and nothing more of carl's");
    let body: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(body["lead"], "dora");
    assert_eq!(body["message"], "a human, please: <!channel>");
    // In Slack's text the lead's words cannot ping anyone.
    let text = body["text"].as_str().unwrap();
    assert!(
        text.ends_with("\n&gt; a human, please: &lt;!channel&gt;"),
        "{text}"
    );

    sandbox.ok(&["account", "notify", "default", "--off"]);
    sandbox.ok(&["inbox", "push", "emil", "human!"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(received(&hook).await.len(), 2, "off is off");
}

async fn a_redirect_is_not_followed_and_a_url_that_is_gone_is_given_up(backend: Backend) {
    let hook = MockServer::start().await;
    // A redirect would take the URL (a credential) and the lead's data elsewhere.
    let elsewhere = format!("{}/elsewhere", hook.uri());
    Mock::given(method("POST"))
        .and(path("/hooks/team"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", elsewhere.as_str()))
        .up_to_n_times(1)
        .mount(&hook)
        .await;
    answering(&hook, 410, None).await;
    let mut sandbox = team(backend, "a_redirect_is_not_followed_and_a_url", &hook, &[]);
    sandbox.ok(&["inbox", "push", "anna", "a human please"]);
    sandbox.ok(&["run", "--until-idle"]);
    let paths = |requests: Vec<Request>| -> Vec<String> {
        requests.iter().map(|r| r.url.path().to_owned()).collect()
    };
    assert_eq!(
        paths(received(&hook).await),
        ["/hooks/team"],
        "not followed"
    );
    // Tried again a minute on: gone (410) is gone, and not asked again.
    sandbox.at("2026-11-27T10:01:30Z");
    sandbox.ok(&["run", "--until-idle"]);
    sandbox.at("2026-11-28T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(paths(received(&hook).await), ["/hooks/team", "/hooks/team"]);
}

on_both_backends!(
    async: a_hand_over_is_notified_signed_retried_and_sent_once,
    a_redirect_is_not_followed_and_a_url_that_is_gone_is_given_up,
    the_last_message_goes_only_when_asked_and_nothing_once_the_lead_is_forgotten,
);
