//! `outreach:plugin/log`: plugin log lines go to the host's log, tagged with the plugin,
//! within the call's log budget and with control characters escaped.

use super::HostState;
use crate::bindings::outreach::plugin::log::{Host, Level};

const LINE_MAX_CHARS: usize = 2000;

impl Host for HostState {
    async fn write(&mut self, level: Level, message: String) {
        // Over either log budget the line is dropped and the call hook stops the guest.
        if self.enter().is_err() || self.budget.log(message.len()).is_err() {
            return;
        }
        let message = crate::text::from_plugin(&message, LINE_MAX_CHARS);
        let plugin = &self.call.plugin;
        match level {
            Level::Debug => tracing::debug!(plugin = %plugin, "{message}"),
            Level::Info => tracing::info!(plugin = %plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin = %plugin, "{message}"),
            Level::Error => tracing::error!(plugin = %plugin, "{message}"),
        }
    }
}
