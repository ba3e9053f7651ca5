//! Importing a CSV file of leads as it is read: rows are parsed and stored in batches, each
//! batch in one short transaction, merging with leads already stored, and a filter event is
//! queued for each lead. Memory is bounded by a batch, not by the file.
//!
//! A handle the file repeats merges into the lead its first row stored: the later row fills
//! what is still empty and adds its tags. That is the rule for merging a row into a stored
//! lead too (the first value wins; see [`store::leads::upsert`]), so a repeat merges the same
//! whether its first row is in the same batch or written long before. Each lead still gets
//! one filter event per import, however often the file names it.
//!
//! A fatal error (a row that is not UTF-8) or, with `--strict`, any rejected row must leave
//! the store as it was. Input that can be read twice (a file, bytes) is read once without
//! writing when that can happen: always with `--strict`, otherwise only when the file is not
//! all UTF-8. Input that cannot (a pipe) is imported in one transaction instead, rolled back
//! on such an error; that holds the write lock for the whole import.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::csv_import::{self, LeadRecord, Reader, Reject, Row};
use crate::clock::Millis;
use crate::store::leads::Upserted;
use crate::store::{self, Backend, Conn, Db};

/// Rows per write transaction, unless told otherwise: short enough that a running engine
/// waits for the write lock some tens of milliseconds at most, long enough that commits
/// cost little (10,000 or 20,000 were no faster). Two batches are in memory at a time, about
/// 1.5 KB a row each.
pub const DEFAULT_BATCH_ROWS: usize = 5_000;

/// How many rejected rows the `--strict` error lists.
const STRICT_LISTED: usize = 100;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// Rows merged into another row of the file or into a lead already stored.
    pub merged: usize,
    /// The rejected rows in file order, when [`Settings::keep_rejects`] (else empty; an
    /// [`Observer`] sees each as it is found).
    pub rejected: Vec<Reject>,
    /// How many rows were rejected, whether or not they were kept.
    #[serde(skip)]
    pub rejected_count: usize,
}

/// What is being imported, into which account, and how strictly.
pub struct ImportOptions<'a> {
    /// Names the input in messages (`file:line: …`); [`import_file`] reads this path.
    pub source: &'a str,
    pub account: i64,
    /// Any rejected row is an error and nothing is imported.
    pub strict: bool,
}

/// How an import goes about it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rows read, and stored in one transaction, at a time (at least 1).
    pub batch_rows: usize,
    /// Collect the rejected rows in [`ImportReport::rejected`]; without it, memory stays
    /// bounded however many rows are rejected.
    pub keep_rejects: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            batch_rows: DEFAULT_BATCH_ROWS,
            keep_rejects: true,
        }
    }
}

/// What an import is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// Reading the file without writing, for a fatal error or (`--strict`) a rejected row.
    Checking,
    #[default]
    Importing,
}

/// How far an import is, told after every batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub phase: Phase,
    /// Data rows read in this phase.
    pub rows: u64,
    pub rejected: u64,
    pub imported: u64,
    pub merged: u64,
    /// Bytes of input read in this phase, of `total_bytes` when the size is known.
    pub bytes: u64,
    pub total_bytes: Option<u64>,
}

/// Watches an import as it goes.
pub trait Observer {
    fn progress(&mut self, _progress: &Progress) {}
    /// A rejected row, when it is found (with `--strict`, before the import fails).
    fn reject(&mut self, _reject: &Reject) {}
}

/// Watches nothing.
impl Observer for () {}

/// Imports the file at `options.source`, reading it as it goes.
pub fn import_file(
    db: &Db,
    options: &ImportOptions<'_>,
    settings: &Settings,
    now: Millis,
    observer: &mut dyn Observer,
) -> anyhow::Result<ImportReport> {
    let path = Path::new(options.source);
    let open = || File::open(path).with_context(|| format!("cannot read {}", options.source));
    let file = open()?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read {}", options.source))?;
    let import = Import::new(db, options, settings, now, observer);
    if metadata.is_file() {
        import.run(Some(metadata.len()), open)
    } else {
        // A pipe or a device: it cannot be read twice.
        import.run_once(None, file)
    }
}

/// [`import_file`] for bytes already in memory, `observer` told of every batch and
/// rejected row as it goes.
pub fn import_bytes(
    db: &Db,
    bytes: &[u8],
    options: &ImportOptions<'_>,
    settings: &Settings,
    now: Millis,
    observer: &mut dyn Observer,
) -> anyhow::Result<ImportReport> {
    Import::new(db, options, settings, now, observer).run(Some(bytes.len() as u64), || Ok(bytes))
}

/// Imports what `input` yields, read once: in one transaction, so that an error or (with
/// `--strict`) a rejected row leaves nothing imported.
pub fn import_reader(
    db: &Db,
    input: impl Read + Send,
    options: &ImportOptions<'_>,
    settings: &Settings,
    now: Millis,
    observer: &mut dyn Observer,
) -> anyhow::Result<ImportReport> {
    Import::new(db, options, settings, now, observer).run_once(None, input)
}

/// SQLite's page cache while an import writes, in KiB (the default is 2 MiB). A file in no
/// particular handle order inserts all over the handle index, and with the default cache
/// most of its pages were written out and read back again for every batch: such a file
/// imported at half the speed of one sorted by handle.
const IMPORT_CACHE_KIB: i64 = 32 * 1024;

/// Runs `import` with the larger page cache, then sets it back.
fn with_import_cache<T>(db: &Db, import: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    if db.backend() != Backend::Sqlite {
        return import();
    }
    fn sqlite<'c>(c: &Conn<'c>) -> &'c rusqlite::Connection {
        c.as_sqlite().expect("a SQLite store")
    }
    let cache_size =
        |size: i64| db.write(|tx| Ok(sqlite(tx).pragma_update(None, "cache_size", size)?));
    let default: i64 =
        db.read(|c| Ok(sqlite(c).pragma_query_value(None, "cache_size", |r| r.get(0))?))?;
    cache_size(-IMPORT_CACHE_KIB)?;
    let result = import();
    let restored = cache_size(default);
    let value = result?;
    restored?;
    Ok(value)
}

/// One import under way.
struct Import<'a> {
    db: &'a Db,
    options: &'a ImportOptions<'a>,
    settings: &'a Settings,
    now: Millis,
    observer: &'a mut dyn Observer,
    report: ImportReport,
    progress: Progress,
    /// Leads this import queued a filter event for.
    queued: IdSet,
    /// The first rejects, for the `--strict` error.
    listed: Vec<Reject>,
    /// Reused from batch to batch.
    stored: Vec<Upserted>,
    fresh: Vec<i64>,
}

impl<'a> Import<'a> {
    fn new(
        db: &'a Db,
        options: &'a ImportOptions<'a>,
        settings: &'a Settings,
        now: Millis,
        observer: &'a mut dyn Observer,
    ) -> Self {
        Self {
            db,
            options,
            settings,
            now,
            observer,
            report: ImportReport::default(),
            progress: Progress::default(),
            queued: IdSet::default(),
            listed: Vec::new(),
            stored: Vec::new(),
            fresh: Vec::new(),
        }
    }

    fn batch_rows(&self) -> usize {
        self.settings.batch_rows.max(1)
    }

    /// Imports input that `open` gives from the start each time it is called.
    fn run<R: Read + Send>(
        mut self,
        total_bytes: Option<u64>,
        mut open: impl FnMut() -> anyhow::Result<R>,
    ) -> anyhow::Result<ImportReport> {
        self.progress.total_bytes = total_bytes;
        // A header is refused before anything is written anyway; the one fatal error a row
        // can cause is text that is not UTF-8.
        let check = self.options.strict
            || !csv_import::is_utf8(open()?)
                .with_context(|| format!("cannot read {}", self.options.source))?;
        if check {
            self.check(open()?)?;
        }
        let input = open()?;
        with_import_cache(self.db, || self.write_batches(input))?;
        Ok(self.report)
    }

    /// Imports input that can be read only once, in one transaction.
    fn run_once(
        mut self,
        total_bytes: Option<u64>,
        input: impl Read + Send,
    ) -> anyhow::Result<ImportReport> {
        self.progress.total_bytes = total_bytes;
        let db = self.db;
        with_import_cache(db, || {
            db.write(|tx| {
                self.observer.progress(&self.progress);
                let reader = self.reader(input)?;
                self.pipeline(reader, |import, rows| import.write_batch(tx, rows))?;
                if self.options.strict && self.report.rejected_count > 0 {
                    return Err(self.strict_error());
                }
                Ok(())
            })
        })?;
        Ok(self.report)
    }

    fn reader<R: Read>(&self, input: R) -> anyhow::Result<Reader<R>> {
        Reader::new(input).with_context(|| format!("cannot import {}", self.options.source))
    }

    /// Reads all of the input without writing: its fatal error if it has one, and with
    /// `--strict` its rejected rows.
    fn check(&mut self, input: impl Read) -> anyhow::Result<()> {
        self.progress.phase = Phase::Checking;
        self.observer.progress(&self.progress);
        let mut reader = self.reader(input)?;
        let every = self.batch_rows() as u64;
        while let Some(row) = self.next_row(&mut reader)? {
            self.progress.rows += 1;
            if let Row::Rejected(reject) = row
                && self.options.strict
            {
                self.reject(reject);
            }
            if self.progress.rows.is_multiple_of(every) {
                self.progress.bytes = reader.bytes_read();
                self.observer.progress(&self.progress);
            }
        }
        self.progress.bytes = reader.bytes_read();
        self.observer.progress(&self.progress);
        if self.report.rejected_count > 0 {
            return Err(self.strict_error());
        }
        self.progress = Progress {
            total_bytes: self.progress.total_bytes,
            ..Progress::default()
        };
        Ok(())
    }

    /// Reads and stores the input a batch at a time, one transaction each.
    fn write_batches(&mut self, input: impl Read + Send) -> anyhow::Result<()> {
        self.observer.progress(&self.progress);
        let reader = self.reader(input)?;
        let db = self.db;
        let written = self.pipeline(reader, |import, rows| {
            // Only a file that changed since it was checked can get here.
            if import.options.strict && import.report.rejected_count > 0 {
                return Err(import.strict_error());
            }
            db.write_unchecked(|tx| import.write_batch(tx, rows))
        });
        let stored = self.report.imported + self.report.merged;
        match written {
            Err(err) if stored > 0 => Err(err.context(format!(
                "{stored} rows were stored before this ({} imported, {} merged); importing the file again merges with them",
                self.report.imported, self.report.merged
            ))),
            written => written,
        }
    }

    fn next_row<R: Read>(&self, reader: &mut Reader<R>) -> anyhow::Result<Option<Row>> {
        reader
            .next_row()
            .with_context(|| format!("cannot import {}", self.options.source))
    }

    /// Reads rows a batch at a time on a thread of its own, so that parsing the next batch
    /// overlaps storing this one, and hands each batch's leads to `write` (rejected rows are
    /// reported first). At most two batches are in memory: the one being written, and the
    /// next one, being read or waiting until the writer takes it.
    fn pipeline<R: Read + Send>(
        &mut self,
        mut reader: Reader<R>,
        mut write: impl FnMut(&mut Self, &[LeadRecord]) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let batch_rows = self.batch_rows();
        let source = self.options.source;
        std::thread::scope(|scope| {
            let (sender, batches) = std::sync::mpsc::sync_channel(0);
            // Stored leads go back to this thread to be freed: memory freed by another
            // thread than the one that allocated it costs a lock on the allocator's arena,
            // which the two threads then fought over on every row.
            let (recycle, stored) = std::sync::mpsc::channel::<Vec<LeadRecord>>();
            scope.spawn(move || {
                loop {
                    stored.try_iter().for_each(drop);
                    let mut rows = Vec::with_capacity(batch_rows);
                    let mut more = true;
                    while rows.len() < batch_rows {
                        match reader.next_row() {
                            Ok(Some(row)) => rows.push(row),
                            Ok(None) => {
                                more = false;
                                break;
                            }
                            Err(err) => {
                                let _ = sender.send(Err(err));
                                return;
                            }
                        }
                    }
                    // The receiver is gone when writing failed.
                    let batch = (rows, reader.bytes_read(), more);
                    if sender.send(Ok(batch)).is_err() || !more {
                        return;
                    }
                }
            });
            for batch in batches {
                let (rows, bytes, _) = batch.with_context(|| format!("cannot import {source}"))?;
                let mut leads = Vec::with_capacity(rows.len());
                self.progress.rows += rows.len() as u64;
                self.progress.bytes = bytes;
                for row in rows {
                    match row {
                        Row::Lead(lead) => leads.push(lead),
                        Row::Rejected(reject) => self.reject(reject),
                    }
                }
                write(self, &leads)?;
                // The reader is gone at the end of the input; then they are freed here.
                let _ = recycle.send(leads);
                self.observer.progress(&self.progress);
            }
            Ok(())
        })
    }

    /// Stores a batch of leads and queues a filter event for each lead this import did not
    /// queue one for yet, in one statement.
    fn write_batch(&mut self, tx: &Conn<'_>, leads: &[LeadRecord]) -> anyhow::Result<()> {
        if leads.is_empty() {
            return Ok(());
        }
        let (account, now) = (self.options.account, self.now);
        self.stored.clear();
        store::leads::upsert_batch(tx, leads, account, now, &mut self.stored)?;
        self.fresh.clear();
        for stored in &self.stored {
            match stored {
                Upserted::Created(_) => self.report.imported += 1,
                Upserted::Merged(_) => self.report.merged += 1,
            }
            if self.queued.insert(stored.id()) {
                self.fresh.push(stored.id());
            }
        }
        store::leads::queue_lead_imported(tx, &self.fresh, now)?;
        self.progress.imported = self.report.imported as u64;
        self.progress.merged = self.report.merged as u64;
        Ok(())
    }

    fn reject(&mut self, reject: Reject) {
        self.progress.rejected += 1;
        self.report.rejected_count += 1;
        self.observer.reject(&reject);
        if self.options.strict && self.listed.len() < STRICT_LISTED {
            self.listed.push(reject.clone());
        }
        if self.settings.keep_rejects {
            self.report.rejected.push(reject);
        }
    }

    fn strict_error(&self) -> anyhow::Error {
        let source = self.options.source;
        let mut lines: Vec<String> = self
            .listed
            .iter()
            .map(|r| format!("  {source}:{}: {}", r.line, r.reason))
            .collect();
        let unlisted = self.report.rejected_count - self.listed.len();
        if unlisted > 0 {
            lines.push(format!("  … and {unlisted} more"));
        }
        anyhow::anyhow!(
            "--strict: {} row(s) rejected, nothing imported:\n{}",
            self.report.rejected_count,
            lines.join("\n")
        )
    }
}

/// A set of lead ids, small for the runs of ids an import creates and the scattered ones it
/// merges into: ids are grouped by 65,536, and a group is a sorted list of 16-bit offsets
/// until it holds 4,096 of them (8 KiB), then a bitmap of the same size. A million leads
/// with consecutive ids take 128 KiB.
#[derive(Default)]
struct IdSet {
    groups: HashMap<i64, Group>,
}

enum Group {
    Sorted(Vec<u16>),
    Bits(Box<[u64; 1024]>),
}

impl IdSet {
    const SORTED_MAX: usize = 4096;

    /// Adds `id`; whether it was not in the set.
    fn insert(&mut self, id: i64) -> bool {
        let group = self
            .groups
            .entry(id >> 16)
            .or_insert_with(|| Group::Sorted(Vec::new()));
        let low = (id & 0xFFFF) as u16;
        let (word, bit) = (usize::from(low / 64), low % 64);
        match group {
            Group::Sorted(ids) => {
                let Err(at) = ids.binary_search(&low) else {
                    return false;
                };
                ids.insert(at, low);
                if ids.len() > Self::SORTED_MAX {
                    let mut bits = Box::new([0; 1024]);
                    for &id in ids.iter() {
                        bits[usize::from(id / 64)] |= 1 << (id % 64);
                    }
                    *group = Group::Bits(bits);
                }
                true
            }
            Group::Bits(bits) => {
                let new = bits[word] & (1 << bit) == 0;
                bits[word] |= 1 << bit;
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ingest;

    const NOW: Millis = 1_800_000_000_000;

    /// The import as it was before it streamed: the whole file parsed, its repeated handles
    /// merged in memory, then every record stored in one transaction with its event.
    fn import_whole(db: &Db, bytes: &[u8]) -> ImportReport {
        let parsed = csv_import::parse(bytes).unwrap();
        let mut report = ImportReport {
            merged: parsed.merged_in_file,
            rejected_count: parsed.rejects.len(),
            rejected: parsed.rejects,
            ..Default::default()
        };
        db.write(|tx| {
            for record in &parsed.records {
                let stored = store::leads::upsert(tx, record, 1, NOW)?;
                match stored {
                    Upserted::Created(_) => report.imported += 1,
                    Upserted::Merged(_) => report.merged += 1,
                }
                ingest::lead_imported(tx, stored.id(), NOW)?;
            }
            Ok(())
        })
        .unwrap();
        report
    }

    fn import(
        db: &Db,
        bytes: &[u8],
        strict: bool,
        batch_rows: usize,
        once: bool,
    ) -> anyhow::Result<ImportReport> {
        let options = ImportOptions {
            source: "leads.csv",
            account: 1,
            strict,
        };
        let settings = Settings {
            batch_rows,
            keep_rejects: true,
        };
        let mut observer = ();
        let import = Import::new(db, &options, &settings, NOW, &mut observer);
        if once {
            import.run_once(None, bytes)
        } else {
            import.run(Some(bytes.len() as u64), || Ok(bytes))
        }
    }

    /// Everything an import writes, ids included.
    fn dump(db: &Db) -> Vec<String> {
        db.read(|c| {
            let mut out = Vec::new();
            for (table, columns, order) in [
                ("leads", "*", "id"),
                ("lead_tags", "*", "lead_id, tag"),
                ("lead_fields", "*", "lead_id, key"),
                ("events", "*", "id"),
                ("suppressed_handles", "*", "handle_sha256"),
            ] {
                let mut stmt =
                    c.prepare(&format!("SELECT {columns} FROM {table} ORDER BY {order}"))?;
                let n = stmt.column_names().len();
                let rows = stmt.query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, store::sql::Owned>(i))
                        .collect::<Result<Vec<_>, _>>()
                })?;
                for row in rows {
                    out.push(format!("{table}: {:?}", row?));
                }
            }
            Ok(out)
        })
        .unwrap()
    }

    /// A store with a lead the file merges into and a handle that opted out and was forgotten.
    fn store_with_history() -> Db {
        let db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            let stored = csv_import::parse(b"handle,name,tags,Source\nstored,Stored,old,crm\n")?;
            store::leads::upsert(tx, &stored.records[0], 1, 5)?;
            let gone = store::leads::get_or_create(tx, 1, "gone", 5)?;
            store::leads::mark_do_not_contact(tx, gone.id, "said stop", 5)?;
            let gone = store::leads::get(tx, gone.id)?.unwrap();
            store::leads::forget(tx, &gone, 6)
        })
        .unwrap();
        db
    }

    /// Handles repeated far apart (beyond any small batch), into a lead created by the file,
    /// one already stored and a suppressed one; rejected rows among them.
    fn repeats_far_apart() -> Vec<u8> {
        let mut file = String::from("handle,name,email,phone,tags,notes,Source,City\n");
        let mut add = |row: &str| {
            file.push_str(row);
            file.push('\n');
        };
        add("alice,Alice,,,vip;warm,,ads,");
        add("bob,Bob,,,,,,");
        add("stored,Other,s@x.co,,new,,web,Rome");
        add("gone,Gone Again,,,,,,");
        add("carol,Carol,,12,,,,");
        // Enough rows for the statements that insert many at a time.
        for i in 0..45 {
            add(&format!("bulk{i},B{i},b{i}@x.co,,t{};all,,s{i},", i % 3));
        }
        for i in 0..7 {
            add(&format!("filler{i},F{i},,,f,,,"));
        }
        add("@ALICE,Other Name,a@b.co,,cold;vip,note,referral,Paris");
        add("alice,,,,,,");
        for i in 7..12 {
            add(&format!("filler{i},,,,,,,"));
        }
        add("https://instagram.com/alice/,,,+1 555 010 9999,new,,,");
        add("STORED,,,+1 555 222 3333,extra,stored note,,");
        add("gone,,g@x.co,,,,,");
        add("bob,,nope,,,,,");
        add("filler3,Late,,,late,,x,y");
        add("dave,Dave,,,,,,");
        add("alice,Zed,,,z,,,");
        add("bulk40,,,,late,,late,Oslo");
        add("bulk3,Other,,,,,,");
        file.into_bytes()
    }

    #[test]
    fn repeats_beyond_a_batch_merge_as_the_whole_file_import_did() {
        let file = repeats_far_apart();
        let before = store_with_history();
        let expected_report = import_whole(&before, &file);
        let expected = dump(&before);
        assert_eq!(
            (
                expected_report.imported,
                expected_report.merged,
                expected_report.rejected_count
            ),
            (61, 9, 3)
        );
        for once in [false, true] {
            for batch_rows in [1, 2, 3, 5, 16, 40, 100, DEFAULT_BATCH_ROWS] {
                let db = store_with_history();
                let report = import(&db, &file, false, batch_rows, once).unwrap();
                let what = format!("{batch_rows} rows a batch, once: {once}");
                assert_eq!(report.imported, expected_report.imported, "{what}");
                assert_eq!(report.merged, expected_report.merged, "{what}");
                assert_eq!(report.rejected, expected_report.rejected, "{what}");
                assert_eq!(report.rejected_count, 3, "{what}");
                assert_eq!(dump(&db), expected, "{what}");
            }
        }
        // One event per lead the file names, however often it names them.
        let events = before
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*), count(DISTINCT lead_id) FROM events",
                    [],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!(events, (62, 62));
    }

    #[test]
    fn strict_import_with_a_reject_past_the_first_batches_stores_nothing() {
        let mut file = repeats_far_apart();
        file.extend_from_slice(b"last,Last,,,,,,\n");
        for once in [false, true] {
            let db = store_with_history();
            let before = dump(&db);
            let err = import(&db, &file, true, 2, once).unwrap_err();
            let message = format!("{err:#}");
            assert!(
                message.starts_with("--strict: 3 row(s) rejected, nothing imported:")
                    && message.contains("leads.csv:6: phone \"12\" has fewer than 7 digits")
                    && message.contains("leads.csv:69: email \"nope\""),
                "{message}"
            );
            assert_eq!(dump(&db), before, "once: {once}");
        }
        // Without the rejects, --strict imports all of it, a few rows at a time.
        let clean: Vec<&str> = std::str::from_utf8(&file)
            .unwrap()
            .lines()
            .filter(|line| {
                !line.starts_with("carol") && !line.contains("nope") && line != &"alice,,,,,,"
            })
            .collect();
        let clean = clean.join("\n");
        let db = store_with_history();
        let report = import(&db, clean.as_bytes(), true, 2, false).unwrap();
        assert_eq!((report.imported, report.rejected_count), (62, 0));
    }

    #[test]
    fn strict_error_lists_the_first_rejects() {
        let mut file = String::from("handle\n");
        for _ in 0..STRICT_LISTED + 5 {
            file.push_str("a..b\n");
        }
        let db = Db::open_in_memory().unwrap();
        let message = format!(
            "{:#}",
            import(&db, file.as_bytes(), true, 7, false).unwrap_err()
        );
        assert_eq!(message.lines().count(), 1 + STRICT_LISTED + 1, "{message}");
        assert!(message.ends_with("  … and 5 more"), "{message}");
    }

    #[test]
    fn a_fatal_error_late_in_the_file_stores_nothing() {
        let mut file = repeats_far_apart();
        file.extend_from_slice(b"ren\xE9,Ren\xE9,,,,,,\nlast,,,,,,,\n");
        for once in [false, true] {
            let db = store_with_history();
            let before = dump(&db);
            let err = import(&db, &file, false, 2, once).unwrap_err();
            assert!(
                format!("{err:#}").contains("line 75, field 1: the text is not valid UTF-8"),
                "{err:#}"
            );
            assert_eq!(dump(&db), before, "once: {once}");
        }
    }

    #[test]
    fn text_that_is_not_utf8_in_a_rejected_row_only_is_no_error() {
        let mut file = b"handle,notes\nalice,a\nbob,".to_vec();
        file.extend(std::iter::repeat_n(b'x', 1 << 20));
        file.extend_from_slice(b"\xE9\ncarol,c\n");
        assert!(!csv_import::is_utf8(&file[..]).unwrap());
        let db = Db::open_in_memory().unwrap();
        let report = import(&db, &file, false, 1, false).unwrap();
        assert_eq!((report.imported, report.rejected_count), (2, 1));
        assert!(
            report.rejected[0]
                .reason
                .contains("more than 1048576 bytes")
        );
    }

    #[test]
    fn id_set_holds_runs_and_scattered_ids() {
        let mut set = IdSet::default();
        for id in 1..=200_000 {
            assert!(set.insert(id));
        }
        for id in [0, 7_000_000_000, -5, 65_535, 65_536 * 3 + 9] {
            assert_eq!(set.insert(id), !(1..=200_000).contains(&id), "{id}");
        }
        for id in (1..=200_000).step_by(997) {
            assert!(!set.insert(id), "{id}");
        }
        assert!(!set.insert(7_000_000_000));
        assert!(matches!(set.groups[&1], Group::Bits(_)));
        assert!(matches!(
            set.groups[&(7_000_000_000 >> 16)],
            Group::Sorted(_)
        ));
    }
}
