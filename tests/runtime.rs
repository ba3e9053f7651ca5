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
        err.contains("bogus.wasm") && err.contains("not a WebAssembly component"),
        "{err}"
    );
    sandbox.ok(&["plugin", "install", "followup"]);
    let err = sandbox.fails(&["plugin", "config", "followup", "limits.fule=5"]);
    assert!(err.contains("unknown limit \"limits.fule\""), "{err}");
    let err = sandbox.fails(&["plugin", "config", "followup", "limits.fuel=lots"]);
    assert!(err.contains("limits.fuel must be a whole number"), "{err}");

    let err = sandbox.fails(&["plugin", "install", "no-such-plugin"]);
    assert!(
        err.contains(
            "neither a file nor a bundled plugin (ai-reply, followup, comment-to-dm, lead-scorer)"
        ),
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

/// `wasm` as if built against a `wit/` of another version: every `outreach:plugin/…@0.2.0`
/// name rewritten in place (same length, so the binary stays valid).
fn built_for(wasm: &[u8], version: &str) -> Vec<u8> {
    assert_eq!(version.len(), "0.2.0".len());
    let mut out = wasm.to_vec();
    let mut rewritten = 0;
    for interface in [
        "hooks",
        "types",
        "leads",
        "messaging",
        "ai",
        "storage",
        "settings",
        "log",
        "clock",
    ] {
        let from = format!("outreach:plugin/{interface}@0.2.0");
        let to = format!("outreach:plugin/{interface}@{version}");
        let mut at = 0;
        while let Some(found) = out[at..]
            .windows(from.len())
            .position(|w| w == from.as_bytes())
        {
            let start = at + found;
            out[start..start + to.len()].copy_from_slice(to.as_bytes());
            at = start + to.len();
            rewritten += 1;
        }
    }
    assert!(rewritten > 1, "no outreach:plugin names found");
    out
}

#[test]
fn a_plugin_built_for_another_contract_is_refused_in_one_sentence() {
    let sandbox = Sandbox::new("");
    let original = std::fs::read(support::plugin_wasm("lead_scorer.wasm")).unwrap();

    sandbox.ok(&["plugin", "install", "lead-scorer", "--grant-requested"]);
    let listed = sandbox.json(&["plugin", "list"]);
    assert_eq!(listed[0]["contract"], "0.2.0", "{listed}");
    let inspected = sandbox.ok(&["plugin", "inspect", "lead-scorer"]);
    assert!(
        inspected.contains("built for outreach:plugin@0.2.0 (this host speaks 0.1.0 and 0.2.0)"),
        "{inspected}"
    );

    let newer = sandbox.path("scorer-0.3.wasm");
    std::fs::write(&newer, built_for(&original, "0.3.0")).unwrap();
    let err = sandbox.fails(&[
        "plugin",
        "install",
        newer.to_str().unwrap(),
        "--allow-unsigned",
    ]);
    assert!(
        err.contains(
            "built for outreach:plugin@0.3.0, newer than this host's 0.2.0: upgrade outreach \
             to run it"
        ),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("0.3.0")).count(),
        1,
        "one sentence: {err}"
    );
    assert!(
        !err.contains("matching implementation"),
        "no linker jargon: {err}"
    );
    let err = sandbox.fails(&["plugin", "inspect", newer.to_str().unwrap()]);
    assert!(err.contains("built for outreach:plugin@0.3.0"), "{err}");

    let patch = sandbox.path("scorer-0.2.9.wasm");
    std::fs::write(&patch, built_for(&original, "0.2.9")).unwrap();
    let err = sandbox.fails(&[
        "plugin",
        "install",
        patch.to_str().unwrap(),
        "--allow-unsigned",
    ]);
    assert!(err.contains("newer than this host's 0.2.0"), "{err}");

    // A name says 0.1 but the types are 0.2's: bound as 0.1 (tests/old_plugins.rs runs real
    // 0.1 builds through every hook), the mismatch is refused, naming the field.
    let older = sandbox.path("scorer-0.1.wasm");
    std::fs::write(&older, built_for(&original, "0.1.0")).unwrap();
    let err = sandbox.fails(&[
        "plugin",
        "install",
        older.to_str().unwrap(),
        "--allow-unsigned",
    ]);
    assert!(
        err.contains("type mismatch for field hooks"),
        "a 0.2 binary renamed to 0.1 is checked against 0.1's types: {err}"
    );
}

#[test]
fn plugin_call_hands_the_reply_hook_a_story_reply_or_a_tap() {
    let sandbox = Sandbox::new("");
    let hostile = support::hostile_wasm();
    let call = |extra: &[&str]| {
        let mut args = vec![
            "plugin", "call", &hostile, "--hook", "reply", "--text", "love it",
        ];
        args.extend(extra);
        args.push("--grant-requested");
        sandbox.json(&args)["result"]["reply"].clone()
    };
    assert_eq!(call(&[]), "echo: love it");
    assert_eq!(
        call(&["--kind", "story-reply", "--reference", "1800"]),
        "echo (story-reply 1800): love it"
    );
    assert_eq!(
        call(&["--kind", "quick-reply", "--reference", "yes-please"]),
        "echo (quick-reply yes-please): love it"
    );
    let err = sandbox.fails(&[
        "plugin", "call", &hostile, "--hook", "reply", "--kind", "pigeon",
    ]);
    assert!(
        err.contains("\"pigeon\" is not a kind of message: story-mention, story-reply"),
        "{err}"
    );
}

#[test]
fn plugin_call_runs_one_hook_against_a_made_up_lead() {
    let sandbox = Sandbox::new("");
    let lead = sandbox.write(
        "lead.json",
        r#"{"handle": "@Mara.Fit", "name": "Mara Keller",
            "fields": {"bio": "Online fitness coach", "followers": "12,400"}}"#,
    );
    let lead = lead.to_str().unwrap();
    let call = [
        "plugin",
        "call",
        "lead-scorer",
        "--hook",
        "filter",
        "--lead",
        lead,
    ];

    // Without leads:read-pii the scorer sees no fields, as under the real host.
    let blind = sandbox.json(&call);
    assert_eq!(blind["result"]["keep"], false, "{blind}");
    assert_eq!(blind["lead"], "mara.fit");

    let granted: Vec<&str> = call
        .iter()
        .copied()
        .chain(["--grant", "leads:read-pii", "--setting", "min_score=30"])
        .collect();
    let seen = sandbox.json(&granted);
    assert_eq!(seen["result"]["keep"], true, "{seen}");
    assert!(seen["result"]["score"].as_u64().unwrap() > 50, "{seen}");
    assert!(
        seen["result"]["reason"]
            .as_str()
            .unwrap()
            .ends_with("meets minimum 30"),
        "{seen}"
    );
    assert!(seen["cost"]["fuel"].as_u64().unwrap() > 0, "{seen}");

    // The user's database is not touched.
    assert_eq!(sandbox.json(&["plugin", "list"]), serde_json::json!([]));
    assert_eq!(sandbox.json(&["leads", "list"]), serde_json::json!([]));
}

#[test]
fn plugin_call_shows_denied_host_calls_and_fails_with_the_hook() {
    let sandbox = Sandbox::new("");
    let reply = [
        "plugin",
        "call",
        "ai-reply",
        "--hook",
        "reply",
        "--text",
        "How much?",
    ];
    let out = sandbox.run(&reply);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("DENIED   messaging.history (messages:read): not granted"),
        "{stdout}"
    );
    assert!(
        stderr
            .contains("the reply hook failed: returned an error: permission denied: messages:read"),
        "{stderr}"
    );

    let granted: Vec<&str> = reply.iter().copied().chain(["--grant-requested"]).collect();
    let answered = sandbox.ok(&granted);
    assert!(
        answered.contains("allowed  ai.generate (ai:generate)"),
        "{answered}"
    );
    assert!(answered.contains(r#"result: {"reply":"#), "{answered}");

    let err = sandbox.fails(&["plugin", "call", "followup", "--hook", "reply"]);
    assert!(
        err.contains("followup has no reply hook; it has: follow-up"),
        "{err}"
    );
}

#[test]
fn plugins_run_where_the_kernel_refuses_to_seal_their_memory_image() {
    // The filter does what it says: on a thread of this process (a filter installed
    // without TSYNC holds for its thread only), sealing a fresh memfd fails with EBUSY.
    let filter = support::refuse_seals();
    let seal_errno = std::thread::scope(|s| {
        s.spawn(|| {
            support::install_seccomp_filter(&filter).expect("cannot install a seccomp filter");
            // SAFETY: plain system calls on a descriptor this closure owns.
            unsafe {
                let fd = libc::memfd_create(c"image".as_ptr(), libc::MFD_ALLOW_SEALING);
                assert!(fd >= 0, "{}", std::io::Error::last_os_error());
                let sealed = libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_WRITE);
                let errno = std::io::Error::last_os_error().raw_os_error();
                libc::close(fd);
                (sealed, errno)
            }
        })
        .join()
        .unwrap()
    });
    assert_eq!(seal_errno, (-1, Some(libc::EBUSY)));

    // Under it, the real binary compiles a plugin, instantiates it (from its `.cwasm`
    // file, whose mapping is its memory image: no memfd to seal) and calls its hook: CI met
    // this as "cannot add seals to the memfd", failing every call of a freshly compiled
    // plugin.
    let sandbox = Sandbox::new("");
    let lead = sandbox.write(
        "lead.json",
        r#"{"handle": "anna", "fields": {"bio": "fitness coach"}}"#,
    );
    let mut call = sandbox.command(&[
        "plugin",
        "call",
        &support::plugin_wasm("lead_scorer.wasm"),
        "--hook",
        "filter",
        "--lead",
        lead.to_str().unwrap(),
        "--grant-requested",
        "--json",
    ]);
    support::without_sealed_images(&mut call);
    let out = call.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let called: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(called["result"]["keep"].is_boolean(), "{called}");
}
