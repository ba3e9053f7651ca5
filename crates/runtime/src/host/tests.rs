//! The host calls exercised directly, as a plugin would make them: each permission is
//! checked on every call, denials are typed and audited, and limits hold.

use std::sync::Arc;

use super::{CallContext, HostServices, HostState};
use crate::Limits;
use crate::ai::AiProvider;
use crate::bindings::outreach::plugin::{ai, leads, messaging, settings, storage};
use crate::bindings::wit;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::consent::Permission;
use crate::domain::lead::LeadRecord;
use crate::manifest::{Hook, Manifest};
use crate::store::{self, Db};

const PLUGIN: &str = "probe";

struct Fixture {
    db: Db,
    services: Arc<HostServices>,
    anna: i64,
    ben: i64,
}

fn fixture() -> Fixture {
    let db = Db::open_in_memory().unwrap();
    let config = Config::default();
    let services = Arc::new(HostServices {
        db: db.clone(),
        clock: Arc::new(ManualClock::new(1_000)),
        ai: AiProvider::from_config(&config.ai, |_| None),
        config: Arc::new(config),
    });
    let manifest = Manifest {
        name: PLUGIN.into(),
        version: "1.0.0".into(),
        description: String::new(),
        hooks: vec![Hook::Reply],
        permissions: Permission::ALL.to_vec(),
    };
    let (anna, ben) = db
        .write(|tx| {
            store::plugins::install(
                tx,
                &store::plugins::Component {
                    manifest: &manifest,
                    contract: "0.1.0",
                    wasm: b"",
                    sha256: "sha",
                    publisher: None,
                },
                0,
            )?;
            let mut ids = Vec::new();
            for handle in ["anna", "ben"] {
                let record = LeadRecord {
                    line: 1,
                    handle: handle.into(),
                    name: None,
                    email: Some(format!("{handle}@example.com")),
                    phone: None,
                    tags: vec![],
                    notes: None,
                    custom: Default::default(),
                };
                ids.push(store::leads::upsert(tx, &record, 1, 0)?.id());
            }
            Ok((ids[0], ids[1]))
        })
        .unwrap();
    Fixture {
        db,
        services,
        anna,
        ben,
    }
}

impl Fixture {
    /// A store's state for a hook handling an event about Anna.
    fn host(&self) -> HostState {
        HostState::new(
            self.services.clone(),
            CallContext::new(PLUGIN, 1, Some(self.anna)),
            Limits::from_config(&Default::default()),
        )
    }

    fn grant(&self, p: Permission) {
        self.db
            .write(|tx| store::plugins::grant(tx, PLUGIN, p, 0))
            .unwrap();
    }

    fn revoke(&self, p: Permission) {
        self.db
            .write(|tx| store::plugins::revoke(tx, PLUGIN, p))
            .unwrap();
    }

    fn denials(&self) -> Vec<(String, Option<String>)> {
        let filter = store::audit::AuditFilter {
            denied_only: true,
            limit: 100,
            ..Default::default()
        };
        let rows = self.db.read(|c| store::audit::list(c, &filter)).unwrap();
        rows.into_iter().map(|r| (r.action, r.permission)).collect()
    }
}

fn denied(p: Permission) -> wit::Error {
    crate::bindings::permission_denied(p)
}

#[tokio::test]
async fn the_events_lead_is_readable_others_need_leads_read() {
    let f = fixture();
    let mut host = f.host();
    let anna = leads::Host::get(&mut host, f.anna as u64).await.unwrap();
    assert_eq!(anna.handle, "anna");
    assert_eq!(anna.email, None, "no leads:read-pii");
    assert_eq!(
        leads::Host::get(&mut host, f.ben as u64).await,
        Err(denied(Permission::LeadsRead))
    );
    f.grant(Permission::LeadsRead);
    f.grant(Permission::LeadsReadPii);
    let ben = leads::Host::get(&mut host, f.ben as u64).await.unwrap();
    assert_eq!(
        ben.email.as_deref(),
        Some("ben@example.com"),
        "granted mid-call: holds from the next call"
    );
    assert_eq!(
        leads::Host::get(&mut host, 999).await,
        Err(wit::Error::NotFound)
    );
    assert_eq!(
        f.denials(),
        vec![("leads.get".to_string(), Some("leads:read".to_string()))]
    );
}

#[tokio::test]
async fn writes_need_leads_write_and_cannot_lift_do_not_contact() {
    let f = fixture();
    let mut host = f.host();
    let id = f.anna as u64;
    assert_eq!(
        leads::Host::add_tag(&mut host, id, "vip".into()).await,
        Err(denied(Permission::LeadsWrite))
    );
    f.grant(Permission::LeadsWrite);
    leads::Host::add_tag(&mut host, id, "vip".into())
        .await
        .unwrap();
    leads::Host::set_score(&mut host, id, 80).await.unwrap();
    assert!(matches!(
        leads::Host::set_score(&mut host, id, 101).await,
        Err(wit::Error::Invalid(_))
    ));
    assert!(matches!(
        leads::Host::add_tag(&mut host, id, " ".into()).await,
        Err(wit::Error::Invalid(_))
    ));
    leads::Host::set_status(&mut host, id, wit::LeadStatus::DoNotContact)
        .await
        .unwrap();
    let lifted = leads::Host::set_status(&mut host, id, wit::LeadStatus::New).await;
    assert_eq!(
        lifted,
        Err(wit::Error::Invalid(
            "a plugin cannot lift do-not-contact".into()
        ))
    );
    let anna =
        f.db.read(|c| store::leads::get(c, f.anna))
            .unwrap()
            .unwrap();
    assert_eq!(
        (anna.tags, anna.score, anna.status.as_str()),
        (vec!["vip".to_string()], Some(80), "do-not-contact")
    );
}

#[tokio::test]
async fn sends_are_checked_staged_and_bounded() {
    let f = fixture();
    let mut host = f.host();
    let anna = f.anna as u64;
    assert_eq!(
        messaging::Host::send(&mut host, anna, "hi".into()).await,
        Err(denied(Permission::MessagesSend))
    );
    f.grant(Permission::MessagesSend);
    messaging::Host::send(&mut host, anna, "hi".into())
        .await
        .unwrap();
    assert_eq!(
        messaging::Host::send(&mut host, anna, "x".repeat(1001)).await,
        Err(wit::Error::Invalid(
            "message text is 1001 bytes; the limit is 1000".into()
        ))
    );
    assert_eq!(
        messaging::Host::send(&mut host, f.ben as u64, "hi".into()).await,
        Err(denied(Permission::LeadsRead))
    );
    for _ in 0..4 {
        messaging::Host::send(&mut host, anna, "again".into())
            .await
            .unwrap();
    }
    assert!(matches!(
        messaging::Host::send(&mut host, anna, "six".into()).await,
        Err(wit::Error::LimitExceeded(_))
    ));
    f.revoke(Permission::MessagesSend);
    assert_eq!(
        messaging::Host::send(&mut host, anna, "hi".into()).await,
        Err(denied(Permission::MessagesSend))
    );
    // Staged, not queued: the outbox is written only when the hook returns.
    assert_eq!(host.finish().staged_sends.len(), 5);
    assert!(
        f.db.read(|c| store::outbox::for_lead(c, f.anna))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn storage_is_private_and_quota_bounded() {
    let f = fixture();
    let mut host = f.host();
    assert_eq!(
        storage::Host::get(&mut host, "k".into()).await,
        Err(denied(Permission::Storage))
    );
    f.grant(Permission::Storage);
    storage::Host::set(&mut host, "k".into(), b"v".to_vec())
        .await
        .unwrap();
    assert_eq!(
        storage::Host::get(&mut host, "k".into()).await,
        Ok(Some(b"v".to_vec()))
    );
    assert!(matches!(
        storage::Host::set(&mut host, "big".into(), vec![0; 65 * 1024]).await,
        Err(wit::Error::LimitExceeded(_))
    ));
    for i in 0..15 {
        storage::Host::set(&mut host, format!("chunk{i}"), vec![0; 64 * 1024])
            .await
            .unwrap();
    }
    let over = storage::Host::set(&mut host, "chunk16".into(), vec![0; 64 * 1024]).await;
    assert_eq!(
        over,
        Err(wit::Error::LimitExceeded(
            "storage quota of 1048576 bytes".into()
        ))
    );
    storage::Host::delete(&mut host, "k".into()).await.unwrap();
    assert_eq!(storage::Host::get(&mut host, "k".into()).await, Ok(None));
}

#[tokio::test]
async fn limit_settings_are_not_shown_to_the_plugin() {
    let f = fixture();
    f.db.write(|tx| {
        store::plugins::set_setting(tx, PLUGIN, "greeting", Some("hi"))?;
        store::plugins::set_setting(tx, PLUGIN, "limits.fuel", Some("5"))
    })
    .unwrap();
    let mut host = f.host();
    assert_eq!(
        settings::Host::all(&mut host).await,
        vec![("greeting".to_string(), "hi".to_string())]
    );
    assert_eq!(
        settings::Host::get(&mut host, "limits.fuel".into()).await,
        None
    );
}

#[tokio::test]
async fn a_do_not_contact_leads_conversation_is_off_limits() {
    let f = fixture();
    f.grant(Permission::MessagesRead);
    f.grant(Permission::AiGenerate);
    f.db.write(|tx| store::leads::mark_do_not_contact(tx, f.anna, "said stop", 0))
        .unwrap();
    let mut host = f.host();
    let unavailable = Err(wit::Error::Unavailable("lead is do-not-contact".into()));
    assert_eq!(
        messaging::Host::history(&mut host, f.anna as u64, 10).await,
        unavailable
    );
    let request = ai::GenerateRequest {
        system_prompt: String::new(),
        conversation: vec![],
        max_tokens: None,
    };
    assert_eq!(
        ai::Host::generate(&mut host, request).await.map(|_| ()),
        unavailable.map(|_: Vec<wit::Message>| ())
    );
    let denied = f.denials();
    assert_eq!(denied.len(), 2, "{denied:?}");
    // Nothing lifts it, not even the host's own status changes.
    f.db.write(|tx| {
        store::leads::set_status(tx, f.anna, crate::domain::lead::LeadStatus::NeedsHuman, 1)
    })
    .unwrap();
    assert!(
        f.db.read(|c| store::leads::get(c, f.anna))
            .unwrap()
            .unwrap()
            .is_do_not_contact()
    );
}

impl Fixture {
    /// The same fixture with the AI provider at `server`, so a test sees what leaves.
    fn with_remote_ai(self, server: &wiremock::MockServer) -> Self {
        let mut config = Config::default();
        config.ai.base_url = server.uri();
        config.ai.retries = 0;
        let services = Arc::new(HostServices {
            db: self.db.clone(),
            clock: self.services.clock.clone(),
            ai: AiProvider::from_config(&config.ai, |_| Some("sk-test".into())),
            config: Arc::new(config),
        });
        Self { services, ..self }
    }

    /// The `ai.generate` audit rows: the lead each names and who received the data.
    fn ai_audit(&self) -> Vec<(Option<String>, Option<String>)> {
        let filter = store::audit::AuditFilter {
            limit: 100,
            ..Default::default()
        };
        let rows = self.db.read(|c| store::audit::list(c, &filter)).unwrap();
        rows.into_iter()
            .filter(|r| r.action == "ai.generate")
            .map(|r| (r.lead, r.detail))
            .collect()
    }
}

fn message(text: String) -> wit::Message {
    wit::Message {
        direction: wit::Direction::Inbound,
        text,
        at: 0,
    }
}

#[tokio::test]
async fn another_leads_data_does_not_reach_the_ai_provider_and_is_audited() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "gen-1",
            "object": "chat.completion",
            "created": 1_764_000_000,
            "model": "openai/gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Sure."}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let f = fixture().with_remote_ai(&server);
    f.db.write(|tx| {
        let record = LeadRecord {
            line: 1,
            handle: "ben".into(),
            name: None,
            email: None,
            phone: Some("+49 170 1234567".into()),
            tags: vec![],
            notes: Some("prefers calls after six".into()),
            custom: [("company".to_string(), "Kessler Bau GmbH".to_string())].into(),
        };
        store::leads::upsert(tx, &record, 1, 0)?;
        store::messages::insert(
            tx,
            f.ben,
            store::messages::Direction::Inbound,
            "I run Kessler Bau GmbH: BEN@example.com, +49 170 1234567",
            500,
            "sandbox",
        )
    })
    .unwrap();
    for p in [
        Permission::LeadsRead,
        Permission::MessagesRead,
        Permission::AiGenerate,
    ] {
        f.grant(p);
    }
    // Handling an event about Anna, the plugin reads Ben's conversation and passes it on,
    // along with Ben's details as it might have kept them from an earlier call.
    let mut host = f.host();
    let history = messaging::Host::history(&mut host, f.ben as u64, 10)
        .await
        .unwrap();
    let mut conversation: Vec<_> = history.into_iter().map(|m| message(m.text)).collect();
    conversation.push(message(
        "kessler bau gmbh, ben@example.com, +491701234567, prefers calls after six".into(),
    ));
    let request = ai::GenerateRequest {
        system_prompt: "Ben is at Kessler Bau GmbH.".into(),
        conversation,
        max_tokens: None,
    };
    let reply = ai::Host::generate(&mut host, request).await.unwrap();
    assert_eq!(reply.text, "Sure.");

    let requests = server.received_requests().await.unwrap();
    let sent = String::from_utf8_lossy(&requests[0].body).to_lowercase();
    for secret in [
        "kessler",
        "ben@example.com",
        "1234567",
        "prefers calls after six",
    ] {
        assert!(
            !sent.contains(secret),
            "{secret:?} reached the provider: {sent}"
        );
    }
    assert!(sent.contains("[redacted]"), "{sent}");
    let audit = f.ai_audit();
    let handles: Vec<_> = audit.iter().map(|(lead, _)| lead.as_deref()).collect();
    assert_eq!(handles, vec![Some("anna"), Some("ben")]);
    for (_, detail) in &audit {
        let detail = detail.as_deref().unwrap_or_default();
        assert!(detail.starts_with("sent to 127.0.0.1"), "{detail}");
    }
}

#[tokio::test]
async fn history_shows_comments_only_to_plugins_that_may_see_comments() {
    let f = fixture();
    f.db.write(|tx| {
        let inbound = store::messages::Direction::Inbound;
        store::messages::insert(tx, f.anna, inbound, "price?", 400, "instagram:comment")?;
        store::messages::insert(tx, f.anna, inbound, "hi", 500, "instagram")
    })
    .unwrap();
    f.grant(Permission::MessagesRead);
    let mut host = f.host();
    let texts = |history: Vec<wit::Message>| -> Vec<String> {
        history.into_iter().map(|m| m.text).collect()
    };
    let history = messaging::Host::history(&mut host, f.anna as u64, 10);
    assert_eq!(texts(history.await.unwrap()), ["hi"]);
    f.grant(Permission::CommentsRead);
    let history = messaging::Host::history(&mut host, f.anna as u64, 10);
    assert_eq!(texts(history.await.unwrap()), ["price?", "hi"]);
}

#[tokio::test]
async fn history_hides_the_leads_email_and_phone_without_leads_read_pii() {
    let f = fixture();
    f.db.write(|tx| {
        store::messages::insert(
            tx,
            f.anna,
            store::messages::Direction::Inbound,
            "Write to Anna@Example.com or call 0151/2345/6789 on 2026-11-27",
            500,
            "sandbox",
        )
    })
    .unwrap();
    f.grant(Permission::MessagesRead);
    let mut host = f.host();
    let texts = |history: Vec<wit::Message>| -> Vec<String> {
        history.into_iter().map(|m| m.text).collect()
    };
    let history = messaging::Host::history(&mut host, f.anna as u64, 10)
        .await
        .unwrap();
    assert_eq!(
        texts(history),
        vec!["Write to [redacted] or call [redacted] on 2026-11-27"]
    );
    f.grant(Permission::LeadsReadPii);
    let history = messaging::Host::history(&mut host, f.anna as u64, 10)
        .await
        .unwrap();
    assert_eq!(
        texts(history),
        vec!["Write to Anna@Example.com or call 0151/2345/6789 on 2026-11-27"]
    );
}

#[tokio::test]
async fn every_lead_a_query_or_get_returned_is_named_in_the_ai_audit() {
    let f = fixture();
    for p in [Permission::LeadsRead, Permission::AiGenerate] {
        f.grant(p);
    }
    // A hook with no lead of its own, such as a scheduled one.
    let mut host = HostState::new(
        f.services.clone(),
        CallContext::new(PLUGIN, 1, None),
        Limits::from_config(&Default::default()),
    );
    let query = leads::LeadQuery {
        status: None,
        tag: None,
        last_contact_before: None,
        limit: 1,
    };
    let found = leads::Host::query(&mut host, query).await.unwrap();
    assert_eq!(found.len(), 1);
    leads::Host::get(&mut host, f.ben as u64).await.unwrap();
    let request = ai::GenerateRequest {
        system_prompt: String::new(),
        conversation: vec![],
        max_tokens: None,
    };
    ai::Host::generate(&mut host, request).await.unwrap();
    let handles: Vec<_> = f.ai_audit().into_iter().map(|(lead, _)| lead).collect();
    assert_eq!(handles, vec![Some("anna".into()), Some("ben".into())]);
}

#[tokio::test]
async fn a_call_still_running_when_its_lead_is_forgotten_keeps_nothing_about_them() {
    let f = fixture();
    f.grant(Permission::Storage);
    let mut host = f.host();
    let key = |id: i64| format!("lead/{id}/note");
    storage::Host::set(&mut host, key(f.ben), b"kept".to_vec())
        .await
        .unwrap();
    let ben = f.db.read(|c| store::leads::get(c, f.ben)).unwrap().unwrap();
    f.db.write(|tx| store::leads::forget(tx, &ben, 0)).unwrap();
    assert_eq!(
        storage::Host::set(&mut host, key(f.ben), b"after".to_vec()).await,
        Err(wit::Error::NotFound)
    );
    assert_eq!(storage::Host::get(&mut host, key(f.ben)).await, Ok(None));
    // Audit rows of the call name no one who is gone.
    host.audit("probe.action", None, Some(f.ben), true, None);
    let rows =
        f.db.read(|c| {
            store::audit::list(
                c,
                &store::audit::AuditFilter {
                    limit: 100,
                    ..Default::default()
                },
            )
        })
        .unwrap();
    assert!(rows.iter().all(|r| r.lead.is_none()), "{rows:?}");
}

/// What a host call answered, in terms both hosts share.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Done,
    Denied(Permission),
    Unavailable,
    Invalid,
    NotFound,
    OverLimit,
}

fn host_answer<T>(result: Result<T, wit::Error>) -> Answer {
    match result {
        Ok(_) => Answer::Done,
        Err(wit::Error::PermissionDenied(name)) => Answer::Denied(name.parse().unwrap()),
        Err(wit::Error::Unavailable(_)) => Answer::Unavailable,
        Err(wit::Error::Invalid(_)) => Answer::Invalid,
        Err(wit::Error::NotFound) => Answer::NotFound,
        Err(wit::Error::LimitExceeded(_)) => Answer::OverLimit,
    }
}

fn fake_answer<T>(result: outreach_sdk::Result<T>) -> Answer {
    use outreach_sdk::Error;
    match result {
        Ok(_) => Answer::Done,
        // The fake host names a permission as the host does, or this parse fails.
        Err(Error::PermissionDenied(name)) => Answer::Denied(name.parse().unwrap()),
        Err(Error::Unavailable(_)) => Answer::Unavailable,
        Err(Error::Invalid(_)) => Answer::Invalid,
        Err(Error::NotFound) => Answer::NotFound,
        Err(Error::LimitExceeded(_)) => Answer::OverLimit,
    }
}

const CASES: [&str; 11] = [
    "leads.get",
    "leads.query",
    "leads.set-score 50",
    "leads.set-score 101",
    "leads.set-status contacted",
    "leads.add-tag",
    "messaging.history",
    "messaging.send",
    "ai.generate",
    "storage.get",
    // Not a comment event: the permission is asked first, then the event refused.
    "comments.reply-publicly",
];

async fn ask_host(host: &mut HostState, case: &str, lead: u64) -> Answer {
    match case {
        "leads.get" => host_answer(leads::Host::get(host, lead).await),
        "leads.query" => host_answer(
            leads::Host::query(
                host,
                leads::LeadQuery {
                    status: None,
                    tag: None,
                    last_contact_before: None,
                    limit: 10,
                },
            )
            .await,
        ),
        "leads.set-score 50" => host_answer(leads::Host::set_score(host, lead, 50).await),
        "leads.set-score 101" => host_answer(leads::Host::set_score(host, lead, 101).await),
        "leads.set-status contacted" => {
            host_answer(leads::Host::set_status(host, lead, wit::LeadStatus::Contacted).await)
        }
        "leads.add-tag" => host_answer(leads::Host::add_tag(host, lead, "vip".into()).await),
        "messaging.history" => host_answer(messaging::Host::history(host, lead, 10).await),
        "messaging.send" => host_answer(messaging::Host::send(host, lead, "hi".into()).await),
        "comments.reply-publicly" => host_answer(
            crate::bindings::outreach::plugin::comments::Host::reply_publicly(host, "hi".into())
                .await,
        ),
        "ai.generate" => host_answer(
            ai::Host::generate(
                host,
                ai::GenerateRequest {
                    system_prompt: String::new(),
                    conversation: vec![],
                    max_tokens: None,
                },
            )
            .await,
        ),
        "storage.get" => host_answer(storage::Host::get(host, "k".into()).await),
        other => unreachable!("{other}"),
    }
}

fn ask_fake(case: &str, lead: u64) -> Answer {
    use outreach_sdk as sdk;
    match case {
        "leads.get" => fake_answer(sdk::leads::get(lead)),
        "leads.query" => fake_answer(sdk::leads::query(&sdk::LeadQuery {
            status: None,
            tag: None,
            last_contact_before: None,
            limit: 10,
        })),
        "leads.set-score 50" => fake_answer(sdk::leads::set_score(lead, 50)),
        "leads.set-score 101" => fake_answer(sdk::leads::set_score(lead, 101)),
        "leads.set-status contacted" => {
            fake_answer(sdk::leads::set_status(lead, sdk::LeadStatus::Contacted))
        }
        "leads.add-tag" => fake_answer(sdk::leads::add_tag(lead, "vip")),
        "messaging.history" => fake_answer(sdk::messaging::history(lead, 10)),
        "messaging.send" => fake_answer(sdk::messaging::send(lead, "hi")),
        "ai.generate" => fake_answer(sdk::ai::generate(&sdk::GenerateRequest {
            system_prompt: String::new(),
            conversation: vec![],
            max_tokens: None,
        })),
        "storage.get" => fake_answer(sdk::storage::get("k")),
        "comments.reply-publicly" => fake_answer(sdk::comments::reply_publicly("hi")),
        other => unreachable!("{other}"),
    }
}

/// The same question asked of the real host and of the SDK's fake host (both compile
/// `consent::policy`): for every set of grants (none, each alone, each with `leads:read`,
/// all), every call, on the event's lead and on another lead who is or is not
/// do-not-contact, they give the same answer.
#[tokio::test]
async fn the_sdk_fake_host_answers_every_permission_case_as_the_host_does() {
    use outreach_sdk::testing::{FakeHost, lead};
    let mut grant_sets: Vec<Vec<Permission>> = vec![vec![], Permission::ALL.to_vec()];
    for p in Permission::ALL {
        grant_sets.push(vec![p]);
        grant_sets.push(vec![Permission::LeadsRead, p]);
    }
    let mut asked = 0;
    for grants in &grant_sets {
        for other_opted_out in [false, true] {
            let f = fixture();
            for p in grants {
                f.grant(*p);
            }
            if other_opted_out {
                f.db.write(|tx| store::leads::mark_do_not_contact(tx, f.ben, "said stop", 0))
                    .unwrap();
            }
            let (anna, ben) = (f.anna as u64, f.ben as u64);
            let sdk_grants: Vec<outreach_sdk::Permission> =
                grants.iter().map(|p| sdk_permission(*p)).collect();
            let mut ben_lead = lead(ben, "ben");
            if other_opted_out {
                ben_lead.status = outreach_sdk::LeadStatus::DoNotContact;
            }
            FakeHost::new()
                .grant_only(&sdk_grants)
                .with_event_lead(anna)
                .with_lead(lead(anna, "anna"))
                .with_lead(ben_lead)
                .install();
            for target in [anna, ben] {
                for case in CASES {
                    // A fresh call each time: per-call budgets play no part here.
                    let from_host = ask_host(&mut f.host(), case, target).await;
                    let from_fake = ask_fake(case, target);
                    assert_eq!(
                        from_host, from_fake,
                        "{case} on lead {target} (other lead opted out: {other_opted_out}) with {grants:?}"
                    );
                    asked += 1;
                }
            }
        }
    }
    assert_eq!(asked, grant_sets.len() * 2 * 2 * CASES.len());
}

/// The permission as the SDK's type (the same WIT enum, generated twice).
fn sdk_permission(permission: Permission) -> outreach_sdk::Permission {
    use outreach_sdk::Permission as P;
    match permission {
        Permission::LeadsRead => P::LeadsRead,
        Permission::LeadsReadPii => P::LeadsReadPii,
        Permission::LeadsWrite => P::LeadsWrite,
        Permission::MessagesRead => P::MessagesRead,
        Permission::MessagesSend => P::MessagesSend,
        Permission::AiGenerate => P::AiGenerate,
        Permission::Storage => P::Storage,
        Permission::CommentsRead => P::CommentsRead,
        Permission::CommentsReply => P::CommentsReply,
    }
}

/// What a plugin asks in the limit walk below.
enum Ask {
    Send(String),
    AddTag(String),
    StorageGet(String),
    StorageSet(String, usize),
    Setting(&'static str),
}

async fn ask_host_limit(host: &mut HostState, lead: u64, ask: &Ask) -> Answer {
    match ask {
        Ask::Send(text) => host_answer(messaging::Host::send(host, lead, text.clone()).await),
        Ask::AddTag(tag) => host_answer(leads::Host::add_tag(host, lead, tag.clone()).await),
        Ask::StorageGet(key) => host_answer(storage::Host::get(host, key.clone()).await),
        Ask::StorageSet(key, len) => {
            host_answer(storage::Host::set(host, key.clone(), vec![7; *len]).await)
        }
        Ask::Setting(key) => match settings::Host::get(host, key.to_string()).await {
            Some(_) => Answer::Done,
            None => Answer::NotFound,
        },
    }
}

fn ask_fake_limit(lead: u64, ask: &Ask) -> Answer {
    use outreach_sdk as sdk;
    match ask {
        Ask::Send(text) => fake_answer(sdk::messaging::send(lead, text)),
        Ask::AddTag(tag) => fake_answer(sdk::leads::add_tag(lead, tag)),
        Ask::StorageGet(key) => fake_answer(sdk::storage::get(key)),
        Ask::StorageSet(key, len) => fake_answer(sdk::storage::set(key, &vec![7; *len])),
        Ask::Setting(key) => match sdk::settings::get(key) {
            Some(_) => Answer::Done,
            None => Answer::NotFound,
        },
    }
}

/// Every limit of the shared policy walked to one past it, on the real host and on the
/// SDK's fake host: message text (empty, a control character, one byte too long), messages
/// per call, tags (length, control characters, tags per lead), storage (key length, value
/// size, quota) and the hidden `limits.*` settings. Both must answer every step alike, and
/// the answers must be the refusals the policy names (so neither may simply accept).
#[tokio::test]
async fn the_sdk_fake_host_refuses_every_limit_as_the_host_does() {
    use outreach_sdk::testing::{FakeHost, lead};
    use policy::{
        SENDS_PER_CALL, STORAGE_KEY_MAX_BYTES, STORAGE_QUOTA_BYTES, STORAGE_VALUE_MAX_BYTES,
        TAG_MAX_CHARS, TAGS_PER_LEAD, TEXT_MAX_BYTES,
    };

    use crate::consent::policy;

    let f = fixture();
    for p in Permission::ALL {
        f.grant(p);
    }
    f.db.write(|tx| {
        store::plugins::set_setting(tx, PLUGIN, "greeting", Some("hi"))?;
        store::plugins::set_setting(tx, PLUGIN, "limits.fuel", Some("5000"))
    })
    .unwrap();
    let anna = f.anna as u64;
    let fake = FakeHost::new()
        .with_event_lead(anna)
        .with_lead(lead(anna, "anna"))
        .with_setting("greeting", "hi")
        .with_setting("limits.fuel", "5000");

    // One hook call: the sends count against it.
    let mut sends = vec![
        (Ask::Send(" ".into()), Answer::Invalid),
        (Ask::Send("rtl\u{202E} gnp.exe".into()), Answer::Invalid),
        (Ask::Send("a".repeat(TEXT_MAX_BYTES + 1)), Answer::Invalid),
        (Ask::Send("a".repeat(TEXT_MAX_BYTES)), Answer::Done),
    ];
    for n in 1..SENDS_PER_CALL {
        sends.push((Ask::Send(format!("line\n{n}")), Answer::Done));
    }
    sends.push((Ask::Send("one too many".into()), Answer::OverLimit));

    // Each its own call: these limits hold across calls.
    let mut others = vec![
        (Ask::AddTag(String::new()), Answer::Invalid),
        (Ask::AddTag("t".repeat(TAG_MAX_CHARS + 1)), Answer::Invalid),
        (Ask::AddTag("a\u{1b}[2J".into()), Answer::Invalid),
        (Ask::AddTag(" vip ".into()), Answer::Done),
    ];
    for n in 1..TAGS_PER_LEAD {
        others.push((Ask::AddTag(format!("tag-{n}")), Answer::Done));
    }
    others.push((Ask::AddTag("one-too-many".into()), Answer::OverLimit));
    others.push((Ask::AddTag("vip".into()), Answer::Done));
    others.push((
        Ask::StorageGet("k".repeat(STORAGE_KEY_MAX_BYTES + 1)),
        Answer::Invalid,
    ));
    others.push((
        Ask::StorageSet("k".repeat(STORAGE_KEY_MAX_BYTES), 1),
        Answer::Done,
    ));
    others.push((
        Ask::StorageSet("big".into(), STORAGE_VALUE_MAX_BYTES + 1),
        Answer::OverLimit,
    ));
    let fits = (STORAGE_QUOTA_BYTES as usize) / (STORAGE_VALUE_MAX_BYTES + 3);
    for n in 0..fits {
        others.push((
            Ask::StorageSet(format!("v{n:02}"), STORAGE_VALUE_MAX_BYTES),
            Answer::Done,
        ));
    }
    others.push((
        Ask::StorageSet("over".into(), STORAGE_VALUE_MAX_BYTES),
        Answer::OverLimit,
    ));
    // Replacing a value does not count it twice.
    others.push((
        Ask::StorageSet("v00".into(), STORAGE_VALUE_MAX_BYTES),
        Answer::Done,
    ));
    others.push((Ask::Setting("greeting"), Answer::Done));
    others.push((Ask::Setting("limits.fuel"), Answer::NotFound));

    let fake = fake.install();
    let mut call = f.host();
    for (ask, expected) in &sends {
        let from_host = ask_host_limit(&mut call, anna, ask).await;
        let from_fake = ask_fake_limit(anna, ask);
        assert_eq!(
            (&from_host, &from_fake),
            (expected, expected),
            "step {}",
            describe(ask)
        );
    }
    assert_eq!(fake.sent().len(), SENDS_PER_CALL);
    for (ask, expected) in &others {
        let from_host = ask_host_limit(&mut f.host(), anna, ask).await;
        let from_fake = ask_fake_limit(anna, ask);
        assert_eq!(
            (&from_host, &from_fake),
            (expected, expected),
            "step {}",
            describe(ask)
        );
    }
    assert_eq!(fake.lead(anna).unwrap().tags.len(), TAGS_PER_LEAD as usize);
}

fn describe(ask: &Ask) -> String {
    let short = |s: &str| s.chars().take(20).collect::<String>();
    match ask {
        Ask::Send(text) => format!("send {:?} ({} bytes)", short(text), text.len()),
        Ask::AddTag(tag) => format!("add-tag {:?} ({} chars)", short(tag), tag.chars().count()),
        Ask::StorageGet(key) => format!("storage.get of a {}-byte key", key.len()),
        Ask::StorageSet(key, len) => format!("storage.set {:?} of {len} bytes", short(key)),
        Ask::Setting(key) => format!("settings.get {key:?}"),
    }
}
