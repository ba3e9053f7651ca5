//! A leads CSV file as anyone may upload it to the console or pass to `leads import`:
//! reading it never panics, and what it yields holds together. Every handle is already
//! normal (normalising it again changes nothing) and appears once (later rows are merged
//! into the first); rows come in file order and every reject names a line of the file; and
//! reading the file as an import does, a few bytes at a time (the first input bytes choose
//! how many), yields the same rows as reading it whole: a row or a line break (`\r\n`
//! split between two reads) never depends on where a read ended.

#![no_main]

use std::collections::BTreeSet;
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use outreach_csv::{Reader, Row, normalize_handle, parse};

/// `data` in reads of the sizes `sizes` says, in turn.
struct Trickle<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    turn: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = usize::from(self.sizes[self.turn % self.sizes.len()]).max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Every row `input` yields, or the error that ended it (as text).
fn rows(input: impl Read) -> Result<Vec<Row>, String> {
    let mut reader = Reader::new(input).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().map_err(|e| e.to_string())? {
        rows.push(row);
    }
    Ok(rows)
}

fuzz_target!(|input: &[u8]| {
    let Some((&count, rest)) = input.split_first() else {
        return;
    };
    let (sizes, file) = rest.split_at(usize::from(count % 16).min(rest.len()));
    let whole = rows(file);
    if !sizes.is_empty() {
        let trickled = rows(Trickle { data: file, sizes, turn: 0 });
        assert_eq!(whole, trickled, "read {sizes:?} bytes at a time");
    }
    if let Ok(rows) = &whole {
        let lines: Vec<u64> = rows
            .iter()
            .map(|row| match row {
                Row::Lead(lead) => lead.line,
                Row::Rejected(reject) => reject.line,
            })
            .collect();
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    }
    let Ok(parsed) = parse(file) else {
        return;
    };
    let mut handles = BTreeSet::new();
    for record in &parsed.records {
        assert_eq!(normalize_handle(&record.handle).as_deref(), Ok(record.handle.as_str()));
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
        assert!((1..=lines).contains(&reject.line), "{reject:?} in {lines} lines");
        assert!(!reject.reason.is_empty());
    }
});
