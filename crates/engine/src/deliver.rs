//! The outbox worker: delivers queued messages through each account's channel, one at a
//! time, under the account's send-safety rules, never to a do-not-contact lead, never
//! outside the channel's messaging window, and never twice: every send that leaves the
//! machine is recorded (committed) before its request, so after a crash or a lost answer its
//! outcome is unknown, and it is reconciled with the channel before anything else is decided
//! about it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use super::Engine;
use crate::channels::safety::{Decision, SendingRules};
use crate::channels::{Attempt, Channel, Delivery, SendError, Window, window};
use crate::clock::{MINUTE, Millis};
use crate::consent::Permission;
use crate::domain::account::Account;
use crate::domain::lead::Lead;
use crate::store::messages::Direction;
use crate::store::outbox::OutboxRow;
use crate::store::{self};

/// Waits after a channel failure; never a tight loop.
pub(super) const TRANSIENT_WAIT: Millis = MINUTE;
const RATE_LIMIT_WAIT: Millis = 15 * MINUTE;

/// What reconciling a row's earlier send decided.
enum Reconciled {
    /// Nothing of it arrived (or there was no earlier send): the row may be sent.
    Proceed,
    /// It arrived, and the row is now recorded as sent.
    Sent,
    /// Not decided yet: the row (or the whole account) waits.
    Later,
}

/// An account as one delivery pass sees it.
pub(super) struct Sender {
    pub(super) account: Account,
    rules: SendingRules,
    pub(super) channel: Channel,
    /// Nothing more goes out for this account in this pass (deferred, paused or failing).
    done: bool,
    /// The sends that count toward the daily cap on the day starting at `.0`, read from the
    /// database once per account and day in a pass and counted here after each send: a
    /// count per message would read every send of the day again.
    today: Option<(Millis, u32)>,
}

impl Sender {
    /// The sends counting toward today's cap (at most the cap: beyond it the number does
    /// not matter).
    fn sent_today(&mut self, db: &store::Db, day: (Millis, Millis)) -> anyhow::Result<u32> {
        match self.today {
            Some((start, count)) if start == day.0 => Ok(count),
            _ => {
                let (account, cap) = (self.account.id, self.rules.daily_cap);
                let count =
                    db.read(|c| store::outbox::sent_between(c, account, day.0, day.1, cap))?;
                self.today = Some((day.0, count));
                Ok(count)
            }
        }
    }

    /// One more send (or a send that may have arrived) counts toward today's cap.
    fn count_send(&mut self) {
        if let Some((_, count)) = &mut self.today {
            *count += 1;
        }
    }
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
                    .write(|c| store::accounts::set_paused(c, account.id, Some(&reason)))?;
                return Ok(None);
            }
        };
        let done = account.paused;
        Ok(Some(Sender {
            account,
            rules,
            channel,
            done,
            today: None,
        }))
    }

    /// Returns how many messages went out.
    pub(super) async fn deliver_due(&self) -> anyhow::Result<usize> {
        let now = self.now();
        let due = self
            .db()
            .read(|c| store::outbox::due(c, now, super::DELIVERY_BATCH))?;
        let mut senders: HashMap<i64, Option<Sender>> = HashMap::new();
        let mut sent = 0;
        for row in due {
            // Sends take time: each row is judged, and its attempt stamped, when it comes up.
            let now = self.now();
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
            match self.reconcile(sender, &row, &lead, now).await? {
                Reconciled::Proceed => {}
                Reconciled::Sent => {
                    sent += 1;
                    continue;
                }
                Reconciled::Later => continue,
            }
            if lead.is_do_not_contact() {
                self.set_aside(&row, "lead is do-not-contact", now)?;
                continue;
            }
            let window = self.db().read(|c| window(c, &lead, now))?;
            if let Some(answering) = &row.answering {
                // A public answer is posted under the comment: no conversation's window.
                if !answering.public
                    && !self
                        .private_reply_may_go(sender, &row, answering, now)
                        .await?
                {
                    continue;
                }
            } else if !window.allows(row.by_a_person()) {
                let why = match window {
                    Window::PersonOnly => {
                        "messaging window closed to automated messages: over 24 h since the lead's last message (a person may still answer)"
                    }
                    _ => "messaging window closed: over 24 h since the lead's last message",
                };
                self.set_aside(&row, why, now)?;
                continue;
            }
            let sent_today = sender.sent_today(self.db(), sender.rules.day_bounds(now))?;
            if let Decision::Wait { until, reason } =
                sender
                    .rules
                    .decide(now, sent_today, sender.account.next_send_at)
            {
                self.db().write(|c| {
                    store::outbox::defer_account(c, sender.account.id, until, &reason)
                })?;
                sender.done = true;
                continue;
            }
            if !self.broadcast_still_on(sender, &row, now).await? {
                continue;
            }
            // On disk before the request, power cut included: if the engine or the machine
            // dies while it is in flight, the next run knows the outcome is unknown and
            // reconciles before any resend (and the daily cap counts it meanwhile). A
            // sandbox delivery is only that record.
            if sender.channel.sends_remotely()
                && !self
                    .db()
                    .write_durable(|tx| store::outbox::begin_attempt(tx, &row, now))?
            {
                // Changed since this pass read it (blocked, or another engine has it).
                continue;
            }
            let human_agent = window == Window::PersonOnly && row.answering.is_none();
            let outcome = sender
                .channel
                .send(row.id, &lead, row.message(), human_agent)
                .await;
            if self.handle_outcome(sender, &row, &lead, outcome, now)? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// A row whose last send had no answer: once it can no longer be in flight, asks the
    /// channel whether it arrived (and records it as sent when it did).
    async fn reconcile(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        lead: &Lead,
        now: Millis,
    ) -> anyhow::Result<Reconciled> {
        let Some(attempted_at) = row.attempted_at else {
            return Ok(Reconciled::Proceed);
        };
        let settled_at = attempted_at + sender.channel.settle_time();
        if now < settled_at {
            // A request the last run left in flight may still arrive: asking now could
            // miss it and send it twice.
            self.db().write(|tx| {
                store::outbox::defer(
                    tx,
                    row.id,
                    settled_at,
                    "outcome unknown, to be reconciled once the last send has settled",
                )
            })?;
            return Ok(Reconciled::Later);
        }
        let attempt = self.db().read(|c| {
            Ok(Attempt {
                started_at: attempted_at,
                taken: store::outbox::attributed_ids(c, lead.id, row.id)?,
                unidentified_before: store::outbox::last_unidentified_send(
                    c,
                    lead.id,
                    row.id,
                    &row.text,
                    attempted_at,
                )?,
            })
        })?;
        match sender
            .channel
            .was_delivered(lead, row.message(), &attempt)
            .await
        {
            Ok(Some(delivery)) => {
                self.record_sent(sender, row, lead, attempted_at, &delivery)?;
                Ok(Reconciled::Sent)
            }
            // Not there: sending it now cannot make two.
            Ok(None) => Ok(Reconciled::Proceed),
            // Its comment cannot be read any more (deleted, say): whether the answer went up
            // cannot be told, so it is never posted again, and the rest go on.
            Err(SendError::Permanent(why)) if row.answering.as_ref().is_some_and(|a| a.public) => {
                let why = format!("outcome unknown and cannot be checked any more: {why}");
                self.set_aside(row, &why, now)?;
                Ok(Reconciled::Later)
            }
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
                    SendError::RateLimited(_) => self.db().write(|c| {
                        store::outbox::defer_account(c, account, now + RATE_LIMIT_WAIT, &reason)
                    })?,
                    _ => self.db().write(|c| {
                        store::outbox::defer(c, row.id, now + TRANSIENT_WAIT, &reason)
                    })?,
                }
                sender.done = true;
                Ok(Reconciled::Later)
            }
        }
    }

    /// Acts on what the channel said; returns whether the message went out.
    fn handle_outcome(
        &self,
        sender: &mut Sender,
        row: &OutboxRow,
        lead: &Lead,
        outcome: Result<Delivery, SendError>,
        now: Millis,
    ) -> anyhow::Result<bool> {
        let account = sender.account.id;
        let error = match outcome {
            Ok(delivery) => {
                self.record_sent(sender, row, lead, now, &delivery)?;
                sender.count_send();
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
                // The channel's own words stay with the outbox row (erased with the lead);
                // the audit, which outlives a forget, keeps only what kind of refusal it was.
                self.db().write(|tx| {
                    store::outbox::block(tx, row.id, &why)?;
                    let kind = match error {
                        SendError::WindowClosed => "messaging window closed",
                        _ => "refused by the channel (its reason is on the outbox row)",
                    };
                    audit_delivery(tx, row, false, Some(kind), now)
                })?;
                return Ok(false);
            }
            SendError::Credentials(_) => {
                // Refused: nothing went out, so there is nothing to reconcile.
                self.db()
                    .write(|tx| store::outbox::clear_attempt(tx, row.id))?;
                self.pause(sender, row, &why, now)?;
                return Ok(false);
            }
            SendError::Transient(_) => TRANSIENT_WAIT,
            SendError::RateLimited(_) => RATE_LIMIT_WAIT,
            SendError::Unknown(_) => {
                // It may have arrived: the gap starts now, as after a send.
                let gap = sender.rules.gap_after_send(&mut rand::thread_rng());
                sender.account.next_send_at = Some(now + gap);
                sender.count_send();
                self.db().write(|tx| {
                    store::outbox::mark_attempted(tx, row.id, now)?;
                    store::accounts::set_next_send_at(tx, account, now + gap)?;
                    store::outbox::defer(tx, row.id, now + TRANSIENT_WAIT, &why)
                })?;
                sender.done = true;
                return Ok(false);
            }
        };
        // Refused or never connected: nothing went out, so there is nothing to reconcile and
        // nothing to count toward the daily cap.
        self.db().write(|tx| {
            store::outbox::clear_attempt(tx, row.id)?;
            store::outbox::defer_account(tx, account, now + wait, &why)
        })?;
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
        delivery: &Delivery,
    ) -> anyhow::Result<()> {
        let gap = sender.rules.gap_after_send(&mut rand::thread_rng());
        // The next row of this pass must see the gap too.
        sender.account.next_send_at = Some(at + gap);
        let via = format!("via {}", sender.channel.name());
        // Lost with a crash of the server, the row is still attempted (that record was
        // flushed before the send) and is reconciled with the channel, never sent again.
        self.db().write_flushed_later(|tx| {
            store::accounts::set_next_send_at(tx, sender.account.id, at + gap)?;
            let message_id = delivery.message_id.as_deref();
            if !store::outbox::mark_sent(tx, row.id, at, message_id)? {
                // The channel's echo of it came first and recorded it (ingest::instagram_echo).
                return Ok(());
            }
            record_delivery(tx, row, lead.id, at, message_id, &via)
        })
    }

    /// Blocks a message for good, with the reason.
    pub(super) fn set_aside(
        &self,
        row: &OutboxRow,
        reason: &str,
        now: Millis,
    ) -> anyhow::Result<()> {
        self.db().write(|tx| {
            store::outbox::block(tx, row.id, reason)?;
            audit_delivery(tx, row, false, Some(reason), now)
        })
    }
}

/// What a delivery leaves besides the outbox row: the message in the conversation (with the
/// channel's id, so its echo is known as ours), the lead contacted, the audit entry.
pub(crate) fn record_delivery(
    tx: &crate::store::Conn<'_>,
    row: &OutboxRow,
    lead_id: i64,
    at: Millis,
    message_id: Option<&str>,
    how: &str,
) -> anyhow::Result<()> {
    // A public answer is kept in the conversation as such; the lead was not messaged.
    let public = row.answering.as_ref().is_some_and(|a| a.public);
    let source = match public {
        true => store::messages::INSTAGRAM_PUBLIC_REPLY,
        false => &row.plugin,
    };
    store::messages::insert_once(
        tx,
        lead_id,
        Direction::Outbound,
        &row.text,
        at,
        source,
        message_id,
    )?;
    if !public {
        store::leads::mark_contacted(tx, lead_id, at)?;
    }
    audit_delivery(tx, row, true, Some(how), at)
}

fn audit_delivery(
    tx: &crate::store::Conn<'_>,
    row: &OutboxRow,
    allowed: bool,
    detail: Option<&str>,
    now: i64,
) -> anyhow::Result<()> {
    let entry = store::audit::Entry {
        plugin: &row.plugin,
        action: "outbox.deliver",
        permission: Some(match row.answering.as_ref().is_some_and(|a| a.public) {
            true => Permission::CommentsReply,
            false => Permission::MessagesSend,
        }),
        lead_id: Some(row.lead_id),
        allowed,
        detail,
    };
    store::audit::record(tx, &entry, now)
}
