//! Sends on Instagram are at most once, and never lost, across crashes: the engine is killed
//! (SIGKILL) at random points while a fake Graph API holds requests open, restarted, and
//! finally left to finish. Every queued reply must reach its lead exactly once.
//!
//! The fake Graph API is a small HTTP server on 127.0.0.1 (not wiremock) because it has to
//! notice a client vanishing in the middle of a request: Meta may have taken the message
//! anyway, or not, and the engine cannot know which.

mod support;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use outreach::channels::instagram::webhook::signature_header;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use support::{Sandbox, Served, eventually, hostile_wasm, serve};

const APP_SECRET: &str = "test-app-secret";
const TOKEN: &str = "IGQVJtest-access-token";
const IG_ACCOUNT: &str = "17841400000000001";
/// Leads in the kill test, each with an open 24-hour window and 1–3 replies queued.
const LEADS: usize = 60;
/// At most this many kills; fewer if everything went out before.
const MAX_KILLS: usize = 40;

/// A message the fake Graph API delivered: what the lead really got.
#[derive(Debug, Clone)]
struct Dm {
    id: String,
    recipient: String,
    text: String,
    created: chrono::DateTime<chrono::Utc>,
}

/// What the fake does with one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Delivers it and answers at once.
    Now,
    /// Delivers it on arrival and holds the answer this long.
    Taken(Duration),
    /// Delivers it only after this long (Meta still processing), whether or not the client
    /// is still there, and answers then.
    Late(Duration),
    /// Holds it this long, then delivers and answers; a client that leaves meanwhile
    /// loses it (Meta never took it).
    Fragile(Duration),
    /// Refuses it with a 500: nothing delivered, the outcome unknown to the sender.
    Fail,
}

/// How the fake Graph API behaves, and what it took.
struct GraphState {
    delivered: Vec<Dm>,
    /// Requests whose answer is being held right now.
    holding: usize,
    rng: StdRng,
    /// The share of sends (percent) whose answer is held, and for how long at most.
    hold_percent: u32,
    max_hold: Duration,
    /// What happens to particular sends, by index (0 is the first); the rest at random.
    plan: BTreeMap<usize, Plan>,
    sends: usize,
    next_id: usize,
    /// Held requests whose client vanished, by what the fake then did.
    abandoned: BTreeMap<&'static str, usize>,
    /// The `fields` asked of the Conversations API.
    conversation_fields: Vec<String>,
}

#[derive(Clone)]
struct Graph {
    state: Arc<Mutex<GraphState>>,
    base: String,
}

impl Graph {
    /// Starts the fake on a free port.
    fn start(seed: u64, hold_percent: u32, max_hold: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let graph = Self {
            state: Arc::new(Mutex::new(GraphState {
                delivered: Vec::new(),
                holding: 0,
                rng: StdRng::seed_from_u64(seed),
                hold_percent,
                max_hold,
                plan: BTreeMap::new(),
                sends: 0,
                next_id: 0,
                abandoned: BTreeMap::new(),
                conversation_fields: Vec::new(),
            })),
            base: format!("http://{}", listener.local_addr().unwrap()),
        };
        let server = graph.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || server.serve(stream));
            }
        });
        graph
    }

    fn state(&self) -> MutexGuard<'_, GraphState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sends(&self) -> usize {
        self.state().sends
    }

    fn delivered(&self) -> Vec<Dm> {
        self.state().delivered.clone()
    }

    fn holding(&self) -> bool {
        self.state().holding > 0
    }

    fn deliver(&self, recipient: &str, text: &str) -> String {
        let mut state = self.state();
        let id = format!("aWdfZAG1faW.{}", state.next_id);
        state.next_id += 1;
        state.delivered.push(Dm {
            id: id.clone(),
            recipient: recipient.to_owned(),
            text: text.to_owned(),
            created: chrono::Utc::now(),
        });
        id
    }

    /// One connection, one request (answers say `Connection: close`).
    fn serve(&self, mut stream: TcpStream) {
        let Some((target, body)) = read_request(&mut stream) else {
            return;
        };
        let url = reqwest::Url::parse(&format!("http://graph{target}")).unwrap();
        let (status, answer) = match url.path() {
            "/v21.0/me/messages" => match self.send(&mut stream, &body) {
                Some(answer) => answer,
                None => return,
            },
            "/v21.0/me/conversations" => (200, self.conversations(&url)),
            // The User Profile API knows nobody: leads keep their stand-in handles.
            _ => (
                400,
                json!({"error": {"message": "Unsupported get request.",
                    "type": "GraphMethodException", "code": 100, "error_subcode": 33}}),
            ),
        };
        let body = answer.to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// `POST /me/messages`; `None` when the client left before its answer.
    fn send(&self, stream: &mut TcpStream, body: &[u8]) -> Option<(u16, Value)> {
        let body: Value = serde_json::from_slice(body).unwrap();
        let recipient = body["recipient"]["id"].as_str().unwrap().to_owned();
        let text = body["message"]["text"].as_str().unwrap().to_owned();
        let plan = {
            let mut state = self.state();
            let index = state.sends;
            state.sends += 1;
            let max_hold = state.max_hold.as_millis() as u64;
            let planned = state.plan.get(&index).copied();
            let plan = planned.unwrap_or_else(|| {
                if state.rng.gen_range(0..100) >= state.hold_percent {
                    return Plan::Now;
                }
                let hold = Duration::from_millis(state.rng.gen_range(50..=max_hold));
                match state.rng.gen_range(0..3) {
                    0 => Plan::Taken(hold),
                    1 => Plan::Late(hold),
                    _ => Plan::Fragile(hold),
                }
            });
            if !matches!(plan, Plan::Now | Plan::Fail) {
                state.holding += 1;
            }
            plan
        };
        let answer = |id: &str| (200, json!({"recipient_id": recipient, "message_id": id}));
        let (hold, delivered_on_arrival) = match plan {
            Plan::Now => return Some(answer(&self.deliver(&recipient, &text))),
            Plan::Fail => {
                return Some((
                    500,
                    json!({"error": {"message": "An unexpected error has occurred.",
                        "type": "OAuthException", "code": 2}}),
                ));
            }
            Plan::Taken(hold) => (hold, Some(self.deliver(&recipient, &text))),
            Plan::Late(hold) | Plan::Fragile(hold) => (hold, None),
        };
        let stayed = wait_unless_gone(stream, hold);
        self.state().holding -= 1;
        if !stayed {
            let what = match plan {
                Plan::Taken(_) => "delivered on arrival",
                Plan::Late(_) => "delivered after the client left",
                _ => "never delivered",
            };
            *self.state().abandoned.entry(what).or_default() += 1;
        }
        let id = match (plan, delivered_on_arrival) {
            (_, Some(id)) => id,
            (Plan::Fragile(_), None) if !stayed => return None,
            _ => self.deliver(&recipient, &text),
        };
        if !stayed {
            return None;
        }
        Some(answer(&id))
    }

    /// `GET /me/conversations?user_id=…`: the conversation as the fake delivered it,
    /// newest first, with ids and creation times (whole seconds, as Meta gives them).
    fn conversations(&self, url: &reqwest::Url) -> Value {
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        let user = query.get("user_id").cloned().unwrap_or_default();
        let mut state = self.state();
        state
            .conversation_fields
            .push(query.get("fields").cloned().unwrap_or_default());
        let messages: Vec<Value> = state
            .delivered
            .iter()
            .rev()
            .filter(|m| m.recipient == user)
            .map(|m| {
                json!({
                    "id": m.id,
                    "message": m.text,
                    "created_time": m.created.format("%Y-%m-%dT%H:%M:%S+0000").to_string(),
                })
            })
            .collect();
        json!({"data": [{"id": format!("conv_{user}"), "messages": {"data": messages}}]})
    }
}

/// Reads one HTTP/1.1 request: its target and body.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let target = head.split_whitespace().nth(1)?.to_owned();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&chunk[..n]);
    }
    Some((target, data[head_end..head_end + length].to_vec()))
}

/// Waits `hold`, watching the connection; false as soon as the client closes it.
fn wait_unless_gone(stream: &mut TcpStream, hold: Duration) -> bool {
    let deadline = Instant::now() + hold;
    let mut byte = [0u8; 64];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        let _ = stream.set_read_timeout(Some(left.min(Duration::from_millis(10))));
        match stream.read(&mut byte) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return false,
        }
    }
    true
}

fn sandbox(extra_config: &str) -> Sandbox {
    support::instagram_sandbox(APP_SECRET, "unused", TOKEN, extra_config)
}

fn add_account(sandbox: &Sandbox, graph: &Graph) {
    sandbox.ok(&[
        "account",
        "add",
        "shop",
        "--channel",
        "instagram",
        "--ig-user-id",
        IG_ACCOUNT,
        "--base-url",
        &graph.base,
        "--daily-cap",
        "1000",
    ]);
}

fn message(sender: &str, mid: &str, text: &str, at: i64) -> Value {
    json!({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": at, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": IG_ACCOUNT}, "timestamp": at,
        "message": {"mid": mid, "text": text}
    }]}]})
}

async fn post(client: &reqwest::Client, served: &Served, body: &Value) {
    let body = serde_json::to_vec(body).unwrap();
    let status = client
        .post(&served.url)
        .header(
            "X-Hub-Signature-256",
            signature_header(APP_SECRET.as_bytes(), &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
}

/// Whether every event was handled (and so every reply queued).
fn all_events_done(sandbox: &Sandbox, count: usize) -> bool {
    let events = sandbox.json(&["events", "--limit", "10000"]);
    let events = events.as_array().unwrap();
    events.len() == count && events.iter().all(|e| e["status"] == "done")
}

/// Runs `outreach run --until-idle` until nothing is left in the outbox.
fn finish(sandbox: &Sandbox, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let out = sandbox.ok(&["run", "--until-idle"]);
        if out.contains(" 0 waiting in the outbox") {
            return;
        }
        assert!(Instant::now() < deadline, "the outbox did not empty: {out}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_engine_mid_send_neither_duplicates_nor_loses_a_message() {
    let started = Instant::now();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (CRASH_SEED={seed} repeats this run)");
    let mut rng = StdRng::seed_from_u64(seed);
    let graph = Graph::start(seed, 45, Duration::from_millis(600));
    let sandbox = sandbox("");
    add_account(&sandbox, &graph);
    sandbox.install_unsigned(&hostile_wasm());
    // Nothing goes out while the replies are queued.
    sandbox.ok(&["account", "pause", "shop"]);

    // Leads write 1–3 messages; some write the same thing twice and so get two identical
    // replies, which reconciliation must tell apart.
    let served = serve(&sandbox);
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp_millis();
    // Each message of a lead is answered once, alone or with the messages it came with
    // (one reply to a burst): what is expected is each lead's messages, once each.
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut inbound = 0;
    for lead in 0..LEADS {
        let igsid = format!("90{lead:03}");
        let texts: Vec<String> = match lead % 5 {
            0 => vec!["hello".into(), "hello".into()],
            1 => vec![format!("question {lead}")],
            2 => vec!["hi".into(), format!("more {lead}"), "hi".into()],
            3 => vec![format!("price {lead}"), format!("size {lead}")],
            _ => vec!["same".into()],
        };
        for (n, text) in texts.iter().enumerate() {
            let at = now - 60_000 + n as i64 * 1_000;
            post(
                &client,
                &served,
                &message(&igsid, &format!("m_{igsid}_{n}"), text, at),
            )
            .await;
            *expected.entry((igsid.clone(), text.clone())).or_default() += 1;
            inbound += 1;
        }
    }
    eventually("every reply to be queued", || {
        all_events_done(&sandbox, inbound)
    });
    drop(served);
    sandbox.ok(&["account", "resume", "shop"]);
    let queued = (0..LEADS)
        .map(|lead| {
            sandbox.lead(&format!("ig_90{lead:03}"))["outbox"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum::<usize>();
    eprintln!(
        "{queued} replies queued for {inbound} messages of {LEADS} leads in {:?}",
        started.elapsed()
    );

    // Kill the engine again and again, mostly while an answer is held open.
    let mut kills = 0;
    let mut mid_request = 0;
    while kills < MAX_KILLS && graph.delivered().len() < queued {
        let before = graph.sends();
        let mut child = sandbox
            .command(&["run"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let how = rng.gen_range(0..100);
        if how < 15 {
            // While it starts, reconciles or runs the plugins.
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
        } else {
            // Once this run sends (a restart first reconciles, and rows whose last send
            // may still be in flight wait for it to settle)…
            let deadline = Instant::now() + Duration::from_secs(3);
            while graph.sends() == before && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if how < 70 {
                // …as soon as an answer is held open, at a random point inside it…
                let deadline = Instant::now() + Duration::from_millis(800);
                while !graph.holding() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
            } else {
                // …or anywhere.
                tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
            }
        }
        mid_request += usize::from(graph.holding());
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let delivered_when_killed = graph.delivered().len();
    // Then no more kills: the engine finishes the outbox.
    finish(&sandbox, Duration::from_secs(25));
    // (Nothing is held any more: every late delivery has happened.)
    eventually("held requests to end", || !graph.holding());

    let mut got: BTreeMap<(String, String), usize> = BTreeMap::new();
    for dm in graph.delivered() {
        let answered = dm
            .text
            .strip_prefix("echo: ")
            .unwrap_or_else(|| panic!("{dm:?}"));
        for text in answered.split('\n') {
            *got.entry((dm.recipient.clone(), text.to_owned()))
                .or_default() += 1;
        }
    }
    let duplicates: usize = got
        .iter()
        .map(|(k, n)| n.saturating_sub(*expected.get(k).unwrap_or(&0)))
        .sum();
    let lost: usize = expected
        .iter()
        .map(|(k, n)| n.saturating_sub(*got.get(k).unwrap_or(&0)))
        .sum();
    let (abandoned, posts, reconciled, delivered) = {
        let state = graph.state();
        (
            state.abandoned.clone(),
            state.sends,
            state.conversation_fields.len(),
            state.delivered.len(),
        )
    };
    eprintln!(
        "{kills} kills ({mid_request} with an answer held open; held requests whose client \
         vanished: {abandoned:?}), {delivered_when_killed} of {queued} delivered when the \
         kills stopped, {posts} POSTs, {reconciled} Conversations API calls, {delivered} DMs \
         delivered: {duplicates} duplicate(s), {lost} lost, in {:?}",
        started.elapsed()
    );
    assert!(kills >= 10, "too few kills to mean anything: {kills}");
    assert_eq!((duplicates, lost), (0, 0), "{got:?}");
    assert_eq!(got, expected);

    // The outbox agrees: every row sent, each with its own Graph message id.
    let ids: std::collections::HashSet<String> =
        graph.delivered().into_iter().map(|m| m.id).collect();
    let mut attributed = std::collections::HashSet::new();
    for lead in 0..LEADS {
        let shown = sandbox.lead(&format!("ig_90{lead:03}"));
        let outbox = shown["outbox"].as_array().unwrap();
        let outbound = shown["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["direction"] == "outbound")
            .count();
        assert_eq!(outbound, outbox.len(), "one conversation entry per reply");
        for row in outbox {
            assert_eq!(row["status"], "sent", "{row}");
            let id = row["message_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{row}"));
            assert!(ids.contains(id), "{row}");
            assert!(attributed.insert(id.to_owned()), "{id} attributed twice");
        }
    }
    assert_eq!(attributed.len(), queued);
    assert!(
        graph
            .state()
            .conversation_fields
            .iter()
            .all(|f| f == "messages{id,message,created_time}")
    );
}

/// Sets up the lead `sender` writing "hello" twice (two and one second ago) to the paused
/// Instagram account, with the echo plugin queueing a reply to each, then resumes the account
/// with the clock pinned to now. Returns the sandbox and that time.
async fn two_identical_replies_queued(
    graph: &Graph,
    sender: &str,
) -> (Sandbox, chrono::DateTime<chrono::Utc>) {
    let mut sandbox = sandbox("");
    add_account(&sandbox, graph);
    sandbox.install_unsigned(&hostile_wasm());
    sandbox.ok(&["account", "pause", "shop"]);
    // A pinned clock: both sends begin in the same second as the first reply's creation.
    let now = chrono::Utc::now();
    sandbox.at(&now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let served = serve(&sandbox);
    let client = reqwest::Client::new();
    let ms = now.timestamp_millis() / 1000 * 1000;
    // The second once the first is answered: sent together, they would get one answer.
    for (n, (mid, ago)) in [("m_1", 2_000), ("m_2", 1_000)].into_iter().enumerate() {
        post(&client, &served, &message(sender, mid, "hello", ms - ago)).await;
        eventually("the reply to be queued", || {
            all_events_done(&sandbox, n + 1)
        });
    }
    eventually("both replies to be queued", || all_events_done(&sandbox, 2));
    drop(served);
    sandbox.ok(&["account", "resume", "shop"]);
    (sandbox, now)
}

/// A lead writes "hello" twice and gets two identical replies. The first goes out (Meta
/// gives its id); the second's send fails with a 500, so its outcome is unknown. The
/// conversation then holds one "echo: hello", created in the very second the second send
/// began: reconciliation must see it is the first reply's, and send the second.
#[tokio::test(flavor = "multi_thread")]
async fn two_identical_replies_are_both_delivered_and_reconciliation_tells_them_apart() {
    let graph = Graph::start(1, 0, Duration::from_millis(50));
    graph.state().plan.insert(1, Plan::Fail);
    let (mut sandbox, now) = two_identical_replies_queued(&graph, "8801").await;

    sandbox.ok(&["run", "--until-idle"]);
    let outbox = sandbox.lead("ig_8801")["outbox"].clone();
    assert_eq!(outbox[0]["status"], "sent");
    assert_eq!(outbox[0]["message_id"], "aWdfZAG1faW.0");
    assert_eq!(outbox[1]["status"], "queued", "{outbox}");
    assert!(outbox[1]["attempted_at"].is_i64(), "{outbox}");
    assert_eq!(graph.delivered().len(), 1);

    // Later (the wait after an unknown outcome): the only "echo: hello" in the
    // conversation is the first reply's, so the second goes out.
    let later = now + chrono::Duration::minutes(2);
    sandbox.at(&later.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    sandbox.ok(&["run", "--until-idle"]);
    let delivered = graph.delivered();
    assert_eq!(
        delivered
            .iter()
            .map(|m| (m.recipient.as_str(), m.text.as_str()))
            .collect::<Vec<_>>(),
        vec![("8801", "echo: hello"), ("8801", "echo: hello")],
        "both replies reached the lead, once each"
    );
    let outbox = sandbox.lead("ig_8801")["outbox"].clone();
    assert_eq!(outbox[1]["status"], "sent", "{outbox}");
    assert_eq!(outbox[1]["message_id"], "aWdfZAG1faW.1");
    assert_eq!(
        graph.state().conversation_fields,
        vec!["messages{id,message,created_time}"],
        "reconciled once, asking for the message ids"
    );
    assert_eq!(
        sandbox.conversation("ig_8801"),
        vec!["< hello", "< hello", "> echo: hello", "> echo: hello"]
    );
}

/// The same lead, but the second reply did arrive (only its answer was lost): it is found,
/// attributed by its own id, and not sent again.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_identical_reply_that_arrived_is_found_by_its_own_id() {
    let graph = Graph::start(1, 0, Duration::from_millis(50));
    // The second send is taken, but its answer comes after our 1 s timeout.
    graph
        .state()
        .plan
        .insert(1, Plan::Taken(Duration::from_millis(1_500)));
    let (mut sandbox, now) = two_identical_replies_queued(&graph, "8802").await;
    sandbox.ok(&["run", "--until-idle"]);
    let outbox = sandbox.lead("ig_8802")["outbox"].clone();
    assert_eq!(outbox[0]["status"], "sent");
    assert_eq!(outbox[1]["status"], "queued", "{outbox}");
    assert_eq!(graph.delivered().len(), 2, "both arrived");
    let later = now + chrono::Duration::minutes(2);
    sandbox.at(&later.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    sandbox.ok(&["run", "--until-idle"]);
    let delivered = graph.delivered();
    assert_eq!(delivered.len(), 2, "{delivered:?}");
    let outbox = sandbox.lead("ig_8802")["outbox"].clone();
    assert_eq!(outbox[0]["status"], "sent");
    assert_eq!(outbox[1]["status"], "sent");
    assert_eq!(outbox[0]["message_id"], delivered[0].id.as_str());
    assert_eq!(
        outbox[1]["message_id"],
        delivered[1].id.as_str(),
        "the second reply is matched to its own message, not the first one's"
    );
    assert_eq!(graph.sends(), 2, "and not sent again");
}

/// One system call of a strace trace: its name, what it acted on (`-yy`: a file's path or a
/// socket's addresses), its first bytes, and the trace lines where it started and ended
/// (the same, unless another thread's call came between: "<unfinished ...>").
#[derive(Debug)]
struct Syscall {
    name: String,
    target: String,
    data: String,
    started: usize,
    finished: usize,
}

/// The calls of a `strace -f -yy` trace.
fn syscalls(trace: &str) -> Vec<Syscall> {
    let mut pending: BTreeMap<String, Syscall> = BTreeMap::new();
    let mut calls = Vec::new();
    let parse = |call: &str, at: usize| -> Option<Syscall> {
        let (name, rest) = call.split_once('(')?;
        // `fd<what>` then `,` or `)`; a socket's `what` holds "->" itself.
        let target = rest.split_once('<').map_or("", |(_, after)| {
            let end = [after.find(">,"), after.find(">)")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(after.len());
            &after[..end]
        });
        Some(Syscall {
            name: name.to_owned(),
            target: target.to_owned(),
            data: rest.to_owned(),
            started: at,
            finished: at,
        })
    };
    for (at, line) in trace.lines().enumerate() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        if let Some(begun) = call.strip_suffix("<unfinished ...>") {
            if let Some(syscall) = parse(begun, at) {
                pending.insert(pid.to_owned(), syscall);
            }
        } else if call.starts_with("<...") {
            if let Some(mut syscall) = pending.remove(pid) {
                syscall.finished = at;
                calls.push(syscall);
            }
        } else {
            calls.extend(parse(call, at));
        }
    }
    calls
}

/// The record that a send began is on disk before the request leaves, even across a power
/// cut: between the last write to the write-ahead log and each POST to the Graph API, the
/// log is synced. (Without it, a power cut could lose the record after the message went
/// out, and the next run would send it again.)
#[tokio::test(flavor = "multi_thread")]
async fn a_sends_attempt_is_synced_to_disk_before_the_request_leaves() {
    let graph = Graph::start(3, 0, Duration::from_millis(50));
    let (sandbox, _now) = two_identical_replies_queued(&graph, "8803").await;
    let port = graph.base.rsplit(':').next().unwrap().to_owned();
    let trace = support::traced(
        &sandbox,
        &["run", "--until-idle"],
        "pwrite64,fsync,fdatasync,write,writev,sendto,sendmsg",
    );
    assert_eq!(graph.delivered().len(), 2, "both replies went out");
    let calls = syscalls(&trace);
    let to_the_graph = |c: &Syscall| {
        ["write", "writev", "sendto", "sendmsg"].contains(&c.name.as_str())
            && c.target.starts_with("TCP:")
            && c.target.ends_with(&format!(":{port}]"))
            && c.data.contains("POST ")
    };
    let on_the_log = |c: &Syscall, names: &[&str]| {
        names.contains(&c.name.as_str()) && c.target.ends_with("-wal")
    };
    let mut posts: Vec<&Syscall> = calls.iter().filter(|c| to_the_graph(c)).collect();
    posts.sort_by_key(|c| c.started);
    let network: Vec<&str> = trace.lines().filter(|l| l.contains("TCP:")).collect();
    assert_eq!(posts.len(), 2, "two POSTs in {network:#?}");
    // Since the last request began: a write to the log, then a sync of the log that ended
    // before this request began.
    let mut since = 0;
    for post in posts {
        let synced = calls.iter().any(|sync| {
            on_the_log(sync, &["fsync", "fdatasync"])
                && sync.finished < post.started
                && calls.iter().any(|write| {
                    on_the_log(write, &["pwrite64"])
                        && write.finished > since
                        && write.finished < sync.started
                })
        });
        let between: Vec<&Syscall> = calls
            .iter()
            .filter(|c| c.finished > since && c.started <= post.started)
            .filter(|c| on_the_log(c, &["pwrite64", "fsync", "fdatasync"]) || to_the_graph(c))
            .collect();
        assert!(
            synced,
            "the log was not synced between its write and the request: {between:#?}"
        );
        since = post.started;
    }
}
