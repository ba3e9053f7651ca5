//! Getting things into the engine: every change is stored as an event in the same
//! transaction as the data it is about, so nothing is lost between "received" and
//! "processed".

use crate::store::Conn;

use crate::clock::Millis;
use crate::config::ConsentConfig;
use crate::domain::lead::{Lead, LeadStatus};
use crate::store::events::{CommentIds, EventKind, NewEvent, Origin, Payload};
use crate::store::messages::Direction;
use crate::store::{self, Db};

/// Queues the filter hooks for a lead that was imported or updated.
pub fn lead_imported(conn: &Conn<'_>, lead_id: i64, now: Millis) -> anyhow::Result<()> {
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
    /// A story mention or reply, a tapped quick reply or ice breaker, or a comment
    /// (Instagram).
    pub origin: Option<Origin>,
    /// A comment's ids: its own, which a private reply answers, and its thread's.
    pub comment: Option<CommentIds>,
}

/// Records an inbound message and queues the reply hooks, due `now`. A message that is an
/// opt-out makes the lead do-not-contact at once, before any plugin runs; any other reply
/// stops the lead's follow-up sequences. A comment is not a reply: it is kept in the
/// conversation (through its own source, so it opens no messaging window) and changes
/// neither the lead's status nor their sequences.
pub fn inbound(
    db: &Db,
    consent: &ConsentConfig,
    message: &InboundMessage<'_>,
    now: Millis,
) -> anyhow::Result<Received> {
    db.write(|tx| record_inbound(tx, consent, message, now))
}

/// [`inbound`], inside the caller's write transaction.
fn record_inbound(
    tx: &Conn<'_>,
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
    let lead = match from {
        Sender::Handle(handle) => store::leads::get_or_create(tx, account, handle, at)?,
        Sender::ChannelUser(id) => {
            store::leads::get_or_create_by_channel_user(tx, account, id, at)?
        }
    };
    let payload = Payload {
        text: Some(text.to_owned()),
        at: Some(at),
        origin: message.origin.clone(),
        comment_id: message.comment.as_ref().map(|c| c.id.clone()),
        comment_thread: message.comment.as_ref().and_then(|c| c.thread.clone()),
        ..Payload::default()
    };
    let comment = message.origin.as_ref().is_some_and(|o| o.kind.is_comment());
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
    let source = match comment {
        true => store::messages::INSTAGRAM_COMMENT,
        false => source,
    };
    store::messages::insert(tx, lead.id, Direction::Inbound, text, at, source)?;
    // "stop" under a post is taken at its word too: nobody is messaged against it.
    let opted_out = consent.is_opt_out(text);
    if opted_out {
        store::leads::mark_do_not_contact(tx, lead.id, "the lead opted out by message", at)?;
    } else if !comment {
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
}

/// The dedupe key of an Instagram message: Meta redelivers, and each `mid` counts once.
pub fn instagram_dedupe_key(message_id: &str) -> String {
    format!("instagram:{message_id}")
}

/// An Instagram webhook message for the account `account` (its id here).
fn instagram_message<'a>(
    account: i64,
    sender_id: &'a str,
    message_id: &str,
    text: &'a str,
    sent_at: Millis,
) -> InboundMessage<'a> {
    InboundMessage {
        account,
        from: Sender::ChannelUser(sender_id),
        text,
        at: sent_at,
        source: "instagram",
        dedupe_key: Some(instagram_dedupe_key(message_id)),
        origin: None,
        comment: None,
    }
}

/// What became of a message from Instagram's webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstagramReceived {
    /// Stored, with an inbound event for the engine.
    New,
    /// Stored before (Meta redelivered it).
    Duplicate,
    /// No account here has its Instagram account id: kept until one is added
    /// ([`route_unrouted`]); `new` is false when it was kept before.
    Unrouted { new: bool },
    /// The echo of a send of ours; `confirmed` when it settled a send whose outcome was
    /// not known yet.
    OwnEcho { confirmed: bool },
    /// What a person sent from the Instagram app; `new` is false for a redelivery.
    FromTheApp { new: bool },
    /// The echo of what an account not set up here sent: nothing to record.
    EchoUnrouted,
    /// A comment for an account not set up here: not kept, since kept messages are routed
    /// later as direct messages, and a comment is not one (it stays on Instagram).
    CommentUnrouted,
    /// A comment no enabled plugin is granted `comments:read` for: not stored.
    CommentUnseen,
}

/// Records a message Meta delivered for the Instagram account `m.account_id`: like
/// [`inbound`] when an account here has that id, else kept aside for [`route_unrouted`].
/// Finding the account and storing happen in one transaction, so a message cannot be kept
/// aside just after its account was added and routed.
pub fn instagram_webhook(
    db: &Db,
    consent: &ConsentConfig,
    m: &crate::channels::inbound::InboundMessage,
    now: Millis,
) -> anyhow::Result<InstagramReceived> {
    db.write(|tx| {
        let account = store::accounts::by_instagram_id(tx, &m.account_id)?;
        if m.echo {
            return match account {
                Some(account) => echo(tx, account.id, m, now),
                // What an account not set up here sent concerns nobody here.
                None => Ok(InstagramReceived::EchoUnrouted),
            };
        }
        let Some(account) = account else {
            if m.comment.is_some() {
                return Ok(InstagramReceived::CommentUnrouted);
            }
            let new = store::unrouted::insert(
                tx,
                &m.account_id,
                &m.sender_id,
                &m.message_id,
                &m.text,
                m.sent_at,
                now,
            )?;
            return Ok(InstagramReceived::Unrouted { new });
        };
        if m.comment.is_some()
            && !store::plugins::enabled_holder_of(tx, crate::consent::Permission::CommentsRead)?
        {
            // Nobody asked to see comments: the commenter is not made a lead of (data kept
            // for nothing is data to lose), and nothing is answered.
            return Ok(InstagramReceived::CommentUnseen);
        }
        let mut message =
            instagram_message(account.id, &m.sender_id, &m.message_id, &m.text, m.sent_at);
        message.origin = m.origin.clone();
        if let Some(comment) = &m.comment {
            // Comment ids and message ids are different sequences: each its own key.
            message.dedupe_key = Some(instagram_dedupe_key(&format!("comment:{}", comment.id)));
            message.comment = Some(comment.clone());
        }
        let received = record_inbound(tx, consent, &message, now)?;
        Ok(if received.event_id.is_some() {
            InstagramReceived::New
        } else {
            InstagramReceived::Duplicate
        })
    })
}

/// An echo of what Instagram account `account` sent to a lead. The echo of a send of ours
/// settles it if its outcome was not known yet (the Send API's answer lost, or still on its
/// way). Any other echo is a person answering from the Instagram app: it is stored once
/// (Meta redelivers) as the operator's message, and the lead is handed to a person, so no
/// plugin talks over them until someone resumes automation.
fn echo(
    tx: &Conn<'_>,
    account: i64,
    m: &crate::channels::inbound::InboundMessage,
    now: Millis,
) -> anyhow::Result<InstagramReceived> {
    let at = m.sent_at.min(now);
    // Someone no lead here yet (they wrote before the account was set up): made a lead now,
    // so that when they answer, the person is with them, not a plugin.
    let lead = store::leads::get_or_create_by_channel_user(tx, account, &m.sender_id, at)?;
    if let Some(row) = store::outbox::echoed(tx, lead.id, &m.message_id, &m.text)? {
        let sent_at = row.attempted_at.unwrap_or(at);
        let confirmed = store::outbox::mark_sent(tx, row.id, sent_at, Some(&m.message_id))?;
        if confirmed {
            crate::deliver::record_delivery(
                tx,
                &row,
                lead.id,
                sent_at,
                Some(&m.message_id),
                "via instagram, confirmed by its echo",
            )?;
        }
        return Ok(InstagramReceived::OwnEcho { confirmed });
    }
    let new = store::messages::insert_once(
        tx,
        lead.id,
        Direction::Outbound,
        &m.text,
        at,
        store::messages::INSTAGRAM_APP,
        Some(&m.message_id),
    )?;
    if new {
        let why = "a person answered from the Instagram app";
        store::leads::hand_to_person(tx, lead.id, why, at)?;
        // The team is told once, as the person takes over, not at each line they type.
        if lead.status != LeadStatus::NeedsHuman {
            store::notifications::queue_if_wanted(tx, lead.id, why, now)?;
        }
        store::audit::record_action(
            tx,
            store::messages::INSTAGRAM_APP,
            "conversations.reply",
            Some(lead.id),
            true,
            "a person answered from the Instagram app; automation stopped until resumed",
            now,
        )?;
    }
    Ok(InstagramReceived::FromTheApp { new })
}

/// Webhook messages kept aside for one Instagram account id, now routed to its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub ig_user_id: String,
    /// The account's name.
    pub account: String,
    pub messages: usize,
    /// How many became new inbound events (the others had been received before).
    pub new_events: usize,
}

/// Ingests the webhook messages kept aside for Instagram account ids that an account here
/// has now, exactly as if they had just arrived (same dedupe key as a live delivery, due
/// `now`), and removes them from the kept ones in the same transaction.
pub fn route_unrouted(
    db: &Db,
    consent: &ConsentConfig,
    now: Millis,
) -> anyhow::Result<Vec<Routed>> {
    // Most calls find nothing: look before taking the write lock.
    if db.read(store::unrouted::routable)?.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx| {
        let mut routed = Vec::new();
        for ig_user_id in store::unrouted::routable(tx)? {
            let Some(account) = store::accounts::by_instagram_id(tx, &ig_user_id)? else {
                continue;
            };
            let mut done = Routed {
                ig_user_id,
                account: account.name.clone(),
                messages: 0,
                new_events: 0,
            };
            for m in store::unrouted::for_account(tx, &done.ig_user_id)? {
                let message =
                    instagram_message(account.id, &m.sender_id, &m.message_id, &m.text, m.sent_at);
                let received = record_inbound(tx, consent, &message, now)?;
                store::unrouted::delete(tx, m.id)?;
                done.messages += 1;
                done.new_events += usize::from(received.event_id.is_some());
            }
            routed.push(done);
        }
        Ok(routed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::inbound::InboundMessage as Delivered;
    use crate::domain::account::{ChannelKind, ChannelSettings, RuleOverrides};
    use crate::store::accounts::NewAccount;

    fn delivered(mid: &str) -> Delivered {
        Delivered {
            account_id: "1784".into(),
            sender_id: "5501".into(),
            echo: false,
            origin: None,
            comment: None,
            message_id: mid.into(),
            text: "hello".into(),
            sent_at: 1_000,
        }
    }

    fn add_instagram_account(db: &Db, ig_user_id: &str) -> i64 {
        let new = NewAccount {
            name: "shop",
            channel: ChannelKind::Instagram,
            rules: RuleOverrides::default(),
            ai_model: None,
            settings: ChannelSettings {
                ig_user_id: Some(ig_user_id.into()),
                ..ChannelSettings::default()
            },
            sealed_credentials: None,
        };
        db.write(|tx| store::accounts::add(tx, &new, 0)).unwrap()
    }

    #[test]
    fn an_echo_is_never_kept_for_an_account_not_set_up_and_never_makes_an_event() {
        let db = Db::open_in_memory().unwrap();
        let consent = ConsentConfig::default();
        let typed = Delivered {
            echo: true,
            ..delivered("m_app")
        };
        assert_eq!(
            instagram_webhook(&db, &consent, &typed, 2_000).unwrap(),
            InstagramReceived::EchoUnrouted
        );
        assert!(db.read(store::unrouted::routable).unwrap().is_empty());

        add_instagram_account(&db, "1784");
        // To someone who is no lead yet: they become one, with a person.
        assert_eq!(
            instagram_webhook(&db, &consent, &typed, 3_000).unwrap(),
            InstagramReceived::FromTheApp { new: true }
        );
        assert_eq!(
            instagram_webhook(&db, &consent, &delivered("m_hi"), 3_200).unwrap(),
            InstagramReceived::New
        );
        assert_eq!(
            instagram_webhook(&db, &consent, &typed, 3_500).unwrap(),
            InstagramReceived::FromTheApp { new: false }
        );
        let (status, events) = db
            .read(|c| {
                let lead = store::leads::by_handle(c, "ig_5501")?.unwrap();
                let events: i64 = c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
                Ok((lead.status, events))
            })
            .unwrap();
        // The echo made no event of its own: the one inbound message is the only one.
        assert_eq!((status, events), (LeadStatus::NeedsHuman, 1));
    }

    #[test]
    fn messages_for_an_unknown_account_are_kept_once_and_routed_once_it_is_added() {
        let db = Db::open_in_memory().unwrap();
        let consent = ConsentConfig::default();
        let receive =
            |mid: &str, now| instagram_webhook(&db, &consent, &delivered(mid), now).unwrap();
        assert_eq!(
            receive("m_1", 2_000),
            InstagramReceived::Unrouted { new: true }
        );
        assert_eq!(
            receive("m_1", 2_500),
            InstagramReceived::Unrouted { new: false }
        );
        assert_eq!(
            receive("m_2", 3_000),
            InstagramReceived::Unrouted { new: true }
        );
        assert!(route_unrouted(&db, &consent, 4_000).unwrap().is_empty());

        let account = add_instagram_account(&db, "1784");
        let routed = route_unrouted(&db, &consent, 5_000).unwrap();
        assert_eq!(
            routed,
            vec![Routed {
                ig_user_id: "1784".into(),
                account: "shop".into(),
                messages: 2,
                new_events: 2,
            }]
        );
        assert!(db.read(store::unrouted::waiting).unwrap().is_empty());
        let (events, lead) = db
            .read(|c| {
                let events = store::events::due(c, 5_000, 10)?;
                let lead = store::leads::get(c, events[0].lead_id)?.unwrap();
                Ok((events, lead))
            })
            .unwrap();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.kind == EventKind::Inbound));
        assert_eq!(
            (lead.account_id, lead.channel_user_id.as_deref()),
            (account, Some("5501"))
        );
        // Routed once: a second pass and Meta redelivering find them received.
        assert!(route_unrouted(&db, &consent, 6_000).unwrap().is_empty());
        assert_eq!(receive("m_1", 7_000), InstagramReceived::Duplicate);
        assert_eq!(receive("m_3", 8_000), InstagramReceived::New);
    }
}
