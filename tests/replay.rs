//! Replaying an event, as after a crash, never sends twice.

mod support;

use support::{Sandbox, hostile_wasm};

#[test]
fn replaying_an_event_sends_once() {
    let sandbox = Sandbox::new("");
    sandbox.install_unsigned(&hostile_wasm());
    sandbox.ok(&["plugin", "install", "ai-reply", "--grant-requested"]);
    sandbox.ok(&["inbox", "push", "rita", "hello"]);
    sandbox.ok(&["run", "--until-idle"]);
    let before = sandbox.conversation("rita");
    // Two plugins replied: the echo and the offline AI answer.
    assert_eq!(before.len(), 3, "{before:?}");

    let event = sandbox.json(&["events"])[0]["id"].as_i64().unwrap();
    for _ in 0..2 {
        sandbox.ok(&["events", "replay", &event.to_string()]);
        let out = sandbox.ok(&["run", "--until-idle"]);
        assert!(
            out.contains("2 hook call(s)") && out.contains("sent 0 message(s)"),
            "{out}"
        );
    }
    assert_eq!(sandbox.conversation("rita"), before);
    assert_eq!(sandbox.lead("rita")["outbox"].as_array().unwrap().len(), 2);
}

#[test]
fn replaying_a_follow_up_step_neither_resends_nor_skips_a_step() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", "handle\nzed\n").to_str().unwrap(),
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    let follow_up = sandbox.json(&["events"])[0].clone();
    assert_eq!(follow_up["kind"], "follow-up");
    sandbox.ok(&["events", "replay", &follow_up["id"].to_string()]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sandbox.conversation("zed").len(), 1);
    let zed = sandbox.lead("zed");
    assert_eq!(
        zed["follow_ups"][0]["step"], 1,
        "still waiting for the second step"
    );
    assert_eq!(zed["follow_ups"][0]["state"], "active");
    let events = sandbox.json(&["events"]);
    assert!(
        events[0]["results"][0]["outcome"]
            .as_str()
            .unwrap()
            .contains("already queued (replay)"),
        "{events}"
    );
}
