//! A sending account: which channel leads are reached through, its settings and the rules
//! it overrides.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;

/// The id of the sandbox account every database has.
pub const DEFAULT_ACCOUNT: i64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Local: messages are recorded as delivered; nothing leaves the machine.
    Sandbox,
    /// The Instagram Messaging API (Graph API).
    Instagram,
    /// An HTTP bridge to a sender you run yourself.
    Bridge,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::Instagram => "instagram",
            Self::Bridge => "bridge",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Sandbox, Self::Instagram, Self::Bridge]
            .into_iter()
            .find(|k| k.as_str() == s)
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
