//! CSV import of a messy file through the real binary: every rule of the import, merging with
//! stored leads, and --strict.

mod support;

use support::{Backend, Sandbox};

const MESSY: &str = "\u{feff}User_Name , Full Name,E-Mail,PHONE,Tags,notes,Followers,Bio\r\n\
@Anna.Fit,Anna Berg,anna@example.com,+49 (151) 234-5678,Fitness; Warm ,\"Met at expo, wants pricing\",12k,\"coach\r\nand mum\"\r\n\
bob_shop,Bob,not-an-email,,,,,\r\n\
.dotstart,Dot,,,,,,\r\n\
a..b,Double Dot,,,,,,\r\n\
this_handle_is_way_too_long_for_ig,Long,,,,,,\r\n\
carl,Carl,,12,,,,\r\n\
\r\n\
ANNA.FIT,,,,vip,,,\r\n\
https://www.instagram.com/dora.design/,Dora,dora@example.com,,,,900,\r\n\
eve,Eve,,,\r\n";

fn messy_csv_imports_valid_rows_and_names_each_reject(backend: Backend) {
    let sandbox = Sandbox::on(backend, "messy_csv_imports_valid_rows_and_names_e", "");
    let file = sandbox.write("leads.csv", MESSY);
    let out = sandbox.run(&["leads", "import", file.to_str().unwrap()]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("imported 2, merged 1, rejected 6"),
        "{stdout}\n{stderr}"
    );
    // Line numbers count the quoted newline in Anna's bio (her record spans lines 2-3).
    for expected in [
        "leads.csv:4: rejected: email \"not-an-email\" is not an email address",
        "leads.csv:5: rejected: handle \".dotstart\"",
        "leads.csv:6: rejected: handle \"a..b\" contains \"..\"",
        "leads.csv:7: rejected: handle is 34 characters, the limit is 30",
        "leads.csv:8: rejected: phone \"12\" has fewer than 7 digits",
        "leads.csv:12: rejected: has 5 fields, the header has 8",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }

    let anna = sandbox.lead("anna.fit")["lead"].clone();
    assert_eq!(anna["name"], "Anna Berg");
    assert_eq!(anna["email"], "anna@example.com");
    assert_eq!(anna["phone"], "+491512345678");
    assert_eq!(anna["notes"], "Met at expo, wants pricing");
    assert_eq!(anna["tags"], serde_json::json!(["fitness", "vip", "warm"]));
    assert_eq!(anna["custom"]["Followers"], "12k");
    assert_eq!(anna["custom"]["Bio"], "coach\r\nand mum");
    let dora = sandbox.lead("dora.design")["lead"].clone();
    assert_eq!(dora["email"], "dora@example.com");

    // Importing again merges into the stored leads: nothing doubles, new values fill gaps.
    let again = sandbox.write("more.csv", "handle,name,email,phone\nanna.fit,Other Name,,\ndora.design,,,+1 555 123 4567\nfred,Fred,,\n");
    let out = sandbox.ok(&["leads", "import", again.to_str().unwrap()]);
    assert!(out.contains("imported 1, merged 2, rejected 0"), "{out}");
    let leads = sandbox.json(&["leads", "list"]);
    assert_eq!(leads.as_array().unwrap().len(), 3);
    assert_eq!(
        sandbox.lead("anna.fit")["lead"]["name"],
        "Anna Berg",
        "stored values win"
    );
    assert_eq!(sandbox.lead("dora.design")["lead"]["phone"], "+15551234567");
}

fn strict_import_rejects_the_whole_file(backend: Backend) {
    let sandbox = Sandbox::on(backend, "strict_import_rejects_the_whole_file", "");
    let file = sandbox.write("leads.csv", "handle,name\ngood_one,Good\nbad handle,Bad\n");
    let err = sandbox.fails(&["leads", "import", "--strict", file.to_str().unwrap()]);
    assert!(
        err.contains("nothing imported") && err.contains("leads.csv:3"),
        "{err}"
    );
    assert!(
        sandbox
            .json(&["leads", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_file_without_a_handle_column_is_an_error_naming_the_headers() {
    let sandbox = Sandbox::new("");
    let file = sandbox.write("leads.csv", "name,email\nAnna,a@example.com\n");
    let err = sandbox.fails(&["leads", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("handle") && err.contains("name") && err.contains("email"),
        "{err}"
    );
}

#[test]
fn a_header_of_twenty_megabytes_of_commas_is_refused_naming_the_limit() {
    let sandbox = Sandbox::new("");
    let file = sandbox.write("commas.csv", &",".repeat(20 << 20));
    let err = sandbox.fails(&["leads", "import", file.to_str().unwrap()]);
    assert!(
        err.contains("commas.csv")
            && err
                .contains("line 1: the header has more than 1000 fields, the most an import takes"),
        "{err}"
    );
}

#[test]
fn a_config_out_of_range_is_refused_naming_the_key() {
    let sandbox = Sandbox::new("[instagram]\nmax_body_bytes = 0\n");
    let err = sandbox.fails(&["leads", "list"]);
    assert!(
        err.contains("outreach.toml") && err.contains("instagram.max_body_bytes is 0"),
        "{err}"
    );
}

/// A file naming the same handles far apart, beyond any small batch, and a lead stored before.
fn repeats_far_apart() -> String {
    let mut file = String::from("handle,name,email,tags,notes,Source\n");
    file.push_str("anna.fit,Anna,,warm,,expo\n");
    file.push_str("dora,,,new,,\n");
    for i in 0..25 {
        file.push_str(&format!("filler{i},F{i},,f,,\n"));
    }
    file.push_str("@Anna.Fit,Other Name,anna@example.com,vip;warm,first note,ads\n");
    file.push_str("bad handle,,,,,\n");
    for i in 25..40 {
        file.push_str(&format!("filler{i},,,,,\n"));
    }
    file.push_str("DORA,Dora Late,dora@late.com,late,,web\n");
    file.push_str("anna.fit,,,cold,second note,\n");
    file
}

fn a_handle_repeated_beyond_a_batch_merges_as_within_one(backend: Backend) {
    let stored = "handle,name,email\ndora,Dora,dora@example.com\n";
    let mut results = Vec::new();
    for batch in [None, Some("2"), Some("1")] {
        let mut sandbox = Sandbox::on(backend, "a_handle_repeated_beyond_a_batch_merges_", "");
        sandbox.at("2026-11-26T10:00:00Z");
        let before = sandbox.write("stored.csv", stored);
        sandbox.ok(&["leads", "import", before.to_str().unwrap()]);
        let file = sandbox.write("leads.csv", &repeats_far_apart());
        let mut args = vec!["leads", "import", file.to_str().unwrap()];
        if let Some(rows) = batch {
            args.extend(["--batch-rows", rows]);
        }
        let out = sandbox.run(&args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("imported 41, merged 4, rejected 1"),
            "batch {batch:?}: {stdout}"
        );
        assert!(
            stderr.contains("leads.csv:30: rejected: handle \"bad handle\""),
            "{stderr}"
        );
        let anna = sandbox.lead("anna.fit")["lead"].clone();
        assert_eq!(anna["name"], "Anna", "the first row wins");
        assert_eq!(anna["email"], "anna@example.com", "a later row fills gaps");
        assert_eq!(anna["notes"], "first note");
        assert_eq!(anna["tags"], serde_json::json!(["cold", "vip", "warm"]));
        assert_eq!(anna["custom"]["Source"], "expo");
        let dora = sandbox.lead("dora")["lead"].clone();
        assert_eq!(dora["name"], "Dora", "stored values win");
        assert_eq!(dora["email"], "dora@example.com");
        assert_eq!(dora["tags"], serde_json::json!(["late", "new"]));
        assert_eq!(dora["custom"]["Source"], "web");
        // One filter event per lead the file names (dora has one from before too).
        let events = sandbox.json(&["events", "--limit", "1000"]);
        let mut leads: Vec<String> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["lead"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(leads.len(), 43, "{leads:?}");
        leads.sort();
        leads.dedup();
        assert_eq!(leads.len(), 42);
        results.push((sandbox.json(&["leads", "list"]), events));
    }
    assert_eq!(results[0], results[1], "batches of 2 rows store the same");
    assert_eq!(results[0], results[2], "batches of 1 row store the same");
}

fn strict_import_rejecting_a_row_past_the_first_batches_imports_nothing(backend: Backend) {
    let sandbox = Sandbox::on(backend, "strict_import_rejecting_a_row_past_the_f", "");
    let file = sandbox.write("leads.csv", &repeats_far_apart());
    let err = sandbox.fails(&[
        "leads",
        "import",
        "--strict",
        "--batch-rows",
        "2",
        file.to_str().unwrap(),
    ]);
    assert!(
        err.contains("--strict: 1 row(s) rejected, nothing imported")
            && err.contains("leads.csv:30: handle \"bad handle\""),
        "{err}"
    );
    assert!(
        sandbox
            .json(&["leads", "list"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(sandbox.json(&["events"]).as_array().unwrap().is_empty());
}

fn import_json_reports_counts_and_rejects_and_a_pipe_imports_too(backend: Backend) {
    let sandbox = Sandbox::on(backend, "import_json_reports_counts_and_rejects_a", "");
    let file = sandbox.write(
        "leads.csv",
        "handle,name\nanna,Anna\nbad handle,X\nanna,A2\nbob,\n",
    );
    let report = sandbox.json(&["leads", "import", file.to_str().unwrap()]);
    assert_eq!(
        report,
        serde_json::json!({
            "imported": 2,
            "merged": 1,
            "rejected": [{"line": 3, "reason": "handle \"bad handle\" has a character other than letters, digits, '.' and '_'"}],
        })
    );

    // Standard input cannot be read twice: --strict then holds by one transaction.
    let pipe = |args: &[&str], input: &str| {
        use std::io::Write as _;
        let mut child = sandbox
            .command(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = pipe(
        &[
            "leads",
            "import",
            "--strict",
            "--batch-rows",
            "1",
            "/dev/stdin",
        ],
        "handle\ncarl\ndave\nbad handle\n",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/dev/stdin:4: handle \"bad handle\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        sandbox.json(&["leads", "list"]).as_array().unwrap().len(),
        2
    );
    let out = pipe(
        &["leads", "import", "--batch-rows", "1", "/dev/stdin"],
        "handle\ncarl\ndave\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("imported 2, merged 0, rejected 0"),
        "{stdout}"
    );
    // Nothing but rejects reaches stderr when it is not a terminal: no progress bar.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

on_both_backends!(
    messy_csv_imports_valid_rows_and_names_each_reject,
    strict_import_rejects_the_whole_file,
    a_handle_repeated_beyond_a_batch_merges_as_within_one,
    strict_import_rejecting_a_row_past_the_first_batches_imports_nothing,
    import_json_reports_counts_and_rejects_and_a_pipe_imports_too,
);
