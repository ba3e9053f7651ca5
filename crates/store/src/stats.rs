//! Outreach figures from the local database (nothing is sent anywhere): the funnel from
//! imported to converted, reply rates per follow-up step, and sends per account and day.

use std::collections::BTreeMap;

use crate::sql::Conn;
use serde::Serialize;

use crate::clock::{DAY, Millis};

#[derive(Debug, Serialize)]
pub struct Funnel {
    pub imported: u64,
    pub contacted: u64,
    pub replied: u64,
    pub converted: u64,
    pub do_not_contact: u64,
}

#[derive(Debug, Serialize)]
pub struct StepRate {
    /// The follow-up step (0: the first message).
    pub step: u32,
    pub sent: u64,
    /// Sends the lead answered afterwards.
    pub replied: u64,
}

#[derive(Debug, Serialize)]
pub struct DaySends {
    pub account: String,
    /// The UTC day, as Unix milliseconds of its start.
    pub day: Millis,
    pub sent: u64,
}

pub fn funnel(conn: &Conn<'_>) -> anyhow::Result<Funnel> {
    Ok(conn.query_row(
        "SELECT count(*),
                count(last_outbound_at),
                count(last_inbound_at),
                count(*) FILTER (WHERE status = 'converted'),
                count(*) FILTER (WHERE status = 'do-not-contact')
         FROM leads",
        [],
        |r| {
            Ok(Funnel {
                imported: r.get::<_, i64>(0)? as u64,
                contacted: r.get::<_, i64>(1)? as u64,
                replied: r.get::<_, i64>(2)? as u64,
                converted: r.get::<_, i64>(3)? as u64,
                do_not_contact: r.get::<_, i64>(4)? as u64,
            })
        },
    )?)
}

#[derive(Debug, Serialize)]
pub struct VariantRate {
    pub step: u32,
    /// The wording sent, with the lead's own handle, name and first name put back as
    /// `{handle}`, `{name}` and `{first_name}`, so that every send of one template reads
    /// the same (`None`: the wordings past the most sent ones, together).
    pub template: Option<String>,
    pub sent: u64,
    pub replied: u64,
}

/// Follow-up sends and the answers they got: per step, and per wording within a step.
#[derive(Debug, Default)]
pub struct FollowUps {
    pub steps: Vec<StepRate>,
    pub variants: Vec<VariantRate>,
}

/// Wordings listed per step; the rest are counted together, so that a plugin writing every
/// message afresh (an AI) does not make a list as long as the leads.
const VARIANTS_PER_STEP: usize = 8;

/// The follow-up messages sent, with whether the lead answered each afterwards.
pub fn follow_ups(conn: &Conn<'_>) -> anyhow::Result<FollowUps> {
    let mut stmt = conn.prepare(&format!(
        "SELECT CAST({} AS BIGINT), o.text, l.handle, l.name,
                EXISTS (SELECT 1 FROM messages m
                        WHERE m.lead_id = o.lead_id AND m.direction = 'inbound'
                          AND m.at >= o.sent_at)
         FROM outbox o JOIN events e ON e.id = o.event_id JOIN leads l ON l.id = o.lead_id
         WHERE o.status = 'sent' AND e.kind = 'follow-up'",
        conn.json_text("e.payload", "step")
    ))?;
    let mut steps: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut wordings: BTreeMap<(u32, String), (u64, u64)> = BTreeMap::new();
    let sent = stmt.query_map([], |row| {
        // A follow-up event always says its step; one that does not counts as the first.
        let step: u32 = row.get::<_, Option<u32>>(0)?.unwrap_or(0);
        let text: String = row.get(1)?;
        let name: Option<String> = row.get(3)?;
        let replied = u64::from(row.get::<_, bool>(4)?);
        Ok((
            step,
            template_of(&text, &row.get::<_, String>(2)?, name.as_deref()),
            replied,
        ))
    })?;
    for row in sent {
        let (step, template, replied) = row?;
        for counts in [
            steps.entry(step).or_default(),
            wordings.entry((step, template)).or_default(),
        ] {
            counts.0 += 1;
            counts.1 += replied;
        }
    }
    let mut variants = Vec::new();
    for &step in steps.keys() {
        let mut of_step: Vec<(&String, &(u64, u64))> = wordings
            .range((step, String::new())..)
            .take_while(|((s, _), _)| *s == step)
            .map(|((_, template), counts)| (template, counts))
            .collect();
        of_step.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(b.0)));
        let rest = of_step.split_off(of_step.len().min(VARIANTS_PER_STEP));
        variants.extend(
            of_step
                .into_iter()
                .map(|(template, &(sent, replied))| VariantRate {
                    step,
                    template: Some(template.clone()),
                    sent,
                    replied,
                }),
        );
        if !rest.is_empty() {
            variants.push(VariantRate {
                step,
                template: None,
                sent: rest.iter().map(|(_, c)| c.0).sum(),
                replied: rest.iter().map(|(_, c)| c.1).sum(),
            });
        }
    }
    Ok(FollowUps {
        steps: steps
            .into_iter()
            .map(|(step, (sent, replied))| StepRate {
                step,
                sent,
                replied,
            })
            .collect(),
        variants,
    })
}

/// `text` with the lead's own details put back as placeholders: the handle, then the full
/// name, then the first name.
pub fn template_of(text: &str, handle: &str, name: Option<&str>) -> String {
    let mut template = match handle.is_empty() {
        true => text.to_owned(),
        false => text.replace(handle, "{handle}"),
    };
    if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
        template = template.replace(name, "{name}");
        if let Some(first) = name.split_whitespace().next().filter(|f| *f != name) {
            template = template.replace(first, "{first_name}");
        }
    }
    template
}

/// Messages sent per account and UTC day over the `days` days up to `now`.
pub fn sends_per_day(conn: &Conn<'_>, now: Millis, days: i64) -> anyhow::Result<Vec<DaySends>> {
    let since = (now / DAY - days + 1) * DAY;
    let mut stmt = conn.prepare(
        "SELECT a.name, o.sent_at / ?2 * ?2 AS day, count(*)
         FROM outbox o JOIN accounts a ON a.id = o.account_id
         WHERE o.status = 'sent' AND o.sent_at >= ?1
         GROUP BY a.name, day ORDER BY a.name, day",
    )?;
    let rows = stmt
        .query_map([since, DAY], |r| {
            Ok(DaySends {
                account: r.get(0)?,
                day: r.get(1)?,
                sent: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::template_of;

    #[test]
    fn a_message_becomes_its_template_whatever_the_lead() {
        let lena = template_of(
            "Hi Lena! I came across @lena.studio and love it, Lena Vogt.",
            "lena.studio",
            Some("Lena Vogt"),
        );
        let mara = template_of(
            "Hi Mara! I came across @mara.fit and love it, Mara Keller.",
            "mara.fit",
            Some("Mara Keller"),
        );
        assert_eq!(
            lena,
            "Hi {first_name}! I came across @{handle} and love it, {name}."
        );
        assert_eq!(lena, mara);
        assert_eq!(template_of("Hi there!", "x", None), "Hi there!");
    }
}
