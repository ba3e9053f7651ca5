//! `outreach plugin shadow NAME NEW.wasm`: what a new version would have decided about the
//! events the installed one handled, run in the sandbox beside it with nothing sent or
//! written, and where the two differ.

use anyhow::Context as _;

use super::App;
use super::output::{json, safe};
use super::plugin_args::{load_source, names};
use crate::ai::AiProvider;
use crate::clock::Millis;
use crate::engine::shadow::{Selection, ShadowReport, ShadowRunner};
use crate::store;

/// How many differences the text report lists (`--json` has them all).
const LISTED: usize = 20;

#[derive(Debug, clap::Args)]
pub struct ShadowArgs {
    /// The installed plugin.
    name: String,
    /// Its new version: a .wasm file, a bundled name or oci://HOST/REPO:TAG.
    source: String,
    /// Replay this many of the plugin's most recent events.
    #[arg(long = "events", default_value_t = 1000, value_name = "N")]
    events: u32,
    /// Replay only events from this day on (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Let both versions ask the configured AI provider (each call a real request);
    /// without it they get a fixed placeholder answer.
    #[arg(long)]
    with_ai: bool,
    #[arg(long)]
    json: bool,
}

fn day_start(date: &str) -> anyhow::Result<Millis> {
    let day = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
        .with_context(|| format!("--since {date:?} is not a date like 2026-11-30"))?;
    Ok(day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis())
}

pub async fn shadow(app: &App, args: ShadowArgs) -> anyhow::Result<()> {
    app.db.read(|c| store::plugins::require(c, &args.name))?;
    let since = args.since.as_deref().map(day_start).transpose()?;
    let wasm = load_source(&args.source).await?;
    let ai = args
        .with_ai
        .then(|| AiProvider::from_config(&app.config.ai, |name| std::env::var(name).ok()));
    let runner = ShadowRunner::new(
        app.runtime()?,
        &app.db,
        app.clock.clone(),
        app.config.clone(),
        ai,
    );
    let manifest = runner
        .manifest(&wasm)
        .await
        .with_context(|| format!("cannot read {}", args.source))?;
    let selection = Selection {
        since: since.unwrap_or(0),
        limit: args.events,
    };
    let report = runner
        .run(&args.name, (&manifest, &wasm), selection)
        .await?;
    if args.json {
        return json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(report: &ShadowReport) {
    println!(
        "shadow run of {} {} beside the installed {}: {} event(s), {} decided differently",
        safe(&report.plugin),
        safe(&report.new_version),
        safe(&report.installed_version),
        report.events,
        report.changed
    );
    for (change, count) in &report.changes {
        println!("  {count:>6}  {change}");
    }
    if !report.not_granted.is_empty() {
        println!(
            "  newly requested, not granted in this run: {}",
            names(&report.not_granted)
        );
    }
    for d in report.differences.iter().take(LISTED) {
        println!(
            "  event {} @{} ({}): {} → {}",
            d.event_id,
            safe(&d.handle),
            d.hook,
            safe(&d.installed.to_string()),
            safe(&d.new.to_string())
        );
    }
    if report.differences.len() > LISTED {
        println!(
            "  … and {} more (--json lists them all)",
            report.differences.len() - LISTED
        );
    }
    println!("nothing was sent or written");
}
