//! The engine answers many conversations at once, on the real binary: `outreach serve`
//! killed (SIGKILL) again and again while 64 AI replies are in flight, restarted,
//! and left to finish — every message answered exactly once through the bridge channel;
//! and a grant revoked while calls are in flight holds from the next call.
//!
//! The AI provider and the bridge's sender are small servers on 127.0.0.1 speaking their
//! real wire formats; the provider takes its time, as real ones do.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use support::{Sandbox, Served, deliver_to_bridge, eventually_within, serve, start, start_bridge};

const SECRET: &str = "bridge-shared-secret";
const AI_KEY: &str = "sk-or-v1-concurrency-test";
const LEADS: usize = 64;

/// A slow OpenAI-compatible provider that answers "Answer to: <the last user message>".
#[derive(Default)]
struct Provider {
    latency_ms: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    requests: AtomicUsize,
    /// Which `serve` is asking (the test counts up at each restart): requests a killed
    /// process left are still being answered when the next one starts.
    generation: AtomicUsize,
    /// Per generation: requests that arrived, and those answered.
    by_generation: Mutex<BTreeMap<usize, (usize, usize)>>,
    /// Requests still to refuse with a 429 and `Retry-After: 2`.
    refuse: AtomicUsize,
    /// When each request arrived.
    arrivals: Mutex<Vec<std::time::Instant>>,
}

impl Provider {
    /// Requests of the current `serve` being answered now.
    fn in_flight_now(&self) -> usize {
        let generation = self.generation.load(Ordering::SeqCst);
        let by_generation = self.by_generation.lock().unwrap();
        by_generation
            .get(&generation)
            .map_or(0, |(arrived, answered)| arrived - answered)
    }
}

async fn completion(
    State(ai): State<Arc<Provider>>,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    ai.arrivals.lock().unwrap().push(std::time::Instant::now());
    let refused = ai
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refused {
        let error = json!({"error": {"message": "Rate limit exceeded", "type": "rate_limit_error",
                                     "param": null, "code": 429}});
        return (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "2")],
            Json(error),
        )
            .into_response();
    }
    let now = ai.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    ai.most_in_flight.fetch_max(now, Ordering::SeqCst);
    ai.requests.fetch_add(1, Ordering::SeqCst);
    let generation = ai.generation.load(Ordering::SeqCst);
    ai.by_generation
        .lock()
        .unwrap()
        .entry(generation)
        .or_default()
        .0 += 1;
    let wait = ai.latency_ms.load(Ordering::SeqCst) as u64;
    tokio::time::sleep(Duration::from_millis(wait)).await;
    ai.in_flight.fetch_sub(1, Ordering::SeqCst);
    ai.by_generation
        .lock()
        .unwrap()
        .entry(generation)
        .or_default()
        .1 += 1;
    Json(support::answer_to_last_message(&body)).into_response()
}

async fn start_provider(latency_ms: usize) -> (String, Arc<Provider>) {
    let ai = Arc::new(Provider::default());
    ai.latency_ms.store(latency_ms, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/api/v1/chat/completions", post(completion))
        .with_state(ai.clone());
    (start(app).await, ai)
}

/// A sandbox with the bridge account `wa`, ai-reply installed and granted, and the
/// provider at `ai_base`.
fn sandbox(ai_base: &str, bridge_base: &str) -> Sandbox {
    sandbox_with(ai_base, bridge_base, "")
}

/// [`sandbox`] with `extra_ai` lines in the `[ai]` section.
fn sandbox_with(ai_base: &str, bridge_base: &str, extra_ai: &str) -> Sandbox {
    let config = format!(
        "[engine]\npoll_ms = 20\nconcurrency = 64\n\n[limits]\ninstances = 64\n\n[ai]\nbase_url = \"{ai_base}/api/v1\"\ntimeout_seconds = 60\n{extra_ai}"
    );
    let mut sandbox = Sandbox::new(&config);
    sandbox.env.push((
        "OUTREACH_SECRET_KEY".into(),
        "a long test key for sealing secrets".into(),
    ));
    sandbox
        .env
        .push(("OUTREACH_BRIDGE_SECRET".into(), SECRET.into()));
    sandbox
        .env
        .push(("OPENROUTER_API_KEY".into(), AI_KEY.into()));
    let url = format!("{bridge_base}/outbox");
    sandbox.ok(&[
        "account",
        "add",
        "wa",
        "--channel",
        "bridge",
        "--bridge-url",
        &url,
        "--daily-cap",
        "1000",
    ]);
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox
}

async fn write_in(served: &Served, handle: &str, id: &str, text: &str) {
    let message = json!({"id": id, "handle": handle, "text": text});
    assert_eq!(
        deliver_to_bridge(served.base(), "wa", &message, SECRET).await,
        200
    );
}

async fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_serve_with_dozens_of_ai_replies_in_flight_answers_every_message_once() {
    let (ai_base, ai) = start_provider(1_500).await;
    let (bridge_base, received) = start_bridge().await;
    let sandbox = sandbox(&ai_base, &bridge_base);

    // 64 people write at once; the service starts answering all of them together.
    let served = serve(&sandbox);
    for i in 0..LEADS {
        write_in(
            &served,
            &format!("writer{i}"),
            &format!("m{i}"),
            &format!("question {i}"),
        )
        .await;
    }
    let mut in_flight_at_kills = Vec::new();
    let mut served = Some(served);
    for round in 0..3 {
        // Killed once dozens of this process's replies are being made (the provider holds
        // each 1.5 s), at a different point of them each time.
        wait_for(
            "every lead's AI request in flight",
            Duration::from_secs(30),
            || ai.in_flight_now() == LEADS,
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300 * round)).await;
        in_flight_at_kills.push(ai.in_flight_now());
        drop(served.take()); // SIGKILL
        ai.generation.fetch_add(1, Ordering::SeqCst);
        served = Some(serve(&sandbox));
    }
    // Then it is left to finish, faster.
    ai.latency_ms.store(50, Ordering::SeqCst);
    eventually_within(Duration::from_secs(60), "every lead to be answered", || {
        let received = received.lock().unwrap();
        let answered: std::collections::HashSet<&str> = received
            .iter()
            .map(|(_, handle, _)| handle.as_str())
            .collect();
        answered.len() == LEADS
    });
    // A moment for anything that would go out twice.
    std::thread::sleep(Duration::from_millis(500));
    drop(served);

    eprintln!(
        "AI requests in flight at the kills: {in_flight_at_kills:?}; at most {} at once; {} requests in all",
        ai.most_in_flight.load(Ordering::SeqCst),
        ai.requests.load(Ordering::SeqCst)
    );
    assert_eq!(
        in_flight_at_kills, [LEADS; 3],
        "every kill came with all replies in flight"
    );
    // Exactly one reply per lead, to that lead's own question: a send repeated after a
    // crash reuses its idempotency key, which the sender dedupes on.
    let mut replies: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (key, handle, text) in received.lock().unwrap().iter() {
        let keys = replies.entry(handle.clone()).or_default();
        if !keys.iter().any(|(k, _)| k == key) {
            keys.push((key.clone(), text.clone()));
        }
    }
    assert_eq!(replies.len(), LEADS, "lost: {replies:?}");
    for (handle, got) in &replies {
        let i = handle.strip_prefix("writer").unwrap();
        assert_eq!(
            got,
            &[(got[0].0.clone(), format!("Answer to: question {i}"))],
            "{handle}"
        );
    }
    let events = sandbox.json(&["events", "--limit", "1000"]);
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), LEADS);
    assert!(events.iter().all(|e| e["status"] == "done"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_revoked_while_replies_are_in_flight_holds_from_the_next_call() {
    let (ai_base, ai) = start_provider(1_000).await;
    let (bridge_base, received) = start_bridge().await;
    let sandbox = sandbox(&ai_base, &bridge_base);
    // One call at a time for this plugin: the second lead's call starts after the revoke.
    sandbox.ok(&["plugin", "config", "ai-reply", "limits.concurrency=1"]);
    let served = serve(&sandbox);
    write_in(&served, "first", "g1", "hello").await;
    write_in(&served, "second", "g2", "hello").await;
    wait_for("the first AI request", Duration::from_secs(20), || {
        ai.in_flight.load(Ordering::SeqCst) == 1
    })
    .await;
    // While the first reply is being made, the user takes back `ai:generate`.
    sandbox.ok(&["plugin", "revoke", "ai-reply", "ai:generate"]);
    eventually_within(Duration::from_secs(20), "both events to be handled", || {
        let events = sandbox.json(&["events"]);
        let events = events.as_array().unwrap();
        events.len() == 2 && events.iter().all(|e| e["status"] == "done")
    });
    // The call under way when the grant went finished as it began: its answer went out.
    eventually_within(
        Duration::from_secs(10),
        "the first answer to go out",
        || received.lock().unwrap().len() == 1,
    );
    drop(served);
    assert_eq!(
        ai.requests.load(Ordering::SeqCst),
        1,
        "no request after the revoke"
    );
    assert_eq!(ai.most_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(received.lock().unwrap()[0].1, "first");
    let second = sandbox.lead("second");
    assert_eq!(second["lead"]["status"], "needs-human", "{second}");
    let denied = sandbox
        .audit()
        .into_iter()
        .any(|row| row["action"] == "ai.generate" && row["allowed"] == false);
    assert!(denied, "the refused call is audited");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_to_the_provider_are_bounded_across_all_calls() {
    let (ai_base, ai) = start_provider(300).await;
    let (bridge_base, received) = start_bridge().await;
    let sandbox = sandbox_with(&ai_base, &bridge_base, "max_concurrent = 3\n");
    let served = serve(&sandbox);
    for i in 0..12 {
        write_in(&served, &format!("asker{i}"), &format!("b{i}"), "hello").await;
    }
    eventually_within(Duration::from_secs(30), "every lead to be answered", || {
        received.lock().unwrap().len() == 12
    });
    drop(served);
    assert_eq!(ai.requests.load(Ordering::SeqCst), 12);
    assert_eq!(
        ai.most_in_flight.load(Ordering::SeqCst),
        3,
        "ai.max_concurrent = 3 with 12 hook calls at once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_holds_every_call_back_for_its_retry_after() {
    let (ai_base, ai) = start_provider(50).await;
    ai.refuse.store(1, Ordering::SeqCst);
    let (bridge_base, received) = start_bridge().await;
    // One request at a time: the first is refused, the rest wait for their turn behind it.
    let sandbox = sandbox_with(&ai_base, &bridge_base, "max_concurrent = 1\n");
    let served = serve(&sandbox);
    for i in 0..6 {
        write_in(&served, &format!("patient{i}"), &format!("r{i}"), "hello").await;
    }
    eventually_within(Duration::from_secs(30), "every lead to be answered", || {
        received.lock().unwrap().len() == 6
    });
    drop(served);
    let arrivals = ai.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 7, "six answers and the one refused");
    // Whatever the other calls were doing, none asked again within the 2 s the provider
    // said (retry_backoff_ms alone would have let them after 0.5 s).
    let refused_at = arrivals[0];
    let next = arrivals[1..].iter().min().unwrap();
    assert!(
        next.duration_since(refused_at) >= Duration::from_millis(1_900),
        "a request {:?} after the 429",
        next.duration_since(refused_at)
    );
}
