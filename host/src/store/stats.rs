//! Outreach figures from the local database (nothing is sent anywhere): the funnel from
//! imported to converted, reply rates per follow-up step, and sends per account and day.

use rusqlite::Connection;
use serde::Serialize;

use crate::clock::{DAY, Millis};

#[derive(Debug, Serialize)]
pub struct Funnel {
    pub imported: u64,
    pub contacted: u64,
    pub replied: u64,
    pub converted: u64,
    pub do_not_contact: u64,
}

#[derive(Debug, Serialize)]
pub struct StepRate {
    /// The follow-up step (0: the first message).
    pub step: u32,
    pub sent: u64,
    /// Sends the lead answered afterwards.
    pub replied: u64,
}

#[derive(Debug, Serialize)]
pub struct DaySends {
    pub account: String,
    /// The UTC day, as Unix milliseconds of its start.
    pub day: Millis,
    pub sent: u64,
}

pub fn funnel(conn: &Connection) -> anyhow::Result<Funnel> {
    Ok(conn.query_row(
        "SELECT count(*),
                count(last_outbound_at),
                count(last_inbound_at),
                count(*) FILTER (WHERE status = 'converted'),
                count(*) FILTER (WHERE status = 'do-not-contact')
         FROM leads",
        [],
        |r| {
            Ok(Funnel {
                imported: r.get::<_, i64>(0)? as u64,
                contacted: r.get::<_, i64>(1)? as u64,
                replied: r.get::<_, i64>(2)? as u64,
                converted: r.get::<_, i64>(3)? as u64,
                do_not_contact: r.get::<_, i64>(4)? as u64,
            })
        },
    )?)
}

/// For each follow-up step, the messages sent and how many of them the lead answered.
pub fn follow_up_steps(conn: &Connection) -> anyhow::Result<Vec<StepRate>> {
    let mut stmt = conn.prepare(
        "SELECT json_extract(e.payload, '$.step') AS step, count(*),
                sum(EXISTS (SELECT 1 FROM messages m
                            WHERE m.lead_id = o.lead_id AND m.direction = 'inbound'
                              AND m.at >= o.sent_at))
         FROM outbox o JOIN events e ON e.id = o.event_id
         WHERE o.status = 'sent' AND e.kind = 'follow-up'
         GROUP BY step ORDER BY step",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(StepRate {
                step: r.get(0)?,
                sent: r.get::<_, i64>(1)? as u64,
                replied: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Messages sent per account and UTC day over the `days` days up to `now`.
pub fn sends_per_day(conn: &Connection, now: Millis, days: i64) -> anyhow::Result<Vec<DaySends>> {
    let since = (now / DAY - days + 1) * DAY;
    let mut stmt = conn.prepare(
        "SELECT a.name, o.sent_at / ?2 * ?2 AS day, count(*)
         FROM outbox o JOIN accounts a ON a.id = o.account_id
         WHERE o.status = 'sent' AND o.sent_at >= ?1
         GROUP BY a.name, day ORDER BY a.name, day",
    )?;
    let rows = stmt
        .query_map([since, DAY], |r| {
            Ok(DaySends {
                account: r.get(0)?,
                day: r.get(1)?,
                sent: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
