//! Send-safety rules: a daily cap counted in the account's time zone, a minimum gap with
//! random jitter between sends, and quiet hours. Pure functions of the time, so schedules
//! are exact under a test clock.

use anyhow::Context as _;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone as _, Timelike as _};
use chrono_tz::Tz;

use serde::Deserialize;

use crate::clock::{Millis, SECOND};

/// The account's send-safety rules, applied by the outbox worker to every message.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendingConfig {
    pub daily_cap: u32,
    pub min_gap_seconds: u64,
    /// A random extra wait of up to this many seconds after each send.
    pub jitter_seconds: u64,
    /// `"HH:MM-HH:MM"` in `timezone` during which nothing is sent; empty for none.
    pub quiet_hours: String,
    /// An IANA time zone name such as `Europe/Berlin`.
    pub timezone: String,
}

impl Default for SendingConfig {
    fn default() -> Self {
        Self {
            daily_cap: 40,
            min_gap_seconds: 0,
            jitter_seconds: 0,
            quiet_hours: String::new(),
            timezone: "UTC".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SendingRules {
    pub daily_cap: u32,
    pub min_gap: Millis,
    pub jitter: Millis,
    /// Local start and end; the window wraps midnight when start > end.
    pub quiet: Option<(NaiveTime, NaiveTime)>,
    pub tz: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    SendNow,
    Wait { until: Millis, reason: String },
}

impl SendingRules {
    pub fn from_config(c: &SendingConfig) -> anyhow::Result<Self> {
        let tz: Tz = c.timezone.parse().map_err(|_| {
            anyhow::anyhow!(
                "sending.timezone {:?} is not an IANA time zone like Europe/Berlin",
                c.timezone
            )
        })?;
        let quiet = parse_quiet_hours(&c.quiet_hours).context("sending.quiet_hours")?;
        Ok(Self {
            daily_cap: c.daily_cap,
            min_gap: c.min_gap_seconds as Millis * SECOND,
            jitter: c.jitter_seconds as Millis * SECOND,
            quiet,
            tz,
        })
    }

    fn local(&self, at: Millis) -> DateTime<Tz> {
        DateTime::from_timestamp_millis(at)
            .unwrap_or_default()
            .with_timezone(&self.tz)
    }

    /// The instant a local date and time happens (the later one across a DST gap or overlap).
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> Millis {
        let local = date.and_time(time);
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(_, t) => {
                t.timestamp_millis()
            }
            // Skipped by a DST jump: an hour later exists.
            chrono::LocalResult::None => {
                self.instant(date, time.with_hour((time.hour() + 1) % 24).unwrap_or(time))
            }
        }
    }

    /// The local day containing `now`, as `[start, end)`.
    pub fn day_bounds(&self, now: Millis) -> (Millis, Millis) {
        let date = self.local(now).date_naive();
        let next = date.checked_add_days(Days::new(1)).unwrap_or(date);
        (
            self.instant(date, NaiveTime::MIN),
            self.instant(next, NaiveTime::MIN),
        )
    }

    /// When the quiet hours `now` falls in end, if it falls in them.
    pub fn quiet_until(&self, now: Millis) -> Option<Millis> {
        let (start, end) = self.quiet?;
        let local = self.local(now);
        let (date, time) = (local.date_naive(), local.time());
        let in_quiet = if start < end {
            time >= start && time < end
        } else {
            time >= start || time < end
        };
        if !in_quiet {
            return None;
        }
        let end_date = if start > end && time >= start {
            date.checked_add_days(Days::new(1))?
        } else {
            date
        };
        Some(self.instant(end_date, end))
    }

    /// May a message go out at `now`, given how many went out today and when the gap after
    /// the last one ends?
    pub fn decide(
        &self,
        now: Millis,
        sent_today: u32,
        next_allowed_at: Option<Millis>,
    ) -> Decision {
        if let Some(until) = self.quiet_until(now) {
            return Decision::Wait {
                until,
                reason: "quiet hours".into(),
            };
        }
        if sent_today >= self.daily_cap {
            let (_, tomorrow) = self.day_bounds(now);
            return Decision::Wait {
                until: tomorrow,
                reason: format!("daily cap of {} reached", self.daily_cap),
            };
        }
        match next_allowed_at {
            Some(until) if until > now => Decision::Wait {
                until,
                reason: "minimum gap between messages".into(),
            },
            _ => Decision::SendNow,
        }
    }

    /// The wait after a send: the minimum gap plus up to `jitter` at random, so sends do
    /// not fall on a regular beat.
    pub fn gap_after_send(&self, rng: &mut impl rand::Rng) -> Millis {
        self.min_gap
            + if self.jitter > 0 {
                rng.gen_range(0..=self.jitter)
            } else {
                0
            }
    }
}

fn parse_quiet_hours(text: &str) -> anyhow::Result<Option<(NaiveTime, NaiveTime)>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (start, end) = text
        .split_once('-')
        .with_context(|| format!("{text:?} is not like \"21:00-08:00\""))?;
    let parse = |t: &str| {
        NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .with_context(|| format!("{t:?} is not a time like 21:00"))
    };
    let (start, end) = (parse(start)?, parse(end)?);
    anyhow::ensure!(start != end, "{text:?} starts and ends at the same time");
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{HOUR, MINUTE, parse_rfc3339};

    fn rules(quiet: &str, tz: &str) -> SendingRules {
        SendingRules::from_config(&SendingConfig {
            daily_cap: 2,
            min_gap_seconds: 600,
            jitter_seconds: 0,
            quiet_hours: quiet.into(),
            timezone: tz.into(),
        })
        .unwrap()
    }

    fn t(s: &str) -> Millis {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight_in_the_accounts_zone() {
        let r = rules("22:00-08:00", "Europe/Berlin");
        // 22:30 in Berlin (UTC+1 in November) is 21:30 UTC.
        assert_eq!(
            r.quiet_until(t("2026-11-26T21:30:00Z")),
            Some(t("2026-11-27T07:00:00Z"))
        );
        assert_eq!(
            r.quiet_until(t("2026-11-27T06:59:00Z")),
            Some(t("2026-11-27T07:00:00Z"))
        );
        assert_eq!(r.quiet_until(t("2026-11-27T07:00:00Z")), None);
        assert_eq!(r.quiet_until(t("2026-11-26T12:00:00Z")), None);
    }

    #[test]
    fn cap_waits_for_the_next_local_day_and_gap_for_its_end() {
        let r = rules("", "America/New_York");
        let now = t("2026-11-26T20:00:00Z"); // 15:00 in New York
        assert_eq!(
            r.decide(now, 2, None),
            Decision::Wait {
                until: t("2026-11-27T05:00:00Z"),
                reason: "daily cap of 2 reached".into()
            }
        );
        assert_eq!(
            r.decide(now, 1, Some(now + 5 * MINUTE)),
            Decision::Wait {
                until: now + 5 * MINUTE,
                reason: "minimum gap between messages".into()
            }
        );
        assert_eq!(r.decide(now, 1, Some(now)), Decision::SendNow);
        assert_eq!(
            r.day_bounds(now),
            (t("2026-11-26T05:00:00Z"), t("2026-11-27T05:00:00Z"))
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut r = rules("", "UTC");
        r.jitter = HOUR;
        let mut rng = rand::thread_rng();
        for _ in 0..100 {
            let gap = r.gap_after_send(&mut rng);
            assert!((r.min_gap..=r.min_gap + HOUR).contains(&gap));
        }
    }

    #[test]
    fn bad_settings_name_the_field() {
        let err = SendingRules::from_config(&SendingConfig {
            timezone: "Mars/Base".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("sending.timezone"));
        let err = SendingRules::from_config(&SendingConfig {
            quiet_hours: "late".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("sending.quiet_hours"));
    }
}
