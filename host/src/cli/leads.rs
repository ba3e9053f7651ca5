//! `outreach leads …`

use std::path::PathBuf;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::App;
use super::output::{json, or_dash, safe, table};
use crate::leads::LeadStatus;
use crate::leads::import::{ImportOptions, import_file};
use crate::store::{self, leads::LeadFilter};

#[derive(Debug, Subcommand)]
pub enum LeadsCommand {
    /// Import leads from a CSV file (header row; handle, name, email, phone, tags, notes, any other column).
    Import {
        file: PathBuf,
        /// Import nothing if any row is rejected.
        #[arg(long)]
        strict: bool,
        /// The account new leads belong to.
        #[arg(long, default_value = "default")]
        account: String,
        #[arg(long)]
        json: bool,
    },
    /// List leads.
    List {
        #[arg(long, value_parser = clap::value_parser!(String))]
        status: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one lead with everything known about them.
    Show {
        handle: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark a lead do-not-contact: nothing is ever sent to them again.
    Block {
        handle: String,
        #[arg(long, default_value = "blocked by the user")]
        reason: String,
    },
    /// Erase a lead and everything about them (messages, outbox, events, plugin storage).
    Forget { handle: String },
}

pub fn run(app: &App, cmd: LeadsCommand) -> anyhow::Result<()> {
    match cmd {
        LeadsCommand::Import {
            file,
            strict,
            account,
            json: as_json,
        } => {
            let account = app.db.read(|c| store::accounts::require(c, &account))?;
            let source = file.display().to_string();
            let options = ImportOptions {
                source: &source,
                account: account.id,
                strict,
            };
            import(app, &options, as_json)
        }
        LeadsCommand::List {
            status,
            tag,
            json: as_json,
        } => {
            let status = status
                .map(|s| s.parse::<LeadStatus>())
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let filter = LeadFilter {
                status,
                tag,
                ..Default::default()
            };
            let leads = app.db.read(|c| store::leads::list(c, &filter))?;
            if as_json {
                return json(&leads);
            }
            let rows: Vec<Vec<String>> = leads
                .iter()
                .map(|l| {
                    vec![
                        format!("@{}", l.handle),
                        or_dash(l.name.as_ref()),
                        l.status.to_string(),
                        or_dash(l.score),
                        l.tags.join(","),
                    ]
                })
                .collect();
            table(&["HANDLE", "NAME", "STATUS", "SCORE", "TAGS"], &rows);
            Ok(())
        }
        LeadsCommand::Show {
            handle,
            json: as_json,
        } => show(app, &handle, as_json),
        LeadsCommand::Block { handle, reason } => {
            let lead = app.db.read(|c| store::leads::require_handle(c, &handle))?;
            app.db
                .write(|tx| store::leads::mark_do_not_contact(tx, lead.id, &reason, app.now()))?;
            println!(
                "@{} is do-not-contact: queued messages blocked, follow-ups stopped",
                safe(&lead.handle)
            );
            Ok(())
        }
        LeadsCommand::Forget { handle } => {
            let lead = app.db.read(|c| store::leads::require_handle(c, &handle))?;
            app.db
                .write(|tx| store::leads::forget(tx, &lead, app.now()))?;
            println!(
                "forgot @{}: lead, messages, outbox, events, follow-ups and plugin storage erased; audit rows kept without the lead",
                safe(&lead.handle)
            );
            Ok(())
        }
    }
}

fn import(app: &App, options: &ImportOptions<'_>, as_json: bool) -> anyhow::Result<()> {
    let bar = ProgressBar::hidden();
    let report = import_file(&app.db, options, app.now(), |done, total| {
        // Only a large file is worth a bar; indicatif draws nothing when stderr is not a terminal.
        if done == 1 && total >= 1000 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} leads")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if as_json {
        return json(&report);
    }
    for reject in &report.rejected {
        eprintln!(
            "{}:{}: rejected: {}",
            safe(options.source),
            reject.line,
            safe(&reject.reason)
        );
    }
    println!(
        "imported {}, merged {}, rejected {}",
        report.imported,
        report.merged,
        report.rejected.len()
    );
    Ok(())
}

#[derive(Serialize)]
struct LeadDetail {
    lead: crate::leads::Lead,
    messages: Vec<store::messages::Message>,
    outbox: Vec<store::outbox::OutboxRow>,
    follow_ups: Vec<store::schedules::Schedule>,
}

fn show(app: &App, handle: &str, as_json: bool) -> anyhow::Result<()> {
    let detail = app.db.read(|c| {
        let lead = store::leads::require_handle(c, handle)?;
        Ok(LeadDetail {
            messages: store::messages::recent(c, lead.id, u32::MAX)?,
            outbox: store::outbox::for_lead(c, lead.id)?,
            follow_ups: store::schedules::for_lead(c, lead.id)?,
            lead,
        })
    })?;
    if as_json {
        return json(&detail);
    }
    let l = &detail.lead;
    println!("@{} ({})", safe(&l.handle), or_dash(l.name.as_ref()));
    println!(
        "  status   {}{}",
        l.status,
        l.dnc_reason
            .as_ref()
            .map(|r| format!(" ({})", safe(r)))
            .unwrap_or_default()
    );
    println!("  score    {}", or_dash(l.score));
    println!("  tags     {}", safe(&l.tags.join(", ")));
    println!("  email    {}", or_dash(l.email.as_ref()));
    println!("  phone    {}", or_dash(l.phone.as_ref()));
    println!("  notes    {}", or_dash(l.notes.as_ref()));
    for (k, v) in &l.custom {
        println!("  {}: {}", safe(k), safe(v));
    }
    println!("  messages {}", detail.messages.len());
    for s in &detail.follow_ups {
        println!(
            "  follow-up {}: step {}, {} (due {}){}",
            safe(&s.plugin),
            s.step,
            safe(&s.state),
            crate::clock::format(s.due_at),
            s.reason
                .as_ref()
                .map(|r| format!(": {}", safe(r)))
                .unwrap_or_default()
        );
    }
    for o in detail.outbox.iter().filter(|o| o.status != "sent") {
        println!(
            "  outbox #{} {} {}",
            o.id,
            safe(&o.status),
            or_dash(o.detail.as_ref())
        );
    }
    Ok(())
}
