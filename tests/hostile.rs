//! Hostile plugins (an endless loop, unbounded memory growth, a panic) are stopped; the host
//! goes on with the next event; the failed event is retried with backoff and then parked
//! with its reason.

mod support;

use serde_json::Value;
use support::{Sandbox, hostile_wasm};

const CONFIG: &str =
    "[limits]\nfuel = 200000000\n\n[engine]\nmax_attempts = 3\nretry_backoff_seconds = 60\n";

fn failed_results(sandbox: &Sandbox) -> Vec<(String, Value)> {
    sandbox
        .json(&["events", "--failed"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["lead"].as_str().unwrap().to_owned(),
                e["results"][0].clone(),
            )
        })
        .collect()
}

fn result_for<'a>(results: &'a [(String, Value)], handle: &str) -> &'a Value {
    &results
        .iter()
        .find(|(h, _)| h == handle)
        .unwrap_or_else(|| panic!("no failed event for {handle}: {results:?}"))
        .1
}

#[test]
fn runaway_plugins_are_stopped_retried_and_parked_while_the_host_goes_on() {
    let mut sandbox = Sandbox::new(CONFIG);
    sandbox.at("2026-11-26T10:00:00Z");
    sandbox.install_unsigned(&hostile_wasm());
    for (handle, text) in [
        ("looper", "loop"),
        ("grower", "grow"),
        ("panicker", "panic"),
        ("friend", "hello"),
    ] {
        sandbox.ok(&["inbox", "push", handle, text]);
    }
    let out = sandbox.ok(&["run", "--until-idle"]);
    assert!(
        out.contains("4 hook call(s), 3 failed, 0 parked; sent 1 message(s)"),
        "{out}"
    );
    // The well-behaved event after the three bad ones was handled.
    assert_eq!(
        sandbox.conversation("friend"),
        vec!["< hello", "> echo: hello"]
    );

    let failed = failed_results(&sandbox);
    assert_eq!(failed.len(), 3);
    let reasons = [
        ("looper", "ran out of its CPU budget of 200000000 fuel"),
        ("grower", "went over its memory limit of 64 MiB"),
        ("panicker", "hostile plugin panics on purpose"),
    ];
    for (handle, reason) in reasons {
        let result = result_for(&failed, handle);
        assert_eq!(result["status"], "retry", "{result}");
        assert_eq!(result["attempts"], 1);
        assert!(
            result["error"].as_str().unwrap().contains(reason),
            "{handle}: {result}"
        );
    }

    // Not due yet: nothing happens. After the backoff, the second and third attempts.
    let out = sandbox.ok(&["run", "--until-idle"]);
    assert!(out.contains("processed 0 event(s)"), "{out}");
    sandbox.at("2026-11-26T10:01:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    sandbox.at("2026-11-26T10:05:00Z");
    let out = sandbox.ok(&["run", "--until-idle"]);
    assert!(out.contains("3 parked"), "{out}");

    let failed = failed_results(&sandbox);
    for (handle, reason) in reasons {
        let result = result_for(&failed, handle);
        assert_eq!(result["status"], "parked", "{result}");
        assert_eq!(result["attempts"], 3);
        assert!(
            result["error"].as_str().unwrap().contains(reason),
            "{handle}: {result}"
        );
    }
    let panic = result_for(&failed, "panicker")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        panic.starts_with("plugin hostile crashed: panicked at tests/fixtures/src/lib.rs:"),
        "{panic}"
    );
    let listing = sandbox.ok(&["events", "--failed"]);
    assert!(
        listing.contains("PARKED after 3 attempts: plugin hostile crashed: panicked at"),
        "{listing}"
    );

    // Parked events stay parked.
    sandbox.at("2026-11-27T10:00:00Z");
    let out = sandbox.ok(&["run", "--until-idle"]);
    assert!(out.contains("0 hook call(s)"), "{out}");
}

#[test]
fn a_plugin_that_outlives_its_wall_clock_budget_is_cancelled() {
    let sandbox = Sandbox::new("");
    sandbox.install_unsigned(&hostile_wasm());
    sandbox.ok(&[
        "plugin",
        "config",
        "hostile",
        "limits.fuel=20000000000",
        "limits.timeout-ms=300",
    ]);
    sandbox.ok(&["inbox", "push", "looper", "loop"]);
    sandbox.ok(&["run", "--until-idle"]);
    let failed = failed_results(&sandbox);
    let error = result_for(&failed, "looper")["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(error, "plugin hostile did not finish within 300 ms");
}

/// Each hook call runs in a fresh instance, also when the host reuses a memory slot (and
/// resets only the pages the last call wrote): nothing one call left in memory, about one
/// lead, is there for the next.
#[test]
fn nothing_a_call_left_in_memory_reaches_the_next() {
    let sandbox = remembering_sandbox();
    sandbox.ok(&["run", "--until-idle"]);
    assert_each_call_remembers_nothing(&sandbox);
}

/// The same where the kernel will not seal a memory image: the plugin's memory is then
/// initialized by copying, and slots must be cleaned just as well.
#[test]
fn nothing_a_call_left_in_memory_reaches_the_next_without_a_sealed_image() {
    let sandbox = remembering_sandbox();
    // Compiled in memory (not loaded from the cache, whose image is the mapped file).
    std::fs::remove_dir_all(sandbox.path(".outreach-cache")).unwrap();
    let mut run = sandbox.command(&["run", "--until-idle"]);
    support::without_sealed_images(&mut run);
    let out = run.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_each_call_remembers_nothing(&sandbox);
}

const REMEMBERING: usize = 12;

/// The hostile plugin installed and one "remember" message each from several leads.
fn remembering_sandbox() -> Sandbox {
    let mut sandbox = Sandbox::new(CONFIG);
    sandbox.at("2026-11-26T10:00:00Z");
    sandbox.install_unsigned(&hostile_wasm());
    for i in 0..REMEMBERING {
        sandbox.ok(&["inbox", "push", &format!("remember{i}"), "remember"]);
    }
    sandbox
}

fn assert_each_call_remembers_nothing(sandbox: &Sandbox) {
    for i in 0..REMEMBERING {
        let handle = format!("remember{i}");
        assert_eq!(
            sandbox.conversation(&handle),
            vec!["< remember", "> call 1, remembered []"],
            "{handle}"
        );
    }
}
