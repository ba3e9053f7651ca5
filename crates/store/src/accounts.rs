//! Sending accounts and their sealed credentials.

use crate::sql::{Conn, OptionalExtension, params};
use anyhow::Context as _;

use crate::clock::Millis;
use crate::domain::account::{Account, ChannelKind, ChannelSettings, RuleOverrides};

const COLUMNS: &str = "id, name, channel, paused, pause_reason, daily_cap, min_gap_seconds, jitter_seconds, \
                       quiet_hours, timezone, warmup_start, warmup_step, ai_model, settings, \
                       credentials IS NOT NULL, next_send_at, created_at";

fn account_from_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<Account> {
    let channel: String = r.get(2)?;
    let settings: String = r.get(13)?;
    Ok(Account {
        id: r.get(0)?,
        name: r.get(1)?,
        channel: ChannelKind::parse(&channel).unwrap_or(ChannelKind::Sandbox),
        paused: r.get(3)?,
        pause_reason: r.get(4)?,
        rules: RuleOverrides {
            daily_cap: r.get(5)?,
            min_gap_seconds: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            jitter_seconds: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
            quiet_hours: r.get(8)?,
            timezone: r.get(9)?,
            warmup_start: r.get(10)?,
            warmup_step: r.get(11)?,
        },
        ai_model: r.get(12)?,
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        has_credentials: r.get(14)?,
        next_send_at: r.get(15)?,
        created_at: r.get(16)?,
    })
}

pub fn list(conn: &Conn<'_>) -> anyhow::Result<Vec<Account>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM accounts ORDER BY id"))?;
    Ok(stmt
        .query_map([], account_from_row)?
        .collect::<Result<_, _>>()?)
}

pub fn get(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Account>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"))?
        .query_row([id], account_from_row)
        .optional()?)
}

pub fn find(conn: &Conn<'_>, name: &str) -> anyhow::Result<Option<Account>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM accounts WHERE name = ?1"))?
        .query_row([name], account_from_row)
        .optional()?)
}

pub fn require(conn: &Conn<'_>, name: &str) -> anyhow::Result<Account> {
    find(conn, name)?
        .with_context(|| format!("no account named {name:?} (see `outreach account list`)"))
}

/// The Instagram account whose professional account id is `ig_user_id`.
pub fn by_instagram_id(conn: &Conn<'_>, ig_user_id: &str) -> anyhow::Result<Option<Account>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM accounts WHERE channel = 'instagram' AND {} = ?1",
            conn.json_text("settings", "ig_user_id")
        ))?
        .query_row([ig_user_id], account_from_row)
        .optional()?)
}

pub struct NewAccount<'a> {
    pub name: &'a str,
    pub channel: ChannelKind,
    pub rules: RuleOverrides,
    pub ai_model: Option<String>,
    pub settings: ChannelSettings,
    /// Already sealed with [`outreach_domain::secrets::SecretKey`].
    pub sealed_credentials: Option<Vec<u8>>,
}

pub fn add(conn: &Conn<'_>, new: &NewAccount<'_>, now: Millis) -> anyhow::Result<i64> {
    let r = &new.rules;
    conn.query_row(
        "INSERT INTO accounts (name, channel, daily_cap, min_gap_seconds, jitter_seconds, quiet_hours, timezone,
           warmup_start, warmup_step, ai_model, settings, credentials, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
        params![
            new.name,
            new.channel.as_str(),
            r.daily_cap,
            r.min_gap_seconds.map(|v| v as i64),
            r.jitter_seconds.map(|v| v as i64),
            r.quiet_hours,
            r.timezone,
            r.warmup_start,
            r.warmup_step,
            new.ai_model,
            serde_json::to_string(&new.settings)?,
            new.sealed_credentials,
            now
        ],
        |r| r.get(0),
    )
    .map_err(|e| match e.is_constraint_violation() {
        true => anyhow::anyhow!("an account named {:?} exists already", new.name),
        false => e.into(),
    })
}

pub fn credentials(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(conn.query_row(
        "SELECT credentials FROM accounts WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?)
}

/// Where the account's notifications go, sealed ([`set_notify_url`]), if it has set one.
pub fn notify_url(conn: &Conn<'_>, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT notify_url_sealed FROM accounts WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

/// Sets (sealed) or removes where the account's notifications go.
pub fn set_notify_url(conn: &Conn<'_>, id: i64, sealed: Option<&[u8]>) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE accounts SET notify_url_sealed = ?2 WHERE id = ?1",
        params![id, sealed],
    )?;
    Ok(())
}

/// Pauses (with the reason) or resumes an account: a paused account sends nothing.
pub fn set_paused(conn: &Conn<'_>, id: i64, reason: Option<&str>) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE accounts SET paused = ?2, pause_reason = ?3 WHERE id = ?1",
        params![id, reason.is_some(), reason],
    )?;
    Ok(())
}

/// Replaces the account's channel settings.
pub fn set_settings(conn: &Conn<'_>, id: i64, settings: &ChannelSettings) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE accounts SET settings = ?2 WHERE id = ?1",
        params![id, serde_json::to_string(settings)?],
    )?;
    Ok(())
}

/// When the gap after the account's last send ends.
pub fn set_next_send_at(conn: &Conn<'_>, id: i64, at: Millis) -> anyhow::Result<()> {
    conn.prepare_cached("UPDATE accounts SET next_send_at = ?2 WHERE id = ?1")?
        .run(params![id, at])?;
    Ok(())
}

/// Removes an account with its sealed credentials and forgets every lead it holds (as
/// `leads forget` does, opt-outs staying suppressed). The sandbox account every database
/// starts with stays. Returns how many leads were forgotten.
pub fn remove(conn: &Conn<'_>, account: &Account, now: Millis) -> anyhow::Result<u64> {
    anyhow::ensure!(
        account.id != crate::domain::account::DEFAULT_ACCOUNT,
        "the account {} is the built-in sandbox account and cannot be removed",
        account.name
    );
    let ids = conn
        .prepare("SELECT id FROM leads WHERE account_id = ?1")?
        .query_map([account.id], |r| r.get::<_, i64>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    for id in &ids {
        if let Some(lead) = crate::leads::get(conn, *id)? {
            crate::leads::forget(conn, &lead, now)?;
        }
    }
    conn.execute("DELETE FROM outbox WHERE account_id = ?1", [account.id])?;
    conn.execute("DELETE FROM accounts WHERE id = ?1", [account.id])?;
    Ok(ids.len() as u64)
}
