//! `outreach doctor`: checks what a real setup needs — the config, the database, the key
//! that opens stored credentials, each account's channel (reachable, token accepted), the
//! AI provider, and the webhook secrets — and says what to fix. Exits non-zero when a check
//! fails.

use std::time::Duration;

use clap::Args;

use super::App;
use super::output::safe;
use crate::ai::AiProvider;
use crate::channels::{Channel, SendError};
use crate::domain::account::ChannelKind;
use crate::store;

#[derive(Debug, Args)]
pub struct DoctorArgs {}

enum Verdict {
    Ok,
    Warn,
    Fail,
}

struct Report {
    failed: bool,
}

impl Report {
    fn line(&mut self, verdict: Verdict, what: &str, detail: impl AsRef<str>) {
        let tag = match verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => {
                self.failed = true;
                "FAIL"
            }
        };
        // Account names, pause reasons, provider errors and the Graph API's answer are not
        // the host's own words.
        println!("{tag}  {}: {}", safe(what), safe(detail.as_ref()));
    }
}

pub async fn run(app: &App, _args: DoctorArgs) -> anyhow::Result<()> {
    let mut report = Report { failed: false };
    report.line(Verdict::Ok, "config", "read and valid");
    report.line(
        Verdict::Ok,
        "database",
        format!("{} ({})", app.db.location(), app.db.describe()?),
    );
    report.line(
        if app.db.is_encrypted() || app.db.path().is_none() {
            Verdict::Ok
        } else {
            Verdict::Warn
        },
        "encryption",
        super::data::encryption_state(&app.db),
    );
    let retention = &app.config.retention;
    report.line(
        if retention.is_set() {
            Verdict::Ok
        } else {
            Verdict::Warn
        },
        "retention",
        if retention.is_set() {
            "old data is deleted as [retention] says, once an hour while the engine runs"
        } else {
            "no [retention] settings: messages, events and audit rows are kept for good"
        },
    );
    // Whether one hook call's memory is cleaned from a slot by the pages it wrote or whole:
    // decided when an engine starts, so this says what an engine started now does.
    match app.runtime() {
        Ok(runtime) => report.line(
            Verdict::Ok,
            "sandbox",
            format!(
                "a fresh instance per hook call; between calls, in an engine started now, {}",
                runtime.slot_reset().describe()
            ),
        ),
        Err(e) => report.line(Verdict::Fail, "sandbox", format!("{e:#}")),
    }

    let timeout = Duration::from_secs(app.config.instagram.request_timeout_seconds);
    for account in app.db.read(store::accounts::list)? {
        let what = format!("account {} ({})", account.name, account.channel.as_str());
        if account.paused {
            report.line(
                Verdict::Warn,
                &what,
                format!("paused: {}", account.pause_reason.as_deref().unwrap_or("-")),
            );
        }
        if let Err(e) = account.sending_rules(&app.config.sending, app.now()) {
            report.line(Verdict::Fail, &what, format!("{e:#}"));
            continue;
        }
        match Channel::for_account(&app.db, &account, timeout) {
            Err(e) => report.line(Verdict::Fail, &what, format!("{e:#}")),
            Ok(Channel::Instagram(client)) => match client.whoami().await {
                Ok(who) => report.line(Verdict::Ok, &what, format!("token accepted for {who}")),
                Err(SendError::Credentials(why)) => {
                    report.line(Verdict::Fail, &what, format!("token refused: {why}"))
                }
                Err(e) => report.line(Verdict::Fail, &what, format!("Graph API: {e}")),
            },
            Ok(_) if account.channel == ChannelKind::Bridge => report.line(
                Verdict::Ok,
                &what,
                "secret opens; the bridge is reached at the first send",
            ),
            Ok(_) => report.line(Verdict::Ok, &what, "local sandbox"),
        }
    }

    match &app.services().ai {
        AiProvider::Offline { .. } => report.line(
            Verdict::Warn,
            "ai",
            format!(
                "no key in {}: replies come from the offline template",
                app.config.ai.api_key_env.join(" or ")
            ),
        ),
        AiProvider::Remote(remote) => {
            let what = format!("ai ({})", app.services().ai.recipient(None));
            match remote.probe().await {
                Ok(200..=299) => report.line(Verdict::Ok, &what, "reachable, key accepted"),
                Ok(401 | 403) => report.line(Verdict::Fail, &what, "the key is refused"),
                Ok(status) => report.line(
                    Verdict::Warn,
                    &what,
                    format!("reachable, answered HTTP {status}"),
                ),
                Err(e) => report.line(Verdict::Fail, &what, e),
            }
        }
    }

    let instagram = &app.config.instagram;
    let has_instagram = app
        .db
        .read(store::accounts::list)?
        .iter()
        .any(|a| a.channel == ChannelKind::Instagram);
    for (what, value, env) in [
        (
            "webhook app secret",
            instagram.webhook_app_secret(),
            "INSTAGRAM_APP_SECRET",
        ),
        (
            "webhook verify token",
            instagram.webhook_verify_token(),
            "INSTAGRAM_VERIFY_TOKEN",
        ),
    ] {
        let set = value.is_some();
        match (set, has_instagram) {
            (true, _) => report.line(Verdict::Ok, what, "set"),
            (false, true) => report.line(
                Verdict::Fail,
                what,
                format!("not set: `outreach serve` needs it (config or ${env})"),
            ),
            (false, false) => report.line(
                Verdict::Warn,
                what,
                format!("not set (needed for Instagram webhooks: ${env})"),
            ),
        }
    }
    // Meta does not redeliver what was answered: messages for an account id not set up
    // here wait in the database until the account is added.
    for waiting in app.db.read(store::unrouted::waiting)? {
        let what = format!(
            "webhook messages for Instagram account {}",
            waiting.ig_user_id
        );
        let (verdict, detail) = match &waiting.account {
            Some(name) => (
                Verdict::Warn,
                format!(
                    "{} kept from before account {name} was added; `outreach serve` routes them when it starts",
                    waiting.messages
                ),
            ),
            None => (
                Verdict::Fail,
                format!(
                    "{} kept, since {}: no account here has this id; add it \
                     (`outreach account add NAME --channel instagram --ig-user-id {}`) to route them",
                    waiting.messages,
                    crate::clock::format(waiting.first_received_at),
                    waiting.ig_user_id
                ),
            ),
        };
        report.line(verdict, &what, detail);
    }
    anyhow::ensure!(!report.failed, "some checks failed (FAIL above)");
    Ok(())
}
