//! The `[retention]` settings, applied by the engine once an hour, at a moment when no hook
//! call is in flight (or an hour late at most), and on its first such pass.

use super::Engine;
use std::sync::atomic::Ordering;

use crate::clock::{HOUR, Millis};
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
        let recent = |last: Millis| now >= last && now.saturating_sub(last) < HOUR;
        if recent(self.retention_ran_at.load(Ordering::Relaxed)) {
            return Ok(());
        }
        // Another engine on the file before this one may have run it within the hour.
        if let Some(last) = self.db().read(retention::last_run)?
            && recent(last)
        {
            self.retention_ran_at.store(last, Ordering::Relaxed);
            return Ok(());
        }
        let purged = retention::apply(self.db(), settings, now)?;
        self.db().write(|tx| retention::set_last_run(tx, now))?;
        self.retention_ran_at.store(now, Ordering::Relaxed);
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
