//! CSV import of a messy file through the real binary: every rule of the import, merging with
//! stored leads, and --strict.

mod support;

use support::Sandbox;

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

#[test]
fn messy_csv_imports_valid_rows_and_names_each_reject() {
    let sandbox = Sandbox::new("");
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

#[test]
fn strict_import_rejects_the_whole_file() {
    let sandbox = Sandbox::new("");
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
