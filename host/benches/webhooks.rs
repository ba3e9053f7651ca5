//! (g) Inbound messages stored per second: what a signed webhook delivery costs once its
//! signature and JSON are checked (find the lead, dedupe on the message id, store the
//! message, check for an opt-out, withdraw the lead's automation, queue the reply event),
//! on a database with no history and on the one the (d) run left, in the same run.

use std::time::Instant;

use outreach::clock::parse_rfc3339;
use outreach::config::Config;
use outreach::domain::lead::LeadRecord;
use outreach::engine::ingest;
use outreach::store::{self, Db};

/// Messages per measurement, each from its own lead.
pub const MESSAGES: usize = 5_000;

/// Messages per second and the 99th-percentile time of one, in ms.
pub struct Ingestion {
    pub per_sec: f64,
    pub p99_ms: f64,
}

/// On a new database holding only the leads that write.
pub fn on_empty(path: &std::path::Path) -> anyhow::Result<Ingestion> {
    let db = Db::open(path, None)?;
    let now = parse_rfc3339("2026-11-26T10:00:00Z").unwrap();
    db.write(|tx| {
        for i in 0..MESSAGES {
            let record = LeadRecord {
                line: i as u64 + 2,
                handle: format!("lead_{i}"),
                name: Some(format!("Lead {i}")),
                email: None,
                phone: None,
                tags: vec![],
                notes: None,
                custom: Default::default(),
            };
            store::leads::upsert(tx, &record, 1, now)?;
        }
        Ok(())
    })?;
    measure(&db, MESSAGES)
}

/// On a database of `leads` leads with history, from leads spread over all of them.
pub fn on_history(path: &std::path::Path, leads: usize) -> anyhow::Result<Ingestion> {
    measure(&Db::open(path, None)?, leads)
}

fn measure(db: &Db, leads: usize) -> anyhow::Result<Ingestion> {
    let config = Config::default();
    let now = parse_rfc3339("2026-11-27T10:00:00Z").unwrap();
    let stride = (leads / MESSAGES).max(1);
    let mut times = Vec::with_capacity(MESSAGES);
    let start = Instant::now();
    for i in 0..MESSAGES {
        let handle = format!("lead_{}", (i * stride) % leads);
        let message = ingest::InboundMessage {
            account: 1,
            from: ingest::Sender::Handle(&handle),
            text: "Is this still available?",
            at: now,
            source: "bench",
            dedupe_key: Some(format!("bench:{i}")),
            origin: None,
            comment: None,
        };
        let one = Instant::now();
        let received = ingest::inbound(db, &config.consent, &message, now)?;
        times.push(one.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(
            received.event_id.is_some(),
            "message {i} taken for a duplicate"
        );
    }
    let elapsed = start.elapsed();
    times.sort_by(f64::total_cmp);
    Ok(Ingestion {
        per_sec: MESSAGES as f64 / elapsed.as_secs_f64(),
        p99_ms: times[times.len() * 99 / 100],
    })
}
