//! `outreach:plugin/storage`: a key-value store private to each plugin, with a quota.

use super::{HostState, refused, storage_failure};
use crate::bindings::outreach::plugin::storage::Host;
use crate::bindings::wit;
use crate::consent::policy::{self, Call};
use crate::store;

impl HostState {
    fn storage_key<'k>(&self, action: &str, key: &'k str) -> Result<&'k str, wit::Error> {
        self.check(action, Self::own_permission(Call::Storage), None)?;
        policy::storage_key(key).map_err(refused)?;
        Ok(key)
    }
}

/// The lead a `lead/<id>/…` key is about: the keys `leads forget` erases.
fn lead_of_key(key: &str) -> Option<i64> {
    key.strip_prefix("lead/")?.split_once('/')?.0.parse().ok()
}

impl Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, wit::Error> {
        self.enter()?;
        let key = self.storage_key("storage.get", &key)?;
        self.services
            .db
            .read(|c| store::plugins::kv_get(c, &self.call.plugin, key))
            .map_err(storage_failure)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), wit::Error> {
        self.enter()?;
        let key = self.storage_key("storage.set", &key)?;
        // The value's own size is refused before the store is touched; the quota inside the
        // write, against what is stored then.
        policy::storage_set(key, &value, 0).map_err(refused)?;
        let plugin = &self.call.plugin;
        self.services
            .db
            .write(|tx| {
                // A call still running when its lead was forgotten keeps nothing about them.
                if let Some(lead) = lead_of_key(key)
                    && store::leads::get(tx, lead)?.is_none()
                {
                    return Ok(Err(wit::Error::NotFound));
                }
                let used = store::plugins::kv_usage(tx, plugin, key)?;
                if let Err(refusal) = policy::storage_set(key, &value, used) {
                    return Ok(Err(refused(refusal)));
                }
                store::plugins::kv_set(tx, plugin, key, &value)?;
                Ok(Ok(()))
            })
            .map_err(storage_failure)?
    }

    async fn delete(&mut self, key: String) -> Result<(), wit::Error> {
        self.enter()?;
        let key = self.storage_key("storage.delete", &key)?;
        self.services
            .db
            .write(|c| store::plugins::kv_delete(c, &self.call.plugin, key))
            .map_err(storage_failure)
    }
}
