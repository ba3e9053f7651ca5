//! A sending account: which channel leads are reached through, its settings and the rules
//! it overrides.

use serde::{Deserialize, Serialize};

use crate::clock::{DAY, Millis};
use crate::sending::{SendingConfig, SendingRules};

/// The id of the sandbox account every database has.
pub const DEFAULT_ACCOUNT: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Sandbox,
    Instagram,
    Bridge,
}

impl ChannelKind {
    pub const ALL: [Self; 3] = [Self::Sandbox, Self::Instagram, Self::Bridge];

    /// One line for the user choosing a channel (`account add --help`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Sandbox => {
                "Local: messages are recorded as delivered; nothing leaves the machine."
            }
            Self::Instagram => "The Instagram Messaging API (Graph API).",
            Self::Bridge => "An HTTP bridge to a sender you run yourself.",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Instagram => "instagram",
            Self::Bridge => "bridge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Channel settings that are not secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelSettings {
    /// Instagram: the Graph API base, default `https://graph.instagram.com`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Instagram: the Graph API version, default `v21.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Instagram: the professional account's id (webhook `entry.id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ig_user_id: Option<String>,
    /// Bridge: where outbox messages are POSTed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_url: Option<String>,
    /// Instagram: Meta granted the app the Human Agent feature (on review), so a person may
    /// answer up to 7 days after the lead's last message, tagged `HUMAN_AGENT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub human_agent: Option<bool>,
    /// What the host puts in front of the first automated message to a lead, and of the
    /// first after a person hands them back ("You are chatting with an automated
    /// assistant"), where the law asks for it. Plugins cannot leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<String>,
    /// Whether notifications that a lead needs a person carry the lead's last message; off,
    /// they name the lead and the reason only. (Where they go is sealed, like credentials.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_with_text: Option<bool>,
}

/// The account's own rules; `None` takes the config default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleOverrides {
    pub daily_cap: Option<u32>,
    pub min_gap_seconds: Option<u64>,
    pub jitter_seconds: Option<u64>,
    pub quiet_hours: Option<String>,
    pub timezone: Option<String>,
    pub warmup_start: Option<u32>,
    pub warmup_step: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub paused: bool,
    pub pause_reason: Option<String>,
    pub rules: RuleOverrides,
    pub ai_model: Option<String>,
    pub settings: ChannelSettings,
    pub has_credentials: bool,
    pub next_send_at: Option<Millis>,
    pub created_at: Millis,
}

impl Account {
    /// The rules this account sends under at `now`: its own where set, the config's
    /// otherwise. During warm-up the daily cap is `warmup_start` on the day the account was
    /// added and grows by `warmup_step` a day, up to the full cap.
    pub fn sending_rules(
        &self,
        defaults: &SendingConfig,
        now: Millis,
    ) -> anyhow::Result<SendingRules> {
        let o = &self.rules;
        let config = SendingConfig {
            daily_cap: o.daily_cap.unwrap_or(defaults.daily_cap),
            min_gap_seconds: o.min_gap_seconds.unwrap_or(defaults.min_gap_seconds),
            jitter_seconds: o.jitter_seconds.unwrap_or(defaults.jitter_seconds),
            quiet_hours: o
                .quiet_hours
                .clone()
                .unwrap_or_else(|| defaults.quiet_hours.clone()),
            timezone: o
                .timezone
                .clone()
                .unwrap_or_else(|| defaults.timezone.clone()),
        };
        let mut rules = SendingRules::from_config(&config)
            .map_err(|e| anyhow::anyhow!("account {}: {e:#}", self.name))?;
        if let Some(start) = o.warmup_start {
            let (first_day, today) = (rules.day_bounds(self.created_at).0, rules.day_bounds(now).0);
            // Rounded, so a 23- or 25-hour day across a DST change still counts as one.
            let days = ((today - first_day + DAY / 2).max(0) / DAY) as u32;
            let ramp = start.saturating_add(o.warmup_step.unwrap_or(0).saturating_mul(days));
            rules.daily_cap = ramp.min(rules.daily_cap);
        }
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn warm_up_grows_the_cap_a_day_at_a_time_up_to_the_full_cap() {
        let added = parse_rfc3339("2026-11-20T15:00:00Z").unwrap();
        let account = Account {
            id: 2,
            name: "shop".into(),
            channel: ChannelKind::Sandbox,
            paused: false,
            pause_reason: None,
            rules: RuleOverrides {
                daily_cap: Some(30),
                warmup_start: Some(5),
                warmup_step: Some(4),
                ..Default::default()
            },
            ai_model: None,
            settings: ChannelSettings::default(),
            has_credentials: false,
            next_send_at: None,
            created_at: added,
        };
        let cap = |at: &str| {
            account
                .sending_rules(&SendingConfig::default(), parse_rfc3339(at).unwrap())
                .unwrap()
                .daily_cap
        };
        assert_eq!(cap("2026-11-20T23:00:00Z"), 5);
        assert_eq!(cap("2026-11-21T00:30:00Z"), 9);
        assert_eq!(cap("2026-11-25T12:00:00Z"), 25);
        assert_eq!(cap("2026-12-25T12:00:00Z"), 30);
    }
}
