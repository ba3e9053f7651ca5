//! Several `outreach serve` workers on one PostgreSQL database share the work, and one of
//! them is killed (SIGKILL) every few seconds and started again, while 2,000 leads go
//! through filter → first message → a person writes → AI reply → follow-up on silence:
//! every message goes out once, every question is answered once, nothing is lost, the
//! daily cap of an account holds exactly across workers, and every event ends.
//!
//! The AI provider and the bridge's sender are servers on 127.0.0.1 speaking their real
//! wire formats; the provider takes its time, as real ones do.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use support::{Backend, Received, Sandbox, Served, serve, start, start_bridge};

const SECRET: &str = "bridge-shared-secret";
const WORKERS: usize = 3;
/// Leads of the main account; every other one writes back.
const LEADS: usize = 1_800;
/// Leads of an account whose daily cap is smaller than they are.
const CAPPED_LEADS: usize = 200;
const CAP: usize = 120;
const AI_LATENCY: Duration = Duration::from_millis(300);
const KILL_EVERY: Duration = Duration::from_secs(3);

/// An OpenAI-compatible provider that answers "Answer to: <the last user message>" after
/// [`AI_LATENCY`].
async fn completion(Json(body): Json<Value>) -> Json<Value> {
    tokio::time::sleep(AI_LATENCY).await;
    Json(support::answer_to_last_message(&body))
}

/// The workers; a task kills one (in turn) every [`KILL_EVERY`] and starts another in its
/// place, until they are stopped.
struct Workers {
    running: Arc<Mutex<Vec<Served>>>,
    kills: Arc<AtomicUsize>,
    churn: tokio::task::JoinHandle<()>,
}

impl Workers {
    fn start(sandbox: &Arc<Mutex<Sandbox>>) -> Self {
        let running: Vec<Served> = (0..WORKERS)
            .map(|_| serve(&sandbox.lock().unwrap()))
            .collect();
        let running = Arc::new(Mutex::new(running));
        let kills = Arc::new(AtomicUsize::new(0));
        let churn = tokio::spawn({
            let (sandbox, running, kills) = (sandbox.clone(), running.clone(), kills.clone());
            async move {
                loop {
                    tokio::time::sleep(KILL_EVERY).await;
                    let next = serve(&sandbox.lock().unwrap());
                    let victim = kills.fetch_add(1, Ordering::SeqCst) % WORKERS;
                    // The old one is SIGKILLed as it drops.
                    running.lock().unwrap()[victim] = next;
                }
            }
        });
        Self {
            running,
            kills,
            churn,
        }
    }

    fn base(&self, i: usize) -> String {
        self.running.lock().unwrap()[i % WORKERS].base().to_owned()
    }

    /// Stops the churn and the workers; returns how many were killed.
    fn stop(self) -> usize {
        self.churn.abort();
        self.running.lock().unwrap().clear();
        self.kills.load(Ordering::SeqCst)
    }
}

/// Waits until `done` holds.
async fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Distinct messages (by idempotency key) per handle whose text starts with `prefix`.
fn sent(received: &Received, prefix: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    let mut by_handle: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for (key, handle, text) in received.lock().unwrap().iter() {
        if text.starts_with(prefix) {
            by_handle
                .entry(handle.clone())
                .or_default()
                .insert((key.clone(), text.clone()));
        }
    }
    by_handle
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_killed_in_turn_send_every_message_once_and_keep_the_cap() {
    let (bridge, received) = start_bridge().await;
    let ai = start(axum::Router::new().route("/api/v1/chat/completions", post(completion))).await;

    let config = format!(
        "[engine]\npoll_ms = 20\nconcurrency = 48\nlease_ms = 1500\n\n[limits]\ninstances = 56\n\n\
         [ai]\nbase_url = \"{ai}/api/v1\"\ntimeout_seconds = 60\n"
    );
    let mut sandbox = Sandbox::on(Backend::Postgres, "workers", &config);
    sandbox.at("2026-11-30T09:00:00Z");
    for (name, value) in [
        ("OUTREACH_SECRET_KEY", "a long test key for sealing secrets"),
        ("OUTREACH_BRIDGE_SECRET", SECRET),
        ("OPENROUTER_API_KEY", "sk-or-v1-workers-test"),
    ] {
        sandbox.env.push((name.into(), value.into()));
    }
    let url = format!("{bridge}/outbox");
    for (account, cap) in [("wa", "100000"), ("capped", &CAP.to_string()[..])] {
        sandbox.ok(&[
            "account",
            "add",
            account,
            "--channel",
            "bridge",
            "--bridge-url",
            &url,
            "--daily-cap",
            cap,
        ]);
    }
    for plugin in ["lead-scorer", "followup", "ai-reply"] {
        sandbox.ok(&["plugin", "install", plugin, "--grant-requested"]);
    }
    let steps = r#"steps=[{"after_hours": 0, "variants": ["First message for {handle}"]}, {"after_hours": 0, "variants": ["Follow-up for {handle}"]}]"#;
    sandbox.ok(&["plugin", "config", "followup", steps]);
    sandbox.ok(&["plugin", "config", "lead-scorer", "min_score=0"]);
    let leads: String = (0..LEADS).map(|i| format!("lead{i},Lead {i}\n")).collect();
    let file = sandbox.write("leads.csv", &format!("handle,name\n{leads}"));
    sandbox.ok(&["leads", "import", file.to_str().unwrap(), "--account", "wa"]);
    let capped: String = (0..CAPPED_LEADS)
        .map(|i| format!("capped{i},Capped {i}\n"))
        .collect();
    let file = sandbox.write("capped.csv", &format!("handle,name\n{capped}"));
    sandbox.ok(&[
        "leads",
        "import",
        file.to_str().unwrap(),
        "--account",
        "capped",
    ]);

    // Phase 1: first messages go out; every other lead writes back once theirs arrives, to
    // whichever worker, and gets an AI answer.
    let sandbox = Arc::new(Mutex::new(sandbox));
    let started = Instant::now();
    let workers = Workers::start(&sandbox);
    let mut written = BTreeSet::new();
    let writers: BTreeSet<String> = (0..LEADS).step_by(2).map(|i| format!("lead{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(600);
    while written.len() < writers.len() {
        assert!(
            Instant::now() < deadline,
            "timed out: {} of the writers wrote",
            written.len()
        );
        let greeted: Vec<String> = sent(&received, "First message")
            .into_keys()
            .filter(|h| writers.contains(h) && !written.contains(h))
            .collect();
        for (n, handle) in greeted.into_iter().enumerate() {
            let message = json!({"id": format!("in-{handle}"), "handle": handle, "text": format!("question from {handle}")});
            // A worker killed just now refuses the connection; the message is sent again,
            // as a bridge does, to the next one.
            let mut attempt = n;
            while deliver_to_bridge_or_fail(&workers.base(attempt), &message).await != Some(200) {
                attempt += 1;
            }
            written.insert(handle);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until("every question answered", Duration::from_secs(600), || {
        sent(&received, "Answer to:").len() == writers.len()
    })
    .await;
    let phase_one = started.elapsed();
    let mut kills = workers.stop();

    // Phase 2, an hour later: the leads who stayed silent get the follow-up.
    sandbox.lock().unwrap().at("2026-11-30T10:00:00Z");
    let workers = Workers::start(&sandbox);
    // (The capped account may spend what is left of its cap on a follow-up too.)
    let of_main_account = |by_handle: BTreeMap<String, BTreeSet<(String, String)>>| {
        by_handle
            .into_keys()
            .filter(|h| h.starts_with("lead"))
            .count()
    };
    wait_until(
        "every silent lead followed up",
        Duration::from_secs(600),
        || of_main_account(sent(&received, "Follow-up")) == LEADS - writers.len(),
    )
    .await;
    // A moment for anything that would go out twice or past the cap.
    tokio::time::sleep(Duration::from_secs(2)).await;
    kills += workers.stop();
    let sandbox = sandbox.lock().unwrap();

    let posts = received.lock().unwrap().len();
    let first = sent(&received, "First message");
    let answers = sent(&received, "Answer to:");
    let follow_ups = sent(&received, "Follow-up");
    let distinct: usize = [&first, &answers, &follow_ups]
        .iter()
        .map(|m| m.values().map(BTreeSet::len).sum::<usize>())
        .sum();
    eprintln!(
        "{WORKERS} workers, {kills} kills; phase 1 (first messages and answers) {phase_one:?}; \
         {distinct} messages, {posts} POSTs to the bridge ({} repeated with their key after a kill)",
        posts - distinct
    );
    // Every lead of the main account got one first message; every writer one answer, to
    // their own question; every silent lead one follow-up, and no writer one.
    for i in 0..LEADS {
        let handle = format!("lead{i}");
        assert_eq!(
            first.get(&handle).map(BTreeSet::len),
            Some(1),
            "{handle}: {:?}",
            first.get(&handle)
        );
        if writers.contains(&handle) {
            let got = &answers[&handle];
            assert_eq!(got.len(), 1, "{handle}: {got:?}");
            assert_eq!(
                got.first().unwrap().1,
                format!("Answer to: question from {handle}")
            );
            assert!(
                !follow_ups.contains_key(&handle),
                "{handle} wrote, and was followed up"
            );
        } else {
            assert_eq!(
                follow_ups.get(&handle).map(BTreeSet::len),
                Some(1),
                "{handle}"
            );
        }
    }
    // The capped account sent exactly its cap, across all workers, and no more: first
    // messages, and a follow-up when its sends ran on into the second phase.
    let capped_sent: usize = [&first, &follow_ups]
        .iter()
        .flat_map(|sent| sent.iter())
        .filter(|(handle, _)| handle.starts_with("capped"))
        .map(|(_, keys)| keys.len())
        .sum();
    assert_eq!(capped_sent, CAP, "the daily cap of 'capped'");
    // Every event ended; none is left claimed or pending.
    let events = sandbox.json(&["events", "--limit", "100000"]);
    let events = events.as_array().unwrap();
    let unfinished: Vec<&Value> = events.iter().filter(|e| e["status"] != "done").collect();
    assert!(
        unfinished.is_empty(),
        "{} unfinished: {:?}",
        unfinished.len(),
        &unfinished[..unfinished.len().min(3)]
    );
    let of_kind = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(of_kind("lead-imported"), LEADS + CAPPED_LEADS);
    assert_eq!(
        of_kind("inbound"),
        writers.len(),
        "each message stored once"
    );
    // Every lead's first step; the second of the silent ones and of the capped account's
    // (queued behind its cap).
    assert_eq!(
        of_kind("follow-up"),
        LEADS + CAPPED_LEADS + (LEADS - writers.len()) + CAPPED_LEADS
    );
}

/// The status of a bridge delivery, or `None` when the worker is not there to answer (it
/// was just killed).
async fn deliver_to_bridge_or_fail(base: &str, message: &Value) -> Option<u16> {
    let body = serde_json::to_vec(message).unwrap();
    let signature = outreach::channels::signing::sign(SECRET.as_bytes(), &body);
    let response = reqwest::Client::new()
        .post(format!("{base}/webhooks/bridge/wa"))
        .header("X-Outreach-Signature", signature)
        .body(body)
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}
