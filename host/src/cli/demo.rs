//! `outreach demo`: the whole product on a fresh database in one command — sample leads,
//! the bundled plugins (granted what they request, printed), a few sandbox messages (one of
//! them an opt-out, one asking for a person), a run until idle, and what came of it.

use super::output::safe;
use super::plugins::{GrantChoice, install};
use super::work::{print_audit_summary, print_conversation};
use super::{App, Cli};
use crate::domain::account::DEFAULT_ACCOUNT;
use crate::leads::import::{ImportOptions, Settings, import_bytes};
use crate::store;

const SAMPLE_LEADS: &[u8] = include_bytes!("../../../examples/leads.csv");

/// High enough that the scorer drops the two weakest sample leads.
const DEMO_MIN_SCORE: &str = "30";

/// Who writes in during the demo, and what.
const INBOUND: &[(&str, &str)] = &[
    (
        "mara.fit",
        "Hi! Sounds interesting. How much does it cost and how does it work?",
    ),
    ("jonas_builds", "STOP"),
    ("lena.studio", "Can I talk to a real person about a refund?"),
];

pub async fn run(cli: &Cli) -> anyhow::Result<()> {
    let on_postgres = super::postgres_url(cli)?.is_some();
    anyhow::ensure!(
        on_postgres || !cli.db.exists(),
        "the demo starts from a fresh database, and {} exists; remove it or pass --db demo.db",
        cli.db.display()
    );
    let app = App::open(cli)?;
    let fresh = app.db.read(|c| {
        let one = store::leads::LeadFilter {
            limit: Some(1),
            ..Default::default()
        };
        let leads = store::leads::list(c, &one)?;
        Ok(leads.is_empty() && store::plugins::list(c)?.is_empty())
    })?;
    anyhow::ensure!(
        fresh,
        "the demo starts from a fresh database, and {} has leads or plugins already",
        app.db.location()
    );
    println!(
        "== outreach demo: database {}, sandbox channel, AI: {}",
        app.db.location(),
        app.services().ai.recipient(None)
    );

    println!("\n== importing examples/leads.csv");
    let options = ImportOptions {
        source: "examples/leads.csv",
        account: DEFAULT_ACCOUNT,
        strict: false,
    };
    let report = import_bytes(
        &app.db,
        SAMPLE_LEADS,
        &options,
        &Settings::default(),
        app.now(),
        &mut (),
    )?;
    for r in &report.rejected {
        println!(
            "examples/leads.csv:{}: rejected: {}",
            r.line,
            safe(&r.reason)
        );
    }
    println!(
        "imported {}, merged {}, rejected {}",
        report.imported,
        report.merged,
        report.rejected.len()
    );

    println!("\n== installing plugins, granting what each requests");
    for name in ["lead-scorer", "followup", "ai-reply"] {
        install(&app, name, GrantChoice::Requested, false, None).await?;
    }
    app.db.write(|c| {
        store::plugins::set_setting(c, "lead-scorer", "min_score", Some(DEMO_MIN_SCORE))
    })?;
    println!("lead-scorer: min_score = {DEMO_MIN_SCORE} (leads below it get no messages)");

    let engine = app.engine()?;
    println!("\n== first run: filters score the leads, the follow-up plugin sends first messages");
    run_until_idle(&engine).await?;

    println!("\n== leads write back (sandbox inbox)");
    for (handle, text) in INBOUND {
        let received = app.receive_sandbox_message(handle, text, app.now())?;
        let note = if received.opted_out {
            "  -> opt-out: now do-not-contact"
        } else {
            ""
        };
        println!("@{handle}: {}{note}", safe(text));
    }
    run_until_idle(&engine).await?;

    println!("\n== conversations");
    let leads = app
        .db
        .read(|c| store::leads::list(c, &Default::default()))?;
    for lead in &leads {
        let messages = app
            .db
            .read(|c| store::messages::recent(c, lead.id, u32::MAX))?;
        if !messages.is_empty() {
            print_conversation(lead, &messages);
        }
    }

    println!("\n== what each plugin did");
    let events = app.db.read(|c| {
        store::events::list(
            c,
            &store::events::EventFilter {
                limit: u32::MAX,
                ..Default::default()
            },
        )
    })?;
    for event in events.iter().rev() {
        for r in &event.results {
            let what = r.outcome.as_deref().or(r.error.as_deref()).unwrap_or("");
            println!(
                "#{:<3} {:<13} @{:<14} {:<12} {}",
                event.id,
                event.kind.as_str(),
                safe(&event.lead),
                safe(&r.plugin),
                safe(what)
            );
        }
    }

    println!("\n== audit summary (outreach audit shows every entry)");
    print_audit_summary(&app.db.read(store::audit::summary)?);
    println!(
        "\nNext: `outreach leads list`, `outreach conversations show mara.fit`, `outreach audit --denied`."
    );
    Ok(())
}

async fn run_until_idle(engine: &crate::engine::Engine) -> anyhow::Result<()> {
    let stats = engine.run_until_idle().await?;
    println!(
        "{} events, {} hook calls, {} messages sent",
        stats.events, stats.hook_calls, stats.sent
    );
    Ok(())
}
