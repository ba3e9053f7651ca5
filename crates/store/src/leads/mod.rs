//! Leads, their tags and custom fields: reading them, and the small updates (status, score,
//! tags, contact times). Imports are in [`import`], the stand-in leads a channel creates in
//! [`profiles`], do-not-contact and erasure in [`opt_out`].

use std::collections::BTreeMap;

use crate::sql::{Conn, OptionalExtension, params};
use anyhow::Context as _;

mod import;
mod opt_out;
mod profiles;

pub use self::import::{Upserted, queue_lead_imported, upsert, upsert_batch};
pub use self::opt_out::{
    forget, hand_to_person, mark_do_not_contact, suppress, withdraw_automation,
};
pub use self::profiles::{
    awaiting_profile, get_or_create, get_or_create_by_channel_user, mark_profile_asked, set_profile,
};

use super::conditions::Conditions;
use crate::clock::Millis;
use crate::domain::lead::{Lead, LeadStatus};

pub(super) const LEAD_COLUMNS: &str = "id, handle, name, email, phone, notes, status, score, dnc_reason, \
                            created_at, last_inbound_at, last_outbound_at, account_id, channel_user_id";

pub(super) fn lead_from_row(row: &crate::sql::Row<'_>) -> crate::sql::Result<Lead> {
    let status: String = row.get(6)?;
    Ok(Lead {
        id: row.get(0)?,
        handle: row.get(1)?,
        name: row.get(2)?,
        email: row.get(3)?,
        phone: row.get(4)?,
        notes: row.get(5)?,
        status: status.parse().unwrap_or(LeadStatus::New),
        score: row.get(7)?,
        dnc_reason: row.get(8)?,
        created_at: row.get(9)?,
        last_inbound_at: row.get(10)?,
        last_outbound_at: row.get(11)?,
        account_id: row.get(12)?,
        channel_user_id: row.get(13)?,
        tags: Vec::new(),
        custom: BTreeMap::new(),
    })
}

/// What a query selects for a lead: its columns, then its tags (a JSON array) and custom
/// fields (a JSON object), in the same statement: one round trip on PostgreSQL, not three.
fn lead_select(conn: &Conn<'_>) -> String {
    format!(
        "{LEAD_COLUMNS}, {}, {}",
        conn.json_array_of("tag", "lead_tags WHERE lead_id = leads.id"),
        conn.json_object_of("key", "value", "lead_fields WHERE lead_id = leads.id")
    )
}

/// A row of [`lead_select`]: the lead, and its tags and fields as JSON.
fn lead_row(row: &crate::sql::Row<'_>) -> crate::sql::Result<(Lead, String, String)> {
    Ok((lead_from_row(row)?, row.get(14)?, row.get(15)?))
}

/// The lead of a [`lead_row`] with its tags (sorted) and fields.
fn with_details((mut lead, tags, fields): (Lead, String, String)) -> anyhow::Result<Lead> {
    lead.tags = serde_json::from_str(&tags)
        .with_context(|| format!("unreadable tags of lead {}", lead.id))?;
    lead.tags.sort();
    lead.custom = serde_json::from_str(&fields)
        .with_context(|| format!("unreadable fields of lead {}", lead.id))?;
    Ok(lead)
}

pub fn get(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Lead>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM leads WHERE id = ?1",
        lead_select(conn)
    ))?;
    let lead = stmt.query_row([id], lead_row).optional()?;
    lead.map(with_details).transpose()
}

pub fn by_handle(conn: &Conn<'_>, handle: &str) -> anyhow::Result<Option<Lead>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM leads WHERE handle = ?1",
        lead_select(conn)
    ))?;
    let lead = stmt.query_row([handle], lead_row).optional()?;
    lead.map(with_details).transpose()
}

/// The lead a handle as a person types it names (`@Lena.Studio` is `lena.studio`); `None`
/// for no such lead or a handle that cannot be one.
pub fn find_handle(conn: &Conn<'_>, raw: &str) -> anyhow::Result<Option<Lead>> {
    match crate::domain::handle::normalize_handle(raw) {
        Ok(handle) => by_handle(conn, &handle),
        Err(_) => Ok(None),
    }
}

/// The lead with this handle (as typed by a user: `@` and case are forgiven), or an error
/// naming it.
pub fn require_handle(conn: &Conn<'_>, raw: &str) -> anyhow::Result<Lead> {
    let handle = crate::domain::handle::normalize_handle(raw)
        .map_err(|reason| anyhow::anyhow!("invalid handle: {reason}"))?;
    by_handle(conn, &handle)?.with_context(|| format!("no lead with handle @{handle}"))
}

#[derive(Debug, Default, Clone)]
pub struct LeadFilter {
    pub status: Option<LeadStatus>,
    pub tag: Option<String>,
    pub last_contact_before: Option<Millis>,
    pub limit: Option<u32>,
}

pub fn list(conn: &Conn<'_>, filter: &LeadFilter) -> anyhow::Result<Vec<Lead>> {
    // `leads.query` runs on the hot path: each condition must be able to use its index.
    let mut conditions = Conditions::default();
    let status = filter.status.map(|s| s.as_str());
    if let Some(status) = &status {
        conditions.bind("status = ?", status);
    }
    if let Some(tag) = &filter.tag {
        conditions.bind("id IN (SELECT lead_id FROM lead_tags WHERE tag = ?)", tag);
    }
    if let Some(before) = &filter.last_contact_before {
        let last = conn.greatest(
            "coalesce(last_inbound_at, 0)",
            "coalesce(last_outbound_at, 0)",
        );
        conditions.bind(&format!("{last} < ?"), before);
    }
    // No limit: the largest, as both databases read a negative one differently.
    let limit = filter.limit.map_or(i64::MAX, i64::from);
    select_leads(conn, conditions, "ORDER BY id", &limit)
}

/// The leads `conditions` select, in `order`, at most `limit`, with their details.
fn select_leads<'a>(
    conn: &Conn<'_>,
    mut conditions: Conditions<'a>,
    order: &str,
    limit: &'a dyn crate::sql::Param,
) -> anyhow::Result<Vec<Lead>> {
    let limit = conditions.then(limit);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM leads {} {order} LIMIT {limit}",
        lead_select(conn),
        conditions.where_clause()
    ))?;
    let rows = stmt
        .query_map(conditions.values(), lead_row)?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(with_details).collect()
}

/// What the console's leads page looks for; the newest leads first, a page at a time.
#[derive(Debug, Default, Clone)]
pub struct LeadSearch {
    /// Part of the handle, name or email.
    pub text: Option<String>,
    pub status: Option<LeadStatus>,
    pub tag: Option<String>,
    pub account_id: Option<i64>,
    /// Only the leads of these accounts (an agent's in the console); `None`: all.
    pub within_accounts: Option<Vec<i64>>,
    pub min_score: Option<u8>,
    /// Leads older than this id (the next page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

pub fn search(conn: &Conn<'_>, search: &LeadSearch) -> anyhow::Result<Vec<Lead>> {
    let Some(accounts) = &search.within_accounts else {
        return search_one_account_or_all(conn, search);
    };
    // One walk of the (account, id) index per account, merged: `account_id IN (...)` would
    // sort every lead of those accounts to return the newest page.
    let mut leads = Vec::new();
    for &account in accounts {
        if search.account_id.is_some_and(|asked| asked != account) {
            continue;
        }
        let one = LeadSearch {
            account_id: Some(account),
            within_accounts: None,
            ..search.clone()
        };
        leads.extend(search_one_account_or_all(conn, &one)?);
    }
    leads.sort_by_key(|lead| std::cmp::Reverse(lead.id));
    leads.truncate(search.limit as usize);
    Ok(leads)
}

fn search_one_account_or_all(conn: &Conn<'_>, search: &LeadSearch) -> anyhow::Result<Vec<Lead>> {
    let mut conditions = Conditions::default();
    let pattern = search.text.as_deref().map(crate::conditions::containing);
    if let Some(pattern) = &pattern {
        let like = conn.like_ignoring_case();
        conditions.bind(
            &format!("(handle {like} ? ESCAPE '\\' OR name {like} ? ESCAPE '\\' OR email {like} ? ESCAPE '\\')"),
            pattern,
        );
    }
    let status = search.status.map(|s| s.as_str());
    if let Some(status) = &status {
        conditions.bind("status = ?", status);
    }
    if let Some(tag) = &search.tag {
        conditions.bind("id IN (SELECT lead_id FROM lead_tags WHERE tag = ?)", tag);
    }
    if let Some(account_id) = &search.account_id {
        conditions.bind("account_id = ?", account_id);
    }
    if let Some(score) = &search.min_score {
        conditions.bind("score >= ?", score);
    }
    if let Some(before) = &search.before_id {
        conditions.bind("id < ?", before);
    }
    select_leads(conn, conditions, "ORDER BY id DESC", &search.limit)
}

/// Changes a lead's status. Never lifts do-not-contact: only [`mark_do_not_contact`] sets
/// it, and nothing undoes it.
/// Sets a lead's status (never taking them off do-not-contact). A lead taken off
/// needs-human, by a person or a plugin, is handed back to automation: its next automated
/// message discloses itself again ([`disclosure_due`]).
pub fn set_status(conn: &Conn<'_>, id: i64, status: LeadStatus, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE leads SET status = ?2, updated_at = ?3,
           disclosed_at = CASE WHEN status = 'needs-human' AND ?2 <> 'needs-human'
                               THEN NULL ELSE disclosed_at END
         WHERE id = ?1 AND status != 'do-not-contact'",
    )?
    .run(params![id, status.as_str(), now])?;
    Ok(())
}

pub fn set_score(conn: &Conn<'_>, id: i64, score: u8, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE leads SET score = ?2, updated_at = ?3 WHERE id = ?1")?
        .run(params![id, score, now])?;
    Ok(())
}

pub fn add_tag(conn: &Conn<'_>, id: i64, tag: &str) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO lead_tags (lead_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .run(params![id, tag])?;
    Ok(())
}

pub fn remove_tag(conn: &Conn<'_>, id: i64, tag: &str) -> anyhow::Result<()> {
    conn.prepare_cached("DELETE FROM lead_tags WHERE lead_id = ?1 AND tag = ?2")?
        .run(params![id, tag])?;
    Ok(())
}

pub fn record_contact(conn: &Conn<'_>, id: i64, inbound: bool, at: Millis) -> anyhow::Result<()> {
    let column = if inbound {
        "last_inbound_at"
    } else {
        "last_outbound_at"
    };
    conn.run(
        &format!(
            "UPDATE leads SET {column} = CASE WHEN {column} > ?2 THEN {column} ELSE ?2 END,
             updated_at = ?2 WHERE id = ?1"
        ),
        params![id, at],
    )?;
    Ok(())
}

/// A lead we sent a first message to is `contacted`, unless they already moved on.
/// The disclosure the lead's next automated message must carry: their account's, when it
/// has one and the lead was not told since automation (re)started with them. One query,
/// since every automated message asks.
pub fn disclosure_due(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<String>> {
    let due: Option<Option<String>> = conn
        .prepare_cached(&format!(
            "SELECT {} FROM leads l JOIN accounts a ON a.id = l.account_id
             WHERE l.id = ?1 AND l.disclosed_at IS NULL",
            conn.json_text("a.settings", "disclosure")
        ))?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(due.flatten().filter(|d| !d.trim().is_empty()))
}

/// Records that the lead was told, at `at`.
pub fn mark_automation_disclosed(conn: &Conn<'_>, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE leads SET disclosed_at = ?2 WHERE id = ?1")?
        .run(params![id, at])?;
    Ok(())
}

pub fn mark_contacted(conn: &Conn<'_>, id: i64, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE leads SET status = 'contacted', updated_at = ?2 WHERE id = ?1 AND status = 'new'",
    )?
    .run(params![id, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use crate::domain::lead::LeadRecord;

    #[test]
    fn a_batch_stores_tags_and_fields_as_one_record_at_a_time_would() {
        let db = Db::open_in_memory().unwrap();
        let record = |handle: &str, tags: &[&str], custom: &[(&str, &str)]| LeadRecord {
            line: 2,
            handle: handle.into(),
            name: None,
            email: None,
            phone: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            notes: None,
            custom: custom
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let odd = "say \"hi\"\\ \u{1F600}\n{\"x\":1}";
        let batch = [
            record("mara", &["vip"], &[("company", "First Co"), ("quote", odd)]),
            record("jonas", &["vip", "cold"], &[("company", "Jonas Ltd")]),
            // The same person again in the same batch: tags add up, the first value wins.
            record(
                "mara",
                &["yoga"],
                &[("company", "Second Co"), ("city", "Lyon")],
            ),
        ];
        let mut stored = Vec::new();
        db.write(|tx| upsert_batch(tx, &batch, 1, 0, &mut stored))
            .unwrap();
        let (mara, jonas) = (stored[0].id(), stored[1].id());
        assert!(matches!(stored[2], Upserted::Merged(id) if id == mara));
        let mara = db.read(|c| get(c, mara)).unwrap().unwrap();
        assert_eq!(mara.tags, ["vip", "yoga"]);
        assert_eq!(mara.custom["company"], "First Co");
        assert_eq!(mara.custom["quote"], odd);
        assert_eq!(mara.custom["city"], "Lyon");
        let jonas = db.read(|c| get(c, jonas)).unwrap().unwrap();
        assert_eq!(jonas.tags, ["cold", "vip"]);
        assert_eq!(jonas.custom.len(), 1);
        assert_eq!(jonas.custom["company"], "Jonas Ltd");
    }

    #[test]
    fn an_opt_out_follows_the_person_to_a_new_instagram_id() {
        let db = Db::open_in_memory().unwrap();
        db.write(|tx| {
            let jane = get_or_create(tx, 1, "jane", 0)?;
            mark_do_not_contact(tx, jane.id, "said stop", 0)?;
            let newcomer = get_or_create_by_channel_user(tx, 1, "9001", 10)?;
            assert_eq!(newcomer.handle, "ig_9001");
            assert!(!newcomer.is_do_not_contact());
            assert!(
                !set_profile(tx, newcomer.id, Some("jane"), Some("Jane"), 20)?,
                "the handle stays with jane"
            );
            let newcomer = get(tx, newcomer.id)?.unwrap();
            assert!(newcomer.is_do_not_contact(), "but so does her opt-out");
            assert_eq!(newcomer.name.as_deref(), Some("Jane"));
            Ok(())
        })
        .unwrap();
    }
}
