//! `outreach leads …`

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::App;
use super::data::OPERATOR;
use super::output::{json, or_dash, safe, table};
use crate::domain::lead::LeadStatus;
use crate::leads::csv_import::Reject;
use crate::leads::import::{
    DEFAULT_BATCH_ROWS, ImportOptions, Observer, Phase, Progress, Settings, import_file,
};
use crate::operator::admin;
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
        /// Rows stored per transaction.
        #[arg(long, hide = true, default_value_t = DEFAULT_BATCH_ROWS as u32,
              value_parser = clap::value_parser!(u32).range(1..))]
        batch_rows: u32,
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
    /// Hand a lead that automation handed to a person back to automation.
    Resume { handle: String },
    /// Mark a lead converted: their follow-ups stop.
    Convert { handle: String },
    /// Everything held about one person, as JSON: fields, tags, messages, events, consent,
    /// every plugin's storage about them and the audit rows naming them (a data-subject
    /// access request).
    Export {
        handle: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

pub fn run(app: &App, cmd: LeadsCommand) -> anyhow::Result<()> {
    match cmd {
        LeadsCommand::Import {
            file,
            strict,
            account,
            json: as_json,
            batch_rows,
        } => {
            let account = app.db.read(|c| store::accounts::require(c, &account))?;
            let source = file.display().to_string();
            let options = ImportOptions {
                source: &source,
                account: account.id,
                strict,
            };
            let settings = Settings {
                batch_rows: batch_rows as usize,
                // Printed as they are found instead, unless the output is JSON.
                keep_rejects: as_json,
            };
            import(app, &options, &settings, as_json)
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
            let lead = crate::operator::block(&app.db, OPERATOR, &handle, &reason, app.now())?;
            println!(
                "@{} is do-not-contact: queued messages blocked, follow-ups stopped",
                safe(&lead.handle)
            );
            Ok(())
        }
        LeadsCommand::Resume { handle } => super::human::resume(app, &handle),
        LeadsCommand::Convert { handle } => super::human::convert(app, &handle),
        LeadsCommand::Export { handle, out } => super::data::export_lead(app, &handle, out),
        LeadsCommand::Forget { handle } => {
            let handle = admin::forget(&app.db, OPERATOR, &handle, app.now())?;
            println!(
                "forgot @{}: lead, messages, outbox, events, follow-ups and plugin storage erased; audit rows kept without the lead",
                safe(&handle)
            );
            Ok(())
        }
    }
}

fn import(
    app: &App,
    options: &ImportOptions<'_>,
    settings: &Settings,
    as_json: bool,
) -> anyhow::Result<()> {
    // With --strict the error lists the rejected rows; JSON output has them.
    let mut watch = ImportWatch::new(options.source, !as_json && !options.strict);
    let report = import_file(&app.db, options, settings, app.now(), &mut watch);
    watch.finish();
    let report = report?;
    if as_json {
        return json(&report);
    }
    println!(
        "imported {}, merged {}, rejected {}",
        report.imported, report.merged, report.rejected_count
    );
    Ok(())
}

/// Shows an import's progress on a terminal (stderr) and prints rejected rows as they come.
struct ImportWatch<'a> {
    source: &'a str,
    print_rejects: bool,
    /// Whether stderr is a terminal: no bar otherwise.
    terminal: bool,
    /// The bar of the phase under way, once it is worth one, and when that phase started.
    bar: Option<(Phase, ProgressBar)>,
    started: (Phase, Instant),
}

impl ImportWatch<'_> {
    /// Only an import that takes a while is worth a bar.
    const BAR_AFTER: std::time::Duration = std::time::Duration::from_millis(200);

    fn new<'a>(source: &'a str, print_rejects: bool) -> ImportWatch<'a> {
        ImportWatch {
            source,
            print_rejects,
            terminal: std::io::stderr().is_terminal(),
            bar: None,
            started: (Phase::default(), Instant::now()),
        }
    }

    /// Leaves the last state drawn: the import's summary on the terminal.
    fn finish(&self) {
        if let Some((_, bar)) = &self.bar {
            bar.finish();
        }
    }

    fn bar(phase: Phase, total_bytes: Option<u64>) -> ProgressBar {
        let (template, bar) = match total_bytes {
            Some(total) => (
                "{prefix:>9} {bar:30} {binary_bytes}/{binary_total_bytes} {msg}",
                ProgressBar::new(total),
            ),
            None => (
                "{prefix:>9} {spinner} {binary_bytes} {msg}",
                ProgressBar::new_spinner(),
            ),
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(match phase {
            Phase::Checking => "checking",
            Phase::Importing => "importing",
        });
        bar
    }
}

impl Observer for ImportWatch<'_> {
    fn progress(&mut self, progress: &Progress) {
        if !self.terminal {
            return;
        }
        if self.started.0 != progress.phase {
            self.started = (progress.phase, Instant::now());
        }
        let elapsed = self.started.1.elapsed();
        if self
            .bar
            .as_ref()
            .is_none_or(|(phase, _)| *phase != progress.phase)
        {
            if self.bar.is_none() && elapsed < Self::BAR_AFTER {
                return;
            }
            self.finish();
            let bar = Self::bar(progress.phase, progress.total_bytes);
            self.bar = Some((progress.phase, bar));
        }
        let Some((_, bar)) = &self.bar else { return };
        bar.set_position(progress.bytes);
        bar.set_message(format!(
            "{} rows, {:.0} rows/s, {} rejected",
            progress.rows,
            progress.rows as f64 / elapsed.as_secs_f64().max(1e-3),
            progress.rejected
        ));
    }

    fn reject(&mut self, reject: &Reject) {
        if !self.print_rejects {
            return;
        }
        let print = || {
            eprintln!(
                "{}:{}: rejected: {}",
                safe(self.source),
                reject.line,
                safe(&reject.reason)
            );
        };
        match &self.bar {
            Some((_, bar)) => bar.suspend(print),
            None => print(),
        }
    }
}

#[derive(Serialize)]
struct LeadDetail {
    lead: crate::domain::lead::Lead,
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
