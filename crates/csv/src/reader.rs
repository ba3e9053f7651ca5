//! The byte reader under the CSV format: records from a fixed buffer, each bounded in fields
//! and bytes, with the editor line it starts on.

use std::io::{ErrorKind, Read};

use csv::{ByteRecord, StringRecord};

use super::{ImportError, TooLarge};

/// A record's fields, or the limit it went past.
type Record = Result<StringRecord, TooLarge>;

/// How much of the file is read at a time.
pub(super) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Reads raw records and pairs each with the line it starts on.
///
/// Built on the bare `csv_core` parser rather than `csv::Reader`, which grows
/// a record's buffers without bound: here a record may fill fixed buffers
/// only, and one that overflows them is read to its end and dropped. The
/// input is read through a fixed buffer too, so the file is never held whole.
pub(super) struct Rows<R> {
    input: R,
    /// What was read from `input`: `buffer[start..end]` is not parsed yet.
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    /// `input` returned end of file.
    at_end: bool,
    /// How many bytes the parser has consumed.
    pub(super) consumed: u64,
    parser: csv_core::Reader,
    lines: LineCounter,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: Read> Rows<R> {
    pub(super) fn new(input: R) -> Self {
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
    pub(super) fn next(
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
