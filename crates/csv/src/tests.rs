//! The CSV format as users write it: BOMs, CRLF, quotes, merged rows, bad rows and limits.

use std::collections::BTreeMap;

use super::reader::READ_BUFFER_BYTES;
use super::*;

fn parse_ok(text: &str) -> Parsed {
    parse(text.as_bytes()).expect("file should parse")
}

fn handles(parsed: &Parsed) -> Vec<(u64, &str)> {
    parsed
        .records
        .iter()
        .map(|r| (r.line, r.handle.as_str()))
        .collect()
}

fn reject(line: u64, reason: &str) -> Reject {
    Reject {
        line,
        reason: reason.to_owned(),
    }
}

#[test]
fn bom_and_crlf_with_correct_lines() {
    let input = b"\xEF\xBB\xBFhandle,name\r\nalice,Alice\r\n\r\nbob,Bob\r\n";
    let parsed = parse(input).unwrap();
    assert_eq!(handles(&parsed), vec![(2, "alice"), (4, "bob")]);
    assert_eq!(parsed.records[0].name.as_deref(), Some("Alice"));
    assert!(parsed.rejects.is_empty());
}

#[test]
fn quoted_fields_and_lines_after_multiline_field() {
    let parsed = parse_ok(concat!(
        "handle,notes,name\n",
        "alice,\"met at x, then y\",\"Alice \"\"Al\"\" A\"\n",
        "bob,\"line one\nline two\nline three\",Bob\n",
        "carol,,Carol\n",
        "\n",
        "dave,,\n",
    ));
    assert_eq!(
        handles(&parsed),
        vec![(2, "alice"), (3, "bob"), (6, "carol"), (8, "dave")]
    );
    let alice = &parsed.records[0];
    assert_eq!(alice.notes.as_deref(), Some("met at x, then y"));
    assert_eq!(alice.name.as_deref(), Some("Alice \"Al\" A"));
    assert_eq!(
        parsed.records[1].notes.as_deref(),
        Some("line one\nline two\nline three")
    );
    assert_eq!(parsed.records[2].notes, None);
}

#[test]
fn crlf_inside_quotes_counts_as_one_line() {
    let parsed = parse_ok("handle,notes\r\na,\"x\r\ny\"\r\nb,z\r\n");
    assert_eq!(handles(&parsed), vec![(2, "a"), (4, "b")]);
    assert_eq!(parsed.records[0].notes.as_deref(), Some("x\r\ny"));
}

#[test]
fn leading_blank_lines_and_bare_comma_rows_are_skipped() {
    let parsed = parse_ok("\n\nhandle,name\n,\n  ,  \nalice,A\n");
    assert_eq!(handles(&parsed), vec![(6, "alice")]);
    assert!(parsed.rejects.is_empty());
}

#[test]
fn header_aliases_and_spelling_variations() {
    for header in [
        "handle",
        "Username",
        "User_Name",
        "user name",
        "IG",
        "Instagram",
        " HANDLE ",
    ] {
        let parsed = parse_ok(&format!(
            "{header},Full Name,E-Mail,PHONE,Tags,notes\nalice,Alice A,a@b.co,1234567,x,n\n"
        ));
        let lead = &parsed.records[0];
        assert_eq!(lead.handle, "alice", "header {header:?}");
        assert_eq!(lead.name.as_deref(), Some("Alice A"));
        assert_eq!(lead.email.as_deref(), Some("a@b.co"));
        assert_eq!(lead.phone.as_deref(), Some("1234567"));
        assert_eq!(lead.tags, vec!["x"]);
        assert_eq!(lead.notes.as_deref(), Some("n"));
        assert!(lead.custom.is_empty(), "header {header:?}");
    }
}

#[test]
fn custom_columns_kept_and_unnamed_columns_ignored() {
    let parsed = parse_ok("handle, Source ,City,,follower_count\nalice, ads ,,junk,1200\n");
    let lead = &parsed.records[0];
    let expected: BTreeMap<String, String> = [("Source", "ads"), ("follower_count", "1200")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(lead.custom, expected);
}

#[test]
fn values_are_trimmed_and_empty_becomes_none() {
    let parsed = parse_ok("handle,name,email,phone,notes\n  alice  ,   ,  ,  ,  \n");
    let lead = &parsed.records[0];
    assert_eq!(lead.handle, "alice");
    assert_eq!(
        (&lead.name, &lead.email, &lead.phone, &lead.notes),
        (&None, &None, &None, &None)
    );
}

#[test]
fn invalid_handles_each_name_their_problem() {
    let cases = [
        ("", "handle is empty".to_owned()),
        ("   ", "handle is empty".to_owned()),
        ("@", "handle is empty".to_owned()),
        ("https://www.instagram.com/", "handle is empty".to_owned()),
        ("a..b", "handle \"a..b\" contains \"..\"".to_owned()),
        (".ab", "handle \".ab\" starts with '.'".to_owned()),
        ("ab.", "handle \"ab.\" ends with '.'".to_owned()),
        (
            "x y",
            "handle \"x y\" has a character other than letters, digits, '.' and '_'".to_owned(),
        ),
        (
            "café",
            "handle \"café\" has a character other than letters, digits, '.' and '_'".to_owned(),
        ),
        (
            "a-b",
            "handle \"a-b\" has a character other than letters, digits, '.' and '_'".to_owned(),
        ),
        (
            &"a".repeat(31),
            "handle is 31 characters, the limit is 30".to_owned(),
        ),
    ];
    for (raw, reason) in cases {
        assert_eq!(normalize_handle(raw), Err(reason), "input {raw:?}");
    }
    assert_eq!(normalize_handle(&"a".repeat(30)), Ok("a".repeat(30)));
    assert_eq!(normalize_handle("a.b_c9"), Ok("a.b_c9".to_owned()));
}

#[test]
fn invalid_handle_rejects_the_row_and_the_rest_continue() {
    let parsed = parse_ok("handle,name\nalice,A\na..b,B\n,C\ncarol,C\n");
    assert_eq!(handles(&parsed), vec![(2, "alice"), (5, "carol")]);
    assert_eq!(
        parsed.rejects,
        vec![
            reject(3, "handle \"a..b\" contains \"..\""),
            reject(4, "handle is empty"),
        ]
    );
}

#[test]
fn profile_urls_give_the_handle() {
    let cases = [
        ("https://www.instagram.com/Some.User/", "some.user"),
        ("instagram.com/some_user?igsh=abc123", "some_user"),
        ("http://instagram.com/someone", "someone"),
        ("HTTPS://WWW.INSTAGRAM.COM/Loud#top", "loud"),
        ("www.instagram.com/plain/reels/", "plain"),
    ];
    for (raw, handle) in cases {
        assert_eq!(
            normalize_handle(raw),
            Ok(handle.to_owned()),
            "input {raw:?}"
        );
    }
}

#[test]
fn other_sites_are_not_profile_urls() {
    assert!(normalize_handle("https://twitter.com/someone").is_err());
}

#[test]
fn at_sign_stripped_once_and_lower_cased() {
    assert_eq!(
        normalize_handle("  @Alice.Smith  "),
        Ok("alice.smith".to_owned())
    );
    assert_eq!(normalize_handle("MiXeD_9"), Ok("mixed_9".to_owned()));
    assert!(normalize_handle("@@alice").is_err());
}

#[test]
fn bad_email_rejects_the_row() {
    for bad in [
        "foo", "@b.co", "a@b", "a@@b.co", "a b@c.co", "a@.co", "a@b.co.",
    ] {
        let parsed = parse_ok(&format!("handle,email\nalice,\"{bad}\"\n"));
        assert!(parsed.records.is_empty(), "email {bad:?}");
        assert_eq!(
            parsed.rejects,
            vec![reject(2, &format!("email {bad:?} is not an email address"))]
        );
    }
    let parsed = parse_ok("handle,email\nalice, Alice@Example.co.uk \n");
    assert_eq!(
        parsed.records[0].email.as_deref(),
        Some("Alice@Example.co.uk")
    );
}

#[test]
fn phone_is_normalised_or_rejected() {
    let parsed = parse_ok(concat!(
        "handle,phone\n",
        "a,+1 (555) 010-9999\n",
        "b,030.123.4567\n",
        "c,12\n",
        "d,555-CALL-NOW\n",
        "e,1-555+0109999\n",
    ));
    let phones: Vec<_> = parsed.records.iter().map(|r| r.phone.as_deref()).collect();
    assert_eq!(phones, vec![Some("+15550109999"), Some("0301234567")]);
    assert_eq!(
        parsed.rejects[0],
        reject(4, "phone \"12\" has fewer than 7 digits")
    );
    assert_eq!(
        parsed.rejects[1],
        reject(
            5,
            "phone \"555-CALL-NOW\" has 'C'; only digits, spaces, '-', '.', '(', ')' and a leading '+' are allowed"
        )
    );
    assert_eq!(parsed.rejects[2].line, 6);
}

#[test]
fn all_problems_in_a_row_are_reported_together() {
    let parsed = parse_ok("handle,email,phone\na..b,foo,12\n");
    assert_eq!(
        parsed.rejects,
        vec![reject(
            2,
            "handle \"a..b\" contains \"..\"; email \"foo\" is not an email address; phone \"12\" has fewer than 7 digits"
        )]
    );
}

#[test]
fn tags_split_on_semicolons_only() {
    let parsed = parse_ok("handle,tags\nalice,\" VIP ; cold;;vip;b,c \"\n");
    assert_eq!(parsed.records[0].tags, vec!["b,c", "cold", "vip"]);
}

#[test]
fn wrong_field_count_is_a_reject() {
    let parsed = parse_ok("handle,name,email,phone\na,A,a@b.co,1234567,extra\nb,B\nc\nd,D,,\n");
    assert_eq!(handles(&parsed), vec![(5, "d")]);
    assert_eq!(
        parsed.rejects,
        vec![
            reject(2, "has 5 fields, the header has 4"),
            reject(3, "has 2 fields, the header has 4"),
            reject(4, "has 1 field, the header has 4"),
        ]
    );
}

#[test]
fn duplicate_handles_merge_into_the_first_row() {
    let parsed = parse_ok(concat!(
        "handle,name,email,phone,tags,notes,Source,City\n",
        "alice,Alice,,,vip;warm,,ads,\n",
        "bob,Bob,,,,,,\n",
        "@ALICE,Other Name,a@b.co,,cold;vip,note,referral,Paris\n",
        "https://instagram.com/alice/,,,+1 555 010 9999,new,,,\n",
    ));
    assert_eq!(parsed.merged_in_file, 2);
    assert_eq!(handles(&parsed), vec![(2, "alice"), (3, "bob")]);
    let alice = &parsed.records[0];
    assert_eq!(alice.name.as_deref(), Some("Alice"));
    assert_eq!(alice.email.as_deref(), Some("a@b.co"));
    assert_eq!(alice.phone.as_deref(), Some("+15550109999"));
    assert_eq!(alice.notes.as_deref(), Some("note"));
    assert_eq!(alice.tags, vec!["cold", "new", "vip", "warm"]);
    assert_eq!(alice.custom["Source"], "ads");
    assert_eq!(alice.custom["City"], "Paris");
}

#[test]
fn rejected_duplicate_does_not_merge() {
    let parsed = parse_ok("handle,email\nalice,\nalice,nope\n");
    assert_eq!(parsed.merged_in_file, 0);
    assert_eq!(parsed.records[0].email, None);
    assert_eq!(parsed.rejects.len(), 1);
}

#[test]
fn no_handle_column_is_fatal_and_names_the_headers() {
    let err = parse(b"Name,Email,,Handle Name\nalice,a@b.co,,x\n").unwrap_err();
    assert!(
        matches!(&err, ImportError::NoHandleColumn { line: 1, headers } if headers == &["Name", "Email", "Handle Name"])
    );
    assert_eq!(
        err.to_string(),
        "line 1: no handle column (name one handle, username, instagram or ig); the header has \"Name\", \"Email\", \"Handle Name\""
    );
}

#[test]
fn duplicate_mapped_columns_are_fatal() {
    let err = parse(b"handle,name,Username\na,A,b\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: field 1 (\"handle\") and field 3 (\"Username\") are both the handle column; keep one of them"
    );
    let err = parse(b"handle,Full Name,name\n").unwrap_err();
    assert!(matches!(err, ImportError::DuplicateColumn { field, .. } if field == "name"));
}

#[test]
fn repeated_custom_header_is_fatal() {
    let err = parse(b"handle,Source,Source\n").unwrap_err();
    assert!(
        matches!(err, ImportError::DuplicateColumn { field, second_column: 3, .. } if field == "Source")
    );
}

#[test]
fn empty_file_has_no_header() {
    for input in [&b""[..], b"\xEF\xBB\xBF", b"\n\r\n\n"] {
        let err = parse(input).unwrap_err();
        assert!(matches!(err, ImportError::NoHeader), "input {input:?}");
        assert!(err.to_string().contains("no header"));
    }
}

#[test]
fn header_only_file_has_no_records() {
    let parsed = parse_ok("handle,name\n");
    assert!(parsed.records.is_empty() && parsed.rejects.is_empty());
}

/// `count` distinct custom column names after `handle`.
fn wide_header(count: usize) -> String {
    let mut header = "handle".to_owned();
    for i in 1..count {
        header.push_str(&format!(",c{i}"));
    }
    header
}

#[test]
fn huge_header_fails_fast_naming_the_limit() {
    let many_columns = wide_header(1_500_000);
    let one_column = format!("handle{}", "x".repeat(10 << 20));
    let commas = ",".repeat(20 << 20);
    for (header, limit) in [
        (&many_columns, TooLarge::Fields(MAX_FIELDS)),
        (&one_column, TooLarge::Bytes(MAX_HEADER_BYTES)),
        (&commas, TooLarge::Fields(MAX_FIELDS)),
    ] {
        assert!(header.len() >= 10 << 20);
        let started = std::time::Instant::now();
        let err = parse(format!("{header}\nalice\n").as_bytes()).unwrap_err();
        // Generous: the quadratic duplicate check took minutes on 10 MB.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            matches!(err, ImportError::HeaderTooLarge { line: 1, limit: l } if l == limit),
            "{err}"
        );
    }
    let err = parse(format!("{many_columns}\n").as_bytes()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 1: the header has more than 1000 fields, the most an import takes"
    );
}

#[test]
fn header_at_the_limits_is_accepted() {
    let parsed = parse_ok(&format!(
        "{}\nalice{}\n",
        wide_header(MAX_FIELDS),
        ",v".repeat(MAX_FIELDS - 1)
    ));
    assert_eq!(handles(&parsed), vec![(2, "alice")]);
    assert_eq!(parsed.records[0].custom.len(), MAX_FIELDS - 1);
    let err = parse(format!("{}\n", wide_header(MAX_FIELDS + 1)).as_bytes()).unwrap_err();
    assert!(matches!(err, ImportError::HeaderTooLarge { .. }), "{err}");

    let long_name = "n".repeat(MAX_HEADER_BYTES - "handle".len());
    parse_ok(&format!("handle,{long_name}\n"));
    let err = parse(format!("handle,{long_name}n\n").as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::HeaderTooLarge {
                limit: TooLarge::Bytes(_),
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn duplicate_far_apart_in_a_wide_header_is_found() {
    let header = format!("{},c1\n", wide_header(MAX_FIELDS - 1));
    let err = parse(header.as_bytes()).unwrap_err();
    assert!(
        matches!(
            &err,
            ImportError::DuplicateColumn {
                first_column: 2,
                second_column: 1000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn oversized_rows_are_rejected_and_the_rest_still_read() {
    let at_limit = "x".repeat(MAX_ROW_BYTES - "carol".len());
    let input = format!(
        "handle,notes\n{}\nbob,\"{at_limit}\nmore\"\ncarol,{at_limit}\n{}x\ndave,\n",
        ",".repeat(20 << 20),
        ",x".repeat(MAX_FIELDS),
    );
    let parsed = parse(input.as_bytes()).unwrap();
    assert_eq!(handles(&parsed), vec![(5, "carol"), (7, "dave")]);
    assert_eq!(
        parsed.rejects,
        vec![
            reject(2, "has more than 1000 fields, the most an import takes"),
            reject(3, "has more than 1048576 bytes, the most an import takes"),
            reject(6, "has more than 1000 fields, the most an import takes"),
        ]
    );
}

#[test]
fn invalid_utf8_is_fatal_and_names_line_and_field() {
    let err = parse(b"handle,name\nalice,A\r\nbob,Ren\xE9\n").unwrap_err();
    assert!(matches!(
        &err,
        ImportError::InvalidUtf8 { line: 3, field: 2 }
    ));
    assert!(err.to_string().starts_with("line 3, field 2: "));
}

/// Gives its bytes a few at a time, as a pipe may.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn rows_of(input: impl Read) -> Result<Vec<Row>, ImportError> {
    let mut reader = Reader::new(input)?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row()? {
        rows.push(row);
    }
    Ok(rows)
}

#[test]
fn rows_and_lines_do_not_depend_on_how_the_input_arrives() {
    let inputs: [&[u8]; 6] = [
        b"\xEF\xBB\xBFhandle,name\r\nalice,Alice\r\n\r\nbob,Bob\r\n",
        b"\n\nhandle,notes\r\na,\"x\r\ny\"\r\nb,z\r\n\r\n,\nc,\"\n\"",
        b"handle,name\ra,A\r\rb,B\n\rc,C\r",
        b"handle,email\nalice,\n\n\nalice,nope\nbob,b@c.co\nshort\n",
        b"\xEF\xBB\xBF",
        b"handle\r\n\xEF\xBB\xBFa\r\n",
    ];
    for input in inputs {
        let whole = rows_of(input).map_err(|e| e.to_string());
        for step in [1, 2, 3, 5, 64] {
            let trickled = rows_of(Trickle { bytes: input, step }).map_err(|e| e.to_string());
            assert_eq!(
                trickled, whole,
                "input {input:?} read {step} bytes at a time"
            );
        }
    }
    let lines: Vec<u64> = rows_of(inputs[2])
        .unwrap()
        .iter()
        .map(|row| match row {
            Row::Lead(lead) => lead.line,
            Row::Rejected(reject) => reject.line,
        })
        .collect();
    assert_eq!(lines, vec![2, 4, 6], "a lone \\r ends a line");
}

#[test]
fn a_bom_split_across_reads_is_still_dropped() {
    let input = b"\xEF\xBB\xBFhandle\nalice\n";
    let rows = rows_of(Trickle {
        bytes: input,
        step: 1,
    })
    .unwrap();
    assert!(matches!(&rows[..], [Row::Lead(lead)] if lead.handle == "alice" && lead.line == 2));
}

#[test]
fn utf8_check_across_chunk_boundaries() {
    // A three-byte character at every offset around the chunk boundary.
    for pad in READ_BUFFER_BYTES - 4..READ_BUFFER_BYTES + 4 {
        let mut text = "x".repeat(pad).into_bytes();
        text.extend_from_slice("€ end".as_bytes());
        assert!(is_utf8(&text[..]).unwrap(), "pad {pad}");
        assert!(
            is_utf8(Trickle {
                bytes: &text,
                step: 7
            })
            .unwrap()
        );
        let mut cut = text[..pad + 2].to_vec();
        assert!(
            !is_utf8(&cut[..]).unwrap(),
            "a character cut at the end, pad {pad}"
        );
        cut.push(b'x');
        assert!(!is_utf8(&cut[..]).unwrap(), "pad {pad}");
    }
    assert!(is_utf8(&b""[..]).unwrap());
    assert!(!is_utf8(&b"handle\nRen\xE9\n"[..]).unwrap());
}
