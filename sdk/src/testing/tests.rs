//! Checks that the fake host applies the real host's rules, so plugin tests can trust it.

use super::{DEFAULT_NOW, FakeHost, OFFLINE_REPLY, lead};
use crate::{
    Direction, Error, GenerateRequest, LeadQuery, LeadStatus, Level, Message, Permission, ai,
    clock, leads, log, messaging, settings, storage,
};

fn with_pii(id: u64) -> crate::Lead {
    let mut l = lead(id, "ana.fit");
    l.email = Some("ana@example.com".into());
    l.custom_fields = vec![("bio".into(), "coach".into())];
    l
}

#[test]
fn calls_outside_the_grants_are_denied() {
    FakeHost::new()
        .with_lead(lead(1, "ana.fit"))
        .grant_only(&[Permission::MessagesRead])
        .install();
    assert_eq!(
        messaging::send(1, "hi"),
        Err(Error::permission_denied(Permission::MessagesSend))
    );
    assert_eq!(
        leads::add_tag(1, "x"),
        Err(Error::permission_denied(Permission::LeadsWrite))
    );
    assert_eq!(
        storage::get("k"),
        Err(Error::permission_denied(Permission::Storage))
    );
    let query = LeadQuery {
        status: None,
        tag: None,
        last_contact_before: None,
        limit: 10,
    };
    assert_eq!(
        leads::query(&query),
        Err(Error::permission_denied(Permission::LeadsRead))
    );
    let request = GenerateRequest {
        system_prompt: String::new(),
        conversation: vec![],
        max_tokens: None,
    };
    assert_eq!(
        ai::generate(&request),
        Err(Error::permission_denied(Permission::AiGenerate))
    );
    assert_eq!(messaging::history(1, 5), Ok(vec![]));
}

#[test]
fn personal_fields_need_pii_and_vanish_for_do_not_contact() {
    let host = FakeHost::new().with_lead(with_pii(1)).install();
    assert_eq!(
        leads::get(1).unwrap().email.as_deref(),
        Some("ana@example.com")
    );
    leads::set_status(1, LeadStatus::DoNotContact).unwrap();
    let seen = leads::get(1).unwrap();
    assert_eq!((seen.email, seen.custom_fields), (None, vec![]));
    assert_eq!(
        messaging::send(1, "hi"),
        Err(Error::Unavailable("lead is do-not-contact".into()))
    );
    assert!(leads::set_status(1, LeadStatus::New).is_err());
    assert!(host.sent().is_empty());

    host.clone()
        .with_lead(with_pii(2))
        .grant_only(&[Permission::LeadsRead]);
    assert_eq!(leads::get(2).unwrap().email, None);
    assert_eq!(
        host.lead(2).unwrap().email.as_deref(),
        Some("ana@example.com")
    );
}

#[test]
fn changes_are_recorded_and_visible() {
    let host = FakeHost::new()
        .with_lead(lead(1, "ana.fit"))
        .with_now(42)
        .install();
    leads::add_tag(1, "hot").unwrap();
    leads::add_tag(1, "hot").unwrap();
    leads::set_score(1, 80).unwrap();
    leads::set_status(1, LeadStatus::Contacted).unwrap();
    assert_eq!(
        leads::set_score(1, 101),
        Err(Error::Invalid("score is 101; it must be 0-100".into()))
    );
    assert_eq!(leads::add_tag(9, "x"), Err(Error::NotFound));
    assert_eq!(messaging::send(9, "hi"), Err(Error::NotFound));
    messaging::send(1, "hi").unwrap();
    storage::set("k", b"v").unwrap();
    log::info("done");

    let stored = host.lead(1).unwrap();
    assert_eq!(
        (stored.tags, stored.score, stored.status),
        (vec!["hot".to_string()], Some(80), LeadStatus::Contacted)
    );
    assert_eq!(host.sent(), vec![(1, "hi".to_string())]);
    assert_eq!(host.storage_get("k"), Some(b"v".to_vec()));
    assert_eq!(host.logs(), vec![(Level::Info, "done".to_string())]);
    assert_eq!(clock::now(), 42);
}

#[test]
fn history_is_the_latest_messages_oldest_first() {
    let message = |at| Message {
        direction: Direction::Inbound,
        text: format!("m{at}"),
        at,
    };
    let host = (0..60).fold(FakeHost::new().with_lead(lead(1, "ana.fit")), |h, at| {
        h.with_message(1, message(at))
    });
    host.install();
    assert_eq!(messaging::history(1, 2), Ok(vec![message(58), message(59)]));
    assert_eq!(messaging::history(1, 500).unwrap().len(), 50);
}

#[test]
fn ai_answers_offline_by_default_and_records_requests() {
    let host = FakeHost::new().with_setting("tone", "warm").install();
    let request = GenerateRequest {
        system_prompt: "be nice".into(),
        conversation: vec![],
        max_tokens: Some(5),
    };
    let generated = ai::generate(&request).unwrap();
    assert_eq!(
        (generated.text.as_str(), generated.offline),
        (OFFLINE_REPLY, true)
    );
    assert_eq!(host.ai_requests(), vec![request.clone()]);

    host.clone()
        .with_ai_error(Error::Unavailable("down".into()));
    assert_eq!(
        ai::generate(&request),
        Err(Error::Unavailable("down".into()))
    );
    assert_eq!(
        settings::all(),
        vec![("tone".to_string(), "warm".to_string())]
    );
    assert_eq!(settings::get_or("missing", 3), Ok(3));
    assert!(settings::get_or("tone", 3).is_err());
    assert_eq!(lead(1, "x").created_at, DEFAULT_NOW);
}

#[test]
#[should_panic(
    expected = "outreach-sdk: host functions are only available inside the outreach host"
)]
fn calls_without_an_installed_fake_panic_clearly() {
    clock::now();
}

#[test]
fn query_filters_oldest_first_up_to_the_limit() {
    let mut old = lead(1, "old");
    old.created_at -= 10;
    old.last_outbound_at = Some(5);
    let mut tagged = lead(2, "tagged");
    tagged.tags = vec!["vip".into()];
    let mut recent = lead(3, "recent");
    recent.last_inbound_at = Some(100);
    FakeHost::new()
        .with_lead(recent)
        .with_lead(tagged)
        .with_lead(old)
        .install();
    let ids = |query: LeadQuery| {
        leads::query(&query)
            .unwrap()
            .iter()
            .map(|l| l.id)
            .collect::<Vec<_>>()
    };
    let all = LeadQuery {
        status: None,
        tag: None,
        last_contact_before: None,
        limit: 10,
    };
    assert_eq!(ids(all.clone()), vec![1, 2, 3]);
    assert_eq!(
        ids(LeadQuery {
            limit: 1,
            ..all.clone()
        }),
        vec![1]
    );
    assert_eq!(
        ids(LeadQuery {
            tag: Some("vip".into()),
            ..all.clone()
        }),
        vec![2]
    );
    assert_eq!(
        ids(LeadQuery {
            last_contact_before: Some(50),
            ..all
        }),
        vec![1, 2]
    );
}

/// A plugin that asks only to send: what a forgotten `leads:read-pii` looks like.
struct SendsOnly;

impl crate::Plugin for SendsOnly {
    fn manifest() -> crate::Manifest {
        crate::Manifest {
            name: "sends-only".into(),
            version: "1".into(),
            description: String::new(),
            hooks: vec![crate::Hook::Filter],
            permissions: vec![Permission::MessagesSend],
        }
    }
}

#[test]
fn a_fake_for_a_plugin_grants_what_its_manifest_requests() {
    FakeHost::for_plugin::<SendsOnly>()
        .with_lead(with_pii(1))
        .install();
    assert_eq!(messaging::send(1, "hi"), Ok(()));
    assert_eq!(
        messaging::history(1, 5),
        Err(Error::permission_denied(Permission::MessagesRead))
    );
    // Without leads:read-pii a lead's personal fields are hidden, as by the host.
    let seen = leads::get(1).unwrap();
    assert_eq!((seen.email, seen.custom_fields), (None, vec![]));
}

#[test]
fn with_an_event_lead_other_leads_need_leads_read_as_under_the_host() {
    let host = FakeHost::new()
        .grant_only(&[Permission::MessagesSend])
        .with_event_lead(1)
        .with_lead(lead(1, "ana.fit"))
        .with_lead(lead(2, "ben"))
        .install();
    messaging::send(1, "hi").unwrap();
    assert_eq!(
        messaging::send(2, "hi"),
        Err(Error::permission_denied(Permission::LeadsRead))
    );
    assert_eq!(
        leads::get(2).map(|l| l.id),
        Err(Error::permission_denied(Permission::LeadsRead))
    );
    assert_eq!(host.sent(), [(1, "hi".to_string())]);
}
