//! Conversations: every message in and out, per lead.

use crate::sql::{Conn, params};
use serde::Serialize;

use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// Its order of arrival (what a reader has seen up to), not part of exports.
    #[serde(skip)]
    pub id: i64,
    pub direction: Direction,
    pub text: String,
    pub at: Millis,
    pub source: String,
}

/// The source of a message a person sent from the Instagram app: the account's echo of a
/// message outreach did not send. An actor's name, with a colon, which no plugin's name can
/// hold: a plugin cannot pass its messages off as a person's.
pub const INSTAGRAM_APP: &str = "instagram:app";

/// The source of a comment on one of the account's posts or live videos: kept in the
/// conversation, but not a message to the account, so it opens no messaging window.
pub const INSTAGRAM_COMMENT: &str = "instagram:comment";

/// The source of the account's public answer under a lead's comment.
pub const INSTAGRAM_PUBLIC_REPLY: &str = "instagram:public-reply";

/// Whether a message with this source was said under a post (a comment, or a public answer
/// to one), for everyone to see, rather than in the conversation: it is no contact between
/// the account and the lead, and only plugins that may see comments see it.
pub fn under_a_post(source: &str) -> bool {
    source == INSTAGRAM_COMMENT || source == INSTAGRAM_PUBLIC_REPLY
}

pub fn insert(
    conn: &Conn<'_>,
    lead_id: i64,
    direction: Direction,
    text: &str,
    at: Millis,
    source: &str,
) -> anyhow::Result<()> {
    insert_once(conn, lead_id, direction, text, at, source, None).map(drop)
}

/// Stores a message; with the channel's id for it, only once (false when a message with
/// that id is stored already: a redelivery, or the echo of a send recorded before).
pub fn insert_once(
    conn: &Conn<'_>,
    lead_id: i64,
    direction: Direction,
    text: &str,
    at: Millis,
    source: &str,
    channel_message_id: Option<&str>,
) -> anyhow::Result<bool> {
    let stored = conn
        .prepare_cached(
            "INSERT INTO messages (lead_id, direction, text, at, source, channel_message_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            lead_id,
            direction.as_str(),
            text,
            at,
            source,
            channel_message_id
        ])?;
    if stored == 0 {
        return Ok(false);
    }
    // A comment (or a public answer) is kept in the conversation, but nobody wrote to
    // anybody: it is no last message (which replies, follow-ups and retention go by).
    if !under_a_post(source) {
        crate::leads::record_contact(conn, lead_id, direction == Direction::Inbound, at)?;
    }
    Ok(true)
}

/// When the lead last wrote through `source` (a channel's name).
pub fn last_inbound_via(
    conn: &Conn<'_>,
    lead_id: i64,
    source: &str,
) -> anyhow::Result<Option<Millis>> {
    Ok(conn
        .prepare_cached("SELECT max(at) FROM messages WHERE lead_id = ?1 AND direction = 'inbound' AND source = ?2")?
        .query_row(params![lead_id, source], |r| r.get(0))?)
}

/// The last `limit` messages with a lead, oldest first.
pub fn recent(conn: &Conn<'_>, lead_id: i64, limit: u32) -> anyhow::Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(
        "SELECT direction, text, at, source, id FROM
           (SELECT * FROM messages WHERE lead_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2) AS newest
         ORDER BY at, id",
    )?;
    let rows = stmt.query_map(params![lead_id, limit], |r| {
        let direction: String = r.get(0)?;
        Ok(Message {
            direction: if direction == "inbound" {
                Direction::Inbound
            } else {
                Direction::Outbound
            },
            text: r.get(1)?,
            at: r.get(2)?,
            source: r.get(3)?,
            id: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
