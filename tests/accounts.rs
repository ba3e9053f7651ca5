//! Several accounts in one database, each sending under its own cap and time zone.

mod support;

use support::{Backend, Sandbox};

fn sent_count(sandbox: &Sandbox, handles: &[&str]) -> usize {
    handles.iter().map(|h| sandbox.conversation(h).len()).sum()
}

fn two_accounts_keep_their_own_caps_and_quiet_hours(backend: Backend) {
    let mut sandbox = Sandbox::on(
        backend,
        "two_accounts_keep_their_own_caps_and_qui",
        "[sending]\ndaily_cap = 50\n",
    );
    // 14:00 UTC is 09:00 in New York and 23:00 in Tokyo.
    sandbox.at("2026-11-26T14:00:00Z");
    sandbox.ok(&[
        "account",
        "add",
        "east",
        "--channel",
        "sandbox",
        "--daily-cap",
        "2",
        "--timezone",
        "America/New_York",
    ]);
    sandbox.ok(&[
        "account",
        "add",
        "tokyo",
        "--channel",
        "sandbox",
        "--daily-cap",
        "3",
        "--timezone",
        "Asia/Tokyo",
        "--quiet-hours",
        "21:00-08:00",
    ]);
    let east = ["e1", "e2", "e3"];
    let tokyo = ["t1", "t2", "t3", "t4"];
    for (account, handles) in [("east", &east[..]), ("tokyo", &tokyo[..])] {
        let csv = format!("handle\n{}\n", handles.join("\n"));
        let file = sandbox.write(&format!("{account}.csv"), &csv);
        sandbox.ok(&[
            "leads",
            "import",
            "--account",
            account,
            file.to_str().unwrap(),
        ]);
    }
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sent_count(&sandbox, &east), 2, "east's cap of 2");
    assert_eq!(sent_count(&sandbox, &tokyo), 0, "quiet night in Tokyo");

    // 23:00 UTC is 08:00 in Tokyo: its morning, and a cap of its own.
    sandbox.at("2026-11-26T23:00:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sent_count(&sandbox, &tokyo), 3, "tokyo's cap of 3");
    assert_eq!(
        sent_count(&sandbox, &east),
        2,
        "still the same day in New York"
    );

    // Bad rules are refused when the account is added, naming the field.
    let err = sandbox.fails(&[
        "account",
        "add",
        "bad",
        "--channel",
        "sandbox",
        "--timezone",
        "Mars/Olympus",
    ]);
    assert!(err.contains("sending.timezone"), "{err}");
    let err = sandbox.fails(&["account", "add", "east", "--channel", "sandbox"]);
    assert!(err.contains("exists already"), "{err}");
    let err = sandbox.fails(&["account", "add", "ig", "--channel", "instagram"]);
    assert!(err.contains("--ig-user-id"), "{err}");
}

fn a_paused_account_sends_nothing_until_resumed(backend: Backend) {
    let mut sandbox = Sandbox::on(backend, "a_paused_account_sends_nothing_until_res", "");
    sandbox.at("2026-11-26T14:00:00Z");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    sandbox.ok(&["account", "pause", "default", "--reason", "holiday"]);
    let file = sandbox.write("l.csv", "handle\npia\n");
    sandbox.ok(&["leads", "import", file.to_str().unwrap()]);
    sandbox.ok(&["run", "--until-idle"]);
    assert!(sandbox.conversation("pia").is_empty());
    let listing = sandbox.ok(&["account", "list"]);
    assert!(listing.contains("paused: holiday"), "{listing}");
    sandbox.ok(&["account", "resume", "default"]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sandbox.conversation("pia").len(), 1);
}

fn the_gap_between_sends_holds_within_one_run(backend: Backend) {
    let mut sandbox = Sandbox::on(
        backend,
        "the_gap_between_sends_holds_within_one_r",
        "[sending]\nmin_gap_seconds = 600\n",
    );
    sandbox.at("2026-11-26T14:00:00Z");
    sandbox.ok(&["plugin", "install", "followup", "--grant-requested"]);
    let file = sandbox.write("l.csv", "handle\nan\nbo\ncy\n");
    sandbox.ok(&["leads", "import", file.to_str().unwrap()]);
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(
        sent_count(&sandbox, &["an", "bo", "cy"]),
        1,
        "one send, then the gap"
    );
    sandbox.at("2026-11-26T14:09:59Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sent_count(&sandbox, &["an", "bo", "cy"]), 1);
    sandbox.at("2026-11-26T14:10:00Z");
    sandbox.ok(&["run", "--until-idle"]);
    assert_eq!(sent_count(&sandbox, &["an", "bo", "cy"]), 2);
}

on_both_backends!(
    two_accounts_keep_their_own_caps_and_quiet_hours,
    a_paused_account_sends_nothing_until_resumed,
    the_gap_between_sends_holds_within_one_run,
);
