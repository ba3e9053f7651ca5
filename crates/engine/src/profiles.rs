//! Giving Instagram leads their real handle. A lead who first writes on Instagram is known
//! by their Instagram-scoped id and gets the stand-in handle `ig_<id>`; the engine asks the
//! User Profile API for their username and name once, and again a day after a failure.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::Duration;

use super::Engine;
use crate::channels::Channel;
use crate::channels::instagram::InstagramClient;
use crate::clock::DAY;
use crate::domain::account::ChannelKind;
use crate::domain::handle::normalize_handle;
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
        // One client per account and pass: opening credentials is not free.
        let mut clients: HashMap<i64, Option<(String, InstagramClient)>> = HashMap::new();
        for (lead_id, account_id, igsid) in pending {
            self.db()
                .write(|c| store::leads::mark_profile_asked(c, lead_id, now))?;
            let client = match clients.entry(account_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(new) => new.insert(self.instagram_client(account_id, timeout)?),
            };
            let Some((account, client)) = client else {
                continue;
            };
            let profile = match client.profile(&igsid).await {
                Ok(profile) => profile,
                Err(e) => {
                    tracing::info!("account {account}: no profile for a new lead yet: {e}");
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

    fn instagram_client(
        &self,
        account_id: i64,
        timeout: Duration,
    ) -> anyhow::Result<Option<(String, InstagramClient)>> {
        let Some(account) = self.db().read(|c| store::accounts::get(c, account_id))? else {
            return Ok(None);
        };
        if account.channel != ChannelKind::Instagram {
            return Ok(None);
        }
        Ok(match Channel::for_account(self.db(), &account, timeout) {
            Ok(Channel::Instagram(client)) => Some((account.name, client)),
            _ => None,
        })
    }
}
