//! `outreach demo` end to end: the conversations and the audit it leaves behind.

mod support;

use support::{Backend, Sandbox};

fn demo_runs_the_whole_flow_on_a_fresh_directory(backend: Backend) {
    let sandbox = Sandbox::on(backend, "demo", "");
    let out = sandbox.ok(&["demo"]);
    assert!(out.contains("== conversations"), "{out}");
    assert!(
        out.contains("granted: leads:read-pii"),
        "the demo prints what it grants:\n{out}"
    );

    // A lead who asked a question got the follow-up's first message and an AI reply (offline
    // here: no key is set), in that order.
    let mara = sandbox.conversation("mara.fit");
    assert_eq!(mara.len(), 3, "{mara:?}");
    assert!(
        mara[0].starts_with('>'),
        "first message goes out first: {mara:?}"
    );
    assert!(mara[1].starts_with("< Hi! Sounds interesting"), "{mara:?}");
    assert!(
        mara[2].starts_with("> Thanks for your message"),
        "offline AI reply: {mara:?}"
    );

    // The scorer dropped the weakest leads: no messages for them.
    for handle in ["tom.eats", "kai_design"] {
        assert!(
            sandbox.conversation(handle).is_empty(),
            "{handle} was filtered out"
        );
        let tags = sandbox.lead(handle)["lead"]["tags"].clone();
        assert!(
            tags.as_array().unwrap().iter().any(|t| t == "filtered-out"),
            "{tags}"
        );
    }

    // A filter's reason is kept whichever way it decided.
    let events = sandbox.ok(&["events"]);
    assert!(
        events.contains("kept (score") && events.contains("meets minimum"),
        "{events}"
    );

    // The opt-out: do-not-contact, and nothing after their STOP.
    let jonas = sandbox.lead("jonas_builds");
    assert_eq!(jonas["lead"]["status"], "do-not-contact");
    let convo = sandbox.conversation("jonas_builds");
    assert_eq!(convo.last().unwrap(), "< STOP", "{convo:?}");

    // The hand-over trigger: needs a human, no automatic answer.
    let lena = sandbox.lead("lena.studio");
    assert_eq!(lena["lead"]["status"], "needs-human");
    assert!(
        sandbox
            .conversation("lena.studio")
            .last()
            .unwrap()
            .starts_with("< Can I talk")
    );

    // Every lead data access and send is in the audit, with no message bodies.
    let audit = sandbox.audit();
    let has = |plugin: &str, action: &str| {
        audit
            .iter()
            .any(|r| r["plugin"] == plugin && r["action"] == action && r["allowed"] == true)
    };
    assert!(has("ai-reply", "ai.generate"));
    assert!(has("ai-reply", "messaging.history"));
    assert!(has("followup", "follow-up.send"));
    assert!(has("lead-scorer", "filter.event"));
    assert!(has("ai-reply", "outbox.deliver"));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(
        !text.contains("Sounds interesting") && !text.contains("refund"),
        "audit holds no message bodies"
    );

    // A second demo in the same place refuses rather than mixing data.
    assert!(sandbox.fails(&["demo"]).contains("fresh database"));
}

on_both_backends!(demo_runs_the_whole_flow_on_a_fresh_directory,);
