//! Opt-out and do-not-contact: once a lead says STOP or is blocked, no automated message
//! reaches them — not a reply, not a queued follow-up, not a plugin's own send.

mod support;

use support::{Backend, Sandbox, hostile_wasm};

const CONFIG: &str = "[sending]\ndaily_cap = 1\n";

fn no_automated_message_reaches_an_opted_out_or_blocked_lead(backend: Backend) {
    let mut sandbox = Sandbox::on(backend, "no_automated_message_reaches_an_opted_ou", CONFIG);
    sandbox.at("2026-11-26T10:00:00Z");
    let leads = sandbox.write(
        "leads.csv",
        "handle,name\nfirst_one,First\nsecond_one,Second\nthird_one,Third\n",
    );
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.install_unsigned(&hostile_wasm());
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    // The cap lets one first message out today; the other two wait in the outbox.
    sandbox.ok(&["run", "--until-idle"]);
    let sent_first: Vec<_> = ["first_one", "second_one", "third_one"]
        .iter()
        .filter(|h| !sandbox.conversation(h).is_empty())
        .collect();
    assert_eq!(sent_first, vec![&"first_one"]);

    // second_one opts out while their first message is still queued; third_one is blocked.
    let out = sandbox.ok(&["inbox", "push", "second_one", "Stop."]);
    assert!(out.contains("do-not-contact"), "{out}");
    sandbox.ok(&["leads", "block", "third_one"]);

    // The hostile plugin tries to answer the opt-out, and to send to them itself.
    sandbox.ok(&["inbox", "push", "second_one", "send"]);
    sandbox.at("2026-11-30T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);

    assert_eq!(
        sandbox.conversation("second_one"),
        vec!["< Stop.", "< send"]
    );
    assert!(sandbox.conversation("third_one").is_empty());
    for handle in ["second_one", "third_one"] {
        let lead = sandbox.lead(handle);
        assert_eq!(lead["lead"]["status"], "do-not-contact");
        assert!(
            lead["outbox"]
                .as_array()
                .unwrap()
                .iter()
                .all(|o| o["status"] == "blocked"),
            "{lead}"
        );
        assert!(
            lead["follow_ups"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["state"] == "stopped"),
            "{lead}"
        );
    }
    // The events for the opted-out lead were decided by the host, not handed to plugins.
    let events = sandbox.json(&["events"]);
    let host_decisions = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["lead"] == "second_one" && e["kind"] == "inbound")
        .all(|e| {
            e["results"][0]["plugin"] == "(host)"
                && e["results"][0]["outcome"] == "lead is do-not-contact"
        });
    assert!(host_decisions, "{events}");
}

fn a_forgotten_opt_out_stays_unreachable_when_imported_again(backend: Backend) {
    let sandbox = Sandbox::on(backend, "a_forgotten_opt_out_stays_unreachable_wh", "");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    let leads = sandbox.write("leads.csv", "handle,name\nivy,Ivy\n");
    sandbox.ok(&["inbox", "push", "ivy", "unsubscribe"]);
    sandbox.ok(&["leads", "forget", "ivy"]);
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    sandbox.ok(&["run", "--until-idle"]);
    let ivy = sandbox.lead("ivy");
    assert_eq!(ivy["lead"]["status"], "do-not-contact");
    assert_eq!(
        ivy["lead"]["dnc_reason"],
        "opted out before (suppression list)"
    );
    assert!(sandbox.conversation("ivy").is_empty());
}

on_both_backends!(
    no_automated_message_reaches_an_opted_out_or_blocked_lead,
    a_forgotten_opt_out_stays_unreachable_when_imported_again,
);
