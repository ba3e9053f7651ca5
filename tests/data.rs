//! Your data, end to end on the real binary: the raw files read with a byte search (what
//! `strings` would find), erasure while the engine runs, conversions between keys, wrong
//! and missing keys, retention by age, a person's export, purge, and no connection to
//! anywhere unless a service is configured.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{Sandbox, plugin_wasm};

const KEY: &str = "correct horse battery staple";
const NEW_KEY: &str = "a different horse, staple and battery";

/// What the demo stores about mara.fit, each of which must be findable before an erasure
/// in a plain file and nowhere after it: her fields, her message, the messages sent to
/// her, and what a plugin kept about her.
const MARA: &[&str] = &[
    "mara.fit",
    "Mara Keller",
    "mara@example.com",
    "+491512345678",
    "Met at the Berlin expo",
    "Online fitness coach for busy parents",
    "Sounds interesting. How much does it cost",
    "Thanks for your message",
    "Hey Mara",
    "private-note-about-mara",
];

/// The demo, run with `key` (if any), and a plugin that keeps a note about mara.fit in its
/// storage.
fn demo(key: Option<&str>) -> Sandbox {
    let mut sandbox = Sandbox::new("");
    if let Some(key) = key {
        sandbox.env.push(("OUTREACH_DB_KEY".into(), key.into()));
    }
    sandbox.ok(&["demo"]);
    let attacker = plugin_wasm("outreach_fixture_attacker.wasm");
    sandbox.install_unsigned(&attacker);
    sandbox.ok(&[
        "inbox",
        "push",
        "mara.fit",
        "remember private-note-about-mara",
    ]);
    sandbox.ok(&["run", "--until-idle"]);
    sandbox
}

/// Every file the product keeps beside the database: the file, its WAL and shared memory,
/// the compiled-plugin cache.
fn raw_files(sandbox: &Sandbox) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![sandbox.dir.path().to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                dirs.push(path);
            } else if name.starts_with("outreach.db")
                || path
                    .components()
                    .any(|c| c.as_os_str() == ".outreach-cache")
            {
                files.push(path);
            }
        }
    }
    files
}

/// The values of `needles` found in any raw file, with the file.
fn found_in_raw_files(sandbox: &Sandbox, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in raw_files(sandbox) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in needles {
            if bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push(format!("{needle:?} in {}", file.display()));
            }
        }
    }
    found
}

/// Adds the account `relay` on the bridge channel at `url`, its shared secret `secret`
/// sealed under a credential key set for the sandbox.
fn add_bridge_account(sandbox: &mut Sandbox, url: &str, secret: &str) {
    sandbox.env.extend([
        (
            "OUTREACH_SECRET_KEY".into(),
            "a secret key of some length".into(),
        ),
        ("BRIDGE_SECRET".into(), secret.into()),
    ]);
    sandbox.ok(&[
        "account",
        "add",
        "relay",
        "--channel",
        "bridge",
        "--bridge-url",
        url,
        "--secret-env",
        "BRIDGE_SECRET",
    ]);
}

fn export(sandbox: &Sandbox) -> Value {
    serde_json::from_str(&sandbox.ok(&["export"])).unwrap()
}

#[test]
fn a_forgotten_lead_leaves_no_byte_in_the_raw_files_even_while_the_engine_runs() {
    let mut sandbox = demo(None);
    sandbox.at("2026-11-27T10:00:00Z");
    let missing: Vec<_> = MARA
        .iter()
        .filter(|value| found_in_raw_files(&sandbox, &[value]).is_empty())
        .collect();
    assert!(
        missing.is_empty(),
        "the test needs every value in the plain file first; missing {missing:?}"
    );
    // The engine keeps the database (and its WAL) open throughout.
    let mut engine = sandbox.command(&["run"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = sandbox.ok(&["leads", "forget", "mara.fit"]);
    assert!(out.contains("forgot @mara.fit"), "{out}");
    let left = found_in_raw_files(&sandbox, MARA);
    engine.kill().unwrap();
    engine.wait().unwrap();
    assert!(left.is_empty(), "left after the erasure: {left:#?}");
    // The audit says it happened without naming her.
    let audit = serde_json::to_string(&sandbox.audit()).unwrap();
    assert!(audit.contains("leads.forget"), "{audit}");
}

#[test]
fn with_a_key_nothing_readable_is_in_the_files_before_or_after_a_forget() {
    let sandbox = demo(Some(KEY));
    assert_eq!(found_in_raw_files(&sandbox, MARA), Vec::<String>::new());
    for other in [
        "jonas@example.com",
        "Lena Vogt",
        "STOP",
        "Can I talk to a real person",
    ] {
        assert_eq!(found_in_raw_files(&sandbox, &[other]), Vec::<String>::new());
    }
    // It is all there for whoever has the key.
    assert_eq!(
        sandbox.lead("mara.fit")["lead"]["email"],
        "mara@example.com"
    );
    sandbox.ok(&["leads", "forget", "mara.fit"]);
    assert_eq!(found_in_raw_files(&sandbox, MARA), Vec::<String>::new());
    assert!(
        sandbox
            .fails(&["leads", "show", "mara.fit"])
            .contains("mara.fit")
    );
    let status = sandbox.ok(&["db", "status"]);
    assert!(status.contains(": encrypted"), "{status}");
    let doctor = sandbox.ok(&["doctor"]);
    assert!(doctor.contains("encryption: encrypted"), "{doctor}");
}

#[test]
fn encrypt_rekey_and_decrypt_round_trip_with_nothing_lost() {
    let mut sandbox = demo(None);
    sandbox.at("2026-11-27T10:00:00Z");
    let before = export(&sandbox);
    assert!(before["leads"].as_array().unwrap().len() >= 6);

    sandbox.env.push(("OUTREACH_DB_KEY".into(), KEY.into()));
    let out = sandbox.ok(&["db", "encrypt"]);
    assert!(out.contains("encrypted outreach.db"), "{out}");
    assert!(found_in_raw_files(&sandbox, &["mara@example.com", "Mara Keller"]).is_empty());
    assert_eq!(export(&sandbox), before);

    sandbox
        .env
        .push(("OUTREACH_DB_NEW_KEY".into(), NEW_KEY.into()));
    sandbox.ok(&["db", "rekey"]);
    // The old key no longer opens it; the new one does, with everything in it.
    let refused = sandbox.fails(&["leads", "list"]);
    assert!(refused.contains("is not this database's key"), "{refused}");
    sandbox
        .env
        .retain(|(name, _)| !name.starts_with("OUTREACH_DB"));
    sandbox.env.push(("OUTREACH_DB_KEY".into(), NEW_KEY.into()));
    assert_eq!(export(&sandbox), before);

    sandbox.ok(&["db", "decrypt"]);
    sandbox.env.clear();
    assert_eq!(export(&sandbox), before);
    assert!(!found_in_raw_files(&sandbox, &["mara@example.com"]).is_empty());
    // The engine carries on where it was.
    sandbox.ok(&["run", "--until-idle"]);
}

#[test]
fn a_wrong_or_missing_key_is_one_clear_error_and_the_file_is_untouched() {
    let mut sandbox = demo(Some(KEY));
    let db = sandbox.path("outreach.db");
    let original = std::fs::read(&db).unwrap();

    sandbox.env.clear();
    let error = sandbox.fails(&["leads", "list"]);
    assert!(
        error.contains("outreach.db is encrypted: set OUTREACH_DB_KEY"),
        "{error}"
    );
    sandbox.env.push(("OUTREACH_DB_KEY".into(), NEW_KEY.into()));
    for args in [
        &["leads", "list"][..],
        &["run", "--until-idle"],
        &["db", "decrypt"],
    ] {
        let error = sandbox.fails(args);
        assert!(
            error.contains("is not this database's key"),
            "{args:?}: {error}"
        );
        assert!(!error.contains("panicked"), "{error}");
        assert!(
            !error.contains(NEW_KEY),
            "the key is never printed: {error}"
        );
    }
    sandbox.env = vec![("OUTREACH_DB_KEY".into(), "short".into())];
    assert!(
        sandbox
            .fails(&["leads", "list"])
            .contains("shorter than 16")
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        original,
        "the file is as it was"
    );

    // A conversion that cannot write its new file leaves the original alone.
    sandbox.env = vec![
        ("OUTREACH_DB_KEY".into(), KEY.into()),
        ("OUTREACH_DB_NEW_KEY".into(), NEW_KEY.into()),
    ];
    std::fs::create_dir(sandbox.path("outreach.db-converting")).unwrap();
    sandbox.fails(&["db", "rekey"]);
    assert_eq!(std::fs::read(&db).unwrap(), original);
    sandbox.env.truncate(1);
    assert_eq!(sandbox.lead("mara.fit")["lead"]["name"], "Mara Keller");

    // A plain file with a key set is refused, not half-encrypted.
    let mut plain = demo(None);
    plain.env.push(("OUTREACH_DB_KEY".into(), KEY.into()));
    let error = plain.fails(&["leads", "list"]);
    assert!(error.contains("run `outreach db encrypt`"), "{error}");
}

#[test]
fn a_person_gets_everything_held_about_them_and_the_export_has_storage_and_accounts() {
    let mut sandbox = demo(None);
    add_bridge_account(
        &mut sandbox,
        "http://127.0.0.1:9/send",
        "bridge-secret-never-exported",
    );

    let record: Value =
        serde_json::from_str(&sandbox.ok(&["leads", "export", "mara.fit"])).unwrap();
    assert_eq!(record["lead"]["email"], "mara@example.com");
    assert_eq!(
        record["lead"]["custom"]["bio"],
        "Online fitness coach for busy parents"
    );
    let texts: Vec<&str> = record["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(
        texts.iter().any(|t| t.contains("How much does it cost")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Thanks for your message")),
        "{texts:?}"
    );
    assert!(!record["events"].as_array().unwrap().is_empty());
    assert!(!record["event_results"].as_array().unwrap().is_empty());
    assert!(!record["follow_ups"].as_array().unwrap().is_empty());
    assert!(!record["audit"].as_array().unwrap().is_empty());
    assert_eq!(record["consent"]["do_not_contact"], false);
    let storage = &record["plugin_storage"][0];
    assert_eq!(storage["plugin"], "attacker");
    assert_eq!(storage["value"], "private-note-about-mara");
    // Only hers: nothing of another lead.
    let text = record.to_string();
    assert!(!text.contains("jonas") && !text.contains("Lena"), "{text}");

    let opted_out: Value =
        serde_json::from_str(&sandbox.ok(&["leads", "export", "jonas_builds"])).unwrap();
    assert_eq!(opted_out["consent"]["do_not_contact"], true);

    let all = sandbox.ok(&["export"]);
    assert!(!all.contains("bridge-secret-never-exported"), "{all}");
    let all: Value = serde_json::from_str(&all).unwrap();
    let accounts: Vec<&str> = all["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(accounts, ["default", "relay"]);
    assert_eq!(all["accounts"][1]["has_credentials"], true);
    assert_eq!(all["plugin_storage"][0]["value"], "private-note-about-mara");
}

#[test]
fn purge_all_deletes_everyone_and_says_what_it_removed() {
    let sandbox = demo(None);
    let out = sandbox.ok(&["purge", "--all"]);
    assert!(out.contains("purged 6 leads"), "{out}");
    assert!(
        out.contains("messages") && out.contains("audit rows"),
        "{out}"
    );
    assert_eq!(sandbox.json(&["leads", "list"]), Value::Array(vec![]));
    assert_eq!(
        found_in_raw_files(
            &sandbox,
            &[
                "mara.fit",
                "jonas@example.com",
                "How much does it cost",
                "private-note-about-mara"
            ]
        ),
        Vec::<String>::new()
    );
    // Configuration stays; the opt-out stays suppressed.
    assert!(sandbox.ok(&["plugin", "list"]).contains("ai-reply"));
    sandbox.ok(&["inbox", "push", "jonas_builds", "hello again"]);
    assert_eq!(
        sandbox.lead("jonas_builds")["lead"]["status"],
        "do-not-contact"
    );
    let audit = sandbox.audit();
    assert_eq!(audit[0]["action"], "purge.all");
    assert!(audit[0]["detail"].as_str().unwrap().contains("6 leads"));
}

/// The demo's data, made on the first of January, looked at later with these settings.
fn aged_demo(retention: &str) -> Sandbox {
    let mut sandbox = Sandbox::new(retention);
    sandbox.at("2026-01-01T10:00:00Z");
    sandbox.ok(&["demo"]);
    sandbox
}

#[test]
fn retention_deletes_what_is_old_enough_in_the_engine_and_audits_counts_only() {
    let mut sandbox = aged_demo(
        "[retention]\nmessages_days = 30\nevents_days = 30\naudit_days = 30\nunanswered_leads_days = 60\n",
    );
    let leads_before = sandbox.json(&["leads", "list"]).as_array().unwrap().len();
    sandbox.at("2026-02-15T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let mara = sandbox.conversation("mara.fit");
    assert!(
        !mara.iter().any(|m| m.contains("How much does it cost")),
        "a 45-day-old message is gone: {mara:?}"
    );
    // 2026-01-16T10:00:00Z: 30 days before the run.
    const CUTOFF_MS: i64 = 1_768_557_600_000;
    let events = sandbox.json(&["events"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["created_at"].as_i64().unwrap() >= CUTOFF_MS),
        "{events}"
    );
    // Nobody forgotten yet: 45 days is under the 60 for unanswered leads.
    assert_eq!(
        sandbox.json(&["leads", "list"]).as_array().unwrap().len(),
        leads_before
    );
    let audit = sandbox.audit();
    assert!(
        audit.iter().all(|r| r["at"].as_i64().unwrap() >= CUTOFF_MS),
        "no audit row older than 30 days: {audit:?}"
    );
    let purge = audit
        .iter()
        .find(|r| r["action"] == "retention.purge")
        .expect("the purge is audited");
    let detail = purge["detail"].as_str().unwrap();
    assert!(
        detail.contains("messages") && detail.contains("events"),
        "{detail}"
    );
    assert!(
        !detail.contains("mara") && !detail.contains("How much"),
        "{detail}"
    );

    // 75 days on, the leads who never wrote back and were not written to since go (the two
    // the scorer filtered out); those who wrote back, or are still being followed up, stay.
    sandbox.at("2026-03-17T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    let mut left: Vec<String> = sandbox
        .json(&["leads", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["handle"].as_str().unwrap().to_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["anna.agency", "jonas_builds", "lena.studio", "mara.fit"],
        "{left:?}"
    );
    let audit = serde_json::to_string(&sandbox.audit()).unwrap();
    assert!(audit.contains("deleted 2 leads"), "{audit}");
}

#[test]
fn without_retention_settings_nothing_is_deleted_by_age() {
    let mut sandbox = aged_demo("");
    let messages = |s: &Sandbox| s.conversation("mara.fit").len();
    let before = (messages(&sandbox), sandbox.audit().len());
    sandbox.at("2028-01-01T10:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert!(messages(&sandbox) >= before.0);
    assert!(sandbox.audit().len() >= before.1);
    assert!(
        sandbox
            .fails(&["purge"])
            .contains("no [retention] settings")
    );
}

/// The connect() calls of `outreach ARGS` in `sandbox`, as strace reports them.
fn connections(sandbox: &Sandbox, args: &[&str]) -> Vec<String> {
    support::traced(sandbox, args, "connect")
        .lines()
        .filter(|line| line.contains("AF_INET"))
        .map(String::from)
        .collect()
}

#[test]
fn nothing_leaves_the_machine_without_an_ai_key_or_a_real_channel() {
    let sandbox = Sandbox::new("");
    assert_eq!(connections(&sandbox, &["demo"]), Vec::<String>::new());
    for args in [
        &["inbox", "push", "mara.fit", "is this still on?"][..],
        &["run", "--until-idle"],
        &["doctor"],
    ] {
        assert_eq!(
            connections(&sandbox, args),
            Vec::<String>::new(),
            "{args:?}"
        );
    }

    // The observation works: with a key, the AI reply is asked of the configured endpoint.
    let mut online = Sandbox::new("[ai]\nbase_url = \"http://127.0.0.1:9/v1\"\nretries = 0\n");
    online
        .env
        .push(("OPENROUTER_API_KEY".into(), "sk-or-test".into()));
    let seen = connections(&online, &["demo"]);
    assert!(
        seen.iter().any(|line| line.contains("127.0.0.1")),
        "{seen:?}"
    );
}

#[test]
fn removing_an_account_erases_its_leads_and_credentials_from_the_raw_files() {
    let mut sandbox = Sandbox::new("");
    add_bridge_account(
        &mut sandbox,
        "http://127.0.0.1:9/send",
        "bridge-secret-0123456789",
    );
    let csv = sandbox.write(
        "relay.csv",
        "handle,name,email\nrelay_person,Rhea Relay,rhea@relay.example\n",
    );
    sandbox.ok(&[
        "leads",
        "import",
        csv.to_str().unwrap(),
        "--account",
        "relay",
    ]);
    let csv = sandbox.write("own.csv", "handle,name\nsandbox_person,Sam Sandbox\n");
    sandbox.ok(&["leads", "import", csv.to_str().unwrap()]);
    let sealed: Vec<u8> = {
        let conn = rusqlite::Connection::open(sandbox.path("outreach.db")).unwrap();
        conn.query_row(
            "SELECT credentials FROM accounts WHERE name = 'relay'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let sealed = &sealed[..24];
    std::fs::remove_file(&csv).unwrap();
    std::fs::remove_file(sandbox.path("relay.csv")).unwrap();

    let out = sandbox.ok(&["account", "remove", "relay"]);
    assert!(out.contains("1 leads"), "{out}");
    assert_eq!(
        found_in_raw_files(
            &sandbox,
            &["relay_person", "Rhea Relay", "rhea@relay.example"]
        ),
        Vec::<String>::new()
    );
    let raw: Vec<u8> = std::fs::read(sandbox.path("outreach.db")).unwrap();
    assert!(
        !raw.windows(sealed.len()).any(|w| w == sealed),
        "the sealed credentials are gone too"
    );
    assert!(sandbox.ok(&["account", "list"]).contains("default"));
    assert_eq!(
        sandbox.lead("sandbox_person")["lead"]["name"],
        "Sam Sandbox"
    );
    assert!(
        sandbox
            .fails(&["account", "remove", "default"])
            .contains("cannot be removed")
    );
}

#[test]
fn a_conversion_through_a_symlink_converts_the_file_and_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut sandbox = demo(None);
    let db = sandbox.path("outreach.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&db, sandbox.path("link.db")).unwrap();
    sandbox.env.push(("OUTREACH_DB_KEY".into(), KEY.into()));
    sandbox.ok(&["--db", "link.db", "db", "encrypt"]);
    let link = std::fs::symlink_metadata(sandbox.path("link.db")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is still a link");
    assert!(found_in_raw_files(&sandbox, &["mara@example.com"]).is_empty());
    let mode = std::fs::metadata(&db).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "as private as the original");
    assert_eq!(sandbox.lead("mara.fit")["lead"]["name"], "Mara Keller");
}

/// A bridge that refuses every message, quoting it back, as a careless one might.
fn refusing_bridge() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("Rhea-private-words") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = "cannot deliver: Rhea-private-words";
        let response = format!(
            "HTTP/1.1 422 Unprocessable Entity\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    (url, server)
}

#[test]
fn a_channels_refusal_quoting_the_message_stays_out_of_the_audit() {
    let (url, server) = refusing_bridge();
    let mut sandbox = Sandbox::new("");
    add_bridge_account(&mut sandbox, &url, "bridge-secret-0123456789");
    let csv = sandbox.write("relay.csv", "handle,name\nrhea,Rhea\n");
    sandbox.ok(&[
        "leads",
        "import",
        csv.to_str().unwrap(),
        "--account",
        "relay",
    ]);
    sandbox.ok(&["conversations", "reply", "rhea", "Rhea-private-words"]);
    sandbox.ok(&["run", "--until-idle"]);
    server.join().unwrap();
    let outbox = sandbox.lead("rhea")["outbox"].to_string();
    assert!(
        outbox.contains("cannot deliver: Rhea-private-words"),
        "{outbox}"
    );
    let audit = serde_json::to_string(&sandbox.audit()).unwrap();
    assert!(audit.contains("refused by the channel"), "{audit}");
    assert!(!audit.contains("Rhea-private-words"), "{audit}");
}

/// A file encrypted by an earlier build, whose SQLCipher used OpenSSL for its crypto,
/// opens with its key in this one (SQLCipher's libtomcrypt provider: the same AES-256-CBC
/// pages, HMAC-SHA512 and PBKDF2 key), is migrated, and takes new writes that the next
/// open reads back; with a wrong key it stays closed.
#[test]
fn a_database_encrypted_by_the_openssl_build_opens_and_works_in_this_one() {
    let mut sandbox = Sandbox::new("");
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/made-with-openssl-sqlcipher.db"
    );
    std::fs::copy(fixture, sandbox.path("outreach.db")).unwrap();
    sandbox
        .env
        .push(("OUTREACH_DB_KEY".into(), "a wrong key entirely".into()));
    sandbox.fails(&["leads", "list"]);
    sandbox.env.clear();
    sandbox
        .env
        .push(("OUTREACH_DB_KEY".into(), "fixture key, not a secret".into()));
    let lena = sandbox.lead("lena.studio");
    assert_eq!(lena["lead"]["name"], "Lena", "{lena}");
    sandbox.write("more.csv", "handle,name\nnew.one,New One\n");
    sandbox.ok(&["leads", "import", "more.csv"]);
    assert_eq!(sandbox.lead("new.one")["lead"]["name"], "New One");
    assert_eq!(sandbox.lead("lena.studio")["lead"]["tags"][0], "vip");
}

#[test]
fn an_encrypted_file_moves_to_postgresql_with_every_row_and_works_on_there() {
    let mut sandbox = demo(Some("a database key long enough"));
    let export = |sandbox: &Sandbox| -> Value {
        let mut all: Value = serde_json::from_str(&sandbox.ok(&["export"])).unwrap();
        all["exported_at"] = Value::Null;
        all
    };
    let person = |sandbox: &Sandbox| -> Value {
        serde_json::from_str(&sandbox.ok(&["leads", "export", "mara.fit"])).unwrap()
    };
    let (file_export, file_person) = (export(&sandbox), person(&sandbox));
    let scratch = outreach::store::testing::PostgresScratch::empty("migrate_to");

    let out = sandbox.ok(&["db", "migrate-to", &scratch.conninfo()]);
    assert!(out.contains("every table's count checked"), "{out}");
    // Into a database that holds something: refused, nothing changed.
    let error = sandbox.fails(&["db", "migrate-to", &scratch.conninfo()]);
    assert!(
        error.contains("is not empty:") && error.contains("leads (6 rows)"),
        "{error}"
    );

    sandbox
        .env
        .push(("OUTREACH_DATABASE_URL".into(), scratch.conninfo()));
    let doctor = sandbox.ok(&["doctor"]);
    assert!(
        doctor.contains("ok    database: postgres://")
            && doctor.contains("PostgreSQL 1")
            && doctor.contains("schema version")
            && doctor.contains("row-level security on")
            && doctor.contains("encryption: the PostgreSQL server's"),
        "{doctor}"
    );
    // Everything a person and an export can see is the same, ids and all.
    assert_eq!(export(&sandbox), file_export);
    assert_eq!(person(&sandbox), file_person);
    // And it works on: a new lead gets the next id, a new message is answered.
    sandbox.ok(&["inbox", "push", "newcomer", "how much is it?"]);
    sandbox.ok(&["run", "--until-idle"]);
    let newcomer = sandbox.lead("newcomer");
    let highest = file_export["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l["lead"]["id"]
                .as_i64()
                .unwrap_or(l["id"].as_i64().unwrap_or(0))
        })
        .max()
        .unwrap();
    assert!(
        newcomer["lead"]["id"].as_i64().unwrap() > highest,
        "{newcomer} after {highest}"
    );
    assert_eq!(sandbox.conversation("newcomer").len(), 2);
    let password = sandbox.fails(&["db", "migrate-to", "postgres://u:secret@127.0.0.1/x"]);
    assert!(
        password.contains("PGPASSWORD") && !password.contains("secret"),
        "{password}"
    );
}
