//! This worker's claims on leads, when several workers share a PostgreSQL database
//! (`store::claims` has the rules). On a SQLite file the engine runs alone and claims
//! nothing.
//!
//! Leases run on the machine's real clock, not the engine's (which tests and `--now` may
//! hold still): they say whether a worker is alive, not what time the business thinks it is.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::clock::Millis;
use crate::store::{self, Db};

pub(super) struct Claims {
    /// This engine among the workers: host, process id, start time and, for a process
    /// running several engines (a benchmark), which one.
    worker: String,
    lease: Millis,
    renewed_at: AtomicI64,
}

impl Claims {
    pub fn for_db(db: &Db, lease_ms: u64) -> Option<Self> {
        db.is_shared().then(|| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|name| name.trim().to_owned())
                .unwrap_or_else(|_| "host".into());
            static ENGINES: AtomicU64 = AtomicU64::new(0);
            let engine = ENGINES.fetch_add(1, Ordering::Relaxed);
            Self {
                worker: format!("{host}:{}:{:x}:{engine}", std::process::id(), wall_clock()),
                lease: lease_ms as Millis,
                renewed_at: AtomicI64::new(Millis::MIN),
            }
        })
    }

    /// Claims `lead`; false when another worker holds it.
    pub fn claim(&self, db: &Db, lead: i64) -> anyhow::Result<bool> {
        let now = wall_clock();
        // Lost with a crash of the server, it is claimed again (or by another worker).
        db.write_flushed_later(|c| {
            store::claims::claim(c, lead, &self.worker, now, now + self.lease)
        })
    }

    /// The leads other workers hold now.
    pub fn held_by_others(&self, conn: &store::Conn<'_>) -> anyhow::Result<HashSet<i64>> {
        store::claims::held_by_others(conn, &self.worker, wall_clock())
    }

    /// Renews every claim once a third of the lease has passed since the last renewal.
    pub fn renew_if_due(&self, db: &Db) -> anyhow::Result<()> {
        let now = wall_clock();
        if now
            < self
                .renewed_at
                .load(Ordering::Relaxed)
                .saturating_add(self.lease / 3)
        {
            return Ok(());
        }
        db.write(|c| {
            store::claims::renew(c, &self.worker, now + self.lease)?;
            // What dead workers left, a whole lease after it expired. Every worker does this
            // as it renews: the table holds only the leads in flight and these leftovers,
            // so it is a short delete, and it needs no one in charge.
            store::claims::sweep_expired(c, now.saturating_sub(self.lease))
        })?;
        self.renewed_at.store(now, Ordering::Relaxed);
        Ok(())
    }

    /// Gives `lead` up as its event's ending is committed; false when this worker lost it
    /// meanwhile (and must not write the ending).
    pub fn release(&self, tx: &store::Conn<'_>, lead: i64) -> anyhow::Result<bool> {
        store::claims::release(tx, lead, &self.worker)
    }

    /// Gives every claim up (what was in flight is dropped and runs again).
    pub fn release_all(&self, db: &Db) -> anyhow::Result<()> {
        db.write(|c| store::claims::release_all(c, &self.worker))
    }
}

fn wall_clock() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}
