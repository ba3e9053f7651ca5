//! `outreach plugin …`: installing plugins and granting, revoking and configuring them.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::Subcommand;

use super::App;
use super::data::OPERATOR;
use super::output::{json, safe};
use super::plugin_args::{check_requested, load_source, names, parse_permissions};
use super::plugin_list::{inspect, list, print_manifest};
use crate::consent::Permission;
use crate::operator::{admin, lifecycle};
use crate::runtime::manifest::Manifest;
use crate::runtime::sha256_hex;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Install a plugin from a .wasm file, an OCI registry (oci://HOST/REPOSITORY:TAG) or by
    /// bundled name (ai-reply, followup, comment-to-dm, lead-scorer). It must be signed by a trusted publisher (`plugin keys`), unless
    /// --allow-unsigned. Nothing is granted unless you confirm at the prompt or pass
    /// --grant / --grant-requested. Installing a plugin that is installed already upgrades it
    /// (see `plugin upgrade`).
    Install {
        source: String,
        #[command(flatten)]
        consent: InstallConsent,
    },
    /// Replace installed plugin NAME by a new version: it keeps the grants the new version
    /// still requests, asks for each permission it newly requests (granting none silently),
    /// and keeps the version it replaces for `plugin rollback`. Calls already running finish
    /// on the version they started with.
    Upgrade {
        name: String,
        source: String,
        #[command(flatten)]
        consent: InstallConsent,
    },
    /// Return plugin NAME to the version its last upgrade replaced, with that version's grants.
    Rollback { name: String },
    /// Push a component to an OCI registry (oci://HOST/REPOSITORY:TAG) as a Wasm artifact,
    /// its signature inside it; `plugin install oci://…` fetches it back. A login, if the
    /// registry asks for one, comes from OUTREACH_REGISTRY_USERNAME and
    /// OUTREACH_REGISTRY_PASSWORD.
    Publish { file: String, reference: String },
    /// Sign a component with your publisher key (from `plugin keys new`), in place or into
    /// --output.
    Sign(super::lifecycle::SignArgs),
    /// The publisher keys whose signatures `plugin install` trusts.
    #[command(subcommand)]
    Keys(super::lifecycle::KeysCommand),
    /// Run a new version of an installed plugin over its past events in the sandbox,
    /// beside the installed one, and show where their decisions differ. Nothing is sent,
    /// nothing is written and (without --with-ai) no AI is asked.
    Shadow(super::shadow::ShadowArgs),
    /// List installed plugins.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's manifest (from a .wasm file, bundled name or installed name).
    Inspect {
        source: String,
        #[arg(long)]
        json: bool,
    },
    /// Grant permissions the plugin requests; effective from its next call.
    Grant {
        name: String,
        #[arg(required = true)]
        permissions: Vec<String>,
    },
    /// Revoke permissions (or `all`); effective from the plugin's next call.
    Revoke {
        name: String,
        #[arg(required = true)]
        permissions: Vec<String>,
    },
    /// Let a plugin receive events again.
    Enable { name: String },
    /// Stop sending events to a plugin (its grants and settings are kept).
    Disable { name: String },
    /// Uninstall a plugin with its grants, settings, storage and follow-up sequences.
    Remove { name: String },
    /// Run one hook of a plugin in the sandbox against a made-up lead, on a throwaway
    /// database: prints each host call it made, what it returned, and its time, fuel and
    /// peak memory. Exits non-zero when the hook fails.
    Call(super::call::CallArgs),
    /// Write a new plugin project in ./NAME that builds, tests and installs as written.
    New(super::scaffold::NewArgs),
    /// Show settings, or set KEY=VALUE pairs. `limits.fuel`, `limits.memory-mb` and
    /// `limits.timeout-ms` bound the plugin's calls (within the config's caps);
    /// `limits.concurrency` how many of them run at once.
    Config {
        name: String,
        /// KEY=VALUE to set.
        assignments: Vec<String>,
        /// Remove a setting (repeatable).
        #[arg(long, value_name = "KEY")]
        unset: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(app: &App, cmd: PluginCommand) -> anyhow::Result<()> {
    match cmd {
        PluginCommand::Install { source, consent } => {
            let allow_unsigned = consent.allow_unsigned;
            install(app, &source, consent.choice(), allow_unsigned, None)
                .await
                .map(|_| ())
        }
        PluginCommand::Upgrade {
            name,
            source,
            consent,
        } => {
            let allow_unsigned = consent.allow_unsigned;
            install(app, &source, consent.choice(), allow_unsigned, Some(&name))
                .await
                .map(|_| ())
        }
        PluginCommand::Rollback { name } => super::lifecycle::rollback(app, &name),
        PluginCommand::Sign(args) => super::lifecycle::sign(args),
        PluginCommand::Publish { file, reference } => {
            super::lifecycle::publish(app, &file, &reference).await
        }
        PluginCommand::Keys(cmd) => super::lifecycle::keys(app, cmd),
        PluginCommand::Shadow(args) => super::shadow::shadow(app, args).await,
        PluginCommand::List { json: as_json } => list(app, as_json),
        PluginCommand::Call(args) => super::call::call(app, args).await,
        PluginCommand::New(args) => super::scaffold::new(args),
        PluginCommand::Inspect {
            source,
            json: as_json,
        } => inspect(app, &source, as_json).await,
        PluginCommand::Grant { name, permissions } => {
            let perms = parse_permissions(&permissions)?;
            admin::grant(&app.db, OPERATOR, &name, &perms, app.now())?;
            println!("granted {} to {name}", names(&perms));
            Ok(())
        }
        PluginCommand::Revoke { name, permissions } => {
            let perms = if permissions.iter().any(|p| p == "all") {
                Permission::ALL.to_vec()
            } else {
                parse_permissions(&permissions)?
            };
            admin::revoke(&app.db, OPERATOR, &name, &perms, app.now())?;
            println!("revoked {} from {name}", names(&perms));
            Ok(())
        }
        PluginCommand::Enable { name } => toggle(app, &name, true),
        PluginCommand::Disable { name } => toggle(app, &name, false),
        PluginCommand::Remove { name } => {
            app.db.write(|tx| store::plugins::remove(tx, &name))?;
            println!("removed {name} with its grants, settings, storage and follow-up sequences");
            Ok(())
        }
        PluginCommand::Config {
            name,
            assignments,
            unset,
            json: as_json,
        } => config(app, &name, &assignments, &unset, as_json),
    }
}

/// What the user agreed to at install or upgrade.
#[derive(Debug, clap::Args)]
pub struct InstallConsent {
    /// Grant this permission (repeatable); it must be one the plugin requests.
    #[arg(long = "grant", value_name = "PERMISSION")]
    grants: Vec<String>,
    /// Grant every permission the plugin requests.
    #[arg(long, conflicts_with = "grants")]
    grant_requested: bool,
    /// Install a plugin no trusted publisher signed (one whose signature does not hold is
    /// refused all the same).
    #[arg(long)]
    allow_unsigned: bool,
}

impl InstallConsent {
    fn choice(self) -> GrantChoice {
        if self.grant_requested {
            GrantChoice::Requested
        } else if self.grants.is_empty() {
            GrantChoice::Ask
        } else {
            GrantChoice::These(self.grants)
        }
    }
}

pub enum GrantChoice {
    Requested,
    These(Vec<String>),
    /// Prompt on a terminal; grant nothing otherwise.
    Ask,
}

/// Installs a plugin (upgrading it when installed; `upgrading`: it must be, under that
/// name) and returns its manifest and the permissions it holds.
pub async fn install(
    app: &App,
    source: &str,
    choice: GrantChoice,
    allow_unsigned: bool,
    upgrading: Option<&str>,
) -> anyhow::Result<(Manifest, Vec<Permission>)> {
    let wasm = load_source(source).await?;
    // Who built it is settled before any of it runs, even in the sandbox.
    let publisher = lifecycle::check_signature(&app.db, &wasm, source, allow_unsigned)?;
    let manifest = app
        .runtime()?
        .read_manifest(&wasm, app.services())
        .await
        .with_context(|| format!("cannot install {source}"))?;
    let installed = app.db.read(|c| store::plugins::get(c, &manifest.name))?;
    if let Some(name) = upgrading {
        app.db.read(|c| store::plugins::require(c, name))?;
        anyhow::ensure!(
            manifest.name == name,
            "{source} is plugin {:?}, not {name:?}: an upgrade replaces a plugin by a version of itself",
            manifest.name
        );
    }
    print_manifest(&manifest);
    match &publisher {
        Some(p) => println!("  signed by {}", safe(p)),
        None => println!("  not signed by a trusted publisher (--allow-unsigned)"),
    }
    // An upgrade by the same publisher keeps the grants the new version still requests;
    // only what it newly requests is asked for.
    let new = lifecycle::to_ask_for(installed.as_ref(), &manifest, publisher.as_deref());
    if let Some(i) = installed.filter(|i| !store::plugins::keeps_grants(i, publisher.as_deref())) {
        println!(
            "  the installed {} was {}: its grants do not pass to this one",
            safe(&i.manifest.version),
            i.publisher.map_or("not signed".to_owned(), |p| format!(
                "signed by {}",
                safe(&p)
            ))
        );
    }
    let granted: Vec<Permission> = match choice {
        GrantChoice::Requested => manifest.permissions.clone(),
        GrantChoice::These(names) => parse_permissions(&names)?,
        GrantChoice::Ask if std::io::stdin().is_terminal() => ask(&manifest, &new)?,
        GrantChoice::Ask => Vec::new(),
    };
    check_requested(&manifest, &granted)?;
    let sha = sha256_hex(&wasm);
    let contract = app.runtime()?.contract(&wasm)?;
    let component = store::plugins::Component {
        manifest: &manifest,
        contract: &contract,
        wasm: &wasm,
        sha256: &sha,
        publisher: publisher.as_deref(),
    };
    let installed = lifecycle::install(&app.db, OPERATOR, &component, &granted, app.now())?;
    let granted = installed.granted;
    if let Some(old) = &installed.replaced {
        println!(
            "upgraded {} from {} (kept for `outreach plugin rollback {}`)",
            safe(&manifest.name),
            safe(old),
            safe(&manifest.name)
        );
    }
    let missing: Vec<Permission> = manifest
        .permissions
        .iter()
        .filter(|p| !granted.contains(p))
        .copied()
        .collect();
    println!(
        "installed {} {}; granted: {}",
        safe(&manifest.name),
        safe(&manifest.version),
        names(&granted)
    );
    if !missing.is_empty() {
        println!(
            "  not granted: {} — calls needing them are denied; grant later with `outreach plugin grant {} PERMISSION`",
            names(&missing),
            safe(&manifest.name)
        );
    }
    Ok((manifest, granted))
}

/// Asks for each of `asked` (what the plugin newly requests) on the terminal.
fn ask(manifest: &Manifest, asked: &[Permission]) -> anyhow::Result<Vec<Permission>> {
    let mut granted = Vec::new();
    let stdin = std::io::stdin();
    for p in asked {
        print!(
            "grant {} to {} ({})? [y/N] ",
            p.as_str(),
            safe(&manifest.name),
            p.describe()
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            granted.push(*p);
        }
    }
    Ok(granted)
}

fn toggle(app: &App, name: &str, enabled: bool) -> anyhow::Result<()> {
    admin::set_enabled(&app.db, OPERATOR, name, enabled, app.now())?;
    println!(
        "{} {}",
        safe(name),
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

fn config(
    app: &App,
    name: &str,
    assignments: &[String],
    unset: &[String],
    as_json: bool,
) -> anyhow::Result<()> {
    let pairs: Vec<(&str, &str)> = assignments
        .iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.trim(), v))
                .filter(|(k, _)| !k.is_empty())
        })
        .collect::<Option<_>>()
        .context("settings are given as KEY=VALUE")?;
    let changes: Vec<(&str, Option<&str>)> = pairs
        .iter()
        .map(|&(k, v)| (k, Some(v)))
        .chain(unset.iter().map(|k| (k.as_str(), None)))
        .collect();
    admin::configure(&app.db, OPERATOR, name, &changes, app.now())?;
    let settings = app.db.read(|c| store::plugins::settings(c, name))?;
    if as_json {
        return json(&settings);
    }
    for (k, v) in &settings {
        println!("{} = {}", safe(k), safe(v));
    }
    Ok(())
}
