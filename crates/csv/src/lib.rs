//! Turns the bytes of a leads CSV file into validated lead records.
//!
//! This crate owns the file format: header matching, value normalisation
//! (handles, emails, phones, tags), per-row validation with line-numbered
//! rejects, and merging of rows that name the same handle. It never touches
//! a database: [`Reader`] hands out one row at a time, for an import that
//! writes as it reads; [`parse`] collects a whole (small) file into
//! [`Parsed`].

mod fields;
mod header;
mod merge;
mod reader;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::{ErrorKind, Read};

use self::fields::lead_from_row;
use self::header::{Layout, layout_from_header, quoted_list};
use self::merge::Collector;
use self::reader::{READ_BUFFER_BYTES, Rows};

pub use outreach_domain::handle::normalize_handle;
pub use outreach_domain::lead::LeadRecord;

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
