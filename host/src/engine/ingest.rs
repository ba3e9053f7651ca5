//! Getting things into the engine: every change is stored as an event in the same
//! transaction as the data it is about, so nothing is lost between "received" and
//! "processed".

use rusqlite::Connection;

use crate::clock::Millis;
use crate::config::ConsentConfig;
use crate::leads::{Lead, LeadStatus};
use crate::store::events::{EventKind, NewEvent, Payload};
use crate::store::messages::Direction;
use crate::store::{self, Db};

/// Queues the filter hooks for a lead that was imported or updated.
pub fn lead_imported(conn: &Connection, lead_id: i64, now: Millis) -> anyhow::Result<()> {
    let event = NewEvent {
        kind: EventKind::LeadImported,
        lead_id,
        plugin: None,
        payload: Payload::default(),
        dedupe_key: None,
    };
    store::events::insert(conn, &event, now)?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Received {
    pub lead: Lead,
    pub opted_out: bool,
    /// `None` when the same message (by `dedupe_key`) was received before.
    pub event_id: Option<i64>,
}

/// Who wrote: channels know leads by handle (sandbox, bridge) or by their own user id
/// (Instagram's IGSID).
#[derive(Debug, Clone, Copy)]
pub enum Sender<'a> {
    Handle(&'a str),
    ChannelUser(&'a str),
}

/// A message a lead sent us.
#[derive(Debug, Clone)]
pub struct InboundMessage<'a> {
    /// The account it was sent to.
    pub account: i64,
    pub from: Sender<'a>,
    pub text: &'a str,
    /// When the lead sent it.
    pub at: Millis,
    /// The channel it came through.
    pub source: &'a str,
    /// Channels that redeliver (webhooks) give the message's own id here.
    pub dedupe_key: Option<String>,
}

/// Records an inbound message and queues the reply hooks, due `now`. A message that is an
/// opt-out makes the lead do-not-contact at once, before any plugin runs; any other reply
/// stops the lead's follow-up sequences.
pub fn inbound(
    db: &Db,
    consent: &ConsentConfig,
    message: &InboundMessage<'_>,
    now: Millis,
) -> anyhow::Result<Received> {
    let InboundMessage {
        account,
        from,
        text,
        at,
        source,
        ..
    } = *message;
    // A sender's clock can run ahead; a message from the future would hold the channel's
    // messaging window open.
    let at = at.min(now);
    db.write(|tx| {
        let lead = match from {
            Sender::Handle(handle) => store::leads::get_or_create(tx, account, handle, at)?,
            Sender::ChannelUser(id) => {
                store::leads::get_or_create_by_channel_user(tx, account, id, at)?
            }
        };
        let payload = Payload {
            text: Some(text.to_owned()),
            at: Some(at),
            ..Payload::default()
        };
        let event = NewEvent {
            kind: EventKind::Inbound,
            lead_id: lead.id,
            plugin: None,
            payload,
            dedupe_key: message.dedupe_key.clone(),
        };
        let Some(event_id) = store::events::insert(tx, &event, now)? else {
            return Ok(Received {
                lead,
                opted_out: false,
                event_id: None,
            });
        };
        store::messages::insert(tx, lead.id, Direction::Inbound, text, at, source)?;
        let opted_out = consent.is_opt_out(text);
        if opted_out {
            store::leads::mark_do_not_contact(tx, lead.id, "the lead opted out by message", at)?;
        } else {
            store::leads::withdraw_automation(tx, lead.id, "lead replied", true)?;
            if matches!(lead.status, LeadStatus::New | LeadStatus::Contacted) {
                store::leads::set_status(tx, lead.id, LeadStatus::Replied, at)?;
            }
        }
        let lead = store::leads::get(tx, lead.id)?.unwrap_or(lead);
        Ok(Received {
            lead,
            opted_out,
            event_id: Some(event_id),
        })
    })
}
