//! Plugins built for an earlier contract keep working: the 0.1.0 builds of the bundled
//! plugins and of the Rust example (tests/fixtures/contract-0.1/, never rebuilt) install on
//! this host, say which contract they were built for, and run every hook they have through
//! the whole flow: filter on import, a first message, an answer to a reply, a hand-over,
//! a follow-up days later.

mod support;

use support::{Backend, Sandbox};

/// A file under the repository's root (the host crate's parent).
fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is inside the repository");
    root.join(path).to_string_lossy().into_owned()
}

fn fixture(file: &str) -> String {
    repo_file(&format!("tests/fixtures/contract-0.1/{file}"))
}

fn plugins_built_for_contract_0_1_run_every_hook_on_this_host(backend: Backend) {
    let mut sandbox = Sandbox::on(backend, "plugins_built_for_contract_0_1_run_every", "");
    sandbox.at("2026-11-27T10:00:00Z");
    for file in ["lead-scorer.wasm", "followup.wasm", "ai-reply.wasm"] {
        let path = fixture(file);
        let shown = sandbox.ok(&["plugin", "inspect", &path]);
        assert!(shown.contains("built for outreach:plugin@0.1.0"), "{shown}");
        sandbox.install_unsigned(&path);
    }
    // As the demo sets it: the weakest of the example's leads are dropped.
    sandbox.ok(&["plugin", "config", "lead-scorer", "min_score=30"]);
    let leads = repo_file("examples/leads.csv");
    sandbox.ok(&["leads", "import", &leads]);
    sandbox.ok(&["run", "--until-idle"]);
    // The scorer's filter ran: some leads kept, the weakest dropped.
    let events = sandbox.ok(&["events"]);
    assert!(events.contains("kept (score"), "{events}");
    assert!(
        sandbox.lead("tom.eats")["lead"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "filtered-out")
    );
    // The follow-up's first message went out; the AI reply (offline: no key) answers a reply.
    assert_eq!(sandbox.conversation("mara.fit").len(), 1);
    sandbox.ok(&["inbox", "push", "mara.fit", "How much does it cost?"]);
    sandbox.ok(&["run", "--until-idle"]);
    let mara = sandbox.conversation("mara.fit");
    assert!(mara[2].starts_with("> Thanks for your message"), "{mara:?}");
    // Its hand-over decision still hands over.
    sandbox.ok(&[
        "inbox",
        "push",
        "lena.studio",
        "Can I talk to a real person?",
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sandbox.lead("lena.studio")["lead"]["status"], "needs-human");
    // Days later, the follow-up hook: a lead who never answered gets the next step.
    let before = sandbox.conversation("anna.agency").len();
    sandbox.at("2026-12-02T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let anna = sandbox.conversation("anna.agency");
    assert!(before >= 1 && anna.len() > before, "{anna:?}");
    assert!(anna.iter().all(|m| m.starts_with('>')), "{anna:?}");
    // Nothing failed or was parked along the way.
    let failed = sandbox.json(&["events", "--failed"]);
    assert_eq!(failed.as_array().unwrap().len(), 0, "{failed}");
}

on_both_backends!(plugins_built_for_contract_0_1_run_every_hook_on_this_host);

/// A refusal reaches a 0.1 plugin in 0.1's words (its `permission` enum), and comes back
/// from it named as the host names it: the conversion runs both ways.
#[test]
fn a_0_1_plugin_is_refused_a_permission_it_was_not_granted_by_name() {
    let sandbox = Sandbox::new("");
    let path = fixture("ai-reply.wasm");
    sandbox.ok(&[
        "plugin",
        "install",
        &path,
        "--allow-unsigned",
        "--grant",
        "messages:send",
        "--grant",
        "ai:generate",
    ]);
    sandbox.ok(&["inbox", "push", "mara.fit", "How much does it cost?"]);
    sandbox.ok(&["run", "--until-idle"]);
    let failed = sandbox.json(&["events", "--failed"]);
    let error = &failed[0]["results"][0]["error"];
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("permission denied: messages:read")),
        "{failed}"
    );
    assert!(
        sandbox
            .conversation("mara.fit")
            .iter()
            .all(|m| m.starts_with('<'))
    );
    let denied = sandbox
        .audit()
        .into_iter()
        .any(|row| row["permission"] == "messages:read" && row["allowed"] == false);
    assert!(denied, "the denial is audited");
}
