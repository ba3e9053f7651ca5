//! Importing a CSV file of leads: parse, then store every valid record in one transaction,
//! merging with leads already stored, and queue a filter event for each.

use anyhow::Context as _;
use serde::Serialize;

use super::csv_import::{self, Reject};
use crate::clock::Millis;
use crate::engine::ingest;
use crate::store::leads::Upserted;
use crate::store::{self, Db};

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    /// Rows merged into another row of the file or into a lead already stored.
    pub merged: usize,
    pub rejected: Vec<Reject>,
}

/// What is being imported, into which account, and how strictly.
pub struct ImportOptions<'a> {
    /// Names the input in messages (`file:line: …`).
    pub source: &'a str,
    pub account: i64,
    /// Any rejected row is an error and nothing is imported.
    pub strict: bool,
}

/// Imports the file at `options.source`. `progress` is told how many records are stored,
/// for a progress bar.
pub fn import_file(
    db: &Db,
    options: &ImportOptions<'_>,
    now: Millis,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<ImportReport> {
    let bytes =
        std::fs::read(options.source).with_context(|| format!("cannot read {}", options.source))?;
    import_bytes(db, &bytes, options, now, progress)
}

/// [`import_file`] for bytes already in memory.
pub fn import_bytes(
    db: &Db,
    bytes: &[u8],
    options: &ImportOptions<'_>,
    now: Millis,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<ImportReport> {
    let (source, account) = (options.source, options.account);
    let parsed = csv_import::parse(bytes).with_context(|| format!("cannot import {source}"))?;
    if options.strict && !parsed.rejects.is_empty() {
        let lines: Vec<String> = parsed
            .rejects
            .iter()
            .map(|r| format!("  {source}:{}: {}", r.line, r.reason))
            .collect();
        anyhow::bail!(
            "--strict: {} row(s) rejected, nothing imported:\n{}",
            parsed.rejects.len(),
            lines.join("\n")
        );
    }
    let total = parsed.records.len() as u64;
    let mut report = ImportReport {
        merged: parsed.merged_in_file,
        rejected: parsed.rejects,
        ..Default::default()
    };
    db.write(|tx| {
        for (done, record) in parsed.records.iter().enumerate() {
            let stored = store::leads::upsert(tx, record, account, now)?;
            match stored {
                Upserted::Created(_) => report.imported += 1,
                Upserted::Merged(_) => report.merged += 1,
            }
            ingest::lead_imported(tx, stored.id(), now)?;
            progress(done as u64 + 1, total);
        }
        Ok(())
    })?;
    Ok(report)
}
