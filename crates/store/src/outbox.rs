//! The outbox: every message the host decided to send, keyed for idempotency, waiting for the
//! channel worker to deliver it under the account's safety rules.

use crate::sql::{Conn, OptionalExtension as _, params};
use serde::Serialize;

use crate::clock::Millis;
use crate::domain::quick_reply::{self, QuickReply};

#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: i64,
    pub lead_id: i64,
    pub plugin: String,
    pub text: String,
    pub status: String,
    pub not_before: Millis,
    pub sent_at: Option<Millis>,
    pub detail: Option<String>,
    /// When the first send that has no known outcome began: set, committed, before every
    /// request that leaves the machine (see [`begin_attempt`]), cleared when the channel
    /// answers that nothing went out. A queued row with it set is reconciled with the
    /// channel before it is ever sent again, and counts toward the daily cap meanwhile.
    pub attempted_at: Option<Millis>,
    /// The channel's id for the message this row delivered, when the channel gives one
    /// (Instagram's `message_id`). Reconciling another row never matches it.
    pub message_id: Option<String>,
    /// How many sends of this row began (see [`begin_attempt`]).
    pub send_attempts: i64,
    /// Buttons under the message, as the plugin returned them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quick_replies: Vec<QuickReply>,
    /// For an answer to a comment (a private reply, or a public one), the comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answering: Option<Answering>,
}

/// The comment a message answers. Privately, Instagram lets an account send the commenter
/// one direct message per comment, within 7 days of it, and to a live comment only while
/// the broadcast lasts; publicly, the answer is posted under the comment, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answering {
    pub comment_id: String,
    /// When the comment was made.
    pub comment_at: Millis,
    /// For a comment on a live video, the broadcast's media id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_media_id: Option<String>,
    /// Posted under the comment for everyone to see, rather than sent to the commenter.
    pub public: bool,
}

/// What a queued message says: its text and the quick replies under it, and for a private
/// reply the comment it answers.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub text: &'a str,
    pub quick_replies: &'a [QuickReply],
    pub answering: Option<&'a Answering>,
}

impl<'a> Message<'a> {
    /// Text alone, no buttons.
    pub fn text(text: &'a str) -> Self {
        Self {
            text,
            quick_replies: &[],
            answering: None,
        }
    }
}

impl OutboxRow {
    /// A person's message rather than a plugin's: written by an actor (`console:NAME`,
    /// `operator:cli`), a name with a colon, which a plugin's name cannot hold.
    pub fn by_a_person(&self) -> bool {
        self.plugin.contains(':')
    }

    /// What the row says, to send.
    pub fn message(&self) -> Message<'_> {
        Message {
            text: &self.text,
            quick_replies: &self.quick_replies,
            answering: self.answering.as_ref(),
        }
    }
}

/// Queues a message unless one with the same key exists (or, for a private reply, one
/// answering the same comment); returns whether it was queued. `sender` is the plugin, or
/// the person, who wrote it; `event_id` the event it answers.
pub fn enqueue(
    conn: &Conn<'_>,
    key: &str,
    lead_id: i64,
    sender: &str,
    event_id: Option<i64>,
    message: Message<'_>,
    now: Millis,
) -> anyhow::Result<bool> {
    let quick_replies = quick_reply::to_column(message.quick_replies);
    let answering = message.answering;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO outbox
               (idempotency_key, account_id, lead_id, plugin, event_id, text, created_at, not_before,
                quick_replies, comment_id, comment_at, live_media_id, public_reply)
             SELECT ?1, account_id, id, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11 FROM leads
             WHERE id = ?2
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            key,
            lead_id,
            sender,
            event_id,
            message.text,
            now,
            quick_replies,
            answering.map(|a| &a.comment_id),
            answering.map(|a| a.comment_at),
            answering.and_then(|a| a.live_media_id.as_ref()),
            i64::from(answering.is_some_and(|a| a.public)),
        ])?;
    Ok(inserted == 1)
}

/// The idempotency key of the answer (`public` or private) queued for comment `comment_id`
/// of the lead's account, if one is: there is at most one of each.
pub fn comment_reply_key(
    conn: &Conn<'_>,
    lead_id: i64,
    comment_id: &str,
    public: bool,
) -> anyhow::Result<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT o.idempotency_key FROM outbox o JOIN leads l ON l.account_id = o.account_id
             WHERE l.id = ?1 AND o.comment_id = ?2 AND o.public_reply = ?3",
        )?
        .query_row(params![lead_id, comment_id, i64::from(public)], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The account's private replies that went out (or may have: an attempt not reconciled
/// yet) since `since`, and when the earliest of them did.
pub fn private_replies_since(
    conn: &Conn<'_>,
    account: i64,
    since: Millis,
) -> anyhow::Result<(u32, Option<Millis>)> {
    // Each half reads the index of the account's sends (or attempts) by time.
    Ok(conn
        .prepare_cached(
            "SELECT count(*), min(at) FROM (
               SELECT sent_at AS at FROM outbox WHERE account_id = ?1 AND status = 'sent'
                 AND sent_at >= ?2 AND comment_id IS NOT NULL AND public_reply = 0
               UNION ALL
               SELECT attempted_at FROM outbox WHERE account_id = ?1 AND status = 'queued'
                 AND attempted_at >= ?2 AND comment_id IS NOT NULL AND public_reply = 0)
               AS replies",
        )?
        .query_row(params![account, since], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

fn row(r: &crate::sql::Row<'_>) -> crate::sql::Result<OutboxRow> {
    let quick_replies: Option<String> = r.get(12)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        lead_id: r.get(1)?,
        plugin: r.get(2)?,
        text: r.get(3)?,
        status: r.get(4)?,
        not_before: r.get(5)?,
        sent_at: r.get(6)?,
        detail: r.get(7)?,
        account_id: r.get(8)?,
        attempted_at: r.get(9)?,
        message_id: r.get(10)?,
        send_attempts: r.get(11)?,
        quick_replies: quick_reply::from_column(quick_replies.as_deref()),
        answering: match (r.get::<_, Option<String>>(13)?, r.get(14)?) {
            (Some(comment_id), Some(comment_at)) => Some(Answering {
                comment_id,
                comment_at,
                live_media_id: r.get(15)?,
                public: r.get::<_, i64>(16)? != 0,
            }),
            _ => None,
        },
    })
}

const COLUMNS: &str = "id, lead_id, plugin, text, status, not_before, sent_at, detail, account_id, \
     attempted_at, message_id, send_attempts, quick_replies, comment_id, comment_at, live_media_id, \
     public_reply";

/// Up to `limit` queued messages that may go out now, those due first, leaving out the
/// accounts that are paused: their messages wait for a resume and must not hold a batch
/// place that another account's message could use.
pub fn due(conn: &Conn<'_>, now: Millis, limit: u32) -> anyhow::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        // In the order of the `outbox_queued` index, so no sort reads the whole backlog.
        "SELECT {COLUMNS} FROM outbox WHERE status = 'queued' AND not_before <= ?1
           AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = outbox.account_id AND a.paused <> 0)
         ORDER BY not_before, id LIMIT ?2"
    ))?;
    Ok(stmt
        .query_map(params![now, limit], row)?
        .collect::<Result<_, _>>()?)
}

pub fn for_lead(conn: &Conn<'_>, lead_id: i64) -> anyhow::Result<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE lead_id = ?1 ORDER BY id"
    ))?;
    Ok(stmt.query_map([lead_id], row)?.collect::<Result<_, _>>()?)
}

/// Records a delivery, with the channel's id for the message when it gave one; false when
/// it was recorded already (the channel's echo of the message came first). A row blocked
/// while its send was in flight (automation withdrawn meanwhile) is recorded too: it went
/// out.
pub fn mark_sent(
    conn: &Conn<'_>,
    id: i64,
    at: Millis,
    message_id: Option<&str>,
) -> anyhow::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'sent', sent_at = ?2, message_id = coalesce(?3, message_id)
             WHERE id = ?1 AND status <> 'sent'",
        )?
        .execute(params![id, at, message_id])?;
    Ok(changed == 1)
}

/// The send of ours that the channel's echo of a message (its id, its text) is about: the
/// one recorded with that id, else one to the same lead with the same text that was
/// attempted and not confirmed yet: still queued, or withdrawn while in flight (the echo
/// can come before the Send API's answer, or instead of an answer that was lost). Never a
/// row the channel refused: a person pasting that text in the app is a person.
pub fn echoed(
    conn: &Conn<'_>,
    lead_id: i64,
    message_id: &str,
    text: &str,
) -> anyhow::Result<Option<OutboxRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox
             WHERE lead_id = ?1 AND public_reply = 0
               AND (message_id = ?2
                    OR (attempted_at IS NOT NULL AND message_id IS NULL AND text = ?3
                        AND (status = 'queued'
                             OR (status = 'blocked' AND detail LIKE 'withdrawn: %'))))
             ORDER BY CASE WHEN message_id = ?2 THEN 0 ELSE 1 END, id DESC
             LIMIT 1"
        ))?
        .query_row(params![lead_id, message_id, text], row)
        .optional()?)
}

pub fn block(conn: &Conn<'_>, id: i64, reason: &str) -> anyhow::Result<()> {
    // Never a row recorded as sent meanwhile (by its echo, while its send was in flight).
    conn.prepare_cached(
        "UPDATE outbox SET status = 'blocked', detail = ?2 WHERE id = ?1 AND status <> 'sent'",
    )?
    .run(params![id, reason])?;
    Ok(())
}

/// Holds back an account's queued messages until `until` (it may not send before then).
pub fn defer_account(
    conn: &Conn<'_>,
    account: i64,
    until: Millis,
    reason: &str,
) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET not_before = ?2, detail = ?3
         WHERE account_id = ?1 AND status = 'queued' AND not_before < ?2",
    )?
    .run(params![account, until, reason])?;
    Ok(())
}

/// Holds back one message until `until`.
pub fn defer(conn: &Conn<'_>, id: i64, until: Millis, reason: &str) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET not_before = ?2, detail = ?3 WHERE id = ?1 AND status <> 'sent'",
    )?
    .run(params![id, until, reason])?;
    Ok(())
}

/// Records, before the request, that a send of `row` is about to leave the machine.
/// Committed before anything is sent, it survives a crash in the middle of the request: the
/// row is then reconciled with the channel before it is sent again. The first attempt's
/// time is kept (an attempt is only repeated after reconciliation found nothing), so the
/// match window covers every attempt of this row.
///
/// It is also the claim on the send: false, and nothing may be sent, when the row is no
/// longer what `row` saw (blocked meanwhile, or another engine on the same file began a
/// send of it first).
pub fn begin_attempt(conn: &Conn<'_>, row: &OutboxRow, at: Millis) -> anyhow::Result<bool> {
    let claimed = conn
        .prepare_cached(
            "UPDATE outbox SET attempted_at = coalesce(attempted_at, ?2),
                               send_attempts = send_attempts + 1
             WHERE id = ?1 AND status = 'queued' AND send_attempts = ?3",
        )?
        .execute(params![row.id, at, row.send_attempts])?;
    Ok(claimed == 1)
}

/// The channel answered that nothing went out: there is nothing to reconcile and nothing
/// to count toward the daily cap.
pub fn clear_attempt(conn: &Conn<'_>, id: i64) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempted_at = NULL WHERE id = ?1 AND status <> 'sent'",
    )?
    .run([id])?;
    Ok(())
}

/// The channel message ids already attributed to a lead's outbox rows other than `except`:
/// reconciling `except` must not take any of them for its own.
pub fn attributed_ids(
    conn: &Conn<'_>,
    lead_id: i64,
    except: i64,
) -> anyhow::Result<std::collections::HashSet<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_id FROM outbox WHERE lead_id = ?1 AND id != ?2 AND message_id IS NOT NULL",
    )?;
    Ok(stmt
        .query_map(params![lead_id, except], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

/// When the lead was last sent `text` by another row whose channel id is unknown (sent
/// before ids were kept, or by a channel that gives none), at or before `at`: a message
/// created then may be that row's, so reconciliation does not reach back that far.
pub fn last_unidentified_send(
    conn: &Conn<'_>,
    lead_id: i64,
    except: i64,
    text: &str,
    at: Millis,
) -> anyhow::Result<Option<Millis>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(sent_at) FROM outbox WHERE lead_id = ?1 AND id != ?2 AND text = ?3
               AND status = 'sent' AND message_id IS NULL AND sent_at <= ?4 AND public_reply = 0",
        )?
        .query_row(params![lead_id, except, text, at], |r| r.get(0))?)
}

/// Records that a send went out with no answer: its outcome must be reconciled before the
/// message is ever sent again.
pub fn mark_attempted(conn: &Conn<'_>, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE outbox SET attempted_at = coalesce(attempted_at, ?2), detail = 'outcome unknown, to be reconciled' WHERE id = ?1 AND status <> 'sent'")?
        .run(params![id, at])?;
    Ok(())
}

/// The account's sends between `from` and `to` that count toward its daily cap, counted up
/// to `at_most` (the cap): the count reads that many index entries at most, however many
/// messages the account sends a day.
pub fn sent_between(
    conn: &Conn<'_>,
    account: i64,
    from: Millis,
    to: Millis,
    at_most: u32,
) -> anyhow::Result<u32> {
    Ok(conn
        .prepare_cached(
            // An attempt with an unknown outcome (in flight, or cut off by a crash) may
            // have arrived: it counts until reconciled. Each half reads its own index.
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE account_id = ?1
                       AND status = 'sent' AND sent_at >= ?2 AND sent_at < ?3 LIMIT ?4) AS sent)
                  + (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE account_id = ?1
                       AND status = 'queued' AND attempted_at >= ?2 AND attempted_at < ?3
                       LIMIT ?4) AS attempted)",
        )?
        .query_row(params![account, from, to, at_most], |r| r.get::<_, u32>(0))?
        .min(at_most))
}

pub fn queued_count(conn: &Conn<'_>) -> anyhow::Result<u32> {
    Ok(conn.query_row(
        "SELECT count(*) FROM outbox WHERE status = 'queued'",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::LeadRecord;
    use crate::{self as store, Db};

    const T: Millis = 1_790_000_000_000;

    #[test]
    fn a_send_is_claimed_once_counted_while_unknown_and_its_id_kept_from_other_rows() {
        let db = Db::open_in_memory().unwrap();
        let lead = db
            .write(|tx| {
                let record = LeadRecord {
                    line: 2,
                    handle: "anna".into(),
                    name: None,
                    email: None,
                    phone: None,
                    tags: Vec::new(),
                    notes: None,
                    custom: Default::default(),
                };
                let lead = store::leads::upsert(tx, &record, 1, T)?.id();
                enqueue(tx, "k1", lead, "p", Some(1), Message::text("hi"), T)?;
                enqueue(tx, "k2", lead, "p", Some(2), Message::text("hi"), T)?;
                Ok(lead)
            })
            .unwrap();
        let rows = db.read(|c| due(c, T, 10)).unwrap();
        let (first, second) = (&rows[0], &rows[1]);
        let today = |db: &Db| db.read(|c| sent_between(c, 1, T, T + 1_000, 10)).unwrap();
        assert_eq!(today(&db), 0);

        // Claimed once: a second engine holding the same snapshot may not send it.
        assert!(db.write(|tx| begin_attempt(tx, first, T)).unwrap());
        assert!(!db.write(|tx| begin_attempt(tx, first, T + 1)).unwrap());
        // In flight (or cut off by a crash): it counts toward the cap.
        assert_eq!(today(&db), 1);
        let fresh = db.read(|c| due(c, T, 10)).unwrap();
        assert_eq!(
            (fresh[0].attempted_at, fresh[0].send_attempts),
            (Some(T), 1)
        );

        db.write(|tx| mark_sent(tx, first.id, T, Some("mid.1")))
            .unwrap();
        assert_eq!(today(&db), 1, "counted once, now as sent");
        let taken = db.read(|c| attributed_ids(c, lead, second.id)).unwrap();
        assert_eq!(taken.into_iter().collect::<Vec<_>>(), vec!["mid.1"]);
        assert!(
            db.read(|c| attributed_ids(c, lead, first.id))
                .unwrap()
                .is_empty()
        );

        // Refused outright: nothing to reconcile, nothing to count.
        assert!(db.write(|tx| begin_attempt(tx, second, T)).unwrap());
        assert_eq!(today(&db), 2);
        let capped = db.read(|c| sent_between(c, 1, T, T + 1_000, 1)).unwrap();
        assert_eq!(capped, 1, "counted no further than the cap");
        db.write(|tx| clear_attempt(tx, second.id)).unwrap();
        assert_eq!(today(&db), 1);
    }
}
