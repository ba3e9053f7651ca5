//! A leads CSV file as anyone may upload it to the console or pass to `leads import`:
//! reading it never panics, and what it yields holds together: every handle is already
//! normal (normalising it again changes nothing) and appears once (later rows are merged
//! into the first), every reject names a line of the file.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use outreach_csv::{normalize_handle, parse};

fuzz_target!(|file: &[u8]| {
    let Ok(parsed) = parse(file) else {
        return;
    };
    let mut handles = BTreeSet::new();
    for record in &parsed.records {
        assert_eq!(
            normalize_handle(&record.handle).as_deref(),
            Ok(record.handle.as_str())
        );
        assert!(handles.insert(&record.handle), "@{} twice", record.handle);
    }
    // A line break (`\n`, `\r\n` or a lone `\r`, as CSV and editors count them) ends a
    // line, quoted or not: no line number past the file's last line.
    let breaks = file
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' || (b == b'\r' && file.get(i + 1) != Some(&b'\n')))
        .count();
    let lines = breaks as u64 + 1;
    for reject in &parsed.rejects {
        assert!(
            (1..=lines).contains(&reject.line),
            "{reject:?} in {lines} lines"
        );
        assert!(!reject.reason.is_empty());
    }
});
