//! The event queue: every lead import, inbound message and due follow-up is stored here
//! before any plugin sees it, with one result row per plugin that handled it.

use crate::sql::{Conn, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::conditions::Conditions;
use crate::clock::Millis;
use crate::usage::CallCost;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    LeadImported,
    Inbound,
    FollowUp,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadImported => "lead-imported",
            Self::Inbound => "inbound",
            Self::FollowUp => "follow-up",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "inbound" => Self::Inbound,
            "follow-up" => Self::FollowUp,
            _ => Self::LeadImported,
        }
    }
}

/// What an event carries besides its lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    /// What an inbound message was beyond its text: a story mention or reply, a tapped
    /// quick reply or ice breaker. (Stored as `story` before taps were kept.)
    #[serde(default, alias = "story", skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// A comment's own id (its origin's reference is the post's): the one a private reply
    /// answers, at most once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    /// For a reply under a comment, that comment's id: the thread a public answer goes in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_thread: Option<String>,
}

/// What an inbound message was beyond its text, as plugins see it (the contract's `kind` and
/// `reference`). A story's media URL is never kept (Meta's rule; it expires anyway): the
/// kind and the story's id are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub kind: OriginKind,
    /// The story's id, or the payload of the button the lead tapped.
    #[serde(default, alias = "id", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A comment as a channel names it: its own id, and for a reply under another comment,
/// that comment's (the thread's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentIds {
    pub id: String,
    pub thread: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OriginKind {
    /// The lead mentioned the account in their story.
    StoryMention,
    /// The lead answered one of the account's stories.
    StoryReply,
    /// The lead tapped one of the quick replies under the account's message.
    QuickReply,
    /// The lead tapped a button Meta reports as a postback: one of the account's ice
    /// breakers.
    Postback,
    /// The lead commented on one of the account's posts or reels.
    Comment,
    /// The lead commented on the account's live video while it was live.
    LiveComment,
}

impl std::str::FromStr for OriginKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|k| k.as_str()).collect();
                format!("{text:?} is not a kind of message: {}", names.join(", "))
            })
    }
}

impl OriginKind {
    pub const ALL: [OriginKind; 6] = [
        Self::StoryMention,
        Self::StoryReply,
        Self::QuickReply,
        Self::Postback,
        Self::Comment,
        Self::LiveComment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::StoryMention => "story-mention",
            Self::StoryReply => "story-reply",
            Self::QuickReply => "quick-reply",
            Self::Postback => "postback",
            Self::Comment => "comment",
            Self::LiveComment => "live-comment",
        }
    }

    /// A comment, public, rather than a message to the account: answered only by a private
    /// reply, and only by plugins granted `comments:read`.
    pub fn is_comment(self) -> bool {
        matches!(self, Self::Comment | Self::LiveComment)
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub kind: EventKind,
    pub lead_id: i64,
    pub plugin: Option<String>,
    pub payload: Payload,
    pub created_at: Millis,
}

pub struct NewEvent<'a> {
    pub kind: EventKind,
    pub lead_id: i64,
    pub plugin: Option<&'a str>,
    pub payload: Payload,
    /// Events with the same key are stored once.
    pub dedupe_key: Option<String>,
}

/// Stores an event; returns its id, or `None` when an event with the same dedupe key exists.
pub fn insert(conn: &Conn<'_>, event: &NewEvent<'_>, now: Millis) -> anyhow::Result<Option<i64>> {
    // RETURNING rather than the connection's last row id, which PostgreSQL does not keep.
    let id = conn
        .prepare_cached(
            "INSERT INTO events (kind, lead_id, plugin, payload, dedupe_key, created_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
             ON CONFLICT DO NOTHING RETURNING id",
        )?
        .query_row(
            params![
                event.kind.as_str(),
                event.lead_id,
                event.plugin,
                serde_json::to_string(&event.payload)?,
                event.dedupe_key,
                now
            ],
            |row| row.get(0),
        )
        .optional()?;
    Ok(id)
}

fn event_from_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<Event> {
    let kind: String = r.get(1)?;
    let payload: String = r.get(4)?;
    Ok(Event {
        id: r.get(0)?,
        kind: EventKind::parse(&kind),
        lead_id: r.get(2)?,
        plugin: r.get(3)?,
        payload: serde_json::from_str(&payload).unwrap_or_default(),
        created_at: r.get(5)?,
    })
}

/// Pending events whose next attempt is due, the longest due first (in the order of the
/// `events_due` index: no sort of every pending event to find the first few).
pub fn due(conn: &Conn<'_>, now: Millis, limit: u32) -> anyhow::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, lead_id, plugin, payload, created_at FROM events
         WHERE status = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2",
    )?;
    Ok(stmt
        .query_map(params![now, limit], event_from_row)?
        .collect::<Result<_, _>>()?)
}

/// Whether the event still waits to be handled (not finished, replayed or forgotten since
/// it was read).
pub fn is_pending(conn: &Conn<'_>, id: i64) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT status = 'pending' FROM events WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or(false))
}

pub fn get(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Event>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, kind, lead_id, plugin, payload, created_at FROM events WHERE id = ?1",
        )?
        .query_row([id], event_from_row)
        .optional()?)
}

/// The last `limit` events created at or after `since` that `plugin` handled (it has a
/// result for them), oldest first: the past traffic a shadow run of a new version replays.
pub fn handled_by(
    conn: &Conn<'_>,
    plugin: &str,
    since: Millis,
    limit: u32,
) -> anyhow::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.kind, e.lead_id, e.plugin, e.payload, e.created_at
         FROM events e JOIN event_results r ON r.event_id = e.id AND r.plugin = ?1
         WHERE e.created_at >= ?2 ORDER BY e.id DESC LIMIT ?3",
    )?;
    let mut events: Vec<Event> = stmt
        .query_map(params![plugin, since, limit], event_from_row)?
        .collect::<Result<_, _>>()?;
    events.reverse();
    Ok(events)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Done,
    Retry,
    Parked,
}

impl ResultStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retry => "retry",
            Self::Parked => "parked",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "done" => Self::Done,
            "parked" => Self::Parked,
            _ => Self::Retry,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginResult {
    pub plugin: String,
    pub status: ResultStatus,
    pub attempts: u32,
    pub outcome: Option<String>,
    pub error: Option<String>,
    pub updated_at: Millis,
    /// What the last attempt's hook call cost (none for the host's own decisions).
    pub cost: Option<CallCost>,
}

impl PluginResult {
    pub fn done(plugin: &str, attempts: u32, outcome: String, now: Millis) -> Self {
        let status = ResultStatus::Done;
        Self {
            plugin: plugin.into(),
            status,
            attempts,
            outcome: Some(outcome),
            error: None,
            updated_at: now,
            cost: None,
        }
    }

    pub fn failed(
        plugin: &str,
        status: ResultStatus,
        attempts: u32,
        error: String,
        now: Millis,
    ) -> Self {
        Self {
            plugin: plugin.into(),
            status,
            attempts,
            outcome: None,
            error: Some(error),
            updated_at: now,
            cost: None,
        }
    }

    pub fn with_cost(self, cost: CallCost) -> Self {
        Self {
            cost: Some(cost),
            ..self
        }
    }
}

/// What each plugin did with an event so far, in the order they handled it.
pub fn results(conn: &Conn<'_>, event_id: i64) -> anyhow::Result<Vec<PluginResult>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT plugin, status, attempts, outcome, error, updated_at, wall_us, fuel, peak_memory
         FROM event_results WHERE event_id = ?1 ORDER BY {}",
        conn.insertion_order()
    ))?;
    let rows = stmt.query_map([event_id], |r| {
        let status: String = r.get(1)?;
        let cost = r
            .get::<_, Option<i64>>(6)?
            .map(|wall_us| -> crate::sql::Result<_> {
                Ok(CallCost {
                    wall_us: wall_us as u64,
                    fuel: r.get::<_, Option<i64>>(7)?.unwrap_or(0) as u64,
                    peak_memory: r.get::<_, Option<i64>>(8)?.unwrap_or(0) as u64,
                })
            });
        Ok(PluginResult {
            plugin: r.get(0)?,
            status: ResultStatus::parse(&status),
            attempts: r.get(2)?,
            outcome: r.get(3)?,
            error: r.get(4)?,
            updated_at: r.get(5)?,
            cost: cost.transpose()?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records (or updates, on a retry) what a plugin did with the event; the cost of its hook
/// call, when it made one, also goes to the plugin's totals.
pub fn record_result(conn: &Conn<'_>, event_id: i64, result: &PluginResult) -> anyhow::Result<()> {
    let PluginResult {
        plugin,
        status,
        attempts,
        outcome,
        error,
        updated_at: now,
        cost,
    } = result;
    let column = |pick: fn(&CallCost) -> u64| cost.as_ref().map(|c| pick(c) as i64);
    conn.prepare_cached(
        "INSERT INTO event_results
           (event_id, plugin, status, attempts, outcome, error, updated_at, wall_us, fuel, peak_memory)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (event_id, plugin) DO UPDATE SET status = ?3, attempts = ?4, outcome = ?5,
           error = ?6, updated_at = ?7, wall_us = ?8, fuel = ?9, peak_memory = ?10",
    )?
    .run(params![
        event_id,
        plugin,
        status.as_str(),
        attempts,
        outcome,
        error,
        now,
        column(|c| c.wall_us),
        column(|c| c.fuel),
        column(|c| c.peak_memory),
    ])?;
    if let Some(cost) = cost {
        super::usage::record(conn, plugin, cost, *status != ResultStatus::Done)?;
    }
    Ok(())
}

/// Parks the results still waiting for a retry when the event ends without one.
pub fn park_unfinished(conn: &Conn<'_>, event_id: i64, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE event_results SET status = 'parked', updated_at = ?2,
           error = coalesce(error || '; ', '') || 'not retried: the event ended'
         WHERE event_id = ?1 AND status = 'retry'",
    )?
    .run(params![event_id, now])?;
    Ok(())
}

pub fn finish(conn: &Conn<'_>, event_id: i64, now: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE events SET status = 'done', finished_at = ?2 WHERE id = ?1")?
        .run(params![event_id, now])?;
    super::schedules::clear_pending(conn, event_id)
}

pub fn retry_at(conn: &Conn<'_>, event_id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached(
        "UPDATE events SET status = 'pending', next_attempt_at = ?2 WHERE id = ?1",
    )?
    .run(params![event_id, at])?;
    Ok(())
}

/// Puts an event back in the queue with its results cleared, as after a crash. Sends stay
/// idempotent: outbox rows are keyed to the event.
pub fn replay(conn: &Conn<'_>, event_id: i64, now: Millis) -> anyhow::Result<bool> {
    conn.run("DELETE FROM event_results WHERE event_id = ?1", [event_id])?;
    let changed = conn.execute(
        "UPDATE events SET status = 'pending', next_attempt_at = ?2, finished_at = NULL WHERE id = ?1",
        params![event_id, now],
    )?;
    Ok(changed == 1)
}

#[derive(Debug, Clone, Serialize)]
pub struct EventSummary {
    pub id: i64,
    pub kind: EventKind,
    /// For an inbound message that was more than text: which kind, and its reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    pub lead: String,
    pub status: String,
    pub created_at: Millis,
    pub results: Vec<PluginResult>,
}

impl EventSummary {
    /// The kind to show: a story mention, a reply or a tap as such, not just "inbound".
    pub fn shown_kind(&self) -> &'static str {
        match &self.origin {
            Some(origin) => origin.kind.as_str(),
            None => self.kind.as_str(),
        }
    }
}

/// Which events [`list`] returns.
#[derive(Debug, Default)]
pub struct EventFilter<'a> {
    /// Only events with a parked or retrying plugin result (of `plugin`'s, when set).
    pub failed_only: bool,
    pub plugin: Option<&'a str>,
    pub lead_id: Option<i64>,
    pub limit: u32,
}

/// Events newest first; each condition asked for reads its index (a lead's page must not
/// walk every event).
pub fn list(conn: &Conn<'_>, filter: &EventFilter<'_>) -> anyhow::Result<Vec<EventSummary>> {
    let mut conditions = Conditions::default();
    if let Some(lead_id) = &filter.lead_id {
        conditions.bind("e.lead_id = ?", lead_id);
    }
    match (filter.failed_only, &filter.plugin) {
        (true, Some(plugin)) => conditions.bind(
            "e.id IN (SELECT event_id FROM event_results WHERE status != 'done' AND plugin = ?)",
            plugin,
        ),
        (true, None) => {
            conditions.fixed("e.id IN (SELECT event_id FROM event_results WHERE status != 'done')")
        }
        (false, Some(plugin)) => conditions.bind(
            "e.id IN (SELECT event_id FROM event_results WHERE plugin = ?)",
            plugin,
        ),
        (false, None) => {}
    }
    let limit = conditions.then(&filter.limit);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.id, e.kind, l.handle, e.status, e.created_at, e.payload FROM events e JOIN leads l ON l.id = e.lead_id
         {} ORDER BY e.id DESC LIMIT {limit}",
        conditions.where_clause()
    ))?;
    let rows = stmt
        .query_map(conditions.values(), |r| {
            let kind: String = r.get(1)?;
            let payload: String = r.get(5)?;
            Ok(EventSummary {
                id: r.get(0)?,
                kind: EventKind::parse(&kind),
                origin: serde_json::from_str::<Payload>(&payload)
                    .ok()
                    .and_then(|p| p.origin),
                lead: r.get(2)?,
                status: r.get(3)?,
                created_at: r.get(4)?,
                results: Vec::new(),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|mut e| {
            e.results = results(conn, e.id)?;
            Ok(e)
        })
        .collect()
}
