//! Giving Instagram leads their real handle. A lead who first writes on Instagram is known
//! by their Instagram-scoped id and gets the stand-in handle `ig_<id>`; the engine asks the
//! User Profile API for their username and name once, and again a day after a failure.

use std::time::Duration;

use super::Engine;
use crate::channels::Channel;
use crate::channels::account::ChannelKind;
use crate::clock::DAY;
use crate::leads::csv_import::normalize_handle;
use crate::store;

impl Engine {
    /// Returns how many leads got their handle.
    pub(super) async fn look_up_handles(&self) -> anyhow::Result<usize> {
        let now = self.now();
        let pending = self
            .db()
            .read(|c| store::leads::awaiting_profile(c, now - DAY))?;
        let timeout = Duration::from_secs(self.services.config.instagram.request_timeout_seconds);
        let mut found = 0;
        for (lead_id, account_id, igsid) in pending {
            self.db()
                .read(|c| store::leads::mark_profile_asked(c, lead_id, now))?;
            let Some(account) = self.db().read(|c| store::accounts::get(c, account_id))? else {
                continue;
            };
            if account.channel != ChannelKind::Instagram {
                continue;
            }
            let Ok(Channel::Instagram(client)) = Channel::for_account(self.db(), &account, timeout)
            else {
                continue;
            };
            let profile = match client.profile(&igsid).await {
                Ok(profile) => profile,
                Err(e) => {
                    tracing::info!(
                        "account {}: no profile for a new lead yet: {e}",
                        account.name
                    );
                    continue;
                }
            };
            let handle = profile
                .username
                .as_deref()
                .and_then(|u| normalize_handle(u).ok());
            let renamed = self.db().write(|tx| {
                store::leads::set_profile(
                    tx,
                    lead_id,
                    handle.as_deref(),
                    profile.name.as_deref(),
                    now,
                )
            })?;
            found += usize::from(renamed);
        }
        Ok(found)
    }
}
