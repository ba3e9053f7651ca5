//! The plugin runtime as a user meets it: manifests read from the `.wasm` alone, the
//! on-disk compile cache, and a clear error for a file that is not a plugin.

mod support;

use std::time::SystemTime;

use support::{Sandbox, hostile_wasm};

fn cache_entries(sandbox: &Sandbox) -> Vec<(String, SystemTime)> {
    let mut entries: Vec<_> = std::fs::read_dir(sandbox.path(".outreach-cache"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn a_second_start_loads_compiled_plugins_from_the_cache() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    let first = cache_entries(&sandbox);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].0.ends_with(".cwasm"));

    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", "handle\nmo\n").to_str().unwrap(),
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(cache_entries(&sandbox), first, "nothing recompiled");
    assert_eq!(sandbox.conversation("mo").len(), 1);

    // A damaged cache entry is ignored and replaced, not trusted.
    let path = sandbox.path(".outreach-cache").join(&first[0].0);
    std::fs::write(&path, b"not a compiled component").unwrap();
    sandbox.ok(&["plugin", "inspect", "followup"]);
    assert!(std::fs::read(&path).unwrap().len() > 1000, "rewritten");
}

#[test]
fn inspect_reads_the_manifest_from_the_file_alone() {
    let sandbox = Sandbox::new("");
    let info = sandbox.json(&["plugin", "inspect", &hostile_wasm()]);
    assert_eq!(info["manifest"]["name"], "hostile");
    assert_eq!(
        info["manifest"]["permissions"],
        serde_json::json!(["leads:read-pii", "messages:send"])
    );
    assert!(info["installed"].is_null());
    assert!(
        sandbox
            .json(&["plugin", "list"])
            .as_array()
            .unwrap()
            .is_empty(),
        "inspecting installs nothing"
    );

    let bogus = sandbox.write("bogus.wasm", "not wasm");
    let err = sandbox.fails(&["plugin", "install", bogus.to_str().unwrap()]);
    assert!(
        err.contains("bogus.wasm") && err.contains("not a valid plugin component"),
        "{err}"
    );
    sandbox.ok(&["plugin", "install", "followup"]);
    let err = sandbox.fails(&["plugin", "config", "followup", "limits.fule=5"]);
    assert!(err.contains("unknown limit \"limits.fule\""), "{err}");
    let err = sandbox.fails(&["plugin", "config", "followup", "limits.fuel=lots"]);
    assert!(err.contains("limits.fuel must be a whole number"), "{err}");

    let err = sandbox.fails(&["plugin", "install", "no-such-plugin"]);
    assert!(
        err.contains("neither a file nor a bundled plugin (ai-reply, followup, lead-scorer)"),
        "{err}"
    );
}

#[test]
fn every_hook_call_records_its_time_fuel_and_memory() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["plugin", "install", "lead-scorer", "--grant-requested"]);
    let csv = "handle,bio,followers\nanna,fitness coach,12400\nbo,,\ncy,founder,3.2k\n";
    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", csv).to_str().unwrap(),
    ]);
    sandbox.ok(&["run", "--until-idle"]);

    // Each result carries its call's cost...
    let events = sandbox.json(&["events"]);
    let costs: Vec<_> = events
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["results"].as_array().unwrap().clone())
        .map(|r| r["cost"].clone())
        .collect();
    assert_eq!(costs.len(), 3, "{events}");
    for cost in &costs {
        assert!(cost["wall_us"].as_u64().unwrap() > 0, "{cost}");
        assert!(cost["fuel"].as_u64().unwrap() > 1_000, "{cost}");
        // A Rust plugin's memory starts at over a page (64 KiB).
        assert!(cost["peak_memory"].as_u64().unwrap() >= 65_536, "{cost}");
    }
    let listing = sandbox.ok(&["events"]);
    assert!(listing.contains(" fuel, "), "{listing}");

    // ...and the plugin's totals add them up.
    let plugins = sandbox.json(&["plugin", "list"]);
    let usage = &plugins[0]["usage"];
    assert_eq!(usage["calls"], 3, "{plugins}");
    assert_eq!(usage["failures"], 0);
    let total_fuel: u64 = costs.iter().map(|c| c["fuel"].as_u64().unwrap()).sum();
    assert_eq!(usage["total_fuel"].as_u64().unwrap(), total_fuel);
    let max_memory = costs
        .iter()
        .map(|c| c["peak_memory"].as_u64().unwrap())
        .max();
    assert_eq!(usage["max_memory"].as_u64(), max_memory);
    let (p50, p99) = (
        usage["p50_wall_us"].as_u64().unwrap(),
        usage["p99_wall_us"].as_u64().unwrap(),
    );
    assert!(p50 > 0 && p99 >= p50, "{usage}");
    let table = sandbox.ok(&["plugin", "list"]);
    assert!(
        table.contains("P99") && table.contains("MAX MEMORY"),
        "{table}"
    );
    let inspected = sandbox.ok(&["plugin", "inspect", "lead-scorer"]);
    assert!(
        inspected.contains("3 hook call(s), 0 failed"),
        "{inspected}"
    );
}
