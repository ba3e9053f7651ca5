//! Replaying an event, as after a crash, never sends twice.

mod support;

use support::{Sandbox, hostile_wasm};

#[test]
fn replaying_an_event_sends_once() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["plugin", "install", &hostile_wasm(), "--grant-requested"]);
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
