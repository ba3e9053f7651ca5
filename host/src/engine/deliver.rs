//! The outbox worker: delivers queued messages through the channel, one at a time, under the
//! send-safety rules, and never to a do-not-contact lead.

use super::{Engine, RunStats};
use crate::channels::SendError;
use crate::channels::safety::Decision;
use crate::clock::MINUTE;
use crate::consent::Permission;
use crate::store::messages::Direction;
use crate::store::outbox::OutboxRow;
use crate::store::{self};

impl Engine {
    /// Returns how many messages went out.
    pub(super) async fn deliver_due(&self, stats: &mut RunStats) -> anyhow::Result<usize> {
        let now = self.now();
        let due = self.db().read(|c| store::outbox::due(c, now))?;
        let mut sent = 0;
        for row in due {
            let Some(lead) = self.db().read(|c| store::leads::get(c, row.lead_id))? else {
                continue;
            };
            if lead.is_do_not_contact() {
                self.db().write(|tx| {
                    store::outbox::block(tx, row.id, "lead is do-not-contact")?;
                    audit_delivery(tx, &row, false, Some("lead is do-not-contact"), now)
                })?;
                continue;
            }
            let (day_start, day_end) = self.rules.day_bounds(now);
            let (sent_today, next_allowed) = self.db().read(|c| {
                Ok((
                    store::outbox::sent_between(c, day_start, day_end)?,
                    store::outbox::next_send_at(c)?,
                ))
            })?;
            if let Decision::Wait { until, reason } =
                self.rules.decide(now, sent_today, next_allowed)
            {
                self.db()
                    .read(|c| store::outbox::defer_all(c, until, &reason))?;
                break;
            }
            match self.channel.send(&lead, &row.text).await {
                Ok(()) => {
                    let gap = self.rules.gap_after_send(&mut rand::thread_rng());
                    self.db().write(|tx| {
                        store::outbox::mark_sent(tx, row.id, now)?;
                        store::outbox::set_next_send_at(tx, now + gap)?;
                        store::messages::insert(
                            tx,
                            lead.id,
                            Direction::Outbound,
                            &row.text,
                            now,
                            &row.plugin,
                        )?;
                        store::leads::mark_contacted(tx, lead.id, now)?;
                        audit_delivery(
                            tx,
                            &row,
                            true,
                            Some(&format!("via {}", self.channel.name())),
                            now,
                        )
                    })?;
                    sent += 1;
                }
                Err(SendError::Transient(why)) => {
                    self.db()
                        .read(|c| store::outbox::defer_all(c, now + 5 * MINUTE, &why))?;
                    break;
                }
                Err(SendError::Permanent(why)) => {
                    self.db().write(|tx| {
                        store::outbox::block(tx, row.id, &why)?;
                        audit_delivery(tx, &row, false, Some(&why), now)
                    })?;
                }
            }
        }
        stats.sent += sent as u32;
        Ok(sent)
    }
}

fn audit_delivery(
    tx: &rusqlite::Connection,
    row: &OutboxRow,
    allowed: bool,
    detail: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    let entry = store::audit::Entry {
        plugin: &row.plugin,
        action: "outbox.deliver",
        permission: Some(Permission::MessagesSend),
        lead_id: Some(row.lead_id),
        allowed,
        detail,
    };
    store::audit::record(tx, &entry, now)
}
