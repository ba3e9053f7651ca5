//! `outreach stats`: the funnel, reply rates per follow-up step and sends per account and
//! day against the cap, from the local database.

use clap::Args;

use super::App;
use super::output::{json, safe, table};
use crate::clock::format;
use crate::operator::report::{self, DAYS, percent, rate};
use crate::text;

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    json: bool,
}

pub fn run(app: &App, args: StatsArgs) -> anyhow::Result<()> {
    let stats = app
        .db
        .read(|c| report::gather(c, &app.config.sending, app.now()))?;
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
    println!("\nfollow-up wordings (the lead's details as {{handle}}, {{name}}, {{first_name}})");
    let variants: Vec<Vec<String>> = stats
        .follow_up_variants
        .iter()
        .map(|v| {
            vec![
                (v.step + 1).to_string(),
                v.template
                    .as_deref()
                    .map_or("(all other wordings)".into(), |t| {
                        safe(&text::ellipsize(t, 60)).into_owned()
                    }),
                v.sent.to_string(),
                v.replied.to_string(),
                percent(rate(v.replied, v.sent)),
            ]
        })
        .collect();
    table(
        &["MESSAGE", "WORDING", "SENT", "ANSWERED", "RATE"],
        &variants,
    );
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
