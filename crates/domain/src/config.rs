//! The user's settings: `outreach.toml`, every key optional, defaults embedded.
//!
//! Secrets are never read from this file: the AI key comes from the environment only, so the
//! file can be shared and committed.

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub ai: AiConfig,
    pub sending: SendingConfig,
    pub limits: LimitsConfig,
    pub engine: EngineConfig,
    pub consent: ConsentConfig,
    pub instagram: InstagramConfig,
    pub retention: RetentionConfig,
}

/// How long data is kept, in days. Each setting left out keeps that data for good: nothing
/// is deleted by age unless a setting says so. The engine applies them once an hour.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Messages (both directions), sent or blocked outbox rows, and unrouted webhook messages.
    pub messages_days: Option<u32>,
    /// Finished events with what each plugin did with them.
    pub events_days: Option<u32>,
    /// Audit rows.
    pub audit_days: Option<u32>,
    /// Leads who never wrote back, imported and last messaged this long ago, are forgotten
    /// (as by `leads forget`).
    pub unanswered_leads_days: Option<u32>,
}

impl RetentionConfig {
    pub fn is_set(&self) -> bool {
        self.messages_days.is_some()
            || self.events_days.is_some()
            || self.audit_days.is_some()
            || self.unanswered_leads_days.is_some()
    }
}

/// The Instagram channel: its HTTP client and the webhook endpoint `outreach serve` runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstagramConfig {
    pub request_timeout_seconds: u64,
    /// Where `outreach serve` listens.
    pub listen: String,
    /// Webhook bodies above this are refused.
    pub max_body_bytes: usize,
    /// The app secret webhooks are signed with; `INSTAGRAM_APP_SECRET` when unset.
    pub app_secret: Option<String>,
    /// The token Meta's subscription handshake must present; `INSTAGRAM_VERIFY_TOKEN` when unset.
    pub verify_token: Option<String>,
}

impl InstagramConfig {
    /// The webhook app secret: from the config, else `INSTAGRAM_APP_SECRET`; never empty.
    pub fn webhook_app_secret(&self) -> Option<String> {
        configured_or_env(&self.app_secret, "INSTAGRAM_APP_SECRET")
    }

    /// The subscription verify token: from the config, else `INSTAGRAM_VERIFY_TOKEN`.
    pub fn webhook_verify_token(&self) -> Option<String> {
        configured_or_env(&self.verify_token, "INSTAGRAM_VERIFY_TOKEN")
    }
}

fn configured_or_env(configured: &Option<String>, env: &str) -> Option<String> {
    configured
        .clone()
        .or_else(|| std::env::var(env).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl Default for InstagramConfig {
    fn default() -> Self {
        Self {
            request_timeout_seconds: 15,
            listen: "127.0.0.1:8787".into(),
            max_body_bytes: 256 * 1024,
            app_secret: None,
            verify_token: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AiConfig {
    /// An OpenAI-compatible API base, without the trailing `/chat/completions`.
    pub base_url: String,
    pub model: String,
    pub max_tokens: u32,
    pub timeout_seconds: u64,
    /// What the offline provider answers when no API key is set.
    pub offline_reply: String,
    /// Environment variables tried in order for the API key.
    pub api_key_env: Vec<String>,
    /// Further tries after a rate limit, server error or network failure.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff_ms: u64,
    /// Only the last this many messages of a conversation reach the provider...
    pub max_context_messages: u32,
    /// ...each cut to this many characters.
    pub max_message_chars: u32,
    /// Sent as `HTTP-Referer` (OpenRouter app attribution); off unless set.
    pub app_url: Option<String>,
    /// Sent as `X-OpenRouter-Title` and `X-Title`; off unless set.
    pub app_title: Option<String>,
    /// Requests to the provider in flight at once, across all hook calls; the rest wait
    /// their turn (within their call's deadline).
    pub max_concurrent: u32,
}

impl Default for AiConfig {
    fn default() -> Self {
        Self {
            base_url: "https://openrouter.ai/api/v1".into(),
            model: "openai/gpt-4o-mini".into(),
            max_tokens: 300,
            timeout_seconds: 20,
            offline_reply:
                "Thanks for your message! Someone from our team will get back to you shortly."
                    .into(),
            api_key_env: vec!["OPENROUTER_API_KEY".into(), "OPENAI_API_KEY".into()],
            retries: 2,
            retry_backoff_ms: 500,
            max_context_messages: 20,
            max_message_chars: 1000,
            app_url: None,
            app_title: None,
            max_concurrent: 64,
        }
    }
}

pub use crate::sending::SendingConfig;

/// Per-call bounds on plugins: defaults, and the caps that per-plugin settings cannot exceed.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    pub fuel: u64,
    pub memory_mb: u64,
    pub timeout_ms: u64,
    pub max_fuel: u64,
    pub max_memory_mb: u64,
    pub max_timeout_ms: u64,
    /// Host calls one hook call may make; past it the call fails.
    pub host_calls: u32,
    /// Log lines one hook call may write...
    pub log_lines: u32,
    /// ...and bytes of log text in all.
    pub log_bytes: u64,
    /// Denied host calls written to the audit log one by one per hook call; the rest of one
    /// call's denials are summarised in one row ("and N more").
    pub audited_denials: u32,
    /// Tags a lead may carry; adding one more is refused.
    pub tags_per_lead: u32,
    /// Tags one filter decision may add.
    pub tags_per_decision: u32,
    /// Characters kept of plugin-supplied text the host stores or prints (errors, reasons).
    pub text_chars: u32,
    /// Instances the pooling allocator keeps ready: hook calls running at once.
    pub instances: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            fuel: 2_000_000_000,
            memory_mb: 64,
            timeout_ms: 30_000,
            max_fuel: 20_000_000_000,
            max_memory_mb: 256,
            max_timeout_ms: 120_000,
            host_calls: 1_000,
            log_lines: 100,
            log_bytes: 64 * 1024,
            audited_denials: 10,
            tags_per_lead: crate::policy::TAGS_PER_LEAD,
            tags_per_decision: 20,
            text_chars: 500,
            instances: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Hook calls per event and plugin before the event is parked for that plugin.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_backoff_seconds: u64,
    /// How often `outreach run` looks for new work.
    pub poll_ms: u64,
    /// Leads whose events are handled at once (one event per lead at a time); at most
    /// `limits.instances`. Unset: `limits.instances` less a few (8, or a quarter of a
    /// small pool) left for the rest of the process (reading a manifest takes one too).
    pub concurrency: Option<u32>,
    /// On PostgreSQL, how long a worker's claim on the leads it is handling holds without
    /// being renewed (it renews them every pass): a worker that dies leaves its leads to
    /// the others after this long.
    pub lease_ms: u64,
}

impl EngineConfig {
    /// Leads handled at once: the setting (or its default), within the instances the
    /// runtime keeps ready, since each hook call takes one.
    pub fn concurrency(&self, limits: &LimitsConfig) -> usize {
        let instances = limits.instances.max(1);
        let spare = (instances / 4).min(8);
        self.concurrency
            .unwrap_or(instances - spare)
            .clamp(1, instances) as usize
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            retry_backoff_seconds: 60,
            poll_ms: 1_000,
            concurrency: None,
            lease_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentConfig {
    /// An inbound message is an opt-out when it contains one of these phrases; a one-word
    /// entry counts only in a message of at most three words, so "stop" opts out but
    /// "don't stop sending me offers" does not.
    pub opt_out_words: Vec<String>,
}

impl Default for ConsentConfig {
    fn default() -> Self {
        Self {
            opt_out_words: [
                "stop",
                "unsubscribe",
                "opt out",
                "opt-out",
                "stop messaging me",
                "leave me alone",
                "do not contact me",
                "don't contact me",
                "don't message me",
                "remove me",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file gives the defaults only when `required` is false.
    pub fn load(path: &Path, required: bool) -> anyhow::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(Self::default());
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read config {}", path.display()));
            }
        };
        Self::parse(&text).with_context(|| format!("invalid config {}", path.display()))
    }

    /// Reads the text of a config file: the settings it names, checked, and the defaults
    /// for the rest.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        crate::sending::SendingRules::from_config(&self.sending)?;
        const DAY_SECONDS: u64 = 24 * 3600;
        const MIB: u64 = 1024 * 1024;
        let l = &self.limits;
        let ranges: &[(&str, u64, u64, u64)] = &[
            (
                "engine.max_attempts",
                self.engine.max_attempts.into(),
                1,
                100,
            ),
            (
                "engine.retry_backoff_seconds",
                self.engine.retry_backoff_seconds,
                1,
                DAY_SECONDS,
            ),
            ("engine.poll_ms", self.engine.poll_ms, 10, 3_600_000),
            ("engine.lease_ms", self.engine.lease_ms, 500, 3_600_000),
            (
                "sending.min_gap_seconds",
                self.sending.min_gap_seconds,
                0,
                DAY_SECONDS,
            ),
            (
                "sending.jitter_seconds",
                self.sending.jitter_seconds,
                0,
                DAY_SECONDS,
            ),
            ("ai.timeout_seconds", self.ai.timeout_seconds, 1, 600),
            (
                "instagram.request_timeout_seconds",
                self.instagram.request_timeout_seconds,
                1,
                300,
            ),
            ("ai.retries", self.ai.retries.into(), 0, 10),
            ("ai.retry_backoff_ms", self.ai.retry_backoff_ms, 1, 60_000),
            (
                "ai.max_context_messages",
                self.ai.max_context_messages.into(),
                1,
                200,
            ),
            (
                "ai.max_message_chars",
                self.ai.max_message_chars.into(),
                1,
                100_000,
            ),
            ("ai.max_tokens", self.ai.max_tokens.into(), 1, 1_000_000),
            (
                "instagram.max_body_bytes",
                self.instagram.max_body_bytes as u64,
                1,
                64 * MIB,
            ),
            ("limits.fuel", l.fuel, 1, u64::MAX),
            ("limits.memory_mb", l.memory_mb, 1, 4096),
            ("limits.timeout_ms", l.timeout_ms, 1, 3_600_000),
            // High enough to leave a plugin to its deadline alone.
            ("limits.host_calls", l.host_calls.into(), 1, 1_000_000_000),
            ("limits.log_lines", l.log_lines.into(), 1, 1_000_000),
            ("limits.log_bytes", l.log_bytes, 1, 64 * MIB),
            (
                "limits.audited_denials",
                l.audited_denials.into(),
                1,
                1_000_000,
            ),
            ("limits.tags_per_lead", l.tags_per_lead.into(), 1, 10_000),
            (
                "limits.tags_per_decision",
                l.tags_per_decision.into(),
                1,
                10_000,
            ),
            // Below 16 characters an error message says nothing.
            ("limits.text_chars", l.text_chars.into(), 16, 100_000),
            // Each instance reserves address space in the pooling allocator.
            ("limits.instances", l.instances.into(), 1, 10_000),
            (
                "engine.concurrency",
                self.engine.concurrency.unwrap_or(1).into(),
                1,
                10_000,
            ),
            (
                "ai.max_concurrent",
                self.ai.max_concurrent.into(),
                1,
                10_000,
            ),
        ];
        let r = &self.retention;
        let retention = [
            ("retention.messages_days", r.messages_days),
            ("retention.events_days", r.events_days),
            ("retention.audit_days", r.audit_days),
            ("retention.unanswered_leads_days", r.unanswered_leads_days),
        ];
        let set_retention = retention
            .iter()
            .filter_map(|&(key, days)| Some((key, u64::from(days?), 1, 36_500)));
        for (key, value, min, max) in ranges.iter().copied().chain(set_retention) {
            anyhow::ensure!(
                (min..=max).contains(&value),
                "{key} is {value}; it must be {min}-{max}"
            );
        }
        let listen = &self.instagram.listen;
        anyhow::ensure!(
            listen.parse::<std::net::SocketAddr>().is_ok(),
            "instagram.listen is {listen:?}; it must be an address and port such as \
             127.0.0.1:8787 or [::1]:8787"
        );
        let base_url = &self.ai.base_url;
        anyhow::ensure!(
            url::Url::parse(base_url)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host()),
            "ai.base_url is {base_url:?}; it must be an http:// or https:// URL"
        );
        anyhow::ensure!(
            l.fuel <= l.max_fuel
                && l.memory_mb <= l.max_memory_mb
                && l.timeout_ms <= l.max_timeout_ms,
            "limits: a default (fuel, memory_mb, timeout_ms) is above its max_* cap"
        );
        Ok(())
    }
}

impl ConsentConfig {
    pub fn is_opt_out(&self, message: &str) -> bool {
        let words = normalized_words(message);
        self.opt_out_words.iter().any(|entry| {
            let phrase = normalized_words(entry);
            if phrase.is_empty() || (phrase.len() == 1 && words.len() > 3) {
                return false;
            }
            words.windows(phrase.len()).any(|w| w == phrase.as_slice())
        })
    }
}

fn normalized_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .replace('\u{2019}', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_out_matches_short_messages_and_phrases_only() {
        let c = ConsentConfig::default();
        assert!(c.is_opt_out("STOP"));
        assert!(c.is_opt_out("stop."));
        assert!(c.is_opt_out("Please unsubscribe"));
        assert!(c.is_opt_out("hey, can you please leave me alone, thanks a lot"));
        assert!(c.is_opt_out("Don’t message me again"));
        assert!(!c.is_opt_out("don't stop sending me offers please"));
        assert!(!c.is_opt_out("stopwatch"));
        assert!(!c.is_opt_out("how much is it?"));
    }

    fn validate(toml: &str) -> anyhow::Result<()> {
        toml::from_str::<Config>(toml)?.validate()
    }

    #[test]
    fn defaults_and_usual_values_are_valid() {
        validate("").unwrap();
        for listen in ["127.0.0.1:8787", "[::1]:8787", "0.0.0.0:80"] {
            validate(&format!("[instagram]\nlisten = \"{listen}\"\n")).unwrap();
        }
        validate("[ai]\nbase_url = \"http://127.0.0.1:9000/api/v1\"\n").unwrap();
        validate("[limits]\nhost_calls = 100000000\ntext_chars = 16\ninstances = 10000\n").unwrap();
        validate("[retention]\nmessages_days = 1\nevents_days = 90\naudit_days = 36500\n").unwrap();
    }

    #[test]
    fn out_of_range_values_are_rejected_naming_the_key() {
        for (section, setting) in [
            ("instagram", "max_body_bytes = 0"),
            ("instagram", "max_body_bytes = 100000000"),
            ("instagram", "listen = \"nonsense\""),
            ("instagram", "listen = \"127.0.0.1\""),
            ("instagram", "listen = \"127.0.0.1:99999\""),
            ("ai", "max_tokens = 0"),
            ("ai", "base_url = \"openrouter.ai/api/v1\""),
            ("ai", "base_url = \"ftp://example.com/v1\""),
            ("limits", "host_calls = 0"),
            ("limits", "host_calls = 2000000000"),
            ("limits", "log_lines = 0"),
            ("limits", "log_bytes = 0"),
            ("limits", "log_bytes = 67108865"),
            ("limits", "audited_denials = 0"),
            ("limits", "tags_per_lead = 0"),
            ("limits", "tags_per_decision = 0"),
            ("limits", "text_chars = 15"),
            ("limits", "text_chars = 100001"),
            ("limits", "instances = 0"),
            ("limits", "instances = 10001"),
            ("retention", "messages_days = 0"),
            ("retention", "audit_days = 36501"),
            ("retention", "unanswered_leads_days = 0"),
        ] {
            let err = validate(&format!("[{section}]\n{setting}\n"))
                .expect_err(setting)
                .to_string();
            let key = setting.split(' ').next().unwrap();
            assert!(err.starts_with(&format!("{section}.{key} is ")), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<Config>("[sending]\ndaily_cpa = 3\n").unwrap_err();
        assert!(err.to_string().contains("daily_cpa"), "{err}");
    }
}
