//! Consent through the real binary and a real plugin component: calls outside the grants
//! are denied with `permission-denied`, audited, and send nothing; grants and revocations
//! hold from the next call; personal fields stay hidden without `leads:read-pii`.

mod support;

use support::{Sandbox, hostile_wasm};

fn outbound(sandbox: &Sandbox, handle: &str) -> Vec<String> {
    sandbox
        .conversation(handle)
        .into_iter()
        .filter(|m| m.starts_with('>'))
        .collect()
}

#[test]
fn a_plugin_without_messages_send_cannot_send_and_revocation_holds_from_the_next_call() {
    let sandbox = Sandbox::new("");
    let wasm = hostile_wasm();
    let out = sandbox.ok(&["plugin", "install", &wasm, "--allow-unsigned"]);
    assert!(
        out.contains("granted: nothing"),
        "no prompt, no flags: nothing granted\n{out}"
    );

    // The plugin calls messaging.send itself: denied, audited, nothing queued.
    sandbox.ok(&["inbox", "push", "zoe", "send"]);
    sandbox.ok(&["run", "--until-idle"]);
    let denied = sandbox.json(&["audit", "--denied"]);
    let denial = denied
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "messaging.send")
        .expect("the denied send is audited");
    assert_eq!(denial["permission"], "messages:send");
    assert_eq!(denial["plugin"], "hostile");
    assert_eq!(denial["lead"], "zoe");
    assert!(
        sandbox.lead("zoe")["outbox"].as_array().unwrap().is_empty(),
        "outbox stays empty"
    );

    // Returning a reply needs the same permission.
    sandbox.ok(&["inbox", "push", "zoe", "hello"]);
    sandbox.ok(&["run", "--until-idle"]);
    let events = sandbox.json(&["events"]);
    let outcome = &events[0]["results"][0]["outcome"];
    assert_eq!(
        outcome,
        "reply not sent: permission messages:send not granted"
    );
    assert!(outbound(&sandbox, "zoe").is_empty());

    sandbox.ok(&["plugin", "grant", "hostile", "messages:send"]);
    sandbox.ok(&["inbox", "push", "zoe", "hello again"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(outbound(&sandbox, "zoe"), vec!["> echo: hello again"]);

    sandbox.ok(&["plugin", "revoke", "hostile", "messages:send"]);
    sandbox.ok(&["inbox", "push", "zoe", "once more"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        outbound(&sandbox, "zoe").len(),
        1,
        "nothing sent after the revocation"
    );

    // Granting something the plugin never asked for is refused.
    let err = sandbox.fails(&["plugin", "grant", "hostile", "leads:write"]);
    assert!(err.contains("does not request leads:write"), "{err}");
}

#[test]
fn personal_fields_are_hidden_without_leads_read_pii() {
    let sandbox = Sandbox::new("");
    let leads = sandbox.write(
        "leads.csv",
        "handle,email,phone\nyuki,yuki@example.com,+81 90 1234 5678\n",
    );
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    sandbox.ok(&[
        "plugin",
        "install",
        &hostile_wasm(),
        "--allow-unsigned",
        "--grant",
        "messages:send",
    ]);

    sandbox.ok(&["inbox", "push", "yuki", "peek"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(outbound(&sandbox, "yuki"), vec!["> email=None phone=None"]);

    sandbox.ok(&["plugin", "grant", "hostile", "leads:read-pii"]);
    sandbox.ok(&["inbox", "push", "yuki", "peek"]);
    sandbox.ok(&["run", "--until-idle"]);
    let sent = outbound(&sandbox, "yuki");
    assert_eq!(
        sent[1],
        "> email=Some(\"yuki@example.com\") phone=Some(\"+819012345678\")"
    );
}

#[test]
fn plugins_have_no_ambient_authority() {
    let mut sandbox = Sandbox::new("");
    sandbox.at("2026-11-26T10:00:00Z");
    sandbox.install_unsigned(&hostile_wasm());
    sandbox.ok(&["inbox", "push", "ada", "ambient"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        outbound(&sandbox, "ada"),
        vec!["> env=0 root=false cwd=false net=false wall_clock_is_host_clock=true"]
    );
}

#[test]
fn forgetting_a_lead_erases_everything_keyed_to_them() {
    let sandbox = Sandbox::new("");
    sandbox.install_unsigned(&hostile_wasm());
    let leads = sandbox.write(
        "leads.csv",
        "handle,email,notes\nkim,kim@example.com,likes cats\nlou,lou@example.com,\n",
    );
    sandbox.ok(&["leads", "import", leads.to_str().unwrap()]);
    for handle in ["kim", "lou"] {
        sandbox.ok(&["inbox", "push", handle, "hello"]);
    }
    sandbox.ok(&["run", "--until-idle"]);
    let audit_before = sandbox.audit().len();

    let out = sandbox.ok(&["leads", "forget", "@KIM"]);
    assert!(out.contains("forgot @kim"), "{out}");
    assert!(
        sandbox
            .fails(&["leads", "show", "kim"])
            .contains("no lead with handle @kim")
    );
    let export = sandbox.ok(&["export"]);
    for trace in ["kim@example.com", "likes cats", "\"kim\""] {
        assert!(!export.contains(trace), "{trace} survived in the export");
    }
    assert!(
        export.contains("lou@example.com"),
        "other leads are untouched"
    );
    let events = sandbox.json(&["events"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["lead"] != "kim")
    );
    // The record of processing stays, without the lead.
    // Plus one row for the erasure itself, naming no one.
    let audit = sandbox.audit();
    assert_eq!(audit.len(), audit_before + 1);
    let erasure = audit.last().unwrap();
    assert_eq!(erasure["plugin"], "operator:cli");
    assert_eq!(erasure["action"], "leads.forget");
    assert!(erasure["lead"].is_null());
    assert!(
        audit
            .iter()
            .any(|r| r["lead"].is_null() && r["plugin"] == "hostile")
    );
}

#[test]
fn install_on_a_terminal_asks_for_each_permission() {
    let sandbox = Sandbox::new("");
    // messages:read yes, messages:send no, ai:generate yes.
    let shown = sandbox.on_a_terminal("plugin install ai-reply", b"y\nn\ny\n");
    assert!(shown.contains("grant messages:send to ai-reply"), "{shown}");
    let plugins = sandbox.json(&["plugin", "list"]);
    assert_eq!(
        plugins[0]["granted"],
        serde_json::json!(["messages:read", "ai:generate"])
    );
}
