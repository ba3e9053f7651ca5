//! Your data: encrypting the database file (`db`), exporting everything or one person's
//! record (`export`, `leads export`), and deleting by age or all at once (`purge`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::App;
use super::output::safe;
use crate::clock::format;
use crate::store::cipher::{self, DbKey};
use crate::store::{self, Db, audit::AuditFilter};

/// Who the audit (and a conversation) names for what a person did through the CLI. The
/// colon keeps it apart from every plugin name (letters, digits and dashes).
pub const OPERATOR: &str = "operator:cli";

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Say whether the database file is encrypted.
    Status,
    /// Encrypt a plain database with the key in OUTREACH_DB_KEY.
    Encrypt,
    /// Re-encrypt from the key in OUTREACH_DB_KEY to the key in OUTREACH_DB_NEW_KEY.
    Rekey,
    /// Turn an encrypted database (key in OUTREACH_DB_KEY) back into a plain one.
    Decrypt,
    /// Copy everything into an empty PostgreSQL database (a `postgres://user@host/db` URL or
    /// `host=… dbname=…`; the password from PGPASSWORD), then check every table's row count.
    /// The file is left as it was.
    MigrateTo {
        /// The PostgreSQL database to copy into.
        url: String,
    },
}

/// `outreach db …`. Runs without opening the database the usual way: the file may not
/// (yet) match the key in the environment.
pub fn db(path: &Path, cmd: DbCommand) -> anyhow::Result<()> {
    let shown = path.display();
    if let DbCommand::MigrateTo { url } = &cmd {
        return migrate_to(path, url);
    }
    if let DbCommand::Status = cmd {
        anyhow::ensure!(path.is_file(), "{shown} does not exist");
        let encrypted =
            cipher::is_encrypted(path).with_context(|| format!("cannot read {shown}"))?;
        println!(
            "{shown}: {}",
            if encrypted {
                "encrypted"
            } else {
                "not encrypted"
            }
        );
        return Ok(());
    }
    anyhow::ensure!(path.is_file(), "{shown} does not exist");
    let encrypted = cipher::is_encrypted(path).with_context(|| format!("cannot read {shown}"))?;
    let required = |name: &'static str, why: &str| -> anyhow::Result<DbKey> {
        DbKey::from_var(name)?.with_context(|| format!("set {name} to {why}"))
    };
    let (from, to, done) = match cmd {
        DbCommand::Status | DbCommand::MigrateTo { .. } => unreachable!("handled above"),
        DbCommand::Encrypt => {
            anyhow::ensure!(!encrypted, "{shown} is already encrypted");
            let key = required(cipher::KEY_ENV, "the key to encrypt it with")?;
            (None, Some(key), "encrypted")
        }
        DbCommand::Rekey => {
            anyhow::ensure!(
                encrypted,
                "{shown} is not encrypted; use `outreach db encrypt`"
            );
            let from = required(cipher::KEY_ENV, "its current key")?;
            let to = required(cipher::NEW_KEY_ENV, "the new key")?;
            (Some(from), Some(to), "re-keyed")
        }
        DbCommand::Decrypt => {
            anyhow::ensure!(encrypted, "{shown} is not encrypted");
            let key = required(cipher::KEY_ENV, "its key")?;
            (Some(key), None, "decrypted")
        }
    };
    // No engine may write to the file while it is replaced.
    let _engine = store::engine_file_lock(path)?;
    let converted = cipher::convert(path, from.as_ref(), to.as_ref())?;
    println!(
        "{done} {shown}: {} tables, {} rows copied and checked",
        converted.tables, converted.rows
    );
    match (&to, from.is_some()) {
        (Some(_), true) => println!(
            "from now on set {} to the new key (the value of {})",
            cipher::KEY_ENV,
            cipher::NEW_KEY_ENV
        ),
        (Some(_), false) => println!(
            "keep {} set: without it the file cannot be read",
            cipher::KEY_ENV
        ),
        (None, _) => println!("unset {}: the file is plain SQLite now", cipher::KEY_ENV),
    }
    Ok(())
}

/// `outreach db migrate-to URL`: the SQLite file at `path` copied into PostgreSQL.
fn migrate_to(path: &Path, url: &str) -> anyhow::Result<()> {
    anyhow::ensure!(path.is_file(), "{} does not exist", path.display());
    anyhow::ensure!(
        !store::sql::has_password(url)?,
        "the URL must not hold the PostgreSQL password (a process list shows it): set PGPASSWORD"
    );
    // No engine may change the file while it is copied.
    let _engine = store::engine_file_lock(path)?;
    let source = Db::open(path, DbKey::from_env()?.as_ref())?;
    let target = Db::open_postgres(url)?;
    let copied = store::copy::sqlite_to_postgres(&source, &target)?;
    let total: u64 = copied.rows.values().sum();
    println!(
        "copied {} to {}: {} tables, {total} rows, every table's count checked",
        path.display(),
        target.location(),
        copied.rows.len()
    );
    println!(
        "from now on give every command the database, OUTREACH_DATABASE_URL='{url}' (the file is unchanged)"
    );
    Ok(())
}

/// "encrypted" or a nudge to encrypt, for `init` and `doctor`.
pub fn encryption_state(db: &Db) -> String {
    if db.backend() == store::Backend::Postgres {
        "the PostgreSQL server's (encryption at rest is configured there)".into()
    } else if db.is_encrypted() {
        "encrypted with the key in OUTREACH_DB_KEY".into()
    } else {
        format!(
            "not encrypted: set {} and run `outreach db encrypt` to encrypt it",
            cipher::KEY_ENV
        )
    }
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Delete every lead and everything about people (plugins, grants, settings, accounts
    /// and the suppression list of opted-out handles stay).
    #[arg(long)]
    all: bool,
}

/// `outreach purge`: the retention settings applied now, or everything with `--all`. Old
/// copies of what was deleted are then cleared from the write-ahead log.
pub fn purge(app: &App, args: PurgeArgs) -> anyhow::Result<()> {
    let purged = if args.all {
        store::retention::purge_all(&app.db, app.now())?
    } else {
        let settings = &app.config.retention;
        anyhow::ensure!(
            settings.is_set(),
            "nothing is old enough to purge: outreach.toml has no [retention] settings (messages_days, events_days, audit_days, unanswered_leads_days); or delete everything with --all"
        );
        store::retention::apply(&app.db, settings, app.now())?
    };
    app.db.clear_log(crate::operator::admin::ERASURE_PATIENCE)?;
    println!("purged {}", purged.describe());
    if args.all {
        println!(
            "kept: plugins, their grants and settings, accounts, and the suppression list of opted-out handles"
        );
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Export {
    format: &'static str,
    exported_at: String,
    leads: Vec<ExportedLead>,
    plugins: Vec<ExportedPlugin>,
    /// Credentials are never part of it: only whether they are set.
    accounts: Vec<crate::domain::account::Account>,
    plugin_storage: Vec<serde_json::Value>,
    audit: Vec<store::audit::AuditRow>,
}

#[derive(Serialize)]
struct ExportedLead {
    #[serde(flatten)]
    lead: crate::domain::lead::Lead,
    messages: Vec<store::messages::Message>,
    /// The team's internal notes on them (`notes` is the lead's own imported field).
    team_notes: Vec<store::lead_notes::Note>,
}

#[derive(Serialize)]
struct ExportedPlugin {
    #[serde(flatten)]
    plugin: store::plugins::InstalledPlugin,
    settings: Vec<(String, String)>,
}

/// A machine-readable copy of everything personal and every consent decision (GDPR Art. 20
/// and Art. 30). Plugin binaries and secrets are not part of it.
pub fn export(app: &App, args: ExportArgs) -> anyhow::Result<()> {
    let export = app.db.read(|c| {
        let leads = store::leads::list(c, &Default::default())?
            .into_iter()
            .map(|lead| {
                Ok(ExportedLead {
                    messages: store::messages::recent(c, lead.id, u32::MAX)?,
                    team_notes: store::lead_notes::for_lead(c, lead.id)?,
                    lead,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let plugins = store::plugins::list(c)?
            .into_iter()
            .map(|plugin| {
                Ok(ExportedPlugin {
                    settings: store::plugins::settings(c, plugin.name())?,
                    plugin,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let audit = store::audit::list(
            c,
            &AuditFilter {
                limit: u32::MAX,
                ..Default::default()
            },
        )?;
        Ok(Export {
            format: "outreach-export/2",
            exported_at: format(app.now()),
            leads,
            plugins,
            accounts: store::accounts::list(c)?,
            plugin_storage: store::person::all_plugin_storage(c)?,
            audit,
        })
    })?;
    let summary = format!("{} leads", export.leads.len());
    write_json(&export, args.out.as_deref(), &summary)
}

/// `outreach leads export HANDLE`: one person's whole record.
pub fn export_lead(app: &App, handle: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let record = app.db.read(|c| {
        let lead = store::leads::require_handle(c, handle)?;
        store::person::record(c, lead)
    })?;
    let summary = format!("everything held about @{}", safe(&record.lead.handle));
    write_json(&record, out.as_deref(), &summary)
}

/// Writes an export, readable by this user only: it holds people's personal data.
fn write_json(value: &impl Serialize, out: Option<&Path>, summary: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let text = serde_json::to_string_pretty(value)?;
    match out {
        Some(path) => {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut file| file.write_all(text.as_bytes()))
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("exported {summary} to {}", path.display());
        }
        None => println!("{text}"),
    }
    Ok(())
}
