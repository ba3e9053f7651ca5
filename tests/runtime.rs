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
