//! The outbox worker: delivers queued messages through each account's channel, one at a
//! time, under the account's send-safety rules, never to a do-not-contact lead, never
//! outside the channel's messaging window, and never twice: a send whose outcome is unknown
//! is reconciled with the channel before anything else is decided about it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use super::{Engine, RunStats};
use crate::channels::account::Account;
use crate::channels::safety::{Decision, SendingRules};
use crate::channels::{Channel, SendError, window_open};
use crate::clock::{MINUTE, Millis};
use crate::consent::Permission;
use crate::leads::Lead;
use crate::store::messages::Direction;
use crate::store::outbox::OutboxRow;
use crate::store::{self};

/// Waits after a channel failure; never a tight loop.
const TRANSIENT_WAIT: Millis = MINUTE;
const RATE_LIMIT_WAIT: Millis = 15 * MINUTE;

/// An account as one delivery pass sees it.
struct Sender {
    account: Account,
    rules: SendingRules,
    channel: Channel,
    /// Nothing more goes out for this account in this pass (deferred, paused or failing).
    done: bool,
}

impl Engine {
    fn sender(&self, account_id: i64, now: Millis) -> anyhow::Result<Option<Sender>> {
        let Some(account) = self.db().read(|c| store::accounts::get(c, account_id))? else {
            return Ok(None);
        };
        let rules = account.sending_rules(&self.services.config.sending, now)?;
        let timeout = Duration::from_secs(self.services.config.instagram.request_timeout_seconds);
        let channel = match Channel::for_account(self.db(), &account, timeout) {
            Ok(channel) => channel,
            Err(e) => {
                // A channel that cannot be opened (no key, wrong key) pauses its account
                // with the reason rather than failing every run.
                let reason = format!("cannot open the channel: {e:#}");
                tracing::error!("account {}: {reason}", account.name);
                self.db()
                    .read(|c| store::accounts::set_paused(c, account.id, Some(&reason)))?;
                return Ok(None);
            }
        };
        let done = account.paused;
        Ok(Some(Sender {
            account,
            rules,
            channel,
            done,
        }))
    }

    /// Returns how many messages went out.
    pub(super) async fn deliver_due(&self, stats: &mut RunStats) -> anyhow::Result<usize> {
        let now = self.now();
        let due = self.db().read(|c| store::outbox::due(c, now))?;
        let mut senders: HashMap<i64, Option<Sender>> = HashMap::new();
        let mut sent = 0;
        for row in due {
            let Some(lead) = self.db().read(|c| store::leads::get(c, row.lead_id))? else {
                continue;
            };
            let sender = match senders.entry(row.account_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(self.sender(row.account_id, now)?),
            };
            let Some(sender) = sender else { continue };
            if sender.done {
                continue;
            }
            // First what already happened: an unanswered send may have arrived, whatever
            // has changed since.
            if self.reconciled_as_sent(sender, &row, &lead, now).await? {
                sent += 1;
                continue;
            }
            if sender.done {
                continue;
            }
            if lead.is_do_not_contact() {
                self.set_aside(&row, "lead is do-not-contact", now)?;
                continue;
            }
            if !self.db().read(|c| window_open(c, &lead, now))? {
                self.set_aside(
                    &row,
                    "messaging window closed: over 24 h since the lead's last message",
                    now,
                )?;
                continue;
            }
            let (day_start, day_end) = sender.rules.day_bounds(now);
            let sent_today = self
                .db()
                .read(|c| store::outbox::sent_between(c, sender.account.id, day_start, day_end))?;
            if let Decision::Wait { until, reason } =
                sender
                    .rules
                    .decide(now, sent_today, sender.account.next_send_at)
            {
                self.db()
                    .read(|c| store::outbox::defer_account(c, sender.account.id, until, &reason))?;
                sender.done = true;
                continue;
            }
            let outcome = sender.channel.send(row.id, &lead, &row.text).await;
            if self.handle_outcome(sender, &row, &lead, outcome, now)? {
                sent += 1;
            }
        }
        stats.sent += sent as u32;
        Ok(sent)
    }

    /// A row whose last send had no answer: asks the channel whether it arrived. Returns
    /// true when it did (and records it as sent).
    async fn reconciled_as_sent(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        lead: &Lead,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let Some(attempted_at) = row.attempted_at else {
            return Ok(false);
        };
        match sender
            .channel
            .was_delivered(lead, &row.text, attempted_at)
            .await
        {
            Ok(true) => {
                self.record_sent(sender, row, lead, attempted_at)?;
                Ok(true)
            }
            // Not there: sending it now cannot make two.
            Ok(false) => Ok(false),
            Err(error) => {
                tracing::warn!(
                    "account {}: cannot reconcile outbox #{}: {error}",
                    sender.account.name,
                    row.id
                );
                let account = sender.account.id;
                let reason = format!("outcome unknown, to be reconciled: {error}");
                match error {
                    SendError::Credentials(_) => {
                        self.pause(sender, row, &error.to_string(), now)?
                    }
                    SendError::RateLimited(_) => self.db().read(|c| {
                        store::outbox::defer_account(c, account, now + RATE_LIMIT_WAIT, &reason)
                    })?,
                    _ => self
                        .db()
                        .read(|c| store::outbox::defer(c, row.id, now + TRANSIENT_WAIT, &reason))?,
                }
                sender.done = true;
                Ok(false)
            }
        }
    }

    /// Acts on what the channel said; returns whether the message went out.
    fn handle_outcome(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        lead: &Lead,
        outcome: Result<(), SendError>,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let account = sender.account.id;
        let error = match outcome {
            Ok(()) => {
                self.record_sent(sender, row, lead, now)?;
                return Ok(true);
            }
            Err(error) => error,
        };
        tracing::warn!(
            "account {}: outbox #{}: {error}",
            sender.account.name,
            row.id
        );
        let why = error.to_string();
        let wait = match error {
            SendError::WindowClosed | SendError::Permanent(_) => {
                self.set_aside(row, &why, now)?;
                return Ok(false);
            }
            SendError::Credentials(_) => {
                self.pause(sender, row, &why, now)?;
                return Ok(false);
            }
            SendError::Transient(_) => TRANSIENT_WAIT,
            SendError::RateLimited(_) => RATE_LIMIT_WAIT,
            SendError::Unknown(_) => {
                // It may have arrived: the gap starts now, as after a send.
                let gap = sender.rules.gap_after_send(&mut rand::thread_rng());
                sender.account.next_send_at = Some(now + gap);
                self.db().write(|tx| {
                    store::outbox::mark_attempted(tx, row.id, now)?;
                    store::accounts::set_next_send_at(tx, account, now + gap)?;
                    store::outbox::defer(tx, row.id, now + TRANSIENT_WAIT, &why)
                })?;
                sender.done = true;
                return Ok(false);
            }
        };
        self.db()
            .read(|c| store::outbox::defer_account(c, account, now + wait, &why))?;
        sender.done = true;
        Ok(false)
    }

    /// The account's credentials are refused: it sends nothing until the user resumes it.
    fn pause(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        why: &str,
        now: Millis,
    ) -> anyhow::Result<()> {
        self.db().write(|tx| {
            store::accounts::set_paused(tx, sender.account.id, Some(why))?;
            store::outbox::defer(tx, row.id, now, &format!("waiting: account paused: {why}"))
        })?;
        sender.done = true;
        Ok(())
    }

    fn record_sent(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        lead: &Lead,
        at: Millis,
    ) -> anyhow::Result<()> {
        let gap = sender.rules.gap_after_send(&mut rand::thread_rng());
        // The next row of this pass must see the gap too.
        sender.account.next_send_at = Some(at + gap);
        let via = format!("via {}", sender.channel.name());
        self.db().write(|tx| {
            store::outbox::mark_sent(tx, row.id, at)?;
            store::accounts::set_next_send_at(tx, sender.account.id, at + gap)?;
            store::messages::insert(tx, lead.id, Direction::Outbound, &row.text, at, &row.plugin)?;
            store::leads::mark_contacted(tx, lead.id, at)?;
            audit_delivery(tx, row, true, Some(&via), at)
        })
    }

    /// Blocks a message for good, with the reason.
    fn set_aside(&self, row: &OutboxRow, reason: &str, now: Millis) -> anyhow::Result<()> {
        self.db().write(|tx| {
            store::outbox::block(tx, row.id, reason)?;
            audit_delivery(tx, row, false, Some(reason), now)
        })
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
