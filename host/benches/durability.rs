//! (l) What a send's attempt record costs now that it is on disk before the request leaves
//! (`Db::write_durable`: the write-ahead log synced at that commit): the same attempt
//! records committed on a real SQLite file with the store's usual commit (`synchronous =
//! NORMAL`, no sync) and durably, alternating, in the same run; the medians and the
//! difference per send, beside the round trip to Instagram it precedes.

use std::time::Instant;

use outreach::domain::lead::LeadRecord;
use outreach::store::outbox::Message;
use outreach::store::{self, Db};

use super::median;

/// Sends timed each way.
const SENDS: usize = 400;

pub fn bench() -> anyhow::Result<()> {
    // On the disk the target directory is on: a temporary directory may be tmpfs, where a
    // sync costs nothing and the figure would mean nothing.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let db = Db::open(&dir.path().join("durability.db"), None)?;
    let rows = db.write(|tx| {
        let lead = store::leads::upsert(tx, &LeadRecord::new(2, "durable"), 1, 0)?.id();
        for i in 0..2 * SENDS {
            store::outbox::enqueue(
                tx,
                &format!("k{i}"),
                lead,
                "bench",
                None,
                Message::text("hi"),
                0,
            )?;
        }
        store::outbox::due(tx, 0, 2 * SENDS as u32)
    })?;
    anyhow::ensure!(rows.len() == 2 * SENDS, "{} rows queued", rows.len());
    let (mut usual, mut durable) = (Vec::new(), Vec::new());
    for pair in rows.chunks(2) {
        let started = Instant::now();
        anyhow::ensure!(db.write(|tx| store::outbox::begin_attempt(tx, &pair[0], 1))?);
        usual.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        anyhow::ensure!(db.write_durable(|tx| store::outbox::begin_attempt(tx, &pair[1], 1))?);
        durable.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let (usual, durable) = (median(usual), median(durable));
    println!(
        "(l) a send's attempt record on a SQLite file, median of {SENDS}: {durable:.0} µs synced to disk vs {usual:.0} µs \
         as other commits ({:.1}x; +{:.2} ms a send, beside a Graph API round trip of 100–300 ms)",
        durable / usual,
        (durable - usual) / 1000.0
    );
    Ok(())
}
