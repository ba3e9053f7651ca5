//! Follow-up sequences under a pinned clock: steps fire at the right times, stop on reply,
//! and delivery keeps to quiet hours and the daily cap.

mod support;

use outreach::clock::{format, parse_rfc3339};
use support::{Backend, Sandbox};

const CONFIG: &str =
    "[sending]\ndaily_cap = 2\nquiet_hours = \"20:00-08:00\"\ntimezone = \"UTC\"\n";

const STEPS: &str = r#"steps=[{"after_hours":0,"variants":["Hi {first_name|there}!"]},{"after_hours":24,"variants":["Following up, {first_name|there}."]},{"after_hours":48,"variants":["Last note from us."]}]"#;

/// Outbound messages of a lead as (time, text).
fn sent(sandbox: &Sandbox, handle: &str) -> Vec<(String, String)> {
    sandbox
        .json(&["conversations", "show", handle])
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .map(|m| {
            (
                format(m["at"].as_i64().unwrap()),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn at(t: &str) -> String {
    format(parse_rfc3339(t).unwrap())
}

fn steps_fire_on_time_stop_on_reply_and_respect_quiet_hours_and_the_cap(backend: Backend) {
    let mut sandbox = Sandbox::on(backend, "follow_up_steps", CONFIG);
    sandbox.at("2026-11-26T09:00:00Z");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.ok(&["plugin", "config", "followup", STEPS]);
    let leads = sandbox.write("leads.csv", "handle,name\nann,Ann Lee\nbob,\ncid,Cid Moe\n");
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);

    // Day 1: three first messages are due; the cap lets two out.
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "ann"),
        vec![(at("2026-11-26T09:00:00Z"), "Hi Ann!".into())]
    );
    assert_eq!(
        sent(&sandbox, "bob"),
        vec![(at("2026-11-26T09:00:00Z"), "Hi there!".into())]
    );
    assert!(sent(&sandbox, "cid").is_empty());

    // Midnight starts a new day, but quiet hours hold until 08:00.
    sandbox.at("2026-11-27T07:59:00Z");
    let out = sandbox.ok(&["run", "--until-idle"]);
    assert!(out.contains("sent 0 message(s)"), "{out}");
    sandbox.at("2026-11-27T08:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "cid"),
        vec![(at("2026-11-27T08:00:00Z"), "Hi Cid!".into())]
    );

    // Bob answers before his second step is due.
    sandbox.ok(&[
        "inbox",
        "push",
        "bob",
        "sounds good, tell me more",
        "--at",
        "2026-11-27T08:30:00Z",
    ]);

    // Step two is due 24 h after step one: Ann gets it (the second of today's two), Bob's
    // sequence stops because he replied, and Cid's waits for tomorrow's first slot.
    sandbox.at("2026-11-27T09:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "ann")[1],
        (at("2026-11-27T09:00:00Z"), "Following up, Ann.".into())
    );
    assert_eq!(sent(&sandbox, "bob").len(), 1);
    assert_eq!(sent(&sandbox, "cid").len(), 1);
    let bob = sandbox.lead("bob");
    assert_eq!(bob["follow_ups"][0]["state"], "stopped");
    assert_eq!(bob["follow_ups"][0]["reason"], "lead replied");

    sandbox.at("2026-11-28T08:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "cid")[1],
        (at("2026-11-28T08:00:00Z"), "Following up, Cid.".into())
    );

    // The last step, 48 h after the second, ends the sequence.
    sandbox.at("2026-11-29T09:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "ann")[2],
        (at("2026-11-29T09:00:00Z"), "Last note from us.".into())
    );
    let ann = sandbox.lead("ann");
    assert_eq!(ann["follow_ups"][0]["state"], "done");
    sandbox.at("2026-12-05T09:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent(&sandbox, "ann").len(),
        3,
        "nothing after the last step"
    );
}

fn a_reply_withdraws_a_follow_up_still_waiting_in_the_outbox(backend: Backend) {
    let mut sandbox = Sandbox::on(backend, "follow_up_withdrawn", "[sending]\ndaily_cap = 1\n");
    sandbox.at("2026-11-26T09:00:00Z");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.ok(&["plugin", "config", "followup", STEPS]);
    let leads = sandbox.write("leads.csv", "handle,name\nxia,Xia\nyan,Yan\n");
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    sandbox.ok(&["run", "--until-idle"]);
    assert!(
        sent(&sandbox, "yan").is_empty(),
        "the cap holds yan's first message back"
    );

    sandbox.ok(&[
        "inbox",
        "push",
        "yan",
        "hi, who are you?",
        "--at",
        "2026-11-26T22:00:00Z",
    ]);
    sandbox.at("2026-11-27T09:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert!(
        sent(&sandbox, "yan").is_empty(),
        "a follow-up never answers a reply"
    );
    let yan = sandbox.lead("yan");
    assert_eq!(yan["outbox"][0]["status"], "blocked");
    assert_eq!(yan["outbox"][0]["detail"], "withdrawn: lead replied");
    assert_eq!(yan["follow_ups"][0]["state"], "stopped");
}

on_both_backends!(
    steps_fire_on_time_stop_on_reply_and_respect_quiet_hours_and_the_cap,
    a_reply_withdraws_a_follow_up_still_waiting_in_the_outbox,
);
