//! What a person decides about plugins, accounts and leads, from the CLI or the console:
//! grants, enabling, settings, replaying a failed event, pausing an account, forgetting a
//! lead. Each is one write transaction with its audit row, named by `actor`, so the two
//! front ends cannot differ in what they check or what they record.

use std::time::Duration;

use crate::clock::Millis;
use crate::consent::policy;
use crate::domain::account::ChannelKind;
use crate::domain::permission::Permission;
use crate::store::{self, Db};

/// How long an erasure waits for another process's read to let go of the write-ahead log.
pub const ERASURE_PATIENCE: Duration = Duration::from_secs(10);

pub(super) fn audit(
    tx: &crate::store::Conn<'_>,
    actor: &str,
    action: &str,
    lead_id: Option<i64>,
    detail: &str,
    now: Millis,
) -> anyhow::Result<()> {
    store::audit::record_action(tx, actor, action, lead_id, true, detail, now)
}

pub(super) fn permission_names(perms: &[Permission]) -> String {
    perms
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Grants what the plugin requests; refuses (granting nothing) a permission it does not.
pub fn grant(
    db: &Db,
    actor: &str,
    plugin: &str,
    perms: &[Permission],
    now: Millis,
) -> anyhow::Result<()> {
    change_grants(db, actor, plugin, perms, now, "plugins.grant", |tx, p| {
        store::plugins::grant(tx, plugin, p, now)
    })
}

/// Takes permissions back; holds from the plugin's next host call.
pub fn revoke(
    db: &Db,
    actor: &str,
    plugin: &str,
    perms: &[Permission],
    now: Millis,
) -> anyhow::Result<()> {
    change_grants(db, actor, plugin, perms, now, "plugins.revoke", |tx, p| {
        store::plugins::revoke(tx, plugin, p)
    })
}

/// `change` applied to each permission of an installed plugin, audited as `action`, all
/// or nothing.
fn change_grants(
    db: &Db,
    actor: &str,
    plugin: &str,
    perms: &[Permission],
    now: Millis,
    action: &str,
    change: impl Fn(&crate::store::Conn<'_>, Permission) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    db.write(|tx| {
        store::plugins::require(tx, plugin)?;
        perms.iter().try_for_each(|p| change(tx, *p))?;
        let detail = format!("{plugin}: {}", permission_names(perms));
        audit(tx, actor, action, None, &detail, now)
    })
}

pub fn set_enabled(
    db: &Db,
    actor: &str,
    plugin: &str,
    enabled: bool,
    now: Millis,
) -> anyhow::Result<()> {
    db.write(|tx| {
        store::plugins::set_enabled(tx, plugin, enabled)?;
        let action = if enabled {
            "plugins.enable"
        } else {
            "plugins.disable"
        };
        audit(tx, actor, action, None, plugin, now)
    })
}

/// Sets (`Some`) and removes (`None`) settings; `limits.*` ones are checked first, so a
/// typo in a limit never passes silently and nothing is half-applied.
pub fn configure(
    db: &Db,
    actor: &str,
    plugin: &str,
    changes: &[(&str, Option<&str>)],
    now: Millis,
) -> anyhow::Result<()> {
    for (key, value) in changes {
        if let Some(value) = value {
            check_limit_setting(key, value)?;
        }
    }
    db.write(|tx| {
        store::plugins::require(tx, plugin)?;
        for (key, value) in changes {
            store::plugins::set_setting(tx, plugin, key, *value)?;
        }
        let keys: Vec<&str> = changes.iter().map(|(k, _)| *k).collect();
        let detail = format!("{plugin}: {}", keys.join(", "));
        audit(tx, actor, "plugins.configure", None, &detail, now)
    })
}

/// `limits.*` settings bound the plugin's calls (`limits.concurrency`: how many at once).
fn check_limit_setting(key: &str, value: &str) -> anyhow::Result<()> {
    const KEYS: [&str; 4] = [
        "limits.fuel",
        "limits.memory-mb",
        "limits.timeout-ms",
        "limits.concurrency",
    ];
    if !key.starts_with("limits.") {
        return Ok(());
    }
    anyhow::ensure!(
        KEYS.contains(&key),
        "unknown limit {key:?}; the limits are {}",
        KEYS.join(", ")
    );
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .map(|_| ())
        .ok_or_else(|| anyhow::anyhow!("{key} must be a whole number above 0, got {value:?}"))
}

/// Puts a parked event back in the queue; `false` when there is no such event.
pub fn replay(db: &Db, actor: &str, event_id: i64, now: Millis) -> anyhow::Result<bool> {
    db.write(|tx| {
        let replayed = store::events::replay(tx, event_id, now)?;
        if replayed {
            let lead = store::events::get(tx, event_id)?.map(|e| e.lead_id);
            let detail = format!("event #{event_id}");
            audit(tx, actor, "events.replay", lead, &detail, now)?;
        }
        Ok(replayed)
    })
}

/// Pauses (`Some(reason)`) or resumes (`None`) an account's sending.
pub fn pause_account(
    db: &Db,
    actor: &str,
    name: &str,
    reason: Option<&str>,
    now: Millis,
) -> anyhow::Result<()> {
    db.write(|tx| {
        let account = store::accounts::require(tx, name)?;
        store::accounts::set_paused(tx, account.id, reason)?;
        let (action, detail) = match reason {
            Some(reason) => ("account.pause", format!("{name}: {reason}")),
            None => ("account.resume", name.to_string()),
        };
        audit(tx, actor, action, None, &detail, now)
    })
}

/// Records whether Meta granted Instagram account `name` the Human Agent feature: with it,
/// a person's reply may go out up to 7 days after the lead's last message.
pub fn set_human_agent(
    db: &Db,
    actor: &str,
    name: &str,
    granted: bool,
    now: Millis,
) -> anyhow::Result<()> {
    db.write(|tx| {
        let account = store::accounts::require(tx, name)?;
        anyhow::ensure!(
            account.channel == ChannelKind::Instagram,
            "account {name} sends through the {} channel; the Human Agent feature is Instagram's",
            account.channel.as_str()
        );
        let mut settings = account.settings.clone();
        settings.human_agent = granted.then_some(true);
        store::accounts::set_settings(tx, account.id, &settings)?;
        let state = if granted { "on" } else { "off" };
        audit(
            tx,
            actor,
            "account.human-agent",
            None,
            &format!("{name}: {state}"),
            now,
        )
    })
}

/// Sets what the host puts in front of the first automated message to each lead of
/// account `name` (and of the first after a person hands them back); `None` for nothing.
pub fn set_disclosure(
    db: &Db,
    actor: &str,
    name: &str,
    disclosure: Option<&str>,
    now: Millis,
) -> anyhow::Result<()> {
    let disclosure = disclosure.map(str::trim).filter(|d| !d.is_empty());
    if let Some(text) = disclosure {
        crate::consent::policy::message_text(text)
            .map_err(|refusal| anyhow::anyhow!("invalid disclosure: {}", refusal.message()))?;
    }
    db.write(|tx| {
        let account = store::accounts::require(tx, name)?;
        let mut settings = account.settings.clone();
        settings.disclosure = disclosure.map(str::to_owned);
        store::accounts::set_settings(tx, account.id, &settings)?;
        let detail = match disclosure {
            Some(text) => format!("{name}: {} characters", text.chars().count()),
            None => format!("{name}: none"),
        };
        audit(tx, actor, "account.disclosure", None, &detail, now)
    })
}

/// Sets where the account's notifications go (`sealed`, or none) and whether they carry
/// the lead's last message.
pub fn set_notify(
    db: &Db,
    actor: &str,
    name: &str,
    sealed: Option<&[u8]>,
    with_text: bool,
    now: Millis,
) -> anyhow::Result<()> {
    db.write(|tx| {
        let account = store::accounts::require(tx, name)?;
        store::accounts::set_notify_url(tx, account.id, sealed)?;
        let mut settings = account.settings.clone();
        settings.notify_with_text = (sealed.is_some() && with_text).then_some(true);
        store::accounts::set_settings(tx, account.id, &settings)?;
        // Never the URL: it is a credential.
        let detail = match (sealed, with_text) {
            (None, _) => format!("{name}: off"),
            (Some(_), true) => format!("{name}: on, with message text"),
            (Some(_), false) => format!("{name}: on, without message text"),
        };
        audit(tx, actor, "account.notify", None, &detail, now)
    })
}

/// The longest saved reply's name, in characters.
pub const SAVED_REPLY_NAME_MAX: usize = 60;
/// The most replies a team saves: the list stays one a person reads.
const SAVED_REPLIES_MAX: u32 = 200;

/// Saves a reply for the team under `name` (or changes the one saved under it). Its text
/// is a template (`{first_name|there}`); filled in, it still meets the message rules when
/// sent. Audited with its name, not its text.
pub fn save_reply(db: &Db, actor: &str, name: &str, text: &str, now: Millis) -> anyhow::Result<()> {
    let name = name.trim();
    // A browser's textarea sends CRLF line breaks: kept as the line breaks they are.
    let text = text.replace("\r\n", "\n");
    let text = text.trim();
    anyhow::ensure!(!name.is_empty(), "give the saved reply a name");
    anyhow::ensure!(
        name.chars().count() <= SAVED_REPLY_NAME_MAX,
        "the name is longer than {SAVED_REPLY_NAME_MAX} characters"
    );
    policy::reject_unsafe(name, false).map_err(|why| anyhow::anyhow!("the name {why}"))?;
    policy::message_text(text)
        .map_err(|refusal| anyhow::anyhow!("the saved reply is invalid: {}", refusal.message()))?;
    db.write(|tx| {
        let known = store::saved_replies::all(tx)?
            .iter()
            .any(|r| r.name == name);
        anyhow::ensure!(
            known || store::saved_replies::count(tx)? < SAVED_REPLIES_MAX,
            "{SAVED_REPLIES_MAX} replies are saved already, the most a team keeps: remove one first"
        );
        store::saved_replies::save(tx, name, text, actor, now)?;
        audit(tx, actor, "replies.save", None, &format!("{name:?}"), now)
    })
}

/// Removes the saved reply `id`; whether there was one.
pub fn remove_saved_reply(db: &Db, actor: &str, id: i64, now: Millis) -> anyhow::Result<bool> {
    db.write(|tx| match store::saved_replies::remove(tx, id)? {
        Some(name) => {
            audit(tx, actor, "replies.remove", None, &format!("{name:?}"), now)?;
            Ok(true)
        }
        None => Ok(false),
    })
}

/// Erases a lead and everything about them (the audit keeps its rows without the lead),
/// then clears the write-ahead log so no copy stays on disk. Returns the handle.
pub fn forget(db: &Db, actor: &str, handle: &str, now: Millis) -> anyhow::Result<String> {
    // Read in the same transaction: an opt-out recorded a moment ago still puts the
    // handle on the suppression list.
    let lead = db.write(|tx| {
        let lead = store::leads::require_handle(tx, handle)?;
        store::leads::forget(tx, &lead, now)?;
        let detail = format!("lead #{} erased", lead.id);
        audit(tx, actor, "leads.forget", None, &detail, now)?;
        Ok(lead)
    })?;
    db.clear_log(ERASURE_PATIENCE)?;
    Ok(lead.handle)
}
