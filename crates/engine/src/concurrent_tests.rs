//! Many leads at once, each lead in order: hooks that wait (as on an AI provider) run side by
//! side, one lead's events never overlap and each sees what the last one did, a burst of
//! messages gets one answer, and delivery and the daily cap go on beside the hooks.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::tests::{inbound, inbound_from, reply_engine};
use super::{Engine, NativeHooks};
use crate::config::Config;
use crate::consent::Permission;
use crate::runtime::hooks;
use crate::runtime::host::HostState;
use crate::runtime::{HookFailure, HookInput, HookOutput};
use crate::store::Db;
use crate::store::events::{Origin, OriginKind};

/// What a reply hook does besides answering: called with the lead's handle and the text
/// it was handed, while the call is under way.
type Meanwhile = Box<dyn Fn(&Db, &str, &str) + Send + Sync>;

/// Answers every message after a wait, and watches what runs at once.
struct Answering {
    db: Db,
    /// How long a lead's answer takes, by handle (the rest: `wait`).
    waits: HashMap<String, Duration>,
    wait: Duration,
    meanwhile: Option<Meanwhile>,
    running: Mutex<HashMap<String, u32>>,
    at_once: AtomicU32,
    most_at_once: AtomicU32,
    most_for_one_lead: AtomicU32,
    /// Per call: the lead's handle, the text handed over, and the replies queued for the
    /// lead when the call began.
    calls: Mutex<Vec<(String, String, i64)>>,
    /// Per call, after its wait: whether a message to `watched` had been sent by then.
    watched: Option<String>,
    saw_watched_sent: Mutex<Vec<bool>>,
}

impl Answering {
    fn new(db: &Db, wait: Duration) -> Self {
        Self {
            db: db.clone(),
            waits: HashMap::new(),
            wait,
            meanwhile: None,
            running: Mutex::new(HashMap::new()),
            at_once: AtomicU32::new(0),
            most_at_once: AtomicU32::new(0),
            most_for_one_lead: AtomicU32::new(0),
            calls: Mutex::new(Vec::new()),
            watched: None,
            saw_watched_sent: Mutex::new(Vec::new()),
        }
    }

    fn count(&self, sql: &str, handle: &str) -> i64 {
        self.db
            .read(|c| Ok(c.query_row(sql, [handle], |r| r.get(0))?))
            .unwrap()
    }

    fn enter(&self, handle: &str) {
        let now = self.at_once.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        let mut running = self.running.lock().unwrap();
        let mine = running.entry(handle.to_owned()).or_default();
        *mine += 1;
        self.most_for_one_lead.fetch_max(*mine, Ordering::SeqCst);
    }

    fn leave(&self, handle: &str) {
        self.at_once.fetch_sub(1, Ordering::SeqCst);
        *self.running.lock().unwrap().get_mut(handle).unwrap() -= 1;
    }

    fn calls_of(&self, handle: &str) -> Vec<(String, i64)> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|(h, _, _)| h == handle)
            .map(|(_, text, queued)| (text.clone(), *queued))
            .collect()
    }
}

const QUEUED_FOR: &str =
    "SELECT count(*) FROM outbox o JOIN leads l ON l.id = o.lead_id WHERE l.handle = ?1";
const SENT_TO: &str = "SELECT count(*) FROM outbox o JOIN leads l ON l.id = o.lead_id
                        WHERE l.handle = ?1 AND o.status = 'sent'";

impl NativeHooks for Answering {
    fn call<'a>(
        &'a self,
        _plugin: &'a str,
        _host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>> {
        Box::pin(async move {
            let HookInput::Reply(event) = input else {
                return Err(HookFailure::Plugin("only replies here".into()));
            };
            let handle = event.lead.handle.clone();
            self.enter(&handle);
            let queued = self.count(QUEUED_FOR, &handle);
            self.calls
                .lock()
                .unwrap()
                .push((handle.clone(), event.text.clone(), queued));
            if let Some(meanwhile) = &self.meanwhile {
                meanwhile(&self.db, &handle, &event.text);
            }
            tokio::time::sleep(*self.waits.get(&handle).unwrap_or(&self.wait)).await;
            if let Some(watched) = &self.watched
                && watched != &handle
            {
                let sent = self.count(SENT_TO, watched) > 0;
                self.saw_watched_sent.lock().unwrap().push(sent);
            }
            self.leave(&handle);
            Ok(HookOutput::Reply(hooks::ReplyAction::Send(
                format!("re: {}", event.text.replace('\n', " / ")).into(),
            )))
        })
    }
}

fn engine(db: &Db, hooks: Arc<Answering>, config: Config) -> Engine {
    reply_engine(db, "answering", Permission::MessagesSend, hooks, config)
}

fn no_cap() -> Config {
    let mut config = Config::default();
    config.sending.daily_cap = 100_000;
    config
}

fn count(db: &Db, sql: &str) -> i64 {
    db.read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?))
        .unwrap()
}

#[tokio::test]
async fn one_leads_messages_go_in_order_each_seeing_the_last_answer_while_others_run_at_once() {
    let db = Db::open_in_memory().unwrap();
    let mut hooks = Answering::new(&db, Duration::from_millis(40));
    // Anna writes again while each answer is being made: her next message must wait for
    // it, and be handled with it in view.
    hooks.meanwhile = Some(Box::new(|db, handle, text| {
        if handle == "anna"
            && let Some(n) = text.strip_prefix('m').and_then(|n| n.parse::<u32>().ok())
            && n < 5
        {
            inbound(db, "anna", &format!("m{}", n + 1));
        }
    }));
    let hooks = Arc::new(hooks);
    let engine = engine(&db, hooks.clone(), no_cap());
    inbound(&db, "anna", "m1");
    for i in 0..50 {
        inbound(&db, &format!("other{i}"), "Hello");
    }

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!(stats.events, 55);
    assert_eq!(stats.hook_calls, 55);
    let anna = hooks.calls_of("anna");
    let expected: Vec<(String, i64)> = (1..=5).map(|n| (format!("m{n}"), n - 1)).collect();
    assert_eq!(
        anna, expected,
        "in order, each seeing the answers before it"
    );
    assert_eq!(hooks.most_for_one_lead.load(Ordering::SeqCst), 1);
    let at_once = hooks.most_at_once.load(Ordering::SeqCst);
    assert!(at_once >= 40, "only {at_once} hook calls ran at once");
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE status = 'sent'"),
        55
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE status != 'done'"),
        0
    );
}

#[tokio::test]
async fn concurrency_is_bounded_by_the_setting() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(Answering::new(&db, Duration::from_millis(10)));
    let mut config = no_cap();
    config.engine.concurrency = Some(7);
    let engine = engine(&db, hooks.clone(), config);
    for i in 0..40 {
        inbound(&db, &format!("lead{i}"), "Hello");
    }

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!(stats.hook_calls, 40);
    assert_eq!(hooks.most_at_once.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn messages_sent_in_a_row_get_one_answer_that_sees_them_all() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(Answering::new(&db, Duration::ZERO));
    let engine = engine(&db, hooks.clone(), no_cap());
    inbound(&db, "bea", "hi");
    inbound(&db, "carl", "hello");
    inbound(&db, "bea", "how much is it");
    inbound(&db, "bea", "for two people?");

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!((stats.events, stats.hook_calls), (4, 2));
    assert_eq!(
        hooks.calls_of("bea"),
        [("hi\nhow much is it\nfor two people?".to_string(), 0)]
    );
    let outcomes: Vec<String> = db
        .read(|c| {
            let mut stmt = c.prepare(
                "SELECT r.outcome FROM event_results r JOIN events e ON e.id = r.event_id
                 JOIN leads l ON l.id = e.lead_id WHERE l.handle = 'bea' ORDER BY e.id",
            )?;
            Ok(stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .unwrap();
    let last = count(
        &db,
        "SELECT max(e.id) FROM events e JOIN leads l ON l.id = e.lead_id WHERE l.handle = 'bea'",
    );
    let together = format!("answered together with event #{last}");
    assert_eq!(
        outcomes,
        [together.as_str(), together.as_str(), "queued a reply"]
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        2,
        "one answer each"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM events WHERE status != 'done'"),
        0
    );
}

#[tokio::test]
async fn a_tap_or_a_story_reply_in_a_row_of_messages_is_answered_alone_and_in_order() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(Answering::new(&db, Duration::ZERO));
    let engine = engine(&db, hooks.clone(), no_cap());
    let tapped = Origin {
        kind: OriginKind::QuickReply,
        reference: Some("yes-please".into()),
    };
    inbound(&db, "bea", "hi");
    inbound(&db, "bea", "there");
    inbound_from(&db, "bea", "Yes please", Some(tapped));
    inbound(&db, "bea", "and one more thing");

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!((stats.events, stats.hook_calls), (4, 3));
    let texts: Vec<String> = hooks.calls_of("bea").into_iter().map(|(t, _)| t).collect();
    assert_eq!(texts, ["hi\nthere", "Yes please", "and one more thing"]);
}

#[tokio::test]
async fn an_opt_out_while_the_answer_is_made_blocks_the_answer() {
    let db = Db::open_in_memory().unwrap();
    let mut hooks = Answering::new(&db, Duration::from_millis(30));
    hooks.meanwhile = Some(Box::new(|db, handle, _| {
        if handle == "omar" {
            inbound(db, "omar", "stop");
        }
    }));
    let hooks = Arc::new(hooks);
    let engine = engine(&db, hooks.clone(), no_cap());
    inbound(&db, "omar", "What does it cost?");
    inbound(&db, "pia", "What does it cost?");

    engine.run_until_idle().await.unwrap();

    assert_eq!(
        hooks.calls_of("omar").len(),
        1,
        "the opt-out itself is no question"
    );
    assert_eq!(count(&db, QUEUED_FOR.replace("?1", "'omar'").as_str()), 0);
    assert_eq!(count(&db, QUEUED_FOR.replace("?1", "'pia'").as_str()), 1);
    let outcome: String = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT r.outcome FROM event_results r JOIN events e ON e.id = r.event_id
                 JOIN leads l ON l.id = e.lead_id WHERE l.handle = 'omar' AND r.plugin = 'answering'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(outcome.starts_with("reply not sent"), "{outcome}");
}

#[tokio::test]
async fn delivery_goes_on_while_slow_answers_are_in_flight() {
    let db = Db::open_in_memory().unwrap();
    let mut hooks = Answering::new(&db, Duration::from_millis(1500));
    hooks.waits.insert("zed".into(), Duration::ZERO);
    hooks.watched = Some("zed".into());
    let hooks = Arc::new(hooks);
    let engine = engine(&db, hooks.clone(), no_cap());
    inbound(&db, "zed", "Quick one");
    for i in 0..20 {
        inbound(&db, &format!("slow{i}"), "Hello");
    }

    engine.run_until_idle().await.unwrap();

    // Zed's answer was committed and sent while the others were still waiting.
    let saw = hooks.saw_watched_sent.lock().unwrap().clone();
    assert_eq!(saw, vec![true; 20]);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE status = 'sent'"),
        21
    );
}

#[tokio::test]
async fn the_daily_cap_holds_exactly_with_hundreds_of_answers_at_once() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(Answering::new(&db, Duration::from_millis(2)));
    let mut config = Config::default();
    config.sending.daily_cap = 40;
    let engine = engine(&db, hooks.clone(), config);
    for i in 0..500 {
        inbound(&db, &format!("lead{i}"), "Hello");
    }

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!((stats.hook_calls, stats.sent), (500, 40));
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE status = 'sent'"),
        40
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE status = 'queued'"),
        460
    );
}
