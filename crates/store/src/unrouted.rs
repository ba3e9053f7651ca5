//! Instagram webhook messages for an account id that is not set up here, kept until the
//! account is added (see `engine::ingest::route_unrouted`).

use crate::sql::{Conn, params};
use serde::Serialize;

use crate::clock::Millis;

/// A message Meta delivered for an Instagram account id no account here has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnroutedMessage {
    pub id: i64,
    pub ig_user_id: String,
    pub sender_id: String,
    pub message_id: String,
    pub text: String,
    pub sent_at: Millis,
    pub received_at: Millis,
}

/// What is waiting for one Instagram account id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub ig_user_id: String,
    pub messages: u64,
    pub first_received_at: Millis,
    pub last_received_at: Millis,
    /// The name of the account that has this id now, when one was added since (the
    /// messages are routed to it at the next `outreach serve` start or account add).
    pub account: Option<String>,
}

/// Keeps a message; false when one with the same message id is kept already.
pub fn insert(
    conn: &Conn<'_>,
    ig_user_id: &str,
    sender_id: &str,
    message_id: &str,
    text: &str,
    sent_at: Millis,
    received_at: Millis,
) -> anyhow::Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO unrouted_webhooks (ig_user_id, sender_id, message_id, text, sent_at, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            ig_user_id,
            sender_id,
            message_id,
            text,
            sent_at,
            received_at
        ])?;
    Ok(inserted == 1)
}

/// The messages kept for `ig_user_id`, in the order they arrived.
pub fn for_account(conn: &Conn<'_>, ig_user_id: &str) -> anyhow::Result<Vec<UnroutedMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, ig_user_id, sender_id, message_id, text, sent_at, received_at
         FROM unrouted_webhooks WHERE ig_user_id = ?1 ORDER BY id",
    )?;
    Ok(stmt
        .query_map([ig_user_id], |r| {
            Ok(UnroutedMessage {
                id: r.get(0)?,
                ig_user_id: r.get(1)?,
                sender_id: r.get(2)?,
                message_id: r.get(3)?,
                text: r.get(4)?,
                sent_at: r.get(5)?,
                received_at: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

pub fn delete(conn: &Conn<'_>, id: i64) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM unrouted_webhooks WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// The account a waiting message `u` belongs to.
fn account_with_id(conn: &Conn<'_>) -> String {
    format!(
        "SELECT name FROM accounts
         WHERE channel = 'instagram' AND {} = u.ig_user_id ORDER BY id LIMIT 1",
        conn.json_text("settings", "ig_user_id")
    )
}

/// Per Instagram account id, how many messages wait and since when.
pub fn waiting(conn: &Conn<'_>) -> anyhow::Result<Vec<Waiting>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT u.ig_user_id, count(*), min(u.received_at), max(u.received_at), ({})
         FROM unrouted_webhooks u GROUP BY u.ig_user_id ORDER BY min(u.id)",
        account_with_id(conn)
    ))?;
    Ok(stmt
        .query_map([], |r| {
            Ok(Waiting {
                ig_user_id: r.get(0)?,
                messages: r.get::<_, i64>(1)? as u64,
                first_received_at: r.get(2)?,
                last_received_at: r.get(3)?,
                account: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// The Instagram account ids with kept messages that an account here has now.
pub fn routable(conn: &Conn<'_>) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT DISTINCT u.ig_user_id FROM unrouted_webhooks u
         WHERE EXISTS ({}) ORDER BY u.ig_user_id",
        account_with_id(conn)
    ))?;
    Ok(stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    #[test]
    fn a_message_id_is_kept_once_and_listed_per_account() {
        let db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            assert!(insert(tx, "1784", "5501", "m_1", "hello", 10, 20)?);
            assert!(!insert(tx, "1784", "5501", "m_1", "hello", 10, 30)?);
            assert!(insert(tx, "1784", "5502", "m_2", "hi", 11, 40)?);
            assert!(insert(tx, "9999", "5503", "m_3", "hey", 12, 50)?);
            Ok(())
        })
        .unwrap();
        let waiting = db.read(waiting).unwrap();
        assert_eq!(
            waiting
                .iter()
                .map(|w| (
                    w.ig_user_id.as_str(),
                    w.messages,
                    w.first_received_at,
                    w.last_received_at
                ))
                .collect::<Vec<_>>(),
            vec![("1784", 2, 20, 40), ("9999", 1, 50, 50)]
        );
        assert!(waiting.iter().all(|w| w.account.is_none()));
        assert!(db.read(routable).unwrap().is_empty());
        let kept = db.read(|c| for_account(c, "1784")).unwrap();
        assert_eq!(
            kept.iter()
                .map(|m| m.message_id.as_str())
                .collect::<Vec<_>>(),
            ["m_1", "m_2"]
        );
        db.write(|tx| delete(tx, kept[0].id)).unwrap();
        assert_eq!(db.read(|c| for_account(c, "1784")).unwrap().len(), 1);
    }
}
