//! Nothing a plugin or a lead writes can take over the operator's terminal: text that came
//! from a message, a CSV file or a plugin is printed with its control characters and bidi
//! overrides escaped (`\u{1b}`), by every command that prints it for people.

mod support;

use outreach::text::{is_unsafe_char, terminal_safe};
use support::{Sandbox, hostile_wasm};

/// Hides the text after it, rewrites the window title, rings the bell, returns the cursor
/// to overwrite the line, and reverses what follows.
const HOSTILE: &str = "Hi\u{1b}[8m hidden\u{1b}[0m \u{1b}]0;title\u{7} bell\u{7} back\rforged \u{202E}desrever\u{2066}iso";

/// `output` holds no character a terminal would act on, other than the newlines that end
/// its lines.
fn assert_inert(what: &str, output: &str) {
    for line in output.split('\n') {
        if let Some(c) = line.chars().find(|&c| is_unsafe_char(c)) {
            panic!(
                "{what} printed the raw character U+{:04X} in {line:?}",
                c as u32
            );
        }
    }
}

/// Runs a command that should succeed and checks both of its outputs.
fn inert_ok(sandbox: &Sandbox, args: &[&str]) -> String {
    let out = sandbox.run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "outreach {args:?} failed:\n{stdout}\n{stderr}"
    );
    assert_inert(&format!("outreach {args:?} (stdout)"), &stdout);
    assert_inert(&format!("outreach {args:?} (stderr)"), &stderr);
    stdout
}

#[test]
fn a_message_and_csv_fields_are_printed_escaped_everywhere() {
    let mut sandbox = Sandbox::new("");
    sandbox.at("2026-11-26T10:00:00Z");
    let escaped = terminal_safe(HOSTILE).into_owned();
    assert!(escaped.contains("\\u{1b}[8m") && escaped.contains("\\u{202e}"));

    // A lead writes in on the sandbox channel.
    inert_ok(&sandbox, &["inbox", "push", "mallory", HOSTILE]);

    // A CSV row whose name, tags, notes and extra column hold escapes; a second row is
    // rejected, and its reason quotes the bad value.
    let csv = "handle,name,email,tags,notes,Bio\n\
        eve,\"Eve\u{1b}[8mhidden\u{202E}lave\",,\"warm\u{1b}[31m;vip\",\"a\rforged\",\"x\u{1b}]0;title\u{7}\"\n\
        bad,Bad,\"not-an-email\u{1b}[8m\u{202E}\",,,\n";
    let file = sandbox.write("leads.csv", csv);
    let out = sandbox.run(&["leads", "import", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("imported 1, merged 0, rejected 1"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("rejected: email"), "{stderr}");
    assert_inert("leads import (stdout)", &stdout);
    assert_inert("leads import (stderr)", &stderr);

    // What was stored, exactly (the JSON output escapes it its own way) …
    let eve = sandbox.lead("eve")["lead"].clone();
    let name = eve["name"].as_str().unwrap().to_owned();
    let notes = eve["notes"].as_str().unwrap().to_owned();
    let bio = eve["custom"]["Bio"].as_str().unwrap().to_owned();

    // … is what the text output shows, escaped.
    let list = inert_ok(&sandbox, &["leads", "list"]);
    assert!(list.contains(&*terminal_safe(&name)), "{list}");
    assert!(list.contains("\\u{1b}[8mhidden\\u{202e}"), "{list}");

    let show = inert_ok(&sandbox, &["leads", "show", "eve"]);
    for stored in [&name, &notes, &bio] {
        assert!(
            show.contains(&*terminal_safe(stored)),
            "{stored:?} in\n{show}"
        );
    }
    assert!(show.contains("\\r"), "{show}");

    let show = inert_ok(&sandbox, &["leads", "show", "mallory"]);
    assert!(show.contains("@mallory"), "{show}");

    let conversation = inert_ok(&sandbox, &["conversations", "show", "mallory"]);
    assert!(conversation.contains(&escaped), "{conversation}");

    // A hostile plugin echoes the message back: whatever the host makes of that reply (a
    // queued message or a refusal with its reason), it prints it escaped.
    inert_ok(
        &sandbox,
        &[
            "plugin",
            "install",
            &hostile_wasm(),
            "--allow-unsigned",
            "--grant-requested",
        ],
    );
    inert_ok(&sandbox, &["run", "--until-idle"]);
    inert_ok(&sandbox, &["plugin", "list"]);
    inert_ok(&sandbox, &["plugin", "inspect", "hostile"]);
    let conversation = inert_ok(&sandbox, &["conversations", "show", "mallory"]);
    assert!(conversation.contains(&escaped), "{conversation}");
    let events = inert_ok(&sandbox, &["events"]);
    assert!(
        events.contains("@mallory") && events.contains("hostile"),
        "{events}"
    );
    inert_ok(&sandbox, &["events", "--failed"]);
    inert_ok(&sandbox, &["audit"]);
    inert_ok(&sandbox, &["audit", "--summary"]);
    inert_ok(&sandbox, &["leads", "show", "mallory"]);
    inert_ok(&sandbox, &["account", "list"]);
}

#[test]
fn a_plugin_reply_holding_escapes_is_shown_escaped() {
    let mut sandbox = Sandbox::new("");
    sandbox.at("2026-11-26T10:00:00Z");
    inert_ok(
        &sandbox,
        &[
            "plugin",
            "install",
            &hostile_wasm(),
            "--allow-unsigned",
            "--grant-requested",
        ],
    );
    inert_ok(
        &sandbox,
        &["inbox", "push", "trent", "\u{1b}[2J\u{1b}[8mwiped"],
    );
    inert_ok(&sandbox, &["run", "--until-idle"]);

    // The plugin's reply ("echo: …") or the host's reason for refusing it is somewhere in
    // what the operator looks at, and none of it acts on the terminal.
    let conversation = inert_ok(&sandbox, &["conversations", "show", "trent"]);
    let events = inert_ok(&sandbox, &["events"]);
    let audit = inert_ok(&sandbox, &["audit", "--lead", "trent"]);
    let all = format!("{conversation}{events}{audit}");
    assert!(all.contains("\\u{1b}[2J"), "{all}");
    assert!(
        all.contains("echo: \\u{1b}[2J\\u{1b}[8mwiped") || events.contains("reply not sent"),
        "{all}"
    );
}

#[test]
fn an_error_quoting_outside_text_is_escaped() {
    let sandbox = Sandbox::new("");
    sandbox.ok(&["init"]);
    let bad = sandbox.path("no\u{1b}[8msuch\u{202E}dir").join("out.json");
    let err = sandbox.fails(&["export", "--out", bad.to_str().unwrap()]);
    assert_inert("export error", &err);
    assert!(
        err.starts_with("error: ") && err.contains("no\\u{1b}[8msuch\\u{202e}dir"),
        "{err}"
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_listing_quietly() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    let sandbox = Sandbox::new("");
    let csv: String = std::iter::once("handle\n".to_string())
        .chain((0..3_000).map(|i| format!("lead_{i}\n")))
        .collect();
    sandbox.ok(&[
        "leads",
        "import",
        sandbox.write("l.csv", &csv).to_str().unwrap(),
    ]);
    // More than a pipe holds, read one line of, then the pipe is closed (as `| head -1`).
    let mut child = sandbox
        .command(&["leads", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}
