//! The engine's pass with hooks compiled in: what one event leaves behind is seen by the
//! next event about the same lead, even though events' last writes are committed together.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Engine, Executor, NativeHooks, ingest};
use crate::ai::AiProvider;
use crate::clock::{ManualClock, Millis};
use crate::config::Config;
use crate::consent::Permission;
use crate::domain::lead::LeadStatus;
use crate::runtime::hooks;
use crate::runtime::host::{HostServices, HostState};
use crate::runtime::manifest::{Hook, Manifest};
use crate::runtime::{HookFailure, HookInput, HookOutput};
use crate::store::events::Origin;
use crate::store::{self, Db};

pub(super) const NOW: Millis = 1_790_000_000_000;

/// Hands every conversation over to a person, and counts the reply hooks it ran. With
/// `forget` set, the user erases that lead while its hook runs; with `writes_again`, that
/// lead writes again while its first hook runs.
#[derive(Default)]
struct HandOver {
    replies: AtomicU32,
    forget: Option<(Db, String)>,
    writes_again: Option<(Db, String)>,
}

impl NativeHooks for HandOver {
    fn call<'a>(
        &'a self,
        _plugin: &'a str,
        _host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>> {
        Box::pin(async move {
            match input {
                HookInput::Reply(event) => {
                    self.replies.fetch_add(1, Ordering::SeqCst);
                    if let Some((db, handle)) = &self.forget
                        && &event.lead.handle == handle
                    {
                        db.write(|tx| {
                            let lead = store::leads::require_handle(tx, handle)?;
                            store::leads::forget(tx, &lead, NOW)
                        })
                        .unwrap();
                    }
                    if let Some((db, handle)) = &self.writes_again
                        && &event.lead.handle == handle
                        && event.text != "Hello?"
                    {
                        inbound(db, handle, "Hello?");
                    }
                    Ok(HookOutput::Reply(hooks::ReplyAction::HandOver(
                        "asked for a person".into(),
                    )))
                }
                _ => Err(HookFailure::Plugin("only replies here".into())),
            }
        })
    }
}

fn engine_with(hooks: Arc<HandOver>) -> (Db, Engine) {
    engine_on(Db::open_in_memory().unwrap(), hooks)
}

fn engine_on(db: Db, hooks: Arc<HandOver>) -> (Db, Engine) {
    let engine = reply_engine(
        &db,
        "handover",
        Permission::LeadsRead,
        hooks,
        Config::default(),
    );
    (db, engine)
}

/// An engine on `db` whose one plugin, `plugin`, is a reply hook run by `hooks`, granted
/// `permission`, with `config` and the clock at [`NOW`].
pub(super) fn reply_engine(
    db: &Db,
    plugin: &str,
    permission: Permission,
    hooks: Arc<dyn NativeHooks>,
    config: Config,
) -> Engine {
    let services = Arc::new(HostServices {
        db: db.clone(),
        clock: Arc::new(ManualClock::new(NOW)),
        ai: AiProvider::from_config(&config.ai, |_| None),
        config: Arc::new(config),
    });
    let manifest = Manifest {
        name: plugin.into(),
        version: "1".into(),
        description: String::new(),
        hooks: vec![Hook::Reply],
        permissions: vec![permission],
    };
    db.write(|tx| {
        store::plugins::install(tx, &native_component(&manifest), NOW)?;
        store::plugins::grant(tx, plugin, permission, NOW)
    })
    .unwrap();
    Engine::new(services, Executor::Native(hooks)).unwrap()
}

/// Plugin `manifest` as installed for native hooks: no component, no signature.
pub(crate) fn native_component(manifest: &Manifest) -> store::plugins::Component<'_> {
    store::plugins::Component {
        manifest,
        contract: "0.1.0",
        wasm: b"native",
        sha256: "native",
        publisher: None,
    }
}

/// A message from `handle` on the sandbox account, received at [`NOW`].
pub(super) fn inbound(db: &Db, handle: &str, text: &str) {
    inbound_from(db, handle, text, None);
}

/// A message from `handle` that was more than text (a story reply, a tap), when `origin`.
pub(super) fn inbound_from(db: &Db, handle: &str, text: &str, origin: Option<Origin>) {
    let message = ingest::InboundMessage {
        account: 1,
        from: ingest::Sender::Handle(handle),
        text,
        at: NOW,
        source: "test",
        dedupe_key: None,
        origin,
        comment: None,
    };
    ingest::inbound(db, &Config::default().consent, &message, NOW).unwrap();
}

#[tokio::test]
async fn the_next_event_about_a_lead_sees_what_the_last_one_did() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(HandOver {
        writes_again: Some((db.clone(), "anna".into())),
        ..HandOver::default()
    });
    let (db, engine) = engine_on(db, hooks.clone());
    // Anna writes again while her first message is being handled, with others running too.
    inbound(&db, "anna", "Can I talk to someone?");
    for i in 0..5 {
        inbound(&db, &format!("other{i}"), "Hello");
    }

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!(stats.events, 7);
    // Anna's second message found her with a person already: no hook ran for it.
    assert_eq!(hooks.replies.load(Ordering::SeqCst), 6);
    let anna = db
        .read(|c| store::leads::by_handle(c, "anna"))
        .unwrap()
        .unwrap();
    assert_eq!(anna.status, LeadStatus::NeedsHuman);
    let ended_by_host: i64 = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM event_results WHERE plugin = '(host)'
                   AND outcome = 'lead is with a human'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(ended_by_host, 1);
}

#[tokio::test]
async fn every_event_of_a_pass_is_finished_and_audited() {
    let hooks = Arc::new(HandOver::default());
    let (db, engine) = engine_with(hooks.clone());
    // More than one group of endings, fewer than a pass.
    for i in 0..120 {
        inbound(&db, &format!("lead{i}"), "Hi");
    }

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!(stats.events, 120);
    let (unfinished, handed, results): (i64, i64, i64) = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM events WHERE status != 'done'),
                        (SELECT count(*) FROM audit WHERE action = 'reply.event'),
                        (SELECT count(*) FROM event_results WHERE status = 'done')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!((unfinished, handed, results), (0, 120, 120));
}

#[tokio::test]
async fn a_lead_forgotten_while_its_hook_runs_leaves_the_rest_of_the_pass_alone() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(HandOver {
        forget: Some((db.clone(), "gone".into())),
        ..HandOver::default()
    });
    let (db, engine) = engine_on(db, hooks);
    inbound(&db, "before", "Hi");
    inbound(&db, "gone", "Hi");
    inbound(&db, "after", "Hi");

    let stats = engine.run_until_idle().await.unwrap();

    assert_eq!(stats.events, 3);
    let (leads, unfinished, results): (i64, i64, i64) = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM leads),
                        (SELECT count(*) FROM events WHERE status != 'done'),
                        (SELECT count(*) FROM event_results)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    // The forgotten lead's event went with them; the others were handled once.
    assert_eq!((leads, unfinished, results), (2, 0, 2));
}

/// Sends with `messaging.send` during its call, and meanwhile the user revokes
/// `messages:send` (as `outreach plugin revoke` would, from another process).
struct SendsWhileRevoked {
    db: Db,
}

impl NativeHooks for SendsWhileRevoked {
    fn call<'a>(
        &'a self,
        plugin: &'a str,
        host: &'a mut HostState,
        input: HookInput,
    ) -> Pin<Box<dyn Future<Output = Result<HookOutput, HookFailure>> + Send + 'a>> {
        use crate::runtime::bindings::latest::messaging::Host as _;
        Box::pin(async move {
            let HookInput::Reply(event) = input else {
                return Err(HookFailure::Plugin("only replies here".into()));
            };
            // Granted as the call started: staged.
            host.send(event.lead.id as u64, "hello".into())
                .await
                .map_err(|e| HookFailure::Plugin(format!("{e:?}")))?;
            self.db
                .write(|tx| store::plugins::revoke(tx, plugin, Permission::MessagesSend))
                .unwrap();
            Ok(HookOutput::Reply(hooks::ReplyAction::NoReply))
        })
    }
}

#[tokio::test]
async fn messages_sent_during_a_call_are_dropped_when_the_grant_went_before_it_ended() {
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(SendsWhileRevoked { db: db.clone() });
    let engine = reply_engine(
        &db,
        "sender",
        Permission::MessagesSend,
        hooks,
        Config::default(),
    );
    inbound(&db, "nia", "Hi");

    engine.run_until_idle().await.unwrap();

    let (queued, denied): (i64, i64) = db
        .read(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM outbox),
                        (SELECT count(*) FROM audit WHERE action = 'messaging.send'
                           AND allowed = 0 AND detail LIKE 'revoked while the call ran%')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .unwrap();
    assert_eq!((queued, denied), (0, 1));
}

/// Comment `comment_id`, made at `at`, on a post.
fn answering(comment_id: &str, at: Millis) -> store::outbox::Answering {
    store::outbox::Answering {
        comment_id: comment_id.into(),
        comment_at: at,
        live_media_id: None,
        public: false,
    }
}

/// `text` as the private reply to `answering`.
fn private_reply<'a>(
    answering: &'a store::outbox::Answering,
    text: &'a str,
) -> store::outbox::Message<'a> {
    store::outbox::Message {
        answering: Some(answering),
        ..store::outbox::Message::text(text)
    }
}

#[tokio::test]
async fn private_replies_past_750_an_hour_wait_alone_while_other_messages_go() {
    use crate::clock::{HOUR, MINUTE};
    // Private replies count toward the daily cap like any message: one high enough here.
    let mut config = Config::default();
    config.sending.daily_cap = 10_000;
    let db = Db::open_in_memory().unwrap();
    let hooks = Arc::new(HandOver::default());
    let engine = reply_engine(&db, "handover", Permission::LeadsRead, hooks, config);
    let earliest = NOW - 50 * MINUTE;
    let (commenter, writer) = db
        .write(|tx| {
            let commenter = store::leads::get_or_create(tx, 1, "commenter", NOW)?.id;
            let writer = store::leads::get_or_create(tx, 1, "writer", NOW)?.id;
            // The hour's 750 private replies, the first 50 minutes ago.
            for n in 0..750 {
                let answering = answering(&format!("old-{n}"), earliest);
                let message = private_reply(&answering, "thanks for your comment");
                let key = format!("old-{n}");
                store::outbox::enqueue(tx, &key, commenter, "p", None, message, earliest)?;
                let id: i64 = tx.query_row(
                    "SELECT id FROM outbox WHERE idempotency_key = ?1",
                    [&key],
                    |r| r.get(0),
                )?;
                store::outbox::mark_sent(tx, id, earliest + n, None)?;
            }
            let answering = answering("new", NOW);
            let reply = private_reply(&answering, "the 751st");
            store::outbox::enqueue(tx, "new", commenter, "p", None, reply, NOW)?;
            store::outbox::enqueue(
                tx,
                "dm",
                writer,
                "p",
                None,
                store::outbox::Message::text("a DM"),
                NOW,
            )?;
            Ok((commenter, writer))
        })
        .unwrap();

    assert_eq!(engine.deliver_due().await.unwrap(), 1);

    let status = |lead, key: &str| {
        db.read(|c| store::outbox::for_lead(c, lead))
            .unwrap()
            .into_iter()
            .find(|r| r.text == key)
            .unwrap()
    };
    assert_eq!(status(writer, "a DM").status, "sent");
    let waiting = status(commenter, "the 751st");
    assert_eq!(waiting.status, "queued");
    assert_eq!(
        waiting.not_before,
        earliest + HOUR,
        "until the first drops out"
    );
    assert_eq!(
        waiting.detail.as_deref(),
        Some("Instagram's limit of 750 private replies an hour")
    );
    // A second private reply to the same comment is never queued.
    let twice = db
        .write(|tx| {
            let answering = answering("new", NOW);
            let again = private_reply(&answering, "again");
            store::outbox::enqueue(tx, "other-key", commenter, "q", None, again, NOW)
        })
        .unwrap();
    assert!(!twice, "one private reply per comment");
}
