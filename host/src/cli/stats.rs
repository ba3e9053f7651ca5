//! `outreach stats`: the funnel, reply rates per follow-up step and sends per account and
//! day against the cap, from the local database.

use clap::Args;
use serde::Serialize;

use super::App;
use super::output::{json, safe, table};
use crate::clock::format;
use crate::store::{self, stats};

/// Days of sends shown per account.
const DAYS: i64 = 7;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Stats {
    funnel: stats::Funnel,
    /// Replied leads per contacted lead.
    reply_rate: Option<f64>,
    follow_up_steps: Vec<stats::StepRate>,
    sends_per_day: Vec<DayAgainstCap>,
}

#[derive(Serialize)]
struct DayAgainstCap {
    #[serde(flatten)]
    sends: stats::DaySends,
    /// The account's daily cap as of today (with any warm-up).
    cap: Option<u32>,
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{:.1} %", r * 100.0))
}

pub fn run(app: &App, args: StatsArgs) -> anyhow::Result<()> {
    let now = app.now();
    let stats = app.db.read(|c| {
        let funnel = stats::funnel(c)?;
        let accounts = store::accounts::list(c)?;
        let sends_per_day = stats::sends_per_day(c, now, DAYS)?
            .into_iter()
            .map(|sends| {
                let cap = accounts
                    .iter()
                    .find(|a| a.name == sends.account)
                    .and_then(|a| a.sending_rules(&app.config.sending, now).ok())
                    .map(|rules| rules.daily_cap);
                DayAgainstCap { sends, cap }
            })
            .collect();
        Ok(Stats {
            reply_rate: rate(funnel.replied, funnel.contacted),
            funnel,
            follow_up_steps: stats::follow_up_steps(c)?,
            sends_per_day,
        })
    })?;
    if args.json {
        return json(&stats);
    }
    let f = &stats.funnel;
    println!("funnel");
    table(
        &["STAGE", "LEADS", "OF IMPORTED"],
        &[
            ("imported", f.imported),
            ("contacted", f.contacted),
            ("replied", f.replied),
            ("converted", f.converted),
            ("do-not-contact", f.do_not_contact),
        ]
        .map(|(stage, n)| vec![stage.into(), n.to_string(), percent(rate(n, f.imported))]),
    );
    println!(
        "reply rate (replied / contacted): {}",
        percent(stats.reply_rate)
    );
    println!("\nfollow-up steps");
    let steps: Vec<Vec<String>> = stats
        .follow_up_steps
        .iter()
        .map(|s| {
            vec![
                (s.step + 1).to_string(),
                s.sent.to_string(),
                s.replied.to_string(),
                percent(rate(s.replied, s.sent)),
            ]
        })
        .collect();
    table(&["MESSAGE", "SENT", "ANSWERED", "RATE"], &steps);
    println!("\nsends per day (UTC), last {DAYS} days");
    let days: Vec<Vec<String>> = stats
        .sends_per_day
        .iter()
        .map(|d| {
            vec![
                safe(&d.sends.account).into_owned(),
                format(d.sends.day)[..10].to_string(),
                d.sends.sent.to_string(),
                d.cap.map_or("-".into(), |cap| cap.to_string()),
            ]
        })
        .collect();
    table(&["ACCOUNT", "DAY", "SENT", "CAP"], &days);
    Ok(())
}
