//! The `outreach` command line: argument parsing, opening the database and config, and one
//! submodule per command group. Errors are printed with their whole context chain and exit
//! with status 1.

mod accounts;
mod call;
mod console;
mod data;
mod demo;
mod doctor;
mod human;
mod leads;
mod lifecycle;
mod output;
mod plugin_args;
mod plugin_list;
mod plugins;
mod scaffold;
mod serve;
mod shadow;
mod stats;
mod work;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::ai::AiProvider;
use crate::clock::{Clock, ManualClock, Millis, SystemClock};
use crate::config::Config;
use crate::domain::account::DEFAULT_ACCOUNT;
use crate::engine::{Engine, Executor, ingest};
use crate::runtime::Runtime;
use crate::runtime::host::HostServices;
use crate::store::cipher::{DbKey, KeyError};
use crate::store::{self, Db};

/// Automate lead outreach over direct messages with sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "outreach", version, propagate_version = true)]
pub struct Cli {
    /// The SQLite database file, or `postgres://user@host/database` for PostgreSQL (its
    /// password from PGPASSWORD; OUTREACH_DATABASE_URL may give the whole URL instead).
    #[arg(
        long,
        global = true,
        env = "OUTREACH_DB",
        default_value = "outreach.db"
    )]
    db: PathBuf,
    /// The config file [default: outreach.toml, if it exists].
    #[arg(long, global = true, env = "OUTREACH_CONFIG")]
    config: Option<PathBuf>,
    /// Pretend it is this time (RFC 3339, e.g. 2026-11-26T09:00:00Z): for trying schedules and for tests.
    #[arg(long, global = true, env = "OUTREACH_NOW", value_parser = crate::clock::parse_rfc3339)]
    now: Option<Millis>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database (and bring an existing one's schema up to date).
    Init,
    /// Try everything on a fresh database: sample leads, bundled plugins, sandbox messages.
    Demo,
    /// Import, list, show, block and forget leads.
    #[command(subcommand)]
    Leads(leads::LeadsCommand),
    /// Install plugins and decide what they may do.
    #[command(subcommand)]
    Plugin(plugins::PluginCommand),
    /// Receive messages on the sandbox channel.
    #[command(subcommand)]
    Inbox(work::InboxCommand),
    /// Process events, follow-ups and the outbox.
    Run(work::RunArgs),
    /// Show events and what each plugin did with them.
    Events(work::EventsArgs),
    /// Show conversations.
    #[command(subcommand)]
    Conversations(work::ConversationsCommand),
    /// The funnel, reply rates per follow-up step, and sends per account and day.
    Stats(stats::StatsArgs),
    /// Show the audit log of plugin access to lead data and sends.
    Audit(work::AuditArgs),
    /// Export everything (leads, conversations, plugins, grants, accounts, audit) as JSON.
    Export(data::ExportArgs),
    /// Delete data: what the [retention] settings say is old enough, or everything (--all).
    Purge(data::PurgeArgs),
    /// Encrypt, re-key or decrypt the database file, or say whether it is encrypted.
    #[command(subcommand)]
    Db(data::DbCommand),
    /// Add, list, pause and resume the accounts messages go out through.
    #[command(subcommand)]
    Account(accounts::AccountCommand),
    /// Receive Instagram webhooks and run the engine, as a service.
    Serve(serve::ServeArgs),
    /// Manage who may log in to the web console that `serve` offers under /console.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// Check the setup: config, accounts and their tokens, the AI provider, webhook secrets.
    Doctor(doctor::DoctorArgs),
}

/// What every command works with. The wasm runtime is started only by commands that run
/// plugins.
pub struct App {
    db: Db,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    services: OnceLock<Arc<HostServices>>,
    runtime: OnceLock<Arc<Runtime>>,
    /// Held while this process runs the engine.
    engine_lock: OnceLock<store::EngineLock>,
}

impl App {
    fn open(cli: &Cli) -> anyhow::Result<Self> {
        let config = match &cli.config {
            Some(path) => Config::load(path, true)?,
            None => Config::load(Path::new("outreach.toml"), false)?,
        };
        let clock: Arc<dyn Clock> = match cli.now {
            Some(now) => Arc::new(ManualClock::new(now)),
            None => Arc::new(SystemClock),
        };
        let key = DbKey::from_env()?;
        if let Some(url) = postgres_url(cli)? {
            return Ok(Self::with(Db::open_postgres(&url)?, config, clock));
        }
        // A file this user may only read still serves the commands that only look.
        let db = Db::open(&cli.db, key.as_ref()).or_else(|error| {
            let key_problem = error.downcast_ref::<KeyError>().is_some();
            match Db::open_read_only(&cli.db, key.as_ref()) {
                Ok(db) if cli.db.exists() && !key_problem => Ok(db),
                _ => Err(error),
            }
        })?;
        Ok(Self::with(db, config, clock))
    }

    fn with(db: Db, config: Config, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            config: Arc::new(config),
            clock,
            services: OnceLock::new(),
            runtime: OnceLock::new(),
            engine_lock: OnceLock::new(),
        }
    }

    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn services(&self) -> Arc<HostServices> {
        self.services
            .get_or_init(|| {
                Arc::new(HostServices {
                    db: self.db.clone(),
                    clock: self.clock.clone(),
                    ai: AiProvider::from_config(&self.config.ai, |name| std::env::var(name).ok()),
                    config: self.config.clone(),
                })
            })
            .clone()
    }

    fn runtime(&self) -> anyhow::Result<Arc<Runtime>> {
        if let Some(runtime) = self.runtime.get() {
            return Ok(runtime.clone());
        }
        // Beside the SQLite file; for PostgreSQL, in the worker's own folder.
        let cache = self
            .db
            .path()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .join(".outreach-cache");
        let runtime = Arc::new(Runtime::new(&self.config.limits, Some(cache))?);
        Ok(self.runtime.get_or_init(|| runtime).clone())
    }

    /// A message from `handle` on the sandbox channel, sent at `at`.
    fn receive_sandbox_message(
        &self,
        handle: &str,
        text: &str,
        at: Millis,
    ) -> anyhow::Result<ingest::Received> {
        let message = ingest::InboundMessage {
            account: DEFAULT_ACCOUNT,
            from: ingest::Sender::Handle(handle),
            text,
            at,
            source: "sandbox",
            dedupe_key: None,
            origin: None,
            comment: None,
        };
        ingest::inbound(&self.db, &self.config.consent, &message, self.now())
    }

    /// The engine, for this process alone: two engines on one database would both pick the
    /// same due events and outbox rows. The lock is released when the process exits.
    fn engine(&self) -> anyhow::Result<Engine> {
        let _ = self.engine_lock.set(self.db.hold_engine_lock()?);
        Engine::new(self.services(), Executor::Wasm(self.runtime()?))
    }
}

/// The PostgreSQL database to use, if any: `--db postgres://…` (or `OUTREACH_DB`), or
/// `OUTREACH_DATABASE_URL`. A password in the URL is refused: it would show in the process
/// list and shell history; it comes from `PGPASSWORD`.
pub(crate) fn postgres_url(cli: &Cli) -> anyhow::Result<Option<String>> {
    let given = cli
        .db
        .to_str()
        .filter(|db| db.starts_with("postgres://") || db.starts_with("postgresql://"));
    let url = match given {
        Some(url) => {
            anyhow::ensure!(
                !store::sql::has_password(url)?,
                "--db and OUTREACH_DB must not hold the PostgreSQL password (a process list shows it): set PGPASSWORD, or give the whole URL in OUTREACH_DATABASE_URL"
            );
            url.to_owned()
        }
        None => match std::env::var("OUTREACH_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => return Ok(None),
        },
    };
    Ok(Some(url))
}

pub fn main() -> ExitCode {
    quiet_on_closed_output();
    let cli = Cli::parse();
    init_logging();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote stored text (names, reasons, plugin output): escape what could act
            // on the terminal, keeping the line breaks of the host's own multi-line messages.
            eprintln!(
                "error: {}",
                format!("{e:#}")
                    .split('\n')
                    .map(crate::text::terminal_safe)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            ExitCode::FAILURE
        }
    }
}

/// `outreach events | head` closes the pipe early. Rust ignores SIGPIPE, so the next
/// `println!` panics ("failed printing to stdout: Broken pipe") with a backtrace; end
/// quietly instead, with the status a shell gives a process SIGPIPE ended (128 + 13).
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OUTREACH_LOG")
        // async-openai logs unreadable response bodies in full at error level; our own
        // messages about provider failures say what matters without them.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,async_openai=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Demo) {
        return demo::run(&cli).await;
    }
    // Writing a plugin project needs no database: none is created where it is run.
    let cli = match cli {
        Cli {
            command: Command::Plugin(plugins::PluginCommand::New(args)),
            ..
        } => return scaffold::new(args),
        Cli {
            command: Command::Db(cmd),
            db,
            ..
        } => return data::db(&db, cmd),
        cli => cli,
    };
    let app = App::open(&cli)?;
    match cli.command {
        Command::Init => {
            println!(
                "database ready: {} ({})",
                app.db.location(),
                data::encryption_state(&app.db)
            );
            Ok(())
        }
        Command::Demo => unreachable!("handled above"),
        Command::Leads(cmd) => leads::run(&app, cmd),
        Command::Plugin(cmd) => plugins::run(&app, cmd).await,
        Command::Inbox(cmd) => work::inbox(&app, cmd),
        Command::Run(args) => work::run(&app, args).await,
        Command::Events(args) => work::events(&app, args),
        Command::Conversations(cmd) => work::conversations(&app, cmd),
        Command::Audit(args) => work::audit(&app, args),
        Command::Stats(args) => stats::run(&app, args),
        Command::Export(args) => data::export(&app, args),
        Command::Purge(args) => data::purge(&app, args),
        Command::Db(_) => unreachable!("handled above"),
        Command::Account(cmd) => accounts::run(&app, cmd).await,
        Command::Serve(args) => serve::run(&app, args).await,
        Command::Console(cmd) => console::run(&app, cmd),
        Command::Doctor(args) => doctor::run(&app, args).await,
    }
}
