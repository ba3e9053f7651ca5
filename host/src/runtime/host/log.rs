//! `outreach:plugin/log`: plugin log lines go to the host's log, tagged with the plugin.

use super::HostState;
use crate::runtime::bindings::outreach::plugin::log::{Host, Level};

const LINE_MAX_CHARS: usize = 2000;

impl Host for HostState {
    async fn write(&mut self, level: Level, message: String) {
        let message: String = message.chars().take(LINE_MAX_CHARS).collect();
        let plugin = &self.call.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            Level::Info => tracing::info!(plugin = %plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            Level::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
    }
}
