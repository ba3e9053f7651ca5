//! Importing a CSV file of leads: parse, then store every valid record in one transaction,
//! merging with leads already stored, and queue a filter event for each.

use std::path::Path;

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

/// Imports `path`. With `strict`, any rejected row is an error and nothing is imported.
/// `progress` is told how many records are stored, for a progress bar.
pub fn import_file(
    db: &Db,
    path: &Path,
    strict: bool,
    now: Millis,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<ImportReport> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    import_bytes(
        db,
        &bytes,
        &path.display().to_string(),
        strict,
        now,
        progress,
    )
}

/// [`import_file`] for bytes already in memory; `source` names them in messages.
pub fn import_bytes(
    db: &Db,
    bytes: &[u8],
    source: &str,
    strict: bool,
    now: Millis,
    progress: impl Fn(u64, u64),
) -> anyhow::Result<ImportReport> {
    let parsed = csv_import::parse(bytes).with_context(|| format!("cannot import {source}"))?;
    if strict && !parsed.rejects.is_empty() {
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
            let stored = store::leads::upsert(tx, record, now)?;
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
