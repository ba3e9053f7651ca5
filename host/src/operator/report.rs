//! The figures an operator reads, from the local database only (nothing is sent anywhere):
//! the funnel, reply rates per follow-up step, and sends per account and day against the
//! account's cap. `outreach stats` prints them; the console draws them.

use crate::store::Conn;
use serde::Serialize;

use crate::clock::Millis;
use crate::config::SendingConfig;
use crate::store::{self, stats};

/// Days of sends shown per account.
pub const DAYS: i64 = 7;

#[derive(Serialize)]
pub struct Stats {
    pub funnel: stats::Funnel,
    /// Replied leads per contacted lead.
    pub reply_rate: Option<f64>,
    pub follow_up_steps: Vec<stats::StepRate>,
    /// Reply rates per wording within each step (A/B variants).
    pub follow_up_variants: Vec<stats::VariantRate>,
    pub sends_per_day: Vec<DayAgainstCap>,
}

#[derive(Serialize)]
pub struct DayAgainstCap {
    #[serde(flatten)]
    pub sends: stats::DaySends,
    /// The account's daily cap as of today (with any warm-up).
    pub cap: Option<u32>,
}

pub fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".into(), |r| format!("{:.1} %", r * 100.0))
}

pub fn gather(conn: &Conn<'_>, sending: &SendingConfig, now: Millis) -> anyhow::Result<Stats> {
    let funnel = stats::funnel(conn)?;
    let follow_ups = stats::follow_ups(conn)?;
    let accounts = store::accounts::list(conn)?;
    let sends_per_day = stats::sends_per_day(conn, now, DAYS)?
        .into_iter()
        .map(|sends| {
            let cap = accounts
                .iter()
                .find(|a| a.name == sends.account)
                .and_then(|a| a.sending_rules(sending, now).ok())
                .map(|rules| rules.daily_cap);
            DayAgainstCap { sends, cap }
        })
        .collect();
    Ok(Stats {
        reply_rate: rate(funnel.replied, funnel.contacted),
        funnel,
        follow_up_steps: follow_ups.steps,
        follow_up_variants: follow_ups.variants,
        sends_per_day,
    })
}
