//! `outreach account …`: the accounts messages go out through, their channels and rules.

use anyhow::Context as _;
use clap::builder::TypedValueParser as _;
use clap::{Args, Subcommand};

use super::App;
use super::data::OPERATOR;
use super::output::{json, or_dash, table};
use crate::channels::Channel;
use crate::channels::instagram::check_ice_breakers;
use crate::domain::account::{ChannelKind, ChannelSettings, RuleOverrides};
use crate::operator::admin;
use crate::secrets::SecretKey;
use crate::store::{self, accounts::NewAccount};

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Add an account. Instagram needs --ig-user-id and an access token, a bridge
    /// --bridge-url and a shared secret, each in the environment variable named by
    /// --secret-env (so it never shows in your shell history); both are stored encrypted.
    Add(Box<AddArgs>),
    /// List accounts (credentials are never shown).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop sending through an account; queued messages wait.
    Pause {
        name: String,
        #[arg(long, default_value = "paused by the user")]
        reason: String,
    },
    /// Send through a paused account again.
    Resume { name: String },
    /// Whether Meta granted this Instagram account's app the Human Agent feature (on App
    /// Review): with it on, a person's reply (console or `conversations reply`) may go out
    /// up to 7 days after the lead's last message, tagged HUMAN_AGENT. Plugins' messages
    /// stay within 24 hours either way.
    HumanAgent {
        name: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Sets the questions (up to 4) someone opening a conversation with this Instagram
    /// account can tap; a tap arrives as that question from the lead, and the plugins
    /// answer it like any message. --clear removes them.
    IceBreakers {
        name: String,
        #[arg(required_unless_present = "clear")]
        questions: Vec<String>,
        #[arg(long, conflicts_with = "questions")]
        clear: bool,
    },
    /// The disclosure some jurisdictions require of automated conversations: the host puts
    /// TEXT in front of the first automated message to each lead, and of the first after a
    /// person hands a lead back to automation. --off for none.
    Disclosure {
        name: String,
        #[arg(required_unless_present = "off")]
        text: Option<String>,
        #[arg(long, conflicts_with = "text")]
        off: bool,
    },
    /// Tell a team when a lead needs a person (a plugin handed them over, or someone took
    /// over in the Instagram app): POST Slack-compatible JSON to the URL in
    /// $OUTREACH_NOTIFY_URL (kept sealed, like credentials; signed with
    /// $OUTREACH_NOTIFY_SECRET when that is set). --off stops them.
    Notify {
        name: String,
        /// Include the lead's last message (by default: who, and why only).
        #[arg(long, conflicts_with = "off")]
        with_text: bool,
        #[arg(long)]
        off: bool,
    },
    /// Remove an account: its credentials, and every lead it holds with their messages,
    /// events and plugin storage (opt-outs stay on the suppression list).
    Remove { name: String },
}

/// Where `account notify` reads the notification URL from: kept out of the command line,
/// and so out of shell history and the process list, as it is a credential.
const NOTIFY_URL_ENV: &str = "OUTREACH_NOTIFY_URL";

/// `--channel`: the domain's channel kinds, each with its description in `--help`.
fn channel_kind() -> impl clap::builder::TypedValueParser<Value = ChannelKind> {
    let kinds = ChannelKind::ALL
        .map(|kind| clap::builder::PossibleValue::new(kind.as_str()).help(kind.describe()));
    clap::builder::PossibleValuesParser::new(kinds)
        .map(|name| ChannelKind::parse(&name).expect("clap accepts only the listed channels"))
}

#[derive(Debug, Args)]
pub struct AddArgs {
    name: String,
    #[arg(long, value_parser = channel_kind())]
    channel: ChannelKind,
    /// Instagram: the professional account's id (the webhook's entry.id).
    #[arg(long)]
    ig_user_id: Option<String>,
    /// The environment variable holding the access token (Instagram) or the shared secret
    /// (bridge) [default: INSTAGRAM_ACCESS_TOKEN or OUTREACH_BRIDGE_SECRET].
    #[arg(long)]
    secret_env: Option<String>,
    /// Bridge: where outbox messages are POSTed.
    #[arg(long)]
    bridge_url: Option<String>,
    /// Instagram: the Graph API base [default: https://graph.instagram.com].
    #[arg(long)]
    base_url: Option<String>,
    /// Instagram: the Graph API version [default: v21.0].
    #[arg(long)]
    api_version: Option<String>,
    #[arg(long)]
    daily_cap: Option<u32>,
    #[arg(long)]
    min_gap_seconds: Option<u64>,
    #[arg(long)]
    jitter_seconds: Option<u64>,
    /// Like "21:00-08:00", in the account's time zone.
    #[arg(long)]
    quiet_hours: Option<String>,
    /// An IANA time zone such as Europe/Berlin.
    #[arg(long)]
    timezone: Option<String>,
    /// Warm-up: the daily cap on the first day…
    #[arg(long)]
    warmup_start: Option<u32>,
    /// …and how much it grows each day, up to --daily-cap.
    #[arg(long, requires = "warmup_start")]
    warmup_step: Option<u32>,
    /// The AI model replies for this account's leads use.
    #[arg(long)]
    model: Option<String>,
    /// Instagram: Meta granted the app the Human Agent feature (see `account human-agent`).
    #[arg(long)]
    human_agent: bool,
}

pub async fn run(app: &App, cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Add(args) => add(app, *args),
        AccountCommand::List { json: as_json } => {
            let accounts = app.db.read(store::accounts::list)?;
            if as_json {
                return json(&accounts);
            }
            let rows: Vec<Vec<String>> = accounts
                .iter()
                .map(|a| {
                    let rules = a.sending_rules(&app.config.sending, app.now());
                    vec![
                        a.name.clone(),
                        a.channel.as_str().into(),
                        match &a.pause_reason {
                            Some(reason) if a.paused => format!("paused: {reason}"),
                            _ => "active".into(),
                        },
                        rules
                            .as_ref()
                            .map_or_else(|e| format!("invalid: {e}"), |r| r.daily_cap.to_string()),
                        or_dash(
                            a.rules
                                .quiet_hours
                                .as_ref()
                                .or(Some(&app.config.sending.quiet_hours))
                                .filter(|q| !q.is_empty()),
                        ),
                        a.rules
                            .timezone
                            .clone()
                            .unwrap_or_else(|| app.config.sending.timezone.clone()),
                        if a.has_credentials { "set" } else { "-" }.into(),
                    ]
                })
                .collect();
            table(
                &[
                    "NAME",
                    "CHANNEL",
                    "STATE",
                    "CAP TODAY",
                    "QUIET",
                    "TIMEZONE",
                    "CREDENTIALS",
                ],
                &rows,
            );
            Ok(())
        }
        AccountCommand::Pause { name, reason } => {
            admin::pause_account(&app.db, OPERATOR, &name, Some(&reason), app.now())?;
            println!("{name} paused: nothing goes out until `outreach account resume {name}`");
            Ok(())
        }
        AccountCommand::Resume { name } => {
            admin::pause_account(&app.db, OPERATOR, &name, None, app.now())?;
            println!("{name} resumed");
            Ok(())
        }
        AccountCommand::HumanAgent { name, state } => {
            let granted = state == "on";
            admin::set_human_agent(&app.db, OPERATOR, &name, granted, app.now())?;
            match granted {
                true => println!(
                    "{name}: a person may answer up to 7 days after a lead's last message (tagged HUMAN_AGENT)"
                ),
                false => println!("{name}: every message within 24 hours of a lead's last message"),
            }
            Ok(())
        }
        AccountCommand::IceBreakers {
            name,
            questions,
            clear: _,
        } => ice_breakers(app, &name, &questions).await,
        AccountCommand::Disclosure { name, text, off } => {
            let text = text.filter(|_| !off);
            admin::set_disclosure(&app.db, OPERATOR, &name, text.as_deref(), app.now())?;
            match text {
                Some(_) => println!(
                    "{name}: automated conversations start with the disclosure, and start with it again after a person hands a lead back"
                ),
                None => println!("{name}: no disclosure"),
            }
            Ok(())
        }
        AccountCommand::Notify {
            name,
            with_text,
            off,
        } => {
            let sealed = match off {
                true => None,
                false => {
                    let url = std::env::var(NOTIFY_URL_ENV)
                        .ok()
                        .filter(|u| !u.trim().is_empty())
                        .with_context(|| {
                            format!("the URL is read from ${NOTIFY_URL_ENV}, which is not set")
                        })?;
                    let url = url.trim();
                    crate::channels::notify::check_url(url).map_err(|why| {
                        anyhow::anyhow!("${NOTIFY_URL_ENV} cannot take notifications: {why}")
                    })?;
                    Some(SecretKey::from_env()?.seal(url.as_bytes()))
                }
            };
            admin::set_notify(
                &app.db,
                OPERATOR,
                &name,
                sealed.as_deref(),
                with_text,
                app.now(),
            )?;
            match (off, with_text) {
                (true, _) => println!("{name}: no notifications"),
                (false, text) => {
                    let what = if text {
                        "with their last message"
                    } else {
                        "without message text"
                    };
                    println!("{name}: a notification goes out when a lead needs a person, {what}");
                    if std::env::var_os(crate::channels::notify::SECRET_ENV).is_none() {
                        println!(
                            "(unsigned: set ${} where outreach serve runs to sign them)",
                            crate::channels::notify::SECRET_ENV
                        );
                    }
                }
            }
            Ok(())
        }
        AccountCommand::Remove { name } => {
            let account = app.db.read(|c| store::accounts::require(c, &name))?;
            let forgotten = app.db.write(|tx| {
                let forgotten = store::accounts::remove(tx, &account, app.now())?;
                let detail = format!("account #{} removed with {forgotten} leads", account.id);
                store::audit::record_action(
                    tx,
                    OPERATOR,
                    "account.remove",
                    None,
                    true,
                    &detail,
                    app.now(),
                )?;
                Ok(forgotten)
            })?;
            app.db.clear_log(admin::ERASURE_PATIENCE)?;
            println!("removed account {name}, its credentials and {forgotten} leads");
            Ok(())
        }
    }
}

/// Sets (or with no questions removes) an Instagram account's ice breakers through the
/// Graph API, and audits it.
async fn ice_breakers(app: &App, name: &str, questions: &[String]) -> anyhow::Result<()> {
    let questions: Vec<String> = questions.iter().map(|q| q.trim().to_owned()).collect();
    check_ice_breakers(&questions).map_err(|why| anyhow::anyhow!("ice breakers: {why}"))?;
    for (n, question) in questions.iter().enumerate() {
        crate::consent::policy::reject_unsafe(question, false)
            .map_err(|why| anyhow::anyhow!("ice breakers: question {} {why}", n + 1))?;
    }
    let account = app.db.read(|c| store::accounts::require(c, name))?;
    let timeout = std::time::Duration::from_secs(app.config.instagram.request_timeout_seconds);
    let Channel::Instagram(client) = Channel::for_account(&app.db, &account, timeout)? else {
        anyhow::bail!(
            "account {name} sends through the {} channel; ice breakers are Instagram's",
            account.channel.as_str()
        );
    };
    client
        .set_ice_breakers(&questions)
        .await
        .map_err(|e| anyhow::anyhow!("Instagram refused the ice breakers: {e}"))?;
    let detail = format!("{name}: {} question(s)", questions.len());
    app.db.write(|tx| {
        store::audit::record_action(
            tx,
            OPERATOR,
            "account.ice-breakers",
            None,
            true,
            &detail,
            app.now(),
        )
    })?;
    match questions.len() {
        0 => println!("{name}: ice breakers removed"),
        n => println!(
            "{name}: {n} ice breaker(s) set; a tap arrives as that question (subscribe the webhook to messaging_postbacks)"
        ),
    }
    Ok(())
}

fn add(app: &App, args: AddArgs) -> anyhow::Result<()> {
    let rules = RuleOverrides {
        daily_cap: args.daily_cap,
        min_gap_seconds: args.min_gap_seconds,
        jitter_seconds: args.jitter_seconds,
        quiet_hours: args.quiet_hours,
        timezone: args.timezone,
        warmup_start: args.warmup_start,
        warmup_step: args.warmup_step,
    };
    let settings = ChannelSettings {
        base_url: args.base_url,
        api_version: args.api_version,
        ig_user_id: args.ig_user_id,
        bridge_url: args.bridge_url,
        human_agent: args.human_agent.then_some(true),
        disclosure: None,
        notify_with_text: None,
    };
    let sealed = |default_env: &str| -> anyhow::Result<Vec<u8>> {
        let env = args.secret_env.as_deref().unwrap_or(default_env);
        let secret = std::env::var(env)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .with_context(|| format!("the credential is read from ${env}, which is not set"))?;
        Ok(SecretKey::from_env()?.seal(secret.trim().as_bytes()))
    };
    let sealed_credentials = match args.channel {
        ChannelKind::Sandbox => None,
        ChannelKind::Instagram => {
            anyhow::ensure!(
                settings.ig_user_id.is_some(),
                "an Instagram account needs --ig-user-id"
            );
            Some(sealed("INSTAGRAM_ACCESS_TOKEN")?)
        }
        ChannelKind::Bridge => {
            let url = settings
                .bridge_url
                .as_deref()
                .context("a bridge account needs --bridge-url")?;
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "--bridge-url {url:?} is not an http(s) URL"
            );
            Some(sealed("OUTREACH_BRIDGE_SECRET")?)
        }
    };
    let new = NewAccount {
        name: &args.name,
        channel: args.channel,
        rules,
        ai_model: args.model,
        settings,
        sealed_credentials,
    };
    let id = app.db.write(|tx| {
        let id = store::accounts::add(tx, &new, app.now())?;
        // Rules are checked now, not at the first send.
        let account = store::accounts::get(tx, id)?.context("account vanished")?;
        account.sending_rules(&app.config.sending, app.now())?;
        Ok(id)
    })?;
    println!(
        "added account {} (#{id}, {})",
        args.name,
        args.channel.as_str()
    );
    // Webhook messages that came for this Instagram account before it was set up here.
    let routed = crate::engine::ingest::route_unrouted(&app.db, &app.config.consent, app.now())
        .context(
            "the account is added, but the webhook messages kept for it could not be \
                 routed to it (`outreach serve` tries again when it starts)",
        )?;
    for r in routed {
        println!(
            "routed {} webhook message(s) kept for Instagram account {} to account {}; \
             `outreach run --until-idle` processes them",
            r.messages,
            super::output::safe(&r.ig_user_id),
            super::output::safe(&r.account)
        );
    }
    Ok(())
}
