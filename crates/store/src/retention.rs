//! Deleting data by age (the `[retention]` settings) and deleting everything
//! (`outreach purge --all`). Each run is audited with counts, never contents.
//!
//! Old rows are deleted oldest first in batches of [`BATCH`], each its own short
//! transaction, so the engine and other writers never wait long behind a purge. Rows are
//! scanned in id order, in which their times grow, and a pass stops at the first batch
//! that reaches a row still young: the cost of a run follows what it deletes, not the
//! size of the table.

use crate::sql::{Conn, OptionalExtension as _};
use serde::Serialize;

use crate::clock::{DAY, Millis};
use crate::config::RetentionConfig;
use crate::{self as store, Db};

/// Rows deleted per transaction.
const BATCH: i64 = 2_000;

/// Who the audit names for the host's own deletions (a colon: no plugin has that name).
pub const ACTOR: &str = "outreach:retention";

/// What one run deleted, table by table.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Purged {
    pub messages: u64,
    pub outbox: u64,
    pub unrouted_webhooks: u64,
    pub events: u64,
    pub audit: u64,
    pub leads: u64,
    pub team_notes: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.messages
            + self.outbox
            + self.unrouted_webhooks
            + self.events
            + self.audit
            + self.leads
            + self.team_notes
    }

    /// "3 messages, 1 lead": the counts that are not zero.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.leads, "leads"),
            (self.messages, "messages"),
            (self.team_notes, "team notes"),
            (self.outbox, "outbox rows"),
            (self.unrouted_webhooks, "unrouted webhook messages"),
            (self.events, "events"),
            (self.audit, "audit rows"),
        ]
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One age-ordered table and the rows of it that retention may delete.
struct AgedTable {
    table: &'static str,
    /// The column whose age decides; it grows with the id.
    at: &'static str,
    /// Rows never deleted by age whatever their age (work still to do).
    keep: &'static str,
}

const MESSAGES: AgedTable = AgedTable {
    table: "messages",
    at: "at",
    keep: "0",
};
const OUTBOX: AgedTable = AgedTable {
    table: "outbox",
    at: "created_at",
    keep: "status = 'queued'",
};
const UNROUTED: AgedTable = AgedTable {
    table: "unrouted_webhooks",
    at: "received_at",
    keep: "0",
};
const EVENTS: AgedTable = AgedTable {
    table: "events",
    at: "created_at",
    // A queued message still names its event (a reply withdraws a follow-up by it).
    keep: "status <> 'done' OR EXISTS (SELECT 1 FROM outbox
            WHERE outbox.event_id = events.id AND outbox.status = 'queued')",
};
const TEAM_NOTES: AgedTable = AgedTable {
    table: "lead_notes",
    at: "created_at",
    keep: "0",
};
const AUDIT: AgedTable = AgedTable {
    table: "audit",
    at: "at",
    keep: "0",
};

/// Applies every retention setting that is set, as of `now`, and audits what went.
pub fn apply(db: &Db, settings: &RetentionConfig, now: Millis) -> anyhow::Result<Purged> {
    let cutoff = |days: u32| now - i64::from(days) * DAY;
    let mut purged = Purged::default();
    if let Some(days) = settings.messages_days {
        purged.messages = delete_older(db, &MESSAGES, cutoff(days))?;
        purged.outbox = delete_older(db, &OUTBOX, cutoff(days))?;
        purged.unrouted_webhooks = delete_older(db, &UNROUTED, cutoff(days))?;
        // A team's notes often quote the messages: they go with them.
        purged.team_notes = delete_older(db, &TEAM_NOTES, cutoff(days))?;
    }
    // Inbound events hold the message text: they go with the messages at the latest.
    let events_days = match (settings.events_days, settings.messages_days) {
        (Some(events), Some(messages)) => Some(events.min(messages)),
        (events, messages) => events.or(messages),
    };
    if let Some(days) = events_days {
        purged.events = delete_older(db, &EVENTS, cutoff(days))?;
    }
    if let Some(days) = settings.audit_days {
        purged.audit = delete_older(db, &AUDIT, cutoff(days))?;
    }
    if let Some(days) = settings.unanswered_leads_days {
        purged.leads = forget_unanswered(db, cutoff(days), now)?;
    }
    if purged.total() > 0 {
        db.write(|tx| audit(tx, "retention.purge", &purged, now))?;
    }
    Ok(purged)
}

/// Deletes the rows of `aged` older than `cutoff`, batch by batch from the oldest.
fn delete_older(db: &Db, aged: &AgedTable, cutoff: Millis) -> anyhow::Result<u64> {
    let AgedTable { table, at, keep } = aged;
    let batch_end = format!(
        "SELECT max(id), max({at}) FROM (SELECT id, {at} FROM {table} WHERE id > ?1 ORDER BY id LIMIT {BATCH})"
    );
    // The newest row always stays: SQLite gives a deleted highest id to the next row, and
    // outbox keys and the bridge's idempotency keys are built from these ids.
    let delete = format!(
        "DELETE FROM {table} WHERE id > ?1 AND id <= ?2 AND {at} < ?3 AND NOT ({keep})
           AND id < (SELECT max(id) FROM {table})"
    );
    let mut after = 0i64;
    let mut deleted = 0u64;
    loop {
        let more = db.write(|tx| {
            let (last, newest): (Option<i64>, Option<Millis>) = tx
                .prepare_cached(&batch_end)?
                .query_row([after], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let Some(last) = last else {
                return Ok(false);
            };
            deleted += tx
                .prepare_cached(&delete)?
                .execute(crate::params![after, last, cutoff])? as u64;
            after = last;
            Ok(newest.is_some_and(|newest| newest < cutoff))
        })?;
        if !more {
            return Ok(deleted);
        }
    }
}

/// A lead who never wrote back, imported and last written to before `?2`, with nothing
/// queued for them.
const UNANSWERED: &str = "last_inbound_at IS NULL AND created_at < ?2
     AND coalesce(last_outbound_at, 0) < ?2
     AND NOT EXISTS (SELECT 1 FROM outbox WHERE lead_id = leads.id AND status = 'queued')";

/// Forgets the leads who never wrote back and have had nothing sent to them since
/// `cutoff`, as `leads forget` does (an opt-out stays on the suppression list).
fn forget_unanswered(db: &Db, cutoff: Millis, now: Millis) -> anyhow::Result<u64> {
    let mut forgotten = 0;
    loop {
        let batch = db.read(|c| {
            let ids = c
                .prepare_cached(&format!(
                    "SELECT id FROM leads WHERE {UNANSWERED} LIMIT 500"
                ))?
                .query_map(crate::params![0, cutoff], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })?;
        if batch.is_empty() {
            return Ok(forgotten);
        }
        db.write(|tx| {
            for id in &batch {
                // Again inside the write: a reply or a send since the read keeps them.
                let still = tx
                    .prepare_cached(&format!(
                        "SELECT 1 FROM leads WHERE id = ?1 AND {UNANSWERED}"
                    ))?
                    .exists(crate::params![id, cutoff])?;
                if let Some(lead) = store::leads::get(tx, *id)?.filter(|_| still) {
                    store::leads::forget(tx, &lead, now)?;
                    forgotten += 1;
                }
            }
            Ok(())
        })?;
    }
}

/// Deletes every lead and everything about people: messages, events, outbox, follow-ups,
/// plugin storage, unrouted webhook messages, usage figures and the audit log. Plugins,
/// their grants and settings, and accounts stay (they are configuration, not anyone's
/// data), and so does the suppression list of opted-out handles (one-way hashes), so
/// that re-importing an old list cannot message people who said stop. One audit row
/// records the purge.
pub fn purge_all(db: &Db, now: Millis) -> anyhow::Result<Purged> {
    db.write(|tx| {
        let count = |table: &str| -> crate::sql::Result<u64> {
            tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
        };
        let purged = Purged {
            messages: count("messages")?,
            outbox: count("outbox")?,
            unrouted_webhooks: count("unrouted_webhooks")?,
            events: count("events")?,
            audit: count("audit")?,
            leads: count("leads")?,
            team_notes: count("lead_notes")?,
        };
        let opted_out = tx
            .prepare("SELECT handle FROM leads WHERE status = 'do-not-contact'")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        for handle in &opted_out {
            store::leads::suppress(tx, handle, now)?;
        }
        tx.execute_batch(
            "DELETE FROM plugin_kv;
             DELETE FROM unrouted_webhooks;
             DELETE FROM audit;
             DELETE FROM plugin_usage_buckets;
             DELETE FROM leads;",
        )?;
        audit(tx, "purge.all", &purged, now)?;
        Ok(purged)
    })
}

fn audit(conn: &Conn<'_>, action: &str, purged: &Purged, now: Millis) -> anyhow::Result<()> {
    let detail = format!("deleted {}", purged.describe());
    store::audit::record_action(conn, ACTOR, action, None, true, &detail, now)
}

/// When retention last ran, from the host's own state.
pub fn last_run(conn: &Conn<'_>) -> anyhow::Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT value FROM host_state WHERE key = 'retention.last_run_at'")?
        .query_row([], |r| r.get::<_, String>(0))
        .optional()?
        .and_then(|value| value.parse().ok()))
}

pub fn set_last_run(conn: &Conn<'_>, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO host_state (key, value) VALUES ('retention.last_run_at', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([at.to_string()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::HOUR;

    fn audit_rows(db: &Db, times: impl IntoIterator<Item = Millis>) {
        db.write(|tx| {
            for at in times {
                audit(tx, "test", &Purged::default(), at)?;
            }
            Ok(())
        })
        .unwrap();
    }

    fn audit_times(db: &Db) -> Vec<Millis> {
        db.read(|c| {
            Ok(
                c.prepare("SELECT at FROM audit WHERE action = 'test' ORDER BY id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<Vec<_>, _>>()?,
            )
        })
        .unwrap()
    }

    #[test]
    fn deletes_exactly_the_old_rows_across_many_batches() {
        let db = Db::open_in_memory().unwrap();
        // Five batches' worth of hourly rows, then a few out of order (an old time
        // written late), which a later run finds once its batch is reached.
        let rows = 5 * BATCH;
        audit_rows(&db, (0..rows).map(|i| i * HOUR));
        audit_rows(&db, [HOUR, 2 * rows * HOUR]);
        let settings = RetentionConfig {
            audit_days: Some(1),
            ..Default::default()
        };
        let now = (rows / 2) * HOUR + DAY;
        let purged = apply(&db, &settings, now).unwrap();
        let left = audit_times(&db);
        assert_eq!(purged.audit, (rows / 2) as u64);
        assert!(left.iter().take(left.len() - 2).all(|&at| at >= now - DAY));
        assert_eq!(left.len() as i64, rows - rows / 2 + 2);

        // Later, past everything but the last row: the late old row goes too. The first
        // run's own audit row is the newest, and the newest row always stays.
        let purged = apply(&db, &settings, 2 * rows * HOUR).unwrap();
        assert_eq!(purged.audit, (rows - rows / 2 + 1) as u64);
        assert_eq!(audit_times(&db), [2 * rows * HOUR]);
    }

    #[test]
    fn queued_messages_and_unfinished_events_are_never_deleted_by_age() {
        let db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            let lead = store::leads::get_or_create(tx, 1, "old", 0)?;
            tx.execute(
                "INSERT INTO outbox (idempotency_key, lead_id, plugin, text, status, created_at, not_before)
                 VALUES ('k', ?1, 'p', 'still to send', 'queued', 0, 0)",
                [lead.id],
            )?;
            tx.execute(
                "INSERT INTO events (kind, lead_id, payload, created_at, next_attempt_at)
                 VALUES ('inbound', ?1, '{}', 0, 0)",
                [lead.id],
            )?;
            Ok(())
        })
        .unwrap();
        let settings = RetentionConfig {
            messages_days: Some(1),
            events_days: Some(1),
            unanswered_leads_days: Some(1),
            ..Default::default()
        };
        let purged = apply(&db, &settings, 1000 * DAY).unwrap();
        assert_eq!(purged, Purged::default());
    }
}
