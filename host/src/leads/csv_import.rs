//! Turns the bytes of a leads CSV file into validated lead records.
//!
//! This module owns the file format: header matching, value normalisation
//! (handles, emails, phones, tags), per-row validation with line-numbered
//! rejects, and merging of rows that name the same handle. It never touches
//! a database: [`Reader`] hands out one row at a time, for an import that
//! writes as it reads; [`parse`] collects a whole (small) file into
//! [`Parsed`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::{ErrorKind, Read};

use csv::{ByteRecord, StringRecord};

pub use crate::domain::handle::normalize_handle;
pub use crate::domain::lead::LeadRecord;

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    pub line: u64,
    pub reason: String,
}

/// Everything one file yielded, in file order.
#[derive(Debug)]
pub struct Parsed {
    pub records: Vec<LeadRecord>,
    pub rejects: Vec<Reject>,
    /// How many rows were folded into an earlier row with the same handle.
    pub merged_in_file: usize,
}

/// Problems that make the whole file unusable, as opposed to a bad row.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "line {line}, field {field}: the text is not valid UTF-8; save the file as UTF-8 and import it again"
    )]
    InvalidUtf8 { line: u64, field: usize },
    #[error("the file has no header row")]
    NoHeader,
    #[error("cannot read it: {0}")]
    Read(std::io::Error),
    #[error("line {line}: the header has {limit}")]
    HeaderTooLarge { line: u64, limit: TooLarge },
    #[error(
        "line {line}: no handle column (name one handle, username, instagram or ig); the header has {}",
        quoted_list(.headers)
    )]
    NoHandleColumn { line: u64, headers: Vec<String> },
    #[error(
        "line {line}: field {first_column} ({first:?}) and field {second_column} ({second:?}) are both the {field} column; keep one of them"
    )]
    DuplicateColumn {
        line: u64,
        field: String,
        first: String,
        first_column: usize,
        second: String,
        second_column: usize,
    },
}

/// The limit a record went past; the rest of that record is skipped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooLarge {
    Fields(usize),
    /// Bytes of field text, not counting delimiters and quotes.
    Bytes(usize),
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TooLarge::Fields(limit) => write!(f, "more than {limit} fields")?,
            TooLarge::Bytes(limit) => write!(f, "more than {limit} bytes")?,
        }
        f.write_str(", the most an import takes")
    }
}

const MIN_PHONE_DIGITS: usize = 7;

// Far beyond any real leads file. They bound what one record can cost, so a
// broken or hostile file fails in time and memory proportional to a row.
const MAX_FIELDS: usize = 1_000;
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_ROW_BYTES: usize = 1024 * 1024;

/// Parses a whole leads file, merging rows that name the same handle. Bad
/// rows become [`Reject`]s; only problems with the file itself are errors.
///
/// Holds every record; an import reads the file as it goes with [`Reader`].
pub fn parse(input: &[u8]) -> Result<Parsed, ImportError> {
    let mut reader = Reader::new(input)?;
    let mut collector = Collector::default();
    while let Some(row) = reader.next_row()? {
        match row {
            Row::Lead(lead) => collector.add(lead),
            Row::Rejected(reject) => collector.rejects.push(reject),
        }
    }
    Ok(collector.finish())
}

/// One data row of the file: a lead, or why the row was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Lead(LeadRecord),
    Rejected(Reject),
}

/// Reads a leads file row by row, in memory bounded by the largest row the
/// import takes (not by the file): the header when created, then one
/// validated row per [`Reader::next_row`]. Rows that repeat a handle are
/// returned as they are; merging them is the caller's business.
pub struct Reader<R> {
    rows: Rows<R>,
    layout: Layout,
}

impl<R: Read> Reader<R> {
    /// Reads the header. A file without a usable header is an error here,
    /// before any row is read.
    pub fn new(input: R) -> Result<Self, ImportError> {
        let mut rows = Rows::new(input);
        let (header_line, header) = rows
            .next(MAX_FIELDS, MAX_HEADER_BYTES)?
            .ok_or(ImportError::NoHeader)?;
        let header = header.map_err(|limit| ImportError::HeaderTooLarge {
            line: header_line,
            limit,
        })?;
        let layout = layout_from_header(header_line, &header)?;
        Ok(Reader { rows, layout })
    }

    /// The next data row; `None` at the end of the file. Rows of nothing but
    /// commas and blanks are skipped.
    pub fn next_row(&mut self) -> Result<Option<Row>, ImportError> {
        while let Some((line, row)) = self.rows.next(MAX_FIELDS, MAX_ROW_BYTES)? {
            let row = match row {
                Ok(row) => row,
                Err(limit) => {
                    let reason = format!("has {limit}");
                    return Ok(Some(Row::Rejected(Reject { line, reason })));
                }
            };
            // Spreadsheets export trailing rows of bare commas; they carry nothing.
            if row.iter().all(|field| field.trim().is_empty()) {
                continue;
            }
            return Ok(Some(match lead_from_row(&self.layout, line, &row) {
                Ok(lead) => Row::Lead(lead),
                Err(reason) => Row::Rejected(Reject { line, reason }),
            }));
        }
        Ok(None)
    }

    /// How many bytes of the input were read so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.rows.consumed
    }
}

/// Whether everything `input` yields is UTF-8, read in chunks. Splitting
/// UTF-8 text at ASCII delimiters and dropping ASCII quotes leaves UTF-8, so
/// when this holds no field of the file can be [`ImportError::InvalidUtf8`].
pub fn is_utf8(mut input: impl Read) -> std::io::Result<bool> {
    let mut buffer = vec![0; READ_BUFFER_BYTES];
    // The start of a character split by the end of the previous chunk.
    let mut carried = 0;
    loop {
        let read = match input.read(&mut buffer[carried..]) {
            Ok(read) => read,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let filled = carried + read;
        match std::str::from_utf8(&buffer[..filled]) {
            Ok(_) => carried = 0,
            // An incomplete character at the end: complete it from the next read.
            Err(err) if err.error_len().is_none() && read > 0 => {
                let valid = err.valid_up_to();
                buffer.copy_within(valid..filled, 0);
                carried = filled - valid;
            }
            Err(_) => return Ok(false),
        }
        if read == 0 {
            return Ok(true);
        }
    }
}

/// A record's fields, or the limit it went past.
type Record = Result<StringRecord, TooLarge>;

/// How much of the file is read at a time.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Reads raw records and pairs each with the line it starts on.
///
/// Built on the bare `csv_core` parser rather than `csv::Reader`, which grows
/// a record's buffers without bound: here a record may fill fixed buffers
/// only, and one that overflows them is read to its end and dropped. The
/// input is read through a fixed buffer too, so the file is never held whole.
struct Rows<R> {
    input: R,
    /// What was read from `input`: `buffer[start..end]` is not parsed yet.
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// `input` returned end of file.
    at_end: bool,
    /// How many bytes the parser has consumed.
    consumed: u64,
    parser: csv_core::Reader,
    lines: LineCounter,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Rows<R> {
    fn new(input: R) -> Self {
        // The defaults are those of `csv::Reader`; a leading UTF-8 BOM is
        // dropped. Every record is returned whatever its length, so that a
        // short row is a reject, not a fatal error.
        Rows {
            input,
            buffer: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            at_end: false,
            consumed: 0,
            parser: csv_core::Reader::new(),
            lines: LineCounter::default(),
            text: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Reads more input once what was read is parsed. At the start, reads
    /// past where a BOM would end: the parser drops one only if its first
    /// input holds all of it, and takes input that was all BOM for the end.
    fn fill(&mut self) -> Result<(), ImportError> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        let wanted = if self.consumed == 0 { 4 } else { 1 };
        while self.end - self.start < wanted && !self.at_end {
            match self.input.read(&mut self.buffer[self.end..]) {
                Ok(0) => self.at_end = true,
                Ok(read) => self.end += read,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(ImportError::Read(err)),
            }
        }
        Ok(())
    }

    /// The next record and the line it starts on; `None` at the end.
    fn next(
        &mut self,
        max_fields: usize,
        max_bytes: usize,
    ) -> Result<Option<(u64, Record)>, ImportError> {
        use csv_core::ReadRecordResult as Step;

        self.lines.start_record();
        // One slot more than allowed, so that a full buffer means over the
        // limit and a record exactly at it still fits.
        self.text.resize(max_bytes + 1, 0);
        self.ends.resize(max_fields + 1, 0);
        let (mut text_len, mut ends_len) = (0, 0);
        let mut too_large = None;
        loop {
            self.fill()?;
            // Empty input tells the parser the file ended.
            let input = &self.buffer[self.start..self.end];
            let (result, read, written, ended) = self.parser.read_record(
                input,
                &mut self.text[text_len..],
                &mut self.ends[ends_len..],
            );
            self.lines.count(&input[..read]);
            self.start += read;
            self.consumed += read as u64;
            text_len += written;
            ends_len += ended;
            match result {
                Step::InputEmpty => {}
                // What an oversized record has in the buffers is of no use;
                // reusing them for its rest keeps its cost to their size.
                Step::OutputFull => {
                    too_large.get_or_insert(TooLarge::Bytes(max_bytes));
                    text_len = 0;
                }
                Step::OutputEndsFull => {
                    too_large.get_or_insert(TooLarge::Fields(max_fields));
                    ends_len = 0;
                }
                Step::Record => break,
                Step::End => return Ok(None),
            }
        }
        let line = self.lines.record_line();
        // A record can also end with a buffer filled to its spare slot.
        let too_large = too_large
            .or((ends_len > max_fields).then_some(TooLarge::Fields(max_fields)))
            .or((text_len > max_bytes).then_some(TooLarge::Bytes(max_bytes)));
        if let Some(limit) = too_large {
            return Ok(Some((line, Err(limit))));
        }
        let mut fields = ByteRecord::with_capacity(text_len, ends_len);
        let mut start = 0;
        for &end in &self.ends[..ends_len] {
            fields.push_field(&self.text[start..end]);
            start = end;
        }
        let row =
            StringRecord::from_byte_record(fields).map_err(|err| ImportError::InvalidUtf8 {
                line,
                field: err.utf8_error().field() + 1,
            })?;
        Ok(Some((line, Ok(row))))
    }
}

/// Gives records their 1-based editor line numbers, counting line breaks in
/// the bytes the parser consumes.
///
/// The parser's own line count is not usable for this: when a record
/// starts, it has counted only to where the previous record stopped, which
/// is before the `\n` of a CRLF and before any blank lines it then skips, so
/// it names a line before the one the user sees the record on. A record's
/// line is that of its first byte other than `\r` and `\n`.
#[derive(Default)]
struct LineCounter {
    /// Line breaks in the bytes counted, `\r\n` once and a lone `\r` (which
    /// the CSV reader also accepts as a terminator) as one; a `\r` last seen
    /// is not counted until the next byte shows whether a `\n` follows.
    breaks: u64,
    after_cr: bool,
    /// The line of the current record, once its first content byte was seen.
    record: Option<u64>,
}

impl LineCounter {
    fn start_record(&mut self) {
        self.record = None;
    }

    fn count(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while self.record.is_none() {
            let Some((&byte, tail)) = rest.split_first() else {
                return;
            };
            self.step(byte);
            if !matches!(byte, b'\r' | b'\n') {
                self.record = Some(self.breaks + 1);
            }
            rest = tail;
        }
        // The rest of the record: only line breaks matter.
        for &byte in rest {
            if matches!(byte, b'\r' | b'\n') || self.after_cr {
                self.step(byte);
            }
        }
    }

    fn step(&mut self, byte: u8) {
        if self.after_cr && byte != b'\n' {
            self.breaks += 1;
        }
        self.breaks += u64::from(byte == b'\n');
        self.after_cr = byte == b'\r';
    }

    /// The line the current record starts on.
    fn record_line(&self) -> u64 {
        self.record
            .unwrap_or(self.breaks + u64::from(self.after_cr) + 1)
    }
}

/// What a column of the file feeds.
#[derive(PartialEq, Eq, Hash)]
enum Column {
    Handle,
    Name,
    Email,
    Phone,
    Tags,
    Notes,
    Custom(String),
}

impl Column {
    fn label(&self) -> &str {
        match self {
            Column::Handle => "handle",
            Column::Name => "name",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::Tags => "tags",
            Column::Notes => "notes",
            Column::Custom(key) => key,
        }
    }
}

/// One entry per header field; `None` for unnamed columns, which are ignored.
type Layout = Vec<Option<Column>>;

fn layout_from_header(line: u64, header: &StringRecord) -> Result<Layout, ImportError> {
    let layout: Layout = header.iter().map(classify).collect();
    let mut first_index = HashMap::with_capacity(layout.len());
    for (index, column) in layout.iter().enumerate() {
        let Some(column) = column else { continue };
        if let Some(&earlier) = first_index.get(column) {
            return Err(ImportError::DuplicateColumn {
                line,
                field: column.label().to_owned(),
                first: header[earlier].trim().to_owned(),
                first_column: earlier + 1,
                second: header[index].trim().to_owned(),
                second_column: index + 1,
            });
        }
        first_index.insert(column, index);
    }
    if !layout.contains(&Some(Column::Handle)) {
        let headers = header
            .iter()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        return Err(ImportError::NoHandleColumn { line, headers });
    }
    Ok(layout)
}

fn classify(header: &str) -> Option<Column> {
    let written = header.trim();
    if written.is_empty() {
        return None;
    }
    let key: String = written
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "handle" | "username" | "instagram" | "ig" => Column::Handle,
        "name" | "fullname" => Column::Name,
        "email" => Column::Email,
        "phone" => Column::Phone,
        "tags" => Column::Tags,
        "notes" => Column::Notes,
        _ => Column::Custom(written.to_owned()),
    })
}

fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no named columns".to_owned();
    }
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds a lead from one data row. All problems in the row are reported
/// together so the user can fix them in one pass.
fn lead_from_row(layout: &Layout, line: u64, row: &StringRecord) -> Result<LeadRecord, String> {
    if row.len() != layout.len() {
        return Err(format!(
            "has {}, the header has {}",
            field_count(row.len()),
            layout.len()
        ));
    }
    let mut lead = LeadRecord {
        line,
        handle: String::new(),
        name: None,
        email: None,
        phone: None,
        tags: Vec::new(),
        notes: None,
        custom: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    for (column, raw) in layout.iter().zip(row.iter()) {
        if let Some(column) = column
            && let Err(problem) = fill_field(&mut lead, column, raw.trim())
        {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(lead)
    } else {
        Err(problems.join("; "))
    }
}

fn field_count(count: usize) -> String {
    if count == 1 {
        "1 field".to_owned()
    } else {
        format!("{count} fields")
    }
}

fn fill_field(lead: &mut LeadRecord, column: &Column, value: &str) -> Result<(), String> {
    match column {
        Column::Handle => lead.handle = normalize_handle(value)?,
        Column::Name => lead.name = non_empty(value),
        Column::Email => lead.email = non_empty(value).as_deref().map(check_email).transpose()?,
        Column::Phone => {
            lead.phone = non_empty(value)
                .as_deref()
                .map(normalize_phone)
                .transpose()?
        }
        Column::Tags => lead.tags = parse_tags(value),
        Column::Notes => lead.notes = non_empty(value),
        Column::Custom(key) => {
            if let Some(value) = non_empty(value) {
                lead.custom.insert(key.clone(), value);
            }
        }
    }
    Ok(())
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// A plausibility check, not RFC 5322: it catches values put in the wrong
/// column, which is the common mistake.
fn check_email(email: &str) -> Result<String, String> {
    let plausible = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !email.contains(char::is_whitespace);
    if plausible {
        Ok(email.to_owned())
    } else {
        Err(format!("email {email:?} is not an email address"))
    }
}

fn normalize_phone(phone: &str) -> Result<String, String> {
    let (plus, rest) = match phone.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", phone),
    };
    let is_allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')');
    if let Some(bad) = rest.chars().find(|&c| !is_allowed(c)) {
        return Err(format!(
            "phone {phone:?} has {bad:?}; only digits, spaces, '-', '.', '(', ')' and a leading '+' are allowed"
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < MIN_PHONE_DIGITS {
        return Err(format!(
            "phone {phone:?} has fewer than {MIN_PHONE_DIGITS} digits"
        ));
    }
    Ok(format!("{plus}{digits}"))
}

fn parse_tags(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_lowercase)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Accumulates the result, folding rows with a handle seen before into the
/// first row with that handle.
#[derive(Default)]
struct Collector {
    records: Vec<LeadRecord>,
    rejects: Vec<Reject>,
    merged_in_file: usize,
    index_by_handle: HashMap<String, usize>,
}

impl Collector {
    fn add(&mut self, lead: LeadRecord) {
        match self.index_by_handle.get(&lead.handle) {
            Some(&index) => {
                merge_into(&mut self.records[index], lead);
                self.merged_in_file += 1;
            }
            None => {
                self.index_by_handle
                    .insert(lead.handle.clone(), self.records.len());
                self.records.push(lead);
            }
        }
    }

    fn finish(self) -> Parsed {
        Parsed {
            records: self.records,
            rejects: self.rejects,
            merged_in_file: self.merged_in_file,
        }
    }
}

/// The first row wins every conflict; the later one only fills gaps.
fn merge_into(first: &mut LeadRecord, later: LeadRecord) {
    fill_gap(&mut first.name, later.name);
    fill_gap(&mut first.email, later.email);
    fill_gap(&mut first.phone, later.phone);
    fill_gap(&mut first.notes, later.notes);
    first.tags.extend(later.tags);
    first.tags.sort();
    first.tags.dedup();
    for (key, value) in later.custom {
        first.custom.entry(key).or_insert(value);
    }
}

fn fill_gap(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
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
                "handle \"café\" has a character other than letters, digits, '.' and '_'"
                    .to_owned(),
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
}
