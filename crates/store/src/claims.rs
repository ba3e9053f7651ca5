//! Claims on leads, for several workers sharing one database: a worker hands out a lead's
//! event only once it holds the lead's claim, holds it until the event's ending is
//! committed, and renews it while the hook calls run. A claim whose worker stopped renewing
//! it (it died) expires and is taken over, and the events it left unfinished run again.

use std::collections::HashSet;

use crate::clock::Millis;
use crate::sql::{Conn, OptionalExtension as _, params};

/// Claims `lead` for `worker` until `until`; false when another worker's claim still holds.
pub fn claim(
    conn: &Conn<'_>,
    lead: i64,
    worker: &str,
    now: Millis,
    until: Millis,
) -> anyhow::Result<bool> {
    let taken: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO lead_claims (lead_id, worker, until) VALUES (?1, ?2, ?3)
             ON CONFLICT (lead_id) DO UPDATE SET worker = excluded.worker, until = excluded.until
             WHERE lead_claims.until <= ?4 OR lead_claims.worker = excluded.worker
             RETURNING lead_id",
        )?
        .query_row(params![lead, worker, until, now], |r| r.get(0))
        .optional()?;
    Ok(taken.is_some())
}

/// Moves every claim of `worker` on to `until`.
pub fn renew(conn: &Conn<'_>, worker: &str, until: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE lead_claims SET until = ?2 WHERE worker = ?1")?
        .run(params![worker, until])?;
    Ok(())
}

/// Deletes the claims that expired before `before`: a worker that died leaves its claims
/// behind, and a lead nobody writes about again would keep its row for good.
pub fn sweep_expired(conn: &Conn<'_>, before: Millis) -> anyhow::Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM lead_claims WHERE until < ?1")?
        .execute([before])?)
}

/// Gives `lead` up; false when `worker` no longer held it (its claim expired and another
/// worker took the lead over: what this worker did with it must not be written).
pub fn release(conn: &Conn<'_>, lead: i64, worker: &str) -> anyhow::Result<bool> {
    let released = conn
        .prepare_cached("DELETE FROM lead_claims WHERE lead_id = ?1 AND worker = ?2")?
        .execute(params![lead, worker])?;
    Ok(released == 1)
}

/// Gives up every claim of `worker`.
pub fn release_all(conn: &Conn<'_>, worker: &str) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM lead_claims WHERE worker = ?1")?
        .execute([worker])?;
    Ok(())
}

/// The leads other workers hold now.
pub fn held_by_others(conn: &Conn<'_>, worker: &str, now: Millis) -> anyhow::Result<HashSet<i64>> {
    let mut stmt =
        conn.prepare_cached("SELECT lead_id FROM lead_claims WHERE worker <> ?1 AND until > ?2")?;
    let leads = stmt
        .query_map(params![worker, now], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(leads)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    #[test]
    fn a_claim_holds_until_it_expires_and_only_its_worker_releases_it() {
        let db = Db::open_in_memory().unwrap();
        db.write(|c| {
            c.execute(
                "INSERT INTO leads (id, handle, created_at, updated_at) VALUES (7, 'mara', 0, 0)",
                [],
            )?;
            assert!(claim(c, 7, "a", 100, 200)?);
            assert!(!claim(c, 7, "b", 150, 250)?, "a's claim still holds");
            assert_eq!(held_by_others(c, "b", 150)?, HashSet::from([7]));
            renew(c, "a", 300)?;
            assert!(!claim(c, 7, "b", 250, 350)?, "renewed");
            assert!(claim(c, 7, "b", 300, 400)?, "expired: taken over");
            assert!(!release(c, 7, "a")?, "a lost it");
            assert!(claim(c, 7, "b", 310, 410)?, "its own claim again");
            assert!(release(c, 7, "b")?);
            assert!(held_by_others(c, "a", 0)?.is_empty());
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn claims_left_by_a_dead_worker_are_swept_once_expired() {
        let db = Db::open_in_memory().unwrap();
        db.write(|c| {
            c.execute_batch(
                "INSERT INTO leads (id, handle, created_at, updated_at)
                   VALUES (7, 'mara', 0, 0), (8, 'lena', 0, 0)",
            )?;
            assert!(claim(c, 7, "dead", 100, 200)?);
            assert!(claim(c, 8, "alive", 100, 500)?);
            assert_eq!(sweep_expired(c, 200)?, 0, "not before it expired");
            assert_eq!(sweep_expired(c, 201)?, 1);
            assert_eq!(held_by_others(c, "someone", 300)?, HashSet::from([8]));
            let left: i64 = c.query_row("SELECT count(*) FROM lead_claims", [], |r| r.get(0))?;
            assert_eq!(left, 1);
            Ok(())
        })
        .unwrap();
    }
}
