//! The day-to-day commands: receiving sandbox messages, running the engine, and looking at
//! events, conversations, the audit log and exports.

use clap::{Args, Subcommand};

use super::App;
use super::data::OPERATOR;
use super::output::{self, json, or_dash, safe, table};
use crate::clock::{Millis, format};
use crate::domain::handle::normalize_handle;
use crate::operator::admin;
use crate::store::{self, audit::AuditFilter};

#[derive(Debug, Subcommand)]
pub enum InboxCommand {
    /// Receive a message from HANDLE on the sandbox channel (a new handle becomes a lead).
    Push {
        handle: String,
        text: String,
        /// When it was sent (RFC 3339) [default: now].
        #[arg(long, value_parser = crate::clock::parse_rfc3339)]
        at: Option<Millis>,
    },
}

pub fn inbox(app: &App, cmd: InboxCommand) -> anyhow::Result<()> {
    let InboxCommand::Push { handle, text, at } = cmd;
    let handle =
        normalize_handle(&handle).map_err(|reason| anyhow::anyhow!("invalid handle: {reason}"))?;
    anyhow::ensure!(!text.trim().is_empty(), "the message text is empty");
    let received = app.receive_sandbox_message(&handle, &text, at.unwrap_or(app.now()))?;
    let event = received
        .event_id
        .map_or_else(|| "-".into(), |id| format!("#{id}"));
    let handle = safe(&handle);
    if received.opted_out {
        println!(
            "received from @{handle} (event {event}): opt-out — @{handle} is now do-not-contact"
        );
    } else {
        println!(
            "received from @{handle} (event {event}); `outreach run --until-idle` processes it"
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stop when nothing more is due now, instead of running as a service.
    #[arg(long)]
    until_idle: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(app: &App, args: RunArgs) -> anyhow::Result<()> {
    let engine = app.engine()?;
    if !args.until_idle {
        eprintln!("outreach is running (Ctrl-C stops it)");
        return engine.run_forever().await;
    }
    // A big backlog takes a while: on a terminal, a line of totals and rates as it goes.
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed} {msg}",
    )?);
    let started = std::time::Instant::now();
    let stats = engine
        .run_until_idle_reporting(|stats| {
            let seconds = started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} events ({:.0}/s), {} hook calls ({:.0}/s), {} sent ({:.0}/s); {} in flight, {} waiting on the AI provider",
                stats.events,
                f64::from(stats.events) / seconds,
                stats.hook_calls,
                f64::from(stats.hook_calls) / seconds,
                stats.sent,
                f64::from(stats.sent) / seconds,
                stats.in_flight,
                stats.ai_in_flight,
            ));
            bar.tick();
        })
        .await;
    bar.finish_and_clear();
    let stats = stats?;
    if args.json {
        return json(&stats);
    }
    let queued = app.db.read(store::outbox::queued_count)?;
    println!(
        "processed {} event(s): {} hook call(s), {} failed, {} parked; sent {} message(s); {} waiting in the outbox",
        stats.events, stats.hook_calls, stats.hook_failures, stats.parked, stats.sent, queued
    );
    Ok(())
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    action: Option<EventsAction>,
    /// Only events a plugin failed on (retrying or parked).
    #[arg(long)]
    failed: bool,
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum EventsAction {
    /// Queue an event again for every plugin, as after a crash (sends stay at most once).
    Replay { id: i64 },
}

pub fn events(app: &App, args: EventsArgs) -> anyhow::Result<()> {
    if let Some(EventsAction::Replay { id }) = args.action {
        let found = admin::replay(&app.db, OPERATOR, id, app.now())?;
        anyhow::ensure!(found, "no event #{id}");
        println!("event #{id} queued again; `outreach run --until-idle` processes it");
        return Ok(());
    }
    let events = app.db.read(|c| {
        let filter = store::events::EventFilter {
            failed_only: args.failed,
            limit: args.limit,
            ..Default::default()
        };
        store::events::list(c, &filter)
    })?;
    // Webhook messages no account here could take: failures too, though not a plugin's.
    let unrouted = if args.failed {
        unrouted_webhooks(app)?
    } else {
        Vec::new()
    };
    if args.json {
        // stdout stays the events' JSON; the note goes where a person still sees it.
        for line in &unrouted {
            eprintln!("{line}");
        }
        return json(&events);
    }
    if events.is_empty() {
        println!(
            "{}",
            if args.failed {
                "no failed events"
            } else {
                "no events"
            }
        );
    }
    for e in &events {
        println!(
            "#{} {} @{} {} ({})",
            e.id,
            e.shown_kind(),
            safe(&e.lead),
            safe(&e.status),
            format(e.created_at)
        );
        for r in &e.results {
            let what = r.outcome.as_deref().or(r.error.as_deref()).unwrap_or("");
            let status = match r.status {
                store::events::ResultStatus::Done => "done".to_string(),
                store::events::ResultStatus::Retry => format!("failed {}x, will retry", r.attempts),
                store::events::ResultStatus::Parked => {
                    format!("PARKED after {} attempts", r.attempts)
                }
            };
            let cost = r
                .cost
                .as_ref()
                .map_or(String::new(), |c| format!(" [{}]", output::call_cost(c)));
            println!("    {:<12} {status}: {}{cost}", safe(&r.plugin), safe(what));
        }
    }
    for line in &unrouted {
        println!("{line}");
    }
    Ok(())
}

/// One line per Instagram account id whose webhook messages wait in the database because
/// no account here had that id when they came.
fn unrouted_webhooks(app: &App) -> anyhow::Result<Vec<String>> {
    let waiting = app.db.read(store::unrouted::waiting)?;
    Ok(waiting
        .iter()
        .map(|w| {
            let id = safe(&w.ig_user_id);
            match &w.account {
                Some(name) => format!(
                    "{} webhook message(s) for Instagram account {id} wait for account {} \
                     (`outreach serve` routes them when it starts)",
                    w.messages,
                    safe(name)
                ),
                None => format!(
                    "{} webhook message(s) for Instagram account {id} that is not set up here \
                     (first {}) — add the account to route them: \
                     `outreach account add NAME --channel instagram --ig-user-id {id}`",
                    w.messages,
                    format(w.first_received_at)
                ),
            }
        })
        .collect())
}

#[derive(Debug, Subcommand)]
pub enum ConversationsCommand {
    /// Every message with a lead, oldest first.
    Show {
        handle: String,
        #[arg(long)]
        json: bool,
    },
    /// Reply to a lead yourself: through the outbox, under the same rules as plugins
    /// (do-not-contact, the messaging window, the account's safety rules).
    Reply { handle: String, text: String },
}

pub fn conversations(app: &App, cmd: ConversationsCommand) -> anyhow::Result<()> {
    let (handle, as_json) = match cmd {
        ConversationsCommand::Show { handle, json } => (handle, json),
        ConversationsCommand::Reply { handle, text } => {
            return super::human::reply(app, &handle, &text);
        }
    };
    let (lead, messages) = app.db.read(|c| {
        let lead = store::leads::require_handle(c, &handle)?;
        let messages = store::messages::recent(c, lead.id, u32::MAX)?;
        Ok((lead, messages))
    })?;
    if as_json {
        return json(&messages);
    }
    print_conversation(&lead, &messages);
    Ok(())
}

pub fn print_conversation(lead: &crate::domain::lead::Lead, messages: &[store::messages::Message]) {
    let handle = safe(&lead.handle);
    println!("@{handle} — {}", lead.status);
    for m in messages {
        let (arrow, who) = match m.direction {
            store::messages::Direction::Inbound
                if m.source == store::messages::INSTAGRAM_COMMENT =>
            {
                ("<", format!("@{handle}, a comment"))
            }
            store::messages::Direction::Inbound => ("<", format!("@{handle}")),
            store::messages::Direction::Outbound if m.source == store::messages::INSTAGRAM_APP => {
                (">", "sent from Instagram".to_owned())
            }
            store::messages::Direction::Outbound
                if m.source == store::messages::INSTAGRAM_PUBLIC_REPLY =>
            {
                (">", "answered publicly under the comment".to_owned())
            }
            store::messages::Direction::Outbound => (">", safe(&m.source).into_owned()),
        };
        println!("  {} {arrow} {who}: {}", format(m.at), safe(&m.text));
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[arg(long)]
    plugin: Option<String>,
    /// Only entries about this lead.
    #[arg(long)]
    lead: Option<String>,
    /// Only this action (`leads.read`, `plugins.revoke`, …).
    #[arg(long)]
    action: Option<String>,
    /// Only denied calls.
    #[arg(long)]
    denied: bool,
    /// Counts per plugin and action instead of entries.
    #[arg(long)]
    summary: bool,
    #[arg(long, default_value_t = 200)]
    limit: u32,
    #[arg(long)]
    json: bool,
}

pub fn audit(app: &App, args: AuditArgs) -> anyhow::Result<()> {
    if args.summary {
        let counts = app.db.read(store::audit::summary)?;
        if args.json {
            return json(&counts);
        }
        print_audit_summary(&counts);
        return Ok(());
    }
    let lead_id = match &args.lead {
        Some(handle) => Some(app.db.read(|c| store::leads::require_handle(c, handle))?.id),
        None => None,
    };
    let filter = AuditFilter {
        plugin: args.plugin,
        lead_id,
        action: args.action,
        denied_only: args.denied,
        limit: args.limit,
    };
    let rows = app.db.read(|c| store::audit::list(c, &filter))?;
    if args.json {
        return json(&rows);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                format(r.at),
                r.plugin.clone(),
                r.action.clone(),
                or_dash(r.permission.as_ref()),
                r.lead
                    .as_ref()
                    .map_or_else(|| "-".into(), |h| format!("@{h}")),
                if r.allowed { "allowed" } else { "DENIED" }.into(),
                or_dash(r.detail.as_ref()),
            ]
        })
        .collect();
    table(
        &[
            "TIME",
            "PLUGIN",
            "ACTION",
            "PERMISSION",
            "LEAD",
            "DECISION",
            "DETAIL",
        ],
        &rows,
    );
    Ok(())
}

pub fn print_audit_summary(counts: &[store::audit::AuditCount]) {
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|c| {
            vec![
                c.plugin.clone(),
                c.action.clone(),
                if c.allowed { "allowed" } else { "DENIED" }.into(),
                c.count.to_string(),
            ]
        })
        .collect();
    table(&["PLUGIN", "ACTION", "DECISION", "COUNT"], &rows);
}
