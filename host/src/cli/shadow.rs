//! `outreach plugin shadow NAME NEW.wasm`: what a new version would have decided about the
//! events the installed one handled, run in the sandbox beside it with nothing sent or
//! written, and where the two differ.

use std::sync::Arc;

use anyhow::Context as _;

use super::App;
use super::output::{json, safe};
use super::plugin_args::{load_source, names};
use crate::ai::AiProvider;
use crate::clock::Millis;
use crate::engine::shadow::{self, Decided, Decision, Selection, ShadowReport};
use crate::runtime::host::HostServices;
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

/// The answer AI calls get in a shadow run without `--with-ai`: the same for both
/// versions, so it is never a difference between them.
const PLACEHOLDER_AI_ANSWER: &str = "(AI answer: not asked in a shadow run)";

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
    let installed = app.db.read(|c| store::plugins::require(c, &args.name))?;
    let since = args
        .since
        .as_deref()
        .map(day_start)
        .transpose()?
        .unwrap_or(0);
    let wasm = load_source(&args.source).await?;
    let runtime = app.runtime()?;
    let services = app.services();
    let manifest = runtime
        .read_manifest(&wasm, services.clone())
        .await
        .with_context(|| format!("cannot read {}", args.source))?;
    let ai = if args.with_ai {
        AiProvider::from_config(&app.config.ai, |name| std::env::var(name).ok())
    } else {
        AiProvider::Offline {
            reply: PLACEHOLDER_AI_ANSWER.into(),
        }
    };
    let shadow_services = Arc::new(HostServices {
        db: app.db.discarding_writes(),
        clock: services.clock.clone(),
        ai,
        config: services.config.clone(),
    });
    let selection = Selection {
        since,
        limit: args.events,
    };
    let report = shadow::shadow(
        &runtime,
        shadow_services,
        &installed,
        (&manifest, &wasm),
        selection,
    )
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
            describe(&d.installed),
            describe(&d.new)
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

/// One decision in a few words.
pub fn describe(decided: &Decided) -> String {
    let score = |s: &Option<u8>| s.map(|s| format!(", score {s}")).unwrap_or_default();
    let tags = |t: &[String]| match t.is_empty() {
        true => String::new(),
        false => format!(", tags {}", t.join(" ")),
    };
    let mut said = match &decided.decision {
        Decision::Kept { score: s, tags: t } => format!("kept{}{}", score(s), tags(t)),
        Decision::Dropped { score: s, tags: t } => format!("dropped{}{}", score(s), tags(t)),
        Decision::Reply { text } => format!("reply {:?}", safe(text)),
        Decision::NoReply => "no reply".into(),
        Decision::HandOver { reason } => format!("hand over ({})", safe(reason)),
        Decision::FollowUp { text, .. } => format!("follow up {:?}", safe(text)),
        Decision::WaitUntil { at } => format!("wait until {at}"),
        Decision::Stop { reason } => format!("stop ({})", safe(reason)),
        Decision::Failed { why } => format!("failed: {}", safe(why)),
        Decision::NotCalled => "not called".into(),
    };
    for send in &decided.sends {
        said.push_str(&format!(" + send {:?}", safe(send)));
    }
    if let Some(public) = &decided.public_reply {
        said.push_str(&format!(" + public reply {:?}", safe(public)));
    }
    said
}
