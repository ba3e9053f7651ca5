//! What one hook call may use: fuel, memory, wall-clock time, host calls, log, denials,
//! tags and text, from the config's `[limits]` and a plugin's own `limits.*` settings
//! (each clamped to its cap), and the check of a decision against them.

use std::time::Duration;

use crate::config::LimitsConfig;
use crate::{HookFailure, HookOutput};

/// What one hook call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub fuel: u64,
    pub memory_bytes: usize,
    pub timeout: Duration,
    pub host_calls: u32,
    pub log_lines: u32,
    pub log_bytes: u64,
    pub audited_denials: u32,
    pub tags_per_lead: u32,
    pub tags_per_decision: u32,
    /// Characters kept of plugin-supplied text that the host stores or prints.
    pub text_chars: usize,
}

impl Limits {
    /// The defaults from the config, overridden by the plugin's `limits.fuel`,
    /// `limits.memory-mb` and `limits.timeout-ms` settings, each clamped to its global cap.
    pub fn for_plugin(config: &LimitsConfig, settings: &[(String, String)]) -> Self {
        let setting = |key: &str, default: u64, cap: u64| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.trim().parse::<u64>().ok())
                .unwrap_or(default)
                .min(cap)
        };
        Self {
            fuel: setting("limits.fuel", config.fuel, config.max_fuel),
            memory_bytes: (setting("limits.memory-mb", config.memory_mb, config.max_memory_mb)
                << 20) as usize,
            timeout: Duration::from_millis(setting(
                "limits.timeout-ms",
                config.timeout_ms,
                config.max_timeout_ms,
            )),
            ..Self::from_config(config)
        }
    }

    /// The configured defaults, for a call no plugin setting adjusts.
    pub fn from_config(config: &LimitsConfig) -> Self {
        Self {
            fuel: config.fuel,
            memory_bytes: (config.memory_mb << 20) as usize,
            timeout: Duration::from_millis(config.timeout_ms),
            host_calls: config.host_calls,
            log_lines: config.log_lines,
            log_bytes: config.log_bytes,
            audited_denials: config.audited_denials,
            tags_per_lead: config.tags_per_lead,
            tags_per_decision: config.tags_per_decision,
            text_chars: config.text_chars as usize,
        }
    }

    /// What reading a manifest may use: little of anything, and no host call at all (the
    /// contract says the export must not make one), so the first one stops it before it
    /// touches any data.
    pub(crate) fn for_manifest(config: &LimitsConfig) -> Self {
        Self {
            fuel: 100_000_000,
            memory_bytes: (config.memory_mb.min(64) << 20) as usize,
            timeout: Duration::from_secs(5),
            host_calls: 0,
            ..Self::from_config(config)
        }
    }
}

/// What a hook returned, refused when it asks for more than one call may: the host applies
/// a decision whole or not at all, so an oversized one fails the call with the reason.
pub(crate) fn check_output(output: HookOutput, limits: &Limits) -> Result<HookOutput, HookFailure> {
    if let HookOutput::Filter(decision) = &output {
        let tags = decision.tags.len();
        if tags > limits.tags_per_decision as usize {
            return Err(HookFailure::Budget(format!(
                "{} tags per filter decision (it returned {tags})",
                limits.tags_per_decision
            )));
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_limits_override_the_defaults_within_the_caps() {
        let config = LimitsConfig::default();
        let defaults = Limits::for_plugin(&config, &[]);
        assert_eq!(defaults, Limits::from_config(&config));
        assert_eq!(
            (defaults.fuel, defaults.memory_bytes, defaults.timeout),
            (config.fuel, 64 << 20, Duration::from_secs(30))
        );
        let settings = [
            ("limits.fuel".to_string(), "5000".to_string()),
            ("limits.memory-mb".to_string(), "100000".to_string()),
            ("limits.timeout-ms".to_string(), "not a number".to_string()),
        ];
        let limits = Limits::for_plugin(&config, &settings);
        assert_eq!(limits.fuel, 5000);
        assert_eq!(
            limits.memory_bytes,
            (config.max_memory_mb << 20) as usize,
            "clamped to the cap"
        );
        assert_eq!(
            limits.timeout,
            Duration::from_millis(config.timeout_ms),
            "unreadable: the default"
        );
    }
}
