//! The `[retention]` settings, applied by the engine once an hour (and on its first pass).

use super::Engine;
use crate::clock::HOUR;
use crate::store::retention;

impl Engine {
    /// Deletes what the retention settings say is old enough, if an hour has passed since
    /// the last time (by any engine on this file). Does nothing without a setting.
    pub(super) fn apply_retention_if_due(&self) -> anyhow::Result<()> {
        let settings = &self.services.config.retention;
        if !settings.is_set() {
            return Ok(());
        }
        let now = self.now();
        let last = self.db().read(retention::last_run)?;
        if last.is_some_and(|last| now - last < HOUR && now >= last) {
            return Ok(());
        }
        let purged = retention::apply(self.db(), settings, now)?;
        self.db().write(|tx| retention::set_last_run(tx, now))?;
        if purged.total() > 0 {
            tracing::info!("retention: deleted {}", purged.describe());
            // Deleted rows are zeroed in place; their old copies leave the WAL here, or at
            // the next purge or erasure if a reader holds the log now.
            if let Err(e) = self.db().clear_log(std::time::Duration::from_secs(1)) {
                tracing::warn!("retention: {e:#}");
            }
        }
        Ok(())
    }
}
