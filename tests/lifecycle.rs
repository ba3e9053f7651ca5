//! The plugin lifecycle on the real binary: signing and trusted publishers, upgrades that
//! ask for what is new, rollbacks, and shadow runs of a new version over past events.

mod support;

use support::registry::Registry;
use support::{Backend, Sandbox, plugin_wasm};

/// lead-scorer 0.2.0 (tests/scorer-v2): keeps leads scoring 40 or more where 0.1.0 keeps
/// those scoring 20 or more, and newly requests `storage`.
fn scorer_v2() -> String {
    plugin_wasm("outreach_fixture_scorer_v2.wasm")
}

/// A publisher key pair made in the sandbox: (secret file, public file).
fn publisher_key(sandbox: &Sandbox, name: &str) -> (String, String) {
    let key = sandbox.path(name).display().to_string();
    sandbox.ok(&["plugin", "keys", "new", &key]);
    let public = format!("{key}.pub");
    (key, public)
}

/// `wasm` signed with `key` into the sandbox as `file`.
fn signed(sandbox: &Sandbox, wasm: &str, key: &str, file: &str) -> String {
    let out = sandbox.path(file).display().to_string();
    sandbox.ok(&["plugin", "sign", wasm, "--key", key, "--output", &out]);
    out
}

#[test]
fn only_plugins_signed_by_a_trusted_publisher_install_and_refusals_say_why() {
    let sandbox = Sandbox::new("");
    let bundled = sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    assert!(
        bundled.contains("signed by outreach (bundled)"),
        "{bundled}"
    );

    let unsigned = scorer_v2();
    let err = sandbox.fails(&["plugin", "install", &unsigned]);
    assert!(
        err.contains("it is not signed") && err.contains("--allow-unsigned"),
        "{err}"
    );

    let (key, public) = publisher_key(&sandbox, "acme.key");
    let by_acme = signed(&sandbox, &unsigned, &key, "scorer.wasm");
    let err = sandbox.fails(&["plugin", "install", &by_acme]);
    assert!(
        err.contains("signed by a key this host does not trust") && err.contains("plugin keys add"),
        "{err}"
    );
    assert!(sandbox.json(&["plugin", "list"]).as_array().unwrap().len() == 1);

    // Changed after signing: one byte flipped in its last section.
    let mut bytes = std::fs::read(&by_acme).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    let tampered = sandbox.path("tampered.wasm");
    std::fs::write(&tampered, &bytes).unwrap();
    let tampered = tampered.display().to_string();

    sandbox.ok(&["plugin", "keys", "add", "acme", &public]);
    let keys = sandbox.json(&["plugin", "keys", "list"]);
    assert_eq!(keys[0]["publisher"], "outreach (bundled)", "{keys}");
    assert_eq!(keys[1]["publisher"], "acme", "{keys}");
    let err = sandbox.fails(&["plugin", "install", &public]);
    assert!(err.contains("not a WebAssembly component"), "{err}");

    for args in [
        vec!["plugin", "install", tampered.as_str()],
        vec!["plugin", "install", tampered.as_str(), "--allow-unsigned"],
    ] {
        let err = sandbox.fails(&args);
        assert!(
            err.contains("it was changed after acme signed it"),
            "a broken signature is refused even with --allow-unsigned: {err}"
        );
    }

    let out = sandbox.ok(&["plugin", "install", &by_acme, "--grant", "leads:read-pii"]);
    assert!(out.contains("signed by acme"), "{out}");
    let listed = sandbox.json(&["plugin", "list"]);
    let scorer = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["manifest"]["name"] == "lead-scorer")
        .unwrap();
    assert_eq!(scorer["publisher"], "acme", "{scorer}");
    let inspected = sandbox.ok(&["plugin", "inspect", "lead-scorer"]);
    assert!(inspected.contains("signed by acme"), "{inspected}");
    let table = sandbox.ok(&["plugin", "list"]);
    assert!(
        table.contains("SIGNED BY") && table.contains("acme"),
        "{table}"
    );

    // The same component signed by a key nobody trusted.
    let (other, _) = publisher_key(&sandbox, "mallory.key");
    let by_mallory = signed(&sandbox, &unsigned, &other, "mallory.wasm");
    let err = sandbox.fails(&["plugin", "install", &by_mallory]);
    assert!(err.contains("does not trust"), "{err}");

    sandbox.ok(&["plugin", "keys", "remove", "acme"]);
    let err = sandbox.fails(&["plugin", "install", &by_acme]);
    assert!(err.contains("does not trust"), "{err}");
    let err = sandbox.fails(&["plugin", "keys", "remove", "outreach (bundled)"]);
    assert!(err.contains("cannot be removed"), "{err}");
    let audit = sandbox.ok(&["audit"]);
    for action in ["publishers.add", "publishers.remove", "plugins.install"] {
        assert!(audit.contains(action), "{action} is audited:\n{audit}");
    }
    let secret = hex::encode(&std::fs::read(&key).unwrap()[1..33]);
    assert!(!audit.contains(&secret), "no secret in the audit log");
}

#[test]
fn an_upgrade_asks_only_for_what_is_new_and_a_rollback_restores_version_and_grants() {
    let sandbox = Sandbox::new("");
    let (acme, acme_public) = publisher_key(&sandbox, "acme.key");
    let (beta, beta_public) = publisher_key(&sandbox, "beta.key");
    sandbox.ok(&["plugin", "keys", "add", "acme", &acme_public]);
    sandbox.ok(&["plugin", "keys", "add", "beta", &beta_public]);
    let v1 = signed(&sandbox, &plugin_wasm("lead_scorer.wasm"), &acme, "v1.wasm");
    let v2 = signed(&sandbox, &scorer_v2(), &acme, "v2.wasm");
    sandbox.ok(&["plugin", "install", &v1, "--grant-requested"]);

    let err = sandbox.fails(&["plugin", "upgrade", "followup", &v2]);
    assert!(err.contains("no plugin named \"followup\""), "{err}");

    // On a terminal: asked for `storage` (new in 0.2.0), not for `leads:read-pii` (kept).
    let shown = sandbox.on_a_terminal(&format!("plugin upgrade lead-scorer {v2}"), b"n\n");
    assert!(shown.contains("grant storage to lead-scorer"), "{shown}");
    assert!(!shown.contains("grant leads:read-pii"), "{shown}");
    assert!(shown.contains("upgraded lead-scorer from 0.1.0"), "{shown}");
    let plugin = |sandbox: &Sandbox| sandbox.json(&["plugin", "list"])[0].clone();
    let now = plugin(&sandbox);
    assert_eq!(now["manifest"]["version"], "0.2.0");
    assert_eq!(
        now["granted"],
        serde_json::json!(["leads:read-pii"]),
        "{now}"
    );
    assert_eq!(now["publisher"], "acme");

    sandbox.ok(&["plugin", "grant", "lead-scorer", "storage"]);
    let back = sandbox.ok(&["plugin", "rollback", "lead-scorer"]);
    assert!(back.contains("back at 0.1.0"), "{back}");
    let now = plugin(&sandbox);
    assert_eq!(now["manifest"]["version"], "0.1.0");
    assert_eq!(
        now["granted"],
        serde_json::json!(["leads:read-pii"]),
        "{now}"
    );
    // The filter runs the old version again: a lead scoring 20–39 is kept.
    let csv = "handle,name,bio,followers\nmid,Mid Range,yoga coach,10\n";
    let csv = sandbox.write("l.csv", csv);
    sandbox.ok(&["leads", "import", csv.to_str().unwrap()]);
    sandbox.ok(&["run", "--until-idle"]);
    let lead = sandbox.json(&["leads", "show", "mid"])["lead"].clone();
    let score = lead["score"].as_u64().unwrap();
    assert!(
        (20..40).contains(&score),
        "a lead between the two minimums: {lead}"
    );
    assert!(
        !lead["tags"].to_string().contains("filtered-out"),
        "0.1.0 keeps it: {lead}"
    );

    // Rolling back again goes forward, with what 0.2.0 held.
    sandbox.ok(&["plugin", "rollback", "lead-scorer"]);
    let now = plugin(&sandbox);
    assert_eq!(now["manifest"]["version"], "0.2.0");
    assert_eq!(
        now["granted"],
        serde_json::json!(["leads:read-pii", "storage"]),
        "{now}"
    );

    // The same plugin's name, built by another publisher: none of acme's grants pass.
    let by_beta = signed(&sandbox, &scorer_v2(), &beta, "v2-beta.wasm");
    let out = sandbox.ok(&["plugin", "upgrade", "lead-scorer", &by_beta]);
    assert!(out.contains("its grants do not pass to this one"), "{out}");
    let now = plugin(&sandbox);
    assert_eq!(
        (&now["publisher"], &now["granted"]),
        (&serde_json::json!("beta"), &serde_json::json!([]))
    );

    // Back to acme's version only while acme is trusted.
    sandbox.ok(&["plugin", "keys", "remove", "acme"]);
    let err = sandbox.fails(&["plugin", "rollback", "lead-scorer"]);
    assert!(
        err.contains("signed by acme, whom this host no longer trusts"),
        "{err}"
    );

    let audit = sandbox.ok(&["audit"]);
    assert!(
        audit.contains("plugins.upgrade") && audit.contains("lead-scorer 0.1.0 → 0.2.0"),
        "{audit}"
    );
    assert_eq!(audit.matches("plugins.rollback").count(), 2, "{audit}");

    sandbox.ok(&["plugin", "remove", "lead-scorer"]);
    sandbox.ok(&["plugin", "install", "lead-scorer"]);
    let err = sandbox.fails(&["plugin", "rollback", "lead-scorer"]);
    assert!(err.contains("no earlier version"), "{err}");
}

fn a_shadow_run_counts_every_changed_decision_over_a_thousand_events_and_writes_nothing(
    backend: Backend,
) {
    let sandbox = Sandbox::on(backend, "a_shadow_run_counts_every_changed", "");
    // 1,000 leads whose scores spread over 0–100: bios with 0–3 keywords, any following.
    let mut csv = String::from("handle,name,bio,followers\n");
    let words = [
        "coach", "founder", "shop", "studio", "baker", "dj", "agency",
    ];
    for i in 0..1000u32 {
        let bio: Vec<&str> = (0..(i % 4))
            .map(|k| words[((i / 4 + k * 3) % 7) as usize])
            .collect();
        let name = if i % 3 == 0 { "" } else { "Lead Person" };
        csv.push_str(&format!(
            "lead{i},{name},{},{}\n",
            bio.join(" "),
            (i * 7919) % 20000
        ));
    }
    let csv = sandbox.write("leads.csv", &csv);
    sandbox.ok(&["leads", "import", csv.to_str().unwrap()]);
    sandbox.ok(&["plugin", "install", "lead-scorer", "--grant-requested"]);
    sandbox.ok(&["run", "--until-idle"]);

    // Independently of the shadow run: 0.2.0 drops what 0.1.0 kept with a score of 20–39,
    // and decides the same about every other lead.
    let leads = sandbox.json(&["leads", "list"]);
    let expected = (leads.as_array().unwrap().iter())
        .filter(|l| (20..40).contains(&l["score"].as_u64().unwrap_or(0)))
        .count();
    assert!(
        expected > 50 && expected < 950,
        "the test needs both kinds: {expected}"
    );
    // What could change: the SQLite files byte for byte; on either backend, the audit
    // log (each of 0.2.0's calls is refused `storage`, a denial that is audited).
    let db = sandbox.path("outreach.db");
    let files = || {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let path = format!("{}{suffix}", db.display());
            bytes.push(std::fs::read(&path).ok().filter(|b| !b.is_empty()));
        }
        bytes
    };
    let audited = || sandbox.ok(&["audit", "--summary"]);
    let (files_before, audit_before) = (files(), audited());

    let report = sandbox.json(&["plugin", "shadow", "lead-scorer", &scorer_v2()]);
    assert_eq!(report["events"], 1000, "{}", report["changes"]);
    assert_eq!(report["changed"], expected, "{}", report["changes"]);
    assert_eq!(
        report["changes"],
        serde_json::json!({"kept → dropped": expected})
    );
    assert_eq!(report["not_granted"], serde_json::json!(["storage"]));
    let first = &report["differences"][0];
    assert_eq!(first["installed"]["decision"], "kept", "{first}");
    assert_eq!(first["new"]["decision"], "dropped", "{first}");
    assert_eq!(
        first["installed"]["score"], first["new"]["score"],
        "{first}"
    );

    let text = sandbox.ok(&[
        "plugin",
        "shadow",
        "lead-scorer",
        &scorer_v2(),
        "--events",
        "10",
    ]);
    assert!(text.contains("10 event(s)"), "{text}");
    assert!(text.contains("nothing was sent or written"), "{text}");
    assert_eq!(audited(), audit_before, "nothing was audited");
    if backend == Backend::Sqlite {
        assert!(
            files() == files_before,
            "the database files are byte for byte as they were"
        );
    }
    let err = sandbox.fails(&[
        "plugin",
        "shadow",
        "lead-scorer",
        &scorer_v2(),
        "--since",
        "yesterday",
    ]);
    assert!(err.contains("--since \"yesterday\" is not a date"), "{err}");
    let none = sandbox.json(&[
        "plugin",
        "shadow",
        "lead-scorer",
        &scorer_v2(),
        "--since",
        "2999-01-01",
    ]);
    assert_eq!(none["events"], 0);
}

on_both_backends!(
    a_shadow_run_counts_every_changed_decision_over_a_thousand_events_and_writes_nothing
);

#[test]
fn a_plugin_published_to_a_registry_installs_from_it_byte_for_byte_with_its_signature() {
    let registry = Registry::start();
    let publisher = Sandbox::new("");
    let (key, public) = publisher_key(&publisher, "acme.key");
    let v2 = signed(&publisher, &scorer_v2(), &key, "v2.wasm");
    let reference = registry.reference("team/lead-scorer:0.2.0");
    let out = publisher.ok(&["plugin", "publish", &v2, &reference]);
    assert!(out.contains("published lead-scorer 0.2.0"), "{out}");

    // As the CNCF Wasm OCI artifact layout has it.
    let url = format!(
        "http://{}/v2/team/lead-scorer/manifests/0.2.0",
        registry.address
    );
    let manifest: serde_json::Value = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let asked = reqwest::Client::new()
            .get(url)
            .header("Accept", "application/vnd.oci.image.manifest.v1+json");
        asked.send().await.unwrap().json().await.unwrap()
    });
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    let bytes = std::fs::read(&v2).unwrap();
    let sha = outreach::runtime::sha256_hex(&bytes);
    assert_eq!(layers[0]["digest"], format!("sha256:{sha}"));

    // Another machine: refused until it trusts acme, then installed, the same bytes.
    let team = Sandbox::new("");
    let err = team.fails(&["plugin", "install", &reference]);
    assert!(err.contains("does not trust"), "{err}");
    team.ok(&["plugin", "keys", "add", "acme", &public]);
    let out = team.ok(&["plugin", "install", &reference, "--grant-requested"]);
    assert!(out.contains("signed by acme"), "{out}");
    let inspected = team.json(&["plugin", "inspect", "lead-scorer"]);
    assert_eq!(inspected["sha256"], sha, "byte for byte what was published");

    // A component changed after signing is not published; an unsigned one is, and then
    // installs only with --allow-unsigned.
    let mut changed = bytes.clone();
    *changed.last_mut().unwrap() ^= 1;
    let changed_path = publisher.path("changed.wasm");
    std::fs::write(&changed_path, changed).unwrap();
    let err = publisher.fails(&[
        "plugin",
        "publish",
        changed_path.to_str().unwrap(),
        &registry.reference("team/lead-scorer:bad"),
    ]);
    assert!(
        err.contains("it was changed after its publisher signed it"),
        "{err}"
    );
    let unsigned = registry.reference("team/hostile:dev");
    publisher.ok(&["plugin", "publish", &support::hostile_wasm(), &unsigned]);
    let err = team.fails(&["plugin", "install", &unsigned]);
    assert!(err.contains("not signed"), "{err}");
    team.ok(&["plugin", "install", &unsigned, "--allow-unsigned"]);

    let err = team.fails(&["plugin", "install", &registry.reference("team/nothing:1")]);
    assert!(
        err.contains("404") && err.contains("manifest unknown"),
        "{err}"
    );
}
