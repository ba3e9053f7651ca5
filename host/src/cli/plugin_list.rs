//! Showing plugins: `outreach plugin list` (what is installed and what its calls cost so
//! far), `plugin inspect` and the manifest `plugin install` prints (what a component asks
//! for).

use serde::Serialize;

use super::App;
use super::output::{self, json, safe, table};
use super::plugin_args::{load_source, names};
use crate::runtime::manifest::Manifest;
use crate::runtime::sha256_hex;
use crate::store;
use crate::store::usage::PluginUsage;

/// An installed plugin with what its hook calls cost so far, as `plugin list --json` shows it.
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    plugin: store::plugins::InstalledPlugin,
    usage: Option<PluginUsage>,
}

pub(super) fn list(app: &App, as_json: bool) -> anyhow::Result<()> {
    let plugins = app.db.read(|c| {
        store::plugins::list(c)?
            .into_iter()
            .map(|plugin| {
                let usage = store::usage::get(c, plugin.name())?;
                Ok(Listed { plugin, usage })
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    if as_json {
        return json(&plugins);
    }
    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|Listed { plugin: p, usage }| {
            let mut row = vec![
                p.manifest.name.clone(),
                p.manifest.version.clone(),
                p.publisher.clone().unwrap_or_else(|| "unsigned".into()),
                p.contract.clone(),
                if p.enabled { "enabled" } else { "disabled" }.into(),
                p.manifest
                    .hooks
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                names(&p.granted),
                names(
                    &p.manifest
                        .permissions
                        .iter()
                        .filter(|r| !p.granted.contains(r))
                        .copied()
                        .collect::<Vec<_>>(),
                ),
            ];
            row.extend(match usage {
                Some(u) => [
                    u.calls.to_string(),
                    output::duration_us(u.p50_wall_us),
                    output::duration_us(u.p99_wall_us),
                    output::bytes(u.max_memory),
                ],
                None => ["0", "-", "-", "-"].map(String::from),
            });
            row
        })
        .collect();
    table(
        &[
            "NAME",
            "VERSION",
            "SIGNED BY",
            "CONTRACT",
            "STATE",
            "HOOKS",
            "GRANTED",
            "NOT GRANTED",
            "CALLS",
            "P50",
            "P99",
            "MAX MEMORY",
        ],
        &rows,
    );
    Ok(())
}

/// The usage lines of `plugin inspect`.
fn print_usage(usage: Option<&PluginUsage>) {
    let Some(u) = usage else {
        println!("  no hook calls yet");
        return;
    };
    println!(
        "  {} hook call(s), {} failed: p50 {}, p99 {}, {} in all; {} fuel in all; memory up to {}",
        u.calls,
        u.failures,
        output::duration_us(u.p50_wall_us),
        output::duration_us(u.p99_wall_us),
        output::duration_us(u.total_wall_us),
        output::fuel(u.total_fuel),
        output::bytes(u.max_memory)
    );
}

#[derive(Serialize)]
struct Inspection {
    manifest: Manifest,
    /// The version of outreach:plugin it was built for.
    contract: String,
    sha256: String,
    size_bytes: usize,
    installed: Option<store::plugins::InstalledPlugin>,
    settings: Vec<(String, String)>,
    usage: Option<PluginUsage>,
}

pub(super) async fn inspect(app: &App, source: &str, as_json: bool) -> anyhow::Result<()> {
    let installed = app.db.read(|c| store::plugins::get(c, source))?;
    let wasm = match &installed {
        Some(p) => app.db.read(|c| store::plugins::wasm(c, p.name()))?,
        None => load_source(source).await?,
    };
    let manifest = app.runtime()?.read_manifest(&wasm, app.services()).await?;
    let (settings, usage) = match &installed {
        Some(p) => app.db.read(|c| {
            Ok((
                store::plugins::settings(c, p.name())?,
                store::usage::get(c, p.name())?,
            ))
        })?,
        None => (Vec::new(), None),
    };
    let inspection = Inspection {
        manifest,
        contract: app.runtime()?.contract(&wasm)?,
        sha256: sha256_hex(&wasm),
        size_bytes: wasm.len(),
        installed,
        settings,
        usage,
    };
    if as_json {
        return json(&inspection);
    }
    print_manifest(&inspection.manifest);
    println!(
        "  built for outreach:plugin@{} (this host speaks {})",
        inspection.contract,
        (crate::runtime::contract::SPOKEN.iter())
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and ")
    );
    println!(
        "  sha256: {}  ({} bytes)",
        inspection.sha256, inspection.size_bytes
    );
    match &inspection.installed {
        Some(p) => {
            println!(
                "  installed, {}, {}; granted: {}",
                if p.enabled { "enabled" } else { "disabled" },
                p.publisher
                    .as_deref()
                    .map_or("unsigned".to_owned(), |who| format!(
                        "signed by {}",
                        safe(who)
                    )),
                names(&p.granted)
            );
            for (k, v) in &inspection.settings {
                println!("  setting {} = {}", safe(k), safe(v));
            }
            print_usage(inspection.usage.as_ref());
        }
        None => println!("  not installed"),
    }
    Ok(())
}

/// What a plugin is and asks for, as `plugin install` and `plugin inspect` print it.
pub(super) fn print_manifest(m: &Manifest) {
    println!(
        "{} {} — {}",
        safe(&m.name),
        safe(&m.version),
        safe(&m.description)
    );
    let hooks: Vec<_> = m.hooks.iter().map(|h| h.as_str()).collect();
    println!(
        "  hooks: {}",
        if hooks.is_empty() {
            "none".into()
        } else {
            hooks.join(", ")
        }
    );
    println!("  requests:");
    if m.permissions.is_empty() {
        println!("    nothing");
    }
    for p in &m.permissions {
        println!("    {:<16} {}", p.as_str(), p.describe());
    }
}
