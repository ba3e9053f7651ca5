//! Every per-call limit holds whatever the plugin does: spending its time inside host calls,
//! a flood of cheap allowed calls or of denied ones, log floods, oversized decisions and
//! texts, and host calls from its manifest. The plugin is `attacker`, written against the
//! WIT alone. Each test fails the way the issue reproduced it on the code before the fix.

mod support;

use std::time::Instant;

use serde_json::Value;
use support::{Sandbox, plugin_wasm};

fn attacker_wasm() -> String {
    plugin_wasm("outreach_fixture_attacker.wasm")
}

/// A sandbox with `attacker` installed and granted everything it requests; one attempt per
/// event, so a failure parks at once.
fn sandbox(limits: &str) -> Sandbox {
    let config = format!("[engine]\nmax_attempts = 1\n\n[limits]\n{limits}\n");
    let mut sandbox = Sandbox::new(&config);
    sandbox.at("2026-11-26T10:00:00Z");
    sandbox.install_unsigned(&attacker_wasm());
    sandbox
}

/// The one parked result of the event about `handle`.
fn parked_error(sandbox: &Sandbox, handle: &str) -> String {
    let failed = sandbox.json(&["events", "--failed"]);
    let event = failed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["lead"] == handle)
        .unwrap_or_else(|| panic!("no failed event for {handle}: {failed}"));
    assert_eq!(event["results"][0]["status"], "parked", "{event}");
    event["results"][0]["error"].as_str().unwrap().to_owned()
}

fn audit_rows(sandbox: &Sandbox) -> Vec<Value> {
    sandbox.audit()
}

#[test]
fn the_deadline_holds_while_the_plugin_spends_its_time_inside_host_calls() {
    // Host calls are plenty: only the clock can stop it.
    let sandbox = sandbox("timeout_ms = 1500\nhost_calls = 100000000");
    sandbox.ok(&["inbox", "push", "hoarder", "storage-flood 20000"]);
    let started = Instant::now();
    sandbox.ok(&["run", "--until-idle"]);
    let took = started.elapsed();
    let error = parked_error(&sandbox, "hoarder");
    assert!(error.contains("did not finish within 1500 ms"), "{error}");
    // The limit, not a speed goal: the process (start-up included) ends soon after the
    // deadline instead of running for minutes.
    assert!(took.as_millis() < 1500 * 3 + 2000, "took {took:?}");
}

#[test]
fn a_flood_of_cheap_allowed_calls_runs_out_of_host_calls() {
    let sandbox = sandbox("host_calls = 1000");
    sandbox.ok(&["inbox", "push", "ticker", "clock-loop"]);
    sandbox.ok(&["run", "--until-idle"]);
    let error = parked_error(&sandbox, "ticker");
    assert!(
        error.contains("went over its budget of 1000 host calls per hook call"),
        "{error}"
    );
}

#[test]
fn denied_calls_are_audited_a_few_times_then_summarised_in_one_row() {
    let sandbox = sandbox("host_calls = 5000\naudited_denials = 10");
    sandbox.ok(&["inbox", "push", "prober", "denied-loop"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert!(parked_error(&sandbox, "prober").contains("5000 host calls"));
    let denied: Vec<Value> = audit_rows(&sandbox)
        .into_iter()
        .filter(|r| r["plugin"] == "attacker" && r["allowed"] == false)
        .collect();
    assert_eq!(denied.len(), 11, "ten rows and a summary: {denied:#?}");
    let queries = denied
        .iter()
        .filter(|r| r["action"] == "leads.query")
        .count();
    assert_eq!(queries, 10);
    let summary = denied.iter().find(|r| r["action"] == "denials").unwrap();
    // 5000 calls allowed into the host, the first 10 written out: 4990 more.
    assert_eq!(
        summary["detail"],
        "and 4990 more denied host calls in this hook call"
    );
}

#[test]
fn a_log_flood_stops_the_call_and_leaves_the_host_log_small() {
    let sandbox = sandbox("log_lines = 100\nlog_bytes = 65536");
    sandbox.ok(&["inbox", "push", "chatty", "log-flood"]);
    let out = sandbox
        .command(&["run", "--until-idle"])
        .env("OUTREACH_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    let error = parked_error(&sandbox, "chatty");
    assert!(
        error.contains("went over its budget of 65536 bytes of log per hook call"),
        "{error}"
    );
    // 64 lines of 1 KiB fill the byte budget before the line budget; the host log holds
    // about that much, not the 196 MiB one call wrote before.
    assert!(
        out.stderr.len() < 2 * 65536 + 8192,
        "{} bytes",
        out.stderr.len()
    );
}

#[test]
fn oversized_filter_decisions_and_tag_loops_cannot_grow_a_lead() {
    let sandbox = sandbox("tags_per_decision = 20\ntags_per_lead = 50");
    sandbox.write("leads.csv", "handle\ntagflood\ntagloop\n");
    sandbox.ok(&["leads", "import", "leads.csv"]);
    sandbox.ok(&["run", "--until-idle"]);
    let flood = parked_error(&sandbox, "tagflood");
    assert!(
        flood.contains("20 tags per filter decision (it returned 200000)"),
        "{flood}"
    );
    let tag_count = |handle: &str| {
        sandbox.lead(handle)["lead"]["tags"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert_eq!(tag_count("tagflood"), 0);
    let looped = parked_error(&sandbox, "tagloop");
    assert!(looped.contains("host calls per hook call"), "{looped}");
    let tags = tag_count("tagloop");
    assert_eq!(tags, 50, "the lead carries at most the configured tags");
}

#[test]
fn plugin_text_is_capped_and_cannot_carry_terminal_sequences() {
    let sandbox = sandbox("text_chars = 500");
    for (handle, text) in [
        ("erratic", "huge-error"),
        ("sneaky", "control-send"),
        ("loud", "huge-handover"),
    ] {
        sandbox.ok(&["inbox", "push", handle, text]);
    }
    sandbox.ok(&["run", "--until-idle"]);

    let error = parked_error(&sandbox, "erratic");
    assert!(error.len() < 4000, "{} bytes stored", error.len());
    assert!(!error.contains('\u{1b}'), "{error:?}");
    assert!(error.contains("more bytes)"), "says it was cut: {error:?}");

    let events = sandbox.json(&["events"]);
    let outcome = |handle: &str| {
        events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["lead"] == handle)
            .and_then(|e| e["results"][0]["outcome"].as_str())
            .unwrap_or_else(|| panic!("no outcome for {handle}: {events}"))
            .to_owned()
    };
    let refused = outcome("sneaky");
    assert!(
        refused.contains("reply not sent") && refused.contains("control character U+001B"),
        "{refused}"
    );
    assert_eq!(sandbox.conversation("sneaky"), vec!["< control-send"]);
    let handover = outcome("loud");
    assert!(handover.starts_with("handed over to a human"), "{handover}");
    assert!(handover.len() < 4000 && !handover.contains('\u{1b}'));

    let printed = sandbox.ok(&["events"]);
    assert!(!printed.contains('\u{1b}'), "{printed:?}");
}

#[test]
fn a_manifest_cannot_reach_the_host_or_forge_what_is_shown() {
    let mut sandbox = Sandbox::new("");
    sandbox.at("2001-06-01T00:00:00Z");
    let error = sandbox.fails(&["plugin", "inspect", &attacker_wasm()]);
    assert!(error.contains("manifest export failed"), "{error}");
    assert!(sandbox.audit().is_empty(), "inspect wrote to the audit log");

    sandbox.at("2002-06-01T00:00:00Z");
    let error = sandbox.fails(&[
        "plugin",
        "install",
        &attacker_wasm(),
        "--allow-unsigned",
        "--grant-requested",
    ]);
    assert!(
        error.contains("manifest field `description` has"),
        "{error}"
    );
    assert!(!error.contains('\u{1b}'));
    assert!(
        sandbox
            .json(&["plugin", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    sandbox.at("2026-06-01T00:00:00Z");
    let shown = sandbox.ok(&["plugin", "inspect", &attacker_wasm()]);
    assert!(shown.contains("messages:send"), "{shown}");
}
